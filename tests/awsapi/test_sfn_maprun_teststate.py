"""Step Functions' DescribeMapRun/ListMapRuns (Distributed Map) and TestState via boto3."""

from __future__ import annotations

import json
import time

import pytest

ROLE = "arn:aws:iam::000000000000:role/sfn"
DMAP = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ToleratedFailureCount": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "Bad"}],
                        "Default": "Good",
                    },
                    "Bad": {"Type": "Fail", "Error": "Three"},
                    "Good": {"Type": "Pass", "End": True},
                },
            },
            "End": True,
        }
    },
}


@pytest.fixture
def sfn(boto3_client):
    return boto3_client("stepfunctions", inject_host_prefix=False)


def test_map_runs_of_a_distributed_map(sfn):
    arn = sfn.create_state_machine(name="dmap", definition=json.dumps(DMAP), roleArn=ROLE)[
        "stateMachineArn"
    ]
    exec_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3, 4]}))[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=exec_arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sfn.describe_execution(executionArn=exec_arn)["status"] == "SUCCEEDED"
    [listed] = sfn.list_map_runs(executionArn=exec_arn)["mapRuns"]
    assert listed["executionArn"] == exec_arn and listed["stateMachineArn"] == arn
    run = sfn.describe_map_run(mapRunArn=listed["mapRunArn"])
    assert run["status"] == "SUCCEEDED"
    assert run["maxConcurrency"] == 2 and run["toleratedFailureCount"] == 1
    counts = run["itemCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (4, 3, 1)
    assert counts["pending"] == counts["running"] == 0
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.describe_map_run(mapRunArn=listed["mapRunArn"].rsplit(":", 1)[0] + ":99999")


def test_test_state_runs_one_state(sfn):
    pass_state = {
        "Type": "Pass",
        "Parameters": {"doubled.$": "States.MathAdd($.x, $.x)"},
        "Next": "After",
    }
    out = sfn.test_state(definition=json.dumps(pass_state), roleArn=ROLE, input='{"x": 4}')
    assert out["status"] == "SUCCEEDED" and out["nextState"] == "After"
    assert json.loads(out["output"]) == {"doubled": 8}

    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "NumericGreaterThan": 3, "Next": "Big"}],
        "Default": "Small",
    }
    out = sfn.test_state(definition=json.dumps(choice), roleArn=ROLE, input='{"x": 1}')
    assert out["nextState"] == "Small"

    fail = {"Type": "Fail", "Error": "Nope", "Cause": "because"}
    out = sfn.test_state(definition=json.dumps(fail), roleArn=ROLE, input="{}")
    assert (out["status"], out["error"], out["cause"]) == ("FAILED", "Nope", "because")

    caught = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
        "Parameters": {"EndpointName": "no-such-endpoint"},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler", "ResultPath": "$.err"}],
        "End": True,
    }
    out = sfn.test_state(definition=json.dumps(caught), roleArn=ROLE, input='{"a": 1}')
    assert (out["status"], out["nextState"]) == ("CAUGHT_ERROR", "Handler")
    assert out["error"] == "SageMaker.ValidationException"
    assert json.loads(out["output"])["err"]["Error"] == "SageMaker.ValidationException"
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.test_state(definition=json.dumps({"Type": "Nope"}), roleArn=ROLE, input="{}")


CALLBACK = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/q",
                "MessageBody": {"TaskToken.$": "$$.Task.Token", "job.$": "$.job"},
            },
            "HeartbeatSeconds": 60,
            "End": True,
        }
    },
}


def _token(sfn, exec_arn: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for event in sfn.get_execution_history(executionArn=exec_arn)["events"]:
            if event["type"] == "TaskScheduled":
                params = json.loads(event["taskScheduledEventDetails"]["parameters"])
                return params["MessageBody"]["TaskToken"]
        time.sleep(0.05)
    raise AssertionError("no TaskScheduled event")


def _settled(sfn, exec_arn: str) -> dict:
    deadline = time.monotonic() + 30
    while (desc := sfn.describe_execution(executionArn=exec_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return desc


def test_wait_for_task_token_answered_through_the_api(sfn):
    arn = sfn.create_state_machine(name="callback", definition=json.dumps(CALLBACK), roleArn=ROLE)[
        "stateMachineArn"
    ]
    first = sfn.start_execution(stateMachineArn=arn, input='{"job": 1}')["executionArn"]
    token = _token(sfn, first)
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"answer": 42}')
    desc = _settled(sfn, first)
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == {"answer": 42}
    with pytest.raises(sfn.exceptions.TaskTimedOut):
        sfn.send_task_success(taskToken=token, output="{}")

    second = sfn.start_execution(stateMachineArn=arn, input='{"job": 2}')["executionArn"]
    token = _token(sfn, second)
    with pytest.raises(sfn.exceptions.InvalidOutput):
        sfn.send_task_success(taskToken=token, output="{nope")
    sfn.send_task_failure(taskToken=token, error="Worker.Crashed", cause="disk full")
    desc = _settled(sfn, second)
    assert (desc["status"], desc["error"], desc["cause"]) == (
        "FAILED",
        "Worker.Crashed",
        "disk full",
    )
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken="not-a-token", output="{}")
