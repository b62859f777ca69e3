"""Fixtures for the SageMaker service layer: a private home (``support.fixtures``), a bucket
and a tiny image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from layer_support import TRAIN


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


@pytest.fixture
def image(make_image: Callable[..., str], store: object) -> str:
    """The image's URI; ``store`` makes the bucket ``bucket`` its jobs write to."""
    return make_image("layer", {"train.py": TRAIN}, ["python", "/opt/program/train.py"])
