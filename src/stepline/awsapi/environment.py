"""The environment that points AWS's clients at ``stepline server`` (``stepline env``, jobs).

Why a SageMaker SDK config file: ``sagemaker.Session().default_bucket()`` otherwise asks STS at
an explicit regional URL, which ``AWS_ENDPOINT_URL`` does not override, so it would reach real
AWS.  The file names the default bucket (``sagemaker-REGION-ACCOUNT``, as the SDK would) and
turns the SDK's telemetry off; ``SAGEMAKER_USER_CONFIG_OVERRIDE`` points the SDK at it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from stepline import config
from stepline.awsapi._auth import credentials


def default_bucket() -> str:
    """The bucket the SageMaker SDK would pick: ``sagemaker-{region}-{account}``."""
    return f"sagemaker-{config.region()}-{config.account_id()}"


def sagemaker_config_path() -> Path:
    """Write (atomically, only when it changed) and return the SageMaker SDK config file."""
    path = config.home() / "sagemaker-config.yaml"
    document = {
        "SchemaVersion": "1.0",
        "SageMaker": {
            "PythonSDK": {
                "Modules": {
                    "Session": {"DefaultS3Bucket": default_bucket()},
                    "TelemetryOptOut": True,
                }
            }
        },
    }
    text = "# Written by stepline (stepline env); JSON is YAML.\n" + json.dumps(document, indent=2)
    text += "\n"
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sagemaker-config.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def server_port() -> int:
    """The running server's port, else the configured one (8787 by default)."""
    from stepline.serving.server import configured_port, server_info

    info = server_info()
    return int(info["port"]) if info is not None else configured_port()


def client_environment(port: int | None = None) -> dict[str, str]:
    """``NAME -> value`` for AWS SDKs, the AWS CLI and the SageMaker SDK to use this home."""
    access_key, secret = credentials()
    region = config.region()
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port if port is not None else server_port()}",
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(sagemaker_config_path()),
        # StartSyncExecution and TestState carry a "sync-" host prefix in botocore's model:
        # "sync-127.0.0.1" resolves nowhere, so clients must not inject it.
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }
