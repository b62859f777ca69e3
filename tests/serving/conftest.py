"""Fixtures for serving tests: a private home and the stdlib model server's image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_support import SERVE

from stepline import images
from stepline.serving import server


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_SERVING_STOP_GRACE", "5")
    monkeypatch.setenv("STEPLINE_STORE", "local")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    monkeypatch.delenv("STEPLINE_SANDBOX", raising=False)
    monkeypatch.delenv("STEPLINE_SERVER_PORT", raising=False)
    yield path
    server.stop_server()


@pytest.fixture(scope="session")
def serve_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ctx = tmp_path_factory.mktemp("serve-ctx")
    (ctx / "serve.py").write_text(SERVE)
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\n"
        "COPY serve.py /opt/program/\n"
        "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true\n"
        'ENTRYPOINT ["python", "/opt/program/serve.py"]\n'
    )
    return ctx


@pytest.fixture
def serve_image(serve_context: Path, home: Path) -> images.Image:
    return images.build(serve_context, "linear-serve:1")
