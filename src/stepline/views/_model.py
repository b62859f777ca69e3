"""The graph model every view draws from: nodes, groups and edges of a definition.

Also the status vocabulary (names, labels, colours) the console, notebooks and the CLI share,
and the one way statuses given by a caller are read (:func:`normalise_statuses`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stepline.asl.states import STATE_TYPES, State

#: Every status a state can show, in the order the legend lists them.
STATUSES = ("not_run", "running", "succeeded", "failed", "caught", "cached", "cancelled")

#: Human labels for :data:`STATUSES`.
STATUS_LABELS = {
    "not_run": "not run",
    "running": "in progress",
    "succeeded": "succeeded",
    "failed": "failed",
    "caught": "caught error",
    "cached": "cached",
    "cancelled": "cancelled",
}

#: (fill, stroke) per status; the console's stylesheet uses the same colours.
COLORS = {
    "not_run": ("#f4f5f7", "#a0a7b4"),
    "running": ("#dbeafe", "#2563eb"),
    "succeeded": ("#dcfce7", "#16a34a"),
    "failed": ("#fee2e2", "#dc2626"),
    "caught": ("#ffedd5", "#ea580c"),
    "cached": ("#ede9fe", "#7c3aed"),
    "cancelled": ("#f4f5f7", "#6b7280"),
}


def state_class(stype: Any) -> type[State] | None:
    """The language's class for a state's ``Type``; None for one it lacks.

    What the views know of a type (its nested graphs, how they are labelled, whether it ends
    its graph) is read from the class, so a new state type needs no edit here; a definition
    the views draw may be invalid, and an unknown type is drawn as a plain box.
    """
    return STATE_TYPES.get(stype) if isinstance(stype, str) else None


def is_group(stype: Any) -> bool:
    """Whether a state of this type is drawn as a group holding nested graphs (Parallel, Map)."""
    cls = state_class(stype)
    return cls is not None and cls.nesting is not None


def load(definition: Mapping[str, Any] | str) -> dict[str, Any]:
    """The definition as a dict (JSON text is parsed); a ValueError if it is no state machine."""
    if isinstance(definition, str):
        loaded = json.loads(definition)
    else:
        loaded = dict(definition)
    if not isinstance(loaded, dict) or "States" not in loaded or "StartAt" not in loaded:
        raise ValueError("a state machine definition needs StartAt and States")
    return loaded


def scopes(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The nested graphs of a state: a Parallel's branches, a Map's processor (its class says)."""
    cls = state_class(spec.get("Type"))
    return cls.graphs(spec) if cls is not None else []


def labels_branches(stype: Any) -> bool:
    """Whether the nested graphs are drawn as labelled branches ("Branch 1", ...; Parallel's)
    rather than as one unlabelled body run per item (Map's "Iteration")."""
    cls = state_class(stype)
    return cls is not None and cls.nesting == "branches"


def transitions(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(target state, edge kind) for every way out of a state except the end."""
    out: list[tuple[str, str]] = []
    for choice in spec.get("Choices", []) or []:
        if isinstance(choice, Mapping) and isinstance(choice.get("Next"), str):
            out.append((choice["Next"], "choice"))
    if isinstance(spec.get("Default"), str):
        out.append((spec["Default"], "default"))
    if isinstance(spec.get("Next"), str):
        out.append((spec["Next"], "next"))
    for catch in spec.get("Catch", []) or []:
        if isinstance(catch, Mapping) and isinstance(catch.get("Next"), str):
            out.append((catch["Next"], "catch"))
    return out


def _is_terminal(spec: Mapping[str, Any]) -> bool:
    cls = state_class(spec.get("Type"))
    return bool(spec.get("End")) or (cls is not None and cls.terminal)


def graph_model(definition: Mapping[str, Any] | str) -> dict[str, Any]:
    """Nodes, groups and edges of a definition, ready to lay out.

    Node ids are paths: a top-level state is its name; a state inside branch ``i`` of the
    Parallel (or the processor, ``i = 0``, of the Map) with id ``P`` is ``P/i/Name``.  A
    Parallel or Map state ``P`` is a group ``P`` holding its header node ``P`` (the state
    itself, what edges enter and what is clicked), one sub-group ``P/i`` per branch, and a
    join node ``P/end`` (what its outgoing edges leave from).  The top level has ``__start__``
    and ``__end__`` nodes, as the Step Functions console draws them.
    """
    source = load(definition)
    nodes: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []

    def scope(spec: Mapping[str, Any], prefix: str, parent: str | None) -> tuple[str, list[str]]:
        """Add one graph's states; returns (entry node id, node ids that end the graph)."""
        states = spec.get("States", {})
        ids = {name: prefix + name for name in states}
        exits: dict[str, str] = {}
        terminals: list[str] = []
        for name, st in states.items():
            sid = ids[name]
            stype = st.get("Type", "?")
            node = {"id": sid, "name": name, "type": stype, "kind": "state", "group": parent}
            if is_group(stype):
                groups.append({"id": sid, "name": name, "type": stype, "parent": parent})
                node["group"] = sid
                nodes.append(node)
                join = f"{sid}/end"
                for i, branch in enumerate(scopes(st)):
                    bid = f"{sid}/{i}"
                    label = f"Branch {i + 1}" if labels_branches(stype) else "Iteration"
                    groups.append({"id": bid, "name": label, "type": "Branch", "parent": sid})
                    entry, ends = scope(branch, bid + "/", bid)
                    edges.append({"source": sid, "target": entry, "kind": "branch"})
                    for end in ends:
                        edges.append({"source": end, "target": join, "kind": "join"})
                nodes.append({"id": join, "name": "", "type": "Join", "kind": "join", "group": sid})
                exits[name] = join
            else:
                nodes.append(node)
                exits[name] = sid
            if _is_terminal(st):
                terminals.append(exits[name])
        for name, st in states.items():
            for target, kind in transitions(st):
                if target in ids:
                    edges.append({"source": exits[name], "target": ids[target], "kind": kind})
        return ids.get(spec.get("StartAt", ""), prefix), terminals

    nodes.append({"id": "__start__", "name": "Start", "type": "Start", "kind": "start"})
    entry, terminals = scope(source, "", None)
    nodes.append({"id": "__end__", "name": "End", "type": "End", "kind": "end"})
    edges.insert(0, {"source": "__start__", "target": entry, "kind": "next"})
    for end in terminals:
        edges.append({"source": end, "target": "__end__", "kind": "next"})
    return {"nodes": nodes, "groups": groups, "edges": edges}


def normalise_statuses(model: dict[str, Any], statuses: Mapping[str, Any] | None) -> dict:
    """Accept ``{node id or state name: status | {"status": ...}}``; names match every node."""
    if not statuses:
        return {}
    by_name: dict[str, list[str]] = {}
    for n in model["nodes"]:
        by_name.setdefault(n["name"], []).append(n["id"])
    out: dict[str, str] = {}
    for key, value in statuses.items():
        status = value.get("status") if isinstance(value, Mapping) else value
        status = {"in_progress": "running", "not run": "not_run"}.get(str(status), str(status))
        if status not in COLORS:
            raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        ids = [key] if any(n["id"] == key for n in model["nodes"]) else by_name.get(key, [])
        for nid in ids:
            out[nid] = status
            if f"{nid}/end" in {n["id"] for n in model["nodes"]}:
                out[f"{nid}/end"] = status
    return out
