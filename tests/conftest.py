"""Fixtures and markers shared by every test folder.

System components as markers.  A test that needs a component beyond Python packages carries
its marker; when the component is missing the test is skipped with one line naming what to
install (``pytest -ra`` counts and lists those skips in the summary):

- ``@pytest.mark.podman``: the podman container engine with runc;
- ``@pytest.mark.debootstrap``: debootstrap, which makes the offline Debian base image;
- ``@pytest.mark.chromium``: the Chromium browser that Playwright drives;
- ``@pytest.mark.root``: the test must run as root (attacks that need root's privileges);
- ``@pytest.mark.gpu``: a CUDA GPU.

Under ``STEPLINE_REQUIRE_ALL=1`` (``.ci/run`` sets it) a missing component FAILS the test
instead, so CI cannot pass while silently skipping; ``gpu`` is exempt (CI has no GPU).
Tests that use the ``container_base`` or ``browser`` fixtures get their markers
automatically, so a new test cannot forget them.

``container_base``: the offline Debian base image (bookworm minbase with python3) that
container-runtime tests build FROM.  debootstrap makes its root file system once (about 35 s)
and ``podman import`` loads it into one cached engine store; both live under
``/var/cache/stepline-test/`` so later runs, and CI on the same machine, reuse them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# support.fixtures: home, store, make_image, seaweed, listener for every folder (tests/ is on
# sys.path because this conftest is the rootdir one).
pytest_plugins = ["pytester", "support.fixtures"]

REQUIRE_ALL_ENV = "STEPLINE_REQUIRE_ALL"


def _has_gpu() -> bool:
    """An NVIDIA driver is loaded (checked without importing torch, which is slow to load)."""
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


@dataclass(frozen=True)
class Component:
    """A system component some tests need: how to detect it, and what to install."""

    present: Callable[[], bool]
    install: str
    what: str
    exempt: bool = False  # never required, even under STEPLINE_REQUIRE_ALL (CI has no GPU)


COMPONENTS: dict[str, Component] = {
    "podman": Component(
        lambda: bool(shutil.which("podman") and shutil.which("runc")),
        "apt-get install podman runc",
        "the podman container engine (with runc)",
    ),
    "debootstrap": Component(
        lambda: bool(shutil.which("debootstrap")),
        "apt-get install debootstrap",
        "debootstrap, to build the offline Debian base image",
    ),
    "chromium": Component(
        lambda: bool(shutil.which("chromium")),
        "apt-get install chromium",
        "the Chromium browser (driven by Playwright)",
    ),
    "root": Component(
        lambda: os.geteuid() == 0,
        "run the tests as root (CI does)",
        "root privileges (attacks that need root)",
    ),
    "gpu": Component(_has_gpu, "a machine with a CUDA GPU", "a CUDA GPU", exempt=True),
}

# Fixtures that imply components: a test using one gets the markers without writing them.
FIXTURE_COMPONENTS: dict[str, tuple[str, ...]] = {
    "container_base": ("podman", "debootstrap"),
    "browser": ("chromium",),
}


def missing_reason(name: str) -> str | None:
    """One line naming what to install when component ``name`` is absent, else None."""
    component = COMPONENTS[name]
    return None if component.present() else f"needs {name}: {component.install}"


def require(name: str) -> None:
    """Skip the running test when ``name`` is missing, or fail under STEPLINE_REQUIRE_ALL=1."""
    reason = missing_reason(name)
    if reason is None:
        return
    if os.environ.get(REQUIRE_ALL_ENV) == "1" and not COMPONENTS[name].exempt:
        pytest.fail(
            f"{reason} ({REQUIRE_ALL_ENV}=1: every component must be present)", pytrace=False
        )
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    for name, component in COMPONENTS.items():
        config.addinivalue_line(
            "markers", f"{name}: needs {component.what}; skipped without it ({component.install})"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, components in FIXTURE_COMPONENTS.items():
            if fixture in names:
                for name in components:
                    if item.get_closest_marker(name) is None:
                        item.add_marker(name)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in COMPONENTS:
        if item.get_closest_marker(name) is not None:
            require(name)


def _require_all() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV) == "1"


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """Under STEPLINE_REQUIRE_ALL=1 any other skip (``pytest.skip``, ``importorskip`` in a
    test) fails too: CI runs every test.  Expected failures and ``gpu`` tests stay as they are."""
    outcome = yield
    report = outcome.get_result()
    if (
        _require_all()
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("gpu") is None
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped, but {REQUIRE_ALL_ENV}=1 runs every test: {_reason(report)}"


_collection_skips: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module skipped while collecting (``importorskip`` at module level) is remembered, so
    that under STEPLINE_REQUIRE_ALL=1 the run fails without stopping the other tests."""
    if _require_all() and report.skipped:
        _collection_skips.append(f"{report.nodeid}: {_reason(report)}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _collection_skips:
        terminalreporter.write_line(f"FAILED (skipped, but {REQUIRE_ALL_ENV}=1) {line}", red=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _collection_skips and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


CONTAINER_CACHE = Path("/var/cache/stepline-test")
CONTAINER_ROOTFS = CONTAINER_CACHE / "bookworm-minbase-python3"
CONTAINER_STORE = CONTAINER_CACHE / "containers"
CONTAINER_BASE = "stepline-test-base:bookworm"


@pytest.fixture
def container_base(monkeypatch: pytest.MonkeyPatch) -> str:
    """The base image's name, in the shared store (``STEPLINE_CONTAINERS_ROOT`` points there,
    set before any server daemon starts so its model servers use the same store)."""
    from stepline.images import container_engine

    monkeypatch.setenv("STEPLINE_CONTAINERS_ROOT", str(CONTAINER_STORE))
    monkeypatch.delenv("STEPLINE_CONTAINERS_DRIVER", raising=False)
    require("podman")
    require("debootstrap")
    if container_engine.image_exists(CONTAINER_BASE):
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
        container_engine.command("import", "-", CONTAINER_BASE),
        stdin=tar.stdout,
        env=container_engine.env(),
        check=True,
        capture_output=True,
    )
    assert tar.wait() == 0
    return CONTAINER_BASE
