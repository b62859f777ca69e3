"""Job code that calls AWS with boto3 reaches ``stepline server``: a processing job reads and
writes S3 through the API with nothing but the environment a SageMaker job gets."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

from stepline import images, jobs

JOB = """
import os
import boto3

s3 = boto3.client("s3")  # no endpoint, no keys: AWS_ENDPOINT_URL and the credentials are set
body = s3.get_object(Bucket=os.environ["BUCKET"], Key="in/data.txt")["Body"].read()
s3.put_object(Bucket=os.environ["BUCKET"], Key="out/upper.txt", Body=body.upper())
print("caller", boto3.client("sts").get_caller_identity()["Arn"], flush=True)
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
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "job.py").write_text(textwrap.dedent(JOB))
    (ctx / "Dockerfile").write_text(
        'FROM python:3.11\nCOPY job.py /opt/program/job.py\nENTRYPOINT ["python", '
        '"/opt/program/job.py"]\n'
    )
    images.build(ctx, "boto3-job:1", runtime="process")
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
