"""What the CLI and the console show of SageMaker's resources beyond SageMaker's own API.

Why here, beside the operations: the CLI and the console are views.  They reach jobs and
endpoints through this layer only, as the Step Functions integrations and the AWS API do, so
the jobs, tuning and serving layers can change how they keep things without a view noticing.
What is here has no AWS operation: every page of a List* at once, every job of every type
(:func:`job_overviews`) or of any type by name (:func:`find_jobs`), an endpoint's address on
the running ``stepline server``, its counters, per-minute series and logs (what CloudWatch
would hold), the log files behind jobs and model servers (which the AWS API's CloudWatch Logs
serves as streams), InvokeEndpoint, which is SageMaker Runtime's, and why a job step did or
did not reuse an earlier job (step caching, which Create's ``cache`` option turns on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline import serving
from stepline.jobs import cache as _cache
from stepline.jobs import records as _records
from stepline.jobs.validation import service_model
from stepline.sagemaker._jobtypes import JOB_TYPES, JobType, job_type
from stepline.sagemaker._operations import call, list_key
from stepline.serving import api, db
from stepline.serving import server as _server

#: InvokeEndpoint's error: ``code`` is SageMaker Runtime's (``ModelError``, ``ValidationError``).
InvokeError = serving.InvokeError
#: SageMaker Runtime's InvokeEndpoint through the router (the server is started if it is not
#: running): boto3's response shape, with ``Body`` as bytes; raises :data:`InvokeError`.
invoke_endpoint = serving.invoke_endpoint


def list_all(operation: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every item a List* ``operation`` returns, its pages followed to the end (in its order:
    newest first unless ``params`` says otherwise)."""
    model = service_model().operation_model(operation)
    size = model.input_shape.members["MaxResults"].metadata.get("max", 100)
    key = list_key(operation)
    request = {k: v for k, v in (params or {}).items() if k not in ("MaxResults", "NextToken")}
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(
            operation, {**request, "MaxResults": size, **({"NextToken": token} if token else {})}
        )
        items += page[key]
        token = page.get("NextToken")
        if not token:
            return items


def server_url() -> str | None:
    """``http://127.0.0.1:PORT`` of the running ``stepline server``; None while it is stopped
    (it is not started here)."""
    return _server.server_url()


def server_port() -> int:
    """The port ``stepline server`` listens on: the running server's, else the configured one
    (``STEPLINE_SERVER_PORT``, ``[server] port``, 8787), where it will listen once started.
    What AWS clients are pointed at (``stepline env``, jobs' environment)."""
    info = _server.server_info()
    return int(info["port"]) if info is not None else _server.configured_port()


def invocation_url(endpoint: str) -> str | None:
    """The endpoint's address on the running ``stepline server`` (SageMaker Runtime's path);
    None while the server is stopped (it is not started here)."""
    info = _server.server_info()
    return serving.invocation_url(endpoint, int(info["port"])) if info else None


def endpoint_stats(endpoint: str) -> list[dict[str, Any]]:
    """Per variant: Invocations, ModelErrors, Errors, MeanLatencyMs, MaxLatencyMs."""
    return serving.endpoint_stats(endpoint)


def endpoint_metrics(endpoint: str) -> dict[str, list[list[float]]]:
    """Per-minute ``[epoch, value]`` series: Invocations, ModelLatencyMs, Errors."""
    return db.minute_series(endpoint)


def endpoint_logs(endpoint: str) -> str:
    """The endpoint's events and its model servers' output, as one text; SageMaker's
    not-found error for an endpoint that does not exist."""
    call("DescribeEndpoint", {"EndpointName": endpoint})
    return serving.endpoint_logs(endpoint)


def wait_endpoint_deleted(endpoint: str, timeout: float = 60.0, poll: float = 0.05) -> bool:
    """Wait until a deleted endpoint is gone (its model servers stopped); whether it is."""
    deadline = time.monotonic() + timeout
    while api.endpoint_row(endpoint) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def find_jobs(name: str) -> list[tuple[JobType, str]]:
    """Every job of any type called ``name`` (SageMaker lets job types share a name);
    an ARN is accepted too."""
    return [(job, found) for job in JOB_TYPES.values() for found in job.find(name)]


def job_overviews(kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Every job of every type (or of ``kind``), newest first: the rows of
    ``stepline jobs list``."""
    types = [job_type(kind)] if kind else list(JOB_TYPES.values())
    rows = [row for job in types for row in job.overviews()]
    rows.sort(key=lambda r: r["CreationTime"].timestamp() if r["CreationTime"] else 0, reverse=True)
    return rows[:limit] if limit else rows


def explain_cache(kind: str, name: str) -> dict[str, Any]:
    """Why job ``name`` of ``kind`` did or did not reuse an earlier job's outputs: its cache
    key's parts and, on a miss, what differed from the closest earlier job."""
    return _cache.explain(kind, name)


@dataclass(frozen=True)
class JobLog:
    """A job's log file and its times (epoch seconds): what one CloudWatch stream shows.

    ``started`` is None until the job's container started (SageMaker has no stream yet then,
    unless the file already exists)."""

    name: str
    path: Path
    created: float
    started: float | None


def job_logs(kind: str, name: str | None = None) -> list[JobLog]:
    """The log of job ``name`` of ``kind`` (training, processing, transform), or of every job
    of ``kind``, newest first; empty for a job that does not exist."""
    if name is not None:
        found = _records.get(kind, name)
        records = [found] if found is not None else []
    else:
        records = _records.all_jobs(kind, None)
    return [JobLog(r.name, r.log_path, r.created, r.started) for r in records]


@dataclass(frozen=True)
class InstanceLog:
    """One model server's log file: ``instance`` counts from 1 within its ``variant``;
    ``created`` is when the file appeared (the endpoint's creation if it cannot be read)."""

    variant: str
    instance: int
    path: Path
    created: float


def endpoint_instance_logs(endpoint: str) -> list[InstanceLog] | None:
    """The log file of each model server behind ``endpoint``; None if there is no such
    endpoint."""
    row = api.endpoint_row(endpoint)
    if row is None:
        return None
    logs = []
    for variant in row.get("variants") or []:
        for index, inst in enumerate(variant.get("_instances", []), start=1):
            path = Path(inst["log"])
            try:
                created = path.stat().st_ctime
            except OSError:
                created = row.get("created") or 0.0
            logs.append(InstanceLog(variant["VariantName"], index, path, created))
    return logs
