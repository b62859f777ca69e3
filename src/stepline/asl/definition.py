"""Typed states built from a definition's JSON.

``parse`` validates first (every problem, with its JSON path) and then builds one object
per state, compiling every path, template and expression once, so evaluation never parses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepline.asl.errors import DefinitionError

JSONPATH = "JSONPath"


@dataclass
class Graph:
    """A ``StartAt`` + ``States`` pair: the top level, a Parallel branch or a Map processor."""

    start_at: str
    states: dict[str, Any]
    query_language: str


@dataclass
class Definition:
    """A parsed, validated state machine."""

    graph: Graph
    source: dict
    timeout_seconds: float | None = None
    comment: str | None = None


def build_graph(spec: Mapping[str, Any], query_language: str) -> Graph:
    """Build the states of one graph; nested graphs are built by their owning states."""
    from stepline.asl.states import STATE_TYPES

    ql = spec.get("QueryLanguage", query_language)
    states = {}
    for name, state_spec in spec["States"].items():
        cls = STATE_TYPES[state_spec["Type"]]
        states[name] = cls(name, state_spec, ql)
    return Graph(spec["StartAt"], states, ql)


def parse(definition: Mapping[str, Any] | str, *, validate: bool = True) -> Definition:
    """Validate ``definition`` (a dict or JSON text) and build its typed states.

    Raises :class:`~stepline.asl.errors.DefinitionError` listing every problem.
    """
    if validate:
        from stepline.asl.validate import check

        source = check(definition)
    else:
        source = json.loads(definition) if isinstance(definition, str) else dict(definition)
    graph = build_graph(source, source.get("QueryLanguage", JSONPATH))
    timeout = source.get("TimeoutSeconds")
    return Definition(
        graph, source, float(timeout) if timeout is not None else None, source.get("Comment")
    )


__all__ = ["Definition", "DefinitionError", "Graph", "build_graph", "parse"]
