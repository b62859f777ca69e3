"""Behaviour of the in-memory interpreter (``stepline.asl.execute``) beyond the AWS corpus:
tasks, Retry/Catch, timeouts, virtual time, Map/Parallel failure handling, events."""

from __future__ import annotations

import json
import threading
import time

import pytest

from stepline.asl import DefinitionError, execute
from stepline.integrations import register_function, register_state_machine

FN = "arn:aws:lambda:us-east-1:123456789012:function:"


def task(name: str, **extra: object) -> dict:
    return {"Type": "Task", "Resource": FN + name, **extra}


def machine(states: dict, start: str | None = None, **top: object) -> dict:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


@pytest.fixture
def flaky() -> dict:
    """A local function that fails ``fail_times`` times, then succeeds; counts calls."""
    state = {"calls": 0, "fail_times": 2}

    def fn(event: dict) -> dict:
        state["calls"] += 1
        if state["calls"] <= state["fail_times"]:
            raise ConnectionError(f"attempt {state['calls']} failed")
        return {"ok": True, "calls": state["calls"], "event": event}

    register_function("flaky", fn)
    return state


def test_result_contract_and_events_shape() -> None:
    result = execute(machine({"A": {"Type": "Pass", "Result": {"x": 1}, "End": True}}), {"in": 1})
    assert result.status == "SUCCEEDED"
    assert result.output == {"x": 1}
    assert result.error is None and result.cause is None
    types = [e["type"] for e in result.events]
    assert types == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in result.events] == [1, 2, 3, 4]
    assert [e["previousEventId"] for e in result.events] == [0, 1, 2, 3]
    entered = result.events[1]["stateEnteredEventDetails"]
    assert entered["name"] == "A" and json.loads(entered["input"]) == {"in": 1}
    assert result.events[0]["timestamp"].endswith("Z")


def test_invalid_definition_lists_every_problem() -> None:
    bad = machine({"A": {"Type": "Pass", "Next": "Nope"}, "B": {"Type": "Bogus", "End": True}})
    with pytest.raises(DefinitionError) as info:
        execute(bad)
    text = str(info.value)
    assert '/States/A/Next: no state named "Nope"' in text
    assert "/States/B/Type" in text


def test_retry_with_backoff_uses_virtual_time(flaky: dict) -> None:
    retry = [{"ErrorEquals": ["ConnectionError"], "IntervalSeconds": 3600, "MaxAttempts": 3}]
    started = time.monotonic()
    result = execute(
        machine({"T": task("flaky", Retry=retry, End=True)}), {"a": 1}, virtual_time=True
    )
    assert time.monotonic() - started < 5, "virtual time must not sleep for an hour"
    assert result.status == "SUCCEEDED"
    assert result.output["calls"] == 3
    failed = [e for e in result.events if e["type"] == "LambdaFunctionFailed"]
    assert len(failed) == 2
    assert failed[0]["lambdaFunctionFailedEventDetails"]["error"] == "ConnectionError"
    # the back-off doubled: 3600 s then 7200 s between the attempts (virtual timestamps)
    scheduled = [e for e in result.events if e["type"] == "LambdaFunctionScheduled"]
    assert len(scheduled) == 3


def test_retry_exhausted_then_caught(flaky: dict) -> None:
    flaky["fail_times"] = 10
    definition = machine(
        {
            "T": task(
                "flaky",
                Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                Catch=[{"ErrorEquals": ["ConnectionError"], "ResultPath": "$.err", "Next": "H"}],
                End=True,
            ),
            "H": {"Type": "Pass", "End": True},
        }
    )
    result = execute(definition, {"keep": True}, virtual_time=True)
    assert result.status == "SUCCEEDED"
    assert flaky["calls"] == 2
    assert result.output["keep"] is True
    assert result.output["err"]["Error"] == "ConnectionError"
    assert json.loads(result.output["err"]["Cause"])["errorMessage"] == "attempt 2 failed"


def test_uncaught_task_error_fails_execution(flaky: dict) -> None:
    flaky["fail_times"] = 10
    result = execute(machine({"T": task("flaky", End=True)}))
    assert result.status == "FAILED"
    assert result.error == "ConnectionError"
    assert result.events[-1]["type"] == "ExecutionFailed"


