"""The component markers (``tests/conftest.py``): a missing system component skips its tests
with one line naming what to install, and ``STEPLINE_REQUIRE_ALL=1`` (CI) turns that skip
into a failure, except for ``gpu``.  Runs the real conftest in a throwaway pytest with an
empty ``PATH``, so podman, runc, debootstrap and Chromium are all absent."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py").read_text()
# With an empty PATH, a GPU is still seen through its device node (on a GPU machine).
GPU = Path("/dev/nvidiactl").exists()
GPU_SKIP = ("skipped", "Skipped: needs gpu: a machine with a CUDA GPU")
GPU_OUTCOME = ("passed", "") if GPU else GPU_SKIP

TESTS = """
import pytest

@pytest.mark.podman
def test_needs_podman():
    pass

@pytest.mark.chromium
def test_needs_chromium():
    pass

def test_uses_container_base(container_base):
    pass

@pytest.mark.gpu
def test_needs_gpu():
    pass

def test_needs_nothing():
    pass
"""


@pytest.fixture
def bare(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest project with the real root conftest, on a PATH that holds no program."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bare=TESTS)
    empty = pytester.mkdir("empty-bin")
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("STEPLINE_REQUIRE_ALL", raising=False)
    return pytester


def _outcomes(project: pytest.Pytester) -> dict[str, tuple[str, str]]:
    """Each test's outcome and its one-line reason, from a run in this process."""
    reports = project.inline_run("-p", "no:cacheprovider").getreports("pytest_runtest_logreport")
    found: dict[str, tuple[str, str]] = {}
    for rep in reports:
        name = rep.nodeid.split("::")[-1]
        if rep.when == "call" or rep.outcome != "passed":
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            found.setdefault(name, (rep.outcome, reason if rep.longrepr else ""))
    return found


def test_missing_components_skip_with_what_to_install(bare: pytest.Pytester) -> None:
    assert _outcomes(bare) == {
        "test_needs_podman": ("skipped", "Skipped: needs podman: apt-get install podman runc"),
        "test_needs_chromium": ("skipped", "Skipped: needs chromium: apt-get install chromium"),
        # container_base implies podman (and debootstrap) without the test writing a marker.
        "test_uses_container_base": (
            "skipped",
            "Skipped: needs podman: apt-get install podman runc",
        ),
        "test_needs_gpu": GPU_OUTCOME,
        "test_needs_nothing": ("passed", ""),
    }
    # The summary counts the skips and lists each reason on one line.
    result = bare.runpytest("-ra", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *needs podman: apt-get install podman runc"])
    result.stdout.fnmatch_lines(["*2 passed, 3 skipped*" if GPU else "*1 passed, 4 skipped*"])


def test_require_all_fails_missing_components_but_not_gpu(
    bare: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPLINE_REQUIRE_ALL", "1")
    outcomes = _outcomes(bare)
    assert {name: outcome for name, (outcome, _) in outcomes.items()} == {
        "test_needs_podman": "failed",
        "test_needs_chromium": "failed",
        "test_uses_container_base": "failed",
        "test_needs_gpu": GPU_OUTCOME[0],  # CI has no GPU: exempt, never failed
        "test_needs_nothing": "passed",
    }
    assert outcomes["test_needs_podman"][1] == (
        "needs podman: apt-get install podman runc "
        "(STEPLINE_REQUIRE_ALL=1: every component must be present)"
    )


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest("--markers")
    for name in ("podman", "debootstrap", "chromium", "root", "gpu"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}: needs *"])


OTHER_SKIPS = """
import pytest

def test_skips_itself():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known bug")
def test_expected_failure():
    assert False
"""

OPTIONAL = """
import pytest

pytest.importorskip("no_such_module_for_stepline")

def test_never_collected():
    pass
"""


def test_require_all_fails_any_other_skip_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI runs every test: a plain ``pytest.skip`` or a module-level ``importorskip`` fails
    the run as well (expected failures stay expected)."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_other=OTHER_SKIPS, test_optional=OPTIONAL)
    monkeypatch.delenv("STEPLINE_REQUIRE_ALL", raising=False)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2, xfailed=1)
    assert result.ret == pytest.ExitCode.OK

    monkeypatch.setenv("STEPLINE_REQUIRE_ALL", "1")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skipped, but STEPLINE_REQUIRE_ALL=1 runs every test: Skipped: not today*",
            "FAILED (skipped, but STEPLINE_REQUIRE_ALL=1) test_optional.py: *no_such_module*",
        ]
    )
