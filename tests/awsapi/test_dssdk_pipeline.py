"""A Processing -> Training -> deploy pipeline written as a Data Science SDK user writes it,
run unmodified against ``stepline server`` with only the environment ``stepline env`` prints.

The user's script runs in a subprocess (the SDKs read the environment; ``import
stepfunctions`` also resets the root logger) and prints what it saw as JSON.
"""

from __future__ import annotations

import textwrap

from awsapi_support import cli_build

from support.images import MODEL_SERVER, write_context
from support.sdk_scripts import run_sdk_script

ECR = "000000000000.dkr.ecr.us-east-1.amazonaws.com"

PREPROCESS = """
import os
rows = open("/opt/ml/processing/input/data/raw.csv").read().split()
os.makedirs("/opt/ml/processing/output/train", exist_ok=True)
open("/opt/ml/processing/output/train/train.csv", "w").write("\\n".join(rows[:8]) + "\\n")
print("preprocessed", len(rows), flush=True)
"""

MAIN = """
import json, os, sys
if sys.argv[1:] == ["serve"]:
    from model_server import serve

    MODEL = json.load(open("/opt/ml/model/model.json"))
    serve(lambda body: {"y": MODEL["scale"] * float(json.loads(body)), "rows": MODEL["rows"]})
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
rows = open("/opt/ml/input/data/train/train.csv").read().split()
print(f"train_loss={1.0 / len(rows):.4f};", flush=True)
json.dump({"rows": len(rows), "scale": float(hp["scale"])}, open("/opt/ml/model/model.json", "w"))
"""

USER_SCRIPT = """
import json, sys
import boto3, sagemaker
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from stepfunctions.steps import (
    Chain, EndpointConfigStep, EndpointStep, ModelStep, ProcessingStep, TrainingStep,
)
from stepfunctions.workflow import Workflow

IMAGE_PRE, IMAGE_TRAIN, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
ROLE = "arn:aws:iam::000000000000:role/StepFunctionsWorkflowExecutionRole"
sess = sagemaker.Session()
bucket = sess.default_bucket()
code = sess.upload_data(f"{WORK}/preprocess.py", bucket, "code")
data = sess.upload_data(f"{WORK}/raw.csv", bucket, "raw")

processor = Processor(
    role=ROLE, image_uri=IMAGE_PRE, instance_count=1, instance_type="ml.m5.large",
    sagemaker_session=sess,
)
processing = ProcessingStep(
    "Preprocess", processor=processor, job_name="dssdk-pre",
    inputs=[
        ProcessingInput(code, "/opt/ml/processing/input/code", input_name="code"),
        ProcessingInput(data, "/opt/ml/processing/input/data", input_name="data"),
    ],
    outputs=[ProcessingOutput(source="/opt/ml/processing/output/train",
                              destination=f"s3://{bucket}/processed/train", output_name="train")],
    container_entrypoint=["python3", "/opt/ml/processing/input/code/preprocess.py"],
)
estimator = Estimator(
    image_uri=IMAGE_TRAIN, role=ROLE, instance_count=1, instance_type="ml.m5.large",
    output_path=f"s3://{bucket}/models", hyperparameters={"scale": "2"},
    sagemaker_session=sess,
)
training = TrainingStep(
    "Train", estimator=estimator, job_name="dssdk-train",
    data={"train": TrainingInput(f"s3://{bucket}/processed/train", content_type="text/csv")},
)
model = ModelStep("Save model", model=training.get_expected_model(), model_name="dssdk-model")
config = EndpointConfigStep(
    "Configure", endpoint_config_name="dssdk-config", model_name="dssdk-model",
    initial_instance_count=1, instance_type="ml.m5.large",
)
endpoint = EndpointStep("Deploy", endpoint_name="dssdk-ep", endpoint_config_name="dssdk-config")
workflow = Workflow("dssdk-pipeline", Chain([processing, training, model, config, endpoint]), ROLE)
arn = workflow.create()
again = Workflow("dssdk-pipeline", Chain([processing]), ROLE).create()  # exists: ARN parsed
import time
t0 = time.monotonic()
execution = workflow.execute(inputs={"run": 1})
output = execution.get_output(wait=True)
t1 = time.monotonic()
events = execution.list_events()
sess.wait_for_endpoint("dssdk-ep", poll=1)
t2 = time.monotonic()
predictor = sagemaker.predictor.Predictor("dssdk-ep", sagemaker_session=sess)
answer = json.loads(predictor.predict(b"21", initial_args={"ContentType": "application/json"}))
described = sess.sagemaker_client.describe_training_job(TrainingJobName="dssdk-train")
attached = Workflow.attach(arn)
listed = [w["stateMachineArn"] for w in Workflow.list_workflows()]
runs = [e.status for e in attached.list_executions()]
newest = execution.list_events(reverse_order=True)[0]["type"]
sess.sagemaker_client.delete_endpoint(EndpointName="dssdk-ep")
print("\\nRESULT " + json.dumps({
    "arn": arn, "again": again, "bucket": bucket, "status": execution.describe()["status"],
    "output": output, "events": [e["type"] for e in events], "answer": answer,
    "training": {k: str(v) for k, v in described.items()},
    "attached": attached.definition.to_dict()["StartAt"], "listed": listed, "runs": runs,
    "newest": newest,
    "seconds": {"pipeline": round(t1 - t0, 1), "endpoint": round(t2 - t1, 1)},
}))
"""


def test_dssdk_processing_training_deploy(client_env, tmp_path):
    pre, train = tmp_path / "pre", tmp_path / "train"
    for folder in (pre, train):
        folder.mkdir()
    (pre / "Dockerfile").write_text("FROM python:3.11\n")
    write_context(train, {**MODEL_SERVER, "main.py": MAIN}, ["python", "/opt/program/main.py"])
    cli_build(client_env, pre, f"{ECR}/dssdk-pre:1")
    cli_build(client_env, train, f"{ECR}/dssdk-train:1")
    work = tmp_path / "work"
    work.mkdir()
    (work / "preprocess.py").write_text(textwrap.dedent(PREPROCESS))
    (work / "raw.csv").write_text("\n".join(str(i) for i in range(10)) + "\n")
    result = run_sdk_script(
        tmp_path,
        USER_SCRIPT,
        f"{ECR}/dssdk-pre:1",
        f"{ECR}/dssdk-train:1",
        str(work),
        env=client_env,
        timeout=240,
    )
    print("timings", result["seconds"])
    assert result["arn"] == "arn:aws:states:us-east-1:000000000000:stateMachine:dssdk-pipeline"
    assert result["again"] == result["arn"]
    assert result["bucket"] == "sagemaker-us-east-1-000000000000"
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["EndpointArn"].endswith(":endpoint/dssdk-ep")
    assert (
        result["events"][0] == "ExecutionStarted" and result["events"][-1] == "ExecutionSucceeded"
    )
    assert result["events"].count("TaskSucceeded") == 5
    assert result["answer"] == {"y": 42.0, "rows": 8}
    assert result["attached"] == "Preprocess" and result["arn"] in result["listed"]
    assert result["runs"] == ["SUCCEEDED"] and result["newest"] == "ExecutionSucceeded"
    training = result["training"]
    assert training["TrainingJobStatus"] == "Completed"
    assert training["ModelArtifacts"].endswith("dssdk-train/output/model.tar.gz'}")
    assert "train_loss" not in training.get("FinalMetricDataList", "")  # no metric definitions
    assert "SecondaryStatusTransitions" in training and "TrainingStartTime" in training
