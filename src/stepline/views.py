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
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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

_MARKS = {
    "not_run": "·",
    "running": "…",
    "succeeded": "✓",
    "failed": "✗",
    "caught": "!",
    "cached": "≡",
    "cancelled": "-",
}

_GROUP_TYPES = ("Parallel", "Map")

# -- the model --------------------------------------------------------------------------------


def _load(definition: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(definition, str):
        loaded = json.loads(definition)
    else:
        loaded = dict(definition)
    if not isinstance(loaded, dict) or "States" not in loaded or "StartAt" not in loaded:
        raise ValueError("a state machine definition needs StartAt and States")
    return loaded


def _scopes(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The nested graphs of a Parallel (its branches) or a Map (its processor)."""
    if spec.get("Type") == "Parallel":
        return [b for b in spec.get("Branches", []) if isinstance(b, Mapping)]
    if spec.get("Type") == "Map":
        proc = spec.get("ItemProcessor") or spec.get("Iterator")
        return [proc] if isinstance(proc, Mapping) else []
    return []


def _transitions(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
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
    return bool(spec.get("End")) or spec.get("Type") in ("Succeed", "Fail")


def graph_model(definition: Mapping[str, Any] | str) -> dict[str, Any]:
    """Nodes, groups and edges of a definition, ready to lay out.

    Node ids are paths: a top-level state is its name; a state inside branch ``i`` of the
    Parallel (or the processor, ``i = 0``, of the Map) with id ``P`` is ``P/i/Name``.  A
    Parallel or Map state ``P`` is a group ``P`` holding its header node ``P`` (the state
    itself, what edges enter and what is clicked), one sub-group ``P/i`` per branch, and a
    join node ``P/end`` (what its outgoing edges leave from).  The top level has ``__start__``
    and ``__end__`` nodes, as the Step Functions console draws them.
    """
    source = _load(definition)
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
            if stype in _GROUP_TYPES:
                groups.append({"id": sid, "name": name, "type": stype, "parent": parent})
                node["group"] = sid
                nodes.append(node)
                join = f"{sid}/end"
                for i, branch in enumerate(_scopes(st)):
                    bid = f"{sid}/{i}"
                    label = f"Branch {i + 1}" if stype == "Parallel" else "Iteration"
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
            for target, kind in _transitions(st):
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


# -- statuses from history ----------------------------------------------------------------------

_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_RETRY_TYPES = ("Scheduled",)


def _ts(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


@dataclass
class _Visit:
    id: int
    name: str
    parent: int | None
    node: str
    type: str
    entered: float | None
    input: str | None
    iteration: int | None = None
    exited: float | None = None
    output: str | None = None
    failed: bool = False
    error: str | None = None
    cause: str | None = None
    retries: int = 0
    status: str = "running"
    after_redrive: bool = False
    cached: bool = False
    job: str | None = None
    children: list[int] = field(default_factory=list)


def _parsed(text: Any) -> Any:
    """A history field's JSON text parsed (None if it is not JSON)."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _cache_hit(result: Any) -> bool:
    """Whether a Task's (parsed) result says its job reused an earlier job's outputs.

    The SageMaker integration adds ``StepLineCache: {"Hit": true, ...}`` to the result of a
    job step that hit the step cache; only that field counts, not the words anywhere else."""
    note = result.get("StepLineCache") if isinstance(result, dict) else None
    return isinstance(note, dict) and note.get("Hit") is True


def _job_name(text: Any) -> str | None:
    """The SageMaker job a Task's parameters or result name, if any."""
    if not text:
        return None
    data = _parsed(text)
    if isinstance(data, dict):
        for key in (
            "TrainingJobName",
            "ProcessingJobName",
            "TransformJobName",
            "HyperParameterTuningJobName",
        ):
            if isinstance(data.get(key), str):
                return data[key]
    return None


def state_statuses(
    definition: Mapping[str, Any] | str,
    history: list[Mapping[str, Any]],
    execution_status: str = "RUNNING",
) -> dict[str, dict[str, Any]]:
    """A status and details per node id of :func:`graph_model`, from GetExecutionHistory events.

    Each ``*StateEntered`` event opens a *visit*; every later event is attributed to a visit by
    following ``previousEventId`` (that is how the history threads Parallel branches and Map
    iterations), so concurrent iterations of one state never mix.  A visit is ``running``
    until its ``*StateExited`` event; it is ``succeeded`` if it exited cleanly, ``caught`` if
    it exited after a failure (a Catch), ``failed`` if it failed and never exited (or is a
    Fail state), ``cancelled`` if its enclosing state or the execution ended first, and
    ``cached`` if it was a job step that reused an earlier job's outputs (step caching).
    After a redrive, states that succeeded before it and were not run again are ``cached``
    too: their earlier result was reused.  A node's status summarises its visits (one per Map
    iteration): running > failed > caught > cancelled > succeeded.

    Returns ``{node_id: {status, visits, retries, enteredAt, exitedAt, durationMs, input,
    output, error, cause, job, iterations}}`` for nodes that ran; missing nodes did not run.
    """
    model = graph_model(definition)
    group_of: dict[str, str | None] = {n["id"]: n.get("group") for n in model["nodes"]}
    types = {n["id"]: n["type"] for n in model["nodes"]}
    # (scope id, state name) -> node id; the scope of a top-level state is "".
    lookup: dict[tuple[str, str], str] = {}
    for node in model["nodes"]:
        if node["kind"] != "state":
            continue
        nid = node["id"]
        scope = nid[: len(nid) - len(node["name"])].rstrip("/")
        lookup[(scope, node["name"])] = nid
    # A Parallel/Map node's child scopes: "P/0", "P/1", ...
    child_scopes: dict[str, list[str]] = {}
    for g in model["groups"]:
        if g["type"] == "Branch" and g["parent"]:
            child_scopes.setdefault(g["parent"], []).append(g["id"])

    by_id: dict[int, Mapping[str, Any]] = {}
    owner: dict[int, int | None] = {}
    visits: dict[int, _Visit] = {}
    redriven = False

    def close_children(visit: _Visit, when: float | None) -> None:
        for cid in visit.children:
            child = visits[cid]
            if child.status == "running":
                child.status = "failed" if child.failed else "cancelled"
                child.exited = child.exited or when
            close_children(child, when)

    for event in history:
        eid = int(event.get("id", 0))
        prev = int(event.get("previousEventId", 0) or 0)
        etype = str(event.get("type", ""))
        by_id[eid] = event
        details = _details(event)
        when = _ts(event.get("timestamp"))
        if etype == "ExecutionRedriven":
            redriven = True
            owner[eid] = None
            continue
        if etype.endswith("StateEntered"):
            prev_event = by_id.get(prev, {})
            prev_type = str(prev_event.get("type", ""))
            prev_owner = owner.get(prev)
            if prev_type.endswith("StateExited") and prev_owner is not None:
                parent = visits[prev_owner].parent
            else:
                parent = prev_owner
            name = str(details.get("name", ""))
            if parent is None:
                node = lookup.get(("", name), name)
            else:
                pnode = visits[parent].node
                node = next(
                    (lookup[(s, name)] for s in child_scopes.get(pnode, []) if (s, name) in lookup),
                    f"{pnode}/0/{name}",
                )
            iteration = None
            if prev_type == "MapIterationStarted":
                iteration = _details(prev_event).get("index")
            elif parent is not None and visits[parent].iteration is not None:
                iteration = visits[parent].iteration
            visit = _Visit(
                id=eid,
                name=name,
                parent=parent,
                node=node,
                type=types.get(node, etype[: -len("StateEntered")]),
                entered=when,
                input=details.get("input"),
                iteration=iteration,
                after_redrive=redriven,
            )
            if visit.type == "Fail":
                visit.failed, visit.status = True, "failed"
            visits[eid] = visit
            if parent is not None:
                visits[parent].children.append(eid)
            owner[eid] = eid
            continue
        vid = owner.get(prev)
        owner[eid] = vid
        if vid is None or etype.startswith("Execution"):
            continue
        visit = visits[vid]
        if etype.endswith("StateExited"):
            visit.exited = when
            visit.output = details.get("output")
            if visit.failed:
                visit.status = "caught"
            else:
                visit.status = "cached" if visit.cached else "succeeded"
            close_children(visit, when)
        elif etype == "TaskScheduled":
            visit.job = _job_name(details.get("parameters")) or visit.job
            if visit.failed:
                visit.failed = False
                visit.retries += 1
        elif etype == "TaskSucceeded":
            result = _parsed(details.get("output"))
            visit.cached = _cache_hit(result)
            visit.job = _job_name(result) or visit.job
        elif etype.startswith("MapIteration"):
            continue
        elif etype.endswith(_FAILURE_SUFFIXES):
            visit.failed = True
            visit.error = details.get("error", visit.error)
            visit.cause = details.get("cause", visit.cause)
            if etype in ("MapStateFailed", "ParallelStateFailed"):
                close_children(visit, when)
        elif etype.endswith(_RETRY_TYPES) and visit.failed:
            visit.failed = False
            visit.retries += 1
    if execution_status != "RUNNING":
        for visit in visits.values():
            if visit.status == "running":
                visit.status = "failed" if visit.failed else "cancelled"
    elif redriven:
        # Failed visits from before the redrive are being run again.
        pass

    per_node: dict[str, list[_Visit]] = {}
    for visit in visits.values():
        per_node.setdefault(visit.node, []).append(visit)
    rank = {"running": 5, "failed": 4, "caught": 3, "cancelled": 2, "succeeded": 1, "cached": 0}
    out: dict[str, dict[str, Any]] = {}
    for nid, vs in per_node.items():
        latest = [v for v in vs if v.after_redrive] if redriven else vs
        if redriven and not latest:
            earlier = [v for v in vs if v.status == "succeeded"]
            status = "cached" if earlier else max(vs, key=lambda v: rank[v.status]).status
            shown = earlier or vs
        else:
            shown = latest
            status = max(shown, key=lambda v: rank[v.status]).status
        last = shown[-1]
        entered = [v.entered for v in shown if v.entered is not None]
        exited = [v.exited for v in shown if v.exited is not None]
        start = min(entered) if entered else None
        end = max(exited) if exited and status != "running" else None
        errs = [v for v in shown if v.error or v.cause]
        info: dict[str, Any] = {
            "status": status,
            "type": types.get(nid, last.type),
            "visits": len(shown),
            "retries": sum(v.retries for v in shown),
            "enteredAt": start,
            "exitedAt": end,
            "durationMs": round((end - start) * 1000, 1) if start and end else None,
            "input": last.input,
            "output": last.output,
            "error": errs[-1].error if errs else None,
            "cause": errs[-1].cause if errs else None,
            "job": next((v.job for v in reversed(shown) if v.job), None),
        }
        if len(shown) > 1 or last.iteration is not None:
            info["iterations"] = [
                {
                    "index": v.iteration,
                    "status": v.status,
                    "enteredAt": v.entered,
                    "exitedAt": v.exited,
                    "error": v.error,
                }
                for v in shown[:200]
            ]
        out[nid] = info
    # A group's join node shares its state's status, so edges out of it read right.
    for nid in list(out):
        if types.get(nid) in _GROUP_TYPES and f"{nid}/end" in group_of:
            out[f"{nid}/end"] = {"status": out[nid]["status"], "type": "Join"}
    return out


# -- SVG layout (notebooks) ---------------------------------------------------------------------

_NODE_H = 34
_GAP_Y = 34
_GAP_X = 26
_PAD = 14
_HEADER = 0
_FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"


def _text_width(text: str, size: float = 12.5) -> float:
    return sum(size * (0.36 if c in "il.,:;|!' " else 0.62 if c.isupper() else 0.55) for c in text)


@dataclass
class _Block:
    """A laid-out piece of graph with coordinates relative to its top-left corner."""

    w: float
    h: float
    nodes: list[dict[str, Any]] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def shifted(self, dx: float, dy: float) -> _Block:
        return _Block(
            self.w,
            self.h,
            [{**n, "x": n["x"] + dx, "y": n["y"] + dy} for n in self.nodes],
            [{**b, "x": b["x"] + dx, "y": b["y"] + dy} for b in self.boxes],
            [{**e, "points": [(x + dx, y + dy) for x, y in e["points"]]} for e in self.edges],
        )


def _layout(model: dict[str, Any]) -> _Block:
    """A layered top-down layout; groups are laid out inside out, then placed as one unit."""
    nodes = {n["id"]: n for n in model["nodes"]}
    groups = {g["id"]: g for g in model["groups"]}
    members: dict[str | None, list[str]] = {}
    for n in model["nodes"]:
        container = n.get("group")
        if n["kind"] == "state" and n["type"] in _GROUP_TYPES:
            container = groups[n["id"]]["parent"]
        if n["kind"] == "join":
            continue
        members.setdefault(container, []).append(n["id"])
    for g in model["groups"]:
        if g["type"] == "Branch":
            members.setdefault(g["parent"], [])

    def unit_of(node_id: str, scope: str | None) -> str | None:
        """The member of ``scope`` that contains ``node_id`` (itself, or a group holding it)."""
        cur: str | None = node_id
        while cur is not None:
            n = nodes.get(cur)
            container = n.get("group") if n else groups.get(cur, {}).get("parent")
            if n is not None and n["kind"] == "state" and n["type"] in _GROUP_TYPES:
                container = groups[cur]["parent"]
            if n is not None and n["kind"] == "join":
                cur = n["group"]
                continue
            if container == scope:
                return cur
            cur = container
        return None

    def leaf_box(nid: str) -> _Block:
        n = nodes[nid]
        if n["kind"] in ("start", "end"):
            w, h = 64.0, 26.0
        else:
            w = max(110.0, _text_width(n["name"]) + 34)
            h = float(_NODE_H)
        block = _Block(w, h)
        block.nodes.append({**n, "x": 0.0, "y": 0.0, "w": w, "h": h})
        return block

    def group_block(gid: str) -> _Block:
        header = leaf_box(gid)
        branches = [b for b in model["groups"] if b["parent"] == gid and b["type"] == "Branch"]
        inner = [scope_block(b["id"], labelled=nodes[gid]["type"] == "Parallel") for b in branches]
        row_w = sum(b.w for b in inner) + _GAP_X * max(0, len(inner) - 1)
        inner_h = max((b.h for b in inner), default=0.0)
        w = max(header.w, row_w) + 2 * _PAD
        join_h = 10.0
        h = _PAD + header.h + _GAP_Y + inner_h + _GAP_Y + join_h + _PAD
        block = _Block(w, h)
        block.boxes.append({"id": gid, "kind": "group", "x": 0.0, "y": 0.0, "w": w, "h": h})
        hx = (w - header.w) / 2
        block.nodes += header.shifted(hx, _PAD).nodes
        jy = h - _PAD - join_h
        join_id = f"{gid}/end"
        block.nodes.append(
            {**nodes[join_id], "x": w / 2 - 5, "y": jy, "w": 10.0, "h": join_h, "kind": "join"}
        )
        x = (w - row_w) / 2
        top = _PAD + header.h + _GAP_Y
        for b in inner:
            placed = b.shifted(x, top + (inner_h - b.h) / 2)
            block.nodes += placed.nodes
            block.boxes += placed.boxes
            block.edges += placed.edges
            x += b.w + _GAP_X
        return block

    def scope_block(scope: str | None, labelled: bool = False) -> _Block:
        ids = members.get(scope, [])
        units = {u: (group_block(u) if u in groups else leaf_box(u)) for u in ids}
        succ: dict[str, list[str]] = {u: [] for u in ids}
        scoped_edges = []
        for e in model["edges"]:
            a, b = unit_of(e["source"], scope), unit_of(e["target"], scope)
            if a is None or b is None or a == b:
                continue
            if nodes.get(e["source"], {}).get("kind") == "state" and e["source"] in groups:
                continue  # header -> branch entry edges belong to the group
            succ[a].append(b)
            scoped_edges.append((e, a, b))
        # Layers by longest path over the DAG left after dropping DFS back edges.
        order: list[str] = []
        state: dict[str, int] = {}
        back: set[tuple[str, str]] = set()

        def dfs(u: str) -> None:
            state[u] = 1
            for v in succ[u]:
                if state.get(v) == 1:
                    back.add((u, v))
                elif v not in state:
                    dfs(v)
            state[u] = 2
            order.append(u)

        roots = [u for u in ids if not any(u in succ[p] for p in ids)] or ids[:1]
        for u in roots + ids:
            if u not in state:
                dfs(u)
        layer: dict[str, int] = {}
        for u in reversed(order):
            layer.setdefault(u, 0)
            for v in succ[u]:
                if (u, v) not in back:
                    layer[v] = max(layer.get(v, 0), layer[u] + 1)
        rows: list[list[str]] = []
        for u in reversed(order):
            while len(rows) <= layer[u]:
                rows.append([])
            rows[layer[u]].append(u)
        # One barycentre pass so that branches of a Choice sit under it.
        pos: dict[str, float] = {}
        for r, row in enumerate(rows):
            if r:
                preds = {u: [pos[p] for p in ids if u in succ[p] and p in pos] for u in row}
                row.sort(key=lambda u: sum(preds[u]) / len(preds[u]) if preds[u] else 1e9)
            for i, u in enumerate(row):
                pos[u] = i
        top_pad = 24.0 if labelled else (_PAD if scope is not None else 8.0)
        widths = [sum(units[u].w for u in row) + _GAP_X * (len(row) - 1) for row in rows]
        w = max(widths, default=60.0) + (2 * _PAD if scope is not None else 16.0)
        block = _Block(w, 0.0)
        y = top_pad
        placed: dict[str, tuple[float, float, float, float]] = {}
        for row, rw in zip(rows, widths, strict=True):
            x = (w - rw) / 2
            rh = max(units[u].h for u in row)
            for u in row:
                ub = units[u].shifted(x, y)
                block.nodes += ub.nodes
                block.boxes += ub.boxes
                block.edges += ub.edges
                placed[u] = (x, y, units[u].w, units[u].h)
                x += units[u].w + _GAP_X
            y += rh + _GAP_Y
        block.h = y - _GAP_Y + (_PAD if scope is not None else 8.0)
        if scope is not None and scope in groups and groups[scope]["type"] == "Branch":
            block.boxes.insert(
                0,
                {
                    "id": scope,
                    "kind": "branch",
                    "label": groups[scope]["name"] if labelled else "",
                    "x": 0.0,
                    "y": 0.0,
                    "w": w,
                    "h": block.h,
                },
            )
        for e, a, b in scoped_edges:
            ax, ay, aw, ah = placed[a]
            bx, by, bw, _ = placed[b]
            start = (ax + aw / 2, ay + ah)
            end = (bx + bw / 2, by)
            if (a, b) in back or by <= ay:
                side = max(ax + aw, bx + bw) + 18
                pts = [start, (side, ay + ah + 10), (side, by - 10), end]
            else:
                pts = [start, end]
            block.edges.append({**e, "points": pts})
        return block

    top = scope_block(None)
    # Edges that enter a group's branches and leave them for the join.
    index = {n["id"]: n for n in top.nodes}
    for e in model["edges"]:
        if e["kind"] not in ("branch", "join"):
            continue
        a, b = index.get(e["source"]), index.get(e["target"])
        if a is None or b is None:
            continue
        top.edges.append(
            {**e, "points": [(a["x"] + a["w"] / 2, a["y"] + a["h"]), (b["x"] + b["w"] / 2, b["y"])]}
        )
    return top


def _edge_path(points: list[tuple[float, float]]) -> str:
    (x0, y0), (x1, y1) = points[0], points[-1]
    if len(points) == 2:
        dy = max(12.0, (y1 - y0) / 2)
        c1, c2 = f"{x0:.1f},{y0 + dy:.1f}", f"{x1:.1f},{y1 - dy:.1f}"
        return f"M{x0:.1f},{y0:.1f} C{c1} {c2} {x1:.1f},{y1:.1f}"
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)


def to_svg(
    definition: Mapping[str, Any] | str,
    statuses: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    legend: bool = True,
) -> str:
    """The graph as a standalone SVG document (no scripts, no external references)."""
    model = graph_model(definition)
    block = _layout(model)
    st = _normalise_statuses(model, statuses)
    legend_h = 26.0 if legend else 0.0
    title_h = 24.0 if title else 0.0
    legend_w = sum(17 + _text_width(STATUS_LABELS[s], 11) + 16 for s in STATUSES) + 8
    width = max(block.w, legend_w if legend else 0.0)
    dx = (width - block.w) / 2
    height = block.h + legend_h + title_h
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" style="{_FONT};font-size:12.5px" '
        'role="img" class="stepline-graph">',
        "<defs><marker id='sl-arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#6b7280'/></marker></defs>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    if title:
        out.append(
            '<text x="8" y="17" font-weight="600" font-size="13" fill="#111827">'
            f"{esc(title)}</text>"
        )
    g = block.shifted(dx, title_h)
    for box in g.boxes:
        if box["kind"] == "group":
            fill, stroke = COLORS[st.get(box["id"], "not_run")]
            out.append(
                f'<rect x="{box["x"]:.1f}" y="{box["y"]:.1f}" width="{box["w"]:.1f}" '
                f'height="{box["h"]:.1f}" rx="10" fill="#fafbfc" stroke="{stroke}" '
                'stroke-width="1.4"/>'
            )
        else:
            out.append(
                f'<rect x="{box["x"]:.1f}" y="{box["y"]:.1f}" width="{box["w"]:.1f}" '
                f'height="{box["h"]:.1f}" rx="8" fill="none" stroke="#c5cad3" '
                'stroke-dasharray="4 3"/>'
            )
            if box.get("label"):
                out.append(
                    f'<text x="{box["x"] + 8:.1f}" y="{box["y"] + 15:.1f}" font-size="11" '
                    f'fill="#6b7280">{esc(box["label"])}</text>'
                )
    for e in g.edges:
        dash = ' stroke-dasharray="5 4"' if e["kind"] == "catch" else ""
        colour = "#ea580c" if e["kind"] == "catch" else "#6b7280"
        out.append(
            f'<path d="{_edge_path(e["points"])}" fill="none" stroke="{colour}" '
            f'stroke-width="1.3"{dash} marker-end="url(#sl-arrow)"/>'
        )
    for n in g.nodes:
        x, y, w, h = n["x"], n["y"], n["w"], n["h"]
        if n["kind"] in ("start", "end"):
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="13" '
                'fill="#374151"/>'
                f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle" '
                f'fill="#ffffff" font-size="11.5">{esc(n["name"])}</text>'
            )
            continue
        status = st.get(n["id"], "not_run")
        fill, stroke = COLORS[status]
        if n["kind"] == "join":
            out.append(f'<circle cx="{x + w / 2:.1f}" cy="{y + h / 2:.1f}" r="5" fill="{stroke}"/>')
            continue
        label = f"{n['name']} ({n['type']}): {STATUS_LABELS[status]}"
        out.append(
            f'<g class="sl-node" data-state="{esc(n["id"])}" data-status="{status}">'
            f"<title>{esc(label)}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"/>'
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4.5:.1f}" text-anchor="middle" '
            f'fill="#111827">{esc(n["name"])}</text></g>'
        )
    if legend:
        lx, ly = 8.0, height - 18
        for status in STATUSES:
            fill, stroke = COLORS[status]
            out.append(
                f'<rect x="{lx:.1f}" y="{ly:.1f}" width="12" height="12" rx="3" fill="{fill}" '
                f'stroke="{stroke}" stroke-width="1.4"/><text x="{lx + 17:.1f}" '
                f'y="{ly + 10.5:.1f}" font-size="11" fill="#374151">'
                f"{STATUS_LABELS[status]}</text>"
            )
            lx += 17 + _text_width(STATUS_LABELS[status], 11) + 16
    out.append("</svg>")
    return "".join(out)


