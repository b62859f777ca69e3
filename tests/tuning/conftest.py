"""Fixtures for tuning tests: a private home (``support.fixtures``) and a tiny training
image with a known optimum."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tuning_support import TRAIN


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


@pytest.fixture
def train_image(make_image: Callable[..., str], store: object) -> str:
    """The image's URI; ``store`` makes the bucket ``bucket`` its jobs write to."""
    return make_image("quad", {"train.py": TRAIN}, ["python", "/opt/program/train.py"])
