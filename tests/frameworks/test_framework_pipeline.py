"""AWS's framework images through stepline's own SDK builders, run by stepline's engine:
a ScriptProcessor on the scikit-learn image splits data, XGBoost as a built-in algorithm
trains on the split, and a PyTorch script-mode estimator (``entry_point`` + ``source_dir``)
trains beside it -- one Step Functions definition, nothing but AWS's image URIs."""

from __future__ import annotations

import numpy as np
from frameworks_support import PYTORCH, ROLE, SCRIPTS, SKLEARN, XGBOOST

from stepline import jobs
from stepline.sdk.jobs import (
    Estimator,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    TrainingInput,
)
from stepline.steps import Chain, Parallel, ProcessingStep, TrainingStep
from stepline.storage import get_store
from stepline.workflow import Workflow


def test_framework_images_in_a_stepline_pipeline(fw_home, monkeypatch) -> None:
    monkeypatch.setenv("STEPLINE_DEFAULT_BUCKET", "bucket")
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(80, 2))
    y = 2 * x[:, 0] - x[:, 1]
    rows = "\n".join(f"{t:.5f},{a:.5f},{b:.5f}" for t, (a, b) in zip(y, x, strict=True))
    get_store().put_bytes("s3://bucket/pipe/raw/data.csv", rows.encode())

    split = ProcessingStep(
        "Split",
        processor=ScriptProcessor(
            SKLEARN,
            command=["python3"],
            role=ROLE,
            code=str(SCRIPTS / "sklearn_preprocess.py"),
            instance_type="ml.t3.medium",
        ),
        job_name="pipe-split",
        inputs=[ProcessingInput("s3://bucket/pipe/raw", "/opt/ml/processing/input/raw")],
        outputs=[
            ProcessingOutput("/opt/ml/processing/train", "s3://bucket/pipe/train", "train"),
            ProcessingOutput("/opt/ml/processing/test", "s3://bucket/pipe/test", "test"),
        ],
    )
    xgb = TrainingStep(
        "XGBoost",
        estimator=Estimator(
            XGBOOST,
            role=ROLE,
            instance_type="ml.c4.2xlarge",
            output_path="s3://bucket/pipe/models",
            hyperparameters={"num_round": 20, "objective": "reg:squarederror"},
        ),
        job_name="pipe-xgb",
        data={
            "train": TrainingInput("s3://bucket/pipe/train", content_type="text/csv"),
            "validation": TrainingInput("s3://bucket/pipe/test", content_type="text/csv"),
        },
    )
    torch_step = TrainingStep(
        "PyTorch",
        estimator=Estimator(
            PYTORCH,
            role=ROLE,
            instance_type="ml.m5.xlarge",
            output_path="s3://bucket/pipe/models",
            entry_point="pytorch_train.py",
            source_dir=str(SCRIPTS),
            hyperparameters={"epochs": 100},
        ),
        job_name="pipe-torch",
    )
    train = Parallel("Train")
    train.add_branch(xgb)
    train.add_branch(torch_step)
    workflow = Workflow("framework-pipeline", Chain([split, train]), role=ROLE)
    workflow.create()
    execution = workflow.execute(name="run-1")
    output = execution.get_output(wait=True)
    assert execution.describe()["status"] == "SUCCEEDED", (
        [jobs.describe_training_job(n).get("FailureReason") for n in ("pipe-xgb", "pipe-torch")],
        output,
    )
    xgb_desc = jobs.describe_training_job("pipe-xgb")
    metrics = {m["MetricName"] for m in xgb_desc["FinalMetricDataList"]}
    assert {"train:rmse", "validation:rmse"} <= metrics
    assert jobs.describe_training_job("pipe-torch")["TrainingJobStatus"] == "Completed"
