"""Where stepline keeps its state.

Everything lives under ``$STEPLINE_HOME`` (default ``~/.stepline``) so that a project can be
moved, backed up or wiped as one folder, and so that no server is needed to use stepline:
``stepline.db`` (SQLite, WAL) for state machines, executions, history and job records,
``objects/`` for the embedded object store, ``images/`` for built images, ``jobs/`` for job
folders.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Return (and create) the stepline home folder."""
    path = Path(os.environ.get("STEPLINE_HOME") or Path.home() / ".stepline").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    """The SQLite database shared by the engine and the job records."""
    return home() / "stepline.db"
