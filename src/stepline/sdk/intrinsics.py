"""Helpers for ASL intrinsic functions, so users stop hand-writing ``"Key.$": "States..."``.

``States.Format("job-{}", ExecutionInput()["id"])`` is a value like a placeholder: put it in
a payload and its key becomes ``Key.$``.  Arguments are quoted for you: strings become
``'...'`` literals with ``'``, ``{``, ``}`` and ``\\`` escaped, placeholders become their
paths, numbers/booleans/``None`` stay literals and helpers nest.  (The Data Science SDK has no
such helpers; its issue #79.)
"""

from __future__ import annotations

import json
from typing import Any

from stepline.sdk.placeholders import Placeholder


class Intrinsic:
    """One intrinsic function call, rendered as its ASL expression text."""

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args = args

    def to_jsonpath(self) -> str:
        return f"States.{self.name}({', '.join(_argument(a) for a in self.args)})"

    def __str__(self) -> str:
        return self.to_jsonpath()

    def __repr__(self) -> str:
        return f"Intrinsic({self.to_jsonpath()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Intrinsic) and other.to_jsonpath() == self.to_jsonpath()

    def __hash__(self) -> int:
        return hash(self.to_jsonpath())


class Path:
    """A raw JSONPath used as an intrinsic argument or payload value: ``Path("$.a.b")``."""

    def __init__(self, path: str) -> None:
        if not path.startswith("$"):
            raise ValueError(f"a path starts with '$', got {path!r}")
        self.path = path

    def to_jsonpath(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"Path({self.path!r})"


def _quote(text: str) -> str:
    escaped = "".join("\\" + c if c in "'{}\\" else c for c in text)
    return f"'{escaped}'"


def _argument(value: Any) -> str:
    if isinstance(value, Placeholder | Intrinsic | Path | _Raw):
        return value.to_jsonpath()
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    raise TypeError(
        f"intrinsic function arguments are strings, numbers, booleans, None, placeholders, "
        f"Path(...) or other intrinsics; got {type(value).__name__}"
    )


class _Raw:
    """Argument text that is already ASL (a Format template with its ``{}`` slots kept)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def to_jsonpath(self) -> str:
        return self.text


class States:
    """``States.<Function>(...)`` builders, named exactly like the ASL functions."""

    @staticmethod
    def Format(template: str, *args: Any) -> Intrinsic:  # noqa: N802 - ASL's own name
        """``States.Format('...{}...', args)``: ``{}`` in ``template`` are the slots."""
        quoted = "{}".join(_quote(part)[1:-1] for part in template.split("{}"))
        return Intrinsic("Format", _Raw(f"'{quoted}'"), *args)

    @staticmethod
    def StringToJson(value: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("StringToJson", value)

    @staticmethod
    def JsonToString(value: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("JsonToString", value)

    @staticmethod
    def Array(*values: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("Array", *values)

    @staticmethod
    def ArrayPartition(array: Any, size: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("ArrayPartition", array, size)

    @staticmethod
    def ArrayContains(array: Any, value: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("ArrayContains", array, value)

    @staticmethod
    def ArrayRange(start: Any, end: Any, step: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("ArrayRange", start, end, step)

    @staticmethod
    def ArrayGetItem(array: Any, index: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("ArrayGetItem", array, index)

    @staticmethod
    def ArrayLength(array: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("ArrayLength", array)

    @staticmethod
    def ArrayUnique(array: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("ArrayUnique", array)

    @staticmethod
    def Base64Encode(value: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("Base64Encode", value)

    @staticmethod
    def Base64Decode(value: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("Base64Decode", value)

    @staticmethod
    def Hash(value: Any, algorithm: Any = "SHA-256") -> Intrinsic:  # noqa: N802
        return Intrinsic("Hash", value, algorithm)

    @staticmethod
    def JsonMerge(left: Any, right: Any, deep: bool = False) -> Intrinsic:  # noqa: N802
        return Intrinsic("JsonMerge", left, right, deep)

    @staticmethod
    def MathRandom(start: Any, end: Any, seed: Any = None) -> Intrinsic:  # noqa: N802
        args = (start, end) if seed is None else (start, end, seed)
        return Intrinsic("MathRandom", *args)

    @staticmethod
    def MathAdd(value: Any, step: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("MathAdd", value, step)

    @staticmethod
    def StringSplit(value: Any, separator: Any) -> Intrinsic:  # noqa: N802
        return Intrinsic("StringSplit", value, separator)

    @staticmethod
    def UUID() -> Intrinsic:  # noqa: N802
        return Intrinsic("UUID")


def jsonata(expression: str) -> str:
    """Wrap a JSONata expression as ASL wants it in JSONata mode: ``{% expression %}``."""
    return "{% " + expression.strip() + " %}"
