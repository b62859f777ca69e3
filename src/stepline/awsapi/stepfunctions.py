"""AWS Step Functions' API (awsJson1_0, ``AWSStepFunctions.*``) over stepline's engine.

Why over the engine and not beside it: a state machine created with boto3, the AWS CLI or the
Data Science SDK is the same record the CLI and the console show, and an execution started
here runs in this server process (the engine's background threads) and lands in the same
store.  Error names and messages are AWS's (the DS SDK reads the ARN out of
``State Machine Already Exists: '<arn>'``); pagination tokens are opaque.

``StartSyncExecution`` and ``TestState`` carry a ``sync-`` host prefix in botocore's model;
``stepline env`` sets ``AWS_DISABLE_HOST_PREFIX_INJECTION=true`` so that clients send them to
the server itself (``sync-127.0.0.1`` resolves nowhere).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from stepline import config
from stepline.awsapi._base import AwsError
from stepline.awsapi._jsonproto import JsonService

if TYPE_CHECKING:
    from stepline.engine.engine import EngineError

_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()
_TAGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sfn_tags (
    resource_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key)
);
"""


def engine() -> Any:
    """The server process's engine (one per process, created on first use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            from stepline.engine import Engine

            _ENGINE = Engine()
        return _ENGINE


# -- helpers ------------------------------------------------------------------------------


def _token_for(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def _page(items: list[Any], params: dict[str, Any], default_size: int = 100) -> tuple[list, dict]:
    token = params.get("nextToken")
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["offset"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise AwsError("InvalidToken", f"Invalid Token: '{token}'") from None
    size = params.get("maxResults") or default_size
    page = items[start : start + size]
    extra = {"nextToken": _token_for(start + size)} if start + size < len(items) else {}
    return page, extra


def _check_arn(arn: str, kind: str) -> str:
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "states" or parts[5] != kind:
        raise AwsError(
            "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn}'"
        )
    return arn


def _machine(arn: str) -> dict[str, Any]:
    _check_arn(arn, "stateMachine")
    row = engine().store.get_state_machine(arn)
    if row is None or row["arn"] != arn:
        raise AwsError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
    return row


def _execution(arn: str) -> dict[str, Any]:
    _check_arn(arn, "execution")
    row = engine().store.get_execution(arn)
    if row is None:
        raise AwsError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
    return row


def _definition_problems(definition: str) -> list[Any]:
    from stepline.asl import validate

    return validate(definition)


def _invalid_definition(problems: list[Any]) -> AwsError:
    text = "; ".join(f"{p.message} at {p.path or '/'}" for p in problems[:10])
    return AwsError(
        "InvalidDefinition", f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {text}'"
    )


def _input(text: str | None) -> Any:
    if text is None or text == "":
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AwsError(
            "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'"
        ) from None


def _engine_error(exc: EngineError) -> AwsError:
    code = "ValidationException" if exc.code == "ExecutionNotRunning" else exc.code
    return AwsError(code, exc.message, exc.status)


# -- tags ---------------------------------------------------------------------------------


def _tags_db() -> Any:
    from stepline import db

    return db.connect(_TAGS_SCHEMA)


def _set_tags(arn: str, tags: list[dict[str, str]]) -> None:
    from stepline import db

    with db.transaction(_tags_db()) as conn:
        for tag in tags:
            conn.execute(
                "INSERT OR REPLACE INTO sfn_tags VALUES (?,?,?)", (arn, tag["key"], tag["value"])
            )


def _tagged_resource(arn: str) -> None:
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "states":
        raise AwsError("InvalidArn", f"Invalid Arn: '{arn}'")
    if parts[5] != "stateMachine" or engine().store.get_state_machine(arn) is None:
        raise AwsError("ResourceNotFound", f"Resource not found: '{arn}'")


def tag_resource(params: dict[str, Any]) -> dict[str, Any]:
    _tagged_resource(params["resourceArn"])
    _set_tags(params["resourceArn"], params["tags"])
    return {}


def untag_resource(params: dict[str, Any]) -> dict[str, Any]:
    from stepline import db

    _tagged_resource(params["resourceArn"])
    with db.transaction(_tags_db()) as conn:
        for key in params["tagKeys"]:
            conn.execute(
                "DELETE FROM sfn_tags WHERE resource_arn=? AND key=?", (params["resourceArn"], key)
            )
    return {}


def list_tags_for_resource(params: dict[str, Any]) -> dict[str, Any]:
    _tagged_resource(params["resourceArn"])
    rows = _tags_db().execute(
        "SELECT key, value FROM sfn_tags WHERE resource_arn=? ORDER BY key",
        (params["resourceArn"],),
    )
    return {"tags": [{"key": r[0], "value": r[1]} for r in rows]}


# -- state machines -----------------------------------------------------------------------


def create_state_machine(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.engine.engine import EngineError, state_machine_arn

    name, definition = params["name"], params["definition"]
    role = params["roleArn"]
    kind = params.get("type", "STANDARD")
    problems = _definition_problems(definition)
    if problems:
        raise _invalid_definition(problems)
    arn = state_machine_arn(name)
    existing = engine().store.get_state_machine(name)
    if existing is not None:
        same = (
            json.loads(existing["definition"]) == json.loads(definition)
            and existing["role_arn"] == role
            and existing["type"] == kind
        )
        if not same:
            raise AwsError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
        return {"stateMachineArn": existing["arn"], "creationDate": existing["created"]}
    try:
        engine().create_state_machine(name, definition, role)
    except EngineError as exc:
        raise _engine_error(exc) from None
    if kind != "STANDARD":
        with engine().store.tx() as db:
            db.execute("UPDATE state_machines SET type=? WHERE name=?", (kind, name))
    if params.get("tags"):
        _set_tags(arn, params["tags"])
    row = engine().store.get_state_machine(name)
    return {"stateMachineArn": row["arn"], "creationDate": row["created"]}


def describe_state_machine(params: dict[str, Any]) -> dict[str, Any]:
    row = _machine(params["stateMachineArn"])
    return {
        **engine().describe_state_machine(row["arn"]),
        "loggingConfiguration": {"level": "OFF", "includeExecutionData": False},
        "tracingConfiguration": {"enabled": False},
    }


def update_state_machine(params: dict[str, Any]) -> dict[str, Any]:
    row = _machine(params["stateMachineArn"])
    definition = params.get("definition")
    if definition is None and params.get("roleArn") is None:
        raise AwsError(
            "MissingRequiredParameter", "Either the definition or the roleArn must be specified."
        )
    if definition is not None:
        problems = _definition_problems(definition)
        if problems:
            raise _invalid_definition(problems)
    engine().create_state_machine(
        row["name"], definition or row["definition"], params.get("roleArn") or row["role_arn"]
    )
    updated = engine().store.get_state_machine(row["name"])
    return {
        "updateDate": updated["updated"],
        "revisionId": str(updated["revision"]),
    }


def delete_state_machine(params: dict[str, Any]) -> dict[str, Any]:
    arn = _check_arn(params["stateMachineArn"], "stateMachine")
    if engine().store.get_state_machine(arn) is not None:
        engine().delete_state_machine(arn)
    return {}


def list_state_machines(params: dict[str, Any]) -> dict[str, Any]:
    rows = engine().store.list_state_machines()
    page, extra = _page(rows, params)
    machines = [
        {
            "stateMachineArn": r["arn"],
            "name": r["name"],
            "type": r["type"],
            "creationDate": r["created"],
        }
        for r in page
    ]
    return {"stateMachines": machines, **extra}


def validate_state_machine_definition(params: dict[str, Any]) -> dict[str, Any]:
    problems = _definition_problems(params["definition"])
    limit = params.get("maxResults") or 100
    diagnostics = [
        {
            "severity": "ERROR",
            "code": "SCHEMA_VALIDATION_FAILED",
            "message": p.message,
            "location": p.path or "/",
        }
        for p in problems[:limit]
    ]
    return {
        "result": "FAIL" if problems else "OK",
        "diagnostics": diagnostics,
        "truncated": len(problems) > limit,
    }


# -- executions ---------------------------------------------------------------------------


def start_execution(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.engine.engine import EngineError, execution_arn

    row = _machine(params["stateMachineArn"])
    payload = _input(params.get("input"))
    name = params.get("name")
    if name is not None:
        arn = execution_arn(row["name"], name)
        existing = engine().store.get_execution(arn)
        if existing is not None:
            if existing["status"] == "RUNNING" and json.loads(existing["input"]) == payload:
                return {"executionArn": arn, "startDate": existing["start"]}
            raise AwsError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
    try:
        described = engine().start_execution(row["arn"], payload, name=name, wait=False)
    except EngineError as exc:
        raise _engine_error(exc) from None
    return {"executionArn": described["executionArn"], "startDate": described["startDate"]}


def start_sync_execution(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.engine.engine import EngineError

    row = _machine(params["stateMachineArn"])
    if row["type"] != "EXPRESS":
        raise AwsError(
            "StateMachineTypeNotSupported",
            "This operation is not supported by this type of state machine",
        )
    payload = _input(params.get("input"))
    try:
        out = engine().start_execution(row["arn"], payload, name=params.get("name"), wait=True)
    except EngineError as exc:
        raise _engine_error(exc) from None
    keep = ("executionArn", "stateMachineArn", "name", "startDate", "stopDate", "status")
    keep += ("error", "cause", "input", "inputDetails", "output", "outputDetails")
    result = {k: out[k] for k in keep if k in out}
    result["billingDetails"] = {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100}
    return result


def describe_execution(params: dict[str, Any]) -> dict[str, Any]:
    row = _execution(params["executionArn"])
    return engine().describe_execution(row["arn"])


def describe_state_machine_for_execution(params: dict[str, Any]) -> dict[str, Any]:
    row = _execution(params["executionArn"])
    machine = engine().store.get_state_machine(row["state_machine_arn"])
    return {
        "stateMachineArn": row["state_machine_arn"],
        "name": row["state_machine_name"],
        "definition": row["definition"],
        "roleArn": machine["role_arn"] if machine else config.arn("iam", "role/stepline"),
        "updateDate": machine["updated"] if machine else row["start"],
        "revisionId": str(row["revision"]),
    }


def list_executions(params: dict[str, Any]) -> dict[str, Any]:
    machine_arn = params.get("stateMachineArn")
    if machine_arn is None and params.get("mapRunArn") is None:
        raise AwsError("ValidationException", "Must provide a StateMachine ARN or MapRun ARN")
    if params.get("mapRunArn"):
        return {"executions": []}
    _machine(machine_arn)
    rows = engine().list_executions(machine_arn, params.get("statusFilter"))
    redrive = params.get("redriveFilter")
    if redrive == "REDRIVEN":
        rows = [r for r in rows if r.get("redriveCount")]
    elif redrive == "NOT_REDRIVEN":
        rows = [r for r in rows if not r.get("redriveCount")]
    page, extra = _page(rows, params)
    return {"executions": page, **extra}


def stop_execution(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.engine.engine import EngineError

    row = _execution(params["executionArn"])
    if row["status"] != "RUNNING":
        return {"stopDate": row["stop"] or time.time()}
    try:
        return engine().stop_execution(row["arn"], params.get("error"), params.get("cause"))
    except EngineError as exc:
        raise _engine_error(exc) from None


def redrive_execution(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.engine.engine import EngineError

    row = _execution(params["executionArn"])
    try:
        return engine().redrive_execution(row["arn"], wait=False)
    except EngineError as exc:
        raise _engine_error(exc) from None


def get_execution_history(params: dict[str, Any]) -> dict[str, Any]:
    row = _execution(params["executionArn"])
    events = engine().get_execution_history(row["arn"])
    if params.get("reverseOrder"):
        events.reverse()
    if params.get("includeExecutionData") is False:
        for event in events:
            for value in event.values():
                if isinstance(value, dict):
                    for field in ("input", "output"):
                        value.pop(field, None)
    page, extra = _page(events, params, default_size=1000)
    return {"events": page, **extra}


# -- map runs -----------------------------------------------------------------------------
#
# The engine runs a Distributed Map's iterations in the parent execution; a map run is read
# back from its history: one per MapStateStarted of a DISTRIBUTED Map state.  The run's ARN
# names the execution and the event, so DescribeMapRun needs no second record.


def _distributed_maps(definition: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(graph: Any) -> None:
        if not isinstance(graph, dict):
            return
        for name, state in (graph.get("States") or {}).items():
            if not isinstance(state, dict):
                continue
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            if state.get("Type") == "Map":
                mode = (processor.get("ProcessorConfig") or {}).get("Mode")
                if mode == "DISTRIBUTED":
                    found[name] = state
                walk(processor)
            for branch in state.get("Branches") or []:
                walk(branch)

    walk(definition)
    return found


def _map_run_arn(row: dict[str, Any], event_id: int) -> str:
    return config.arn("states", f"mapRun:{row['state_machine_name']}/{row['name']}:{event_id}")


def _static_int(state: dict[str, Any], key: str) -> int:
    value = state.get(key)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _map_runs(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every map run of the execution ``row``, oldest first, as DescribeMapRun answers."""
    maps = _distributed_maps(json.loads(row["definition"]))
    if not maps:
        return []
    events = engine().store.events(row["arn"])
    by_id = {e["id"]: e for e in events}
    runs: list[dict[str, Any]] = []
    for event in events:
        if event["type"] != "MapStateStarted":
            continue
        entered = by_id.get(event.get("previousEventId"))
        while entered is not None and "stateEnteredEventDetails" not in entered:
            entered = by_id.get(entered.get("previousEventId"))
        name = entered["stateEnteredEventDetails"]["name"] if entered else None
        if name not in maps:
            continue
        total = event.get("mapStateStartedEventDetails", {}).get("length", 0)
        runs.append({"name": name, "started": event, "total": total, "state": maps[name]})
    out = []
    for i, run in enumerate(runs):
        start_id = run["started"]["id"]
        end_id = runs[i + 1]["started"]["id"] if i + 1 < len(runs) else float("inf")
        counts = {"Started": 0, "Succeeded": 0, "Failed": 0, "Aborted": 0}
        last = run["started"]
        for event in events:
            if not start_id < event["id"] < end_id or not event["type"].startswith("MapIteration"):
                continue
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            if details.get("name") != run["name"]:
                continue
            counts[event["type"].removeprefix("MapIteration")] += 1
            last = event
        done = counts["Succeeded"] + counts["Failed"] + counts["Aborted"]
        if done < run["total"] and row["status"] == "RUNNING":
            status = "RUNNING"
        elif counts["Aborted"] or row["status"] == "ABORTED":
            status = "ABORTED"
        elif counts["Failed"] and row["status"] == "FAILED":
            status = "FAILED"
        else:
            status = "SUCCEEDED"
        item = {
            "pending": max(0, run["total"] - counts["Started"]),
            "running": max(0, counts["Started"] - done),
            "succeeded": counts["Succeeded"],
            "failed": counts["Failed"],
            "timedOut": 0,
            "aborted": counts["Aborted"],
            "total": run["total"],
            "resultsWritten": counts["Succeeded"] if run["state"].get("ResultWriter") else 0,
        }
        state = run["state"]
        described = {
            "mapRunArn": _map_run_arn(row, start_id),
            "executionArn": row["arn"],
            "stateMachineArn": row["state_machine_arn"],
            "status": status,
            "startDate": run["started"]["timestamp"],
            "maxConcurrency": _static_int(state, "MaxConcurrency"),
            "toleratedFailurePercentage": float(state.get("ToleratedFailurePercentage") or 0)
            if not isinstance(state.get("ToleratedFailurePercentage"), str)
            else 0.0,
            "toleratedFailureCount": _static_int(state, "ToleratedFailureCount"),
            "itemCounts": item,
            "executionCounts": dict(item),
            "redriveCount": row["redrive_count"],
        }
        if status != "RUNNING":
            described["stopDate"] = last["timestamp"]
        out.append(described)
    return out


