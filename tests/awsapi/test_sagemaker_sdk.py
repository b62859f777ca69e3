"""Script mode with the SageMaker Python SDK (v2), unmodified, against ``stepline server``:
``Estimator(entry_point=..., source_dir=...)`` uploads ``sourcedir.tar.gz`` through the S3
API and the job runs the uploaded script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import textwrap

from awsapi_support import cli_build

from support.sdk_scripts import run_sdk_script

ECR = "000000000000.dkr.ecr.us-east-1.amazonaws.com"

ENTRY = """
import json, os, sys
import helper  # from source_dir, next to the entry point
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
os.makedirs("/opt/ml/model", exist_ok=True)
open("/opt/ml/model/result.json", "w").write(json.dumps({
    "epochs": int(hp["epochs"]), "greeting": helper.GREETING, "argv": sys.argv[1:],
}))
print("script mode ran", hp["epochs"], flush=True)
"""

USER_SCRIPT = """
import json, sys
import sagemaker
from sagemaker.estimator import Estimator

image, source = sys.argv[1], sys.argv[2]
sess = sagemaker.Session()
estimator = Estimator(
    image_uri=image, role="arn:aws:iam::000000000000:role/sm", instance_count=1,
    instance_type="ml.m5.large", entry_point="train.py", source_dir=source,
    hyperparameters={"epochs": 3}, sagemaker_session=sess,
)
estimator.fit(wait=False)
name = estimator.latest_training_job.name
desc = sess.wait_for_job(name, poll=1)
keys = [o["Key"] for o in sess.boto_session.client("s3").list_objects_v2(
    Bucket=sess.default_bucket(), Prefix=name)["Contents"]]
print("\\nRESULT " + json.dumps({
    "status": desc["TrainingJobStatus"], "reason": desc.get("FailureReason"),
    "hyperparameters": desc["HyperParameters"], "keys": keys,
    "model": desc["ModelArtifacts"]["S3ModelArtifacts"],
}))
"""


def test_script_mode_estimator_uploads_and_runs_source_dir(client_env, tmp_path):
    ctx = tmp_path / "image"
    ctx.mkdir()
    # A minimal script-mode image: stepline unpacks sourcedir.tar.gz into /opt/ml/code and
    # names the entry point in SM_USER_ENTRY_POINT, as the training toolkit does.
    (ctx / "Dockerfile").write_text(
        'FROM python:3.11\nENTRYPOINT ["sh", "-c", '
        '"cd /opt/ml/code && exec python \\"$SM_USER_ENTRY_POINT\\" --from-toolkit"]\n'
    )
    uri = f"{ECR}/script-mode:1"
    cli_build(client_env, ctx, uri)
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent(ENTRY))
    (source / "helper.py").write_text('GREETING = "hello from source_dir"\n')
    result = run_sdk_script(tmp_path, USER_SCRIPT, uri, str(source), env=client_env, timeout=240)
    assert result["status"] == "Completed", result["reason"]
    hp = result["hyperparameters"]
    # The SDK JSON-encodes hyperparameters and names the uploaded code.
    assert hp["sagemaker_program"] == '"train.py"' and hp["epochs"] == "3"
    assert hp["sagemaker_submit_directory"].endswith('/source/sourcedir.tar.gz"')
    assert any(k.endswith("/source/sourcedir.tar.gz") for k in result["keys"])
    model = subprocess.run(
        [sys.executable, "-m", "awscli", "s3", "cp", result["model"], "-"],
        env=client_env,
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(model)) as tar:
        ran = json.load(tar.extractfile("result.json"))
    assert ran["epochs"] == 3 and ran["greeting"] == "hello from source_dir"
