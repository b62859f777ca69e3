"""AWS's quotas are the defaults (issue 10): 256 KiB payloads, 25,000 history events.

Each test performs what succeeded before: an oversized execution input, an oversized state
output, task result and Pass result, an endless loop, and a Retry with an enormous
MaxAttempts.  Both limits are settings (``STEPLINE_MAX_PAYLOAD_BYTES``,
``STEPLINE_MAX_HISTORY_EVENTS``), and raising them lets the same runs through.
"""

from __future__ import annotations

import json

import pytest

from stepline.asl import Limits, execute
from stepline.engine import Engine, EngineError
from stepline.integrations import register_function

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
BIG = "x" * (256 * 1024)  # with its quotes, one string is already over 256 KiB


def pass_machine(**fields: object) -> dict:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", **fields, "End": True}}}


def endless_loop() -> dict:
    # A Choice that never picks its way out: 2 events per state, forever.
    return {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.never", "IsPresent": True, "Next": "Done"}],
                "Default": "A",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def test_limits_default_to_aws_quotas(monkeypatch) -> None:
    monkeypatch.delenv("STEPLINE_MAX_PAYLOAD_BYTES", raising=False)
    monkeypatch.delenv("STEPLINE_MAX_HISTORY_EVENTS", raising=False)
    limits = Limits.from_config()
    assert (limits.payload_bytes, limits.history_events) == (262144, 25000)


def test_limits_are_configurable_in_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("STEPLINE_MAX_PAYLOAD_BYTES", "1048576")
    monkeypatch.setenv("STEPLINE_MAX_HISTORY_EVENTS", "100000")
    limits = Limits.from_config()
    assert (limits.payload_bytes, limits.history_events) == (1048576, 100000)


def test_a_bad_limit_setting_is_named(monkeypatch) -> None:
    from stepline.config import ConfigError

    monkeypatch.setenv("STEPLINE_MAX_PAYLOAD_BYTES", "lots")
    with pytest.raises(ConfigError, match="STEPLINE_MAX_PAYLOAD_BYTES"):
        Limits.from_config()


def test_state_output_over_256_kib_fails_with_data_limit_exceeded() -> None:
    definition = pass_machine(Parameters={"big.$": "$.s", "more.$": "$.s"})
    result = execute(definition, {"s": "y" * (150 * 1024)})
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"
    assert "'P'" in result.cause


def test_pass_result_over_256_kib_fails() -> None:
    result = execute(pass_machine(Result={"big": BIG}))
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"


def test_task_result_over_256_kib_fails_and_is_not_caught_by_states_all() -> None:
    register_function("bigresult", lambda event: {"big": BIG})
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN + "bigresult",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    result = execute(definition)
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"


def test_a_raised_payload_limit_lets_the_same_output_through() -> None:
    definition = pass_machine(Parameters={"big.$": "$.s", "more.$": "$.s"})
    result = execute(
        definition, {"s": "y" * (150 * 1024)}, limits=Limits(payload_bytes=1024 * 1024)
    )
    assert result.status == "SUCCEEDED"


def test_start_execution_refuses_input_over_256_kib(tmp_path) -> None:
    engine = Engine(tmp_path, virtual_time=True)
    engine.create_state_machine("m", pass_machine())
    with pytest.raises(EngineError) as info:
        engine.start_execution("m", {"big": BIG}, name="too-big")
    assert info.value.code == "ValidationException"
    assert "less than or equal to 262144" in str(info.value)
    # Nothing was recorded: the store did not grow by the payload.
    assert engine.list_executions("m") == []


def test_start_execution_refuses_input_that_is_not_json(tmp_path) -> None:
    engine = Engine(tmp_path, virtual_time=True)
    engine.create_state_machine("m", pass_machine())
    with pytest.raises(EngineError) as info:
        engine.start_execution("m", {"x": float("nan")}, name="nan")
    assert info.value.code == "InvalidExecutionInput"


def test_an_endless_loop_ends_at_25000_events_as_aws_does() -> None:
    result = execute(endless_loop())
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "maximum number of history events (25000)" in result.cause
    assert len(result.events) == 25000
    assert result.events[-1]["type"] == "ExecutionFailed"
    assert result.events[-1]["id"] == 25000


def test_event_25000_may_be_execution_succeeded() -> None:
    # AWS: "If the event number 25,000 is ExecutionSucceeded, the execution finishes
    # successfully."  ExecutionStarted + 2 events per Pass + ExecutionSucceeded.
    limit = 42
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(19)}
    states["S19"] = {"Type": "Pass", "End": True}
    result = execute({"StartAt": "S0", "States": states}, limits=Limits(history_events=limit))
    assert result.status == "SUCCEEDED"
    assert len(result.events) == limit
    one_more = {**states, "S19": {"Type": "Pass", "Next": "S20"}, "S20": {"Type": "Succeed"}}
    result = execute({"StartAt": "S0", "States": one_more}, limits=Limits(history_events=limit))
    assert result.status == "FAILED"
    assert result.events[-1]["type"] == "ExecutionFailed"


def test_retry_with_enormous_max_attempts_ends_at_the_history_limit() -> None:
    def always_fails(event: dict) -> dict:
        raise ConnectionError("down")

    register_function("alwaysfails", always_fails)
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN + "alwaysfails",
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 99999999}],
                "End": True,
            }
        },
    }
    result = execute(definition, virtual_time=True, limits=Limits(history_events=500))
    assert result.status == "FAILED"
    assert "maximum number of history events (500)" in result.cause
    assert len(result.events) == 500


def test_retry_back_off_cannot_overflow() -> None:
    import random

    from stepline.asl.states.base import MAX_RETRY_DELAY, Retrier

    retrier = Retrier({"ErrorEquals": ["States.ALL"], "MaxAttempts": 99999999, "BackoffRate": 10})
    assert retrier.delay(100000, random.Random(0)) == MAX_RETRY_DELAY


def test_durable_execution_history_is_bounded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEPLINE_MAX_HISTORY_EVENTS", "200")
    engine = Engine(tmp_path, virtual_time=True)
    engine.create_state_machine("loop", endless_loop())
    out = engine.start_execution("loop", {}, name="e1")
    assert out["status"] == "FAILED"
    assert out["error"] == "States.Runtime"
    history = engine.get_execution_history("e1")
    assert len(history) == 200
    assert history[-1]["type"] == "ExecutionFailed"
    assert json.loads(engine.describe_execution("e1")["input"]) == {}


def test_a_task_result_that_is_not_json_fails_instead_of_printing_nan() -> None:
    register_function("nanresult", lambda event: {"x": float("nan")})
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": FN + "nanresult", "End": True}},
    }
    result = execute(definition)
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "not valid JSON" in result.cause
    assert all("NaN" not in json.dumps(e) for e in result.events)