def test_states_all_does_not_catch_runtime_errors() -> None:
    definition = machine(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {"v.$": "$.missing"},
                "End": True,
            }
        }
    )
    result = execute(definition, {})
    assert result.status == "FAILED" and result.error == "States.Runtime"
    assert "entered at the event id #2" in result.cause


def test_task_timeout_raises_states_timeout() -> None:
    release = threading.Event()
    register_function("slow", lambda e: release.wait(10) or {"late": True})
    definition = machine(
        {
            "T": task(
                "slow",
                TimeoutSeconds=1,
                Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "Timed"}],
                End=True,
            ),
            "Timed": {"Type": "Pass", "End": True},
        }
    )
    started = time.monotonic()
    result = execute(definition)
    release.set()
    assert 0.9 < time.monotonic() - started < 5
    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "States.Timeout"
    assert any(e["type"] == "LambdaFunctionTimedOut" for e in result.events)


def test_heartbeat_timeout_without_heartbeats() -> None:
    release = threading.Event()
    register_function("silent", lambda e, ctx: release.wait(10) or {})
    definition = machine({"T": task("silent", HeartbeatSeconds=1, TimeoutSeconds=30, End=True)})
    result = execute(definition)
    release.set()
    assert result.status == "FAILED"
    assert result.error == "States.HeartbeatTimeout"


def test_heartbeats_keep_a_task_alive() -> None:
    def beating(event: dict, ctx: object) -> dict:
        for _ in range(6):
            time.sleep(0.3)
            ctx.heartbeat()
        return {"done": True}

    register_function("beating", beating)
    definition = machine({"T": task("beating", HeartbeatSeconds=1, End=True)})
    result = execute(definition)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"done": True}


def test_long_wait_is_instant_with_virtual_time() -> None:
    definition = machine(
        {"W": {"Type": "Wait", "Seconds": 86400 * 365, "Next": "D"}, "D": {"Type": "Succeed"}}
    )
    started = time.monotonic()
    result = execute(definition, {"a": 1}, virtual_time=True)
    assert time.monotonic() - started < 2
    assert result.status == "SUCCEEDED" and result.output == {"a": 1}


def test_execution_timeout() -> None:
    definition = machine({"W": {"Type": "Wait", "Seconds": 100, "End": True}}, TimeoutSeconds=10)
    result = execute(definition, virtual_time=True)
    assert result.status == "TIMED_OUT"
    assert result.error == "States.Timeout"
    assert result.events[-1]["type"] == "ExecutionTimedOut"


def test_data_limit_on_task_result() -> None:
    register_function("big", lambda e: {"blob": "x" * (300 * 1024)})
    result = execute(machine({"T": task("big", End=True)}))
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"


def test_lambda_invoke_wraps_payload() -> None:
    register_function("double", lambda e: {"v": e["v"] * 2})
    definition = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "double", "Payload": {"v.$": "$.x"}},
                "ResultSelector": {"v.$": "$.Payload.v"},
                "End": True,
            }
        }
    )
    result = execute(definition, {"x": 21})
    assert result.output == {"v": 42}
    assert any(e["type"] == "TaskSucceeded" for e in result.events)


def test_unknown_function_names_the_registration_call() -> None:
    result = execute(machine({"T": task("nobody-registered-this", End=True)}))
    assert result.status == "FAILED"
    assert result.error == "Lambda.ResourceNotFoundException"
    assert "register_function" in result.cause


def test_an_unknown_resource_names_every_registered_family() -> None:
    """The router's error lists what each registered integration runs (its ``family``), so
    a new integration shows up there without an edit to the router."""
    from stepline.integrations import INTEGRATIONS

    resource = "arn:aws:states:::dynamodb:putItem"
    result = execute(machine({"T": {"Type": "Task", "Resource": resource, "End": True}}))
    assert result.status == "FAILED" and result.error == "States.Runtime"
    assert f"No integration is registered for resource '{resource}'" in result.cause
    for integration in INTEGRATIONS:
        assert integration.family in result.cause
    assert "sagemaker:create*Job" in result.cause and "aws-sdk:s3" in result.cause


