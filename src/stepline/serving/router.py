"""The front router: one stable address for every endpoint, SageMaker Runtime's REST shape.

``POST /endpoints/NAME/invocations`` is both stepline's address for an endpoint and SageMaker
Runtime's InvokeEndpoint path, so boto3's ``sagemaker-runtime`` client pointed at the router
(``endpoint_url``) works unchanged.  The router forwards ``Content-Type``, ``Accept``,
``X-Amzn-SageMaker-Custom-Attributes`` (and the other InvokeEndpoint headers) to
``POST /invocations`` of one model server, picks the production variant by weight unless
``X-Amzn-SageMaker-Target-Variant`` names one, answers with ``x-Amzn-Invoked-Production-Variant``
and reports a container 4xx/5xx as ``ModelError`` (HTTP 424), as SageMaker does.

Why hand-written HTTP/1.1 on asyncio streams: the router adds well under a millisecond per
request (see ``benchmarks/endpoint_overhead.py``) because it parses only what it needs and
keeps a pool of keep-alive connections to every model server; a framework would add its own
layers for features this path does not use.

Routes are swapped atomically on the event-loop thread (blue/green): a request picks its
backend and counts itself in-flight in one step, so the server can wait for the old backends
to drain before stopping them.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from stepline import config
from stepline.serving.host import INVOCATION_TIMEOUT, MAX_PAYLOAD

#: Oversized bodies up to this size are read and dropped so the 413 reaches the client.
DISCARD_LIMIT = 64 * 1024 * 1024
#: InvokeEndpoint request headers passed to the container (SageMaker strips the rest).
FORWARD = (
    b"content-type",
    b"accept",
    b"x-amzn-sagemaker-custom-attributes",
    b"x-amzn-sagemaker-target-model",
    b"x-amzn-sagemaker-inference-id",
    b"x-amzn-sagemaker-enable-explanations",
    b"x-amzn-sagemaker-session-id",
)
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    413: b"Payload Too Large",
    424: b"Failed Dependency",
    503: b"Service Unavailable",
    500: b"Internal Server Error",
}


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def ack_now(writer: asyncio.StreamWriter) -> None:
    """ACK what has arrived at once.  Clients that write the head and the body in two sends
    (urllib3 2, hence boto3) otherwise hold the body back (Nagle) until our delayed ACK of
    the head, which costs them milliseconds per request."""
    if _QUICKACK is not None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass


class UpstreamGone(Exception):
    """The model server refused the connection (nothing was sent: safe to retry)."""


class ModelGone(Exception):
    """The model server took the request and closed the connection without answering."""


@dataclass(eq=False)
class Backend:
    """One model server as the router sees it."""

    port: int
    healthy: bool = True
    inflight: int = 0
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)

    def flush(self) -> None:
        """Close pooled connections (after a restart on another port, or at retirement)."""
        pool, self.pool = self.pool, []
        for _, writer in pool:
            writer.close()


@dataclass(eq=False)
class VariantRoute:
    """A production variant: its weight and its instances."""

    name: str
    weight: float
    backends: list[Backend]
    _next: int = 0

    def pick(self) -> Backend | None:
        """Round-robin over healthy instances."""
        n = len(self.backends)
        for _ in range(n):
            backend = self.backends[self._next % n]
            self._next += 1
            if backend.healthy:
                return backend
        return None


@dataclass(eq=False)
class EndpointRoute:
    """What the router knows of one endpoint."""

    name: str
    variants: list[VariantRoute]

    def choose(self, target: str | None) -> VariantRoute | None:
        """The variant for a request: the target one, else by weight among healthy ones."""
        if target is not None:
            for variant in self.variants:
                if variant.name == target:
                    return variant
            return None
        live = [v for v in self.variants if v.weight > 0 and any(b.healthy for b in v.backends)]
        if not live:
            live = [v for v in self.variants if v.weight > 0]
        if not live:
            return None
        if len(live) == 1:
            return live[0]
        return random.choices(live, weights=[v.weight for v in live])[0]

    def backends(self) -> list[Backend]:
        """Every backend of every variant."""
        return [b for v in self.variants for b in v.backends]


def _error(status: int, kind: str, message: str, **extra: Any) -> tuple[int, list, bytes]:
    body = {"message": message, "Message": message, **extra}
    headers = [(b"Content-Type", b"application/json"), (b"x-amzn-ErrorType", kind.encode())]
    return status, headers, json.dumps(body).encode()


_CONTENT_LENGTH = re.compile(rb"[0-9]{1,20}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
#: Chunk trailers (rarely sent at all) may take this many bytes.
_TRAILER_LIMIT = 64 * 1024


class BodyError(ValueError):
    """A request body the router refuses before reading it whole: 400 (malformed framing)
    or 413 (over the limit).  ``discard`` > 0: that many bytes follow and can be skipped to
    keep the connection usable; otherwise the connection is closed after the answer."""

    def __init__(self, status: int, message: str, *, discard: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.discard = discard


def _body_length(headers: dict[bytes, bytes]) -> int | None:
    """The Content-Length, or None for a chunked body; BodyError for anything ambiguous.

    Both headers at once, a repeated or non-decimal Content-Length (``abc``, ``-1``, ``+5``)
    and codings other than ``chunked`` are refused: proxies could read such a message
    differently from us (request smuggling)."""
    length = headers.get(b"content-length")
    coding = headers.get(b"transfer-encoding")
    if length is not None and coding is not None:
        raise BodyError(400, "a request may not have both Content-Length and Transfer-Encoding")
    if coding is not None:
        if coding.strip().lower() != b"chunked":
            shown = coding[:50].decode("latin-1")
            raise BodyError(400, f"Transfer-Encoding {shown!r} is not supported (only chunked)")
        return None
    if length is None:
        return 0
    if not _CONTENT_LENGTH.fullmatch(length.strip()):
        shown = length[:50].decode("latin-1")
        raise BodyError(400, f"Content-Length {shown!r} is not a non-negative decimal number")
    return int(length)


async def _read_chunked(reader: asyncio.StreamReader, limit: int | None) -> bytes:
    """A chunked body, counted against ``limit`` chunk by chunk (413 before a chunk that
    would pass it is read, so an endless body is never buffered)."""
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        token = size_line[:-2].split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(token):
            raise BodyError(400, f"malformed chunk size {token[:20].decode('latin-1')!r}")
        size = int(token, 16)
        if size == 0:
            trailers = 0
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                trailers += len(line)
                if trailers > _TRAILER_LIMIT:
                    raise BodyError(400, "chunk trailers are too long")
            return b"".join(parts)
        total += size
        if limit is not None and total > limit:
            raise BodyError(
                413,
                f"Request payload of more than {limit} bytes (chunked) exceeds the maximum "
                f"of {limit} bytes (6 MB)",
            )
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise BodyError(400, "a chunk does not end with CRLF")


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[bytes, bytes], limit: int | None = None
) -> bytes | None:
    """The message body by Content-Length or chunked, at most ``limit`` bytes.

    None means "until EOF" (a response without either header); requests always have one
    or have no body."""
    if b"content-length" not in headers and b"transfer-encoding" not in headers:
        return None
    length = _body_length(headers)
    if length is None:
        return await _read_chunked(reader, limit)
    if limit is not None and length > limit:
        raise BodyError(
            413,
            f"Request payload of {length} bytes exceeds the maximum of {limit} bytes (6 MB)",
            discard=length if length <= DISCARD_LIMIT else 0,
        )
    return await reader.readexactly(length) if length else b""


async def _skip(reader: asyncio.StreamReader, n: int) -> None:
    """Read and drop ``n`` bytes, 64 KiB at a time (never holding them all)."""
    while n > 0:
        data = await reader.read(min(n, 65536))
        if not data:
            raise asyncio.IncompleteReadError(b"", n)
        n -= len(data)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Before closing on a client still sending: drop what it sends for a moment, so that
    the answer already written reaches it instead of being lost to a connection reset."""
    try:
        async with asyncio.timeout(2.0):
            dropped = 0
            while dropped < DISCARD_LIMIT and (data := await reader.read(65536)):
                dropped += len(data)
    except (TimeoutError, ConnectionError, OSError):
        pass


