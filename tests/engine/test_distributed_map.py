"""Distributed Map over the object store: ItemReader (JSON, CSV, listObjectsV2), ResultWriter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepline.asl import execute
from stepline.storage import get_store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STEPLINE_HOME", str(tmp_path))
    for var in ("STEPLINE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    s = get_store()
    s.create_bucket("data")
    return s


def dmap(reader: dict, writer: dict | None = None, **extra: object) -> dict:
    state = {
        "Type": "Map",
        "ItemReader": reader,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Double",
            "States": {
                "Double": {
                    "Type": "Pass",
                    "Parameters": {"v.$": "States.MathAdd($.v, $.v)"},
                    "End": True,
                }
            },
        },
        "End": True,
        **extra,
    }
    if writer:
        state["ResultWriter"] = writer
    return {"StartAt": "M", "States": {"M": state}}


def test_json_reader(store) -> None:
    store.put_bytes("s3://data/items.json", json.dumps([{"v": 1}, {"v": 2}, {"v": 3}]).encode())
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON", "MaxItems": 2},
        "Parameters": {"Bucket": "data", "Key.$": "$.key"},
    }
    result = execute(dmap(reader), {"key": "items.json"})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == [{"v": 2}, {"v": 4}]


def test_csv_reader_and_result_writer(store) -> None:
    store.put_bytes("s3://data/rows.csv", b"v,name\n1,a\n5,b\n")
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket": "data", "Key": "rows.csv"},
    }
    definition = dmap(
        reader,
        {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "data", "Prefix": "out"},
        },
        ItemSelector={"v.$": "States.StringToJson($$.Map.Item.Value.v)"},
    )
    result = execute(definition, {})
    assert result.status == "SUCCEEDED", result.cause
    key = result.output["ResultWriterDetails"]["Key"]
    assert key.startswith("out/") and key.endswith("/manifest.json")
    manifest = json.loads(store.get_bytes(f"s3://data/{key}"))
    succeeded_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    records = json.loads(store.get_bytes(f"s3://data/{succeeded_key}"))
    assert [json.loads(r["Output"]) for r in records] == [{"v": 2}, {"v": 10}]


def test_list_objects_reader(store) -> None:
    for name in ("a", "b"):
        store.put_bytes(f"s3://data/in/{name}.txt", b"x")
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:listObjectsV2",
                    "Parameters": {"Bucket": "data", "Prefix": "in/"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "K",
                    "States": {"K": {"Type": "Pass", "OutputPath": "$.Key", "End": True}},
                },
                "End": True,
            }
        },
    }
    result = execute(definition, {})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == ["in/a.txt", "in/b.txt"]


def test_missing_object_fails_the_reader(store) -> None:
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "data", "Key": "nope.json"},
    }
    result = execute(dmap(reader), {})
    assert result.status == "FAILED"
    assert result.error == "States.ItemReaderFailed"
