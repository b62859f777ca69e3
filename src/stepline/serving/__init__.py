"""Models, endpoint configs, endpoints and the router (SageMaker hosting, locally).

Public interface (boto3's SageMaker shapes; requests validated against botocore's model)::

    create_model(request) / describe_model(name) / list_models() / delete_model(name)
    create_endpoint_config(request) / describe_endpoint_config(name) / list_endpoint_configs()
    create_endpoint(request, token=None) / update_endpoint(request) / delete_endpoint(name)
    describe_endpoint(name) / list_endpoints()
    invocation_url(name) -> "http://127.0.0.1:PORT/endpoints/NAME/invocations"
    invoke_endpoint(name, body, content_type=..., accept=None, custom_attributes=None,
                    target_variant=None) -> {"Body", "ContentType", "InvokedProductionVariant", ...}
    endpoint_logs(name) -> str / endpoint_stats(name) -> list
    console_summary() -> dict                        # for the web console
    ensure_server() / stop_server() / server_url()  # the background stepline server

Layers: :mod:`db` (SQLite ``serving_*`` tables), :mod:`artifacts` (model.tar.gz, safely),
:mod:`host` (one model server in the jobs' runtimes), :mod:`router` (the front HTTP router),
:mod:`server` (the daemon that reconciles records with running servers), :mod:`api`
(SageMaker's calls), :mod:`transform` (batch transform); behind this face,
:mod:`._runtime` (InvokeEndpoint and the endpoint's address) and :mod:`._overview` (logs,
counters and the console's summary).
"""

from __future__ import annotations

from stepline.serving._overview import console_summary, endpoint_logs, endpoint_stats
from stepline.serving._runtime import InvokeError, invocation_url, invoke_endpoint
from stepline.serving.api import (
    create_endpoint,
    create_endpoint_config,
    create_model,
    delete_endpoint,
    delete_endpoint_config,
    delete_model,
    describe_endpoint,
    describe_endpoint_config,
    describe_model,
    list_endpoint_configs,
    list_endpoints,
    list_models,
    update_endpoint,
)
from stepline.serving.server import ensure_server, server_url, stop_server

__all__ = [
    "InvokeError",
    "console_summary",
    "create_endpoint",
    "create_endpoint_config",
    "create_model",
    "delete_endpoint",
    "delete_endpoint_config",
    "delete_model",
    "describe_endpoint",
    "describe_endpoint_config",
    "describe_model",
    "endpoint_logs",
    "endpoint_stats",
    "ensure_server",
    "invocation_url",
    "invoke_endpoint",
    "list_endpoint_configs",
    "list_endpoints",
    "list_models",
    "server_url",
    "stop_server",
    "update_endpoint",
]
