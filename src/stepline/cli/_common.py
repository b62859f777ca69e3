"""Helpers shared by CLI groups: JSON output and argument parsing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (datetimes and other objects become strings)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


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
