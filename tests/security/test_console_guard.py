"""Attacks on the console API over a real socket: no token, DNS rebinding, CSRF.

A real uvicorn server over a private home; requests are sent as a hostile web page (or a job
on the host network) would send them.  Each attack was accepted before the console had a
token, a Host allow-list and CSRF checks (issue 10, rows 4, 5 and 7).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

WAIT_FOREVER = {
    "StartAt": "Hold",
    "States": {"Hold": {"Type": "Wait", "Seconds": 600, "End": True}},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("guard-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPLINE_HOME", str(path))
        mp.setenv("STEPLINE_STORE", "local")
        mp.delenv("STEPLINE_CONSOLE_HOSTS", raising=False)
        yield path


@pytest.fixture(scope="module")
def engine(home: Path) -> Iterator[Any]:
    from stepline.engine import Engine

    eng = Engine(home)
    eng.create_state_machine("hold", WAIT_FOREVER)
    yield eng
    for row in eng.list_executions(None, "RUNNING"):
        eng.stop_execution(row["executionArn"], "Cleanup", None)
    for arn in list(eng._threads):
        eng.wait(arn, timeout=10)


@pytest.fixture(scope="module")
def server(engine: Any) -> Iterator[str]:
    from stepline.console import create_app, running

    with running(create_app(engine)) as url:
        yield url


@pytest.fixture(scope="module")
def token(home: Path, server: str) -> str:
    return (home / "secrets" / "console-token").read_text().strip()


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, follow_redirects=False, timeout=10) as client:
        yield client


def _running(engine: Any, name: str) -> str:
    desc = engine.start_execution("hold", {}, name=name, wait=False)
    return desc["executionArn"]


def test_token_file_is_private_and_stable(home: Path, token: str) -> None:
    from stepline.console import security

    path = home / "secrets" / "console-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(token) >= 32
    assert security.console_token() == token  # once per home, not per start
    assert not [p for p in path.parent.iterdir() if p.name != "console-token"]  # no temp left
    path.chmod(0o644)
    assert security.console_token() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_api_refuses_callers_without_the_token(http: httpx.Client, token: str) -> None:
    for path in ("/api/jobs", "/api/executions", "/api/state-machines", "/api/endpoints"):
        resp = http.get(path)
        assert resp.status_code == 401, (path, resp.text)
        assert "token" in resp.json()["detail"]
        assert http.get(path, headers={"Authorization": "Bearer " + "x" * 43}).status_code == 401
    resp = http.post("/api/executions", json={"stateMachine": "hold", "name": "no-token"})
    assert resp.status_code == 401
    assert http.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert http.get("/api/jobs", headers={"X-Stepline-Token": token}).status_code == 200
    # The page and its assets hold nothing of the home: they load without a token.
    assert http.get("/").status_code == 200
    assert http.get("/static/app.js").status_code == 200
    icon = http.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_url_token_becomes_a_strict_httponly_cookie(
    http: httpx.Client, server: str, token: str
) -> None:
    resp = http.get("/", params={"token": token})
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    cookie = resp.headers["set-cookie"]
    assert (
        token in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie.replace("SameSite=Strict", "SameSite=strict")
    )
    assert http.get("/api/jobs").status_code == 200  # the client kept the cookie
    with httpx.Client(base_url=server, follow_redirects=False) as other:
        wrong = other.get("/", params={"token": "guess"})
        assert wrong.status_code == 303 and "set-cookie" not in wrong.headers
        assert other.get("/api/jobs").status_code == 401


def test_dns_rebinding_host_is_refused(
    http: httpx.Client, server: str, token: str, engine: Any
) -> None:
    port = server.rsplit(":", 1)[1]
    auth = {"Authorization": f"Bearer {token}"}
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        headers = {**auth, "Host": host}
        assert http.get("/api/jobs", headers=headers).status_code == 403
        resp = http.post(
            "/api/executions", headers=headers, json={"stateMachine": "hold", "name": "rebound"}
        )
        assert resp.status_code == 403 and resp.json()["error"] == "ForbiddenHost"
        assert http.get("/", headers={"Host": host}).status_code == 403
    assert engine.list_executions(None, None) == [] or all(
        e["name"] != "rebound" for e in engine.list_executions(None, None)
    )
    for host in (f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", f"LOCALHOST:{port}"):
        assert http.get("/api/jobs", headers={**auth, "Host": host}).status_code == 200, host


def test_configured_host_name_is_allowed(
    http: httpx.Client, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Host": "console.lan:8080"}
    assert http.get("/api/jobs", headers=headers).status_code == 403
    monkeypatch.setenv("STEPLINE_CONSOLE_HOSTS", "other.lan, console.lan")
    assert http.get("/api/jobs", headers=headers).status_code == 200


def test_csrf_stop_with_form_body_and_foreign_origin_is_refused(
    http: httpx.Client, server: str, token: str, engine: Any
) -> None:
    arn = _running(engine, "csrf-victim")
    http.get("/", params={"token": token})  # a browser that has the console's cookie
    stop = f"/api/executions/{arn}/stop"
    attacks = [
        # The attack: an auto-submitted HTML form on another site.
        (
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"},
            b"",
        ),
        ({"Content-Type": "multipart/form-data; boundary=x", "Origin": "http://evil.example"}, b""),
        ({"Content-Type": "text/plain", "Origin": "http://evil.example"}, b"{}"),
        # Same site, other port (SameSite cookies are sent): only Origin tells it apart.
        ({"Content-Type": "application/json", "Origin": "http://127.0.0.1:1"}, b"{}"),
        ({"Content-Type": "application/json", "Origin": "null"}, b"{}"),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, b"{}"),
        # No Origin (an old browser, a script) but not JSON: refused too.
        ({"Content-Type": "application/x-www-form-urlencoded"}, b""),
        ({"Content-Type": "text/plain"}, b"{}"),
        ({}, b""),
    ]
    for headers, body in attacks:
        resp = http.post(stop, headers=headers, content=body)
        assert resp.status_code in (403, 415), (headers, resp.status_code, resp.text)
        assert engine.describe_execution(arn)["status"] == "RUNNING", headers
    assert http.post(stop, headers=attacks[0][0]).status_code == 403
    assert http.post(stop, headers=attacks[-2][0]).status_code == 415
    # The console's own request: JSON, same origin.
    ok = http.post(stop, json={}, headers={"Origin": server})
    assert ok.status_code == 200, ok.text
    # StopExecution asks the execution's thread to stop; it ends it a moment later.
    deadline = time.monotonic() + 10
    while engine.describe_execution(arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.describe_execution(arn)["status"] == "ABORTED"


def test_csrf_redrive_and_start_refuse_text_and_forms(
    http: httpx.Client, token: str, engine: Any
) -> None:
    arn = _running(engine, "redrive-victim")
    engine.stop_execution(arn, "Test", None)
    engine.wait(arn, timeout=10)
    auth = {"Authorization": f"Bearer {token}"}
    for ctype in ("text/plain", "application/x-www-form-urlencoded"):
        headers = {**auth, "Content-Type": ctype}
        assert http.post(f"/api/executions/{arn}/redrive", headers=headers).status_code == 415
        body = b'{"stateMachine": "hold", "name": "forged"}'
        assert http.post("/api/executions", headers=headers, content=body).status_code == 415
    assert engine.describe_execution(arn)["status"] == "ABORTED"
    assert all(e["name"] != "forged" for e in engine.list_executions(None, None))


def test_token_files_differ_per_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stepline.console import security

    tokens = set()
    for name in ("a", "b"):
        monkeypatch.setenv("STEPLINE_HOME", str(tmp_path / name))
        tokens.add(security.console_token())
        assert os.path.exists(tmp_path / name / "secrets" / "console-token")
    assert len(tokens) == 2
