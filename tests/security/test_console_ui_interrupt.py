"""``stepline ui`` as a user runs it: the token URL first, Ctrl-C stops it at once.

A real ``stepline ui`` process: the test reads the URL from its first line, starts an
execution through the API with the token, sends SIGINT while the execution waits, and
expects the process gone within seconds (it used to wait for the execution's thread, issue 10
row 15).  The execution is left RUNNING, and ``stepline executions resume`` finishes it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

#: How long the execution's Wait state lasts; the process must be gone well before.
WAIT_S = 10.0
HOLD = {
    "StartAt": "Hold",
    "States": {
        "Hold": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Done"},
        "Done": {"Type": "Pass", "Result": "resumed", "End": True},
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stepline(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stepline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_ctrl_c_stops_ui_while_its_execution_runs_and_resume_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "STEPLINE_HOME": str(home), "STEPLINE_STORE": "local"}
    monkeypatch.setenv("STEPLINE_HOME", str(home))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    from stepline.engine import Engine

    Engine(home).create_state_machine("hold", HOLD)

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepline", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        url = urlsplit(first)
        assert (url.scheme, url.hostname, url.port, url.path) == ("http", "127.0.0.1", port, "/")
        [token] = parse_qs(url.query)["token"]
        assert token == (home / "secrets" / "console-token").read_text().strip()

        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(base + "/api/executions", headers=auth).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        until = datetime.fromtimestamp(time.time() + WAIT_S, UTC).isoformat()
        started = httpx.post(
            base + "/api/executions",
            headers=auth,
            json={"stateMachine": "hold", "name": "held", "input": {"until": until}},
        )
        assert started.status_code == 201, started.text
        arn = started.json()["executionArn"]
        history = []
        while not any(e["type"] == "WaitStateEntered" for e in history):
            history = httpx.get(f"{base}/api/executions/{arn}/history", headers=auth).json()
            history = history["events"]
            time.sleep(0.05)

        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=WAIT_S)
        took = time.monotonic() - sent
        assert took < WAIT_S / 2, f"stepline ui took {took:.1f} s to stop after Ctrl-C"
        err = proc.stderr.read()
        assert "executions resume" in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    described = _stepline(env, "executions", "describe", arn, "--json")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["status"] == "RUNNING"
    resumed = _stepline(env, "executions", "resume", timeout=WAIT_S + 60)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(_stepline(env, "executions", "describe", arn, "--json").stdout)
    assert final["status"] == "SUCCEEDED" and json.loads(final["output"]) == "resumed"
