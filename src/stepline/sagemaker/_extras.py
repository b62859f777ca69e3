"""What the CLI and the console show of SageMaker's resources beyond SageMaker's own API.

Why here, beside the operations: the CLI and the console are views.  They reach jobs and
endpoints through this layer only, as the Step Functions integrations and the AWS API do, so
the jobs, tuning and serving layers can change how they keep things without a view noticing.
What is here has no AWS operation: every page of a List* at once, an endpoint's address on
the running ``stepline server``, its counters, per-minute series and logs (what CloudWatch
would hold), InvokeEndpoint, which is SageMaker Runtime's, and why a job step did or did not
reuse an earlier job (step caching, which Create's ``cache`` option turns on).
"""

from __future__ import annotations

import time
from typing import Any

from stepline import serving
from stepline.jobs import cache as _cache
from stepline.jobs.validation import service_model
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


def explain_cache(kind: str, name: str) -> dict[str, Any]:
    """Why job ``name`` of ``kind`` did or did not reuse an earlier job's outputs: its cache
    key's parts and, on a miss, what differed from the closest earlier job."""
    return _cache.explain(kind, name)
