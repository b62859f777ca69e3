"""Where the serving layer plugs endpoints and models into the console and its API.

The console lists whatever the registered providers return; until serving code registers
one, the lists are empty (and the pages say so).  A provider is a plain function with no
arguments returning a list of dicts, so the serving code needs no import of FastAPI::

    from stepline.console.providers import register_endpoints, register_models
    register_endpoints(lambda: [{"EndpointName": "churn", "EndpointStatus": "InService",
                                 "ProductionVariants": [...], "Metrics": {...}}])

Endpoint dicts use DescribeEndpoint's field names (``EndpointName``, ``EndpointStatus``,
``ProductionVariants``, ``CreationTime`` ...) plus ``Metrics``: ``{name: [[timestamp, value],
...]}`` for invocation metrics over time.  Model dicts use DescribeModel's (``ModelName``,
``PrimaryContainer`` ...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Provider = Callable[[], list[dict[str, Any]]]

_LOCK = threading.Lock()
_ENDPOINTS: list[Provider] = []
_MODELS: list[Provider] = []


def register_endpoints(provider: Provider) -> Provider:
    """Add a function that lists endpoints (DescribeEndpoint-shaped dicts)."""
    with _LOCK:
        _ENDPOINTS.append(provider)
    return provider


def register_models(provider: Provider) -> Provider:
    """Add a function that lists models (DescribeModel-shaped dicts)."""
    with _LOCK:
        _MODELS.append(provider)
    return provider


def unregister(provider: Provider) -> None:
    """Remove a provider registered with either function (tests, reloads)."""
    with _LOCK:
        for registry in (_ENDPOINTS, _MODELS):
            while provider in registry:
                registry.remove(provider)


def _collect(registry: list[Provider]) -> list[dict[str, Any]]:
    with _LOCK:
        providers = list(registry)
    out: list[dict[str, Any]] = []
    for provider in providers:
        out.extend(provider())
    return out


def endpoints() -> list[dict[str, Any]]:
    """Every endpoint every provider knows of."""
    return _collect(_ENDPOINTS)


def models() -> list[dict[str, Any]]:
    """Every model every provider knows of."""
    return _collect(_MODELS)