def test_map_concurrency_is_respected() -> None:
    lock = threading.Lock()
    seen = {"now": 0, "peak": 0}

    def work(event: dict) -> int:
        with lock:
            seen["now"] += 1
            seen["peak"] = max(seen["peak"], seen["now"])
        time.sleep(0.05)
        with lock:
            seen["now"] -= 1
        return event * 10

    register_function("work", work)
    definition = machine(
        {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 3,
                "ItemProcessor": {"StartAt": "W", "States": {"W": task("work", End=True)}},
                "End": True,
            }
        }
    )
    result = execute(definition, list(range(12)))
    assert result.output == [i * 10 for i in range(12)]
    assert seen["peak"] == 3


def test_map_tolerated_failures() -> None:
    def maybe(event: int) -> int:
        if event % 4 == 0:
            raise ValueError(f"bad {event}")
        return event

    register_function("maybe", maybe)

    def run(tolerated: int) -> object:
        definition = machine(
            {
                "M": {
                    "Type": "Map",
                    "ToleratedFailureCount": tolerated,
                    "ItemProcessor": {"StartAt": "W", "States": {"W": task("maybe", End=True)}},
                    "End": True,
                }
            }
        )
        return execute(definition, list(range(8)))

    ok = run(2)
    assert ok.status == "SUCCEEDED"
    assert ok.output[1] == 1 and ok.output[0]["Error"] == "ValueError"
    failed = run(1)
    assert failed.status == "FAILED"
    assert failed.error == "States.ExceedToleratedFailureThreshold"


def test_parallel_branch_failure_aborts_siblings_and_is_caught() -> None:
    started = threading.Event()
    register_function("hang", lambda e, ctx: started.set() or ctx.cancelled.wait(10) or "x")
    register_function("boom", lambda e: started.wait(5) and (_ for _ in ()).throw(KeyError("k")))
    definition = machine(
        {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "H", "States": {"H": task("hang", End=True)}},
                    {"StartAt": "B", "States": {"B": task("boom", End=True)}},
                ],
                "Catch": [{"ErrorEquals": ["KeyError"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        }
    )
    begun = time.monotonic()
    result = execute(definition)
    assert time.monotonic() - begun < 5, "the hanging branch must be aborted, not awaited"
    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "KeyError"
    types = [e["type"] for e in result.events]
    assert "ParallelStateFailed" in types


def test_map_variables_are_scoped_to_iterations() -> None:
    definition = machine(
        {
            "Init": {"Type": "Pass", "Assign": {"outer": 5}, "Next": "M"},
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "In",
                    "States": {
                        "In": {
                            "Type": "Pass",
                            "Parameters": {"sum.$": "States.MathAdd($outer, $)"},
                            "Assign": {"inner.$": "$"},
                            "End": True,
                        }
                    },
                },
                "Next": "After",
            },
            "After": {
                "Type": "Pass",
                "Parameters": {"outer.$": "$outer", "results.$": "$"},
                "End": True,
            },
        }
    )
    result = execute(definition, [1, 2, 3])
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"outer": 5, "results": [{"sum": 6}, {"sum": 7}, {"sum": 8}]}


def test_jsonata_task_arguments_and_output() -> None:
    register_function("add", lambda e: {"sum": e["a"] + e["b"]})
    definition = machine(
        {
            "T": task(
                "add",
                Arguments={"a": "{% $states.input.x %}", "b": 2},
                Output={"total": "{% $states.result.sum %}", "seen": "{% $states.input.x %}"},
                Assign={"kept": "{% $states.result.sum * 10 %}"},
                Next="P",
            ),
            "P": {"Type": "Pass", "Output": "{% $kept %}", "End": True},
        },
        QueryLanguage="JSONata",
    )
    result = execute(definition, {"x": 40})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == 420


def test_nested_execution_sync() -> None:
    child = machine({"C": {"Type": "Pass", "Parameters": {"child.$": "$.v"}, "End": True}})
    arn = register_state_machine("child-machine", child)
    definition = machine(
        {
            "S": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": arn, "Input": {"v.$": "$.v"}},
                "OutputPath": "$.Output",
                "End": True,
            }
        }
    )
    result = execute(definition, {"v": 7})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"child": 7}


def test_no_choice_matched() -> None:
    definition = machine(
        {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "D"}],
            },
            "D": {"Type": "Succeed"},
        }
    )
    result = execute(definition, {"v": 2})
    assert result.status == "FAILED" and result.error == "States.NoChoiceMatched"
