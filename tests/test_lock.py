"""``requirements/lock.txt`` (made by ``scripts/lock.sh``) matches ``pyproject.toml``.

The README's commands and ``.ci/run`` install with ``-c requirements/lock.txt``, so a
dependency added to ``pyproject.toml`` without rerunning ``scripts/lock.sh`` would go
unpinned, and a range tightened past its pin would make the install fail.  torch must stay
out of the lock (it is the pinned first install; a locked one pulls CUDA builds).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
RERUN = "rerun scripts/lock.sh and commit requirements/lock.txt"
# What the lock is resolved for (scripts/lock.sh): CPython 3.11 on x86-64 Linux.
LOCK_ENV = {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.11"}


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"{LOCK.name}: not a pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        reqs += [Requirement(r) for r in extra]
    return [r for r in reqs if canonicalize_name(r.name) != "stepline"]


def _applies(req: Requirement) -> bool:
    return req.marker is None or Marker(str(req.marker)).evaluate({**LOCK_ENV, "extra": ""})


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    problems = []
    for req in filter(_applies, _requirements()):
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{req.name}=={pinned} is outside pyproject's {req}")
    assert problems == [], f"{'; '.join(problems)}: {RERUN}"


def test_torch_and_cuda_stay_out_of_the_lock() -> None:
    leaked = [n for n in _pins() if n == "torch" or n.startswith(("nvidia-", "triton"))]
    assert leaked == [], f"{leaked} in the lock: install torch==2.13.0 first instead"
