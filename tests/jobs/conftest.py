"""Fixtures for job tests: a private STEPLINE_HOME, a bucket, and small real images.

Images are process-runtime builds of ``FROM python:3.11`` Dockerfiles with the job code
COPY'd in (a build is a cached venv lookup, ~50 ms); container-runtime tests build ``FROM``
the offline Debian base (``container_base``).  The stop grace is 1 s instead of
SageMaker's 120 s so timeout tests stay fast.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from stepline import images
from stepline.storage import get_store

ROLE = "arn:aws:iam::123456789012:role/FakeSageMakerExecutionRole"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    return path


@pytest.fixture
def store():
    s = get_store()
    s.create_bucket("bucket")
    return s


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., str]:
    """``make_image(name, {"file.py": code}, entrypoint=[...])`` -> ECR-style image URI."""

    def make(name: str, files: dict[str, str], entrypoint: list[str] | None = None) -> str:
        ctx = tmp_path / "ctx" / name
        ctx.mkdir(parents=True)
        lines = ["FROM python:3.11"]
        for rel, code in files.items():
            (ctx / rel).write_text(textwrap.dedent(code))
            lines.append(f"COPY {rel} /opt/program/{rel}")
        if entrypoint is not None:
            lines.append("ENTRYPOINT [" + ", ".join(f'"{a}"' for a in entrypoint) + "]")
        (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
        images.build(ctx, f"{name}:latest", runtime="process")
        return f"{ECR}/{name}:latest"

    return make


def training_request(name: str, image: str, **overrides) -> dict:
    """A minimal valid CreateTrainingJob request."""
    req = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    req.update(overrides)
    return req


def processing_request(name: str, image: str, **overrides) -> dict:
    """A minimal valid CreateProcessingJob request."""
    req = {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": image},
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "local", "VolumeSizeInGB": 1}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    req.update(overrides)
    return req


@pytest.fixture(name="training_request")
def training_request_fixture() -> Callable[..., dict]:
    return training_request


@pytest.fixture(name="processing_request")
def processing_request_fixture() -> Callable[..., dict]:
    return processing_request
