"""Helpers shared by the AWS API tests (importable: conftest modules are not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def server_environment(home: Path) -> dict[str, str]:
    """The server's environment: this home, the embedded store, no AWS settings inherited."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "SAGEMAKER_")) and k != "STEPLINE_SERVER_PORT"
    }
    env.update(
        STEPLINE_HOME=str(home),
        STEPLINE_STORE="local",
        STEPLINE_SERVING_STOP_GRACE="5",
        STEPLINE_JOB_STOP_GRACE="1",
    )
    return env


def stepline_env(env: dict[str, str]) -> str:
    """What ``stepline env`` prints (the exports for the server that ``env`` names)."""
    return subprocess.run(
        [sys.executable, "-m", "stepline", "env"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def cli_build(env: dict[str, str], ctx: Path, uri: str) -> None:
    """``stepline images build CTX -t URI`` as a user runs it, in ``env``'s home."""
    subprocess.run(
        [sys.executable, "-m", "stepline", "images", "build", str(ctx), "-t", uri, "-q"],
        env=env,
        check=True,
        capture_output=True,
    )
