"""A real Ray cluster (a head without CPUs, two one-CPU workers) and a real SeaweedFS server.

Both start once per module that uses them and stop after it (no process outlives the
tests).  Each worker node has its own ``STEPLINE_HOME`` (its "disk") and a resource label
(``worker1``, ``worker2``).  The engine side of every test runs with ``STEPLINE_RUNTIME=ray``,
``RAY_ADDRESS`` naming the cluster and the S3 store pointed at SeaweedFS: only settings change.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stepline import images
from stepline.storage import get_store
from stepline.storage.seaweed import SeaweedServer

pytest.importorskip("ray", reason="the ray extra: pip install 'stepline[ray]'")

from stepline.jobs.runtimes.ray_local import LocalRayCluster  # noqa: E402

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, seaweed: SeaweedServer
) -> Iterator[LocalRayCluster]:
    c = LocalRayCluster(tmp_path_factory.mktemp("raycluster"), workers=2, cpus_per_worker=1)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(autouse=True)
def home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cluster: LocalRayCluster,
    seaweed: SeaweedServer,
) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.setenv("STEPLINE_RUNTIME", "ray")
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    monkeypatch.setenv("STEPLINE_STORE", "s3")
    monkeypatch.setenv("STEPLINE_S3_ENDPOINT_URL", seaweed.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("STEPLINE_JOB_STOP_GRACE", "1")
    return path


@pytest.fixture
def store():  # noqa: ANN201 - the S3 store
    import uuid

    s = get_store()
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s.create_bucket(bucket)
    s.bucket = bucket  # type: ignore[attr-defined]
    return s


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., str]:
    """``make_image(name, {"file.py": code}, entrypoint=[...])`` -> ECR-style image URI."""

    def make(name: str, files: dict[str, str], entrypoint: list[str] | None = None) -> str:
        ctx = tmp_path / "ctx" / name
        ctx.mkdir(parents=True)
        lines = ["FROM python:3.11"]
        for rel, code in files.items():
            (ctx / rel).write_text(textwrap.dedent(code))
            lines.append(f"COPY {rel} /opt/program/{rel}")
        if entrypoint is not None:
            lines.append("ENTRYPOINT [" + ", ".join(f'"{a}"' for a in entrypoint) + "]")
        (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
        images.build(ctx, f"{name}:latest", runtime="process")
        return f"{ECR}/{name}:latest"

    return make
