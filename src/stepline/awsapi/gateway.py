"""The AWS side of ``stepline server``: HTTP in, one :class:`AwsRequest` to the right service out.

Why inside the endpoint router rather than a second server: one port serves everything, and
``POST /endpoints/NAME/invocations`` (SageMaker Runtime's InvokeEndpoint) keeps the router's
sub-millisecond path.  The router hands every other request to :meth:`Gateway.serve` on its
event loop; the gateway checks Host and Origin, answers ``Expect: 100-continue``, reads the
body (``Transfer-Encoding: chunked`` and ``aws-chunked`` decoded), verifies the SigV4 signature
against this home's credentials, picks the service (``_registry.SERVICES``, first match wins:
credential-scope service name, ``X-Amz-Target``, path, form ``Action``) and runs its
synchronous ``handle`` on a worker thread, so a slow object write never stalls invocations.

Errors leave in the shape of the protocol the client speaks: S3's ``<Error>``, the query
protocol's ``<ErrorResponse>``, the JSON protocols' ``__type``, rest-json's
``x-amzn-ErrorType``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import re
import ssl
import sys
import threading
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from stepline import config
from stepline.awsapi import _auth, _tls
from stepline.awsapi._base import AwsError, AwsRequest, AwsResponse, AwsService
from stepline.awsapi.s3 import virtual_bucket

#: Largest request body read into memory (S3 PutObject; multipart parts are far smaller).
DEFAULT_MAX_BODY = 5 * 1024**3
_REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Payload Too Large",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
}
_QUERY_NS = {
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}
_STREAMING = "STREAMING-"
_DECIMAL = re.compile(r"[0-9]{1,20}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
#: Operations answered on the event loop itself, not a worker thread: DescribeExecution,
#: what SDKs poll while they wait, is one row of the execution store (SQLite in WAL mode:
#: a reader never waits for a writer), about 0.2 ms, where the two thread hand-offs cost
#: ~0.2 ms more (benchmarks/aws_api_overhead.py: the server's share 0.77 -> 0.49 ms).
INLINE_TARGETS = frozenset({"AWSStepFunctions.DescribeExecution"})
#: How long a CONNECT client may take to finish its TLS handshake, or a relay to connect.
TUNNEL_TIMEOUT = 15.0


def allowed_hosts() -> set[str]:
    """Host names the API answers besides loopback (``[server] hosts`` / STEPLINE_SERVER_HOSTS)."""
    value = config.setting("server", "hosts", "STEPLINE_SERVER_HOSTS", [])
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    return {str(v).lower() for v in value}


def host_allowed(host: str, extra: set[str]) -> bool:
    """Loopback names, ``*.localhost`` (S3 virtual-hosted style) and configured names."""
    name = host.lower()
    return (
        name in ("127.0.0.1", "localhost", "::1", "[::1]")
        or name.endswith(".localhost")
        or name in extra
    )


def split_host(value: str) -> str:
    """The host name of a Host header, port removed (IPv6 brackets kept)."""
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if ":" in value else value


def protocol_of(service: str, headers: dict[str, str]) -> str:
    """Which error shape the client parses: rest-xml, query, json or rest-json."""
    if service == "s3":
        return "rest-xml"
    if service in ("sts", "iam"):
        return "query"
    if headers.get("x-amz-target"):
        return "json"
    return "rest-json"


def render_error(err: AwsError, protocol: str, service: str, method: str) -> AwsResponse:
    """``err`` in the wire shape of ``protocol``."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "rest-xml":
        headers["x-amz-request-id"] = request_id
        if method == "HEAD":  # HEAD errors carry no body; botocore reports the status code
            return AwsResponse(err.status, headers, b"")
        headers["Content-Type"] = "application/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return AwsResponse(err.status, headers, body.encode())
    if protocol == "query":
        ns = _QUERY_NS.get(service, "")
        kind = "Sender" if err.sender_fault else "Receiver"
        body = (
            f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
        return AwsResponse(err.status, headers, body.encode())
    headers["x-amzn-ErrorType"] = err.code
    if protocol == "json":
        headers["Content-Type"] = "application/x-amz-json-1.1"
        payload: dict[str, Any] = {"__type": err.code, "message": err.message}
    else:
        headers["Content-Type"] = "application/json"
        payload = {"message": err.message, "Message": err.message}
    return AwsResponse(err.status, headers, json.dumps(payload).encode())


class Gateway:
    """Reads AWS requests off the router's connections and dispatches them to services."""

    def __init__(self, services: list[AwsService] | None = None, workers: int = 32) -> None:
        if services is None:
            from stepline.awsapi._registry import SERVICES

            services = SERVICES
        self.services = services
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="stepline-aws")
        self.max_body = int(
            config.setting("server", "max_request_bytes", "STEPLINE_MAX_REQUEST_BYTES", 0)
            or DEFAULT_MAX_BODY
        )
        self.extra_hosts = allowed_hosts()
        _auth.credentials()  # create them before the first request, not during one
        self._host_certs: _tls.HostContexts | None = None  # made on the first CONNECT
        self._host_certs_lock = threading.Lock()
        #: Connections that CONNECT made TLS tunnels, and the AWS host each one is for.
        self._tunnels: weakref.WeakKeyDictionary[asyncio.StreamWriter, str] = (
            weakref.WeakKeyDictionary()
        )

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- the router's hook ----------------------------------------------------------------

    async def serve(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        raw_headers: dict[bytes, bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request on the connection; whether to keep the connection open."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers.items()}
        meth = method.decode("latin-1").upper()
        raw_target = target.decode("latin-1")
        if meth == "CONNECT":
            return await self._connect(raw_target, headers, reader, writer)
        tunnel = self._tunnels.get(writer)
        if raw_target.startswith(("http://", "https://")):
            # absolute-form (RFC 9112 3.2.2, what clients send through a proxy): the authority
            # replaces Host, the rest is the usual path and query.
            parts = urlsplit(raw_target)
            headers["host"] = parts.netloc
            raw_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        keep = version == b"HTTP/1.1" and headers.get("connection", "").lower() != "close"
        service_hint = _scope_service(headers, raw_target)
        protocol = protocol_of(service_hint, headers)
        problem = self._precheck(headers, service_hint, tunnel) or _claims_this_key(
            headers, raw_target
        )
        if problem is not None:
            await self._write(writer, meth, render_error(problem, protocol, service_hint, meth))
            return False  # the body was not read: the connection cannot be reused
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await self._read_body(reader, headers)
        except AwsError as err:
            await self._write(writer, meth, render_error(err, protocol, service_hint, meth))
            return False
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return False
        loop = asyncio.get_running_loop()
        try:
            if headers.get("x-amz-target") in INLINE_TARGETS and len(body) <= 65536:
                response = self.dispatch(meth, raw_target, headers, body)
            else:
                response = await loop.run_in_executor(
                    self.pool, self.dispatch, meth, raw_target, headers, body
                )
        except Exception as exc:  # noqa: BLE001 - the connection must still get an answer
            _log(f"aws dispatch error: {exc!r}")
            err = AwsError("InternalFailure", "internal error", 500, sender_fault=False)
            response = render_error(err, protocol, service_hint, meth)
        await self._write(writer, meth, response, keep=keep)
        return keep

    def _precheck(
        self, headers: dict[str, str], service: str, tunnel: str | None = None
    ) -> AwsError | None:
        """Host allow-list (inside a tunnel: its own AWS host), browser Origin and body
        size, before any body is read."""
        host = split_host(headers.get("host", ""))
        if tunnel is not None:
            if host.lower().rstrip(".") != tunnel:
                return AwsError("AccessDenied", f"Host {host!r} is not this tunnel's", 403)
        elif not host_allowed(host, self.extra_hosts):
            return AwsError("AccessDenied", f"Host {host!r} is not allowed", 403)
        origin = headers.get("origin")
        if origin is not None:
            # Only a page of this very origin (scheme, host and port) may call; AWS's SDKs
            # send no Origin at all.  Another local port is another origin.
            parts = urlsplit(origin)
            host_header = headers.get("host", "").lower()
            if not (parts.scheme == "http" and parts.netloc.lower() == host_header):
                return AwsError("AccessDenied", f"Cross-origin request from {origin} refused", 403)
        length = headers.get("content-length")
        if length is not None and "transfer-encoding" in headers:
            # two framings could be read differently by a proxy in between (smuggling)
            return AwsError(
                "InvalidRequest", "A request may not have both Content-Length and Transfer-Encoding"
            )
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            return AwsError(
                "NotImplemented", f"Transfer-Encoding {coding[:40]!r} is not supported", 501
            )
        if length is not None:
            if not _DECIMAL.fullmatch(length.strip()):
                return AwsError(
                    "InvalidArgument",
                    f"Content-Length {length[:40]!r} is not a non-negative decimal number",
                )
            if int(length) > self.max_body:
                code = "EntityTooLarge" if service == "s3" else "RequestEntityTooLarge"
                return AwsError(
                    code,
                    f"Your proposed upload of {length} bytes exceeds the maximum allowed size "
                    f"of {self.max_body} bytes",
                    413 if service != "s3" else 400,
                )
        return None

    # -- CONNECT: the HTTPS proxy (stepline env's HTTPS_PROXY) ------------------------------

    async def _connect(
        self,
        authority: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """``CONNECT HOST:PORT``.  An AWS host (``*.amazonaws.com``, ``*.api.aws``, port 443):
        the server speaks TLS itself with a certificate from this home's CA, and the
        requests inside go through the usual router and gateway (so a client with a
        hard-coded AWS URL reaches this API, never real AWS).  Any other host: relayed
        byte for byte, so pip, git or a notebook's downloads keep working in a shell that
        ran ``stepline env`` (the server binds 127.0.0.1: only local processes can ask,
        and they could connect themselves)."""
        target = _split_authority(authority)
        refusal: tuple[int, str] | None = None
        if headers.get("origin") is not None:
            refusal = (403, "a web page may not open tunnels")
        elif writer in self._tunnels:
            refusal = (400, "CONNECT inside a tunnel is not supported")
        elif target is None:
            refusal = (400, f"CONNECT target {authority[:100]!r} is not HOST:PORT")
        elif _tls.is_aws_host(target[0]) and target[1] != 443:
            refusal = (403, f"{target[0]} is served on port 443 only")
        if refusal is not None or target is None:
            status, text = refusal or (400, "bad CONNECT target")
            await self._write_plain(writer, status, text)
            return False
        host, port = target
        if not _tls.is_aws_host(host):
            await self._relay(host, port, reader, writer)
            return False
        loop = asyncio.get_running_loop()
        try:
            ctx = await loop.run_in_executor(self.pool, self._host_context, host)
        except Exception as exc:  # noqa: BLE001 - the client must still get an answer
            _log(f"aws proxy: no certificate for {host}: {exc!r}")
            await self._write_plain(writer, 500, f"cannot issue a certificate for {host}")
            return False
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        try:
            await writer.start_tls(ctx, ssl_handshake_timeout=TUNNEL_TIMEOUT)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
            return False  # the client did not trust us (no AWS_CA_BUNDLE) or went away
        self._tunnels[writer] = host
        return True  # the router reads the tunnel's requests as any others

    def _host_context(self, host: str) -> ssl.SSLContext:
        with self._host_certs_lock:
            if self._host_certs is None:
                self._host_certs = _tls.HostContexts()
        return self._host_certs.context(host)

    async def _relay(
        self, host: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            async with asyncio.timeout(TUNNEL_TIMEOUT):
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            await self._write_plain(writer, 502, f"cannot reach {host}:{port}: {exc}")
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()  # half-close: the other direction may still be talking
            except (ConnectionError, OSError):
                writer.close()  # one side broke: end both
                up_writer.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.close()

    @staticmethod
    async def _write_plain(writer: asyncio.StreamWriter, status: int, text: str) -> None:
        body = (text + "\n").encode("utf-8", "replace")
        writer.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: text/plain"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        length = headers.get("content-length")
        if length is not None:
            n = int(length)  # checked by _precheck
            return await reader.readexactly(n) if n else b""
        if "transfer-encoding" in headers:
            parts, total = [], 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                token = size_line[:-2].split(b";", 1)[0].strip()
                if not _HEX.fullmatch(token):
                    raise AwsError("InvalidRequest", f"malformed chunk size {token[:20]!r}")
                size = int(token, 16)
                if size == 0:
                    trailer = 0
                    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                        trailer += len(line)
                        if trailer > 65536:
                            raise AwsError("InvalidRequest", "chunk trailers are too long")
                    return b"".join(parts)
                total += size
                if total > self.max_body:
                    raise AwsError("EntityTooLarge", "request body too large", 413)
                parts.append(await reader.readexactly(size))
                if await reader.readexactly(2) != b"\r\n":
                    raise AwsError("InvalidRequest", "a chunk does not end with CRLF")
        return b""

    async def _write(
        self, writer: asyncio.StreamWriter, method: str, resp: AwsResponse, keep: bool = False
    ) -> None:
        headers = dict(resp.headers)
        body = resp.body
        lower = {k.lower() for k in headers}
        if isinstance(body, bytes | bytearray):
            if "content-length" not in lower:
                headers["Content-Length"] = str(len(body))
        elif "content-length" not in lower:
            body = b"".join(body)
            headers["Content-Length"] = str(len(body))
        if not keep:
            headers["Connection"] = "close"
        head = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Status')}\r\n"]
        head += [f"{k}: {v}\r\n" for k, v in headers.items()]
        head.append("\r\n")
        writer.write("".join(head).encode("latin-1"))
        if method == "HEAD":
            close = getattr(body, "close", None)
            if close is not None:
                close()  # nothing is sent: release what the service opened
        elif isinstance(body, bytes | bytearray):
            writer.write(body)
        else:
            loop = asyncio.get_running_loop()
            chunks: Iterator[bytes] = iter(body)
            try:
                while True:
                    chunk = await loop.run_in_executor(self.pool, next, chunks, None)
                    if chunk is None:
                        break
                    writer.write(chunk)
                    await writer.drain()
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()  # a file the service opened, even if the client went away
        await writer.drain()

    # -- dispatch (worker thread) ---------------------------------------------------------

    def dispatch(
        self, method: str, raw_target: str, headers: dict[str, str], body: bytes
    ) -> AwsResponse:
        """Authenticate, decode and route one request; any AwsError becomes its wire shape."""
        raw_path, _, raw_query = raw_target.partition("?")
        service = _scope_service(headers, raw_target)
        protocol = protocol_of(service, headers)
        try:
            req = self._authenticate(method, raw_path, raw_query, headers, body)
            service = req.service
            for candidate in self.services:
                if candidate.accepts(req):
                    try:
                        return candidate.handle(req)
                    except AwsError as err:
                        return render_error(err, protocol, service, method)
            raise AwsError(
                "UnknownOperationException",
                f"stepline does not serve this {service or 'unsigned'} request "
                f"({method} {raw_path}, target {req.target or '-'})",
                404,
            )
        except AwsError as err:
            return render_error(err, protocol, service, method)

    def _authenticate(
        self, method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes
    ) -> AwsRequest:
        content_sha = headers.get("x-amz-content-sha256", "")
        streaming = content_sha.startswith(_STREAMING)
        body_sha = None
        if not streaming and content_sha != "UNSIGNED-PAYLOAD":
            body_sha = hashlib.sha256(body).hexdigest()
            if content_sha and not hmac.compare_digest(content_sha, body_sha):
                raise AwsError(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )
        host = split_host(headers.get("host", "")).lower()
        if "authorization" not in headers and _auth.is_v2_presigned(raw_query):
            bucket = virtual_bucket(host)
            auth_path = f"/{bucket}{raw_path}" if bucket is not None else raw_path
            scope = _auth.verify_v2_presigned(method, raw_path, raw_query, headers, auth_path)
        else:
            scope = _auth.verify(method, raw_path, raw_query, headers, body_sha)
        encodings = [e.strip() for e in headers.get("content-encoding", "").split(",")]
        if streaming or "aws-chunked" in encodings:
            signed = content_sha.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            body, trailers = _auth.decode_aws_chunked(body, scope, signed=signed)
            declared = headers.get("x-amz-decoded-content-length")
            if declared is not None and declared.isdigit() and int(declared) != len(body):
                raise AwsError(
                    "IncompleteBody",
                    f"x-amz-decoded-content-length says {declared} bytes, the chunks hold "
                    f"{len(body)}",
                )
            headers = dict(headers)
            # Trailing checksums count as the headers they stand for (S3 verifies them);
            # only those the request announced in x-amz-trailer, and never a signed header.
            announced = {n.strip().lower() for n in headers.get("x-amz-trailer", "").split(",")}
            for name, value in trailers.items():
                if name in announced and name.startswith("x-amz-checksum-"):
                    headers.setdefault(name, value)
            rest = [e for e in encodings if e and e != "aws-chunked"]
            if rest:
                headers["content-encoding"] = ", ".join(rest)
            else:
                headers.pop("content-encoding", None)
        return AwsRequest(
            method=method,
            path=raw_path or "/",
            query=parse_qsl(raw_query, keep_blank_values=True),
            headers=headers,
            body=body,
            service=scope.service,
            region=scope.region,
            target=headers.get("x-amz-target"),
            access_key=scope.access_key,
            host=host,
            payload_signed=body_sha is not None,
        )


def _split_authority(authority: str) -> tuple[str, int] | None:
    """``(host, port)`` of a CONNECT target (``host:port``, ``[v6]:port``), lower-cased,
    or None when it is not one (a host must be a DNS name or an IP literal)."""
    host, sep, port = authority.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = host.lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        return host, int(port)
    if _tls.valid_host_name(host):
        return host, int(port)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return None
    return host, int(port)


def _credential(headers: dict[str, str], raw_target: str) -> str:
    """``AK/DATE/REGION/SERVICE/aws4_request`` as the request states it (not yet verified);
    for a SigV2 presigned URL, its access key id."""
    auth = headers.get("authorization", "")
    marker = "Credential="
    at = auth.find(marker)
    if at >= 0:
        return auth[at + len(marker) :].split(",", 1)[0].strip()
    query = raw_target.partition("?")[2]
    if "X-Amz-Credential=" in query or "AWSAccessKeyId=" in query:
        params = dict(parse_qsl(query))
        return params.get("X-Amz-Credential") or params.get("AWSAccessKeyId", "")
    return ""


def _claims_this_key(headers: dict[str, str], raw_target: str) -> AwsError | None:
    """Refuse, before its body is read, a request that is not even signed with this home's
    access key id: nobody without it makes the server buffer a large body.  (The signature
    itself needs the body, and is checked once it has arrived.)"""
    key = _credential(headers, raw_target).split("/", 1)[0]
    if not key:
        return AwsError(
            "MissingAuthenticationToken",
            'Request is missing a SigV4 signature; run eval "$(stepline env)" to give AWS\'s '
            "clients this home's credentials",
            403,
        )
    if not hmac.compare_digest(key, _auth.credentials()[0]):
        return AwsError(
            "InvalidAccessKeyId"
            if _scope_service(headers, raw_target) == "s3"
            else "InvalidClientTokenId",
            "The security token included in the request is invalid (not this stepline "
            'home\'s access key; run eval "$(stepline env)")',
            403,
        )
    return None


def _scope_service(headers: dict[str, str], raw_target: str) -> str:
    """The credential scope's service name, read without verifying (for error shapes)."""
    parts = _credential(headers, raw_target).split("/")
    if len(parts) == 5:
        return parts[3]
    if headers.get("x-amz-target"):
        return ""
    return "s3"  # unsigned browser-ish requests get S3's shape, as S3 answers anonymous ones


def _log(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()
