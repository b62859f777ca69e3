"""What a state type tells the validator: the fields it accepts, and the helpers its checks use.

Every state class (the sibling modules) carries its :class:`Fields`, whether it ends its graph
by itself, and its own rules (``State.check``, ``State.field_checks``); ``asl/validate.py``
builds its table from ``STATE_TYPES``.  So a new state type is one module plus one line in
``states/__init__.py``, and the validator and the interpreter read the same class.

The helpers (JSON pointers, JSON type names, integer tests) are the validator's vocabulary;
they live in this leaf module so that the state modules and the validator share them without
importing each other at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSONPATH = "JSONPath"
JSONATA = "JSONata"


@dataclass(frozen=True)
class Fields:
    """Fields one state type accepts: in both languages, only JSONPath, only JSONata."""

    both: frozenset[str]
    jsonpath: frozenset[str]
    jsonata: frozenset[str]
    required: tuple[str, ...] = ()
    #: Pass, Task, Wait, Parallel and Map need exactly one of Next / End.
    transitions: bool = False

    def fields(self, lang: str) -> frozenset[str]:
        return self.both | (self.jsonpath if lang == JSONPATH else self.jsonata)

    def other_fields(self, lang: str) -> frozenset[str]:
        return self.jsonata if lang == JSONPATH else self.jsonpath


def f(*names: str) -> frozenset[str]:
    """A set of field names (short, because the field tables are mostly these)."""
    return frozenset(names)


#: Field groups several state types share.
COMMON = f("Type", "Comment", "QueryLanguage")
IO_PATHS = f("InputPath", "OutputPath")
RESULT_IO = IO_PATHS | f("Parameters", "ResultSelector", "ResultPath")
FLOW = f("Next", "End", "Assign")
ERRORS = f("Retry", "Catch")
#: What every :class:`~stepline.asl.states.base.RetryingState` (Task, Parallel, Map) accepts
#: in both languages: it transitions, and it has Retry and Catch.
RETRYING = COMMON | FLOW | ERRORS


def ptr(base: str, *parts: str | int) -> str:
    """Extend a JSON pointer, escaping ``~`` and ``/`` as RFC 6901 requires."""
    for part in parts:
        base += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return base


def is_int(value: Any) -> bool:
    """A JSON integer (``3`` or ``3.0``), never a boolean."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def is_number(value: Any) -> bool:
    """A JSON number, never a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_type(value: Any) -> str:
    """The JSON type of ``value`` with its article, for messages ("must be ..., not a string")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def quoted(names: Any) -> str:
    """``"a", "b"``: names as a message lists them."""
    return ", ".join(f'"{n}"' for n in names)
