"""The Step Functions integration: the DSSDK-generated pipeline (preprocessing, training,
model, endpoint config, endpoint), failures, crash and reattach."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from stepline import asl, jobs, serving
from stepline.integrations import Router
from support.images import MODEL_SERVER

DATA = Path(__file__).parent / "data"

PREPROCESS = """
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--split-ratio", type=float)
a = p.parse_args()
cfg = open("/opt/ml/config/processingjobconfig.json").read()
assert '"ProcessingJobName": "seed-pre"' in cfg, cfg
rows = open("/opt/ml/processing/input/raw.csv").read().split()
cut = int(len(rows) * (1 - a.split_ratio))
open("/opt/ml/processing/train/train.csv", "w").write("\\n".join(rows[:cut]) + "\\n")
open("/opt/ml/processing/validation/validation.csv", "w").write("\\n".join(rows[cut:]) + "\\n")
open("/opt/ml/output/message", "w").write(f"split {len(rows)} rows at {cut}")
print("preprocessed", len(rows), flush=True)
"""

TRAIN = """
import json, os, sys
if sys.argv[1:] == ["serve"]:  # the same image serves the model (SageMaker's contract)
    from model_server import serve

    MODEL = json.load(open("/opt/ml/model/model.json"))
    serve(lambda body: {"y": MODEL["lr"] * float(json.loads(body)), "n_train": MODEL["n_train"]})
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
train = open("/opt/ml/input/data/train/train.csv").read().split()
val = open("/opt/ml/input/data/validation/validation.csv").read().split()
epochs = int(hp["epochs"])
for e in range(epochs):
    print(f"[{e}] #quality_metric: host=algo-1, epoch={e}, validation mse <loss>={1.0/(e+1)}")
json.dump({"n_train": len(train), "n_val": len(val), "lr": float(hp["learning_rate"])},
          open("/opt/ml/model/model.json", "w"))
