"""Fuzzing the evaluator: generated state machines run end to end (issue 10).

``runnable_machines`` draws definitions the validator accepts -- Pass, Choice, Wait, Succeed,
Fail, Parallel, Map and Task states, Retry and Catch, in JSONPath and JSONata -- so that
they get past ``parse`` and *run*; ``test_asl_fuzz.machines`` exercises the validator with
mostly broken ones instead.  Inputs are hostile: deep nesting, strings near and over the
256 KiB payload quota, unicode (lone surrogates included), NaN and Infinity.

Each execution runs on a virtual clock (Waits and retry back-offs jump instead of sleeping)
with a fake task port, and must:

- end within a wall-clock bound (a watchdog stops it otherwise, and the case fails);
- end in exactly one terminal status, recorded by exactly one terminal event, the last;
- name an ASL error when it fails (a ``States.*`` name AWS documents, or one the machine
  or its tasks raise), and never with a Python exception dressed as ``Internal error``;
- keep its history within the quotas: at most ``history_events`` events, ids 1..n in
  order, and no payload in any event over ``payload_bytes``.

Most cases run in memory (:class:`~stepline.asl.program.Program`); fewer run through the
durable :class:`~stepline.engine.Engine` (SQLite checkpoints), which also refuses input
that is not JSON (NaN) as StartExecution does.  ``fuzz_support.py`` says how to run more.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import pytest
from fuzz_support import COUNTS, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from test_asl_fuzz import (
    INTRINSIC_POOL,
    JSON_POOL,
    JSONATA_POOL,
    PATH_POOL,
    REFERENCE_PATHS,
    RESULT_PATHS,
)

from stepline.asl import Limits, parse
from stepline.asl import errors as E
from stepline.asl.intrinsics import intrinsic_syntax_error
from stepline.asl.jsonata import jsonata_syntax_error
from stepline.asl.paths import path_syntax_error
from stepline.asl.program import Outcome, Program, TaskRequest, VirtualClock
from stepline.engine import Engine, EngineError

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
LIMITS = Limits(history_events=400, eval_timeout_ms=50, eval_max_depth=60)
#: Longest an execution may take, wall clock, before the watchdog stops it (a failure).
WALL_BOUND_S = 20.0
TERMINAL = {
    "SUCCEEDED": "ExecutionSucceeded",
    "FAILED": "ExecutionFailed",
    "TIMED_OUT": "ExecutionTimedOut",
}
#: Error names a generated execution may end with besides the documented ``States.*`` ones.
CUSTOM_ERRORS = ("Boom", "E", "Custom", "NotJson")
STATES_ERRORS = {getattr(E, n) for n in dir(E) if isinstance(getattr(E, n), str)}
STATES_ERRORS = {n for n in STATES_ERRORS if n.startswith("States.")}

# -- expression pools, valid only: these machines are meant to pass validation ----------------

PATHS = st.sampled_from(["$", "$.items", "$.a"]) | st.sampled_from(
    [p for p in PATH_POOL if path_syntax_error(p) is None]
)
REF_PATHS = st.sampled_from(REFERENCE_PATHS)
RES_PATHS = st.sampled_from([p for p in RESULT_PATHS if not p.startswith("$$")])
INTRINSICS = st.sampled_from([i for i in INTRINSIC_POOL if intrinsic_syntax_error(i) is None])
#: Expressions that usually evaluate, so that executions get past their first state.
_BENIGN_JSONATA = [
    "$states.input",
    "$states.input.items",
    "[1, 2, 3]",
    "$count([1, 2])",
    "$states.context.Execution.Id",
    "'a'",
    "$exists($states.input.a)",
    "$states.input.n > 1",
]
JSONATA = st.sampled_from(_BENIGN_JSONATA) | st.sampled_from(
    [j for j in JSONATA_POOL if jsonata_syntax_error(j) is None]
)
JSON_VALUES = st.sampled_from(JSON_POOL)

# -- hostile inputs -------------------------------------------------------------------------


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value, "items": [1, 2]}
    return value


_UNICODE = ["ü", "日本語", "🚀", "\u202e", "\x00", "\ud800", "a\udfffb", "\ufeff", "e\u0301"]
HOSTILE_INPUTS = [
    _nested(50, 1),
    _nested(400, "deep"),
    {"s": "x" * (200 * 1024)},  # under the quota; doubles past it in some outputs
    {"s": "é" * (130 * 1024)},  # 130 Ki characters, 260 KiB of UTF-8: over the quota
    "y" * (300 * 1024),
    {"items": ["x" * 1000] * 100},
    {"u": _UNICODE, "items": _UNICODE, "a": "\ud800"},
    {"items": list(range(40)), "n": 2, "boom": True},
    {"n": 1e308, "a": -1e308, "items": [5e-324, -0.0, 2**64]},
]
NOT_JSON_INPUTS = [{"n": math.nan}, {"items": [math.inf]}, [-math.inf]]
#: An input most generated paths select something in.
FRIENDLY_INPUT = {"items": [1, {"a": 2}, "s"], "a": {"b": 1}, "n": 2, "s": "a", "b": True}
INPUTS = st.just(FRIENDLY_INPUT) | st.sampled_from(JSON_POOL) | st.sampled_from(HOSTILE_INPUTS)

# -- the fake task port ---------------------------------------------------------------------


class Boom(Exception):
    """What ``fuzz_fail`` raises: a task error whose name Retry and Catch can match."""


class FakeTasks:
    """A task port: echo, fail, answer too much, or answer something that is not JSON."""

    def invoke(self, request: TaskRequest) -> object:
        kind = request.resource.rsplit(":", 1)[-1]
        params = request.parameters
        if kind == "fuzz_fail" or (isinstance(params, dict) and "boom" in params):
            raise Boom("the task failed")
        if kind == "fuzz_big":
            return {"big": "z" * (300 * 1024)}
        if kind == "fuzz_nan":
            return {"n": math.nan}
        return params


TASKS = st.sampled_from(["fuzz_echo"] * 5 + ["fuzz_fail", "fuzz_big", "fuzz_nan"])

# -- machines the validator accepts ----------------------------------------------------------


def _expr(draw: st.DrawFn) -> str:
    return "{% " + draw(JSONATA) + " %}"


def _choice_rule(draw: st.DrawFn, jsonata: bool, target: str) -> dict:
    if jsonata:
        return {"Condition": _expr(draw), "Next": target}
    kind = draw(st.integers(0, 9))
    var = draw(REF_PATHS)
    if kind == 0:
        return {
            "Variable": var,
            "StringEquals": draw(st.sampled_from(["a", "", "ü"])),
            "Next": target,
        }
    if kind == 1:
        return {
            "Variable": var,
            "NumericEquals": draw(st.sampled_from([0, 1, 2.5])),
            "Next": target,
        }
    if kind == 2:
        return {"Variable": var, "NumericLessThan": draw(st.integers(-5, 5)), "Next": target}
    if kind == 3:
        return {"Variable": var, "BooleanEquals": draw(st.booleans()), "Next": target}
    if kind == 4:
        return {"Variable": var, "IsPresent": draw(st.booleans()), "Next": target}
    if kind == 5:
        return {"Variable": var, "StringMatches": "*a*", "Next": target}
    if kind == 6:
        return {"Variable": var, "TimestampLessThan": "2016-03-14T01:59:00Z", "Next": target}
    if kind == 7:
        return {"Variable": var, "NumericGreaterThanEqualsPath": draw(REF_PATHS), "Next": target}
    if kind == 8:
        inner = {"Variable": var, "IsNull": False}
        return {"Not": inner, "Next": target}
    return {
        "And": [{"Variable": var, "IsNumeric": True}, {"Variable": var, "NumericEquals": 2}],
        "Next": target,
    }


def _retry_catch(draw: st.DrawFn, state: dict, targets: st.SearchStrategy, jsonata: bool) -> None:
    if draw(st.booleans()):
        retrier: dict = {
            "ErrorEquals": [
                draw(
                    st.sampled_from(
                        [
                            "States.ALL",
                            "Boom",
                            "States.TaskFailed",
                            "States.Runtime",
                            "States.QueryEvaluationError",
                            "States.IntrinsicFailure",
                        ]
                    )
                )
            ],
            "MaxAttempts": draw(st.sampled_from([0, 1, 3, 99999999])),
            "BackoffRate": draw(st.sampled_from([1, 2, 1e6])),
        }
        if draw(st.integers(0, 3)) == 0:
            retrier["MaxDelaySeconds"] = draw(st.integers(1, 100))
            retrier["JitterStrategy"] = "FULL"
        state["Retry"] = [retrier]
    if draw(st.booleans()):
        catcher = {"ErrorEquals": ["States.ALL"], "Next": draw(targets)}
        if not jsonata and draw(st.booleans()):
            catcher["ResultPath"] = draw(RES_PATHS)
        state["Catch"] = [catcher]


@st.composite
def runnable_machines(
    draw: st.DrawFn, depth: int = 1, prefix: str = "S", jsonata: bool | None = None
) -> dict:
    """A definition the validator accepts: states in order, some loops, every field valid."""
    if jsonata is None:
        jsonata = draw(st.booleans())
    n = draw(st.integers(1, 4 if depth else 2))
    names = [f"{prefix}{i}" for i in range(n)]
    states: dict = {}
    for i, name in enumerate(names):
        last = i == n - 1
        after = names[min(i + 1, n - 1)]
        targets = st.sampled_from([after] * 6 + names)
        kinds = ["Pass", "Pass", "Wait", "Task", "Task"]
        if not last:
            kinds.append("Choice")
        if depth > 0:
            kinds += ["Parallel", "Map"]
        if last:
            kinds += ["Succeed", "Fail"]
        kind = draw(st.sampled_from(kinds))
        state: dict = {"Type": kind}
        if kind not in ("Choice", "Succeed", "Fail"):
            if last:
                state["End"] = True
            else:
                state["Next"] = after
        if kind == "Fail":
            if jsonata:
                if draw(st.booleans()):
                    state["Error"] = draw(st.sampled_from(CUSTOM_ERRORS))
                if draw(st.booleans()):
                    state["Cause"] = _expr(draw)
            elif draw(st.booleans()):
                state["Error"] = draw(st.sampled_from(CUSTOM_ERRORS))
                state["Cause"] = "fuzz"
            else:
                state["ErrorPath"] = draw(REF_PATHS)
                state["CausePath"] = draw(REF_PATHS | INTRINSICS)
        elif jsonata:
            if kind in ("Task", "Parallel") and draw(st.booleans()):
                state["Arguments"] = _expr(draw) if draw(st.booleans()) else {"a": _expr(draw)}
            if draw(st.booleans()):
                state["Output"] = _expr(draw)
            if kind != "Succeed" and draw(st.integers(0, 2)) == 0:
                state["Assign"] = {"x": _expr(draw), "v": draw(JSON_VALUES)}
        else:
            if draw(st.integers(0, 3)) == 0:
                state["InputPath"] = draw(PATHS)
            if draw(st.integers(0, 3)) == 0:
                state["OutputPath"] = draw(PATHS)
            if kind in ("Pass", "Task", "Parallel") and draw(st.booleans()):
                state["Parameters"] = {
                    "p.$": draw(PATHS | INTRINSICS),
                    "lit": draw(JSON_VALUES),
                }
            if kind in ("Pass", "Task", "Parallel", "Map") and draw(st.integers(0, 2)) == 0:
                state["ResultPath"] = draw(st.none() | RES_PATHS)
            if kind != "Succeed" and draw(st.integers(0, 3)) == 0:
                state["Assign"] = {"x.$": draw(PATHS), "v": draw(JSON_VALUES)}
        if kind == "Pass" and not jsonata and draw(st.booleans()):
            state["Result"] = draw(JSON_VALUES)
        if kind == "Choice":
            state["Choices"] = [_choice_rule(draw, jsonata, draw(targets))]
            if draw(st.integers(0, 4)):
                state["Default"] = after
            else:
                # No Default: the state must still reach what follows.
                state["Choices"].append(_choice_rule(draw, jsonata, after))
        if kind == "Wait":
            field = draw(st.integers(0, 3))
            if field == 0:
                state["Seconds"] = draw(st.sampled_from([0, 1, 3600, 99999999]))
            elif field == 1:
                state["Timestamp"] = draw(
                    st.sampled_from(["2016-03-14T01:59:00Z", "9999-12-31T23:59:59Z"])
                )
            elif jsonata:
                state["Seconds" if field == 2 else "Timestamp"] = _expr(draw)
            else:
                state["SecondsPath" if field == 2 else "TimestampPath"] = draw(REF_PATHS)
        if kind == "Task":
            state["Resource"] = FN + draw(TASKS)
            if draw(st.integers(0, 3)) == 0:
                state["TimeoutSeconds"] = draw(st.integers(1, 60))
        if kind == "Parallel":
            state["Branches"] = [
                draw(runnable_machines(depth - 1, f"{name}b{b}x", jsonata))
                for b in range(draw(st.integers(1, 2)))
            ]
        if kind == "Map":
            state["ItemProcessor"] = draw(runnable_machines(depth - 1, f"{name}ix", jsonata))
            if jsonata:
                if draw(st.booleans()):
                    state["Items"] = _expr(draw) if draw(st.booleans()) else "{% [1, 2, 3] %}"
            elif draw(st.booleans()):
                state["ItemsPath"] = draw(REF_PATHS)
            if draw(st.integers(0, 2)) == 0:
                state["MaxConcurrency"] = draw(st.integers(0, 3))
            if draw(st.integers(0, 2)) == 0:
                state["ToleratedFailureCount"] = draw(st.integers(0, 3))
        if kind in ("Task", "Parallel", "Map"):
            _retry_catch(draw, state, targets, jsonata)
        states[name] = state
    definition: dict = {"StartAt": names[0], "States": states}
    if depth == 1:
        if jsonata:
            definition["QueryLanguage"] = "JSONata"
        if draw(st.integers(0, 4)) == 0:
            definition["TimeoutSeconds"] = draw(st.integers(1, 3600))
    return definition


# -- what every execution must satisfy ---------------------------------------------------------


def _silent_fail(definition: dict) -> bool:
    """Whether a Fail state of ``definition`` names no error (AWS then records none)."""
    for state in definition["States"].values():
        if state["Type"] == "Fail" and "Error" not in state and "ErrorPath" not in state:
            return True
        graphs = state.get("Branches", []) + [state.get("ItemProcessor", {"States": {}})]
        if any(_silent_fail(graph) for graph in graphs):
            return True
    return False


def _check_outcome(definition: dict, status: str, error: str | None, cause: str | None) -> None:
    assert status in TERMINAL, f"ended {status}"
    if status == "SUCCEEDED":
        assert error is None
        return
    if error is None and _silent_fail(definition):
        return
    assert error, f"{status} without an error name"
    if error.startswith("States."):
        assert error in STATES_ERRORS, f"undocumented error name {error}"
    else:
        # A task's exception, or a Fail state's Error (literal, or selected by ErrorPath
        # from the data: any string the input holds).
        assert isinstance(error, str)
    assert "Internal error" not in (cause or ""), f"{error}: {cause}"


def _check_history(events: list[dict], status: str, limits: Limits, started: bool = True) -> None:
    """``started``: whether ExecutionStarted's input is held to the quota too (StartExecution
    refuses a bigger input in the engine; an in-memory Program takes what it is given)."""
    assert 2 <= len(events) <= limits.history_events, len(events)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] < e["id"] for e in events)
    terminal = [e for e in events if e["type"] in TERMINAL.values()]
    assert len(terminal) == 1 and events[-1] is terminal[0], [e["type"] for e in terminal]
    assert events[-1]["type"] == TERMINAL[status]
    for event in events if started else events[1:]:
        for key, details in event.items():
            if not key.endswith("EventDetails"):
                continue
            for field in ("input", "output", "parameters"):
                text = details.get(field)
                if (details.get(field + "Details") or {}).get("truncated"):
                    assert text == "", (event["type"], field)
                elif isinstance(text, str):
                    size = len(text.encode("utf-8", "surrogatepass"))
                    assert size <= limits.payload_bytes, (event["type"], field, size)
                    json.loads(text)  # the history holds JSON, never NaN or Infinity


def _run_in_memory(definition: dict, data: object) -> tuple[Program, Outcome]:
    program = Program(
        parse(definition), data, clock=VirtualClock(), tasks=FakeTasks(), limits=LIMITS
    )
    watchdog = threading.Timer(WALL_BOUND_S, program.request_stop, ("Watchdog", "too slow"))
    watchdog.daemon = True
    watchdog.start()
    try:
        outcome = program.run()
    finally:
        watchdog.cancel()
    return program, outcome


# -- the properties ---------------------------------------------------------------------------


@fuzz_settings(700)
@given(runnable_machines(), INPUTS)
def test_generated_machines_run_to_one_named_end(definition: dict, data: object) -> None:
    COUNTS["evaluator: machines x inputs run"] += 1
    program, outcome = _run_in_memory(definition, data)
    assert outcome.error != "Watchdog", f"ran past {WALL_BOUND_S} s"
    COUNTS[f"(evaluator: {outcome.status.lower()})"] += 1
    _check_outcome(definition, outcome.status, outcome.error, outcome.cause)
    _check_history(program.events, outcome.status, LIMITS, started=False)
    if outcome.status == "SUCCEEDED":
        json.dumps(outcome.output, allow_nan=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    home: Path = tmp_path_factory.mktemp("fuzz-engine")
    eng = Engine(home, tasks=FakeTasks(), virtual_time=True)
    eng.limits = LIMITS
    return eng


_ENGINE_RUNS = iter(range(10**9))


@fuzz_settings(120)
@given(
    runnable_machines(),
    INPUTS | st.sampled_from(NOT_JSON_INPUTS),
)
def test_generated_machines_run_durably(engine: Engine, definition: dict, data: object) -> None:
    COUNTS["evaluator: machines x inputs run durably"] += 1
    n = next(_ENGINE_RUNS)
    engine.create_state_machine(f"m{n}", definition)
    try:
        desc = engine.start_execution(f"m{n}", data, name=f"e{n}")
    except EngineError as err:
        # StartExecution refuses what AWS refuses: input that is not JSON, or too big.
        assert err.code in ("InvalidExecutionInput", "ValidationException"), err
        COUNTS["(evaluator: input refused)"] += 1
        return
    status = desc["status"]
    _check_outcome(definition, status, desc.get("error"), desc.get("cause"))
    _check_history(engine.get_execution_history(f"e{n}"), status, LIMITS)


# -- regressions the property found --------------------------------------------------------------


def _silent_retry_machine(jsonata: bool) -> dict:
    """A Map whose every attempt fails before it records an event, retried 'forever'."""
    state: dict = {
        "Type": "Map",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 99999999, "BackoffRate": 1}],
        "End": True,
    }
    if jsonata:
        # Items defaults to the state input; a number is not an array.
        return {"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": state}}
    state["ItemsPath"] = "$.items"
    state["ItemSelector"] = {"v.$": "States.ArrayGetItem($.items, 99)"}
    return {"StartAt": "M", "States": {"M": state}}


@pytest.mark.parametrize("jsonata", [True, False], ids=["jsonata-items", "intrinsic-failure"])
def test_a_retry_loop_that_records_nothing_still_ends_at_the_history_quota(
    jsonata: bool,
) -> None:
    """Found by the property: such a loop re-evaluated its expressions for minutes.

    Each attempt failed (States.QueryEvaluationError; States.IntrinsicFailure) before the
    Map recorded MapStateStarted, so the history quota never filled and MaxAttempts
    99999999 with a virtual clock meant 10^8 silent retries.  Each silent retry now takes a
    place in the quota: the execution ends as a full history does, and soon.
    """
    limits = Limits(history_events=1000)
    data = 5e-324 if jsonata else {"items": [1, 2]}
    program = Program(
        parse(_silent_retry_machine(jsonata)),
        data,
        clock=VirtualClock(),
        tasks=FakeTasks(),
        limits=limits,
    )
    watchdog = threading.Timer(30, program.request_stop, ("Watchdog", "too slow"))
    watchdog.daemon = True
    watchdog.start()
    began = time.perf_counter()
    try:
        outcome = program.run()
    finally:
        watchdog.cancel()
    took = time.perf_counter() - began
    assert outcome.status == "FAILED", outcome
    assert outcome.error == "States.Runtime"
    assert "maximum number of history events (1000)" in (outcome.cause or "")
    assert took < 10, f"{took:.1f} s"
    # The recorded history is unchanged: ExecutionStarted, MapStateEntered, ExecutionFailed.
    assert [e["type"] for e in program.events] == [
        "ExecutionStarted",
        "MapStateEntered",
        "ExecutionFailed",
    ]
    # Three events took places 1-3 of the quota's 1000; the silent retries took the rest.
    assert program.silent_retries == limits.history_events - 3


def test_a_lone_surrogate_in_a_large_payload_is_not_an_internal_error(engine: Engine) -> None:
    """Found by the property: measuring a payload's UTF-8 size raised UnicodeEncodeError
    (``"\\ud800"`` is valid JSON text), and the state failed with an internal error."""
    data = {"a": "\ud800", "pad": "x" * 70_000}  # big enough that its size is measured
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    program, outcome = _run_in_memory(definition, data)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output == data
    _check_history(program.events, "SUCCEEDED", LIMITS)
    engine.create_state_machine("surrogate", definition)
    desc = engine.start_execution("surrogate", data, name="surrogate")
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"]) == data


def test_no_history_event_holds_a_payload_over_the_quota() -> None:
    """Found by the property: a task's 300 KiB result was recorded in
    LambdaFunctionSucceeded before the quota failed the state, and a Parallel's oversized
    branch input (or an oversized execution input) in a StateEntered event."""
    task = {"Type": "Task", "Resource": FN + "fuzz_big", "End": True}
    program, outcome = _run_in_memory({"StartAt": "T", "States": {"T": task}}, {})
    assert outcome.error == "States.DataLimitExceeded"
    assert [e["type"] for e in program.events][-2:] == ["LambdaFunctionFailed", "ExecutionFailed"]
    _check_history(program.events, "FAILED", LIMITS)

    branch = {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}
    parallel = {
        "Type": "Parallel",
        "Parameters": {"a.$": "$.s", "b.$": "$.s"},  # 2 x 200 KiB
        "Branches": [branch],
        "End": True,
    }
    data = {"s": "x" * (200 * 1024)}
    program, outcome = _run_in_memory({"StartAt": "P", "States": {"P": parallel}}, data)
    assert outcome.error == "States.DataLimitExceeded"
    assert "ParallelStateStarted" not in [e["type"] for e in program.events]
    _check_history(program.events, "FAILED", LIMITS)

    big = "y" * (300 * 1024)
    program, outcome = _run_in_memory(branch, big)
    assert outcome.error == "States.DataLimitExceeded"
    entered = program.events[1]["stateEnteredEventDetails"]
    assert entered["input"] == "" and entered["inputDetails"] == {"truncated": True}
    _check_history(program.events, "FAILED", LIMITS, started=False)
