"""Job code that calls AWS with boto3 reaches ``stepline server``: a processing job reads and
writes S3 through the API with nothing but the environment a SageMaker job gets."""

from __future__ import annotations

import uuid
from pathlib import Path

import botocore.exceptions
import pytest

from stepline import jobs
from support.images import build_image

JOB = """
import os
import boto3

s3 = boto3.client("s3")  # no endpoint, no keys: AWS_ENDPOINT_URL and the credentials are set
body = s3.get_object(Bucket=os.environ["BUCKET"], Key="in/data.txt")["Body"].read()
s3.put_object(Bucket=os.environ["BUCKET"], Key="out/upper.txt", Body=body.upper())
print("caller", boto3.client("sts").get_caller_identity()["Arn"], flush=True)
for i in range(5):
    print("line", i, flush=True)
"""


def test_processing_job_uses_boto3_against_the_server(
    aws_env, boto3_client, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEPLINE_HOME", aws_env["STEPLINE_HOME"])
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    s3 = boto3_client("s3")
    bucket = f"job-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/data.txt", Body=b"hello from s3")
    build_image(tmp_path / "ctx", "boto3-job:1", {"job.py": JOB}, ["python", "/opt/program/job.py"])
    name = f"boto3-{uuid.uuid4().hex[:8]}"
    jobs.create_job(
        "processing",
        {
            "ProcessingJobName": name,
            "RoleArn": "arn:aws:iam::000000000000:role/StepLineExecutionRole",
            "AppSpecification": {
                "ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/boto3-job:1"
            },
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "local", "VolumeSizeInGB": 1}
            },
            "Environment": {"BUCKET": bucket},
            "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        },
    )
    done = jobs.wait("processing", name, timeout=120)
    log = done.log_path.read_text()
    assert done.status == "Completed", (done.state.get("failure_reason"), log)
    assert s3.get_object(Bucket=bucket, Key="out/upper.txt")["Body"].read() == b"HELLO FROM S3"
    assert "caller arn:aws:sts::000000000000:assumed-role/StepLineExecutionRole/" in log
    _check_logs(aws_env, boto3_client, name, log)


def _check_logs(aws_env, boto3_client, name: str, log: str) -> None:
    """The job's output through CloudWatch Logs, as boto3 and the SageMaker SDK read it."""
    from sagemaker.logs import Position, multi_stream_iter

    logs = boto3_client("logs")
    group = "/aws/sagemaker/ProcessingJobs"
    streams = logs.describe_log_streams(
        logGroupName=group, logStreamNamePrefix=name + "/", orderBy="LogStreamName"
    )["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{name}/algo-1-")
    stream = streams[0]["logStreamName"]
    lines = log.rstrip("\n").split("\n")
    first = logs.get_log_events(
        logGroupName=group, logStreamName=stream, startFromHead=True, limit=2
    )
    assert [e["message"] for e in first["events"]] == lines[:2]
    rest = logs.get_log_events(
        logGroupName=group, logStreamName=stream, nextToken=first["nextForwardToken"]
    )
    assert [e["message"] for e in rest["events"]] == lines[2:] and len(lines) >= 6
    end = logs.get_log_events(
        logGroupName=group, logStreamName=stream, nextToken=rest["nextForwardToken"]
    )
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    # The SageMaker SDK's own reader (what fit(logs=True) uses), resuming at a timestamp.
    start = {stream: Position(timestamp=0, skip=0)}
    events = [e for _, e in multi_stream_iter(logs, group, [stream], start)]
    assert [e["message"] for e in events] == lines
    middle = events[2]["timestamp"]  # resume there, having printed one event at that time
    again = {stream: Position(timestamp=middle, skip=1)}
    resumed = [e["message"] for _, e in multi_stream_iter(logs, group, [stream], again)]
    assert resumed == lines[3:]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        logs.get_log_events(logGroupName=group, logStreamName=f"{name}/algo-2-1")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        logs.describe_log_streams(logGroupName="/aws/lambda/nothing")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
