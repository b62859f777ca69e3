"""Helpers shared by CLI groups: JSON output, the one table style, and argument parsing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (datetimes and other objects become strings)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def fmt_time(value: Any, *, ms: bool = False) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS`` (``.mmm`` with ``ms``) in the local time zone, whole.

    Accepts what the layers return: aware ``datetime`` (SageMaker-shaped records), ISO 8601
    strings with ``Z`` (Step Functions-shaped records) and epoch seconds; ``None`` is ``-``.
    """
    if value is None or value == "":
        return "-"
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value).astimezone()
    elif isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone()
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond // 1000:03d}" if ms else text


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return fmt_time(value)
    return " ".join(str(value).split("\n"))


def print_table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str | None = None
) -> None:
    """Print rows as plain aligned columns: the one table style of every ``list`` command.

    Plain on purpose: no cell is ever cut, wrapped or boxed to fit the terminal, so a name,
    UUID, ARN or time can be copied straight into the next command at any width (a row wider
    than the terminal runs on; ``less -S`` scrolls it).  Scripts use ``--json`` instead.
    ``None`` shows as ``-``; datetimes go through :func:`fmt_time`.  With no rows, ``empty``
    (when given) is printed instead of a lone header.
    """
    table = [[_cell(v) for v in row] for row in rows]
    if not table and empty is not None:
        sys.stdout.write(empty + "\n")
        return
    table.insert(0, [h.upper() for h in header])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")


def load_json_arg(value: str | None, what: str = "input") -> Any:
    """Parse a CLI JSON argument given inline or as ``@FILE``."""
    if value is None:
        return {}
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read {what} file {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
