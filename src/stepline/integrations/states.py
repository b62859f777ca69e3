"""Nested workflows: ``arn:aws:states:::states:startExecution`` (and ``.sync``, ``.sync:2``).

State machines are looked up by ARN or name in this process's registry, then in the durable
store (when the engine is in use), so a parent can start a child the same way on AWS.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest

_MACHINES: dict[str, Any] = {}
_LOCK = threading.Lock()

#: Extra resolvers (the engine adds one that reads its store): name-or-ARN → definition.
RESOLVERS: list[Callable[[str], Any]] = []


def register_state_machine(name: str, definition: Any) -> str:
    """Make ``definition`` startable as a nested workflow; returns its local ARN."""
    arn = f"arn:aws:states:local:000000000000:stateMachine:{name}"
    with _LOCK:
        _MACHINES[name] = definition
    return arn


def _lookup(arn: str) -> Any:
    name = arn.split(":")[-1] if arn.startswith("arn:") else arn
    with _LOCK:
        if name in _MACHINES:
            return _MACHINES[name]
    for resolver in RESOLVERS:
        found = resolver(arn)
        if found is not None:
            return found
    return None


class StatesIntegration:
    """Starts a child execution, in the same process, and optionally waits for it."""

    def matches(self, resource: str) -> bool:
        return ":states:::states:startExecution" in resource

    def invoke(self, request: TaskRequest) -> Any:
        from stepline.asl import execute

        params = request.parameters if isinstance(request.parameters, dict) else {}
        arn = params.get("StateMachineArn")
        if not arn:
            raise StatesError(
                "States.Runtime", "startExecution needs StateMachineArn", in_state=False
            )
        definition = _lookup(arn)
        if definition is None:
            raise StatesError(
                "StepFunctions.StateMachineDoesNotExistException",
                f"State Machine Does Not Exist: '{arn}'",
                in_state=False,
            )
        child_input = params.get("Input", {})
        if isinstance(child_input, str):
            try:
                child_input = json.loads(child_input)
            except json.JSONDecodeError:
                pass
        name = params.get("Name") or str(uuid.uuid5(uuid.NAMESPACE_URL, request.token))
        machine = arn.split(":")[-1]
        exec_arn = f"arn:aws:states:local:000000000000:execution:{machine}:{name}"
        result = execute(definition, child_input, name=name)
        if not request.resource.split(":states:::states:startExecution")[1].startswith(".sync"):
            return {"ExecutionArn": exec_arn, "StartDate": result.events[0]["timestamp"]}
        as_json = request.resource.endswith(".sync:2")
        if result.status != "SUCCEEDED":
            cause = {
                "ExecutionArn": exec_arn,
                "Status": result.status,
                "Error": result.error,
                "Cause": result.cause,
            }
            raise StatesError("States.TaskFailed", json.dumps(cause), in_state=False)
        return {
            "ExecutionArn": exec_arn,
            "Input": child_input if as_json else json.dumps(child_input),
            "Name": name,
            "Output": result.output if as_json else json.dumps(result.output),
            "StartDate": result.events[0]["timestamp"],
            "StateMachineArn": arn,
            "Status": "SUCCEEDED",
            "StopDate": result.events[-1]["timestamp"],
        }
