"""Minimal valid SageMaker job requests; a test overrides only the fields it is about."""

from __future__ import annotations

from typing import Any

ROLE = "arn:aws:iam::123456789012:role/FakeSageMakerExecutionRole"


def training_request(
    name: str,
    image: str,
    *,
    bucket: str = "bucket",
    count: int = 1,
    instance_type: str = "local",
    max_runtime: int = 60,
    **overrides: Any,
) -> dict:
    """A minimal valid CreateTrainingJob request writing its model under ``s3://bucket/models``."""
    req = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": count,
            "VolumeSizeInGB": 1,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    req.update(overrides)
    return req


def processing_request(
    name: str,
    image: str,
    *,
    count: int = 1,
    instance_type: str = "local",
    max_runtime: int = 60,
    **overrides: Any,
) -> dict:
    """A minimal valid CreateProcessingJob request."""
    req = {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": image},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": count,
                "InstanceType": instance_type,
                "VolumeSizeInGB": 1,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    req.update(overrides)
    return req


def s3_input(name: str, uri: str, local: str, **extra: str) -> dict:
    """A ProcessingInput copying the objects under ``uri`` to ``local`` before the job."""
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            **extra,
        },
    }


def s3_output(name: str, uri: str, local: str) -> dict:
    """A ProcessingOutput uploading ``local`` to ``uri`` when the job ends."""
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"},
    }


def tuning_definition(image: str, *, role: str, metric_regex: str) -> dict:
    """A tuning job's TrainingJobDefinition: ``image`` reporting the metric ``loss`` (found
    by ``metric_regex``) on one ml.m5.large, models under ``s3://bucket/tuning``."""
    return {
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": metric_regex}],
        },
        "RoleArn": role,
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/tuning"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
