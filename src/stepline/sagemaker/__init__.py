"""One SageMaker service layer: every caller reaches SageMaker's operations here.

The Step Functions integrations, the CLI, the console and the JSON API on ``stepline server``
call operations by their AWS names::

    from stepline import sagemaker
    sagemaker.call("CreateTrainingJob", request, token=None)   # -> {"TrainingJobArn": ...}
    sagemaker.call("DescribeEndpoint", {"EndpointName": "ep"})

Requests are checked once against botocore's SageMaker model (plus what SageMaker enforces
server-side and what stepline cannot run); responses have boto3's shapes; errors are
:class:`SageMakerError` subclasses with SageMaker's codes and messages (a missing resource
is ``ValidationException`` "Could not find ...", as AWS answers); ARNs use the configured
account and region (:func:`stepline.config.arn`).

Job types (training, processing, transform, tuning) are data (:data:`JOB_TYPES`): the
``.sync`` wait, the CLI and List* treat them alike.

Beside the operations, what the CLI, the console and the AWS API show that SageMaker's API
has no operation for (:mod:`._extras`): :func:`list_all` pages, the server's port and an
endpoint's address, counters, per-minute series and logs, the log files of jobs and model
servers (:func:`job_logs`, :func:`endpoint_instance_logs`, CloudWatch's streams), and
SageMaker Runtime's :func:`invoke_endpoint`; a job type's ``record``/``local`` give stepline's
own record of a job.  :func:`check_shape` is the one request validation against botocore's
models, shared with the AWS API's other JSON services.
"""

from __future__ import annotations

from stepline.errors import (
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    SageMakerError,
    ValidationException,
)
from stepline.jobs.validation import check_shape
from stepline.sagemaker._extras import (
    InstanceLog,
    InvokeError,
    JobLog,
    endpoint_instance_logs,
    endpoint_logs,
    endpoint_metrics,
    endpoint_stats,
    explain_cache,
    find_jobs,
    invocation_url,
    invoke_endpoint,
    job_logs,
    job_overviews,
    list_all,
    server_port,
    server_url,
    wait_endpoint_deleted,
)
from stepline.sagemaker._jobtypes import JOB_TYPES, JobType, job_type
from stepline.sagemaker._operations import (
    OPERATIONS,
    TERMINAL,
    Context,
    call,
    job_type_of_operation,
    list_page,
)

__all__ = [
    "JOB_TYPES",
    "OPERATIONS",
    "TERMINAL",
    "Context",
    "InstanceLog",
    "InvokeError",
    "JobLog",
    "JobType",
    "ResourceInUse",
    "ResourceLimitExceeded",
    "ResourceNotFound",
    "SageMakerError",
    "ValidationException",
    "call",
    "check_shape",
    "endpoint_instance_logs",
    "endpoint_logs",
    "endpoint_metrics",
    "endpoint_stats",
    "explain_cache",
    "find_jobs",
    "invocation_url",
    "invoke_endpoint",
    "job_logs",
    "job_overviews",
    "job_type",
    "job_type_of_operation",
    "list_all",
    "list_page",
    "server_port",
    "server_url",
    "wait_endpoint_deleted",
]
