"""The shared SQLite database: many first connections at once on a new file.

A Map's first jobs open ``stepline.db`` from several threads at the same moment, on a home
that has none yet.  Before :func:`stepline.db._set_up`, one of them could get "database is
locked" at once (two connections upgrading read locks to the write lock: SQLite refuses one
instead of waiting), which failed a Ray fan-out test in a clean CI run about one time in a
hundred and fifty.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from stepline import db

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (a INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rows_a ON rows (a);
"""
THREADS = 16
TRIALS = 300


def _open_and_write_at_once(path: Path) -> list[str]:
    barrier = threading.Barrier(THREADS)
    errors: list[str] = []

    def first_use() -> None:
        barrier.wait()
        try:
            with db.transaction(db.connect(SCHEMA, path)) as conn:
                conn.execute("INSERT INTO rows VALUES (1)")
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=first_use) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_many_first_connections_on_a_new_file_all_succeed(tmp_path: Path) -> None:
    failed = {}
    for trial in range(TRIALS):
        path = tmp_path / f"t{trial}" / "stepline.db"
        errors = _open_and_write_at_once(path)
        if errors:
            failed[trial] = errors
        else:
            rows = sqlite3.connect(path).execute("SELECT count(*) FROM rows").fetchone()[0]
            assert rows == THREADS
    assert not failed, failed


def test_the_file_is_in_wal_mode_and_the_schema_exists(tmp_path: Path) -> None:
    path = tmp_path / "stepline.db"
    db.connect(SCHEMA, path)
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in other.execute("SELECT name FROM sqlite_master")}
    assert {"rows", "rows_a"} <= names
