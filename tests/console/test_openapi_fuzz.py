"""Schemathesis against the OpenAPI document: no input makes the server fail (5xx).

The calls carry the console token, as API clients do, so they reach the routes; a check makes
sure none is turned away by the guard (which would make the fuzzing test nothing).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error


@pytest.fixture
def api_schema(client: Any) -> Any:
    return schemathesis.openapi.from_asgi(
        "/openapi.json", client.app, headers={"Host": "127.0.0.1"}
    )


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Host": "127.0.0.1"}


def reaches_the_routes(token: str) -> Any:
    """A check: the guard let the call in (the token, Host and JSON body were accepted).

    Schemathesis also sends calls without a body, without (or with another) token, since the
    document declares it, or with a method the operation lacks: 415, 401 and 405 are the
    right answers to those."""

    def check(ctx: Any, response: Any, case: Any) -> None:
        sent = {k.lower(): v for k, v in response.request.headers.items()}
        if sent.get("authorization") != f"Bearer {token}":
            assert response.status_code == 401, response.text
            return
        assert response.status_code not in (401, 403), response.text
        if sent.get("content-type", "").startswith("application/json"):
            assert response.status_code != 415, response.text

    return check


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors(case: Any, auth: dict[str, str], token: str) -> None:
    case.call_and_validate(headers=auth, checks=[not_a_server_error, reaches_the_routes(token)])
