"""Fixtures shared by every test folder.

``container_base``: the offline Debian base image (bookworm minbase with python3) that
container-runtime tests build FROM.  debootstrap makes its root file system once (about 35 s)
and ``podman import`` loads it into one cached engine store; both live under
``/var/cache/stepline-test/`` so later runs, and CI on the same machine, reuse them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CONTAINER_CACHE = Path("/var/cache/stepline-test")
CONTAINER_ROOTFS = CONTAINER_CACHE / "bookworm-minbase-python3"
CONTAINER_STORE = CONTAINER_CACHE / "containers"
CONTAINER_BASE = "stepline-test-base:bookworm"


@pytest.fixture
def container_base(monkeypatch: pytest.MonkeyPatch) -> str:
    """The base image's name, in the shared store (``STEPLINE_CONTAINERS_ROOT`` points there,
    set before any server daemon starts so its model servers use the same store)."""
    from stepline.images import engine

    monkeypatch.setenv("STEPLINE_CONTAINERS_ROOT", str(CONTAINER_STORE))
    monkeypatch.delenv("STEPLINE_CONTAINERS_DRIVER", raising=False)
    assert engine.engine_name() == "podman", "podman must be installed for these tests"
    if engine.image_exists(CONTAINER_BASE):
        return CONTAINER_BASE
    if not (CONTAINER_ROOTFS / "usr/bin/python3").exists():
        partial = CONTAINER_CACHE / "bookworm-minbase-python3.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(partial)],
            check=True,
            capture_output=True,
        )
        os.replace(partial, CONTAINER_ROOTFS)
    tar = subprocess.Popen(["tar", "-C", str(CONTAINER_ROOTFS), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(
        engine.command("import", "-", CONTAINER_BASE),
        stdin=tar.stdout,
        env=engine.env(),
        check=True,
        capture_output=True,
    )
    assert tar.wait() == 0
    return CONTAINER_BASE
