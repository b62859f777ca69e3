"""Step caching through the Step Functions integration: hit, misses, explain, opt-out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stepline import asl, jobs
from stepline.integrations import Router
from stepline.jobs import cache
from stepline.views import state_statuses

TRAIN = """
import json, os
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
rows = open("/opt/ml/input/data/train/rows.txt").read().split()
with open("/opt/ml/model/model.json", "w") as fh:
    json.dump({"rows": len(rows), "lr": hp["lr"]}, fh)
with open("/opt/ml/calls", "a") as fh:
    fh.write("ran\\n")
print(f"loss={1.0 / len(rows)};", flush=True)
"""


@pytest.fixture
def image(make_image) -> str:
    return make_image("cachetrain", {"train.py": TRAIN}, ["python", "/opt/program/train.py"])


def definition(image: str, lr: str = "0.1", tags: list | None = None) -> dict:
    params = {
        "TrainingJobName.$": "$.job",
        "RoleArn": "arn:aws:iam::123456789012:role/Role",
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+);"}],
        },
        "HyperParameters": {"lr": lr},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://bucket/data/train",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    if tags is not None:
        params["Tags"] = tags
    return {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": params,
                "End": True,
            }
        },
    }


def defn_of(image: str) -> dict:
    return definition(image)


def run(defn: dict, job: str) -> asl.ExecutionResult:
    result = asl.execute(defn, {"job": job}, tasks=Router())
    assert result.status == "SUCCEEDED", result.cause
    return result


def test_second_identical_run_reuses_outputs(store, image: str) -> None:
    store.put_bytes("s3://bucket/data/train/rows.txt", b"a b c d")
    first = run(definition(image), "t1")
    assert "StepLineCache" not in first.output
    second = run(definition(image), "t2")
    assert second.output["StepLineCache"]["SourceJob"] == "t1"
    assert second.output["TrainingJobStatus"] == "Completed"
    # the reused model is the source job's artifact; a copy also sits where SageMaker would
    # put this job's, with the same content
    assert second.output["ModelArtifacts"]["S3ModelArtifacts"] == (
        "s3://bucket/models/t1/output/model.tar.gz"
    )
    copy = store.get_bytes("s3://bucket/models/t2/output/model.tar.gz")
    assert copy == store.get_bytes("s3://bucket/models/t1/output/model.tar.gz")
    third = run(definition(image), "t3")  # a hit of a hit still names the original model
    assert third.output["ModelArtifacts"]["S3ModelArtifacts"].endswith("/t1/output/model.tar.gz")
    # metrics came along; the history and the progress view say it was cached
    assert second.output["FinalMetricDataList"][0]["Value"] == 0.25
    assert state_statuses(defn_of(image), second.events, "SUCCEEDED")["Train"]["status"] == "cached"
    assert state_statuses(defn_of(image), second.events, "SUCCEEDED")["Train"]["job"] == "t2"
    record = jobs.get_record("training", "t2")
    assert record.state["cache"]["source_job"] == "t1"
    assert set(record.state["cache"]["parts"]) >= {"request", "image", "code", "inputs"}
    assert "did not run" in record.log_path.read_text()
    assert cache.explain("training", "t2")["cached"] is True


@pytest.mark.parametrize("change", ["data", "hyperparameter", "image"])
def test_changes_miss_and_explain_says_why(store, image: str, make_image, change: str) -> None:
    store.put_bytes("s3://bucket/data/train/rows.txt", b"a b c d")
    run(definition(image), "base")
    lr, img = "0.1", image
    if change == "data":
        store.put_bytes("s3://bucket/data/train/rows.txt", b"a b c d e")
    elif change == "hyperparameter":
        lr = "0.2"
    else:
        img = make_image(
            "cachetrain2", {"train.py": TRAIN + "\n# v2\n"}, ["python", "/opt/program/train.py"]
        )
    result = run(definition(img, lr=lr), "changed")
    assert "StepLineCache" not in result.output
    why = cache.explain("training", "changed")
    assert why["cached"] is False and why["closest_job"] == "base"
    expected = {
        "data": "inputs.train",
        "hyperparameter": "request.HyperParameters",
        "image": "image",
    }[change]
    assert expected in why["differences"]
    if change == "image":
        assert "request.AlgorithmSpecification" in why["differences"]


def test_code_change_misses(store, image: str) -> None:
    store.put_bytes("s3://bucket/data/train/rows.txt", b"a b")
    store.put_bytes("s3://bucket/code/src.tar.gz", b"version 1")
    defn = definition(image)
    hp = defn["States"]["Train"]["Parameters"]["HyperParameters"]
    hp["sagemaker_submit_directory"] = "s3://bucket/code/src.tar.gz"
    run(defn, "c1")
    store.put_bytes("s3://bucket/code/src.tar.gz", b"version 2")
    run(defn, "c2")
    assert cache.explain("training", "c2")["differences"] == ["code"]


def test_opt_out_by_tag_and_by_run(store, image: str, monkeypatch) -> None:
    store.put_bytes("s3://bucket/data/train/rows.txt", b"a b c")
    run(definition(image), "o1")
    off = [{"Key": "stepline:cache", "Value": "off"}]
    assert "StepLineCache" not in run(definition(image, tags=off), "o2").output
    monkeypatch.setenv("STEPLINE_CACHE", "off")
    assert "StepLineCache" not in run(definition(image), "o3").output
    assert cache.explain("training", "o3")["reason"] == "caching was off"


def test_cli_cache_explain(store, image: str, home) -> None:
    store.put_bytes("s3://bucket/data/train/rows.txt", b"a b c")
    run(definition(image), "x1")
    run(definition(image, lr="0.5"), "x2")
    proc = subprocess.run(
        [sys.executable, "-m", "stepline", "cache", "explain", "x2", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["closest_job"] == "x1" and out["differences"] == ["request.HyperParameters"]
    text = subprocess.run(
        [sys.executable, "-m", "stepline", "cache", "explain", "x2"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "request.HyperParameters" in text and "x1" in text


def test_same_bytes_under_another_prefix_still_hit(store, image: str) -> None:
    """A downstream step whose input URI embeds an upstream job's name (a model artifact)
    hits when the bytes are the same, though the URI differs."""
    store.put_bytes("s3://bucket/runs/a/train/rows.txt", b"a b c d")
    store.put_bytes("s3://bucket/runs/b/train/rows.txt", b"a b c d")
    first = definition(image)
    channel = first["States"]["Train"]["Parameters"]["InputDataConfig"][0]
    channel["DataSource"]["S3DataSource"]["S3Uri"] = "s3://bucket/runs/a/train"
    run(first, "p1")
    channel["DataSource"]["S3DataSource"]["S3Uri"] = "s3://bucket/runs/b/train"
    second = run(first, "p2")
    assert second.output["StepLineCache"]["SourceJob"] == "p1"
    store.put_bytes("s3://bucket/runs/c/train/rows.txt", b"other bytes")
    channel["DataSource"]["S3DataSource"]["S3Uri"] = "s3://bucket/runs/c/train"
    third = run(first, "p3")
    assert "StepLineCache" not in third.output
    assert cache.explain("training", "p3")["differences"] == ["inputs.train"]
