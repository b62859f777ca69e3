"""The reusable JSON-protocol service: requests checked by botocore's model, responses read
back by botocore's own parser (the oracle: what boto3 would see)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import botocore.parsers
import pytest

from stepline.awsapi._base import AwsError, AwsRequest
from stepline.awsapi._jsonproto import JsonService, service_model, to_wire, unknown_members


def _request(target: str, body: object) -> AwsRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return AwsRequest(
        method="POST",
        path="/",
        query=[],
        headers={"content-type": "application/x-amz-json-1.0"},
        body=raw,
        service="states",
        region="us-east-1",
        target=target,
    )


def _parse(service: str, operation: str, response) -> dict:
    shape = service_model(service).operation_model(operation).output_shape
    parser = botocore.parsers.create_parser("json")
    return parser.parse(
        {"status_code": response.status, "headers": response.headers, "body": response.body},
        shape,
    )


WHEN = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)


def _describe(params: dict) -> dict:
    if params["stateMachineArn"].endswith(":missing"):
        raise AwsError(
            "StateMachineDoesNotExist",
            f"State Machine Does Not Exist: '{params['stateMachineArn']}'",
        )
    return {
        "stateMachineArn": params["stateMachineArn"],
        "name": "m",
        "status": "ACTIVE",
        "definition": "{}",
        "roleArn": "arn:aws:iam::000000000000:role/r",
        "type": "STANDARD",
        "creationDate": WHEN,
        "notInTheModel": 1,
    }


SERVICE = JsonService(
    "test", "stepfunctions", "AWSStepFunctions", {"DescribeStateMachine": _describe}
)
ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:m"


def test_response_round_trips_through_botocore_parser() -> None:
    resp = SERVICE.handle(
        _request("AWSStepFunctions.DescribeStateMachine", {"stateMachineArn": ARN})
    )
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/x-amz-json-1.0"
    parsed = _parse("stepfunctions", "DescribeStateMachine", resp)
    assert parsed["creationDate"] == WHEN
    assert parsed["name"] == "m" and parsed["stateMachineArn"] == ARN
    assert "notInTheModel" not in json.loads(resp.body)


def test_errors_in_json_shape_parse_as_aws_errors() -> None:
    resp = SERVICE.handle(
        _request("AWSStepFunctions.DescribeStateMachine", {"stateMachineArn": ARN[:-1] + "missing"})
    )
    assert resp.status == 400
    assert resp.headers["x-amzn-errortype"] == "StateMachineDoesNotExist"
    parsed = _parse("stepfunctions", "DescribeStateMachine", resp)
    assert parsed["Error"]["Code"] == "StateMachineDoesNotExist"
    assert "missing" in parsed["Error"]["Message"]


def test_input_is_checked_against_the_model() -> None:
    resp = SERVICE.handle(_request("AWSStepFunctions.DescribeStateMachine", {"stateMachineArn": 5}))
    body = json.loads(resp.body)
    assert body["__type"] == "ValidationException"
    assert body["message"].startswith(
        "1 validation error detected: stateMachineArn: expected a string"
    )
    resp = SERVICE.handle(_request("AWSStepFunctions.DescribeStateMachine", {}))
    assert json.loads(resp.body)["message"] == (
        "1 validation error detected: stateMachineArn: is required"
    )


def test_unknown_operation_and_bad_json() -> None:
    resp = SERVICE.handle(_request("AWSStepFunctions.ListActivities", {}))
    assert json.loads(resp.body)["__type"] == "UnknownOperationException"
    resp = SERVICE.handle(_request("AWSStepFunctions.DescribeStateMachine", b"{not json"))
    assert json.loads(resp.body)["__type"] == "SerializationException"
    assert SERVICE.accepts(_request("AWSStepFunctions.DescribeStateMachine", {}))
    assert not SERVICE.accepts(_request("SageMaker.DescribeModel", {}))


def test_operations_must_exist_in_the_model() -> None:
    with pytest.raises(ValueError, match="NoSuchOperation"):
        JsonService("x", "stepfunctions", "AWSStepFunctions", {"NoSuchOperation": _describe})


def test_to_wire_helpers() -> None:
    shape = service_model("stepfunctions").operation_model("DescribeStateMachine").output_shape
    assert unknown_members(shape, {"name": "m", "extra": 1}) == ["extra"]
    assert to_wire(shape, {"creationDate": datetime(2026, 1, 1, tzinfo=UTC)}) == {
        "creationDate": 1767225600
    }
