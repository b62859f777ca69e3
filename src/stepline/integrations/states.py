"""Nested workflows: ``arn:aws:states:::states:startExecution`` (and ``.sync``, ``.sync:2``).

State machines are looked up by ARN or name in this process's registry, then in the durable
store when the engine runs the parent (it offers itself as ``request.services["engine"]``);
there the child is a durable execution of its own, listed and resumable like any other.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from stepline import config
from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.integrations._params import json_document, object_params

_MACHINES: dict[str, Any] = {}
_LOCK = threading.Lock()


def register_state_machine(name: str, definition: Any) -> str:
    """Make ``definition`` startable as a nested workflow; returns its local ARN."""
    arn = config.arn("states", f"stateMachine:{name}")
    with _LOCK:
        _MACHINES[name] = definition
    return arn


def _lookup(arn: str, engine: Any) -> Any:
    name = arn.split(":")[-1] if arn.startswith("arn:") else arn
    with _LOCK:
        if name in _MACHINES:
            return _MACHINES[name]
    if engine is not None:
        row = engine.store.get_state_machine(name)
        if row is not None:
            return json.loads(row["definition"])
    return None


class StatesIntegration:
    """Starts a child execution, in the same process, and optionally waits for it."""

    #: The resources it runs, for the router's error on an unknown one.
    family = "arn:aws:states:::states:startExecution[.sync]"

    def matches(self, resource: str) -> bool:
        return ":states:::states:startExecution" in resource

    def invoke(self, request: TaskRequest) -> Any:
        from stepline.asl import execute

        params = object_params(request)
        arn = params.get("StateMachineArn")
        if not arn:
            raise StatesError(
                "States.Runtime", "startExecution needs StateMachineArn", in_state=False
            )
        engine = request.services.get("engine")
        definition = _lookup(arn, engine)
        if definition is None:
            raise StatesError(
                "StepFunctions.StateMachineDoesNotExistException",
                f"State Machine Does Not Exist: '{arn}'",
                in_state=False,
            )
        child_input = json_document(params.get("Input", {}))
        # The same task attempt always names its child the same, so a resumed parent finds
        # the child it started before a crash instead of starting a second one.
        name = params.get("Name") or str(uuid.uuid5(uuid.NAMESPACE_URL, request.token))
        machine = arn.split(":")[-1]
        exec_arn = config.arn("states", f"execution:{machine}:{name}")
        sync = request.resource.split(":states:::states:startExecution")[1].startswith(".sync")
        if engine is not None:
            # Under the durable engine the child is a real execution: listed, resumable.
            if engine.store.get_state_machine(machine) is None:
                engine.create_state_machine(machine, definition)
            status, output, error, cause, started, stopped = engine.run_child_execution(
                arn, child_input, name, sync
            )
        else:
            result = execute(definition, child_input, name=name)
            status, output, error, cause = result.status, result.output, result.error, result.cause
            started, stopped = result.events[0]["timestamp"], result.events[-1]["timestamp"]
        if not sync:
            return {"ExecutionArn": exec_arn, "StartDate": started}
        as_json = request.resource.endswith(".sync:2")
        if status != "SUCCEEDED":
            details = {"ExecutionArn": exec_arn, "Status": status, "Error": error, "Cause": cause}
            raise StatesError("States.TaskFailed", json.dumps(details), in_state=False)
        return {
            "ExecutionArn": exec_arn,
            "Input": child_input if as_json else json.dumps(child_input),
            "Name": name,
            "Output": output if as_json else json.dumps(output),
            "StartDate": started,
            "StateMachineArn": arn,
            "Status": "SUCCEEDED",
            "StopDate": stopped,
        }
