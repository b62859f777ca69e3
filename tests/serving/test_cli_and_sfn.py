"""The endpoints CLI and the ASL hosting integrations, against a real endpoint."""

from __future__ import annotations

import json

from serving_support import put_model, wait_status
from typer.testing import CliRunner

from stepline.asl import execute
from stepline.cli import app
from stepline.integrations import Router
from stepline.serving import server


def _state_machine() -> dict:
    role = "arn:aws:iam::000000000000:role/sm"
    return {
        "StartAt": "Model",
        "States": {
            "Model": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName.$": "$.name",
                    "PrimaryContainer": {
                        "Image": "linear-serve:1",
                        "ModelDataUrl": "s3://models/sfn/model.tar.gz",
                    },
                    "ExecutionRoleArn": role,
                },
                "ResultPath": "$.model",
                "Next": "Config",
            },
            "Config": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createEndpointConfig",
                "Parameters": {
                    "EndpointConfigName.$": "$.name",
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName.$": "$.name",
                            "InstanceType": "ml.m5.large",
                            "InitialInstanceCount": 1,
                        }
                    ],
                },
                "ResultPath": "$.config",
                "Next": "Endpoint",
            },
            "Endpoint": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createEndpoint",
                "Parameters": {"EndpointName.$": "$.name", "EndpointConfigName.$": "$.name"},
                "ResultPath": "$.endpoint",
                "End": True,
            },
        },
    }


def test_state_machine_creates_endpoint_then_cli_uses_it(serve_image) -> None:
    put_model("s3://models/sfn/model.tar.gz", {"w": 3, "b": 0})
    result = execute(_state_machine(), {"name": "sfn-ep"}, tasks=Router())
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    out = result.output
    assert out["model"] == {"ModelArn": "arn:aws:sagemaker:us-east-1:000000000000:model/sfn-ep"}
    assert out["config"]["EndpointConfigArn"].endswith("endpoint-config/sfn-ep")
    assert out["endpoint"]["EndpointArn"].endswith("endpoint/sfn-ep")
    wait_status("sfn-ep", "InService")

    # A replay (same execution, same task tokens: an engine retry) answers like the first run.
    again = execute(_state_machine(), {"name": "sfn-ep"}, tasks=Router())
    assert again.status == "SUCCEEDED" and again.output == out
    # Another execution creating the same endpoint fails as on AWS.
    other = execute(_state_machine(), {"name": "sfn-ep"}, tasks=Router(), name="other")
    assert other.status == "FAILED"
    assert other.error == "SageMaker.AmazonSageMakerException"

    runner = CliRunner()
    res = runner.invoke(app, ["endpoints", "list"])
    assert res.exit_code == 0 and "sfn-ep" in res.output and "InService" in res.output
    res = runner.invoke(app, ["endpoints", "describe", "sfn-ep", "--json"])
    desc = json.loads(res.output)
    port = server.server_info()["port"]
    assert desc["InvocationUrl"] == f"http://127.0.0.1:{port}/endpoints/sfn-ep/invocations"
    assert desc["EndpointStatus"] == "InService"
    assert desc["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    res = runner.invoke(
        app, ["endpoints", "invoke", "sfn-ep", "--body", "1,2", "--content-type", "text/csv"]
    )
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "9.0"
    res = runner.invoke(app, ["endpoints", "logs", "sfn-ep"])
    assert "InService" in res.output and "[AllTraffic] serving" in res.output
    res = runner.invoke(app, ["server", "--status"])
    assert f"http://127.0.0.1:{port}" in res.output
    res = runner.invoke(app, ["endpoints", "delete", "sfn-ep"])
    assert res.exit_code == 0 and "deleted sfn-ep" in res.output
    res = runner.invoke(app, ["endpoints", "list"])
    assert "sfn-ep" not in res.output
