"""Which object store to use: the embedded one unless an S3 endpoint is configured.

Looked up in this order (first that says something wins):

1. ``STEPLINE_STORE=local|s3`` in the environment;
2. ``STEPLINE_S3_ENDPOINT_URL`` in the environment -> S3 at that endpoint;
3. ``$STEPLINE_HOME/config.toml`` (or ``config.json``, same shape)::

       [storage]
       backend = "s3"                       # "local" (default) or "s3"
       [storage.s3]
       endpoint_url = "http://127.0.0.1:8333"
       access_key_id = "..."                # else boto3's chain: AWS_ACCESS_KEY_ID, profile...
       secret_access_key = "..."
       region = "us-east-1"
       profile = "dev"

   An ``endpoint_url`` without ``backend`` means S3;
4. the standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` -> S3 (boto3 reads them),
   unless it is this home's own ``stepline server`` (``eval "$(stepline env)"`` sets it);
5. otherwise the embedded store in ``$STEPLINE_HOME/objects``.

Credentials alone never switch to S3: a machine with AWS keys for other reasons keeps the
local-first default.  Use ``backend = "s3"`` (or ``STEPLINE_STORE=s3``) for AWS itself.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stepline import config
from stepline.storage.base import ObjectStore, StorageError

#: The backends ``backend`` may name: each is a module with ``from_settings(settings) ->
#: ObjectStore``, imported only when chosen (S3's pulls in boto3).  A new backend is one
#: module plus one line here.
BACKENDS: dict[str, str] = {
    "local": "stepline.storage.local",
    "s3": "stepline.storage.s3",
}


@dataclass(frozen=True)
class StoreSettings:
    """The resolved choice of backend and S3 connection details."""

    backend: str = "local"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    profile: str | None = None


def _file_section() -> dict[str, Any]:
    try:
        return config.section("storage")
    except config.ConfigError as exc:
        raise StorageError(str(exc)) from None


def _is_stepline_itself(url: str) -> bool:
    """Whether ``url`` is this home's own ``stepline server`` (what ``stepline env`` exports).

    Such an endpoint serves the embedded store over S3's API; using it as "external S3" would
    make stepline call itself.  Loopback at the server's port (running or configured) counts,
    as does any endpoint reached with this home's own access key."""
    parsed = urlsplit(url)
    try:
        port = parsed.port
    except ValueError:
        return False
    host = (parsed.hostname or "").lower()
    ports = {config.setting("server", "port", "STEPLINE_SERVER_PORT", 8787)}
    try:
        ports.add(json.loads((config.home() / "server.json").read_text()).get("port"))
    except (OSError, ValueError, AttributeError):
        pass
    loopback = host in ("127.0.0.1", "localhost", "::1") or host.endswith(".localhost")
    if loopback and port is not None and str(port) in {str(p) for p in ports}:
        return True
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    try:
        own = json.loads((config.home() / "secrets" / "aws-credentials.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(key) and isinstance(own, dict) and own.get("access_key_id") == key


def load_settings() -> StoreSettings:
    """Resolve the settings from the environment and ``$STEPLINE_HOME/config.toml``."""
    section = _file_section()
    s3 = section.get("s3", {}) or {}
    env_endpoint = os.environ.get("STEPLINE_S3_ENDPOINT_URL") or None
    endpoint = env_endpoint or s3.get("endpoint_url")
    backend = os.environ.get("STEPLINE_STORE") or section.get("backend")
    if not backend:
        aws_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if aws_endpoint and _is_stepline_itself(aws_endpoint):
            aws_endpoint = None  # `eval "$(stepline env)"` points AWS's clients at us, not S3
        backend = "s3" if (endpoint or aws_endpoint) else "local"
    backend = str(backend).lower()
    if backend not in BACKENDS:
        raise StorageError(f"unknown storage backend {backend!r} (expected {_known()})")
    return StoreSettings(
        backend=backend,
        endpoint_url=endpoint,
        access_key_id=s3.get("access_key_id"),
        secret_access_key=s3.get("secret_access_key"),
        session_token=s3.get("session_token"),
        region=s3.get("region"),
        profile=s3.get("profile"),
    )


def get_store(settings: StoreSettings | None = None) -> ObjectStore:
    """The object store stepline is configured to use (the embedded one by default)."""
    settings = settings or load_settings()
    module = BACKENDS.get(settings.backend)
    if module is None:
        raise StorageError(f"unknown storage backend {settings.backend!r} (expected {_known()})")
    return importlib.import_module(module).from_settings(settings)


def _known() -> str:
    return " or ".join(repr(name) for name in BACKENDS)
