"""Fixtures for tuning tests: a private home and a tiny training image with a known optimum."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline import images
from stepline.storage import get_store

#: loss = (x - 0.3)^2 + (y - 0.7)^2, printed once per "epoch" (decreasing towards it).
TRAIN = r"""
import json
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
assert hp["_tuning_objective_metric"] == "loss", hp
x, y = float(hp["x"]), float(hp.get("y", "0.7"))
loss = (x - 0.3) ** 2 + (y - 0.7) ** 2
epochs = int(hp.get("epochs", "1"))
import time
for epoch in range(1, epochs + 1):
    time.sleep(float(hp.get("sleep", "0")))
    print(f"epoch={epoch} loss={loss * (1 + (epochs - epoch) * 0.5):.6f}", flush=True)
open("/opt/ml/model/params.json", "w").write(json.dumps(hp))
"""


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    return path


@pytest.fixture
def train_image(tmp_path: Path, home: Path) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "train.py").write_text(TRAIN)
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY train.py /opt/program/\n"
        'ENTRYPOINT ["python", "/opt/program/train.py"]\n'
    )
    images.build(ctx, "quad:1")
    get_store().create_bucket("bucket")
    return "123456789012.dkr.ecr.us-east-1.amazonaws.com/quad:1"


def tuning_request(
    name: str,
    image: str,
    strategy: str = "Bayesian",
    jobs: int = 8,
    parallel: int = 2,
    seed: int | None = 0,
    ranges: dict | None = None,
    **config,
) -> dict:
    cfg = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
        "ParameterRanges": ranges
        or {
            "ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "-2", "MaxValue": "2", "ScalingType": "Linear"},
                {"Name": "y", "MinValue": "-2", "MaxValue": "2", "ScalingType": "Linear"},
            ]
        },
        "TrainingJobEarlyStoppingType": "Off",
        **config,
    }
    if seed is not None:
        cfg["RandomSeed"] = seed
    if strategy == "Grid":
        cfg["ResourceLimits"].pop("MaxNumberOfTrainingJobs")
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": cfg,
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "1"},
            "AlgorithmSpecification": {
                "TrainingImage": image,
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.eE+-]+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/sm",
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/tuning"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeSizeInGB": 1,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        },
    }
