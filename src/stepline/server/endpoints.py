"""The console's providers for the endpoints and models pages, over the serving layer.

The console asks registered provider functions for DescribeEndpoint/DescribeModel-shaped
dicts; endpoints also carry ``Metrics`` (per-minute invocations, mean latency, errors) so the
page can chart them.  :func:`register` is idempotent and called when the console app starts.
"""

from __future__ import annotations

from typing import Any

from stepline.serving import api, db

_REGISTERED: list[Any] = []


def endpoints() -> list[dict[str, Any]]:
    """Every endpoint as DescribeEndpoint returns it, plus per-minute invocation metrics."""
    out = []
    for summary in api.list_endpoints()["Endpoints"]:
        name = summary["EndpointName"]
        try:
            described = api.describe_endpoint(name)
        except Exception:  # noqa: BLE001 - deleted between list and describe
            continue
        described["Metrics"] = _metrics(name)
        out.append(described)
    return out


def models() -> list[dict[str, Any]]:
    """Every model as DescribeModel returns it."""
    out = []
    for summary in api.list_models()["Models"]:
        try:
            out.append(api.describe_model(summary["ModelName"]))
        except Exception:  # noqa: BLE001 - deleted between list and describe
            continue
    return out


def _metrics(endpoint: str) -> dict[str, list[list[float]]]:
    rows = db.connect().execute(
        "SELECT minute, SUM(invocations) n, SUM(errors) + SUM(model_errors) e, "
        "SUM(latency_sum_ms) total FROM serving_stats WHERE endpoint=? "
        "GROUP BY minute ORDER BY minute",
        (endpoint,),
    )
    series: dict[str, list[list[float]]] = {"Invocations": [], "ModelLatencyMs": [], "Errors": []}
    for row in rows:
        ts = float(row["minute"]) * 60
        n = row["n"] or 0
        series["Invocations"].append([ts, n])
        series["Errors"].append([ts, row["e"] or 0])
        series["ModelLatencyMs"].append([ts, (row["total"] or 0) / n if n else 0])
    return series


def register() -> None:
    """Plug the providers into the console (once per process)."""
    if _REGISTERED:
        return
    from stepline.server.providers import register_endpoints, register_models

    _REGISTERED.extend([register_endpoints(endpoints), register_models(models)])
