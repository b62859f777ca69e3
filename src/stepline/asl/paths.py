"""JSONPath and reference paths, as ASL uses them in JSONPath-mode states.

A path is compiled once per definition and evaluated for every state visit, so compiling
produces a small step list (dict keys and list indexes) that is walked with no parsing at
evaluation time.  Only paths that can select several nodes (wildcards, ``..``, filters,
slices, unions, negative indexes) go through ``jsonpath-ng``; they are rare in practice.

Roots: ``$`` is the state input, ``$$`` the context object, and ``$name`` a workflow
variable set by ``Assign``.

JSON values are treated as immutable throughout stepline: nothing mutates a value in place
after it has been produced, so results here share structure with their inputs freely.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from stepline.asl.errors import RESULT_PATH_MATCH_FAILURE, StatesError

__all__ = [
    "Path",
    "PathNotFound",
    "ResultPath",
    "compile_path",
    "compile_result_path",
    "path_syntax_error",
    "reference_path_syntax_error",
    "result_path_syntax_error",
    "to_json",
]

ROOT_INPUT = "input"
ROOT_CONTEXT = "context"
ROOT_VARIABLE = "variable"

_VAR_NAME = re.compile(r"[^\W\d]\w*")
# A dot-notation member name: anything that is not path punctuation or whitespace.
_DOT_NAME = re.compile(r"[^.\[\]\s()'\"*,?@$]+")
_INDEX = re.compile(r"\[\s*(\d+)\s*\]")
_QUOTED = re.compile(r"""\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")
_UNESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
# Escapes in a quoted member name, read as AWS's JSONPath engine (Jayway) reads them: JSON's
# escapes, \uXXXX included; any other escaped character stands for itself (\' is ').
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape_char(m: re.Match) -> str:
    code = m.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16))
    return _ESCAPES.get(code, code)


