"""Helpers for tuning tests: a training script with a known optimum and a request builder."""

from __future__ import annotations

from support.job_requests import tuning_definition

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
            **tuning_definition(
                image, role="arn:aws:iam::123456789012:role/sm", metric_regex=r"loss=([0-9.eE+-]+)"
            ),
        },
    }
