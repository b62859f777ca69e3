"""The view object every entry point returns, and the two entry points that build one.

Why a class: one object displays itself wherever it lands -- inline SVG in Jupyter, an
outline in a terminal -- and hands ``.svg``, ``.text`` and ``.statuses`` to other code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stepline.views._model import graph_model, load, normalise_statuses
from stepline.views._progress import state_statuses
from stepline.views._svg import to_svg
from stepline.views._text import to_text


class GraphView:
    """A state machine graph, optionally coloured by status, that displays itself.

    In Jupyter it is an inline SVG (rendered here, in Python); in a terminal its ``repr`` is
    an outline.  ``.svg``, ``.text`` and ``.statuses`` give the pieces to other code.
    """

    def __init__(
        self,
        definition: Mapping[str, Any] | str,
        statuses: Mapping[str, Any] | None = None,
        *,
        title: str | None = None,
        details: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.definition = load(definition)
        self.statuses = dict(statuses or {})
        self.title = title
        self.details = dict(details or {})
        graph_model(self.definition)  # fail now, not when displayed
        normalise_statuses(graph_model(self.definition), self.statuses)

    @property
    def svg(self) -> str:
        return to_svg(self.definition, self.statuses, title=self.title, legend=bool(self.statuses))

    @property
    def text(self) -> str:
        head = f"{self.title}\n" if self.title else ""
        return head + to_text(self.definition, self.statuses)

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return f'<div class="stepline-view" style="overflow-x:auto">{self.svg}</div>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "text/plain": self.text}

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def render_graph(
    definition: Mapping[str, Any] | str, statuses: Mapping[str, Any] | None = None
) -> GraphView:
    """Display a state machine definition as a graph (inline SVG in Jupyter, text elsewhere).

    ``definition`` is the ASL dict or JSON text.  ``statuses`` optionally colours states:
    ``{state name or node id: status}`` with a status from :data:`STATUSES` (``"running"``,
    ``"succeeded"``, ...) or a dict with a ``"status"`` key, as :func:`state_statuses`
    returns.  A state name colours every state of that name.
    """
    return GraphView(definition, statuses)


def render_progress(execution: str | Mapping[str, Any], engine: Any = None) -> GraphView:
    """Display an execution's graph coloured by how far each state got, as of now.

    ``execution`` is an execution name or ARN, or a DescribeExecution dict; ``engine`` is a
    :class:`stepline.engine.Engine` (default: one over ``$STEPLINE_HOME``).  Call it again (or
    display it again) to see later progress; the console shows the same graph live.
    """
    if engine is None:
        from stepline.engine import Engine

        engine = Engine()
    ref = execution if isinstance(execution, str) else execution["executionArn"]
    desc = engine.describe_execution(ref)
    definition = engine.store.get_execution(desc["executionArn"])["definition"]
    history = engine.get_execution_history(desc["executionArn"])
    details = state_statuses(definition, history, desc["status"])
    title = f"{desc['name']} · {desc['status']}"
    view = GraphView(definition, {k: v["status"] for k, v in details.items()}, title=title)
    view.details = details
    return view