def _parse_head(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key in headers and key in (b"content-length", b"transfer-encoding"):
            value = headers[key] + b"," + value  # repeated framing headers: refused as malformed
        headers[key] = value.strip()
    return lines[0], headers


#: ``(method, target, version, headers, reader, writer) -> keep-alive``: requests that are not
#: the router's own (the AWS-compatible API) are handed over with their connection.
Fallback = Callable[
    [bytes, bytes, bytes, dict[bytes, bytes], asyncio.StreamReader, asyncio.StreamWriter],
    Awaitable[bool],
]


def _router_request(method: bytes, target: bytes, headers: dict[bytes, bytes]) -> bool:
    """Invocations (POST, no query: an S3 POST on such a key always has one), the unsigned
    ``GET /ping`` and the ``/_stepline/`` controls are the router's; the rest is the AWS API's."""
    if b"?" in target:
        return False
    if target.startswith(b"/endpoints/") and target.endswith(b"/invocations"):
        return method == b"POST"
    if target == b"/ping":
        return method == b"GET" and b"authorization" not in headers
    return target.startswith(b"/_stepline/")


def _upstream_request(headers: dict[bytes, bytes], payload: bytes) -> bytes:
    """``POST /invocations`` for the model server, with the InvokeEndpoint headers it gets."""
    forward = [b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"]
    for key in FORWARD:
        value = headers.get(key)
        if value is not None:
            forward.append(key + b": " + value + b"\r\n")
    forward.append(b"Content-Length: %d\r\n\r\n" % len(payload))
    return b"".join(forward) + payload


class _NoAnswer(Exception):
    """No model server answered: ``answer`` is the router's own error response."""

    def __init__(self, answer: tuple[int, list, bytes]) -> None:
        super().__init__(answer[0])
        self.answer = answer


def _model_gone(variant: str, message: str) -> tuple[int, list, bytes]:
    """The ModelError for a container that closed the connection or timed out (status 0)."""
    return _error(
        424,
        "ModelError",
        f'Received server error (0) from {variant} with message "{message}".',
        OriginalStatusCode=0,
        OriginalMessage=message,
        ErrorCode="INTERNAL_FAILURE_FROM_MODEL",
    )


def _container_error(
    endpoint: str, variant: str, status: int, body: bytes
) -> tuple[int, list, bytes]:
    """The ModelError for a container's own 4xx/5xx answer, as SageMaker Runtime words it."""
    text = body.decode("utf-8", "replace")
    side = "client" if status < 500 else "server"
    return _error(
        424,
        "ModelError",
        f"Received {side} error ({status}) from {variant} with message "
        f'"{text}". See the endpoint logs (stepline endpoints logs {endpoint}).',
        OriginalStatusCode=status,
        OriginalMessage=text,
        ErrorCode=f"{side.upper()}_ERROR_FROM_MODEL",
        LogStreamArn=f"stepline:endpoints/{endpoint}/{variant}",
    )


class EndpointRouter:
    """The asyncio HTTP server; thread-safe route changes through :meth:`call`."""

    def __init__(
        self, on_control: Callable[[str], Any] | None = None, fallback: Fallback | None = None
    ) -> None:
        self.routes: dict[str, EndpointRoute] = {}
        #: Answers every request that is not the router's own (the AWS API, see awsapi.gateway).
        self.fallback = fallback
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.on_control = on_control
        self._stats: dict[tuple[str, str, int], list[float]] = {}
        self._stats_lock = threading.Lock()
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve on a background thread; returns the bound port."""
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._client, host, port, backlog=1024)
                )
            except BaseException as exc:  # noqa: BLE001 - reported to the starter
                errors.append(exc)
                self._ready.set()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="stepline-router", daemon=True)
        self._thread.start()
        self._ready.wait()
        if errors:
            raise errors[0]
        return self.port

    def stop(self) -> None:
        """Stop serving."""
        if self.loop is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for route in self.routes.values():
                for backend in route.backends():
                    backend.flush()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the event loop thread and return its result (route changes)."""
        assert self.loop is not None

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(30)

    def set_route(self, route: EndpointRoute) -> EndpointRoute | None:
        """Install ``route`` atomically; returns the route it replaced."""
        return self.call(lambda: self._swap(route.name, route))

    def remove_route(self, name: str) -> EndpointRoute | None:
        """Take an endpoint off the router; returns its route."""
        return self.call(lambda: self._swap(name, None))

    def _swap(self, name: str, route: EndpointRoute | None) -> EndpointRoute | None:
        old = self.routes.get(name)
        if route is None:
            self.routes.pop(name, None)
        else:
            self.routes[name] = route
        return old

    def take_stats(self) -> dict[tuple[str, str, int], list[float]]:
        """The counters since the last call (for the SQLite flush)."""
        with self._stats_lock:
            stats, self._stats = self._stats, {}
        return stats

    def _count(self, endpoint: str, variant: str, ms: float, kind: int) -> None:
        key = (endpoint, variant, int(time.time() // 60))
        with self._stats_lock:
            entry = self._stats.get(key)
            if entry is None:
                entry = self._stats[key] = [0, 0, 0, 0.0, 0.0]
            entry[0] += 1
            if kind == 1:
                entry[1] += 1
            elif kind == 2:
                entry[2] += 1
            entry[3] += ms
            if ms > entry[4]:
                entry[4] = ms

    # -- HTTP -----------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request_line, headers = _parse_head(head)
                try:
                    method, target, version = request_line.split(b" ", 2)
                except ValueError:
                    return
                ack_now(writer)
                if self.fallback is not None and not _router_request(method, target, headers):
                    if not await self.fallback(method, target, version, headers, reader, writer):
                        return
                    continue
                if headers.get(b"expect", b"").lower() == b"100-continue":
                    # curl sends it with bodies over 1 KiB and waits a second for the answer;
                    # a body too large is refused without being asked for.
                    declared = headers.get(b"content-length", b"0")
                    if declared.isdigit() and int(declared) <= MAX_PAYLOAD:
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    payload = await _read_body(reader, headers, MAX_PAYLOAD)
                except BodyError as exc:
                    kind = "ValidationError" if exc.status == 413 else "BadRequest"
                    status, out_headers, body = _error(exc.status, kind, exc.message)
                    if exc.discard:  # skip it so the connection stays usable
                        try:
                            await _skip(reader, exc.discard)
                        except (asyncio.IncompleteReadError, ConnectionError):
                            return
                        self._respond(writer, status, out_headers, body)
                        await writer.drain()
                        continue
                    self._respond(writer, status, out_headers, body, close=True)
                    await writer.drain()
                    await _linger(reader, writer)
                    return
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                if payload is None:
                    payload = b""
                keep = version == b"HTTP/1.1" and headers.get(b"connection", b"") != b"close"
                status, out_headers, body = await self._dispatch(method, target, headers, payload)
                self._respond(writer, status, out_headers, body, close=not keep)
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
                if not keep:
                    await writer.drain()
                    return
        finally:
            writer.close()

    @staticmethod
    def _respond(
        writer: asyncio.StreamWriter, status: int, headers: list, body: bytes, close: bool = False
    ) -> None:
        parts = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Status"))]
        for name, value in headers:
            parts.append(name + b": " + value + b"\r\n")
        parts.append(b"Content-Length: %d\r\n" % len(body))
        if close:
            parts.append(b"Connection: close\r\n")
        parts.append(b"\r\n")
        parts.append(body)
        writer.write(b"".join(parts))

    async def _dispatch(
        self, method: bytes, target: bytes, headers: dict[bytes, bytes], payload: bytes
    ) -> tuple[int, list, bytes]:
        path = target.split(b"?", 1)[0]
        if path.startswith(b"/endpoints/") and path.endswith(b"/invocations"):
            if method != b"POST":
                return _error(404, "UnknownOperationException", "Use POST for invocations")
            name = unquote(path[11:-12].decode("utf-8", "replace"))
            return await self._invoke(name, headers, payload)
        if path == b"/ping":
            return 200, [], b""
        if path.startswith(b"/_stepline/"):
            command = path[11:].decode("ascii", "replace")
            result = self.on_control(command) if self.on_control else None
            if command == "routes":
                result = {
                    name: {v.name: [b.port for b in v.backends] for v in route.variants}
                    for name, route in self.routes.items()
                }
            return 200, [(b"Content-Type", b"application/json")], json.dumps(result).encode()
        return _error(404, "UnknownOperationException", "Unknown path")

    async def _invoke(
        self, name: str, headers: dict[bytes, bytes], payload: bytes
    ) -> tuple[int, list, bytes]:
        """InvokeEndpoint: pick the variant, forward to one of its model servers, answer in
        SageMaker Runtime's terms (``ModelError`` 424 for what the container got wrong)."""
        chosen = self._variant_for(name, headers)
        if isinstance(chosen, tuple):
            return chosen
        variant = chosen
        started = time.perf_counter()
        try:
            status, up_headers, body = await self._call_variant(
                name, variant, _upstream_request(headers, payload)
            )
        except _NoAnswer as failed:
            return failed.answer
        ms = (time.perf_counter() - started) * 1000
        if status >= 400:
            self._count(name, variant.name, ms, 1)
            return _container_error(name, variant.name, status, body)
        self._count(name, variant.name, ms, 0)
        out = [
            (b"Content-Type", up_headers.get(b"content-type", b"application/octet-stream")),
            (b"x-Amzn-Invoked-Production-Variant", variant.name.encode()),
            (b"x-amzn-RequestId", str(uuid.uuid4()).encode()),
        ]
        attrs = up_headers.get(b"x-amzn-sagemaker-custom-attributes")
        if attrs is not None:
            out.append((b"X-Amzn-SageMaker-Custom-Attributes", attrs))
        return 200, out, body

    def _variant_for(
        self, name: str, headers: dict[bytes, bytes]
    ) -> VariantRoute | tuple[int, list, bytes]:
        """The variant to call (``X-Amzn-SageMaker-Target-Variant`` or by weight), or the
        ValidationError that says why there is none."""
        route = self.routes.get(name)
        if route is None:
            return _error(
                400,
                "ValidationError",
                f"Endpoint {name} of account {config.account_id()} not found.",
            )
        raw_target = headers.get(b"x-amzn-sagemaker-target-variant")
        target = raw_target.decode() if raw_target else None
        variant = route.choose(target)
        if variant is not None:
            return variant
        if target is not None:
            message = f"The variant {target} is not in endpoint {name}."
            return _error(400, "ValidationError", message)
        return _error(400, "ValidationError", f"Endpoint {name} has no variant with weight.")

    async def _call_variant(
        self, name: str, variant: VariantRoute, request: bytes
    ) -> tuple[int, dict, bytes]:
        """The model server's ``(status, headers, body)``; a refused connection is retried on
        the next instance (up to 3 tries).  :class:`_NoAnswer` (counted here) when there is
        none: 503 no instance, 424 the container went away or timed out."""
        started = time.perf_counter()
        attempts = 0
        while True:
            backend = variant.pick()
            if backend is None:
                self._count(name, variant.name, (time.perf_counter() - started) * 1000, 2)
                raise _NoAnswer(
                    _error(
                        503,
                        "ServiceUnavailable",
                        f"No model server of variant {variant.name} is available right now "
                        "(restarting); retry shortly.",
                    )
                )
            backend.inflight += 1
            try:
                return await self._forward(backend, request)
            except UpstreamGone:
                attempts += 1
                if attempts < 3:
                    continue
                self._count(name, variant.name, (time.perf_counter() - started) * 1000, 2)
                raise _NoAnswer(
                    _error(
                        503,
                        "ServiceUnavailable",
                        f"The model server of {variant.name} is unavailable.",
                    )
                ) from None
            except ModelGone as exc:
                self._count(name, variant.name, (time.perf_counter() - started) * 1000, 1)
                raise _NoAnswer(_model_gone(variant.name, str(exc))) from None
            except TimeoutError:
                self._count(name, variant.name, (time.perf_counter() - started) * 1000, 1)
                msg = (
                    f"Your invocation timed out while waiting for a response from container "
                    f"{variant.name}. Review the latency metrics for each container, resolve "
                    "the issue, and try again."
                )
                raise _NoAnswer(_model_gone(variant.name, msg)) from None
            finally:
                backend.inflight -= 1

    async def _forward(self, backend: Backend, request: bytes) -> tuple[int, dict, bytes]:
        """Send one request over a pooled (or new) connection; retry a stale pooled one."""
        while True:
            reused = bool(backend.pool)
            if reused:
                reader, writer = backend.pool.pop()
            else:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", backend.port)
                except OSError as exc:
                    raise UpstreamGone(str(exc)) from None
            port = backend.port
            try:
                writer.write(request)
                if _QUICKACK is not None:
                    # ACK the model server's header segment at once: a server that writes
                    # headers and body separately would otherwise wait out Nagle + delayed ACK.
                    sock = writer.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                async with asyncio.timeout(INVOCATION_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
                    status_line, headers = _parse_head(head)
                    status = int(status_line.split(b" ", 2)[1])
                    body = await _read_body(reader, headers)
                    if body is None:
                        body = await reader.read()
                        headers[b"connection"] = b"close"
            except TimeoutError:
                writer.close()
                raise
            except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
                writer.close()
                if reused:
                    continue  # the server dropped an idle keep-alive connection
                raise ModelGone("the model server closed the connection") from None
            if headers.get(b"connection", b"").lower() == b"close" or port != backend.port:
                writer.close()
            elif len(backend.pool) < 64:
                backend.pool.append((reader, writer))
            else:
                writer.close()
            return status, headers, body
