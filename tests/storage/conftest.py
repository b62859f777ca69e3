"""Fixtures: a store of each backend (the SeaweedFS S3 server is ``support.fixtures``'s).

``store`` is parametrised over the embedded store and the S3 backend talking to SeaweedFS,
so every test written against it runs against both.  Each test gets a fresh bucket.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from stepline.storage.local import LocalStore
from stepline.storage.s3 import S3Store
from stepline.storage.seaweed import SeaweedServer


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ``$STEPLINE_HOME`` with no S3 configuration leaking in from outside."""
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    for var in (
        "STEPLINE_STORE",
        "STEPLINE_S3_ENDPOINT_URL",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def local_store(home: Path) -> LocalStore:
    return LocalStore(home / "objects")


@pytest.fixture
def s3_store(seaweed: SeaweedServer) -> S3Store:
    return S3Store(seaweed.client())


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, home: Path):  # noqa: ANN201 - an ObjectStore
    if request.param == "local":
        return LocalStore(home / "objects")
    return S3Store(request.getfixturevalue("seaweed").client())


@pytest.fixture
def bucket(store) -> str:  # noqa: ANN001
    """A fresh bucket in ``store``."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    store.create_bucket(name)
    return name
