"""The shapes every AWS-compatible service module shares: one request, one response, one error.

Why a neutral request type: the server (``stepline.awsapi.server``) reads HTTP, verifies the
SigV4 signature and decodes ``aws-chunked`` bodies once; each service module only sees an
:class:`AwsRequest` whose body is complete and whose caller is known, and answers with an
:class:`AwsResponse`.  Errors are raised as :class:`AwsError` and each protocol (JSON, rest-xml,
query) renders them in the shape AWS's SDKs parse.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from stepline.errors import ServiceError


@dataclass
class AwsRequest:
    """One authenticated request, as a service module sees it."""

    method: str
    path: str  # raw URL path (still percent-encoded), e.g. "/bucket/some%20key"
    query: list[tuple[str, str]]  # decoded query pairs, in order
    headers: dict[str, str]  # lower-case header names
    body: bytes  # fully read, aws-chunked already decoded
    service: str  # SigV4 credential-scope service name: "states", "sagemaker", "s3", ...
    region: str  # from the credential scope (or the configured region)
    target: str | None = None  # X-Amz-Target header, if any
    access_key: str = ""  # the verified access key id
    host: str = ""  # the Host header without the port (S3 virtual-hosted style reads it)
    payload_signed: bool = False  # the body's SHA-256 was part of the verified signature

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by (case-insensitive) name."""
        return self.headers.get(name.lower(), default)

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first query parameter called ``name``."""
        for key, value in self.query:
            if key == name:
                return value
        return default

    def has_param(self, name: str) -> bool:
        """Whether the query string names ``name`` (``?uploads``, ``?delete`` carry no value)."""
        return any(key == name for key, _ in self.query)


@dataclass
class AwsResponse:
    """What a service answers; ``body`` may be an iterator of chunks for large objects."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterator[bytes] = b""


class AwsError(ServiceError):
    """An error in AWS's own terms; each protocol module renders it in its wire shape.

    Under the services' one root (:class:`stepline.errors.ServiceError`), with the code and
    status given per error, as the wire carries any service's; ``sender_fault`` is the
    query protocol's ``Sender``/``Receiver``."""

    def __init__(
        self, code: str, message: str, status: int = 400, *, sender_fault: bool = True
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.sender_fault = sender_fault

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def write_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, with permissions ``mode`` (else 0600).

    The services' files on disk (multipart uploads' parts, the proxy's CA, the SageMaker
    SDK's config) are read by other processes at any time: a reader sees the old file or
    the new one, never half of one, and a failed write leaves no temporary file behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AwsService(Protocol):
    """One AWS service on the shared port (see ``_registry.SERVICES``)."""

    name: str

    def accepts(self, req: AwsRequest) -> bool:
        """Whether this service handles ``req`` (scope service, X-Amz-Target, path, Action)."""
        ...

    def handle(self, req: AwsRequest) -> AwsResponse:
        """Answer ``req``; synchronous, the server runs it in a worker thread."""
        ...
