"""A package's ``__init__.py`` is its public face: it re-exports, it does not hold the code.

Why: a reader opening a package sees what it offers in one short file, and the code lives
in modules named for what they do (``serving/_runtime.py``, ``views/_view.py`` ...), where
the layer check and the reader find it.  Registries of data (``GROUPS``, ``STATE_TYPES``)
may stay in a face; functions and classes may not, apart from the listed exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import stepline

SRC = Path(stepline.__file__).parent

#: Faces allowed to define functions or classes, and why.
EXCEPTIONS = {
    "__init__.py": "the composition root: wiring the layers is its code",
    "jobs/kinds/__init__.py": "the kinds' registry and its lookup, get()",
    "jobs/runtimes/__init__.py": "the runtimes' registry and its lookup, get_runtime()",
}


def _definitions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [f"{node.name} (line {node.lineno})" for node in tree.body if isinstance(node, kinds)]


def test_package_inits_only_re_export() -> None:
    found = {}
    for path in sorted(SRC.rglob("__init__.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in EXCEPTIONS:
            continue
        names = _definitions(path)
        if names:
            found[rel] = names
    assert found == {}, f"move these into a module of the package and re-export them: {found}"


def test_the_check_sees_definitions(tmp_path: Path) -> None:
    face = tmp_path / "__init__.py"
    face.write_text("from x import y\n\nTABLE = {}\n\n\ndef helper():\n    return 1\n")
    assert _definitions(face) == ["helper (line 6)"]


def test_the_exceptions_still_exist() -> None:
    for rel in EXCEPTIONS:
        assert (SRC / rel).is_file(), rel
