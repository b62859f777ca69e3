"""Fixtures: an isolated ``$STEPLINE_HOME`` (engine DB and embedded object store)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPLINE_HOME", str(tmp_path / "home"))
    for name in (
        "STEPLINE_STORE",
        "STEPLINE_S3_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "STEPLINE_DEFAULT_BUCKET",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"
