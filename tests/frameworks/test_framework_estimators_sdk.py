"""AWS's framework estimators, unmodified, through the SageMaker Python SDK against
``stepline server``: ``SKLearn(...).fit()``, ``.deploy()`` then ``predict()``,
``Transformer(...).transform()`` and ``PyTorch(...).fit()``.

The user's code runs in a subprocess with only what ``stepline env`` prints (the SDK reads
the environment); the images are AWS's URIs as the SDK picks them, built by stepline on
first use (cached in the framework test home, see conftest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from frameworks_support import SCRIPTS

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

SCRIPTS, WORK = sys.argv[1], sys.argv[2]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
sess = sagemaker.Session()
bucket = sess.default_bucket()
train = sess.upload_data(f"{WORK}/train.csv", bucket, "sdk/train")
batch = sess.upload_data(f"{WORK}/batch.csv", bucket, "sdk/batch")
result = {}

sk = SKLearn(
    entry_point="sklearn_train.py", source_dir=SCRIPTS, framework_version="1.2-1",
    instance_type="ml.c4.2xlarge", role=ROLE, hyperparameters={"regularization": 0.5},
    sagemaker_session=sess,
)
sk.fit({"train": train}, wait=False, job_name="sdk-sklearn")
sess.wait_for_job("sdk-sklearn", poll=1)
sess.logs_for_job("sdk-sklearn", wait=False, poll=1)
result["image"] = sk.training_image_uri()
result["training"] = sess.describe_training_job("sdk-sklearn")["TrainingJobStatus"]

predictor = sk.deploy(
    initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="sdk-sk-ep", wait=False
)
sess.wait_for_endpoint("sdk-sk-ep", poll=1)
result["npy"] = np.asarray(predictor.predict(np.array([[2.0, 2.0], [-2.0, -2.0]]))).tolist()
predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
result["csv"] = predictor.predict([[3.0, 1.0], [-3.0, -1.0]])
predictor.delete_endpoint(delete_endpoint_config=True)

transformer = sk.transformer(
    instance_count=1, instance_type="ml.m5.large", accept="text/csv", assemble_with="Line",
    output_path=f"s3://{bucket}/sdk/batch-out",
)
transformer.transform(batch, content_type="text/csv", split_type="Line", wait=False,
                      job_name="sdk-sk-batch")
sess.wait_for_transform_job("sdk-sk-batch", poll=1)
result["batch"] = sess.read_s3_file(bucket, "sdk/batch-out/batch.csv.out").split()

pt = PyTorch(
    entry_point="pytorch_train.py", source_dir=SCRIPTS, framework_version="2.6.0",
    py_version="py312", instance_type="ml.m5.xlarge", instance_count=1, role=ROLE,
    hyperparameters={"epochs": 300}, sagemaker_session=sess,
)
pt.fit(wait=False, job_name="sdk-pytorch")
sess.wait_for_job("sdk-pytorch", poll=1)
result["pytorch"] = sess.describe_training_job("sdk-pytorch")["TrainingJobStatus"]
# PyTorchModel repacks the code into the model archive (S3 download + upload) and serves it.
pt_predictor = pt.deploy(
    initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="sdk-pt-ep", wait=False,
    serializer=JSONSerializer(), deserializer=JSONDeserializer(),
)
sess.wait_for_endpoint("sdk-pt-ep", poll=1)
result["pytorch_predict"] = pt_predictor.predict([0.0, 1.0])
pt_predictor.delete_endpoint()

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


def test_framework_estimators_through_the_sagemaker_sdk(sdk_env, tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    rows = [f"{a},{b:.5f},{c:.5f}" for a, (b, c) in zip(y, x, strict=True)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "batch.csv").write_text("2.0,2.0\n-2.0,-2.0\n")
    (tmp_path / "data.csv").write_text("\n".join(rows[:40]) + "\n")
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(SCRIPTS), str(tmp_path)],
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
    assert "train accuracy:" in done.stdout  # the job's log, read through CloudWatch Logs
    assert result["npy"] == [1.0, 0.0] or result["npy"] == [1, 0]
    assert [[float(v) for v in row] for row in result["csv"]] == [[1.0], [0.0]]
    assert [float(v) for v in result["batch"]] == [1.0, 0.0]
    assert result["pytorch"] == "Completed"
    assert [round(v[0], 1) for v in result["pytorch_predict"]] == [1.0, 3.0]
    assert result["skprocessor"] == 30 and result["ptprocessor"] == 10
