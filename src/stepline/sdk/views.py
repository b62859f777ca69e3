"""Text views of a workflow graph and an execution's progress.

``Workflow.render_graph()`` and ``Execution.render_progress()`` call :func:`graph_view` and
:func:`progress_view` only, so a richer notebook widget can replace these functions without
touching the workflow classes.  These views need no IPython, JavaScript or network (the DS
SDK's need classic Jupyter and a CDN, its issues #29, #54, #127, #189).
"""

from __future__ import annotations

import html
from typing import Any

_STATUS = {
    "SUCCEEDED": "✓",
    "FAILED": "✗",
    "CAUGHT": "!",
    "RUNNING": "…",
    "ABORTED": "■",
}


def _lines(definition: dict[str, Any], indent: str = "") -> list[str]:
    out = []
    states = definition.get("States", {})
    for name, state in states.items():
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
        out.append(f"{indent}{marker}{name} [{kind}] -> {', '.join(targets) or '(end)'}")
        for i, branch in enumerate(state.get("Branches", [])):
            out.append(f"{indent}    branch {i + 1}:")
            out += _lines(branch, indent + "      ")
        body = state.get("ItemProcessor") or state.get("Iterator")
        if body:
            out.append(f"{indent}    for each item:")
            out += _lines(body, indent + "      ")
    return out


class GraphView:
    """A state machine as indented text (and as ``<pre>`` HTML in notebooks)."""

    def __init__(self, definition: dict[str, Any], portrait: bool = False) -> None:
        self.definition = definition
        self.portrait = portrait

    def text(self) -> str:
        return "\n".join(_lines(self.definition))

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text())}</pre>"


def state_statuses(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each state's latest status from GetExecutionHistory events."""
    status: dict[str, str] = {}
    for event in events:
        kind = event.get("type", "")
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if details and "name" in details:
            name = details["name"]
            status[name] = "RUNNING" if kind.endswith("StateEntered") else "SUCCEEDED"
        elif kind.endswith("Failed") or kind.endswith("TimedOut"):
            # A failure belongs to the state entered last that has not exited.
            running = [n for n, s in status.items() if s == "RUNNING"]
            if running:
                status[running[-1]] = "FAILED"
    return status


class ProgressView(GraphView):
    """The graph with each state's status from the execution history."""

    def __init__(
        self, definition: dict[str, Any], events: list[dict[str, Any]], portrait: bool = False
    ) -> None:
        super().__init__(definition, portrait)
        self.events = events
        self.statuses = state_statuses(events)

    def text(self) -> str:
        out = []
        for line in _lines(self.definition):
            name = line.strip().removeprefix("▶ ").split(" [", 1)[0]
            mark = _STATUS.get(self.statuses.get(name, ""), " ")
            out.append(f"{mark} {line}")
        return "\n".join(out)


def graph_view(definition: dict[str, Any], portrait: bool = False) -> GraphView:
    """What ``Workflow.render_graph()`` returns."""
    return GraphView(definition, portrait)


def progress_view(
    definition: dict[str, Any], events: list[dict[str, Any]], portrait: bool = False
) -> ProgressView:
    """What ``Execution.render_progress()`` returns."""
    return ProgressView(definition, events, portrait)
