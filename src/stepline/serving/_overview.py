"""What the CLI and the console show of endpoints beyond SageMaker's calls: events and
model server logs, per-variant counters, and the console's serving page.

Why apart from :mod:`.api`: these read what the router and the daemon record
(:mod:`.db`'s events and stats, each instance's log file) rather than SageMaker's records.
"""

from __future__ import annotations

import time
from typing import Any

from stepline.serving import db
from stepline.serving._runtime import invocation_url
from stepline.serving.api import (
    endpoint_row,
    list_endpoint_configs,
    list_endpoints,
    list_models,
)
from stepline.serving.server import server_info


def endpoint_logs(name: str) -> str:
    """The endpoint's events and each model server's output, as one text."""
    lines = [
        f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(t))} [endpoint] {msg}"
        for t, msg in db.events(name)
    ]
    row = endpoint_row(name)
    for variant in (row or {}).get("variants", []):
        for inst in variant.get("_instances", []):
            try:
                text = open(inst["log"], errors="replace").read()
            except OSError:
                continue
            label = f"[{variant['VariantName']}] "
            lines.extend(label + line for line in text.splitlines())
    return "\n".join(lines) + ("\n" if lines else "")


def endpoint_stats(name: str | None = None) -> list[dict[str, Any]]:
    """Per-variant invocations, model errors, errors, mean and max latency."""
    return db.stats(name)


def console_summary() -> dict[str, Any]:
    """What the web console shows on its serving page: server, endpoints, variant stats."""
    info = server_info()
    stats: dict[str, list[dict[str, Any]]] = {}
    for entry in db.stats():
        stats.setdefault(entry["EndpointName"], []).append(entry)
    endpoints = []
    for ep in list_endpoints()["Endpoints"]:
        name = ep["EndpointName"]
        endpoints.append(
            {
                "name": name,
                "status": ep["EndpointStatus"],
                "created": ep["CreationTime"].isoformat(),
                "modified": ep["LastModifiedTime"].isoformat(),
                "url": invocation_url(name, int(info["port"])) if info else None,
                "variants": stats.get(name, []),
            }
        )
    return {
        "server": {"running": info is not None, "port": info["port"] if info else None},
        "endpoints": endpoints,
        "models": len(list_models()["Models"]),
        "endpoint_configs": len(list_endpoint_configs()["EndpointConfigs"]),
    }
