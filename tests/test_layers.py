"""The layering of ``src/stepline`` holds: no import goes up, no cycle between packages.

Every ``import`` statement counts, inside functions too (87 of them once hid an eight-package
cycle).  The list of layers is ``stepline.layers.LAYERS``; the README shows it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from stepline import layers

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "stepline"


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) top-level names -> where, for every import in the package."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        source = _top(module) if module != "stepline" else "__init__"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "stepline":
                    targets = [f"stepline.{alias.name}" for alias in node.names]
                elif node.module.startswith("stepline."):
                    targets = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                raise AssertionError(f"{path}:{node.lineno}: relative import; use stepline.…")
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("stepline.")]
            for target in targets:
                imported = _top(target)
                if imported != source:
                    edges[(source, imported)].append(f"{rel}.py:{node.lineno}")
    return edges


def test_every_package_is_in_a_layer() -> None:
    names = {p.stem if p.is_file() else p.name for p in SRC.iterdir()}
    names = {n for n in names if not n.startswith((".", "_"))}
    unlisted = sorted(n for n in names if n not in {m for layer in layers.LAYERS for m in layer})
    assert not unlisted, f"add these to stepline/layers.py LAYERS: {unlisted}"


def test_no_import_goes_up() -> None:
    upward = [
        f"{a} -> {b} ({', '.join(where[:3])})"
        for (a, b), where in sorted(_edges().items())
        if a not in layers.ROOTS and layers.layer_of(a) > layers.layer_of(b)
    ]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in _edges():
        if a not in layers.ROOTS:
            graph[a].add(b)
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in seen and (cycle := visit(nxt)):
                return cycle
        seen[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in seen and (cycle := visit(node)):
            raise AssertionError("package cycle: " + " -> ".join(cycle))


def test_callers_reach_sagemaker_through_the_service_layer() -> None:
    bypass = []
    for (a, b), where in sorted(_edges().items()):
        if a in layers.THROUGH_SERVICE_LAYER and b in layers.BEHIND_SERVICE_LAYER:
            sites = [w for w in where if w.split(":")[0] not in layers.SERVICE_LAYER_EXEMPT]
            if sites:
                bypass.append(f"{a} -> {b} ({', '.join(sites)})")
    assert not bypass, f"use stepline.{layers.SERVICE_LAYER} instead:\n" + "\n".join(bypass)


def test_readme_shows_the_layers() -> None:
    assert layers.readme_line() in (ROOT / "README.md").read_text()
