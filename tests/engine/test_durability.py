"""Kill -9 a real process running an execution at many points, resume, and compare.

The reference is an uninterrupted run of the same definition.  After any crash and a
resume (a new process), the execution must end with the same output, its history must hold
the same events (no event lost, none duplicated, ids contiguous), and no task whose success
was recorded may have run again.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("durable_driver.py")


def _driver(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "STEPLINE_HOME": str(home)}
    return subprocess.Popen([sys.executable, str(DRIVER), *args], env=env)


def _events(home: Path, name: str) -> list[dict]:
    db = sqlite3.connect(home / "stepline.db")
    try:
        rows = db.execute(
            "SELECT body FROM events WHERE execution_arn LIKE ? ORDER BY id", (f"%:{name}",)
        ).fetchall()
    finally:
        db.close()
    return [json.loads(r[0]) for r in rows]


def _count(home: Path) -> int:
    path = home / "stepline.db"
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(path, timeout=1)
        try:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def _status(home: Path, name: str) -> tuple[str, str | None]:
    db = sqlite3.connect(home / "stepline.db")
    try:
        return db.execute("SELECT status, output FROM executions WHERE name=?", (name,)).fetchone()
    finally:
        db.close()


def _succeeded_task_inputs(events: list[dict]) -> collections.Counter:
    """How many times each state's task success was recorded, per state-entered input."""
    counter: collections.Counter = collections.Counter()
    for event in events:
        if event["type"] == "LambdaFunctionSucceeded":
            counter[event["previousEventId"]] += 1
    return counter


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("reference")
    assert _driver(home, "start", "run").wait(60) == 0
    status, output = _status(home, "run")
    assert status == "SUCCEEDED"
    events = _events(home, "run")
    calls = (home / "calls.log").read_text().splitlines()
    return {"output": json.loads(output), "events": events, "calls": len(calls)}


def _crash_and_resume(home: Path, kill_points: list[int]) -> None:
    proc = _driver(home, "start", "run")
    for i, point in enumerate(kill_points):
        deadline = time.monotonic() + 30
        while _count(home) < point and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert proc.poll() is None, f"the run ended before event {point}: no crash tested"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        if i + 1 < len(kill_points):
            proc = _driver(home, "resume")
    resume = _driver(home, "resume")
    assert resume.wait(60) == 0


@pytest.mark.parametrize(
    "kill_points",
    [[p] for p in (1, 3, 6, 10, 17, 25, 34, 48, 60, 75, 90, 110, 130, 150, 170)] + [[20, 80]],
)
def test_kill_and_resume(tmp_path: Path, reference: dict, kill_points: list[int]) -> None:
    _crash_and_resume(tmp_path, kill_points)
    status, output = _status(tmp_path, "run")
    assert status == "SUCCEEDED"
    assert json.loads(output) == reference["output"]

    events = _events(tmp_path, "run")
    assert [e["id"] for e in events] == list(range(1, len(events) + 1)), "ids not contiguous"
    types = collections.Counter(e["type"] for e in events)
    assert types == collections.Counter(e["type"] for e in reference["events"])
    # No task success recorded twice.
    assert all(n == 1 for n in _succeeded_task_inputs(events).values())
    # Tasks re-run only when a crash cut them off: at most as many extra calls per kill as
    # tasks can be in flight at once (2: the Map's MaxConcurrency).
    calls = len((tmp_path / "calls.log").read_text().splitlines())
    assert reference["calls"] <= calls <= reference["calls"] + 2 * len(kill_points)
