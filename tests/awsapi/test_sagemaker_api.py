"""The SageMaker API on ``stepline server``, driven by boto3: jobs really run, records are
the ones ``stepline jobs`` shows, errors are SageMaker's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from awsapi_support import cli_build
from botocore.exceptions import ClientError

from support.images import write_context

ROLE = "arn:aws:iam::000000000000:role/sm"
ECR = "000000000000.dkr.ecr.us-east-1.amazonaws.com"
TRAIN = """
import json, os, sys
if sys.argv[1:] == ["serve"]:  # the same image serves: it answers with its model's "epochs"
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200 if self.path == "/ping" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.dumps({"version": os.environ.get("MODEL_VERSION")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
os.makedirs("/opt/ml/model", exist_ok=True)
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
open("/opt/ml/model/model.json", "w").write(json.dumps(hp))
print("loss=0.25;", flush=True)
"""
FAST = {"WaiterConfig": {"Delay": 1, "MaxAttempts": 60}}


@pytest.fixture(scope="module")
def image(aws_env, tmp_path_factory) -> str:
    """An image built with ``stepline images build`` in the server's home, by ECR URI."""
    ctx = tmp_path_factory.mktemp("ctx")
    write_context(ctx, {"train.py": TRAIN}, ["python", "/opt/program/train.py"])
    uri = f"{ECR}/sm-api:latest"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ctx), "STEPLINE_HOME": aws_env["STEPLINE_HOME"]}
    cli_build(env, ctx, uri)
    return uri


@pytest.fixture
def sm(boto3_client):
    return boto3_client("sagemaker")


