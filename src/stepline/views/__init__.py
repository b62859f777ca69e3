"""Graphs of state machines and their executions, for notebooks, terminals and the console.

One model serves every view: :func:`graph_model` turns a definition into nodes, groups and
edges (Parallel branches and Map processors become nested groups), and :func:`state_statuses`
turns an execution's event history into a status per node.  The web console lays the model
out in the browser (dagre); notebooks get an SVG laid out here in Python, so the output needs
no JavaScript, no RequireJS and nothing from the network, and still renders in a notebook that
is reopened untrusted, in JupyterLab, classic Notebook, VS Code or a static HTML export.

Public entry points::

    render_graph(definition, statuses=None)   -> GraphView   (a definition, optionally coloured)
    render_progress(execution, engine=None)   -> GraphView   (a snapshot of an execution)

A :class:`GraphView` displays as SVG in Jupyter (``_repr_mimebundle_``/``_repr_html_``/
``_repr_svg_``) and as an indented outline in a terminal (``repr``/``str``).

Inside: :mod:`._model` (the graph model and status vocabulary), :mod:`._progress` (the one
reduction of a history to statuses), :mod:`._layout` and :mod:`._svg` (the notebook drawing),
:mod:`._text` (the outline), :mod:`._view` (:class:`GraphView` and the two entry points).
"""

from __future__ import annotations

from stepline.views._model import COLORS, STATUS_LABELS, STATUSES, graph_model
from stepline.views._progress import state_statuses
from stepline.views._svg import to_svg
from stepline.views._text import to_text
from stepline.views._view import GraphView, render_graph, render_progress

__all__ = [
    "COLORS",
    "STATUSES",
    "STATUS_LABELS",
    "GraphView",
    "graph_model",
    "render_graph",
    "render_progress",
    "state_statuses",
    "to_svg",
    "to_text",
]
