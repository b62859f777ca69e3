"""A real Ray cluster (a head without CPUs, two one-CPU workers) and a real SeaweedFS server.

Both start once per session (the SeaweedFS server is ``support.fixtures``'s) and stop after
it (no process outlives the tests).  Each worker node has its own ``STEPLINE_HOME`` (its
"disk") and a resource label (``worker1``, ``worker2``).  The engine side of every test runs
with ``STEPLINE_RUNTIME=ray``, ``RAY_ADDRESS`` naming the cluster and the S3 store pointed at
SeaweedFS: only settings change.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepline.storage import get_store
from stepline.storage.seaweed import SeaweedServer

pytest.importorskip("ray", reason="the ray extra: pip install 'stepline[ray]'")

from ray_support import drivers  # noqa: E402

from stepline.jobs.runtimes.ray_local import LocalRayCluster  # noqa: E402


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
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    cluster: LocalRayCluster,
    seaweed: SeaweedServer,
) -> Iterator[Path]:
    """``support.fixtures``'s private home, pointed at the cluster and the S3 server.  The
    home's Ray driver leaves two seconds after its last job, and is gone after the test."""
    monkeypatch.setenv("STEPLINE_RUNTIME", "ray")
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    monkeypatch.setenv("STEPLINE_STORE", "s3")
    monkeypatch.setenv("STEPLINE_S3_ENDPOINT_URL", seaweed.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("STEPLINE_RAY_DRIVER_IDLE", "2")
    yield home
    deadline = time.monotonic() + 10
    while drivers(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in drivers(home):  # a job of a failed test may still hold it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def store():  # noqa: ANN201 - the S3 store
    """The S3 store with a fresh bucket of the test's own (``store.bucket``): the server is
    shared by the session."""
    import uuid

    s = get_store()
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s.create_bucket(bucket)
    s.bucket = bucket  # type: ignore[attr-defined]
    return s
