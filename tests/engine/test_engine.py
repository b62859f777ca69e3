"""The durable engine: state machines, executions, stop, redrive, and their CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stepline.engine import Engine, EngineError
from stepline.integrations import register_function

FN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path)


def pass_machine(result: object = 1) -> dict:
    return {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": result, "End": True}}}


def test_state_machine_revisions(engine: Engine) -> None:
    first = engine.create_state_machine("sm", pass_machine(1))
    same = engine.create_state_machine("sm", pass_machine(1))
    second = engine.create_state_machine("sm", pass_machine(2))
    assert first["revisionId"] == same["revisionId"] == "1"
    assert second["revisionId"] == "2"
    versions = engine.state_machine_versions("sm")
    assert [v["definition"]["States"]["A"]["Result"] for v in versions] == [1, 2]
    assert [m["name"] for m in engine.list_state_machines()] == ["sm"]


def test_execution_describe_and_history(engine: Engine) -> None:
    engine.create_state_machine("sm", pass_machine({"ok": True}))
    desc = engine.start_execution("sm", {"x": 1}, name="first")
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"ok": True}
    assert desc["executionArn"].endswith(":execution:sm:first")
    history = engine.get_execution_history("first")
    assert [e["type"] for e in history][0] == "ExecutionStarted"
    assert history[-1]["type"] == "ExecutionSucceeded"
    with pytest.raises(EngineError, match="ExecutionAlreadyExists"):
        engine.start_execution("sm", {}, name="first")
    with pytest.raises(EngineError, match="StateMachineDoesNotExist"):
        engine.start_execution("nope", {})


def test_bad_names_are_refused(engine: Engine) -> None:
    with pytest.raises(EngineError, match="InvalidName"):
        engine.create_state_machine("../etc", pass_machine())


def test_stop_a_running_execution(engine: Engine) -> None:
    release = threading.Event()
    register_function("block", lambda e, ctx: ctx.cancelled.wait(10) or release.wait(10) or {})
    engine.create_state_machine(
        "slow",
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN + "block", "End": True}}},
    )
    engine.start_execution("slow", {}, name="s1", wait=False)
    deadline = time.time() + 5
    while engine.describe_execution("s1")["status"] == "RUNNING" and time.time() < deadline:
        if any(e["type"] == "LambdaFunctionStarted" for e in engine.get_execution_history("s1")):
            break
        time.sleep(0.01)
    engine.stop_execution("s1", error="Manual", cause="stopped by test")
    desc = engine.wait("s1", timeout=10)
    release.set()
    assert desc["status"] == "ABORTED"
    assert desc["error"] == "Manual"
    assert engine.get_execution_history("s1")[-1]["type"] == "ExecutionAborted"


def test_redrive_reruns_only_unsuccessful_iterations(engine: Engine, tmp_path: Path) -> None:
    calls: list[int] = []
    broken = {"item": 2}

    def work(item: int) -> int:
        calls.append(item)
        if item == broken["item"]:
            raise RuntimeError(f"item {item} broke")
        return item * 10

    register_function("redrive-work", work)
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "W",
                    "States": {"W": {"Type": "Task", "Resource": FN + "redrive-work", "End": True}},
                },
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }
    engine.create_state_machine("rd", definition)
    desc = engine.start_execution("rd", [1, 2, 3, 4], name="r1")
    assert desc["status"] == "FAILED" and desc["error"] == "RuntimeError"
    assert desc["redriveStatus"] == "REDRIVABLE"
    assert calls == [1, 2]
    broken["item"] = None
    engine.redrive_execution("r1")
    desc = engine.describe_execution("r1")
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"]) == [10, 20, 30, 40]
    assert calls == [1, 2, 2, 3, 4], "item 1 succeeded before and must not run again"
    assert desc["redriveCount"] == 1
    types = [e["type"] for e in engine.get_execution_history("r1")]
    assert types.count("ExecutionRedriven") == 1
    assert types.count("MapIterationSucceeded") == 4
    with pytest.raises(EngineError, match="ExecutionNotRedrivable"):
        engine.redrive_execution("r1")


def test_resume_with_nothing_interrupted(engine: Engine) -> None:
    engine.create_state_machine("sm", pass_machine())
    engine.start_execution("sm", {}, name="done")
    assert engine.resume() == []


# -- CLI (real subprocesses) -----------------------------------------------------------------


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STEPLINE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "stepline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_validate_reports_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"StartAt": "Train", "States": {"Train": {"Type": "Pass", "Next": "Trian"}}})
    )
    proc = cli(tmp_path, "states", "validate", str(bad))
    assert proc.returncode == 1
    assert '/States/Train/Next: no state named "Trian"' in proc.stdout.splitlines()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(pass_machine()))
    assert cli(tmp_path, "states", "validate", str(good)).returncode == 0


def test_cli_run_describe_history(tmp_path: Path) -> None:
    path = tmp_path / "defn.json"
    path.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Pass", "Parameters": {"got.$": "$.x"}, "End": True}},
            }
        )
    )
    proc = cli(tmp_path, "states", "run", str(path), "--input", '{"x": 3}', "--name", "e1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "SUCCEEDED" and result["output"] == {"got": 3}
    assert result["error"] is None

    desc = json.loads(cli(tmp_path, "executions", "describe", "e1", "--json").stdout)
    assert desc["status"] == "SUCCEEDED" and desc["name"] == "e1"
    history = json.loads(cli(tmp_path, "executions", "history", "e1", "--json").stdout)
    assert history[0]["type"] == "ExecutionStarted"
    assert "executionStartedEventDetails" in history[0]
    listing = json.loads(cli(tmp_path, "executions", "list", "--json").stdout)
    assert [e["name"] for e in listing] == ["e1"]

    missing = cli(tmp_path, "executions", "describe", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("stepline: error: ExecutionDoesNotExist")
    assert "Traceback" not in missing.stderr


def test_cli_run_failed_execution_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "fail.json"
    path.write_text(
        json.dumps(
            {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "c"}}}
        )
    )
    proc = cli(tmp_path, "states", "run", str(path))
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["status"] == "FAILED" and out["error"] == "Nope" and out["cause"] == "c"


def test_cli_stop_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / "wait.json"
    path.write_text(
        json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}})
    )
    env = {**os.environ, "STEPLINE_HOME": str(tmp_path)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "stepline", "states", "run", str(path), "--name", "w1"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    engine = Engine(tmp_path)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if any(e["type"] == "WaitStateEntered" for e in engine.get_execution_history("w1")):
                break
        except EngineError:
            pass
        time.sleep(0.05)
    stop = cli(tmp_path, "executions", "stop", "w1", "--error", "Halt")
    assert stop.returncode == 0, stop.stderr
    out, _ = runner.communicate(timeout=20)
    assert runner.returncode == 1
    assert json.loads(out)["status"] == "ABORTED"
    assert engine.describe_execution("w1")["error"] == "Halt"


def test_nested_execution_is_durable_and_listed(engine: Engine) -> None:
    engine.create_state_machine(
        "child",
        {
            "StartAt": "C",
            "States": {"C": {"Type": "Pass", "Parameters": {"got.$": "$.v"}, "End": True}},
        },
    )
    engine.create_state_machine(
        "parent",
        {
            "StartAt": "Run",
            "States": {
                "Run": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {"StateMachineArn": "child", "Input": {"v.$": "$.v"}},
                    "OutputPath": "$.Output",
                    "End": True,
                }
            },
        },
    )
    desc = engine.start_execution("parent", {"v": 3}, name="p1")
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"]) == {"got": 3}
    children = engine.list_executions("child")
    assert len(children) == 1 and children[0]["status"] == "SUCCEEDED"


def test_stepline_server_resumes_interrupted_executions(tmp_path: Path) -> None:
    """Killing the process that runs an execution leaves it RUNNING; the server continues it."""
    path = tmp_path / "wait.json"
    path.write_text(
        json.dumps(
            {
                "StartAt": "W",
                "States": {
                    "W": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                    "Done": {"Type": "Pass", "Result": "finished", "End": True},
                },
            }
        )
    )
    env = {**os.environ, "STEPLINE_HOME": str(tmp_path)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "stepline", "states", "run", str(path), "--name", "orphan"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    engine = Engine(tmp_path)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if any(e["type"] == "WaitStateEntered" for e in engine.get_execution_history("orphan")):
                break
        except EngineError:
            pass
        time.sleep(0.02)
    runner.kill()
    runner.wait(10)
    assert engine.describe_execution("orphan")["status"] == "RUNNING"
    server = subprocess.Popen(
        [sys.executable, "-m", "stepline", "server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while engine.describe_execution("orphan")["status"] == "RUNNING":
            assert time.time() < deadline, "the server did not resume the execution"
            time.sleep(0.1)
        desc = engine.describe_execution("orphan")
        assert desc["status"] == "SUCCEEDED"
        assert json.loads(desc["output"]) == "finished"
    finally:
        server.terminate()
        server.wait(30)
