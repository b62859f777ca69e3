"""Fixtures for tuning tests: a private home (``support.fixtures``) and a tiny training
image with a known optimum."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuning_support import TRAIN

from support.images import build_image


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


@pytest.fixture
def train_image(tmp_path: Path, store: object) -> str:
    """The image's URI; ``store`` makes the bucket ``bucket`` its jobs write to."""
    return build_image(
        tmp_path / "ctx", "quad:1", {"train.py": TRAIN}, ["python", "/opt/program/train.py"]
    )
