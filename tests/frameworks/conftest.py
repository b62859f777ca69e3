"""Fixtures for AWS framework-image tests: one home whose images outlive the test run.

Framework images are pip installs (scikit-learn, XGBoost, AWS's toolkits): tens of seconds
each the first time.  They are built once into a home under the user's cache folder and
reused by later runs on the same machine (CI included); everything else in that home (the
database, objects, job folders) is wiped when the module starts, so tests stay independent.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepline.storage import get_store

SCRIPTS = Path(__file__).parent / "scripts"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
PYTORCH = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-cpu-py312"
PYTORCH_SERVE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
HUGGINGFACE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04"
)


def _cache_home() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "stepline-test" / "frameworks-home"


@pytest.fixture(scope="module")
def fw_home() -> Iterator[Path]:
    from stepline.serving import server

    home = _cache_home()
    home.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        # A server a crashed earlier run left on this home: stopped before its state goes.
        mp.setenv("STEPLINE_HOME", str(home))
        server.stop_server()
    for entry in home.iterdir():
        if entry.name != "images":
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_HOME", str(home))
        mp.setenv("STEPLINE_STORE", "local")
        mp.setenv("STEPLINE_JOB_STOP_GRACE", "1")
        mp.setenv("STEPLINE_SERVING_STOP_GRACE", "2")
        mp.delenv("STEPLINE_SERVER_PORT", raising=False)
        get_store().create_bucket("bucket")
        yield home
        server.stop_server()


def tarball(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of ``{name: bytes}`` (a ``sourcedir.tar.gz`` as the SDK makes it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def training_request(name: str, image: str, hyperparameters: dict, channels: dict) -> dict:
    """CreateTrainingJob as the SageMaker SDK sends it for a framework estimator."""
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                **({"ContentType": ctype} if ctype else {}),
            }
            for channel, (uri, ctype) in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {
            "InstanceType": "ml.c4.2xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 1,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
