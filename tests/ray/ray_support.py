"""Request builders for the Ray tests (imported by the test modules)."""

from __future__ import annotations

ROLE = "arn:aws:iam::123456789012:role/FakeSageMakerExecutionRole"


def training_request(name: str, image: str, bucket: str, count: int = 1, **overrides) -> dict:
    req = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": count,
            "VolumeSizeInGB": 1,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }
    req.update(overrides)
    return req


def processing_request(name: str, image: str, count: int = 1, **overrides) -> dict:
    req = {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": image},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": count,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 1,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }
    req.update(overrides)
    return req
