"""Who may drive the console: a per-home token, a Host allow-list and CSRF rules.

Why: jobs share the host network (endpoints and multi-host training need it), and any web
page the user opens can send requests to ``127.0.0.1``.  So the console API trusts neither the
network nor the browser, as Jupyter does:

* **Token.**  One random token per ``$STEPLINE_HOME``, kept in
  ``$STEPLINE_HOME/secrets/console-token`` (mode 0600, in a folder the job sandbox does not
  mount).  ``stepline ui`` prints ``http://HOST:PORT/?token=...``; opening it trades the token
  for an ``HttpOnly; SameSite=Strict`` cookie and redirects to ``/`` so the token leaves the
  address bar.  API clients send ``Authorization: Bearer TOKEN`` or ``X-Stepline-Token: TOKEN``.
  Every ``/api`` route needs it; tokens are compared in constant time.
* **Host allow-list** (DNS rebinding): ``127.0.0.1``, ``localhost``, ``[::1]``, the address
  the server is bound to, and the names in ``[console] host_names`` /
  ``STEPLINE_CONSOLE_HOSTS`` (comma-separated), on any port.  Anything else gets 403.
* **CSRF:** a state-changing request (POST, PUT, PATCH, DELETE) must say
  ``Content-Type: application/json`` (a body may be empty), which a page can only send
  cross-origin after a CORS preflight the console never grants, and its ``Origin``, when
  present, must be the console's own.  Otherwise 415 or 403.

Static files, the favicon and the index page are public: they hold nothing of the home.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stepline import config

TOKEN_HEADER = "x-stepline-token"
#: Methods that change state: checked for CSRF (others change nothing or get 405).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def token_path() -> Path:
    """``$STEPLINE_HOME/secrets/console-token``: outside anything a job can see."""
    return config.home() / "secrets" / "console-token"


def console_token() -> str:
    """The home's console token, created on first use (0600, written atomically).

    Two processes creating it at once agree on one token: the file is published with
    ``os.link``, which fails if another process got there first, and then that one is read.
    """
    path = token_path()
    try:
        return _read_token(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".console-token.")
    try:
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode())
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return _read_token(path)


def _read_token(path: Path) -> str:
    if path.stat().st_mode & 0o077:  # copied in, or made by hand: make it private again
        os.chmod(path, 0o600)
    token = path.read_text().strip()
    if len(token) < 16:
        raise ValueError(f"{path}: the console token is too short; delete the file to renew it")
    return token


def cookie_name(token: str) -> str:
    """The cookie's name, distinct per home (cookies ignore ports, homes may share a host)."""
    return "stepline-console-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def console_url(host: str, port: int, token: str) -> str:
    """The address ``stepline ui`` prints: open it once to get the cookie."""
    shown = "127.0.0.1" if host in _WILDCARD_BINDS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={token}"


def host_names(bind: str | None = None) -> frozenset[str]:
    """The Host names the console answers to (lower case, without port or brackets)."""
    names = set(LOOPBACK_NAMES)
    if bind and bind not in _WILDCARD_BINDS:
        names.add(bind.lower())
    extra = config.setting("console", "host_names", "STEPLINE_CONSOLE_HOSTS", "")
    if isinstance(extra, str):
        extra = extra.split(",")
    if not isinstance(extra, list) or not all(isinstance(n, str) for n in extra):
        raise config.ConfigError("console.host_names: expected a list of names or a string")
    names.update(n.strip().strip("[]").lower() for n in extra if n.strip())
    return frozenset(names)


def split_host(value: str) -> str | None:
    """The name part of a Host header value (``[::1]:80`` -> ``::1``); None if malformed."""
    value = value.strip().lower()
    if not value:
        return None
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def host_allowed(value: str | None, allowed: Iterable[str]) -> bool:
    """Whether a Host header names this server (DNS-rebinding defence)."""
    name = split_host(value or "")
    return name is not None and name in allowed


def same_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether an Origin header is the page's own origin for this Host."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme == scheme and parts.netloc.lower() == host.lower() and not parts.path


def presented_token(headers: dict[str, str], cookie: str) -> str | None:
    """The token a request carries: header first, then the console's cookie."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if TOKEN_HEADER in headers:
        return headers[TOKEN_HEADER].strip()
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
        return None
    morsel = jar.get(cookie)
    return morsel.value if morsel is not None else None


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison (no timing leak of how much of a guess was right)."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class ConsoleGuard:
    """ASGI middleware applying the rules above to every HTTP request before routing."""

    def __init__(self, app: ASGIApp, token: str, bind: str | None = None) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_name(token)
        self.bind = bind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.check(scope, headers)
        if refusal is not None:
            status, code, detail, extra = refusal
            await _send_json(send, status, {"error": code, "detail": detail}, extra)
            return
        await self.app(scope, receive, send)

    def check(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[int, str, str, list[tuple[bytes, bytes]]] | None:
        """``(status, error, detail, headers)`` for a refused request, None to let it in."""
        host = headers.get("host", "")
        if not host_allowed(host, host_names(self.bind)):
            return (
                403,
                "ForbiddenHost",
                f"Host {host[:100]!r} is not one this console answers to; add it to "
                "[console] host_names (or STEPLINE_CONSOLE_HOSTS) to allow it",
                [],
            )
        method = scope["method"].upper()
        unsafe = method in UNSAFE_METHODS
        if unsafe:
            origin = headers.get("origin")
            if origin is not None and not same_origin(origin, host, scope.get("scheme", "http")):
                return (403, "ForbiddenOrigin", f"cross-origin request from {origin[:100]!r}", [])
            if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return (403, "ForbiddenOrigin", "cross-site request refused", [])
        path = scope.get("path", "")
        if path == "/api" or path.startswith("/api/"):
            given = presented_token(headers, self.cookie)
            if not token_matches(given, self.token):
                return (
                    401,
                    "Unauthorized",
                    "the console API needs its token: open the URL `stepline ui` printed, or "
                    "send 'Authorization: Bearer TOKEN' (the token is in "
                    "$STEPLINE_HOME/secrets/console-token)",
                    [(b"www-authenticate", b'Bearer realm="stepline console"')],
                )
        if unsafe:
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media != "application/json":
                return (
                    415,
                    "UnsupportedMediaType",
                    f"{method} needs Content-Type: application/json (got {media or 'none'!r})",
                    [],
                )
        return None


async def _send_json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
