"""The Step Functions API on ``stepline server``, driven by boto3 (AWS's own client)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/sfn"
PASS = {
    "StartAt": "Greet",
    "States": {
        "Greet": {"Type": "Pass", "Parameters": {"hello.$": "$.who"}, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
WAIT = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": True}}}
FAIL = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "E", "Cause": "c"}}}


@pytest.fixture
def sfn(boto3_client):
    return boto3_client("stepfunctions")


def _machine(sfn, name: str, definition: dict, **extra: Any) -> str:
    return sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE, **extra
    )["stateMachineArn"]


def _finish(sfn, arn: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING" or time.monotonic() > deadline:
            return desc
        time.sleep(0.05)


def test_state_machine_lifecycle_and_aws_errors(sfn, aws_env):
    arn = _machine(sfn, "life", PASS, tags=[{"key": "team", "value": "ml"}])
    assert arn == "arn:aws:states:us-east-1:000000000000:stateMachine:life"
    # The same request again is idempotent, as on AWS; a different one is refused with the
    # message the Data Science SDK parses the ARN out of.
    assert _machine(sfn, "life", PASS) == arn
    with pytest.raises(sfn.exceptions.StateMachineAlreadyExists) as err:
        _machine(sfn, "life", WAIT)
    assert err.value.response["Error"]["Message"] == f"State Machine Already Exists: '{arn}'"
    assert err.value.response["Error"]["Message"].split("'")[1] == arn

    desc = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(desc["definition"]) == PASS
    assert desc["roleArn"] == ROLE and desc["type"] == "STANDARD" and desc["status"] == "ACTIVE"
    assert desc["creationDate"].year >= 2025
    names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    assert "life" in names

    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(FAIL))
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == FAIL
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "ml"}]
    sfn.untag_resource(resourceArn=arn, tagKeys=["team"])
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "k", "value": "v"}]

    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist) as err:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert err.value.response["Error"]["Message"] == f"State Machine Does Not Exist: '{arn}'"
    with pytest.raises(sfn.exceptions.InvalidArn):
        sfn.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:000000000000:x:y")


def test_invalid_definition_and_validation(sfn):
    bad = {"StartAt": "Missing", "States": {"A": {"Type": "Pass", "End": True}}}
    with pytest.raises(sfn.exceptions.InvalidDefinition) as err:
        _machine(sfn, "bad", bad)
    assert err.value.response["Error"]["Message"].startswith("Invalid State Machine Definition:")
    result = sfn.validate_state_machine_definition(definition=json.dumps(bad))
    assert result["result"] == "FAIL" and result["diagnostics"][0]["severity"] == "ERROR"
    ok = sfn.validate_state_machine_definition(definition=json.dumps(PASS))
    assert ok["result"] == "OK" and ok["diagnostics"] == []
    with pytest.raises(ClientError) as err:  # botocore's model: name has a maximum length
        sfn.start_execution(stateMachineArn="x" * 3000)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_execution_runs_in_the_server_and_lands_in_the_store(sfn, aws_env):
    arn = _machine(sfn, "greeter", PASS)
    started = sfn.start_execution(stateMachineArn=arn, name="first", input='{"who": "world"}')
    exec_arn = started["executionArn"]
    assert exec_arn == "arn:aws:states:us-east-1:000000000000:execution:greeter:first"
    desc = _finish(sfn, exec_arn)
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"]) == {"hello": "world"}
    assert desc["stopDate"] >= desc["startDate"]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists) as err:
        sfn.start_execution(stateMachineArn=arn, name="first", input='{"who": "again"}')
    assert err.value.response["Error"]["Message"] == f"Execution Already Exists: '{exec_arn}'"
    with pytest.raises(sfn.exceptions.InvalidExecutionInput):
        sfn.start_execution(stateMachineArn=arn, input="{not json")

    listed = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
    assert [e["executionArn"] for e in listed] == [exec_arn]
    for_exec = sfn.describe_state_machine_for_execution(executionArn=exec_arn)
    assert for_exec["stateMachineArn"] == arn and json.loads(for_exec["definition"]) == PASS

    # The same record the CLI and the console read.
    from stepline.engine import Engine

    local = Engine(aws_env["STEPLINE_HOME"]).describe_execution(exec_arn)
    assert local["status"] == "SUCCEEDED"

    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist) as err:
        sfn.describe_execution(executionArn=exec_arn + "-nope")
    assert err.value.response["Error"]["Message"].startswith("Execution Does Not Exist: '")


def test_history_pages_and_reverse_order(sfn):
    arn = _machine(sfn, "history", PASS)
    exec_arn = sfn.start_execution(stateMachineArn=arn, input='{"who": "h"}')["executionArn"]
    assert _finish(sfn, exec_arn)["status"] == "SUCCEEDED"
    paginator = sfn.get_paginator("get_execution_history")
    pages = list(paginator.paginate(executionArn=exec_arn, PaginationConfig={"PageSize": 2}))
    assert len(pages) >= 3 and all(len(p["events"]) <= 2 for p in pages)
    events = [e for p in pages for e in p["events"]]
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == {"who": "h"}
    backwards = sfn.get_execution_history(executionArn=exec_arn, reverseOrder=True, maxResults=1)
    assert backwards["events"][0]["type"] == "ExecutionSucceeded"
    assert backwards["nextToken"]
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.get_execution_history(executionArn=exec_arn, nextToken="garbage!")


def test_stop_and_redrive(sfn):
    arn = _machine(sfn, "sleeper", WAIT)
    exec_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    time.sleep(0.2)
    sfn.stop_execution(executionArn=exec_arn, error="Halt", cause="test")
    desc = _finish(sfn, exec_arn)
    assert desc["status"] == "ABORTED"
    assert desc["redriveStatus"] == "REDRIVABLE"

    failing = _machine(sfn, "failing", FAIL)
    fail_arn = sfn.start_execution(stateMachineArn=failing)["executionArn"]
    desc = _finish(sfn, fail_arn)
    assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "E", "c")
    assert "redriveDate" in sfn.redrive_execution(executionArn=fail_arn)
    desc = _finish(sfn, fail_arn)
    assert desc["status"] == "FAILED" and desc["redriveCount"] == 1
    types = [e["type"] for e in sfn.get_execution_history(executionArn=fail_arn)["events"]]
    assert "ExecutionRedriven" in types
    ok = sfn.start_execution(stateMachineArn=_machine(sfn, "okay", PASS), input='{"who": 1}')
    _finish(sfn, ok["executionArn"])
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        sfn.redrive_execution(executionArn=ok["executionArn"])


def test_start_sync_execution_for_express(boto3_client):
    # botocore sends StartSyncExecution to a "sync-" host prefix: off for a local endpoint.
    sfn = boto3_client("stepfunctions", inject_host_prefix=False)
    express = _machine(sfn, "express", PASS, type="EXPRESS")
    result = sfn.start_sync_execution(stateMachineArn=express, input='{"who": "sync"}')
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"hello": "sync"}
    standard = _machine(sfn, "standard", PASS)
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=standard, input="{}")
