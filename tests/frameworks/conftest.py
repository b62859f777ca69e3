"""Fixtures for AWS framework-image tests: one home whose images outlive the test run.

Framework images are pip installs (scikit-learn, XGBoost, AWS's toolkits): tens of seconds
each the first time.  They are built once into a home under the user's cache folder and
reused by later runs on the same machine (CI included); everything else in that home (the
database, objects, job folders) is wiped when the session starts.  Two pytest sessions on one
machine (a lead's run beside a helper's) would wipe each other's state and clash on job names,
so a session holds an exclusive lock on the home from its wipe to its end; a second one waits.
"""

from __future__ import annotations

import fcntl
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


def _hold_home(home: Path, config: pytest.Config) -> int:
    """An exclusive ``flock`` on ``<home>.lock`` beside the home (not in it: the wipe keeps
    it), waiting for another session that holds it.  The lock goes with the process, so a
    killed session frees it.  Returns the open descriptor; closing it releases the lock."""
    fd = os.open(home.with_name(home.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        capture = config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(
                f"\ntests/frameworks: waiting for another pytest session (pid {holder}) "
                f"that uses {home}",
                file=sys.stderr,
                flush=True,
            )
        fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@pytest.fixture(scope="session")
def fw_home_wiped(pytestconfig: pytest.Config) -> Iterator[Path]:
    """The cached home, emptied of everything but ``images/`` -- once per session, under a
    lock this session holds until it ends (another session's wipe would delete this one's
    database and jobs, and their job names would clash).

    Once, not per module: a process keeps SQLite connections to ``stepline.db`` by path, and
    a database deleted under them would split what this process sees from what the job
    supervisors write.  Job and endpoint names are unique across the modules instead."""
    from stepline.serving import server

    home = _cache_home()
    home.mkdir(parents=True, exist_ok=True)
    lock_fd = _hold_home(home, pytestconfig)
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
    try:
        yield home
    finally:
        os.close(lock_fd)


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
