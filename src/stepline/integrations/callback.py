"""Callback tasks (``.waitForTaskToken``): the Task waits until someone answers its token.

On AWS a callback Task hands ``$$.Task.Token`` to a service (an SQS message, an SNS
notification, an EventBridge event ...) and waits until a worker calls SendTaskSuccess,
SendTaskFailure or SendTaskHeartbeat with it.  Locally nothing is sent: the Task's
parameters, token included, are in its ``TaskScheduled`` event (GetExecutionHistory), and
the Task waits for the answer through the Step Functions API on ``stepline server`` (or
:func:`send_success` / :func:`send_failure` / :func:`send_heartbeat` in-process).

Tokens live in ``stepline.db`` (``task_tokens``), so the answer may come from another
process than the one running the execution, and survives a restart of either.
Lambda's ``lambda:invoke.waitForTaskToken`` keeps running the registered local function
(:mod:`stepline.integrations.lambda_`).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from stepline import db
from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.errors import ServiceError

_RESOURCE = re.compile(r"^arn:[a-z-]+:states:::[a-z0-9-]+:[A-Za-z0-9:]+\.waitForTaskToken$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS task_tokens (
    token TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, state_name TEXT NOT NULL,
    status TEXT NOT NULL, output TEXT, error TEXT, cause TEXT,
    heartbeat REAL, created REAL NOT NULL
);
"""
#: How often a waiting Task looks for its answer (seconds).
POLL = 0.05


class TokenError(ServiceError):
    """SendTask* named a token that cannot be answered; ``code`` is Step Functions' name.

    Under the services' one root, with Step Functions' 400; ``str()`` is the bare message."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _conn() -> Any:
    return db.connect(_SCHEMA)


def _row(token: str) -> dict[str, Any] | None:
    row = _conn().execute("SELECT * FROM task_tokens WHERE token=?", (token,)).fetchone()
    return dict(row) if row is not None else None


def _answer(token: str, **columns: Any) -> None:
    with db.transaction(_conn()) as conn:
        row = conn.execute("SELECT status FROM task_tokens WHERE token=?", (token,)).fetchone()
        if row is None:
            raise TokenError("InvalidToken", "Invalid Token: 'Invalid token'")
        if row[0] != "WAITING":
            raise TokenError(
                "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'"
            )
        sets = ", ".join(f"{k}=?" for k in columns)
        conn.execute(f"UPDATE task_tokens SET {sets} WHERE token=?", (*columns.values(), token))


def expect(token: str, execution_arn: str, state_name: str = "") -> None:
    """Register ``token`` as waiting before its Task does: an answer may arrive between the
    ``TaskScheduled`` event (where the sender read the token) and the Task's start."""
    with db.transaction(_conn()) as conn:
        conn.execute(
            "INSERT OR IGNORE INTO task_tokens (token, execution_arn, state_name, status,"
            " created) VALUES (?,?,?,'WAITING',?)",
            (token, execution_arn, state_name, time.time()),
        )


def send_success(token: str, output: str) -> None:
    """SendTaskSuccess: the Task succeeds with ``output`` (JSON text)."""
    try:
        json.loads(output)
    except ValueError:
        raise TokenError(
            "InvalidOutput", "Invalid Output: 'The output is not valid JSON'"
        ) from None
    _answer(token, status="SUCCEEDED", output=output)


def send_failure(token: str, error: str | None = None, cause: str | None = None) -> None:
    """SendTaskFailure: the Task fails with ``error`` and ``cause``."""
    _answer(token, status="FAILED", error=error, cause=cause)


def send_heartbeat(token: str) -> None:
    """SendTaskHeartbeat: the Task is alive (resets its HeartbeatSeconds clock)."""
    _answer(token, heartbeat=time.time())


class CallbackIntegration:
    """Any ``...waitForTaskToken`` resource no other integration runs: wait for the answer."""

    #: The resources it runs, for the router's error on an unknown one.
    family = "any ...waitForTaskToken resource (answered by SendTaskSuccess/Failure)"

    def matches(self, resource: str) -> bool:
        return bool(_RESOURCE.match(resource))

    def invoke(self, request: TaskRequest) -> Any:
        token = request.token
        expect(token, request.execution_arn, request.state_name)
        seen_heartbeat = None
        try:
            while not request.cancel.wait(POLL):
                row = _row(token)
                if row is None:
                    break
                if row["heartbeat"] != seen_heartbeat:
                    seen_heartbeat = row["heartbeat"]
                    request.heartbeat()
                if row["status"] == "SUCCEEDED":
                    return json.loads(row["output"])
                if row["status"] == "FAILED":
                    raise StatesError(row["error"] or "", row["cause"] or "", in_state=False)
            raise StatesError("States.TaskFailed", "The task was cancelled", in_state=False)
        finally:
            with db.transaction(_conn()) as conn:
                conn.execute(
                    "UPDATE task_tokens SET status='CLOSED' WHERE token=? AND status='WAITING'",
                    (token,),
                )
