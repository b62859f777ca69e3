"""SageMaker as Task resources: ``arn:aws:states:::sagemaker:<action>[.sync]``, through the
SageMaker service layer (:mod:`stepline.sagemaker`).

Actions, as Step Functions' optimized integration has them: ``createTrainingJob``,
``createProcessingJob``, ``createTransformJob`` and ``createHyperParameterTuningJob`` (each
also ``.sync``), ``createModel``, ``createEndpointConfig``, ``createEndpoint`` and
``updateEndpoint`` (no ``.sync`` form on AWS; endpoints are polled with the AWS SDK
integration's ``describeEndpoint``, :mod:`stepline.integrations.aws_sdk`).

As on AWS:

* the request form returns the Create response (``{"TrainingJobArn": ...}``);
* ``.sync`` waits and returns the Describe response (timestamps as epoch milliseconds, as
  Step Functions serialises them); a job that ends ``Failed`` or ``Stopped`` fails the Task
  with ``States.TaskFailed`` and the Describe response as JSON ``Cause``
  (:func:`run_sync`, shared by every job type);
* if the engine abandons a ``.sync`` task (execution stopped, timeout, sibling branch
  failed) the job is stopped;
* API errors become ``SageMaker.<Error>`` (validation errors
  ``SageMaker.AmazonSageMakerException``), so Retry and Catch written for AWS behave the same.

The task token makes Create idempotent, so an engine restarted after a crash reattaches to
the job instead of starting it twice (and a repeated createModel/createEndpointConfig with
the identical request returns the same ARN).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.integrations._params import object_params

if TYPE_CHECKING:
    from stepline.sagemaker import JobType

_RESOURCE = re.compile(r"^arn:[a-z-]+:states:::sagemaker:([A-Za-z]+)(\.sync)?$")
#: Step Functions' SageMaker actions beyond each job type's create action (those come from
#: the service layer's job types: ``createTrainingJob`` ... ``createHyperParameterTuningJob``).
_OTHER_ACTIONS = ("createModel", "createEndpointConfig", "createEndpoint", "updateEndpoint")


@functools.cache
def _actions() -> frozenset[str]:
    """Every ``sagemaker:`` action this integration runs."""
    from stepline import sagemaker

    creates = (job.create_operation for job in sagemaker.JOB_TYPES.values())
    return frozenset((*_OTHER_ACTIONS, *(op[0].lower() + op[1:] for op in creates)))


def _match(resource: str) -> re.Match[str] | None:
    """The resource's (action, ``.sync``) match, when it is one of :func:`_actions`."""
    match = _RESOURCE.match(resource)
    return match if match is not None and match.group(1) in _actions() else None


def to_sfn_json(value: Any) -> Any:
    """A SageMaker response as Step Functions passes it on: timestamps in epoch ms."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: to_sfn_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_sfn_json(v) for v in value]
    return value


def error_name(code: str) -> str:
    """The Task error Step Functions reports for SageMaker's error ``code``."""
    if code == "ValidationException":
        return "SageMaker.AmazonSageMakerException"
    return f"SageMaker.{code if code.endswith('Exception') else code + 'Exception'}"


def api_error(exc: Any) -> StatesError:
    """A :class:`~stepline.sagemaker.SageMakerError` as Step Functions' Task failure."""
    cause = (
        f"{exc.message} (Service: AmazonSageMaker; Status Code: {exc.status}; "
        f"Error Code: {exc.code}; Request ID: {uuid.uuid4()}; Proxy: null)"
    )
    return StatesError(error_name(exc.code), cause, in_state=False)


def run_sync(job: Any, name: str, cancel: threading.Event | None) -> dict[str, Any]:
    """The ``.sync`` wait of every job type: block until the job ends; its Describe response,
    or ``States.TaskFailed`` when it failed or stopped; stop it if the engine gives up."""
    from stepline import sagemaker

    status = job.wait(name, cancel)
    if status not in sagemaker.TERMINAL:
        # Abandoned by the engine: Step Functions stops the job (best effort).
        try:
            job.stop(name)
        except sagemaker.SageMakerError:
            pass
        raise StatesError("States.TaskFailed", "The task was cancelled", in_state=False)
    described = to_sfn_json(job.describe(name))
    if status != "Completed":
        raise StatesError("States.TaskFailed", json.dumps(described), in_state=False)
    return described


class SageMakerIntegration:
    """Every ``arn:aws:states:::sagemaker:*`` resource, through the service layer."""

    #: The resources it runs, for the router's error on an unknown one.
    family = "arn:aws:states:::sagemaker:create*Job[.sync], createModel, createEndpoint ..."

    def matches(self, resource: str) -> bool:
        return _match(resource) is not None

    def invoke(self, request: TaskRequest) -> Any:
        from stepline import sagemaker

        match = _match(request.resource)
        assert match is not None
        action, sync = match.group(1), match.group(2) is not None
        operation = action[0].upper() + action[1:]
        job = sagemaker.job_type_of_operation(operation)
        if sync and job is None:
            raise StatesError(
                "States.Runtime",
                f"{request.resource}: sagemaker:{action} has no .sync form",
                in_state=False,
            )
        params = object_params(request)
        try:
            created = sagemaker.call(
                operation,
                params,
                token=request.token,
                coerce_scalars=True,
                cache=request.services.get("cache", True),
            )
            if job is None:
                return created
            name = params[job.name_field]
            response = run_sync(job, name, request.cancel) if sync else created
        except sagemaker.SageMakerError as exc:
            raise api_error(exc) from None
        return _with_cache_note(response, job, name)


def _with_cache_note(response: dict, job: JobType, name: str) -> dict:
    """Say in the Task's output (and so in the history) when a job reused another's outputs."""
    record = job.record(name)  # None for a tuning job (it reuses nothing)
    info = (record.state.get("cache") if record is not None else None) or {}
    if info.get("hit"):
        response = dict(response)
        response["StepLineCache"] = {
            "Hit": True,
            "SourceJob": info["source_job"],
            "Key": info["key"],
        }
    return response
