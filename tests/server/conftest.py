"""An API over a private stepline home, driven in-process (no socket, no browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"

DEFINITION = {
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Pass", "Next": "Fan"},
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "ItemProcessor": {
                                "StartAt": "Twice",
                                "States": {
                                    "Twice": {
                                        "Type": "Task",
                                        "Resource": LAMBDA + "api_twice",
                                        "End": True,
                                    }
                                },
                            },
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Oops",
                    "States": {
                        "Oops": {
                            "Type": "Task",
                            "Resource": LAMBDA + "api_oops",
                            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fine"}],
                            "End": True,
                        },
                        "Fine": {"Type": "Pass", "End": True},
                    },
                },
            ],
            "End": True,
        },
    },
}


@pytest.fixture
def api_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(home))
    monkeypatch.setenv("STEPLINE_STORE", "local")
    return home


@pytest.fixture
def engine(api_home: Path) -> Any:
    from stepline.engine import Engine
    from stepline.integrations import register_function

    def oops(event: Any) -> Any:
        raise KeyError("missing")

    register_function("api_twice", lambda event: event * 2)
    register_function("api_oops", oops)
    eng = Engine(api_home)
    eng.create_state_machine("api-demo", DEFINITION)
    return eng


@pytest.fixture
def token(api_home: Path) -> str:
    """The home's console token (every /api call needs it)."""
    from stepline.server import security

    return security.console_token()


@pytest.fixture
def client(engine: Any, token: str) -> Iterator[Any]:
    """An API client as scripts use it: loopback Host, the token in a header."""
    from fastapi.testclient import TestClient

    from stepline.server import create_app

    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(engine), base_url="http://127.0.0.1", headers=headers) as c:
        yield c