def _normalise_statuses(model: dict[str, Any], statuses: Mapping[str, Any] | None) -> dict:
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


# -- text ------------------------------------------------------------------------------------


def to_text(definition: Mapping[str, Any] | str, statuses: Mapping[str, Any] | None = None) -> str:
    """An indented outline of the states with a status mark each, for terminals and logs."""
    source = _load(definition)
    model = graph_model(source)
    st = _normalise_statuses(model, statuses)
    lines: list[str] = []

    def walk(spec: Mapping[str, Any], prefix: str, depth: int) -> None:
        pad = "  " * depth
        for name, s in spec.get("States", {}).items():
            nid = prefix + name
            stype = s.get("Type", "?")
            targets = [t for t, _ in _transitions(s)]
            arrow = f" -> {', '.join(targets)}" if targets else (" -> end" if s.get("End") else "")
            status = st.get(nid, "not_run") if statuses else None
            mark = f"{_MARKS[status]} " if status else ""
            tail = f"  [{STATUS_LABELS[status]}]" if status else ""
            lines.append(f"{pad}{mark}{name} ({stype}){arrow}{tail}")
            for i, sub in enumerate(_scopes(s)):
                if stype == "Parallel":
                    lines.append(f"{pad}  branch {i + 1}:")
                    walk(sub, f"{nid}/{i}/", depth + 2)
                else:
                    walk(sub, f"{nid}/{i}/", depth + 1)

    walk(source, "", 0)
    return "\n".join(lines)


# -- the displayable object --------------------------------------------------------------------


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
        self.definition = _load(definition)
        self.statuses = dict(statuses or {})
        self.title = title
        self.details = dict(details or {})
        graph_model(self.definition)  # fail now, not when displayed
        _normalise_statuses(graph_model(self.definition), self.statuses)

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
