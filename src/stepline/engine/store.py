"""The durable store: state machines, executions, history and fiber checkpoints in SQLite.

One database file under ``$STEPLINE_HOME`` in WAL mode, so readers (the CLI, the console)
never block the process running an execution.  Every transition of an execution is one
transaction: its new history events and the checkpoints of the fibers that moved.  That is
the whole durability story -- whatever a crash interrupts was either committed with its
events or not at all.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from stepline import db as shared_db
from stepline.detached import Lease

SCHEMA = """
CREATE TABLE IF NOT EXISTS state_machines (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'STANDARD',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS state_machine_versions (
    arn TEXT NOT NULL,
    revision INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (arn, revision)
);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state_machine_arn TEXT NOT NULL,
    state_machine_name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    definition TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    start REAL NOT NULL,
    stop REAL,
    redrive_count INTEGER NOT NULL DEFAULT 0,
    redrive_date REAL,
    owner TEXT,
    stop_requested TEXT
);
CREATE INDEX IF NOT EXISTS executions_by_name ON executions (name);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (state_machine_arn, start);
CREATE TABLE IF NOT EXISTS events (
    execution_arn TEXT NOT NULL,
    id INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (execution_arn, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fibers (
    execution_arn TEXT NOT NULL,
    fiber_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (execution_arn, fiber_id)
) WITHOUT ROWID;
"""

TERMINAL = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


def owner_token() -> str:
    """Identifies this process well enough to tell later whether it is still alive."""
    me = Lease.current()
    return f"{socket.gethostname()}:{me.pid}:{me.start}"


def owner_alive(token: str | None) -> bool:
    """Whether the process that wrote ``token`` still runs (same host, pid, start time)."""
    if not token:
        return False
    try:
        host, pid_s, start = token.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine's process: not ours to judge
    return Lease(pid, start).alive()


class Store:
    """Thread-safe access to the SQLite database (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn()

    def _conn(self) -> sqlite3.Connection:
        return shared_db.connect(SCHEMA, self.path)

    def tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue instead of failing)."""
        return shared_db.transaction(self._conn())

    def read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, args).fetchall()

    # -- state machines ------------------------------------------------------------------
    def put_state_machine(self, name: str, arn: str, definition: str, role_arn: str) -> dict:
        now = time.time()
        with self.tx() as db:
            row = db.execute("SELECT * FROM state_machines WHERE name=?", (name,)).fetchone()
            if row is None:
                revision = 1
                db.execute(
                    "INSERT INTO state_machines VALUES (?,?,?,?,?,?,?,?)",
                    (name, arn, definition, role_arn, "STANDARD", now, now, revision),
                )
            elif row["definition"] == definition and row["role_arn"] == role_arn:
                return dict(row)
            else:
                revision = row["revision"] + 1
                db.execute(
                    "UPDATE state_machines SET definition=?, role_arn=?, updated=?, revision=? "
                    "WHERE name=?",
                    (definition, role_arn, now, revision, name),
                )
            db.execute(
                "INSERT OR REPLACE INTO state_machine_versions VALUES (?,?,?,?)",
                (arn, revision, definition, now),
            )
            return dict(db.execute("SELECT * FROM state_machines WHERE name=?", (name,)).fetchone())

    def get_state_machine(self, name_or_arn: str) -> dict | None:
        rows = self.read(
            "SELECT * FROM state_machines WHERE name=? OR arn=?", (name_or_arn, name_or_arn)
        )
        return dict(rows[0]) if rows else None

    def list_state_machines(self) -> list[dict]:
        return [dict(r) for r in self.read("SELECT * FROM state_machines ORDER BY name")]

    def state_machine_versions(self, arn: str) -> list[dict]:
        rows = self.read(
            "SELECT * FROM state_machine_versions WHERE arn=? ORDER BY revision", (arn,)
        )
        return [dict(r) for r in rows]

    def delete_state_machine(self, name: str) -> bool:
        with self.tx() as db:
            cur = db.execute("DELETE FROM state_machines WHERE name=?", (name,))
            return cur.rowcount > 0

    # -- executions ------------------------------------------------------------------------
    def insert_execution(self, row: dict) -> None:
        cols = ",".join(row)
        marks = ",".join("?" for _ in row)
        with self.tx() as db:
            db.execute(f"INSERT INTO executions ({cols}) VALUES ({marks})", tuple(row.values()))

    def update_execution(self, arn: str, **fields: Any) -> None:
        sets = ",".join(f"{k}=?" for k in fields)
        with self.tx() as db:
            db.execute(f"UPDATE executions SET {sets} WHERE arn=?", (*fields.values(), arn))

    def get_execution(self, arn: str) -> dict | None:
        rows = self.read("SELECT * FROM executions WHERE arn=?", (arn,))
        return dict(rows[0]) if rows else None

    def find_executions(self, name_or_arn: str) -> list[dict]:
        rows = self.read(
            "SELECT * FROM executions WHERE arn=? OR name=? ORDER BY start DESC",
            (name_or_arn, name_or_arn),
        )
        return [dict(r) for r in rows]

    def list_executions(
        self, state_machine_arn: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[dict]:
        sql = "SELECT * FROM executions"
        where, args = [], []
        if state_machine_arn:
            where.append("state_machine_arn=?")
            args.append(state_machine_arn)
        if status:
            where.append("status=?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start DESC LIMIT ?"
        args.append(limit)
        return [dict(r) for r in self.read(sql, tuple(args))]

    def events(self, arn: str, after: int = 0) -> list[dict]:
        rows = self.read(
            "SELECT body FROM events WHERE execution_arn=? AND id>? ORDER BY id", (arn, after)
        )
        return [json.loads(r["body"]) for r in rows]

    def fibers(self, arn: str) -> dict[str, dict]:
        rows = self.read("SELECT fiber_id, body FROM fibers WHERE execution_arn=?", (arn,))
        return {r["fiber_id"]: json.loads(r["body"]) for r in rows}

    def replace_fibers(self, arn: str, fibers: dict[str, dict]) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM fibers WHERE execution_arn=?", (arn,))
            db.executemany(
                "INSERT INTO fibers VALUES (?,?,?)",
                [(arn, fid, json.dumps(body)) for fid, body in fibers.items()],
            )

    def append_events(self, arn: str, events: list[dict]) -> None:
        with self.tx() as db:
            self._insert_events(db, arn, events)

    @staticmethod
    def _insert_events(db: sqlite3.Connection, arn: str, events: list[dict]) -> None:
        db.executemany(
            "INSERT INTO events VALUES (?,?,?,?,?)",
            [(arn, e["id"], e["timestamp"], e["type"], json.dumps(e)) for e in events],
        )

    def commit(self, arn: str, events: list[dict], fibers: dict[str, dict | None]) -> None:
        """One transition: new events, changed fiber checkpoints, and the final status."""
        with self.tx() as db:
            self._insert_events(db, arn, events)
            for fid, body in fibers.items():
                if body is None:
                    db.execute(
                        "DELETE FROM fibers WHERE execution_arn=? AND fiber_id=?", (arn, fid)
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO fibers VALUES (?,?,?)",
                        (arn, fid, json.dumps(body)),
                    )
            for event in events:
                status = TERMINAL.get(event["type"])
                if status is None:
                    continue
                details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
                db.execute(
                    "UPDATE executions SET status=?, output=?, error=?, cause=?, stop=?, "
                    "stop_requested=NULL WHERE arn=?",
                    (
                        status,
                        details.get("output"),
                        details.get("error"),
                        details.get("cause"),
                        event["timestamp"],
                        arn,
                    ),
                )
                if status == "SUCCEEDED":
                    db.execute("DELETE FROM fibers WHERE execution_arn=?", (arn,))


class SqliteSink:
    """The program's checkpoint sink for one execution."""

    def __init__(self, store: Store, arn: str) -> None:
        self.store = store
        self.arn = arn

    def commit(self, events: list[dict], fibers: dict[str, dict | None]) -> None:
        self.store.commit(self.arn, events, fibers)
