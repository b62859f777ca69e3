"""Serving records in SQLite (``serving_*`` tables of ``stepline.db``).

Why SQLite: the API (a CLI, the engine's worker threads, tests) writes records and the
stepline server process reads them and writes statuses back; both may die at any moment.
WAL mode plus short ``BEGIN IMMEDIATE`` transactions make each change atomic and visible to
every process, and an endpoint's record is what brings it back after a restart.

Tables::

    serving_models(name, arn, created, request JSON)
    serving_endpoint_configs(name, arn, created, request JSON)
    serving_endpoints(name, arn, config_name, pending_config, status, failure_reason,
                      created, modified, variants JSON, token)
    serving_events(endpoint, time, message)              -- the endpoint's own log
    serving_stats(endpoint, variant, minute, invocations, model_errors, errors,
                  latency_sum_ms, latency_max_ms)         -- per-minute, like CloudWatch
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from typing import Any

from stepline import db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS serving_models (
    name TEXT PRIMARY KEY, arn TEXT NOT NULL, created REAL NOT NULL, request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serving_endpoint_configs (
    name TEXT PRIMARY KEY, arn TEXT NOT NULL, created REAL NOT NULL, request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serving_endpoints (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    config_name TEXT NOT NULL,
    pending_config TEXT,
    status TEXT NOT NULL,
    failure_reason TEXT,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    variants TEXT NOT NULL DEFAULT '[]',
    token TEXT
);
CREATE TABLE IF NOT EXISTS serving_events (
    endpoint TEXT NOT NULL, time REAL NOT NULL, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS serving_events_endpoint ON serving_events (endpoint, time);
CREATE TABLE IF NOT EXISTS serving_stats (
    endpoint TEXT NOT NULL,
    variant TEXT NOT NULL,
    minute INTEGER NOT NULL,
    invocations INTEGER NOT NULL DEFAULT 0,
    model_errors INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    latency_sum_ms REAL NOT NULL DEFAULT 0,
    latency_max_ms REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint, variant, minute)
);
"""


def connect() -> sqlite3.Connection:
    """A connection (one per thread and database path) with the serving schema."""
    return db.connect(_SCHEMA)


def transaction() -> contextlib.AbstractContextManager[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: one writer at a time, readers never blocked."""
    return db.transaction(connect())


def row_dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    """A row as a dict with its JSON columns decoded."""
    if row is None:
        return None
    out = dict(row)
    for key in ("request", "variants"):
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def event(endpoint: str, message: str) -> None:
    """Append a line to the endpoint's event log (``stepline endpoints logs``)."""
    with transaction() as conn:
        conn.execute(
            "INSERT INTO serving_events (endpoint, time, message) VALUES (?,?,?)",
            (endpoint, time.time(), message),
        )


def events(endpoint: str) -> list[tuple[float, str]]:
    """The endpoint's events, oldest first."""
    rows = connect().execute(
        "SELECT time, message FROM serving_events WHERE endpoint=? ORDER BY time, rowid",
        (endpoint,),
    )
    return [(r[0], r[1]) for r in rows]


def add_stats(batch: dict[tuple[str, str, int], list[float]]) -> None:
    """Fold ``{(endpoint, variant, minute): [n, model_errors, errors, sum_ms, max_ms]}`` in."""
    if not batch:
        return
    with transaction() as conn:
        for (endpoint, variant, minute), (n, merr, err, total, peak) in batch.items():
            conn.execute(
                "INSERT INTO serving_stats (endpoint, variant, minute, invocations, model_errors,"
                " errors, latency_sum_ms, latency_max_ms) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT (endpoint, variant, minute) DO UPDATE SET"
                " invocations = invocations + excluded.invocations,"
                " model_errors = model_errors + excluded.model_errors,"
                " errors = errors + excluded.errors,"
                " latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms,"
                " latency_max_ms = MAX(latency_max_ms, excluded.latency_max_ms)",
                (endpoint, variant, minute, int(n), int(merr), int(err), total, peak),
            )


def stats(endpoint: str | None = None) -> list[dict[str, Any]]:
    """Totals per (endpoint, variant): invocations, errors, mean and max latency."""
    sql = (
        "SELECT endpoint, variant, SUM(invocations) n, SUM(model_errors) merr, SUM(errors) err,"
        " SUM(latency_sum_ms) total, MAX(latency_max_ms) peak, MAX(minute) last"
        " FROM serving_stats" + (" WHERE endpoint=?" if endpoint else "") + " GROUP BY"
        " endpoint, variant ORDER BY endpoint, variant"
    )
    out = []
    for r in connect().execute(sql, (endpoint,) if endpoint else ()):
        n = r["n"] or 0
        out.append(
            {
                "EndpointName": r["endpoint"],
                "VariantName": r["variant"],
                "Invocations": n,
                "ModelErrors": r["merr"] or 0,
                "Errors": r["err"] or 0,
                "MeanLatencyMs": round((r["total"] or 0) / n, 3) if n else None,
                "MaxLatencyMs": round(r["peak"] or 0, 3) if n else None,
                "LastMinute": r["last"],
            }
        )
    return out


def minute_series(endpoint: str) -> dict[str, list[list[float]]]:
    """Per-minute ``[epoch, value]`` series of one endpoint, every variant summed:
    ``Invocations``, ``ModelLatencyMs`` (mean) and ``Errors`` (model errors included), as
    the console charts them."""
    rows = connect().execute(
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
