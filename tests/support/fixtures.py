"""Fixtures for every test folder (a pytest plugin, registered in ``tests/conftest.py``).

None is autouse: a folder whose every test needs a private home has an autouse fixture in
its conftest that asks for ``home``.  A folder with its own
variant overrides a fixture by name; ``make_image`` and ``store`` then use that variant,
because pytest resolves a fixture's arguments from the test that asks for it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.images import build_image

if TYPE_CHECKING:  # boto3 loads with it: only the tests that start a server pay for that
    from stepline.storage.seaweed import SeaweedServer


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ``$STEPLINE_HOME`` with the embedded object store, and a 1 s stop grace
    instead of SageMaker's 120 s so that stop and timeout tests stay fast."""
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    return path


@pytest.fixture
def store(home: Path):  # noqa: ANN201 - an ObjectStore
    """The configured object store, with the bucket ``bucket`` the request builders use."""
    from stepline.storage import get_store

    s = get_store()
    s.create_bucket("bucket")
    return s


@pytest.fixture
def make_image(tmp_path: Path, home: Path) -> Callable[..., str]:
    """``make_image(name, {"file.py": code}, entrypoint=[...])`` -> ECR-style image URI of
    the process-runtime image ``name:latest`` (see ``support.images.build_image``)."""

    def make(name: str, files: dict[str, str], entrypoint: list[str] | None = None) -> str:
        return build_image(tmp_path / "ctx" / name, f"{name}:latest", files, entrypoint)

    return make


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A real SeaweedFS S3 server for the session (stopped after it: nothing outlives it)."""
    from stepline.storage.seaweed import SeaweedServer

    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def listener() -> Iterator[int]:
    """The port of a host TCP server on 127.0.0.1 that accepts and closes every connection:
    what a job that must (or must not) reach the host network connects to."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                sock.accept()[0].close()
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()
