"""SageMaker-compatible jobs: training and processing jobs run locally, recorded durably.

Public interface (boto3's SageMaker client shapes; requests are validated against the
SageMaker model in botocore)::

    create_training_job(request, token=None) -> {"TrainingJobArn": ...}
    create_processing_job(request, token=None) -> {"ProcessingJobArn": ...}
    create_transform_job(request, token=None)    # run by stepline.serving.transform
    describe_training_job(name) / describe_processing_job(name) / describe_transform_job(name)
    stop_training_job(name) / stop_processing_job(name) / stop_transform_job(name)
    wait(kind, name, cancel=None, timeout=None) -> JobRecord
    list_jobs(kind=None) / follow_logs(kind, name, follow=False) / local_details(record)
    SageMakerError, ValidationException, ResourceInUse, ResourceNotFound

Layers: :mod:`validation` (botocore shapes), :mod:`contract` (the ``/opt/ml`` contract),
:mod:`staging` (store <-> job folder), :mod:`records` (SQLite + ``jobs/<name>/<kind>/``),
:mod:`supervisor` (the detached per-job process), :mod:`service` (the API above);
``runtimes/`` runs the image.
"""

from __future__ import annotations

from stepline.errors import (
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    SageMakerError,
    ValidationException,
)
from stepline.jobs.service import (
    create_job,
    create_processing_job,
    create_training_job,
    create_transform_job,
    describe,
    describe_processing_job,
    describe_training_job,
    describe_transform_job,
    follow_logs,
    get_record,
    list_jobs,
    local_details,
    stop_job,
    stop_processing_job,
    stop_training_job,
    stop_transform_job,
    validate,
    wait,
)

__all__ = [
    "ResourceInUse",
    "ResourceLimitExceeded",
    "ResourceNotFound",
    "SageMakerError",
    "ValidationException",
    "create_job",
    "create_processing_job",
    "create_training_job",
    "create_transform_job",
    "describe",
    "describe_processing_job",
    "describe_training_job",
    "describe_transform_job",
    "follow_logs",
    "get_record",
    "list_jobs",
    "local_details",
    "stop_job",
    "stop_processing_job",
    "stop_training_job",
    "stop_transform_job",
    "validate",
    "wait",
]
