"""Batch transform's DataProcessing: InputFilter, JoinSource, OutputFilter.

SageMaker's JSONPath subset (``batch-transform-data-processing``): ``$``, ``.name``,
``['a','b']``, ``[i,j]`` (negative indexes count from the end), ``[start:end]`` and ``*``.
CSV rows are treated as JSON arrays (so only index paths apply to them); the joined output
puts the input first (CSV: input columns then output columns; JSON objects gain a
``SageMakerOutput`` key; other JSON becomes ``{"SageMakerInput", "SageMakerOutput"}``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

_STEP = re.compile(r"\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\.\*|\[\*\]|\[(?P<bracket>[^\]]*)\]")


class FilterError(ValueError):
    """A DataProcessing path is malformed or does not apply to the record."""


def parse(path: str) -> list[tuple[str, Any]]:
    """Compile a path into steps ``("key", name) | ("keys", [...]) | ("idx", [...]) |
    ("slice", (a, b)) | ("all", None)``."""
    if not path.startswith("$"):
        raise FilterError(f"{path!r}: a path starts with $")
    steps: list[tuple[str, Any]] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise FilterError(f"{path!r}: unsupported syntax at {path[pos:]!r}")
        text = m.group(0)
        if m.group("name"):
            steps.append(("key", m.group("name")))
        elif text in (".*", "[*]"):
            steps.append(("all", None))
        else:
            inner = m.group("bracket").strip()
            if ":" in inner:
                a, _, b = inner.partition(":")
                steps.append(
                    ("slice", (int(a) if a.strip() else None, int(b) if b.strip() else None))
                )
            elif inner.startswith(("'", '"')):
                names = [p.strip().strip("'\"") for p in inner.split(",")]
                steps.append(("keys", names))
            else:
                try:
                    steps.append(("idx", [int(p) for p in inner.split(",")]))
                except ValueError:
                    raise FilterError(f"{path!r}: bad index list [{inner}]") from None
        pos = m.end()
    return steps


def apply(path: str | None, value: Any) -> Any:
    """Select from ``value`` (``$`` or None keeps it whole)."""
    if not path or path == "$":
        return value
    current = value
    for kind, arg in parse(path):
        if kind == "key":
            if not isinstance(current, dict) or arg not in current:
                raise FilterError(f"{path!r}: no key {arg!r} in the record")
            current = current[arg]
        elif kind == "keys":
            if not isinstance(current, dict):
                raise FilterError(f"{path!r}: the record is not an object")
            current = {k: current[k] for k in arg if k in current}
        elif kind == "idx":
            if not isinstance(current, list):
                raise FilterError(f"{path!r}: the record is not an array")
            try:
                picked = [current[i] for i in arg]
            except IndexError:
                raise FilterError(f"{path!r}: index out of range") from None
            current = picked[0] if len(arg) == 1 else picked
        elif kind == "slice":
            if not isinstance(current, list):
                raise FilterError(f"{path!r}: the record is not an array")
            current = current[arg[0] : arg[1]]
        else:
            current = list(current.values()) if isinstance(current, dict) else current
    return current


def is_csv(content_type: str | None) -> bool:
    """Whether records are CSV rows."""
    return (content_type or "").split(";")[0].strip().lower() == "text/csv"


def decode(record: bytes, csv_mode: bool) -> Any:
    """A record as a JSON value (CSV: a list of the row's fields)."""
    text = record.decode("utf-8").rstrip("\r\n")
    if csv_mode:
        return next(csv.reader([text]), [])
    return json.loads(text)


def encode(value: Any, csv_mode: bool) -> bytes:
    """Back to bytes (no trailing newline)."""
    if csv_mode:
        if not isinstance(value, list):
            value = [value]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(value)
        return buf.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


def join(source: Any, output: Any, csv_mode: bool) -> Any:
    """JoinSource=Input: combine the (unfiltered) input record with the model's output."""
    if csv_mode:
        out = output if isinstance(output, list) else [output]
        return list(source) + list(out)
    if isinstance(source, dict):
        return {**source, "SageMakerOutput": output}
    return {"SageMakerInput": source, "SageMakerOutput": output}
