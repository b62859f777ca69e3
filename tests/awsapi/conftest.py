"""Fixtures for the AWS-compatible API: a real ``stepline server`` in a subprocess.

``aws_env`` (session-scoped, shared by every test here so the server starts once) yields the
environment ``stepline env`` prints (AWS_ENDPOINT_URL, credentials, region, the SageMaker SDK
config) plus ``port`` and ``STEPLINE_HOME``.  Clients get it explicitly (``boto3_client``,
``subprocess.run(env=...)``), so nothing here points the test process itself at the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from awsapi_support import server_environment, stepline_env

#: A deadline, not a wait: generous because a loaded 2-core machine starts it slowly.
SERVER_START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    import http.client

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stepline server exited ({proc.returncode}): {log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"stepline server did not answer on {port}: {log.read_text()}")


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running ``stepline server`` and what ``stepline env`` prints for it (+ ``port``)."""
    home = tmp_path_factory.mktemp("aws-home")
    port = _free_port()
    env = server_environment(home)
    log = home / "server-test.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stepline", "server", "--port", str(port), "--no-resume"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(port, proc, log)
        printed = stepline_env(env)
        values: dict[str, Any] = {}
        for line in printed.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            values[name] = value.strip("'")
        values["port"] = port
        values["STEPLINE_HOME"] = str(home)
        yield values
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def client_env(aws_env: dict[str, Any]) -> dict[str, str]:
    """A full process environment for AWS's CLIs/SDKs in subprocesses (no inherited AWS_*)."""
    env = server_environment(Path(aws_env["STEPLINE_HOME"]))
    env.update({k: str(v) for k, v in aws_env.items() if k.isupper() or k.endswith("_proxy")})
    return env


@pytest.fixture
def boto3_client(aws_env: dict[str, Any]) -> Callable[..., Any]:
    """``boto3_client("s3", **config)``: a real boto3 client for the test server."""
    import boto3
    from botocore.config import Config

    def make(service: str, **config: Any) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
            region_name=aws_env["AWS_DEFAULT_REGION"],
            config=Config(**config) if config else None,
        )

    return make
