"""One root for the errors the services answer with (``stepline.errors.ServiceError``).

SageMaker's errors (raised by the service layer), the engine's and SendTask*'s Step Functions
refusals, the AWS API's wire errors (any service) and SageMaker Runtime's InvokeEndpoint error
all sit under it, and each keeps the code, status, message and text it had before it joined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepline import errors, sagemaker, serving
from stepline.asl import DefinitionError, StatesError
from stepline.awsapi import AwsError
from stepline.awsapi._jsonproto import error_response
from stepline.awsapi.logs import SERVICE as LOGS
from stepline.awsapi.stepfunctions import SERVICE as SFN
from stepline.engine import Engine, EngineError
from stepline.integrations import callback
from stepline.storage import StorageError


def test_every_service_error_is_under_the_one_root() -> None:
    for cls in (
        errors.SageMakerError,
        errors.ValidationException,
        errors.ResourceInUse,
        errors.ResourceNotFound,
        errors.ResourceLimitExceeded,
        AwsError,
        serving.InvokeError,
        EngineError,
        callback.TokenError,
    ):
        assert issubclass(cls, errors.ServiceError), cls


def test_the_language_and_the_store_keep_their_own_errors() -> None:
    """What errors.py says stays outside: a running execution's error value, the validator's
    findings and the object store's errors are no service's answer."""
    for cls in (StatesError, DefinitionError, StorageError):
        assert not issubclass(cls, errors.ServiceError), cls


def test_engine_error_keeps_its_code_text_and_value_error(home: Path) -> None:
    with pytest.raises(errors.ServiceError) as info:
        Engine(home).describe_state_machine("ghost")
    err = info.value
    assert isinstance(err, EngineError) and isinstance(err, ValueError)
    assert (err.code, err.status, err.message) == (
        "StateMachineDoesNotExist",
        400,
        "no state machine 'ghost'",
    )
    assert str(err) == "StateMachineDoesNotExist: no state machine 'ghost'"


def test_token_error_keeps_its_code_and_bare_text(home: Path) -> None:
    with pytest.raises(errors.ServiceError) as info:
        callback.send_heartbeat("no-such-token")
    err = info.value
    assert isinstance(err, callback.TokenError)
    assert (err.code, err.status) == ("InvalidToken", 400)
    assert str(err) == err.message == "Invalid Token: 'Invalid token'"


def test_aws_error_keeps_its_fields_and_text() -> None:
    err = AwsError("NoSuchKey", "The specified key does not exist.", 404, sender_fault=False)
    assert (err.code, err.message, err.status, err.sender_fault) == (
        "NoSuchKey",
        "The specified key does not exist.",
        404,
        False,
    )
    assert str(err) == "NoSuchKey: The specified key does not exist."
    plain = AwsError("ValidationException", "bad")
    assert (plain.status, plain.sender_fault) == (400, True)


def test_sagemaker_errors_keep_class_codes_and_bare_messages() -> None:
    err = errors.ValidationException.from_errors(["A: too long", "B: missing"])
    assert (err.code, err.status) == ("ValidationException", 400)
    assert str(err) == err.message == "2 validation errors detected: A: too long; B: missing"
    assert errors.SageMakerError("x").code == "AmazonSageMakerException"


def test_invoke_error_keeps_its_fields_and_text() -> None:
    err = serving.InvokeError("ModelError", 424, "the model failed", {"message": "x"})
    assert (err.code, err.status, err.message, err.detail) == (
        "ModelError",
        424,
        "the model failed",
        {"message": "x"},
    )
    assert str(err) == "ModelError: the model failed"


def test_the_json_wire_shape_is_unchanged() -> None:
    resp = error_response(AwsError("ResourceNotFoundException", "gone", 400), "1.1")
    assert resp.status == 400
    assert resp.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert resp.headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(resp.body) == {"__type": "ResourceNotFoundException", "message": "gone"}


def test_one_except_catches_sagemaker_and_wire_errors(home: Path) -> None:
    """What the root is for: a caller of both (a script, the console) needs one ``except``."""
    caught = []
    for call in (
        lambda: sagemaker.call("DescribeModel", {"ModelName": "ghost"}),
        lambda: LOGS.call("GetLogEvents", {"logGroupName": "/nope", "logStreamName": "s"}),
    ):
        with pytest.raises(errors.ServiceError) as info:
            call()
        caught.append((type(info.value), info.value.code, info.value.status))
    assert caught == [
        (errors.ValidationException, "ValidationException", 400),
        (AwsError, "ResourceNotFoundException", 400),
    ]


def test_the_step_functions_api_answers_engine_errors_as_before(home: Path) -> None:
    """The engine's refusal reaches the wire with its code and bare message (not ``code: ``)."""
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    with pytest.raises(AwsError) as info:
        SFN.call(
            "CreateStateMachine",
            {"name": "bad name!", "definition": definition, "roleArn": "arn:aws:iam::0:role/x"},
        )
    assert (info.value.code, info.value.status) == ("InvalidName", 400)
    assert info.value.message.startswith("State machine name 'bad name!' must be 1-80")
