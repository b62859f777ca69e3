"""The one SQLite database under ``$STEPLINE_HOME``, shared by the engine, jobs and serving.

Every layer owns its tables (``executions``/``events``/``fibers``, ``job*``, ``serving_*``)
but they all meet here: one connection per thread and file, WAL so readers never wait for the
writer, a long busy timeout because detached job supervisors and the server write too, and
``BEGIN IMMEDIATE`` transactions so writers queue instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
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
        conn = sqlite3.connect(target, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(schema)
        cache[key] = conn
    return conn


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
