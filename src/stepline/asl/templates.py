"""JSONPath-mode payload templates: Parameters, ResultSelector, ItemSelector, Assign.

A template is compiled once into a tree of closures.  A key ending in ``.$`` takes a path
(``$...``, ``$$...``, ``$var...``) or an intrinsic call, and the output key drops the ``.$``;
other values are literals.

Sharing contract: stepline treats every JSON value as immutable once produced — nothing
mutates a dict or list in place after handing it on.  So rendering shares literal subtrees
of the template and values selected from the input instead of deep-copying them; only the
containers that hold computed values are new.  This makes rendering cost proportional to
the template, not to the size of the data it selects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stepline.asl.errors import RUNTIME, StatesError
from stepline.asl.intrinsics import compile_intrinsic, intrinsic_syntax_error, is_intrinsic
from stepline.asl.paths import PathNotFound, compile_path, path_syntax_error, to_json

__all__ = ["Template", "compile_template", "template_syntax_errors"]

_Render = Callable[[Any, Any, Mapping], Any]


def _missing(expr: str, key: str, input: Any) -> StatesError:
    return StatesError(
        RUNTIME,
        f"The JSONPath '{expr}' specified for the field '{key}' could not be found in the "
        f"input '{to_json(input)}'",
    )


def _dynamic(key: str, value: Any, field: str) -> _Render:
    if not isinstance(value, str):
        raise ValueError(
            f"The value of the field '{key}' in {field} must be a path or an intrinsic "
            f"function, got {to_json(value)}"
        )
    if is_intrinsic(value):
        err = intrinsic_syntax_error(value)
        if err:
            raise ValueError(err)
        fn = compile_intrinsic(value)

        def run_intrinsic(i: Any, c: Any, v: Mapping) -> Any:
            try:
                return fn(i, c, v)
            except PathNotFound as exc:
                raise _missing(exc.expr, key, i) from None

        return run_intrinsic
    err = path_syntax_error(value)
    if err:
        raise ValueError(f"The value of the field '{key}' in {field}: {err}")
    get = compile_path(value).get

    def run_path(i: Any, c: Any, v: Mapping) -> Any:
        try:
            return get(i, c, v)
        except PathNotFound:
            raise _missing(value, key, i) from None

    return run_path


def _compile(node: Any, field: str) -> tuple[bool, Any]:
    """Return ``(is_static, payload)``: a literal, or a render function."""
    if isinstance(node, dict):
        entries: list[tuple[str, bool, Any]] = []
        static = True
        for key, value in node.items():
            if isinstance(key, str) and key.endswith(".$"):
                entries.append((key[:-2], False, _dynamic(key, value, field)))
                static = False
            else:
                sub_static, payload = _compile(value, field)
                entries.append((key, sub_static, payload))
                static = static and sub_static
        if static:
            return True, node
        frozen = tuple(entries)

        def render_dict(i: Any, c: Any, v: Mapping) -> dict:
            return {k: (p if s else p(i, c, v)) for k, s, p in frozen}

        return False, render_dict
    if isinstance(node, list):
        items = [_compile(x, field) for x in node]
        if all(s for s, _ in items):
            return True, node
        frozen_items = tuple(items)

        def render_list(i: Any, c: Any, v: Mapping) -> list:
            return [p if s else p(i, c, v) for s, p in frozen_items]

        return False, render_list
    return True, node


class Template:
    """A compiled payload template; ``render`` builds the payload for one state visit."""

    __slots__ = ("field", "_static", "_payload")

    def __init__(self, obj: Any, field: str = "Parameters") -> None:
        self.field = field
        self._static, self._payload = _compile(obj, field)

    def render(self, input: Any, context: Any = None, variables: Mapping | None = None) -> Any:
        if self._static:
            return self._payload
        return self._payload(input, context, variables if variables is not None else {})

    def __repr__(self) -> str:
        return f"Template(field={self.field!r})"


def compile_template(obj: Any, field: str = "Parameters") -> Template:
    """Compile a template once per definition; raises ``ValueError`` for invalid paths."""
    return Template(obj, field)


def template_syntax_errors(obj: Any, field: str = "Parameters") -> list[str]:
    """Every problem in a template, for the validator to report all at once."""
    problems: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.endswith(".$"):
                    try:
                        _dynamic(key, value, field)
                    except ValueError as exc:
                        problems.append(str(exc))
                else:
                    walk(value)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(obj)
    return problems
