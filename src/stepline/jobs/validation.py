"""Check SageMaker requests against the service model botocore ships.

``botocore.validate.ParamValidator`` checks required members, unknown members, types and
minimums only; SageMaker itself also enforces maximums, enums and patterns.  This module walks
the same botocore ``Shape`` objects and checks all of them, so a request that stepline accepts
is one SageMaker would accept (and a rejected one names the field, e.g.
``ResourceConfig.InstanceCount: 0 is less than the minimum 1``).  The one deliberate
difference: instance-type enums also accept SageMaker local mode's ``local`` and ``local_gpu``.

Patterns in the model use Java regex syntax; the few Java-only constructs (``\\p{L}`` classes,
surrogate-pair ranges) are translated to Python's ``re``.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from stepline.errors import ValidationException

#: Accepted in every ``*InstanceType`` enum besides the model's ``ml.*`` values.
LOCAL_INSTANCE_TYPES = ("local", "local_gpu")

_JAVA_CLASSES = {
    r"\p{L}": "a-zA-Z\u00aa-\ud7ff\ue000-\uffff",
    r"\p{Z}": " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    r"\p{N}": "0-9",
    r"\p{Alnum}": "a-zA-Z0-9",
    r"\p{Alpha}": "a-zA-Z",
    r"\p{Digit}": "0-9",
    r"\uD800\uDC00-\uDBFF\uDFFF": "\U00010000-\U0010ffff",
}


@functools.cache
def service_model() -> Any:
    """The SageMaker service model from botocore (loaded once per process, ~40 ms)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


@functools.cache
def _pattern(java: str) -> re.Pattern[str] | None:
    text = java
    for src, dst in _JAVA_CLASSES.items():
        text = text.replace(src, dst)
    try:
        return re.compile(text, re.DOTALL)
    except re.error:
        return None


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return type(value).__name__


def _json_scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


class _Checker:
    def __init__(self, coerce: bool) -> None:
        self.coerce = coerce
        self.errors: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path or 'request'}: {message}")

    def check(self, shape: Any, value: Any, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape, value, path)
        if kind == "list":
            return self._list(shape, value, path)
        if kind == "map":
            return self._map(shape, value, path)
        if kind == "string":
            return self._string(shape, value, path)
        if kind in ("integer", "long"):
            return self._number(shape, value, path, integral=True)
        if kind in ("float", "double"):
            return self._number(shape, value, path, integral=False)
        if kind == "boolean":
            if not isinstance(value, bool):
                self.fail(path, f"expected a boolean, got {_type_name(value)} {value!r}")
            return value
        if kind == "timestamp":
            if not isinstance(value, (int, float, str, datetime)) or isinstance(value, bool):
                self.fail(path, f"expected a timestamp, got {_type_name(value)}")
            return value
        if kind == "blob":
            if not isinstance(value, (str, bytes)):
                self.fail(path, f"expected a blob, got {_type_name(value)}")
            return value
        return value

    def _structure(self, shape: Any, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_type_name(value)}")
            return value
        prefix = f"{path}." if path else ""
        for name in shape.required_members:
            if name not in value or value[name] is None:
                self.fail(f"{prefix}{name}", "is required")
        members = shape.members
        out = {}
        for name, item in value.items():
            if name not in members:
                known = ", ".join(sorted(members))
                self.fail(f"{prefix}{name}", f"unknown parameter (known: {known})")
                continue
            if item is None:
                continue
            out[name] = self.check(members[name], item, f"{prefix}{name}")
        if shape.metadata.get("union") and len(out) != 1:
            self.fail(path, f"exactly one member must be set, got {len(out)}")
        return out

    def _length(self, shape: Any, size: int, path: str, what: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self.fail(path, f"{what} {size} is less than the minimum {low}")
        if high is not None and size > high:
            self.fail(path, f"{what} {size} is greater than the maximum {high}")

    def _list(self, shape: Any, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_type_name(value)}")
            return value
        self._length(shape, len(value), path, "list length")
        return [self.check(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]

    def _map(self, shape: Any, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_type_name(value)}")
            return value
        self._length(shape, len(value), path, "number of entries")
        out = {}
        for key, item in value.items():
            key = self.check(shape.key, key, f"{path} key {key!r}")
            out[key] = self.check(shape.value, item, f"{path}.{key}")
        return out

    def _string(self, shape: Any, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            if self.coerce and isinstance(value, (int, float, bool)):
                value = _json_scalar_text(value)
            else:
                self.fail(path, f"expected a string, got {_type_name(value)} {value!r}")
                return value
        meta = shape.metadata
        enum = meta.get("enum")
        if enum and value not in enum:
            if shape.name.endswith("InstanceType") and value in LOCAL_INSTANCE_TYPES:
                return value
            shown = ", ".join(enum[:12]) + (f", ... ({len(enum)} values)" if len(enum) > 12 else "")
            self.fail(path, f"{value!r} is not one of {shown}")
            return value
        self._length(shape, len(value), path, "length")
        pattern = meta.get("pattern")
        if pattern:
            compiled = _pattern(pattern)
            if compiled is not None and not compiled.fullmatch(value):
                self.fail(path, f"{value!r} does not match the pattern {pattern}")
        return value

    def _number(self, shape: Any, value: Any, path: str, integral: bool) -> Any:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and integral and isinstance(value, float):
            ok = value.is_integer()
            value = int(value) if ok else value
        if not ok:
            self.fail(path, f"expected {'an integer' if integral else 'a number'}, got {value!r}")
            return value
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(path, f"{value} is less than the minimum {low}")
        if high is not None and value > high:
            self.fail(path, f"{value} is greater than the maximum {high}")
        return value


def validate_request(operation: str, request: Any, *, coerce_scalars: bool = False) -> dict:
    """Check ``request`` against ``operation``'s input shape; return the normalised request.

    Raises :class:`ValidationException` listing every problem, each prefixed by the field's
    path.  ``coerce_scalars`` turns JSON numbers and booleans given where the model wants a
    string into their JSON text: what SageMaker's JSON deserializer does with requests that
    Step Functions passes through (the Data Science SDK emits ``"epochs": 10`` in
    ``HyperParameters``).  Direct API calls keep botocore's strict typing.
    """
    shape = service_model().operation_model(operation).input_shape
    normalised, errors = check_shape(shape, request, coerce_scalars=coerce_scalars)
    if errors:
        raise ValidationException.from_errors(errors)
    return normalised


def check_shape(shape: Any, value: Any, *, coerce_scalars: bool = False) -> tuple[Any, list[str]]:
    """``value`` checked against any botocore ``Shape`` (of any service's model): the
    normalised value and the list of problems, each prefixed by the field's path."""
    checker = _Checker(coerce_scalars)
    normalised = checker.check(shape, value, "")
    return normalised, checker.errors