def to_json(value: Any) -> str:
    """Compact JSON as AWS prints values inside error causes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class PathNotFound(LookupError):
    """A definite path selected nothing; ``expr`` is the path as written."""

    def __init__(self, expr: str) -> None:
        super().__init__(f"The JSONPath '{expr}' could not be found")
        self.expr = expr


class _Parsed:
    __slots__ = ("root", "var", "steps", "rest", "error")

    def __init__(self) -> None:
        self.root = ROOT_INPUT
        self.var: str | None = None
        #: Keys (str) and indexes (int) of a definite path; None when not definite.
        self.steps: tuple[str | int, ...] | None = ()
        #: The part after the root, for the jsonpath-ng fallback.
        self.rest = ""
        self.error: str | None = None


@lru_cache(maxsize=4096)
def _parse(expr: str) -> _Parsed:
    p = _Parsed()
    if not isinstance(expr, str) or not expr.startswith("$"):
        p.error = f"The path '{expr}' must start with '$'"
        p.steps = None
        return p
    i = 1
    if expr.startswith("$$"):
        p.root = ROOT_CONTEXT
        i = 2
    else:
        m = _VAR_NAME.match(expr, 1)
        if m:
            p.root = ROOT_VARIABLE
            p.var = m.group(0)
            i = m.end()
    p.rest = expr[i:]
    steps: list[str | int] = []
    n = len(expr)
    definite = True
    while i < n:
        c = expr[i]
        if c == "." and i + 1 < n and expr[i + 1] not in ".*[":
            m = _DOT_NAME.match(expr, i + 1)
            if m:
                steps.append(m.group(0))
                i = m.end()
                continue
        elif c == "[":
            m = _INDEX.match(expr, i)
            if m:
                steps.append(int(m.group(1)))
                i = m.end()
                continue
            m = _QUOTED.match(expr, i)
            if m:
                raw = m.group(1) if m.group(1) is not None else m.group(2)
                steps.append(_UNESCAPE.sub(_unescape_char, raw))
                i = m.end()
                continue
        definite = False
        break
    if definite:
        p.steps = tuple(steps)
        return p
    p.steps = None
    p.error = _complex_error(expr, p.rest)
    return p


def _complex_error(expr: str, rest: str) -> str | None:
    try:
        _jsonpath(rest)
    except Exception as exc:  # jsonpath-ng raises a variety of parse errors
        return f"The path '{expr}' is not a valid JSONPath: {exc}"
    return None


_parsers = threading.local()


@lru_cache(maxsize=1024)
def _jsonpath(rest: str) -> Any:
    # jsonpath-ng's ``parse`` builds a new parser each call (~65 ms); one per thread (the
    # parser is not thread-safe) makes a new path cost ~2 ms, which bounds what a hostile
    # definition full of distinct paths costs to validate.
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        from jsonpath_ng.ext.parser import ExtentedJsonPathParser

        parser = _parsers.parser = ExtentedJsonPathParser()
    return parser.parse("$" + rest)


def path_syntax_error(expr: str) -> str | None:
    """Why ``expr`` is not a valid JSONPath, or None; the validator reports the text."""
    if not isinstance(expr, str):
        return f"A path must be a string, got {to_json(expr)}"
    return _parse(expr).error


def reference_path_syntax_error(expr: str) -> str | None:
    """Why ``expr`` is not a valid reference path (one that names exactly one node)."""
    err = path_syntax_error(expr)
    if err:
        return err
    if _parse(expr).steps is None:
        return (
            f"The path '{expr}' is not a valid reference path: "
            "wildcards, filters, slices, unions and '..' select more than one node"
        )
    return None


def result_path_syntax_error(expr: str | None) -> str | None:
    """Why ``expr`` cannot be a ResultPath: a reference path into the state input, or null."""
    if expr is None:
        return None
    err = reference_path_syntax_error(expr)
    if err:
        return err
    if _parse(expr).root != ROOT_INPUT:
        return f"The ResultPath '{expr}' must start with '$' followed by '.', '[' or nothing"
    return None


def _root(p: _Parsed, expr: str, input: Any, context: Any, variables: Mapping | None) -> Any:
    if p.root == ROOT_INPUT:
        return input
    if p.root == ROOT_CONTEXT:
        return context
    if variables is None or p.var not in variables:
        raise PathNotFound(expr)
    return variables[p.var]


class Path:
    """A compiled path; ``get`` returns the selected value (a list for non-definite paths)."""

    __slots__ = ("expr", "definite", "_p", "_steps")

    def __init__(self, expr: str) -> None:
        p = _parse(expr)
        if p.error:
            raise ValueError(p.error)
        self.expr = expr
        self._p = p
        self._steps = p.steps
        self.definite = p.steps is not None

    @property
    def root(self) -> str:
        """``input``, ``context`` or ``variable``."""
        return self._p.root

    @property
    def variable(self) -> str | None:
        """The variable name for ``$name`` paths, so callers can check it is defined."""
        return self._p.var

    def get(self, input: Any, context: Any = None, variables: Mapping | None = None) -> Any:
        p = self._p
        if p.root == ROOT_INPUT:
            cur = input
        else:
            cur = _root(p, self.expr, input, context, variables)
        steps = self._steps
        if steps is None:
            rest = p.rest
            if isinstance(cur, dict) and rest.startswith("[*]"):
                # Jayway (AWS) treats [*] on an object as its values; jsonpath-ng would
                # match the object itself.
                rest = ".*" + rest[3:]
            try:
                return [m.value for m in _jsonpath(rest).find(cur)]
            except Exception:  # noqa: BLE001 - jsonpath-ng trips on mismatched types
                # (a slice of a boolean, an index into an object): nothing matches there.
                raise PathNotFound(self.expr) from None
        for key in steps:
            if type(key) is str:
                if isinstance(cur, dict):
                    try:
                        cur = cur[key]
                        continue
                    except KeyError:
                        pass
                raise PathNotFound(self.expr)
            if isinstance(cur, list) and key < len(cur):
                cur = cur[key]
                continue
            raise PathNotFound(self.expr)
        return cur

    def __repr__(self) -> str:
        return f"Path({self.expr!r})"


@lru_cache(maxsize=4096)
def compile_path(expr: str) -> Path:
    """Compile (and cache) a path; raises ``ValueError`` for invalid syntax."""
    return Path(expr)


class _CannotSet(Exception):
    pass


class ResultPath:
    """Where a state's result goes in its input; ``apply`` never mutates the input."""

    __slots__ = ("expr", "_steps")

    def __init__(self, expr: str | None) -> None:
        self.expr = expr
        if expr is None:
            self._steps: tuple[str | int, ...] | None = None
            return
        err = result_path_syntax_error(expr)
        if err:
            raise ValueError(err)
        self._steps = _parse(expr).steps

    def apply(self, state_input: Any, result: Any) -> Any:
        steps = self._steps
        if steps is None:
            return state_input
        if not steps:
            return result
        try:
            return self._set(state_input, 0, result)
        except _CannotSet:
            raise StatesError(
                RESULT_PATH_MATCH_FAILURE,
                f"Unable to apply ReferencePath {self.expr} to input "
                f"{json.dumps(to_json(state_input), ensure_ascii=False)}",
            ) from None

    def _set(self, node: Any, i: int, result: Any) -> Any:
        steps = self._steps
        assert steps is not None
        key = steps[i]
        last = i + 1 == len(steps)
        if type(key) is str:
            if not isinstance(node, dict):
                raise _CannotSet
            new = dict(node)
            if last:
                new[key] = result
            else:
                new[key] = self._set(node.get(key, {}), i + 1, result)
            return new
        if not isinstance(node, list) or key >= len(node):
            raise _CannotSet
        new_list = list(node)
        new_list[key] = result if last else self._set(node[key], i + 1, result)
        return new_list

    def __repr__(self) -> str:
        return f"ResultPath({self.expr!r})"


@lru_cache(maxsize=4096)
def compile_result_path(expr: str | None) -> ResultPath:
    """Compile (and cache) a ResultPath; ``None`` (JSON null) keeps the input unchanged."""
    return ResultPath(expr)
