"""A layered top-down layout of the graph model, for the SVG that notebooks show.

The browser console lays the same model out with dagre; this one is in Python so a notebook's
output needs no JavaScript.  Groups (Parallel, Map) are laid out inside out: each branch is a
scope laid out on its own, then the group is placed in its parent scope as one unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stepline.views._model import is_group, labels_branches

NODE_H = 34
GAP_Y = 34
GAP_X = 26
PAD = 14


def text_width(text: str, size: float = 12.5) -> float:
    """About how wide ``text`` is drawn at ``size`` px in the sans-serif the SVG asks for."""
    return sum(size * (0.36 if c in "il.,:;|!' " else 0.62 if c.isupper() else 0.55) for c in text)


@dataclass
class Block:
    """A laid-out piece of graph with coordinates relative to its top-left corner."""

    w: float
    h: float
    nodes: list[dict[str, Any]] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def shifted(self, dx: float, dy: float) -> Block:
        return Block(
            self.w,
            self.h,
            [{**n, "x": n["x"] + dx, "y": n["y"] + dy} for n in self.nodes],
            [{**b, "x": b["x"] + dx, "y": b["y"] + dy} for b in self.boxes],
            [{**e, "points": [(x + dx, y + dy) for x, y in e["points"]]} for e in self.edges],
        )

    def add(self, other: Block) -> None:
        """Take ``other``'s nodes, boxes and edges (already shifted into place)."""
        self.nodes += other.nodes
        self.boxes += other.boxes
        self.edges += other.edges


#: Where a unit sits in its scope: x, y, w, h.
_Placed = dict[str, tuple[float, float, float, float]]


