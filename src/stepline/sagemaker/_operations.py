"""SageMaker's operations by their AWS names, over the jobs, tuning and serving layers.

Every caller -- the Step Functions integrations, the CLI, the console and the JSON API on
``stepline server`` -- comes through :func:`call`, so requests are checked once, against
botocore's SageMaker model (:func:`stepline.jobs.validation.validate_request`), errors carry
SageMaker's names and messages, and responses have boto3's shapes (timestamps as aware
``datetime``; each caller serialises them its way).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stepline.errors import SageMakerError, ValidationException
from stepline.jobs.validation import service_model, validate_request
from stepline.sagemaker._jobtypes import JOB_TYPES, JobType


@dataclass
class Context:
    """What a caller adds to a request: idempotency and the pipeline's options."""

    #: Makes Create idempotent: the same token returns the same ARN (an engine restarted
    #: after a crash reattaches to what it had started).
    token: str | None = None
    #: JSON numbers/booleans given for strings are turned into text, as SageMaker's JSON
    #: deserializer does with what Step Functions passes through.
    coerce_scalars: bool = False
    #: Pipelines: a job identical to an earlier successful one reuses its outputs.
    cache: bool = False


Handler = Callable[[dict[str, Any], Context], dict[str, Any] | None]

#: Operations whose backend validates the request itself (with local rules on top).
_BACKEND_VALIDATES = set()


# -- listing: filters, sorting, opaque pagination ------------------------------------------


def _token_for(offset: int) -> str:
    raw = json.dumps({"offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _offset_from(token: str | None) -> int:
    if not token:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValidationException("Invalid pagination token.") from None
    if not isinstance(value, int) or value < 0:
        raise ValidationException("Invalid pagination token.")
    return value


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value))


def list_key(operation: str) -> str:
    """The member of a List* response that holds the items (``Endpoints``, ...)."""
    output = service_model().operation_model(operation).output_shape
    return next(k for k, s in output.members.items() if s.type_name == "list")


def list_page(
    operation: str,
    items: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    name_key: str,
    status_key: str | None = None,
) -> dict[str, Any]:
    """A List* response: ``items`` filtered (NameContains, StatusEquals, *TimeAfter/Before),
    sorted (SortBy, SortOrder; newest first by default), cut into pages of MaxResults with
    an opaque NextToken, and each item cut to the summary shape of botocore's model."""
    output = service_model().operation_model(operation).output_shape
    key = list_key(operation)
    summary_members = output.members[key].member.members
    contains = params.get("NameContains")
    status = params.get("StatusEquals")
    bounds = [
        (field, _aware(params.get(f"{field}{edge}")), edge)
        for field in ("CreationTime", "LastModifiedTime")
        for edge in ("After", "Before")
        if params.get(f"{field}{edge}") is not None
    ]
    kept = []
    for item in items:
        if contains and contains.lower() not in str(item.get(name_key, "")).lower():
            continue
        if status and status_key and item.get(status_key) != status:
            continue
        ok = True
        for field, bound, edge in bounds:
            when = _aware(item.get(field))
            if when is None or (when <= bound if edge == "After" else when >= bound):
                ok = False
        if ok:
            kept.append(item)
    sort_by = params.get("SortBy", "CreationTime")
    key_name = {"Name": name_key, "Status": status_key or name_key}.get(sort_by, sort_by)
    descending = params.get("SortOrder", "Descending") == "Descending"

    def sort_key(item: dict[str, Any]) -> Any:
        value = item.get(key_name)
        if isinstance(value, datetime):
            return value.timestamp()
        return "" if value is None else value

    kept.sort(key=sort_key, reverse=descending)
    start = _offset_from(params.get("NextToken"))
    size = int(params.get("MaxResults") or 10)
    page = kept[start : start + size]
    out: dict[str, Any] = {
        key: [{k: v for k, v in item.items() if k in summary_members} for item in page]
    }
    if start + size < len(kept):
        out["NextToken"] = _token_for(start + size)
    return out


# -- jobs ---------------------------------------------------------------------------------


