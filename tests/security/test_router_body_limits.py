"""Attacks on the endpoint router's request framing, over a real socket (issue 10, row 14).

A chunked body used to skip the 6 MB limit (64 MiB were buffered), and a malformed
``Content-Length`` raised a traceback and dropped the connection without an answer.
"""

from __future__ import annotations

import json
import logging
import socket
import tracemalloc
from collections.abc import Iterator

import pytest

from stepline.serving.host import MAX_PAYLOAD
from stepline.serving.router import EndpointRouter

MIB = 1024 * 1024
INVOKE = b"POST /endpoints/nowhere/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
def router(caplog: pytest.LogCaptureFixture) -> Iterator[int]:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    r = EndpointRouter()
    port = r.start()
    yield port
    r.stop()
    tracebacks = [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]
    assert not tracebacks, [rec.getMessage() for rec in tracebacks]


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _response(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(body[:length])


def _wait_closed(sock: socket.socket) -> None:
    """Stop sending and wait for the router to close its side (it has finished with us)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:
        pass


def test_chunked_body_over_the_limit_gets_413_at_once(router: int) -> None:
    with _connect(router) as sock:
        sock.sendall(
            INVOKE + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(MAX_PAYLOAD // MIB):  # exactly the limit: still fine
            sock.sendall(b"%x\r\n" % MIB + b"x" * MIB + b"\r\n")
        # One more chunk announced, and not sent: the answer must come without it.
        sock.sendall(b"%x\r\n" % MIB)
        status, headers, body = _response(sock)
        _wait_closed(sock)
    assert status == 413, body
    assert "6 MB" in body["message"] and headers["connection"] == "close"


def test_endless_chunked_stream_is_not_buffered(router: int) -> None:
    """64 MiB sent as a chunked stream: answered 413, and the router (in this process)
    never holds more than a few MiB of it (it used to hold all of it)."""
    sent = 0
    tracemalloc.start()
    try:
        with _connect(router) as sock:
            sock.sendall(INVOKE + b"Transfer-Encoding: chunked\r\n\r\n")
            try:
                while sent < 64 * MIB:
                    sock.sendall(b"10000\r\n" + b"y" * 65536 + b"\r\n")
                    sent += 65536
            except OSError:
                pass  # the router stopped reading: fine too
            status, _, _ = _response(sock)
            _wait_closed(sock)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413
    assert peak < MAX_PAYLOAD + 4 * MIB, f"{peak / MIB:.1f} MiB held"


def test_chunked_body_under_the_limit_is_read(router: int) -> None:
    with _connect(router) as sock:
        sock.sendall(
            INVOKE + b"Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\n{}\n\r\n0\r\nX-T: 1\r\n\r\n"
        )
        status, _, body = _response(sock)
        assert "Endpoint nowhere" in body["message"], body  # read whole, then routed
        # Content-Length over the limit: 413, skipped without being kept, connection reused.
        big = 7 * MIB
        sock.sendall(INVOKE + b"Content-Length: %d\r\n\r\n" % big)
        sock.sendall(b"z" * big)
        status, headers, _ = _response(sock)
        assert status == 413 and "connection" not in headers
        sock.sendall(INVOKE + b"Content-Length: 2\r\n\r\n{}")
        status, _, body = _response(sock)
        assert "Endpoint nowhere" in body["message"], body
        _wait_closed(sock)


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: abc\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: +2\r\n",
        b"Content-Length: 0x2\r\n",
        b"Content-Length: 2\r\nContent-Length: 3\r\n",
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ],
)
def test_malformed_framing_gets_400(router: int, framing: bytes) -> None:
    with _connect(router) as sock:
        sock.sendall(INVOKE + framing + b"\r\n{}")
        status, headers, body = _response(sock)
        _wait_closed(sock)
    assert status == 400 and headers["connection"] == "close"
    assert "Endpoint" not in body["message"], body


@pytest.mark.parametrize("size_line", [b"zz\r\n", b"0x2\r\n", b"-2\r\n", b"\r\n"])
def test_malformed_chunk_size_gets_400(router: int, size_line: bytes) -> None:
    with _connect(router) as sock:
        sock.sendall(
            INVOKE + b"Transfer-Encoding: chunked\r\n\r\n" + size_line + b"{}\r\n0\r\n\r\n"
        )
        status, _, body = _response(sock)
        _wait_closed(sock)
    assert status == 400 and "chunk size" in body["message"]
