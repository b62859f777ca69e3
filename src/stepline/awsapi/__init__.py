"""AWS's wire protocols on ``stepline server``: AWS's own clients (boto3, the AWS CLI, the
SageMaker Python SDK, the Step Functions Data Science SDK) talk to stepline unmodified.

Service modules implement :class:`~stepline.awsapi._base.AwsService` and are listed in
``_registry.SERVICES``.
"""

from stepline.awsapi._auth import credentials
from stepline.awsapi._base import AwsError, AwsRequest, AwsResponse, AwsService
from stepline.awsapi.environment import client_environment, default_bucket

__all__ = [
    "AwsError",
    "AwsRequest",
    "AwsResponse",
    "AwsService",
    "client_environment",
    "credentials",
    "default_bucket",
]
