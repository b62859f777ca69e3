"""``$$.State.RetryCount`` in Task, Parallel and Map: one Retry/Catch loop, as AWS documents.

AWS's context object ("Accessing execution data from the Context object") has
``State.RetryCount``: the number of retries of the current state, 0 on the first attempt
(the documented example shows ``"RetryCount": 3``).  The AWS-recorded corpus shows that states
without a Retry field have no RetryCount (``$$`` of a Pass state is ``{Name, EnteredTime}``).
Every re-attempt evaluates its fields again and sees the new count, whichever state retries.
"""

from __future__ import annotations

import pytest

from stepline.asl import execute
from stepline.integrations import register_function

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
RETRY = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3}]

# A branch / iteration that fails until it is given n >= 2.
UNTIL_TWO = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericLessThan": 2, "Next": "Boom"}],
            "Default": "Done",
        },
        "Boom": {"Type": "Fail", "Error": "NotYet", "Cause": "n < 2"},
        "Done": {"Type": "Pass", "End": True},
    },
}


def test_task_sees_each_retry_count() -> None:
    seen: list[int] = []

    def fn(event: dict) -> dict:
        seen.append(event["n"])
        if event["n"] < 2:
            raise ConnectionError("not yet")
        return event

    register_function("retrycount", fn)
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN + "retrycount",
                "Parameters": {"n.$": "$$.State.RetryCount"},
                "Retry": RETRY,
                "End": True,
            }
        },
    }
    result = execute(definition, virtual_time=True)
    assert result.status == "SUCCEEDED"
    assert seen == [0, 1, 2]


def test_parallel_sees_each_retry_count() -> None:
    definition = {
        "StartAt": "Par",
        "States": {
            "Par": {
                "Type": "Parallel",
                "Parameters": {"n.$": "$$.State.RetryCount"},
                "Branches": [UNTIL_TWO],
                "Retry": RETRY,
                "End": True,
            }
        },
    }
    result = execute(definition, virtual_time=True)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == [{"n": 2}]
    assert [e["type"] for e in result.events].count("ParallelStateFailed") == 2


def test_map_sees_each_retry_count() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemSelector": {"n.$": "$$.State.RetryCount", "v.$": "$$.Map.Item.Value"},
                "ItemProcessor": UNTIL_TWO,
                "Retry": RETRY,
                "End": True,
            }
        },
    }
    result = execute(definition, ["a", "b"], virtual_time=True)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == [{"n": 2, "v": "a"}, {"n": 2, "v": "b"}]


def test_jsonata_states_see_the_retry_count_in_states_context() -> None:
    definition = {
        "StartAt": "Par",
        "States": {
            "Par": {
                "Type": "Parallel",
                "QueryLanguage": "JSONata",
                "Arguments": {"n": "{% $states.context.State.RetryCount %}"},
                "Branches": [UNTIL_TWO],
                "Retry": RETRY,
                "Output": "{% $states.result[0].n %}",
                "End": True,
            }
        },
    }
    result = execute(definition, virtual_time=True)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == 2


@pytest.mark.parametrize("retry", [True, False])
def test_retry_count_is_present_only_in_states_with_retry(retry: bool) -> None:
    branch = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    state: dict = {
        "Type": "Parallel",
        "Branches": [branch],
        "Parameters": {"ctx.$": "$$.State"},
        "End": True,
    }
    if retry:
        state["Retry"] = RETRY
    result = execute({"StartAt": "S", "States": {"S": state}})
    ctx = result.output[0]["ctx"]
    assert ("RetryCount" in ctx) is retry
    if retry:
        assert ctx["RetryCount"] == 0


def test_the_count_restarts_on_a_new_visit_of_the_state() -> None:
    # A loop re-enters the state: each visit counts its own retries from 0.
    calls: list[int] = []

    def fn(event: dict) -> dict:
        calls.append(event["n"])
        if event["n"] == 0:
            raise ConnectionError("first attempt of each visit fails")
        return {"round": event["round"] + 1}

    register_function("pervisit", fn)
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN + "pervisit",
                "Parameters": {"n.$": "$$.State.RetryCount", "round.$": "$.round"},
                "Retry": RETRY,
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.round", "NumericLessThan": 2, "Next": "T"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    result = execute(definition, {"round": 0}, virtual_time=True)
    assert result.status == "SUCCEEDED"
    assert calls == [0, 1, 0, 1]
