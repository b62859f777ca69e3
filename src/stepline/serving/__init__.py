"""Models, endpoint configs, endpoints and the router (SageMaker hosting, locally).

Public interface (boto3's SageMaker shapes; requests validated against botocore's model)::

    create_model(request) / describe_model(name) / list_models() / delete_model(name)
    create_endpoint_config(request) / describe_endpoint_config(name) / list_endpoint_configs()
    create_endpoint(request, token=None) / update_endpoint(request) / delete_endpoint(name)
    describe_endpoint(name) / list_endpoints()
    invocation_url(name) -> "http://127.0.0.1:PORT/endpoints/NAME/invocations"
    invoke_endpoint(name, body, content_type=..., accept=None, custom_attributes=None,
                    target_variant=None) -> {"Body", "ContentType", "InvokedProductionVariant", ...}
    endpoint_logs(name) -> str / endpoint_stats(name) -> list
    console_summary() -> dict                        # for the web console
    ensure_server() / stop_server() / server_url()  # the background stepline server

Layers: :mod:`db` (SQLite ``serving_*`` tables), :mod:`artifacts` (model.tar.gz, safely),
:mod:`host` (one model server in the jobs' runtimes), :mod:`router` (the front HTTP router),
:mod:`server` (the daemon that reconciles records with running servers), :mod:`api`
(SageMaker's calls), :mod:`transform` (batch transform).
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import quote

from stepline.errors import ServiceError
from stepline.serving import db
from stepline.serving.api import (
    create_endpoint,
    create_endpoint_config,
    create_model,
    delete_endpoint,
    delete_endpoint_config,
    delete_model,
    describe_endpoint,
    describe_endpoint_config,
    describe_model,
    list_endpoint_configs,
    list_endpoints,
    list_models,
    update_endpoint,
)
from stepline.serving.server import ensure_server, server_info, server_url, stop_server


class InvokeError(ServiceError):
    """InvokeEndpoint failed: ``code`` is SageMaker Runtime's error (``ModelError`` ...)."""

    def __init__(self, code: str, status: int, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def invocation_url(name: str, port: int | None = None) -> str:
    """The endpoint's stable address on the router (SageMaker Runtime's path)."""
    if port is None:
        info = server_info()
        port = int(info["port"]) if info else ensure_server()
    return f"http://127.0.0.1:{port}/endpoints/{quote(name, safe='')}/invocations"


def invoke_endpoint(
    name: str,
    body: bytes | str,
    *,
    content_type: str = "application/json",
    accept: str | None = None,
    custom_attributes: str | None = None,
    target_variant: str | None = None,
    timeout: float = 70.0,
) -> dict[str, Any]:
    """InvokeEndpoint through the router; raises :class:`InvokeError` like boto3 would."""
    port = ensure_server()
    data = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    if custom_attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    if target_variant:
        headers["X-Amzn-SageMaker-Target-Variant"] = target_variant
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", f"/endpoints/{quote(name, safe='')}/invocations", data, headers)
        resp = conn.getresponse()
        payload = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        try:
            detail = json.loads(payload)
        except ValueError:
            detail = {"message": payload.decode("utf-8", "replace")}
        code = (resp.getheader("x-amzn-ErrorType") or "InternalFailure").split(":")[0]
        raise InvokeError(code, resp.status, detail.get("message", ""), detail)
    out: dict[str, Any] = {
        "Body": payload,
        "ContentType": resp.getheader("Content-Type"),
        "InvokedProductionVariant": resp.getheader("x-Amzn-Invoked-Production-Variant"),
    }
    attrs = resp.getheader("X-Amzn-SageMaker-Custom-Attributes")
    if attrs is not None:
        out["CustomAttributes"] = attrs
    return out


def endpoint_logs(name: str) -> str:
    """The endpoint's events and each model server's output, as one text."""
    from stepline.serving.api import endpoint_row

    lines = [
        f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(t))} [endpoint] {msg}"
        for t, msg in db.events(name)
    ]
    row = endpoint_row(name)
    for variant in (row or {}).get("variants", []):
        for inst in variant.get("_instances", []):
            try:
                text = open(inst["log"], errors="replace").read()
            except OSError:
                continue
            label = f"[{variant['VariantName']}] "
            lines.extend(label + line for line in text.splitlines())
    return "\n".join(lines) + ("\n" if lines else "")


def endpoint_stats(name: str | None = None) -> list[dict[str, Any]]:
    """Per-variant invocations, model errors, errors, mean and max latency."""
    return db.stats(name)


def console_summary() -> dict[str, Any]:
    """What the web console shows on its serving page: server, endpoints, variant stats."""
    info = server_info()
    stats: dict[str, list[dict[str, Any]]] = {}
    for entry in db.stats():
        stats.setdefault(entry["EndpointName"], []).append(entry)
    endpoints = []
    for ep in list_endpoints()["Endpoints"]:
        name = ep["EndpointName"]
        endpoints.append(
            {
                "name": name,
                "status": ep["EndpointStatus"],
                "created": ep["CreationTime"].isoformat(),
                "modified": ep["LastModifiedTime"].isoformat(),
                "url": invocation_url(name, int(info["port"])) if info else None,
                "variants": stats.get(name, []),
            }
        )
    return {
        "server": {"running": info is not None, "port": info["port"] if info else None},
        "endpoints": endpoints,
        "models": len(list_models()["Models"]),
        "endpoint_configs": len(list_endpoint_configs()["EndpointConfigs"]),
    }


__all__ = [
    "InvokeError",
    "console_summary",
    "create_endpoint",
    "create_endpoint_config",
    "create_model",
    "delete_endpoint",
    "delete_endpoint_config",
    "delete_model",
    "describe_endpoint",
    "describe_endpoint_config",
    "describe_model",
    "endpoint_logs",
    "endpoint_stats",
    "ensure_server",
    "invocation_url",
    "invoke_endpoint",
    "list_endpoint_configs",
    "list_endpoints",
    "list_models",
    "server_url",
    "stop_server",
    "update_endpoint",
]
