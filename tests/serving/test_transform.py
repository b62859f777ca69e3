"""Batch transform with the stdlib model server: splitting, batching, filters, join, failures."""

from __future__ import annotations

import json
import struct

import pytest
from serving_support import make_model, put_model

from stepline import jobs
from stepline.serving import dataproc, transform
from stepline.storage import get_store


def _request(name: str, **overrides) -> dict:
    req = {
        "TransformJobName": name,
        "ModelName": "lin",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://data/out", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(req.get(key), dict):
            req[key] = {**req[key], **value}
        else:
            req[key] = value
    return req


@pytest.fixture
def lin(serve_image) -> None:
    put_model("s3://models/lin/model.tar.gz", {"w": 2, "b": 1})
    make_model("lin", "linear-serve:1", "s3://models/lin/model.tar.gz")
    store = get_store()
    store.create_bucket("data")
    store.put_bytes("s3://data/in/a.csv", b"1\n2\n3\n")
    store.put_bytes("s3://data/in/sub/b.csv", b"10\n20\n")


def _run(req: dict) -> dict:
    jobs.validate("transform", req)
    transform.create_transform_job(req)
    record = jobs.wait("transform", req["TransformJobName"], timeout=60)
    return {"status": record.status, "reason": record.state.get("failure_reason")}


def test_line_split_multi_record_with_outputs_per_object(lin) -> None:
    result = _run(_request("t1", BatchStrategy="MultiRecord", MaxConcurrentTransforms=2))
    assert result == {"status": "Completed", "reason": None}
    store = get_store()
    assert store.get_bytes("s3://data/out/a.csv.out") == b"3.0\n5.0\n7.0\n"
    assert store.get_bytes("s3://data/out/sub/b.csv.out") == b"21.0\n41.0\n"
    desc = jobs.describe_transform_job("t1")
    assert desc["TransformJobStatus"] == "Completed"
    log = open(jobs.get_record("transform", "t1").log_path).read()
    assert "MaxConcurrentTransforms=2" in log


def test_single_record_and_execution_parameters(lin) -> None:
    # No BatchStrategy in the request: the server's /execution-parameters is asked.
    put_model(
        "s3://models/lin/model.tar.gz",
        {
            "w": 1,
            "b": 0,
            "execution_parameters": {
                "BatchStrategy": "SINGLE_RECORD",
                "MaxConcurrentTransforms": 3,
            },
        },
    )
    result = _run(_request("t2", TransformOutput={"AssembleWith": "None"}))
    assert result["status"] == "Completed"
    log = open(jobs.get_record("transform", "t2").log_path).read()
    assert "BatchStrategy=SingleRecord" in log and "MaxConcurrentTransforms=3" in log
    # SingleRecord + AssembleWith None: answers concatenated as they came.
    assert get_store().get_bytes("s3://data/out/a.csv.out") == b"1.02.03.0"


def test_data_processing_join_and_filters(lin) -> None:
    store = get_store()
    store.delete("s3://data/in/sub/b.csv")
    store.put_bytes("s3://data/in/a.csv", b"id1,1,9\nid2,2,9\n")
    req = _request(
        "t3",
        BatchStrategy="MultiRecord",
        DataProcessing={"InputFilter": "$[1]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )
    assert _run(req)["status"] == "Completed"
    assert store.get_bytes("s3://data/out/a.csv.out") == b"id1,3.0\nid2,5.0\n"


def test_jsonlines_join(lin) -> None:
    store = get_store()
    store.delete("s3://data/in/a.csv")
    store.delete("s3://data/in/sub/b.csv")
    store.put_bytes("s3://data/in/r.jsonl", b'{"id": "a", "x": 1}\n{"id": "b", "x": 2}\n')
    req = _request(
        "t4",
        TransformInput={"ContentType": "application/jsonlines"},
        DataProcessing={"JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
    )
    assert _run(req)["status"] == "Completed"
    lines = store.get_bytes("s3://data/out/r.jsonl.out").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"id": "a", "SageMakerOutput": {"y": 3}},
        {"id": "b", "SageMakerOutput": {"y": 5}},
    ]


def test_failed_object_gets_no_output_and_fails_the_job(lin) -> None:
    store = get_store()
    store.put_bytes("s3://data/in/bad.csv", b"fail\n")
    result = _run(_request("t5", BatchStrategy="SingleRecord"))
    assert result["status"] == "Failed"
    assert "bad.csv" in result["reason"] and "500" in result["reason"]
    assert not store.exists("s3://data/out/bad.csv.out")
    assert store.exists("s3://data/out/a.csv.out")  # the others still succeed


def test_split_and_batch_units() -> None:
    rec = struct.pack("<II", transform.RECORDIO_MAGIC, 5) + b"hello" + b"\0\0\0"
    assert transform.split_records(rec + rec, "RecordIO") == [rec, rec]
    assert transform.strip_padding(rec) == rec[:13]
    with pytest.raises(transform.TransformError):
        transform.split_records(b"\0" * 8, "RecordIO")
    assert transform.split_records(b"a\n\nb\n", "Line") == [b"a\n", b"b\n"]
    assert transform.split_records(b"whole", "None") == [b"whole"]
    assert transform.batches([b"aa", b"bb", b"cc"], "MultiRecord", 4) == [[b"aa", b"bb"], [b"cc"]]
    assert transform.batches([b"aa", b"bb"], "SingleRecord", 4) == [[b"aa"], [b"bb"]]
    assert dataproc.apply("$[1:]", [1, 2, 3]) == [2, 3]
    assert dataproc.apply("$[0,-1]", [1, 2, 3]) == [1, 3]
    assert dataproc.apply("$.a.b", {"a": {"b": 4}}) == 4
    assert dataproc.apply("$['a','c']", {"a": 1, "b": 2, "c": 3}) == {"a": 1, "c": 3}
    assert dataproc.join([1], [2], csv_mode=True) == [1, 2]
    assert dataproc.join(5, {"y": 1}, csv_mode=False) == {
        "SageMakerInput": 5,
        "SageMakerOutput": {"y": 1},
    }
    with pytest.raises(dataproc.FilterError):
        dataproc.parse("a.b")


def test_transform_through_step_functions_sync(lin) -> None:
    """``createTransformJob.sync`` runs the job through the jobs layer and waits for it."""
    from stepline import asl
    from stepline.integrations import Router

    definition = {
        "StartAt": "Score",
        "States": {
            "Score": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                "Parameters": _request("sfn-t", BatchStrategy="MultiRecord"),
                "End": True,
            }
        },
    }
    result = asl.execute(definition, {}, tasks=Router())
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["TransformJobStatus"] == "Completed"
    assert get_store().get_bytes("s3://data/out/a.csv.out") == b"3.0\n5.0\n7.0\n"
    # an unknown model is refused before anything is recorded, naming the model
    bad = _request("sfn-bad", ModelName="no-such-model")
    definition["States"]["Score"]["Parameters"] = bad
    failed = asl.execute(definition, {}, tasks=Router())
    assert failed.error == "SageMaker.AmazonSageMakerException"
    assert "no-such-model" in failed.cause
