"""The environment that points AWS's clients at ``stepline server`` (``stepline env``, jobs).

Why a SageMaker SDK config file: ``sagemaker.Session().default_bucket()`` otherwise asks STS at
an explicit regional URL, which ``AWS_ENDPOINT_URL`` does not override (the HTTPS proxy
catches that too, but the file saves the call).  The file names the default bucket
(``sagemaker-REGION-ACCOUNT``, as the SDK would) and turns the SDK's telemetry off;
``SAGEMAKER_USER_CONFIG_OVERRIDE`` points the SDK at it.
"""

from __future__ import annotations

import json
from pathlib import Path

from stepline import config
from stepline.awsapi._auth import credentials
from stepline.awsapi._base import write_file


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
    write_file(path, text.encode(), 0o644)
    return path


#: Hosts the HTTPS proxy is not used for: the server itself (AWS_ENDPOINT_URL, S3 virtual
#: hosts ``BUCKET.localhost``).
NO_PROXY = "127.0.0.1,localhost,::1"


def client_environment(port: int | None = None, *, proxy: bool = True) -> dict[str, str]:
    """``NAME -> value`` for AWS SDKs, the AWS CLI and the SageMaker SDK to use this home.

    ``proxy``: also name the server as the HTTPS proxy (``HTTPS_PROXY``, ``NO_PROXY``, both
    spellings, as urllib reads the lower-case one first) and its CA as ``AWS_CA_BUNDLE``,
    for clients that call AWS at URLs they build themselves (see ``_tls``).  Jobs go
    without: their code uses ``AWS_ENDPOINT_URL``, and the sandbox does not show the CA."""
    from stepline import sagemaker

    access_key, secret = credentials()
    region = config.region()
    port = port if port is not None else sagemaker.server_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(sagemaker_config_path()),
        # StartSyncExecution and TestState carry a "sync-" host prefix in botocore's model:
        # "sync-127.0.0.1" resolves nowhere, so clients must not inject it.
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }
    if proxy:
        from stepline.awsapi._tls import ca_cert_path

        proxy_url = f"http://127.0.0.1:{port}"
        env.update(
            {
                "HTTPS_PROXY": proxy_url,
                "https_proxy": proxy_url,
                "NO_PROXY": NO_PROXY,
                "no_proxy": NO_PROXY,
                "AWS_CA_BUNDLE": str(ca_cert_path()),
            }
        )
    return env
