"""The SageMaker service layer: operations by AWS name, shapes botocore reads back,
SageMaker's errors, job kinds as data, and ``stepline jobs`` over every kind."""

from __future__ import annotations

import json
from datetime import datetime

import botocore.parsers
import pytest
from layer_support import ROLE, training

from stepline import sagemaker
from stepline.awsapi._jsonproto import service_model, to_wire, unknown_members
from stepline.cli import main
from stepline.jobs.kinds import KINDS
from support.job_requests import tuning_definition


def _round_trip(operation: str, response: dict) -> dict:
    """``response`` on the wire (JsonService's encoding) and back through botocore's parser."""
    shape = service_model("sagemaker").operation_model(operation).output_shape
    assert unknown_members(shape, response) == [], operation
    body = json.dumps(to_wire(shape, response)).encode()
    parser = botocore.parsers.create_parser("json")
    parsed = parser.parse({"status_code": 200, "headers": {}, "body": body}, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def _same(a, b) -> None:
    """Equal, timestamps compared to the millisecond (the wire's precision)."""
    if isinstance(a, datetime):
        assert abs(a.timestamp() - b.timestamp()) < 0.001
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


def test_job_kinds_are_data_that_match_botocore() -> None:
    model = service_model("sagemaker")
    for job in sagemaker.JOB_TYPES.values():
        for operation in job.operations:
            assert operation in model.operation_names
        describe = model.operation_model(f"Describe{job.label}Job").output_shape
        assert {job.name_field, job.arn_field, job.status_field} <= set(describe.members)
        assert sagemaker.job_type_of_operation(f"Create{job.label}Job") is job
    assert set(sagemaker.JOB_TYPES) == {*KINDS, "tuning"}
    assert KINDS["training"].image({"AlgorithmSpecification": {"TrainingImage": "i"}}) == "i"
    assert KINDS["transform"].image({}) is None


def test_training_job_through_the_layer_round_trips(image) -> None:
    created = sagemaker.call("CreateTrainingJob", training("lay-1", image))
    assert created == {
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:000000000000:training-job/lay-1"
    }
    job = sagemaker.job_type("training")
    assert job.wait("lay-1", None) == "Completed"
    desc = sagemaker.call("DescribeTrainingJob", {"TrainingJobName": "lay-1"})
    _same(desc, _round_trip("DescribeTrainingJob", desc))
    listed = sagemaker.call("ListTrainingJobs", {})
    _same(listed, _round_trip("ListTrainingJobs", listed))
    assert listed["TrainingJobSummaries"][0]["TrainingJobName"] == "lay-1"
    with pytest.raises(sagemaker.ValidationException, match="is in status Completed"):
        sagemaker.call("StopTrainingJob", {"TrainingJobName": "lay-1"})


def test_errors_are_sagemakers() -> None:
    with pytest.raises(sagemaker.ValidationException) as err:
        sagemaker.call("DescribeTrainingJob", {"TrainingJobName": "ghost"})
    assert err.value.message == "Requested resource not found."
    with pytest.raises(sagemaker.ValidationException) as err:
        sagemaker.call("DescribeTransformJob", {"TransformJobName": "ghost"})
    assert err.value.message == "Could not find requested job with name ghost"
    with pytest.raises(sagemaker.ResourceNotFound):
        sagemaker.call("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "g"})
    with pytest.raises(sagemaker.ValidationException) as err:
        sagemaker.call("DescribeEndpoint", {"EndpointName": "ghost"})
    assert err.value.message.startswith('Could not find endpoint "arn:aws:sagemaker:us-east-1:')
    with pytest.raises(sagemaker.ValidationException) as err:  # one message, one builder
        sagemaker.call("ListModels", {"MaxResults": 0, "SortOrder": "Sideways"})
    assert err.value.message.startswith("2 validation errors detected: MaxResults: 0 is less")
    with pytest.raises(sagemaker.ValidationException, match="Invalid pagination token"):
        sagemaker.call("ListModels", {"NextToken": "%%%"})


def test_models_configs_idempotent_for_a_task_token(image) -> None:
    model = {
        "ModelName": "m1",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": "s3://bucket/m.tar.gz"},
    }
    arn = sagemaker.call("CreateModel", model)["ModelArn"]
    # A retried Task (same token, identical request) gets the same ARN back ...
    assert sagemaker.call("CreateModel", model, token="t")["ModelArn"] == arn
    # ... anything else is SageMaker's "already existing" error.
    with pytest.raises(sagemaker.ValidationException, match="Cannot create already existing"):
        sagemaker.call("CreateModel", model)
    changed = {**model, "PrimaryContainer": {"Image": image}}
    with pytest.raises(sagemaker.ValidationException, match="Cannot create already existing"):
        sagemaker.call("CreateModel", changed, token="t")
    desc = sagemaker.call("DescribeModel", {"ModelName": "m1"})
    _same(desc, _round_trip("DescribeModel", desc))
    for i in range(3):
        sagemaker.call("CreateModel", {**model, "ModelName": f"page-{i}"})
    first = sagemaker.call("ListModels", {"NameContains": "page", "MaxResults": 2})
    assert [m["ModelName"] for m in first["Models"]] == ["page-2", "page-1"]
    rest = sagemaker.call("ListModels", {"NameContains": "page", "NextToken": first["NextToken"]})
    assert [m["ModelName"] for m in rest["Models"]] == ["page-0"] and "NextToken" not in rest


def _tuning(name: str, image: str) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "CategoricalParameterRanges": [{"Name": "x", "Values": ["0.3", "1"]}]
            },
        },
        "TrainingJobDefinition": tuning_definition(
            image, role=ROLE, metric_regex=r"loss=([0-9.]+)"
        ),
    }


def test_cli_covers_tuning_jobs(image, capsys) -> None:
    sagemaker.call("CreateHyperParameterTuningJob", _tuning("tune-1", image))
    assert sagemaker.job_type("tuning").wait("tune-1", None) == "Completed"
    desc = sagemaker.call(
        "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "tune-1"}
    )
    _same(desc, _round_trip("DescribeHyperParameterTuningJob", desc))
    assert desc["BestTrainingJob"]["TunedHyperParameters"] == {"x": "0.3"}
    children = sagemaker.call(
        "ListTrainingJobsForHyperParameterTuningJob",
        {"HyperParameterTuningJobName": "tune-1", "MaxResults": 1},
    )
    assert len(children["TrainingJobSummaries"]) == 1 and children["NextToken"]

    main(["jobs", "list", "--kind", "tuning"])
    out = capsys.readouterr().out
    assert "tune-1" in out and "tuning" in out and "Completed" in out
    main(["jobs", "list", "--json"])
    kinds = {row["Kind"] for row in json.loads(capsys.readouterr().out)}
    assert kinds == {"tuning", "training"}
    main(["jobs", "describe", "tune-1"])
    text = capsys.readouterr().out
    assert "tuning job tune-1  Completed" in text and "x = 0.3" in text
    main(["jobs", "describe", "tune-1", "--json"])
    assert json.loads(capsys.readouterr().out)["HyperParameterTuningJobName"] == "tune-1"
    main(["jobs", "logs", "tune-1"])
    assert "loss=0.000000" in capsys.readouterr().out  # the trials' logs follow the driver's
    child = desc["BestTrainingJob"]["TrainingJobName"]
    main(["jobs", "logs", child, "--kind", "training"])
    assert "loss=0.000000" in capsys.readouterr().out
