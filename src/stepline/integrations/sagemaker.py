"""SageMaker jobs as Task resources: ``arn:aws:states:::sagemaker:create{Training,Processing,
Transform}Job`` and their ``.sync`` forms.

As on AWS: the request form returns the Create response; ``.sync`` waits and returns the
Describe response (timestamps as epoch milliseconds, as Step Functions serialises them); a
job that ends ``Failed`` or ``Stopped`` fails the Task with ``States.TaskFailed`` and the
Describe response as JSON ``Cause``; API errors become ``SageMaker.<Error>`` (validation
errors ``SageMaker.AmazonSageMakerException``), so Retry and Catch written for AWS behave the
same.  If the engine abandons a ``.sync`` task (execution stopped, timeout, sibling branch
failed) the job is stopped, as Step Functions does.  The task token makes Create idempotent,
so an engine restarted after a crash reattaches to the job instead of starting it twice.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest

_RESOURCE = re.compile(
    r"^arn:[a-z-]+:states:::sagemaker:create(Training|Processing|Transform)Job(\.sync)?$"
)
_KINDS = {"Training": "training", "Processing": "processing", "Transform": "transform"}


def _to_sfn_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _to_sfn_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_sfn_json(v) for v in value]
    return value


def _error_name(code: str) -> str:
    if code == "ValidationException":
        return "SageMaker.AmazonSageMakerException"
    return f"SageMaker.{code if code.endswith('Exception') else code + 'Exception'}"


class SageMakerIntegration:
    """Runs SageMaker jobs locally through :mod:`stepline.jobs`."""

    def matches(self, resource: str) -> bool:
        return bool(_RESOURCE.match(resource))

    def invoke(self, request: TaskRequest) -> Any:
        from stepline import jobs

        match = _RESOURCE.match(request.resource)
        assert match is not None
        kind = _KINDS[match.group(1)]
        sync = match.group(2) is not None
        try:
            created = jobs.create_job(
                kind,
                request.parameters,
                token=request.token,
                coerce_scalars=True,
                cache=request.services.get("cache", True),
            )
        except jobs.SageMakerError as exc:
            cause = (
                f"{exc.message} (Service: AmazonSageMaker; Status Code: {exc.status}; "
                f"Error Code: {exc.code}; Request ID: {uuid.uuid4()}; Proxy: null)"
            )
            raise StatesError(_error_name(exc.code), cause, in_state=False) from None
        name = request.parameters[f"{match.group(1)}JobName"]
        if not sync:
            return _with_cache_note(created, jobs.get_record(kind, name))
        record = jobs.wait(kind, name, cancel=request.cancel)
        if not record.terminal:
            # Abandoned by the engine: Step Functions stops the job (best effort).
            try:
                jobs.stop_job(kind, name)
            except jobs.SageMakerError:
                pass
            raise StatesError("States.TaskFailed", "The task was cancelled", in_state=False)
        described = _to_sfn_json(jobs.describe(record))
        if record.status != "Completed":
            raise StatesError("States.TaskFailed", json.dumps(described), in_state=False)
        return _with_cache_note(described, record)


def _with_cache_note(response: dict, record: Any) -> dict:
    """Say in the Task's output (and so in the history) when a job reused another's outputs."""
    info = record.state.get("cache") or {}
    if info.get("hit"):
        response = dict(response)
        response["StepLineCache"] = {
            "Hit": True,
            "SourceJob": info["source_job"],
            "Key": info["key"],
        }
    return response
