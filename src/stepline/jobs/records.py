"""Durable job records: SQLite rows (``job*`` tables in ``stepline.db``) plus the job folder.

Why SQLite: the job's supervisor (a detached process), the engine, the CLI and the tests all
read and write the same record concurrently and any of them may crash; WAL mode and short
``BEGIN IMMEDIATE`` transactions make every status change atomic and visible to all.

Tables::

    jobs(kind, name, arn, token, status, secondary_status, created, modified, started, ended,
         request JSON, state JSON, folder, supervisor JSON, stop_requested, run_identifier)
    job_metrics(kind, name, metric, value, timestamp)      -- every metric value, in order

``state`` holds everything SageMaker's Describe* adds to the request (transitions,
FailureReason, ExitMessage, artifacts) and the local facts the record must keep (image digest,
resources and notes, argv, environment, exit code, inputs and outputs).  Each change is also
written to ``<folder>/job.json`` so a job folder is self-describing without the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepline import config, db

TERMINAL = ("Completed", "Failed", "Stopped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    arn TEXT NOT NULL,
    token TEXT,
    status TEXT NOT NULL,
    secondary_status TEXT,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    started REAL,
    ended REAL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    folder TEXT NOT NULL,
    supervisor TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    run_identifier TEXT,
    PRIMARY KEY (kind, name)
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
CREATE TABLE IF NOT EXISTS job_metrics (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    timestamp REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS job_metrics_job ON job_metrics (kind, name);
"""


def connect() -> sqlite3.Connection:
    """A connection to ``stepline.db`` (one per thread and database path), schema ensured."""
    return db.connect(_SCHEMA)


def transaction() -> contextlib.AbstractContextManager[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: one writer at a time, readers never blocked."""
    return db.transaction(connect())


@dataclass
class JobRecord:
    """One row of ``jobs``, decoded."""

    kind: str
    name: str
    arn: str
    token: str | None
    status: str
    secondary_status: str | None
    created: float
    modified: float
    started: float | None
    ended: float | None
    request: dict[str, Any]
    state: dict[str, Any]
    folder: Path
    supervisor: dict[str, Any] | None
    stop_requested: bool
    run_identifier: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        return cls(
            kind=row["kind"],
            name=row["name"],
            arn=row["arn"],
            token=row["token"],
            status=row["status"],
            secondary_status=row["secondary_status"],
            created=row["created"],
            modified=row["modified"],
            started=row["started"],
            ended=row["ended"],
            request=json.loads(row["request"]),
            state=json.loads(row["state"]),
            folder=Path(row["folder"]),
            supervisor=json.loads(row["supervisor"]) if row["supervisor"] else None,
            stop_requested=bool(row["stop_requested"]),
            run_identifier=row["run_identifier"],
        )

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (Completed, Failed or Stopped)."""
        return self.status in TERMINAL

    @property
    def log_path(self) -> Path:
        """The job's stdout+stderr, appended while it runs."""
        return self.folder / "output.log"


def job_folder(kind: str, name: str) -> Path:
    """``$STEPLINE_HOME/jobs/<name>/<kind>/`` (SageMaker lets job types share a name)."""
    return config.home() / "jobs" / name / kind


def insert(record: JobRecord) -> bool:
    """Insert a new job; False (nothing written) when ``(kind, name)`` exists."""
    try:
        with transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (kind, name, arn, token, status, secondary_status, created,"
                " modified, started, ended, request, state, folder, supervisor, stop_requested,"
                " run_identifier) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.kind,
                    record.name,
                    record.arn,
                    record.token,
                    record.status,
                    record.secondary_status,
                    record.created,
                    record.modified,
                    record.started,
                    record.ended,
                    json.dumps(record.request),
                    json.dumps(record.state),
                    str(record.folder),
                    json.dumps(record.supervisor) if record.supervisor else None,
                    int(record.stop_requested),
                    record.run_identifier,
                ),
            )
    except sqlite3.IntegrityError:
        return False
    return True


