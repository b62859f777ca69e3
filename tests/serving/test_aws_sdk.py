"""The AWS SDK integration's SageMaker describe calls: the usual wait-until-InService loop."""

from __future__ import annotations

from serving_support import make_config, make_model, put_model

from stepline import asl
from stepline.integrations import Router


def test_wait_for_endpoint_in_service_loop(serve_image) -> None:
    put_model("s3://models/sdk/model.tar.gz", {"w": 2, "b": 1})
    make_model("sdk-model", "linear-serve:1", "s3://models/sdk/model.tar.gz")
    make_config("sdk-config", [("AllTraffic", "sdk-model", 1.0)])
    definition = {
        "StartAt": "Create",
        "States": {
            "Create": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createEndpoint",
                "Parameters": {"EndpointName": "sdk", "EndpointConfigName": "sdk-config"},
                "ResultPath": None,
                "Next": "Describe",
            },
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
                "Parameters": {"EndpointName": "sdk"},
                "ResultSelector": {"Status.$": "$.EndpointStatus"},
                "Next": "Ready?",
            },
            "Ready?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.Status", "StringEquals": "InService", "Next": "Model"},
                    {"Variable": "$.Status", "StringEquals": "Failed", "Next": "Broken"},
                ],
                "Default": "Later",
            },
            "Later": {"Type": "Wait", "Seconds": 1, "Next": "Describe"},
            "Broken": {"Type": "Fail", "Error": "EndpointFailed"},
            "Model": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModel",
                "Parameters": {"ModelName": "sdk-model"},
                "OutputPath": "$.PrimaryContainer.ModelDataUrl",
                "End": True,
            },
        },
    }
    result = asl.execute(definition, {}, tasks=Router())
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == "s3://models/sdk/model.tar.gz"
    describes = [
        e
        for e in result.events
        if e["type"] == "TaskScheduled"
        and e["taskScheduledEventDetails"]["resource"] == "sagemaker:describeEndpoint"
    ]
    assert describes, "the loop described the endpoint"
    missing = asl.execute(
        {
            "StartAt": "D",
            "States": {
                "D": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
                    "Parameters": {"EndpointName": "nope"},
                    "End": True,
                }
            },
        },
        {},
        tasks=Router(),
    )
    assert missing.status == "FAILED"
    assert missing.error.startswith("SageMaker.")
    assert "nope" in missing.cause
