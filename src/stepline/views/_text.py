"""The graph as an indented outline, for terminals, logs and a notebook's ``text/plain``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stepline.views._model import (
    STATUS_LABELS,
    graph_model,
    labels_branches,
    load,
    normalise_statuses,
    scopes,
    transitions,
)

_MARKS = {
    "not_run": "·",
    "running": "…",
    "succeeded": "✓",
    "failed": "✗",
    "caught": "!",
    "cached": "≡",
    "cancelled": "-",
}


def to_text(definition: Mapping[str, Any] | str, statuses: Mapping[str, Any] | None = None) -> str:
    """An indented outline of the states with a status mark each, for terminals and logs."""
    source = load(definition)
    model = graph_model(source)
    st = normalise_statuses(model, statuses)
    lines: list[str] = []

    def walk(spec: Mapping[str, Any], prefix: str, depth: int) -> None:
        pad = "  " * depth
        for name, s in spec.get("States", {}).items():
            nid = prefix + name
            stype = s.get("Type", "?")
            targets = [t for t, _ in transitions(s)]
            arrow = f" -> {', '.join(targets)}" if targets else (" -> end" if s.get("End") else "")
            status = st.get(nid, "not_run") if statuses else None
            mark = f"{_MARKS[status]} " if status else ""
            tail = f"  [{STATUS_LABELS[status]}]" if status else ""
            lines.append(f"{pad}{mark}{name} ({stype}){arrow}{tail}")
            for i, sub in enumerate(scopes(s)):
                if labels_branches(stype):
                    lines.append(f"{pad}  branch {i + 1}:")
                    walk(sub, f"{nid}/{i}/", depth + 2)
                else:
                    walk(sub, f"{nid}/{i}/", depth + 1)

    walk(source, "", 0)
    return "\n".join(lines)