def _job_handlers(job: JobType) -> dict[str, Handler]:
    names = {role: op for op, role in job.operations.items()}

    def create(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return job.create(params, ctx.token, ctx.coerce_scalars, ctx.cache)

    def describe(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return job.describe(params[job.name_field])

    def list_(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return list_page(
            names["list"],
            job.summaries(),
            params,
            name_key=job.name_field,
            status_key=job.status_field,
        )

    def stop(params: dict[str, Any], ctx: Context) -> None:
        job.stop(params[job.name_field])

    _BACKEND_VALIDATES.add(names["create"])
    return {
        names["create"]: create,
        names["describe"]: describe,
        names["list"]: list_,
        names["stop"]: stop,
    }


def _tuning_children(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    from stepline import tuning

    name = params["HyperParameterTuningJobName"]
    JOB_TYPES["tuning"].describe(name)  # not found: SageMaker's error
    listed = tuning.list_training_jobs_for_hyper_parameter_tuning_job(
        name, status=params.get("StatusEquals"), sort_by=params.get("SortBy", "Name")
    )["TrainingJobSummaries"]
    if params.get("SortOrder", "Ascending") == "Descending":
        listed.reverse()
    start = _offset_from(params.get("NextToken"))
    size = int(params.get("MaxResults") or 10)
    out: dict[str, Any] = {"TrainingJobSummaries": listed[start : start + size]}
    if start + size < len(listed):
        out["NextToken"] = _token_for(start + size)
    return out


# -- hosting ------------------------------------------------------------------------------


def _create_once(
    create: Callable[..., dict[str, Any]], stored: Callable[[str], dict[str, Any]], name_key: str
) -> Handler:
    """Create, where a token makes a repeat of the identical request return the same ARN
    (what a retried or resumed Task sends) instead of "Cannot create already existing"."""

    def handler(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
        try:
            return create(params, coerce_scalars=ctx.coerce_scalars)
        except SageMakerError as exc:
            if ctx.token is None:
                raise
            try:
                row = stored(params.get(name_key))
            except SageMakerError:
                raise exc from None
            same = json.dumps(
                {k: v for k, v in row["request"].items() if k != "Tags"}, sort_keys=True
            ) == json.dumps({k: v for k, v in params.items() if k != "Tags"}, sort_keys=True)
            if not same:
                raise
            arn_key = name_key.replace("Name", "Arn")
            return {arn_key: row["arn"]}

    return handler


def _hosting_handlers() -> dict[str, Handler]:
    from stepline.serving import api

    def listed(operation: str, key: str, name_key: str, status_key: str | None = None):
        def handler(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
            items = getattr(api, f"list_{operation}")()[key]
            return list_page(f"List{key}", items, params, name_key=name_key, status_key=status_key)

        return handler

    def by_name(func: Callable[[str], Any], field: str) -> Handler:
        return lambda params, ctx: func(params[field])

    handlers: dict[str, Handler] = {
        "CreateModel": _create_once(
            api.create_model,
            lambda n: {"request": api.model_request(n), "arn": api.arn("model", n)},
            "ModelName",
        ),
        "DescribeModel": by_name(api.describe_model, "ModelName"),
        "ListModels": listed("models", "Models", "ModelName"),
        "DeleteModel": by_name(api.delete_model, "ModelName"),
        "CreateEndpointConfig": _create_once(
            api.create_endpoint_config,
            lambda n: {"request": api.endpoint_config(n), "arn": api.arn("endpoint-config", n)},
            "EndpointConfigName",
        ),
        "DescribeEndpointConfig": by_name(api.describe_endpoint_config, "EndpointConfigName"),
        "ListEndpointConfigs": listed("endpoint_configs", "EndpointConfigs", "EndpointConfigName"),
        "DeleteEndpointConfig": by_name(api.delete_endpoint_config, "EndpointConfigName"),
        "CreateEndpoint": lambda params, ctx: api.create_endpoint(params, token=ctx.token),
        "DescribeEndpoint": by_name(api.describe_endpoint, "EndpointName"),
        "ListEndpoints": listed("endpoints", "Endpoints", "EndpointName", "EndpointStatus"),
        "UpdateEndpoint": lambda params, ctx: api.update_endpoint(params),
        "DeleteEndpoint": by_name(api.delete_endpoint, "EndpointName"),
    }
    _BACKEND_VALIDATES.update(
        {"CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint"}
    )
    return handlers


def _build() -> dict[str, Handler]:
    ops: dict[str, Handler] = {}
    for job in JOB_TYPES.values():
        ops.update(_job_handlers(job))
    ops["ListTrainingJobsForHyperParameterTuningJob"] = _tuning_children
    ops.update(_hosting_handlers())
    return ops


#: AWS operation name -> handler.
OPERATIONS: dict[str, Handler] = _build()

#: The statuses a job of any type ends in (a ``.sync`` wait stops at them).
TERMINAL = ("Completed", "Failed", "Stopped")


def job_type_of_operation(operation: str) -> JobType | None:
    """The job type whose Create/Describe/List/Stop ``operation`` is, if any."""
    for job in JOB_TYPES.values():
        if operation in job.operations:
            return job
    return None


def call(
    operation: str,
    params: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    coerce_scalars: bool = False,
    cache: bool = False,
) -> dict[str, Any]:
    """Run SageMaker's ``operation`` (``"CreateTrainingJob"``, ``"DescribeEndpoint"`` ...).

    Returns boto3's response shape (``{}`` for Delete/Stop); raises
    :class:`~stepline.errors.SageMakerError` with SageMaker's code and message.
    """
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise ValidationException(f"stepline does not implement SageMaker {operation}")
    params = dict(params or {})
    if operation not in _BACKEND_VALIDATES:
        params = validate_request(operation, params, coerce_scalars=coerce_scalars)
    ctx = Context(token=token, coerce_scalars=coerce_scalars, cache=cache)
    return handler(params, ctx) or {}
