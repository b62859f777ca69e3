"""SageMaker Runtime's side of an endpoint: its address on the router and InvokeEndpoint.

Why apart from :mod:`.api`: SageMaker's calls manage records; these talk HTTP to the running
``stepline server`` (started here if it is not running), as boto3's ``sagemaker-runtime``
client talks to AWS, and fail with :class:`InvokeError` as that client does.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote

from stepline.errors import ServiceError
from stepline.serving.server import ensure_server, server_info


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
