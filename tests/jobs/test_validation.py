"""Requests are checked against botocore's SageMaker model, errors name the field."""

from __future__ import annotations

import pytest

from stepline import jobs
from stepline.jobs.validation import validate_request
from support.job_requests import processing_request, s3_input

ROLE = "arn:aws:iam::123456789012:role/R"


def _training(**overrides):
    req = {
        "TrainingJobName": "ok-name",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
    }
    req.update(overrides)
    return req


def _error(kind: str, req: dict, **kw) -> str:
    with pytest.raises(jobs.ValidationException) as info:
        jobs.validate(kind, req, **kw)
    return str(info.value)


def test_valid_request_passes_and_local_instance_types_are_allowed():
    assert jobs.validate("training", _training())["TrainingJobName"] == "ok-name"
    for local in ("local", "local_gpu"):
        rc = {"InstanceType": local, "InstanceCount": 1, "VolumeSizeInGB": 1}
        assert jobs.validate("training", _training(ResourceConfig=rc))


def test_instance_count_zero_names_the_field():
    rc = {"InstanceType": "local", "InstanceCount": 0, "VolumeSizeInGB": 1}
    msg = _error("training", _training(ResourceConfig=rc))
    assert "ResourceConfig.InstanceCount: 0 is less than the minimum 1" in msg


def test_model_constraints_required_unknown_enum_pattern_max():
    req = _training(
        TrainingJobName="bad_name",
        Bogus=1,
        StoppingCondition={"MaxRuntimeInSeconds": 0},
        AlgorithmSpecification={"TrainingImage": "i", "TrainingInputMode": "Stream"},
        Environment={"K" * 600: "v"},
    )
    del req["RoleArn"]
    msg = _error("training", req)
    assert msg.startswith("6 validation errors detected")
    assert "RoleArn: is required" in msg
    assert "Bogus: unknown parameter" in msg
    assert "StoppingCondition.MaxRuntimeInSeconds: 0 is less than the minimum 1" in msg
    assert "AlgorithmSpecification.TrainingInputMode: 'Stream' is not one of Pipe, File" in msg
    assert "TrainingJobName: 'bad_name' does not match the pattern" in msg
    assert "length 600 is greater than the maximum 512" in msg


def test_unknown_instance_type_is_rejected():
    rc = {"InstanceType": "ml.m5.huge", "InstanceCount": 1, "VolumeSizeInGB": 1}
    assert "ResourceConfig.InstanceType: 'ml.m5.huge' is not one of" in _error(
        "training", _training(ResourceConfig=rc)
    )


def test_hyperparameters_must_be_strings_unless_coerced_like_step_functions():
    msg = _error("training", _training(HyperParameters={"epochs": 10}))
    assert "HyperParameters.epochs: expected a string, got integer 10" in msg
    req = jobs.validate(
        "training",
        _training(HyperParameters={"epochs": 10, "lr": 0.05, "f": True}),
        coerce_scalars=True,
    )
    assert req["HyperParameters"] == {"epochs": "10", "lr": "0.05", "f": "true"}


def test_java_patterns_are_translated():
    req = processing_request("p", "img", Tags=[{"Key": "project é", "Value": "seed"}])
    assert validate_request("CreateProcessingJob", req)["Tags"][0]["Key"] == "project é"
    req["Tags"] = [{"Key": "bad\x01", "Value": "v"}]
    with pytest.raises(jobs.ValidationException, match=r"Tags\[0\]\.Key"):
        validate_request("CreateProcessingJob", req)


def test_processing_local_rules():
    req = processing_request(
        "p",
        "img",
        ProcessingInputs=[s3_input("raw", "s3://bucket/raw", "/data/raw", S3InputMode="Pipe")],
    )
    msg = _error("processing", req)
    assert "ProcessingInputs[0].S3Input.LocalPath: must start with /opt/ml/processing/" in msg
    assert "ProcessingInputs[0].S3Input.S3InputMode: Pipe mode is not supported" in msg
    req["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 0
    assert "ClusterConfig.InstanceCount: 0 is less than the minimum 1" in _error("processing", req)


def test_transform_requests_are_validated():
    msg = _error("transform", {"TransformJobName": "t", "ModelName": "m"})
    assert "TransformInput: is required" in msg
    assert "TransformOutput: is required" in msg
    assert "TransformResources: is required" in msg