class _Layout:
    """One model's layout; :meth:`scope_block` and :meth:`group_block` recurse."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.model = model
        self.nodes = {n["id"]: n for n in model["nodes"]}
        self.groups = {g["id"]: g for g in model["groups"]}
        #: Scope (None: top level) -> the units laid out in it: states, and groups as one.
        self.members: dict[str | None, list[str]] = {}
        for n in model["nodes"]:
            container = n.get("group")
            if n["kind"] == "state" and is_group(n["type"]):
                container = self.groups[n["id"]]["parent"]
            if n["kind"] == "join":
                continue
            self.members.setdefault(container, []).append(n["id"])
        for g in model["groups"]:
            if g["type"] == "Branch":
                self.members.setdefault(g["parent"], [])

    def unit_of(self, node_id: str, scope: str | None) -> str | None:
        """The member of ``scope`` that contains ``node_id`` (itself, or a group holding it)."""
        cur: str | None = node_id
        while cur is not None:
            n = self.nodes.get(cur)
            container = n.get("group") if n else self.groups.get(cur, {}).get("parent")
            if n is not None and n["kind"] == "state" and is_group(n["type"]):
                container = self.groups[cur]["parent"]
            if n is not None and n["kind"] == "join":
                cur = n["group"]
                continue
            if container == scope:
                return cur
            cur = container
        return None

    def leaf_box(self, nid: str) -> Block:
        n = self.nodes[nid]
        if n["kind"] in ("start", "end"):
            w, h = 64.0, 26.0
        else:
            w = max(110.0, text_width(n["name"]) + 34)
            h = float(NODE_H)
        block = Block(w, h)
        block.nodes.append({**n, "x": 0.0, "y": 0.0, "w": w, "h": h})
        return block

    def group_block(self, gid: str) -> Block:
        """A Parallel or Map: its header, its branches side by side, and the join below."""
        header = self.leaf_box(gid)
        labelled = labels_branches(self.nodes[gid]["type"])
        branches = [b for b in self.model["groups"] if b["parent"] == gid and b["type"] == "Branch"]
        inner = [self.scope_block(b["id"], labelled=labelled) for b in branches]
        row_w = sum(b.w for b in inner) + GAP_X * max(0, len(inner) - 1)
        inner_h = max((b.h for b in inner), default=0.0)
        w = max(header.w, row_w) + 2 * PAD
        join_h = 10.0
        h = PAD + header.h + GAP_Y + inner_h + GAP_Y + join_h + PAD
        block = Block(w, h)
        block.boxes.append({"id": gid, "kind": "group", "x": 0.0, "y": 0.0, "w": w, "h": h})
        hx = (w - header.w) / 2
        block.nodes += header.shifted(hx, PAD).nodes
        jy = h - PAD - join_h
        join_id = f"{gid}/end"
        block.nodes.append(
            {**self.nodes[join_id], "x": w / 2 - 5, "y": jy, "w": 10.0, "h": join_h, "kind": "join"}
        )
        x = (w - row_w) / 2
        top = PAD + header.h + GAP_Y
        for b in inner:
            block.add(b.shifted(x, top + (inner_h - b.h) / 2))
            x += b.w + GAP_X
        return block

    def scope_block(self, scope: str | None, labelled: bool = False) -> Block:
        """One scope (the top level or a branch): its units in rows, then its edges."""
        ids = self.members.get(scope, [])
        units = {u: (self.group_block(u) if u in self.groups else self.leaf_box(u)) for u in ids}
        succ, scoped_edges = self._scoped_edges(scope, ids)
        rows, back = _rows(ids, succ)
        block, placed = _stack(scope, rows, units, labelled)
        if scope is not None and scope in self.groups and self.groups[scope]["type"] == "Branch":
            label = self.groups[scope]["name"] if labelled else ""
            block.boxes.insert(
                0,
                {
                    "id": scope,
                    "kind": "branch",
                    "label": label,
                    "x": 0.0,
                    "y": 0.0,
                    "w": block.w,
                    "h": block.h,
                },
            )
        for e, a, b in scoped_edges:
            block.edges.append({**e, "points": _route(placed[a], placed[b], (a, b) in back)})
        return block

    def _scoped_edges(
        self, scope: str | None, ids: list[str]
    ) -> tuple[dict[str, list[str]], list[tuple[dict[str, Any], str, str]]]:
        """The model's edges between units of ``scope``: successors per unit, and each edge
        with its two units."""
        succ: dict[str, list[str]] = {u: [] for u in ids}
        scoped_edges = []
        for e in self.model["edges"]:
            a, b = self.unit_of(e["source"], scope), self.unit_of(e["target"], scope)
            if a is None or b is None or a == b:
                continue
            if (
                self.nodes.get(e["source"], {}).get("kind") == "state"
                and e["source"] in self.groups
            ):
                continue  # header -> branch entry edges belong to the group
            succ[a].append(b)
            scoped_edges.append((e, a, b))
        return succ, scoped_edges


def _rows(ids: list[str], succ: dict[str, list[str]]) -> tuple[list[list[str]], set]:
    """Units in rows: layers by longest path over the DAG left after dropping DFS back edges,
    each row ordered by one barycentre pass so that branches of a Choice sit under it.
    Returns the rows and the back edges."""
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
    pos: dict[str, float] = {}
    for r, row in enumerate(rows):
        if r:
            preds = {u: [pos[p] for p in ids if u in succ[p] and p in pos] for u in row}
            row.sort(key=lambda u: sum(preds[u]) / len(preds[u]) if preds[u] else 1e9)
        for i, u in enumerate(row):
            pos[u] = i
    return rows, back


def _stack(
    scope: str | None, rows: list[list[str]], units: dict[str, Block], labelled: bool
) -> tuple[Block, _Placed]:
    """The rows centred one under the other, in one block; where each unit went."""
    top_pad = 24.0 if labelled else (PAD if scope is not None else 8.0)
    widths = [sum(units[u].w for u in row) + GAP_X * (len(row) - 1) for row in rows]
    w = max(widths, default=60.0) + (2 * PAD if scope is not None else 16.0)
    block = Block(w, 0.0)
    y = top_pad
    placed: _Placed = {}
    for row, rw in zip(rows, widths, strict=True):
        x = (w - rw) / 2
        rh = max(units[u].h for u in row)
        for u in row:
            block.add(units[u].shifted(x, y))
            placed[u] = (x, y, units[u].w, units[u].h)
            x += units[u].w + GAP_X
        y += rh + GAP_Y
    block.h = y - GAP_Y + (PAD if scope is not None else 8.0)
    return block, placed


def _route(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float], back: bool
) -> list[tuple[float, float]]:
    """An edge's points from unit ``a``'s bottom to unit ``b``'s top; a back edge (or one
    going up) goes round the side instead of through the rows between."""
    ax, ay, aw, ah = a
    bx, by, bw, _ = b
    start = (ax + aw / 2, ay + ah)
    end = (bx + bw / 2, by)
    if back or by <= ay:
        side = max(ax + aw, bx + bw) + 18
        return [start, (side, ay + ah + 10), (side, by - 10), end]
    return [start, end]


def layout(model: dict[str, Any]) -> Block:
    """The whole graph laid out: the top scope, plus the edges that enter a group's branches
    and leave them for its join."""
    top = _Layout(model).scope_block(None)
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