"""


@pytest.fixture
def serving_home(home, monkeypatch):
    """The serving side of the pipeline: a short stop grace; the server stopped at the end."""
    from stepline.serving import server

    monkeypatch.setenv("STEPLINE_SERVING_STOP_GRACE", "5")
    monkeypatch.delenv("STEPLINE_SERVER_PORT", raising=False)
    yield home
    server.stop_server()


def _task_output(result, key: str) -> dict:
    """The output of the (first) Task whose output has ``key``, from the history."""
    for event in result.events:
        if event["type"] == "TaskSucceeded":
            output = json.loads(event["taskSucceededEventDetails"]["output"])
            if key in output:
                return output
    raise AssertionError(f"no Task output with {key}")


def test_dssdk_generated_pipeline(store, make_image, serving_home):
    store.put_bytes("s3://bucket/raw/raw.csv", "\n".join(str(i) for i in range(10)).encode())
    store.put_bytes("s3://bucket/code/preprocessing.py", textwrap.dedent(PREPROCESS).encode())
    make_image(
        "seed-preprocess", {"noop.py": "raise SystemExit(9)"}, ["python", "/opt/program/noop.py"]
    )
    make_image(
        "seed-train", {**MODEL_SERVER, "train.py": TRAIN}, ["python", "/opt/program/train.py"]
    )
    definition = json.loads((DATA / "dssdk_seed_pipeline.asl.json").read_text())
    metric = {"Name": "validation:mse", "Regex": "validation mse <loss>=([0-9\\.]+)"}
    definition["States"]["Train model"]["Parameters"]["AlgorithmSpecification"][
        "MetricDefinitions"
    ] = [metric]
    result = asl.execute(
        definition,
        {
            "PreprocessingJobName": "seed-pre",
            "TrainingJobName": "seed-train",
            "ModelName": "seed-model",
            "EndpointConfigName": "seed-config",
            "EndpointName": "seed-endpoint",
        },
        tasks=Router(),
        virtual_time=True,
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {
        "EndpointArn": "arn:aws:sagemaker:us-east-1:000000000000:endpoint/seed-endpoint"
    }
    out = _task_output(result, "TrainingJobStatus")
    assert out["TrainingJobStatus"] == "Completed"
    assert out["TrainingJobName"] == "seed-train"
    assert out["HyperParameters"] == {"epochs": "10", "learning_rate": "0.05"}
    assert isinstance(out["CreationTime"], int)  # epoch millis, as Step Functions returns
    model_uri = out["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri == "s3://bucket/models/seed-train/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(store.get_bytes(model_uri))) as tar:
        model = json.load(tar.extractfile("model.json"))
    assert model == {"n_train": 8, "n_val": 2, "lr": 0.05}
    assert out["FinalMetricDataList"][0]["MetricName"] == "validation:mse"
    assert out["FinalMetricDataList"][0]["Value"] == pytest.approx(0.1)

    pre = jobs.describe_processing_job("seed-pre")
    assert pre["ProcessingJobStatus"] == "Completed"
    assert pre["ExitMessage"] == "split 10 rows at 8"
    assert pre["ProcessingStartTime"] <= pre["ProcessingEndTime"]
    assert store.get_bytes("s3://bucket/processed/train/train.csv").split() == [
        str(i).encode() for i in range(8)
    ]
    details = jobs.local_details(jobs.get_record("processing", "seed-pre"))
    assert details["Entrypoint"] == ["python3", "/opt/ml/processing/input/code/preprocessing.py"]
    assert details["Arguments"] == ["--split-ratio", "0.2"]
    assert {o["name"] for o in details["Outputs"]} == {"train", "validation"}
    scheduled = [e for e in result.events if e["type"] == "TaskScheduled"]
    assert len(scheduled) == 5  # no retries: every step was accepted once

    # The endpoint serves the trained model (model.tar.gz from the training job).
    model = serving.describe_model("seed-model")
    assert model["PrimaryContainer"]["ModelDataUrl"] == model_uri
    desc = _wait_in_service("seed-endpoint")
    assert desc["EndpointConfigName"] == "seed-config"
    answer = json.loads(serving.invoke_endpoint("seed-endpoint", b"10")["Body"])
    assert answer == {"y": pytest.approx(0.5), "n_train": 8}


def _wait_in_service(name: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = serving.describe_endpoint(name)
        if desc["EndpointStatus"] == "InService":
            return desc
        assert desc["EndpointStatus"] in ("Creating", "Updating"), desc
        assert time.monotonic() < deadline, desc
        time.sleep(0.05)


def _one_task(resource: str, params: dict, catch: bool = False) -> dict:
    state = {"Type": "Task", "Resource": resource, "Parameters": params, "End": True}
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]
        del state["End"]
        state["Next"] = "Done"
    states = {"Job": state}
    if catch:
        states["Caught"] = {"Type": "Pass", "End": True}
        states["Done"] = {"Type": "Pass", "End": True}
    return {"StartAt": "Job", "States": states}


def test_failed_job_fails_task_with_describe_cause(store, make_image, processing_request):
    image = make_image(
        "pfail",
        {"p.py": "open('/opt/ml/output/message','w').write('bad input'); raise SystemExit(1)"},
        ["python", "/opt/program/p.py"],
    )
    definition = _one_task(
        "arn:aws:states:::sagemaker:createProcessingJob.sync", processing_request("pf", image)
    )
    result = asl.execute(definition, {}, tasks=Router())
    assert result.status == "FAILED"
    assert result.error == "States.TaskFailed"
    cause = json.loads(result.cause)
    assert cause["ProcessingJobStatus"] == "Failed"
    assert cause["FailureReason"] == "AlgorithmError: See job logs for more information"
    assert cause["ExitMessage"] == "bad input"


def test_bad_request_and_duplicate_name_errors(store, make_image, training_request):
    image = make_image("ok", {"t.py": "pass"}, ["python", "/opt/program/t.py"])
    req = training_request("dup-name", image)
    req["ResourceConfig"]["InstanceCount"] = 0
    result = asl.execute(
        _one_task("arn:aws:states:::sagemaker:createTrainingJob", req), {}, tasks=Router()
    )
    assert result.error == "SageMaker.AmazonSageMakerException"
    assert "ResourceConfig.InstanceCount: 0 is less than the minimum 1" in result.cause
    assert "Error Code: ValidationException" in result.cause

    req["ResourceConfig"]["InstanceCount"] = 1
    first = asl.execute(
        _one_task("arn:aws:states:::sagemaker:createTrainingJob", req), {}, tasks=Router()
    )
    assert first.status == "SUCCEEDED"
    assert first.output == {
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:000000000000:training-job/dup-name"
    }
    again = asl.execute(
        _one_task("arn:aws:states:::sagemaker:createTrainingJob", req),
        {},
        tasks=Router(),
        name="other",
    )
    assert again.error == "SageMaker.ResourceInUseException"
    jobs.wait("training", "dup-name", timeout=30)


ENGINE = """
import json, sys
from stepline import asl
from stepline.integrations import Router
definition = json.loads(sys.argv[1])
result = asl.execute(definition, {}, tasks=Router(), name="crashy")
print(json.dumps({"status": result.status, "output": result.output}, default=str))
"""


def test_engine_crash_mid_job_reattaches_without_rerunning(store, make_image, training_request):
    code = """
    import time
    print("USER CODE STARTED", flush=True)
    time.sleep(1.5)
    open("/opt/ml/model/done", "w").write("yes")
    """
    image = make_image("crash", {"t.py": code}, ["python", "/opt/program/t.py"])
    definition = _one_task(
        "arn:aws:states:::sagemaker:createTrainingJob.sync", training_request("crash-1", image)
    )
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE, json.dumps(definition)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        record = jobs.service.records.get("training", "crash-1")
        if record is not None and "USER CODE STARTED" in record.log_path.read_text():
            break
        assert time.monotonic() < deadline and engine.poll() is None
        time.sleep(0.02)
    engine.kill()  # the engine dies mid-job; the job's supervisor does not
    engine.wait()
    assert jobs.get_record("training", "crash-1").status == "InProgress"

    result = asl.execute(definition, {}, tasks=Router(), name="crashy")  # same task token
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["TrainingJobStatus"] == "Completed"
    record = jobs.get_record("training", "crash-1")
    assert record.log_path.read_text().count("USER CODE STARTED") == 1


def test_cancelled_sync_task_stops_the_job(store, make_image, training_request):
    image = make_image(
        "long",
        {"t.py": "import time; print('up', flush=True); time.sleep(60)"},
        ["python", "/opt/program/t.py"],
    )
    definition = _one_task(
        "arn:aws:states:::sagemaker:createTrainingJob.sync", training_request("long-1", image)
    )
    definition["States"]["Job"]["TimeoutSeconds"] = 2
    result = asl.execute(definition, {}, tasks=Router())
    assert result.error == "States.Timeout"
    record = jobs.wait("training", "long-1", timeout=30)
    assert record.status == "Stopped"
