"""Shared pieces of the sandbox attack tests: a private home, a bucket, job images, requests.

Kept beside the tests (not in a conftest) so the other security tests in this folder are not
given fixtures they do not use.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from stepline import images
from stepline.storage import get_store

ROLE = "arn:aws:iam::123456789012:role/FakeSageMakerExecutionRole"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    for name in ("STEPLINE_SANDBOX", "STEPLINE_BWRAP"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def store(home: Path):
    s = get_store()
    s.create_bucket("bucket")
    return s


@pytest.fixture
def make_image(tmp_path: Path, home: Path) -> Callable[..., str]:
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


def s3_input(name: str, uri: str, local: str) -> dict:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }


def s3_output(name: str, uri: str, local: str) -> dict:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"},
    }


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry))
    return found


def kill_all(pids: list[int]) -> None:
    import signal

    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
