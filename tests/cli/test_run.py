"""``stepline run PIPELINE.py`` in real subprocesses: output, progress view, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PIPELINE = """
from stepline.steps import Chain, LambdaStep, Pass, Wait
from stepline.workflow import Workflow

def double(event):
    return {"v": event["v"] * 2}

start = Pass("Start", parameters={"v.$": "$.v"})
step = LambdaStep(
    "Double",
    function=double,
    parameters={"FunctionName": "double", "Payload.$": "$"},
    result_selector={"v.$": "$.Payload.v"},
)
pause = Wait("Pause", seconds=SECONDS)
workflow = Workflow("demo-run", Chain([start, step, pause]))
INPUT = {"v": 2}
"""


def write_pipeline(tmp_path: Path, seconds: int = 0) -> Path:
    path = tmp_path / "pipe.py"
    path.write_text(textwrap.dedent(PIPELINE).replace("SECONDS", str(seconds)))
    return path


def env(tmp_path: Path) -> dict:
    return {**os.environ, "STEPLINE_HOME": str(tmp_path / "home"), "COLUMNS": "120"}


def stepline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stepline", *args],
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_json_uses_default_and_given_input(tmp_path: Path) -> None:
    path = write_pipeline(tmp_path)
    out = json.loads(stepline(tmp_path, "run", str(path), "--json").stdout)
    assert out["status"] == "SUCCEEDED" and out["output"] == {"v": 4}
    out = json.loads(stepline(tmp_path, "run", str(path), "--json", "--input", '{"v": 5}').stdout)
    assert out["output"] == {"v": 10}
    listing = json.loads(stepline(tmp_path, "workflows", "list", "--json").stdout)
    assert [w["name"] for w in listing] == ["demo-run"]


def test_run_shows_one_line_per_state(tmp_path: Path) -> None:
    proc = stepline(tmp_path, "run", str(write_pipeline(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"v": 4}
    lines = proc.stderr.splitlines()
    for state in ("Start", "Double", "Pause"):
        row = next(line for line in lines if f" {state} " in line)
        assert "succeeded" in row
    assert "SUCCEEDED" in proc.stderr


def test_file_without_workflow_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    proc = stepline(tmp_path, "run", str(path))
    assert proc.returncode == 1
    assert "defines no workflow" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("answer,status", [("y\n", "ABORTED")])
def test_ctrl_c_asks_whether_to_stop(tmp_path: Path, answer: str, status: str) -> None:
    path = write_pipeline(tmp_path, seconds=60)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepline", "run", str(path)],
        env=env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = tmp_path / "home" / "stepline.db"
    deadline = time.time() + 60
    import sqlite3

    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    rows = conn.execute(
                        "SELECT count(*) FROM events WHERE type='WaitStateEntered'"
                    ).fetchone()
                if rows[0]:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(answer, timeout=60)
    assert "Stop the execution?" in err
    assert proc.returncode == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM executions").fetchone()[0] == status


FAILING_CREATE = """
from stepline.steps import Pass
from stepline.workflow import Workflow

class Refused(Workflow):
    def create(self):
        raise RuntimeError("the engine refused the definition")

workflow = Refused("refused", Pass("Start"))
"""


def test_a_failed_start_gives_ctrl_c_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live view's Ctrl-C flag is installed before the execution starts; when starting
    fails, the handler that was there before is back (else Ctrl-C would set a flag that
    nothing reads, for the rest of the process: a notebook's kernel, say)."""
    from typer.testing import CliRunner

    from stepline.cli import app

    monkeypatch.setenv("STEPLINE_HOME", str(tmp_path / "home"))
    path = tmp_path / "refused.py"
    path.write_text(textwrap.dedent(FAILING_CREATE))
    before = signal.getsignal(signal.SIGINT)
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code != 0
    assert "refused the definition" in repr(result.exception) + result.output
    assert signal.getsignal(signal.SIGINT) is before
