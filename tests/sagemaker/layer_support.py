"""Helpers for the SageMaker layer tests: a training script and request builders."""

from __future__ import annotations

#: loss = (x - 0.3)^2, printed once; the model folder keeps the hyperparameters.
TRAIN = r"""
import json
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
x = float(hp.get("x", "0"))
print("starting", flush=True)
print(f"loss={(x - 0.3) ** 2:.6f}", flush=True)
open("/opt/ml/model/params.json", "w").write(json.dumps(hp))
"""
ROLE = "arn:aws:iam::000000000000:role/sm"


def training(name: str, image: str, **extra) -> dict:
    req = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
        },
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    req.update(extra)
    return req
