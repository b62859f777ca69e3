"""AWS's own Data Science SDK reads, deploys and regenerates what stepline compiles.

Needs ``stepfunctions==2.3.0``, ``sagemaker<3`` and ``setuptools<81`` (its ``pkg_resources``)
in the test environment; imported unconditionally so a missing package fails CI loudly.
"""

from __future__ import annotations

import json
import logging
import os

import boto3
import pytest
from moto import mock_aws

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
_root_level = logging.getLogger().level
import stepfunctions  # noqa: E402
from stepfunctions.steps import Chain as AwsChain  # noqa: E402
from stepfunctions.steps import Pass as AwsPass  # noqa: E402
from stepfunctions.steps.states import FrozenGraph  # noqa: E402
from stepfunctions.steps.states import Graph as AwsGraph  # noqa: E402
from stepfunctions.workflow import Workflow as AwsWorkflow  # noqa: E402

# ``import stepfunctions`` sets the root logger to ERROR; keep other tests' logging intact.
logging.getLogger().setLevel(_root_level)

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pipelines  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from test_golden import GOLDEN, stepline_namespace  # noqa: E402

import stepline.steps as steps  # noqa: E402
from stepline.asl import validate  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/StepFunctionsRole"


def test_installed_version_is_the_one_the_goldens_come_from():
    assert stepfunctions.__version__ == "2.3.0"


@pytest.mark.parametrize("name", sorted(pipelines.PIPELINES))
def test_frozen_graph_round_trips_and_deploys_with_the_ds_sdk(name, monkeypatch):
    ours = steps.Graph(pipelines.PIPELINES[name](stepline_namespace())).to_dict()
    assert validate(ours) == []
    frozen = FrozenGraph.from_json(json.dumps(ours))
    assert frozen.to_dict() == ours
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="us-east-1")
        workflow = AwsWorkflow(
            name=f"golden-{name.replace('_', '-')}", definition=frozen, role=ROLE, client=client
        )
        arn = workflow.create()
        stored = client.describe_state_machine(stateMachineArn=arn)["definition"]
    assert json.loads(stored) == ours
    template = workflow.get_cloudformation_template()
    assert "AWS::StepFunctions::StateMachine" in template


def test_goldens_match_what_the_installed_ds_sdk_generates():
    import make_dssdk_golden

    ns = make_dssdk_golden.dssdk_namespace()
    logging.getLogger().setLevel(_root_level)
    for name, build in pipelines.PIPELINES.items():
        generated = ns.Graph(build(ns)).to_dict()
        assert generated == json.loads((GOLDEN / f"{name}.asl.json").read_text()), name


def test_placeholder_rendering_is_byte_identical():
    aws_input = stepfunctions.inputs.ExecutionInput(schema={"a": str, "n": {"b": int}})
    our_input = steps.ExecutionInput(schema={"a": str, "n": {"b": int}})
    aws = AwsGraph(
        AwsPass("p", parameters={"x": aws_input["a"], "y": [{"z": aws_input["n"]["b"]}]})
    )
    ours = steps.Graph(
        steps.Pass("p", parameters={"x": our_input["a"], "y": [{"z": our_input["n"]["b"]}]})
    )
    assert ours.to_json() == aws.to_json()
    prev = AwsPass("prev")
    assert (
        steps.Pass("q").output()["A"][0]["b"].to_jsonpath()
        == prev.output()["A"][0]["b"].to_jsonpath()
        == "$['A'][0]['b']"
    )


def test_placeholders_from_any_step_are_accepted_where_the_ds_sdk_refuses():
    first, second = AwsPass("First"), AwsPass("Second")
    third = AwsPass("Third", parameters={"x": first.output()["value"]})
    with pytest.raises(ValueError, match="illegal placeholder"):
        AwsGraph(AwsChain([first, second, third]))
    a, b = steps.Pass("First"), steps.Pass("Second")
    c = steps.Pass("Third", parameters={"x": a.output()["value"]})
    definition = steps.Graph(steps.Chain([a, b, c])).to_dict()
    assert definition["States"]["Third"]["Parameters"] == {"x.$": "$['value']"}