def get(kind: str, name: str) -> JobRecord | None:
    """The job ``name`` of ``kind``, or None."""
    row = connect().execute("SELECT * FROM jobs WHERE kind=? AND name=?", (kind, name)).fetchone()
    return JobRecord.from_row(row) if row else None


def find(name: str) -> list[JobRecord]:
    """Jobs of any kind called ``name`` (or whose ARN is ``name``)."""
    rows = connect().execute(
        "SELECT * FROM jobs WHERE name=? OR arn=? ORDER BY created", (name, name)
    )
    return [JobRecord.from_row(r) for r in rows]


def all_jobs(kind: str | None = None, limit: int | None = None) -> list[JobRecord]:
    """Jobs, newest first."""
    sql = "SELECT * FROM jobs" + (" WHERE kind=?" if kind else "") + " ORDER BY created DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = connect().execute(sql, (kind,) if kind else ())
    return [JobRecord.from_row(r) for r in rows]


def update(
    kind: str,
    name: str,
    *,
    state: dict[str, Any] | None = None,
    transition: tuple[str, str | None] | None = None,
    **columns: Any,
) -> JobRecord:
    """Change a job atomically and rewrite its ``job.json``.

    ``state`` entries are merged into the state JSON; ``transition=(secondary, message)`` ends
    the current SecondaryStatusTransition and starts a new one (and sets the column).
    """
    now = time.time()
    with transaction() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE kind=? AND name=?", (kind, name)).fetchone()
        if row is None:
            raise KeyError(f"no {kind} job {name!r}")
        current = JobRecord.from_row(row)
        new_state = dict(current.state)
        if state:
            new_state.update(state)
        if transition is not None:
            secondary, message = transition
            trans = list(new_state.get("transitions", []))
            if trans and trans[-1].get("EndTime") is None:
                trans[-1]["EndTime"] = now
            entry: dict[str, Any] = {"Status": secondary, "StartTime": now}
            if message:
                entry["StatusMessage"] = message
            trans.append(entry)
            new_state["transitions"] = trans
            columns["secondary_status"] = secondary
        sets = {"modified": now, "state": json.dumps(new_state)}
        for key, value in columns.items():
            if key == "supervisor":
                value = json.dumps(value) if value is not None else None
            elif key == "stop_requested":
                value = int(bool(value))
            sets[key] = value
        assignments = ", ".join(f"{k}=?" for k in sets)
        conn.execute(
            f"UPDATE jobs SET {assignments} WHERE kind=? AND name=?",
            (*sets.values(), kind, name),
        )
        row = conn.execute("SELECT * FROM jobs WHERE kind=? AND name=?", (kind, name)).fetchone()
    record = JobRecord.from_row(row)
    write_snapshot(record)
    return record


def add_metric(kind: str, name: str, metric: str, value: float, timestamp: float) -> None:
    """Record one metric value (every value is kept: metrics over time)."""
    with transaction() as conn:
        conn.execute(
            "INSERT INTO job_metrics (kind, name, metric, value, timestamp) VALUES (?,?,?,?,?)",
            (kind, name, metric, value, timestamp),
        )


def metrics(kind: str, name: str) -> list[dict[str, Any]]:
    """Every recorded metric value of a job, oldest first."""
    rows = connect().execute(
        "SELECT metric, value, timestamp FROM job_metrics WHERE kind=? AND name=? ORDER BY rowid",
        (kind, name),
    )
    return [{"MetricName": r[0], "Value": r[1], "Timestamp": r[2]} for r in rows]


def write_snapshot(record: JobRecord) -> None:
    """Write ``<folder>/job.json`` atomically (the record without the database)."""
    folder = record.folder
    if not folder.is_dir():
        return
    doc = {
        "kind": record.kind,
        "name": record.name,
        "arn": record.arn,
        "status": record.status,
        "secondary_status": record.secondary_status,
        "created": record.created,
        "modified": record.modified,
        "started": record.started,
        "ended": record.ended,
        "request": record.request,
        "state": record.state,
        "metrics": metrics(record.kind, record.name),
    }
    tmp = folder / f".job.json.{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, folder / "job.json")