def describe_map_run(params: dict[str, Any]) -> dict[str, Any]:
    arn = params["mapRunArn"]
    parts = arn.split(":")
    if len(parts) != 8 or parts[2] != "states" or parts[5] != "mapRun" or "/" not in parts[6]:
        raise AwsError(
            "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn}'"
        )
    machine, execution = parts[6].split("/", 1)
    row = engine().store.get_execution(config.arn("states", f"execution:{machine}:{execution}"))
    for run in _map_runs(row) if row is not None else []:
        if run["mapRunArn"] == arn:
            run.pop("stateMachineArn")
            return run
    raise AwsError("ResourceNotFound", f"Resource not found: '{arn}'")


def list_map_runs(params: dict[str, Any]) -> dict[str, Any]:
    row = _execution(params["executionArn"])
    runs = [
        {
            k: r[k]
            for k in ("executionArn", "mapRunArn", "stateMachineArn", "startDate", "stopDate")
            if k in r
        }
        for r in _map_runs(row)
    ]
    page, extra = _page(runs, params)
    return {"mapRuns": page, **extra}


# -- TestState ------------------------------------------------------------------------------


def run_test_state(params: dict[str, Any]) -> dict[str, Any]:
    """Run one state on an input, as TestState does: its output, or its error, and the state
    it would go to next.  Retries are not run (AWS reports them as RETRIABLE)."""
    from stepline import asl

    try:
        parsed = json.loads(params["definition"])
    except ValueError as exc:
        raise AwsError("InvalidDefinition", f"Invalid State Machine Definition: '{exc}'") from None
    name = params.get("stateName") or "TestState"
    if isinstance(parsed, dict) and "States" in parsed:
        state = (parsed.get("States") or {}).get(name)
        if state is None:
            raise AwsError("ValidationException", f"State '{name}' is not in the definition")
        parsed_top = parsed
    else:
        state, parsed_top = parsed, {}
    if not isinstance(state, dict):
        raise AwsError("InvalidDefinition", "Invalid State Machine Definition: not a state")
    state = {k: v for k, v in state.items() if k != "Retry"}
    targets = [state.get("Next"), state.get("Default")]
    targets += [c.get("Next") for c in state.get("Choices") or [] if isinstance(c, dict)]
    targets += [c.get("Next") for c in state.get("Catch") or [] if isinstance(c, dict)]
    states: dict[str, Any] = {name: state}
    for target in targets:
        if isinstance(target, str) and target != name:
            states[target] = {"Type": "Succeed"}
    machine = {"StartAt": name, "States": states}
    if "QueryLanguage" in parsed_top:
        machine["QueryLanguage"] = parsed_top["QueryLanguage"]
    problems = asl.validate(machine)
    if problems:
        raise _invalid_definition(problems)
    result = asl.execute(machine, _input(params.get("input")), virtual_time=True)
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in result.events
        if "stateEnteredEventDetails" in e
    ]
    next_state = entered[-1] if len(entered) > 1 and entered[-1] != name else None
    out: dict[str, Any] = {}
    if next_state is not None:
        out["nextState"] = next_state
    if result.status == "SUCCEEDED":
        failure = next(
            (
                v
                for e in result.events
                for k, v in e.items()
                if k.endswith("FailedEventDetails") and isinstance(v, dict) and "error" in v
            ),
            None,
        )
        out["output"] = json.dumps(result.output)
        if failure is not None:
            out.update(status="CAUGHT_ERROR", error=failure["error"], cause=failure.get("cause"))
        else:
            out["status"] = "SUCCEEDED"
    else:
        out.update(status="FAILED", error=result.error, cause=result.cause)
    return out


