"""Every AWS service the server answers: a plain list, first match wins, one line per service.

Order matters where two services share a SigV4 signing name: SageMaker Runtime
(``POST /endpoints/{name}/invocations``, signed as "sagemaker") comes before SageMaker's JSON
control plane.
"""

from __future__ import annotations

from stepline.awsapi import logs, runtime, s3, sagemaker, stepfunctions, sts
from stepline.awsapi._base import AwsService

SERVICES: list[AwsService] = [
    s3.SERVICE,
    sts.STS,
    sts.IAM,
    logs.SERVICE,
    stepfunctions.SERVICE,
    runtime.SERVICE,
    sagemaker.SERVICE,
]
