"""The ``stepline`` command.

Each command group lives in its own module exposing ``app: typer.Typer``; ``GROUPS`` is the
plain registry of them.  Errors reach the user as one line (``stepline: error: ...``) unless
``--debug`` is given, in which case the traceback is shown.  The app, its registry and
:func:`main` (the ``stepline`` script) live in :mod:`._app`.
"""

from __future__ import annotations

from stepline.cli._app import COMMANDS, GROUPS, app, main

__all__ = ["COMMANDS", "GROUPS", "app", "main"]
