"""Fixtures for tuning tests: a private home and a tiny training image with a known optimum."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuning_support import TRAIN

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
def train_image(tmp_path: Path, home: Path) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "train.py").write_text(TRAIN)
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY train.py /opt/program/\n"
        'ENTRYPOINT ["python", "/opt/program/train.py"]\n'
    )
    images.build(ctx, "quad:1")
    get_store().create_bucket("bucket")
    return "123456789012.dkr.ecr.us-east-1.amazonaws.com/quad:1"
