"""Fixtures for the SageMaker service layer: a private home (``support.fixtures``), a bucket
and a tiny image."""

from __future__ import annotations

from pathlib import Path

import pytest
from layer_support import ECR, TRAIN

from support.images import build_image


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


@pytest.fixture
def image(tmp_path: Path, store: object) -> str:
    """The image's URI; ``store`` makes the bucket ``bucket`` its jobs write to."""
    return build_image(
        tmp_path / "ctx",
        "layer:1",
        {"train.py": TRAIN},
        ["python", "/opt/program/train.py"],
        registry=ECR,
    )
