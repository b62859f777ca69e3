"""Local Python functions as Task resources, the way AWS users write Lambda glue steps.

A function registered under ``NAME`` answers both ``arn:aws:lambda:REGION:ACCOUNT:function:NAME``
(the result is the function's return value) and ``arn:aws:states:::lambda:invoke`` with
``FunctionName``/``Payload`` (the result is wrapped as Lambda's Invoke response).  An exception
fails the Task with the exception's class name as the error, like Lambda's ``errorType``.
"""

from __future__ import annotations

import inspect
import json
import threading
import traceback
from collections.abc import Callable
from typing import Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.integrations._params import json_document, object_params

_FUNCTIONS: dict[str, Callable[..., Any]] = {}
_LOCK = threading.Lock()


def register_function(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn`` as the local function ``name``.

    ``fn(event)`` or ``fn(event, context)``; ``context`` carries the execution ARN, the state
    name and a ``heartbeat()`` callable.
    """
    if not name or ":" in name or "/" in name:
        raise ValueError(f"invalid function name {name!r}: use letters, digits, - and _")
    with _LOCK:
        _FUNCTIONS[name] = fn
    return fn


def function(name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of :func:`register_function` (defaults to the function's own name)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        return register_function(name or fn.__name__, fn)

    return wrap


def function_name(arn_or_name: str) -> str:
    """The function name in an ARN, name, or partial ARN (a version or alias is ignored)."""
    parts = arn_or_name.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


class LambdaIntegration:
    """Resolves Lambda resources to registered local functions."""

    #: The resources it runs, for the router's error on an unknown one.
    family = "local functions (arn:aws:lambda:...:function:NAME, arn:aws:states:::lambda:invoke)"

    def matches(self, resource: str) -> bool:
        parts = resource.split(":")
        if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
            return True
        base = resource.split(".")[0]
        return base.endswith(":states:::lambda:invoke") or resource.endswith(
            ":states:::lambda:invoke.waitForTaskToken"
        )

    def invoke(self, request: TaskRequest) -> Any:
        parts = request.resource.split(":")
        if parts[2] == "lambda":
            return self._call(function_name(request.resource), request.parameters, request)
        params = object_params(request)
        if "FunctionName" not in params:
            raise StatesError(
                "States.Runtime",
                "lambda:invoke needs a FunctionName parameter",
                in_state=False,
            )
        payload = json_document(params.get("Payload", {}))
        result = self._call(function_name(params["FunctionName"]), payload, request)
        return {
            "ExecutedVersion": "$LATEST",
            "Payload": result,
            "SdkHttpMetadata": {"HttpStatusCode": 200},
            "SdkResponseMetadata": {},
            "StatusCode": 200,
        }

    def _call(self, name: str, event: Any, request: TaskRequest) -> Any:
        fn = _FUNCTIONS.get(name)
        if fn is None:
            raise StatesError(
                "Lambda.ResourceNotFoundException",
                f"Function not found: {name} (register it with "
                "stepline.integrations.register_function)",
                in_state=False,
            )
        context = _Context(request)
        try:
            if _arity(fn) >= 2:
                result = fn(event, context)
            else:
                result = fn(event)
        except StatesError:
            raise
        except Exception as exc:  # the user's function failed: report it like Lambda does
            cause = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_exception(exc)[-5:],
                }
            )
            raise StatesError(type(exc).__name__, cause, in_state=False) from exc
        try:
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            raise StatesError(
                "Lambda.InvalidResponse",
                f"function {name} returned a value that is not JSON: {exc}",
                in_state=False,
            ) from None


class _Context:
    """What a local function sees as its ``context`` argument."""

    def __init__(self, request: TaskRequest) -> None:
        self.execution_arn = request.execution_arn
        self.state_name = request.state_name
        self.token = request.token
        self.heartbeat = request.heartbeat
        self.cancelled = request.cancel


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
