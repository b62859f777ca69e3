"""Turning Python values in a step's fields into ASL JSON.

One place decides how a dynamic value is written, so every payload field (``Parameters``,
``ResultSelector``, ``ItemSelector``, ``Assign``, ``Arguments``, ``Output`` ...) behaves the
same: placeholders and intrinsics make their key ``Key.$`` in JSONPath mode and become
``{% expression %}`` strings in JSONata mode; deferred values (local source code that is only
uploaded by ``Workflow.create()``) render as the URI they will have.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from stepline.sdk.intrinsics import Intrinsic, Path, States
from stepline.sdk.placeholders import Placeholder

JSONPATH = "JSONPath"
JSONATA = "JSONata"


@runtime_checkable
class Deferred(Protocol):
    """A value known only from local files (e.g. a code tarball's URI); see ``sdk.code``."""

    def resolve(self) -> Any: ...


def is_dynamic(value: Any) -> bool:
    return isinstance(value, Placeholder | Intrinsic | Path)


def path_of(value: Any) -> Any:
    """A path-valued field (``ItemsPath``, ``Variable`` ...): placeholders become their path."""
    if isinstance(value, Placeholder | Path):
        return value.to_jsonpath()
    return value


def payload(value: Any, language: str = JSONPATH) -> Any:
    """Render a payload template (dict, list or scalar) for ``language``."""
    if isinstance(value, Deferred):
        return payload(value.resolve(), language)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, Deferred):
                item = item.resolve()
            if language == JSONATA:
                out[key] = _jsonata_value(item)
            elif is_dynamic(item):
                out[f"{key}.$"] = item.to_jsonpath()
            elif isinstance(item, list) and any(is_dynamic(i) for i in item):
                out[f"{key}.$"] = _array(key, item)
            else:
                out[key] = payload(item, language)
        return out
    if isinstance(value, list | tuple):
        if language == JSONPATH and any(is_dynamic(i) for i in value):
            raise TypeError(
                "a placeholder cannot be a bare list element in JSONPath mode; put the list "
                "under a key (it is then rendered with States.Array) or use a dict"
            )
        return [payload(i, language) for i in value]
    if language == JSONATA and is_dynamic(value):
        return _jsonata_value(value)
    return value


def _array(key: str, items: list) -> str:
    for item in items:
        if isinstance(item, dict | list | tuple):
            raise TypeError(
                f"list {key!r} mixes placeholders with objects or lists; ASL can only build "
                "arrays of scalars and paths (States.Array)"
            )
    return States.Array(*items).to_jsonpath()


def _jsonata_value(value: Any) -> Any:
    if isinstance(value, Placeholder):
        return "{% " + value.to_jsonata() + " %}"
    if isinstance(value, Intrinsic | Path):
        raise TypeError(
            f"{value!r} is a JSONPath-mode expression; in JSONata mode write the JSONata "
            "equivalent with stepline.steps.jsonata('...')"
        )
    if isinstance(value, dict | list | tuple):
        return payload(value, JSONATA)
    return value


def find_deferred(value: Any) -> Iterator[Deferred]:
    """Every deferred value inside ``value`` (dicts, lists and objects' ``fields``)."""
    if isinstance(value, Deferred):
        yield value
        inner = getattr(value, "children", None)
        if inner is not None:
            yield from find_deferred(inner())
    elif isinstance(value, dict):
        for item in value.values():
            yield from find_deferred(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from find_deferred(item)
