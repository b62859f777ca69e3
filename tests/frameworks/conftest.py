"""Fixtures for AWS framework-image tests: one home whose images outlive the test run.

Framework images are pip installs (scikit-learn, XGBoost, AWS's toolkits): tens of seconds
each the first time.  They are built once into a home under the user's cache folder and
reused by later runs on the same machine (CI included); everything else in that home (the
database, objects, job folders) is wiped when the module starts, so tests stay independent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepline.storage import get_store


def _cache_home() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "stepline-test" / "frameworks-home"


@pytest.fixture(scope="module")
def fw_home() -> Iterator[Path]:
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
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_HOME", str(home))
        mp.setenv("STEPLINE_STORE", "local")
        mp.setenv("STEPLINE_JOB_STOP_GRACE", "1")
        mp.setenv("STEPLINE_SERVING_STOP_GRACE", "2")
        mp.delenv("STEPLINE_SERVER_PORT", raising=False)
        get_store().create_bucket("bucket")
        yield home
        server.stop_server()
