"""The graph drawn as a standalone SVG document: no scripts and no external references, so
it renders in any notebook front end, trusted or not, and in a static HTML export."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from stepline.views._layout import Block, layout, text_width
from stepline.views._model import COLORS, STATUS_LABELS, STATUSES, graph_model, normalise_statuses

_FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_esc = html.escape


def _edge_path(points: list[tuple[float, float]]) -> str:
    (x0, y0), (x1, y1) = points[0], points[-1]
    if len(points) == 2:
        dy = max(12.0, (y1 - y0) / 2)
        c1, c2 = f"{x0:.1f},{y0 + dy:.1f}", f"{x1:.1f},{y1 - dy:.1f}"
        return f"M{x0:.1f},{y0:.1f} C{c1} {c2} {x1:.1f},{y1:.1f}"
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _head(width: float, height: float, title: str | None) -> list[str]:
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
            f"{_esc(title)}</text>"
        )
    return out


def _boxes(g: Block, st: dict[str, str]) -> list[str]:
    """Group frames (stroked in the group's status colour) and dashed branch frames."""
    out = []
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
                    f'fill="#6b7280">{_esc(box["label"])}</text>'
                )
    return out


def _edges(g: Block) -> list[str]:
    out = []
    for e in g.edges:
        dash = ' stroke-dasharray="5 4"' if e["kind"] == "catch" else ""
        colour = "#ea580c" if e["kind"] == "catch" else "#6b7280"
        out.append(
            f'<path d="{_edge_path(e["points"])}" fill="none" stroke="{colour}" '
            f'stroke-width="1.3"{dash} marker-end="url(#sl-arrow)"/>'
        )
    return out


def _node(n: dict[str, Any], st: dict[str, str]) -> str:
    """Start/End pills, join dots, and state boxes coloured by status (with a tooltip)."""
    x, y, w, h = n["x"], n["y"], n["w"], n["h"]
    if n["kind"] in ("start", "end"):
        return (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="13" '
            'fill="#374151"/>'
            f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle" '
            f'fill="#ffffff" font-size="11.5">{_esc(n["name"])}</text>'
        )
    status = st.get(n["id"], "not_run")
    fill, stroke = COLORS[status]
    if n["kind"] == "join":
        return f'<circle cx="{x + w / 2:.1f}" cy="{y + h / 2:.1f}" r="5" fill="{stroke}"/>'
    label = f"{n['name']} ({n['type']}): {STATUS_LABELS[status]}"
    return (
        f'<g class="sl-node" data-state="{_esc(n["id"])}" data-status="{status}">'
        f"<title>{_esc(label)}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"/>'
        f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4.5:.1f}" text-anchor="middle" '
        f'fill="#111827">{_esc(n["name"])}</text></g>'
    )


def _legend(height: float) -> list[str]:
    out = []
    lx, ly = 8.0, height - 18
    for status in STATUSES:
        fill, stroke = COLORS[status]
        out.append(
            f'<rect x="{lx:.1f}" y="{ly:.1f}" width="12" height="12" rx="3" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.4"/><text x="{lx + 17:.1f}" '
            f'y="{ly + 10.5:.1f}" font-size="11" fill="#374151">'
            f"{STATUS_LABELS[status]}</text>"
        )
        lx += 17 + text_width(STATUS_LABELS[status], 11) + 16
    return out


def to_svg(
    definition: Mapping[str, Any] | str,
    statuses: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    legend: bool = True,
) -> str:
    """The graph as a standalone SVG document (no scripts, no external references)."""
    model = graph_model(definition)
    block = layout(model)
    st = normalise_statuses(model, statuses)
    legend_h = 26.0 if legend else 0.0
    title_h = 24.0 if title else 0.0
    legend_w = sum(17 + text_width(STATUS_LABELS[s], 11) + 16 for s in STATUSES) + 8
    width = max(block.w, legend_w if legend else 0.0)
    height = block.h + legend_h + title_h
    g = block.shifted((width - block.w) / 2, title_h)
    out = _head(width, height, title) + _boxes(g, st) + _edges(g)
    out += [_node(n, st) for n in g.nodes]
    if legend:
        out += _legend(height)
    out.append("</svg>")
    return "".join(out)
