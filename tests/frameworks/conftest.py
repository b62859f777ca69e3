"""Fixtures for AWS framework-image tests: one home whose images outlive the test run.

Framework images are pip installs (scikit-learn, XGBoost, AWS's toolkits): tens of seconds
each the first time.  They are built once into a home under the user's cache folder and
reused by later runs on the same machine (CI included); everything else in that home (the
database, objects, job folders) is wiped when the session starts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepline.storage import get_store


def _cache_home() -> Path:
    """One cached home per Python environment: a framework image reuses the packages of the
    environment that built it, so a venv and the system Python (a bare-machine check beside
    CI's run) must not share images, nor wipe each other's."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    env = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    return base / "stepline-test" / f"frameworks-home-{env}"


@pytest.fixture(scope="session")
def fw_home_wiped() -> Path:
    """The cached home, emptied of everything but ``images/`` -- once per session.

    Once, not per module: a process keeps SQLite connections to ``stepline.db`` by path, and
    a database deleted under them would split what this process sees from what the job
    supervisors write.  Job and endpoint names are unique across the modules instead."""
    from stepline.serving import server

    home = _cache_home()
    home.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        # A server a crashed earlier run left on this home: stopped before its state goes.
        mp.setenv("STEPLINE_HOME", str(home))
        server.stop_server()
    for entry in home.iterdir():
        if entry.name != "images":
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
    return home


@pytest.fixture(scope="module")
def fw_home(fw_home_wiped: Path) -> Iterator[Path]:
    from stepline.serving import server
    from stepline.storage import StorageError

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_HOME", str(fw_home_wiped))
        mp.setenv("STEPLINE_STORE", "local")
        mp.setenv("STEPLINE_JOB_STOP_GRACE", "1")
        mp.setenv("STEPLINE_SERVING_STOP_GRACE", "2")
        mp.setenv("STEPLINE_CACHE", "off")  # every test runs its jobs
        mp.delenv("STEPLINE_SERVER_PORT", raising=False)
        try:
            get_store().create_bucket("bucket")
        except StorageError:
            pass  # an earlier module of this session made it
        yield fw_home_wiped
        server.stop_server()
