"""Text views of a workflow graph and an execution's progress.

``Workflow.render_graph()`` and ``Execution.render_progress()`` call :func:`graph_view` and
:func:`progress_view` only, so a richer notebook widget can replace these functions without
touching the workflow classes.  These views need no IPython, JavaScript or network (the DS
SDK's need classic Jupyter and a CDN, its issues #29, #54, #127, #189).

Statuses come from :func:`stepline.views.state_statuses`, the one reduction of a history that
the console and ``stepline run`` use too: it follows ``previousEventId`` through Parallel
branches, Map iterations and redrives, so a failure is shown on the state that failed.
"""

from __future__ import annotations

import html
from typing import Any

from stepline import views

#: The mark shown before a state, per status of :data:`stepline.views.STATUSES`.
_STATUS = {
    "succeeded": "✓",
    "cached": "✓",
    "failed": "✗",
    "caught": "!",
    "running": "…",
    "cancelled": "■",
}


def _lines(definition: dict[str, Any], indent: str = "") -> list[str]:
    return [line for _, line in _node_lines(definition, indent)]


def _node_lines(
    definition: dict[str, Any], indent: str = "", prefix: str = ""
) -> list[tuple[str, str]]:
    """``(node id of stepline.views.graph_model, text line)`` per state and branch heading."""
    out: list[tuple[str, str]] = []
    states = definition.get("States", {})
    for name, state in states.items():
        nid = prefix + name
        kind = state.get("Type", "?")
        marker = "▶ " if name == definition.get("StartAt") else "  "
        targets = []
        if "Next" in state:
            targets.append(state["Next"])
        targets += [c["Next"] for c in state.get("Choices", []) if "Next" in c]
        if "Default" in state:
            targets.append(f"{state['Default']} (default)")
        targets += [f"{c['Next']} (catch)" for c in state.get("Catch", [])]
        if state.get("End"):
            targets.append("(end)")
        out.append((nid, f"{indent}{marker}{name} [{kind}] -> {', '.join(targets) or '(end)'}"))
        for i, branch in enumerate(state.get("Branches", [])):
            out.append(("", f"{indent}    branch {i + 1}:"))
            out += _node_lines(branch, indent + "      ", f"{nid}/{i}/")
        body = state.get("ItemProcessor") or state.get("Iterator")
        if body:
            out.append(("", f"{indent}    for each item:"))
            out += _node_lines(body, indent + "      ", f"{nid}/0/")
    return out


class OutlineView:
    """A state machine as an indented text outline (and as ``<pre>`` HTML in notebooks).

    Named apart from :class:`stepline.views.GraphView`, the drawn (SVG) graph, which is a
    different object with a different interface."""

    def __init__(self, definition: dict[str, Any], portrait: bool = False) -> None:
        self.definition = definition
        self.portrait = portrait

    def text(self) -> str:
        return "\n".join(_lines(self.definition))

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text())}</pre>"


def state_statuses(
    definition: dict[str, Any], events: list[dict[str, Any]], execution_status: str = "RUNNING"
) -> dict[str, str]:
    """Each state's status (``"succeeded"``, ``"failed"``, ...) by node id, from
    GetExecutionHistory events: :func:`stepline.views.state_statuses`, reduced to the status."""
    details = views.state_statuses(definition, events, execution_status)
    return {nid: info["status"] for nid, info in details.items()}


class ProgressView(OutlineView):
    """The graph with each state's status from the execution history."""

    def __init__(
        self,
        definition: dict[str, Any],
        events: list[dict[str, Any]],
        portrait: bool = False,
        execution_status: str = "RUNNING",
    ) -> None:
        super().__init__(definition, portrait)
        self.events = events
        self.statuses = state_statuses(definition, events, execution_status)

    def text(self) -> str:
        out = []
        for nid, line in _node_lines(self.definition):
            mark = _STATUS.get(self.statuses.get(nid, ""), " ")
            out.append(f"{mark} {line}")
        return "\n".join(out)


def graph_view(definition: dict[str, Any], portrait: bool = False) -> OutlineView:
    """What ``Workflow.render_graph()`` returns."""
    return OutlineView(definition, portrait)


def progress_view(
    definition: dict[str, Any],
    events: list[dict[str, Any]],
    portrait: bool = False,
    execution_status: str = "RUNNING",
) -> ProgressView:
    """What ``Execution.render_progress()`` returns."""
    return ProgressView(definition, events, portrait, execution_status)
