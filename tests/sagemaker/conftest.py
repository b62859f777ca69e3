"""Fixtures for the SageMaker service layer: a private home, a bucket and a tiny image."""

from __future__ import annotations

from pathlib import Path

import pytest
from layer_support import ECR, TRAIN

from stepline import images
from stepline.storage import get_store


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    return path


@pytest.fixture
def image(tmp_path: Path, home: Path) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "train.py").write_text(TRAIN)
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY train.py /opt/program/\n"
        'ENTRYPOINT ["python", "/opt/program/train.py"]\n'
    )
    images.build(ctx, "layer:1")
    get_store().create_bucket("bucket")
    return f"{ECR}/layer:1"
