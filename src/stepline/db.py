"""The one SQLite database under ``$STEPLINE_HOME``, shared by the engine, jobs and serving.

Every layer owns its tables (``executions``/``events``/``fibers``, ``job*``, ``serving_*``)
but they all meet here: one connection per thread and file, WAL so readers never wait for the
writer, a long busy timeout because detached job supervisors and the server write too,
``BEGIN IMMEDIATE`` transactions so writers queue instead of failing half-way, and a set-up
that many processes can run at once on a new file (see :func:`_set_up`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from stepline import config

_local = threading.local()


def connect(schema: str, path: str | os.PathLike[str] | None = None) -> sqlite3.Connection:
    """This thread's connection to ``path`` (default ``stepline.db``), ``schema`` ensured."""
    target = str(path if path is not None else config.db_path())
    cache = getattr(_local, "conns", None)
    if cache is None:
        cache = _local.conns = {}
    key = (target, schema)
    conn = cache.get(key)
    if conn is None or not os.path.exists(target):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            target, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        _set_up(conn, schema)
        cache[key] = conn
    return conn


#: How long a writer waits for the write lock (and a new connection for its set-up).
BUSY_SECONDS = 30.0

_setup_lock = threading.Lock()


def _set_up(conn: sqlite3.Connection, schema: str) -> None:
    """WAL mode and the schema, safe when many threads and processes open a new database at
    once (a Map's first jobs, their supervisors).

    Why not just run the statements: switching a fresh file to WAL, and creating tables,
    upgrade a read lock to a write lock, and when two connections both hold the read lock
    SQLite answers "database is locked" at once instead of waiting (waiting could deadlock).
    So the mode is changed only when it is not WAL yet, the schema runs inside ``BEGIN
    IMMEDIATE`` (which takes the write lock first, and does wait), and a lock error during
    set-up is retried until :data:`BUSY_SECONDS` have passed.
    """
    deadline = time.monotonic() + BUSY_SECONDS
    delay = 0.005
    with _setup_lock:  # the threads of one process queue here instead of colliding
        while True:
            try:
                conn.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
                return
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error): all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