# -- callbacks ----------------------------------------------------------------------------


def _send(func: Any, token: str, *args: Any) -> dict[str, Any]:
    from stepline.integrations import callback

    try:
        func(token, *args)
    except callback.TokenError as exc:
        # The sender may be faster than the Task: the token is in the TaskScheduled event
        # before the Task registers it.  A token of a running execution is then valid.
        execution_arn = token.split("#", 1)[0]
        shaped = token.endswith("#cb") and token.count("#") == 4
        row = engine().store.get_execution(execution_arn) if shaped else None
        if exc.code != "InvalidToken" or row is None or row["status"] != "RUNNING":
            raise AwsError(exc.code, exc.message) from None
        callback.expect(token, execution_arn)
        try:
            func(token, *args)
        except callback.TokenError as again:
            raise AwsError(again.code, again.message) from None
    return {}


def send_task_success(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.integrations import callback

    return _send(callback.send_success, params["taskToken"], params["output"])


def send_task_failure(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.integrations import callback

    return _send(
        callback.send_failure, params["taskToken"], params.get("error"), params.get("cause")
    )


def send_task_heartbeat(params: dict[str, Any]) -> dict[str, Any]:
    from stepline.integrations import callback

    return _send(callback.send_heartbeat, params["taskToken"])


# -- the service --------------------------------------------------------------------------

SERVICE = JsonService(
    "stepfunctions",
    "stepfunctions",
    "AWSStepFunctions",
    {
        "CreateStateMachine": create_state_machine,
        "DescribeStateMachine": describe_state_machine,
        "UpdateStateMachine": update_state_machine,
        "DeleteStateMachine": delete_state_machine,
        "ListStateMachines": list_state_machines,
        "ValidateStateMachineDefinition": validate_state_machine_definition,
        "StartExecution": start_execution,
        "StartSyncExecution": start_sync_execution,
        "DescribeExecution": describe_execution,
        "DescribeStateMachineForExecution": describe_state_machine_for_execution,
        "ListExecutions": list_executions,
        "StopExecution": stop_execution,
        "RedriveExecution": redrive_execution,
        "GetExecutionHistory": get_execution_history,
        "SendTaskSuccess": send_task_success,
        "SendTaskFailure": send_task_failure,
        "SendTaskHeartbeat": send_task_heartbeat,
        "DescribeMapRun": describe_map_run,
        "ListMapRuns": list_map_runs,
        "TestState": run_test_state,
        "TagResource": tag_resource,
        "UntagResource": untag_resource,
        "ListTagsForResource": list_tags_for_resource,
    },
)