def _training(name: str, image: str) -> dict:
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+);"}],
        },
        "HyperParameters": {"epochs": "2"},
        "OutputDataConfig": {"S3OutputPath": "s3://sm-api/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def test_training_job_runs_and_describes_the_full_record(sm, image, boto3_client, aws_env):
    boto3_client("s3").create_bucket(Bucket="sm-api")
    arn = sm.create_training_job(**_training("api-train", image))["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:000000000000:training-job/api-train"
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="api-train", **FAST)
    desc = sm.describe_training_job(TrainingJobName="api-train")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ModelArtifacts"]["S3ModelArtifacts"] == (
        "s3://sm-api/models/api-train/output/model.tar.gz"
    )
    assert desc["HyperParameters"] == {"epochs": "2"}
    assert desc["FinalMetricDataList"][0]["MetricName"] == "loss"
    assert desc["FinalMetricDataList"][0]["Value"] == pytest.approx(0.25)
    assert desc["TrainingStartTime"] <= desc["TrainingEndTime"]
    assert [t["Status"] for t in desc["SecondaryStatusTransitions"]][0] == "Starting"
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**_training("api-train", image))
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    # stepline's own CLI shows the same job.
    shown = subprocess.run(
        [sys.executable, "-m", "stepline", "jobs", "describe", "api-train", "--json"],
        env={"PATH": "/usr/bin:/bin", "STEPLINE_HOME": aws_env["STEPLINE_HOME"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(shown.stdout)["TrainingJobArn"] == arn


def test_list_jobs_paginates_and_filters(sm, image, boto3_client):
    boto3_client("s3").create_bucket(Bucket="sm-api")
    for i in range(3):
        sm.create_training_job(**_training(f"page-{i}", image))
    for i in range(3):
        sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=f"page-{i}", **FAST)
    paginator = sm.get_paginator("list_training_jobs")
    pages = list(paginator.paginate(NameContains="page-", PaginationConfig={"PageSize": 2}))
    names = [s["TrainingJobName"] for p in pages for s in p["TrainingJobSummaries"]]
    assert names == ["page-2", "page-1", "page-0"] and len(pages) == 2
    ascending = sm.list_training_jobs(NameContains="page-", SortBy="Name", SortOrder="Ascending")
    assert [s["TrainingJobName"] for s in ascending["TrainingJobSummaries"]][0] == "page-0"
    none = sm.list_training_jobs(NameContains="page-", StatusEquals="Failed")
    assert none["TrainingJobSummaries"] == []
    with pytest.raises(ClientError) as err:
        sm.list_training_jobs(NextToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_processing_job_and_not_found_messages(sm, image, boto3_client):
    boto3_client("s3").create_bucket(Bucket="sm-api")
    sm.create_processing_job(
        ProcessingJobName="api-proc",
        RoleArn=ROLE,
        AppSpecification={
            "ImageUri": image,
            "ContainerEntrypoint": ["python", "-c", "print('processed')"],
        },
        ProcessingResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 1,
            }
        },
    )
    sm.get_waiter("processing_job_completed_or_stopped").wait(ProcessingJobName="api-proc", **FAST)
    desc = sm.describe_processing_job(ProcessingJobName="api-proc")
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    listed = sm.list_processing_jobs(NameContains="api-proc")["ProcessingJobSummaries"]
    assert [p["ProcessingJobName"] for p in listed] == ["api-proc"]
    with pytest.raises(ClientError) as err:
        sm.stop_processing_job(ProcessingJobName="api-proc")
    assert err.value.response["Error"]["Code"] == "ValidationException"

    cases = [
        (sm.describe_training_job, {"TrainingJobName": "nope"}, "Requested resource not found."),
        (
            sm.describe_processing_job,
            {"ProcessingJobName": "nope"},
            "Could not find requested job with name nope",
        ),
        (sm.describe_model, {"ModelName": "nope"}, 'Could not find model "arn:aws:sagemaker:'),
        (sm.describe_endpoint, {"EndpointName": "nope"}, 'Could not find endpoint "arn:aws:'),
    ]
    for call, kwargs, message in cases:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert err.value.response["Error"]["Message"].startswith(message)
    with pytest.raises(ClientError) as err:  # checked against botocore's model, AWS's message
        sm.create_training_job(**{**_training("Bad_Name", image)})
    assert err.value.response["Error"]["Message"].startswith("1 validation error detected:")


def test_models_and_endpoint_configs(sm, image):
    model = {
        "ModelName": "api-model",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": "s3://sm-api/m.tar.gz"},
    }
    assert sm.create_model(**model)["ModelArn"].endswith(":model/api-model")
    with pytest.raises(ClientError) as err:
        sm.create_model(**model)
    assert "Cannot create already existing model" in err.value.response["Error"]["Message"]
    assert sm.describe_model(ModelName="api-model")["PrimaryContainer"]["Image"] == image
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "api-model",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sm.create_endpoint_config(EndpointConfigName="api-config", ProductionVariants=[variant])
    desc = sm.describe_endpoint_config(EndpointConfigName="api-config")
    assert desc["ProductionVariants"][0]["ModelName"] == "api-model"
    assert [m["ModelName"] for m in sm.list_models(NameContains="api-")["Models"]] == ["api-model"]
    configs = sm.list_endpoint_configs()["EndpointConfigs"]
    assert "api-config" in [c["EndpointConfigName"] for c in configs]
    sm.delete_endpoint_config(EndpointConfigName="api-config")
    sm.delete_model(ModelName="api-model")
    assert sm.list_models(NameContains="api-")["Models"] == []


def test_endpoint_lifecycle_with_waiters(sm, image, boto3_client):
    for version in ("1", "2"):
        sm.create_model(
            ModelName=f"ep-model-{version}",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": image, "Environment": {"MODEL_VERSION": version}},
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"ep-config-{version}",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"ep-model-{version}",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )
    arn = sm.create_endpoint(EndpointName="api-ep", EndpointConfigName="ep-config-1")
    assert arn["EndpointArn"] == "arn:aws:sagemaker:us-east-1:000000000000:endpoint/api-ep"
    sm.get_waiter("endpoint_in_service").wait(EndpointName="api-ep", **FAST)
    runtime = boto3_client("sagemaker-runtime")

    def ask() -> dict:
        out = runtime.invoke_endpoint(EndpointName="api-ep", Body=b"{}", ContentType="text/plain")
        return json.loads(out["Body"].read())

    assert ask() == {"version": "1"}
    with pytest.raises(ClientError) as err:  # a busy endpoint refuses a second update
        sm.update_endpoint(EndpointName="api-ep", EndpointConfigName="ep-config-2")
        sm.update_endpoint(EndpointName="api-ep", EndpointConfigName="ep-config-2")
    assert "Cannot update in-progress endpoint" in err.value.response["Error"]["Message"]
    sm.get_waiter("endpoint_in_service").wait(EndpointName="api-ep", **FAST)
    desc = sm.describe_endpoint(EndpointName="api-ep")
    assert desc["EndpointConfigName"] == "ep-config-2" and desc["EndpointStatus"] == "InService"
    assert ask() == {"version": "2"}
    listed = sm.list_endpoints(StatusEquals="InService", NameContains="api-")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == ["api-ep"]
    sm.delete_endpoint(EndpointName="api-ep")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="api-ep", **FAST)
