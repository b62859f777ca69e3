"""Helpers shared by the AWS API tests (importable: conftest modules are not)."""

from __future__ import annotations

import os
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
