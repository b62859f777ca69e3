"""``estimator.fit(logs=True)``'s reader: the SageMaker SDK's ``logs_for_job`` follows a training
job through DescribeTrainingJob and CloudWatch Logs and prints the job's own output."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from support.images import build_image

JOB = """
import time
for i in range(3):
    print("epoch", i, "loss", 1.0 / (i + 1), flush=True)
    time.sleep(0.3)
open("/opt/ml/model/model.txt", "w").write("done")
"""

FOLLOW = """
import sys, sagemaker
sess = sagemaker.Session()
sess.logs_for_job(sys.argv[1], wait=True, poll=1)
print("FOLLOWED", sess.describe_training_job(sys.argv[1])["TrainingJobStatus"])
"""


def test_logs_for_job_prints_training_output(
    aws_env, client_env, boto3_client, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEPLINE_HOME", aws_env["STEPLINE_HOME"])
    monkeypatch.setenv("STEPLINE_STORE", "local")
    build_image(
        tmp_path / "ctx", "logs-train:1", {"train.py": JOB}, ["python", "/opt/program/train.py"]
    )
    s3 = boto3_client("s3")
    bucket = f"logs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    name = f"logs-{uuid.uuid4().hex[:8]}"
    boto3_client("sagemaker").create_training_job(
        TrainingJobName=name,
        RoleArn="arn:aws:iam::000000000000:role/StepLineExecutionRole",
        AlgorithmSpecification={
            "TrainingImage": "000000000000.dkr.ecr.us-east-1.amazonaws.com/logs-train:1",
            "TrainingInputMode": "File",
        },
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 120},
    )
    res = subprocess.run(
        [sys.executable, "-c", FOLLOW, name],
        env={**client_env, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    for i in range(3):
        assert f"epoch {i} loss" in res.stdout, res.stdout
    assert "FOLLOWED Completed" in res.stdout
