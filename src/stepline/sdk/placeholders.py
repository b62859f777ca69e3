"""Placeholders: values that are only known when the workflow runs.

A placeholder stands for a path into data the state machine will see at run time: the
execution input (``$$.Execution.Input``), the state's input (``$``), the current Map item
(``$$.Map.Item.Value``) or a workflow variable (``$name``).  Putting one in a payload
(``parameters=``, ``result_selector=`` ...) makes the key dynamic: ``{"Key": ph}`` renders as
``{"Key.$": "<path>"}``, exactly as AWS's Data Science SDK renders it, so ported scripts
produce the same ASL.

Unlike the Data Science SDK, any placeholder may be used anywhere: AWS resolves every path
against the state's own input, so the "illegal placeholder" check there (which only allowed
the immediately preceding step's output) rejected valid workflows, Map bodies included.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ValidationResult(NamedTuple):
    """The outcome of :meth:`Placeholder.validate`, field for field like the DS SDK's."""

    valid: bool
    keys_missing: list[str] | None
    keys_type_mismatch: list[tuple[str, type, type]] | None


class Placeholder:
    """A collection of placeholder variables, or one variable inside such a collection.

    ``schema`` (``{"Name": str, "Nested": {"Depth": int}}``) declares the variables up front
    and freezes the collection, so a typo in a key fails when the workflow is written.
    """

    #: ``str.format`` template wrapping the bracketed path, e.g. ``"$$.Execution.Input{}"``.
    json_str_template = "{}"
    #: The JSONata expression the path starts from.
    jsonata_root = "$states.input"

    def __init__(
        self,
        schema: dict[str, Any] | None = None,
        *,
        name: str | int | None = None,
        type: type | None = None,
        parent: Placeholder | None = None,
    ) -> None:
        self.store: dict[str | int, Placeholder] = {}
        self.immutable = False
        self.schema = schema
        self.name = name
        self.type = type
        self.parent = parent
        if schema:
            self._set_schema(schema, [])
            self._make_immutable()

    # -- building variables -----------------------------------------------------------
    def _create_variable(self, name: str | int, type: type | None = None) -> Placeholder:
        if self.immutable:
            raise ValueError(
                "Placeholder variable does not conform to schema set for the placeholder "
                "collection."
            )
        return self.__class__(name=name, type=type, parent=self)

    def get(self, name: str | int, type: type | None = None) -> Placeholder:
        """The variable ``name`` with type ``type``; a clash with an existing type fails."""
        self._check_name(name)
        if name in self.store:
            current = self.store[name]
            if current.type != type:
                raise ValueError(f"Key already exists with a different value type: {current.type}")
            return current
        self.store[name] = self._create_variable(name, type)
        return self.store[name]

    def __getitem__(self, name: str | int) -> Placeholder:
        self._check_name(name)
        if name not in self.store:
            self.store[name] = self._create_variable(name)
        return self.store[name]

    @staticmethod
    def _check_name(name: Any) -> None:
        if not isinstance(name, str | int) or isinstance(name, bool):
            raise ValueError("Key name can only be string or integer")

    def _set_schema(self, schema: dict[str, Any], path: list[str]) -> None:
        for key, value in schema.items():
            if isinstance(value, dict):
                self._set_schema(value, [*path, key])
            else:
                node: Placeholder = self
                for part in path:
                    node = node.get(part, dict)
                node.get(key, value)

    def _make_immutable(self) -> None:
        for child in self.store.values():
            child._make_immutable()
        self.immutable = True

    # -- schema ---------------------------------------------------------------------------
    def contains(self, placeholder: Placeholder) -> bool:
        """Whether ``placeholder`` is a variable somewhere inside this collection."""
        return any(v is placeholder or v.contains(placeholder) for v in self.store.values())

    def __contains__(self, placeholder: Placeholder) -> bool:
        return self.contains(placeholder)

    def get_schema_as_dict(self) -> dict[str | int, Any]:
        return {
            k: (v.type or str) if not v.store else v.get_schema_as_dict()
            for k, v in self.store.items()
        }

    def get_schema_as_json(self, pretty: bool = False) -> str:
        def names(schema: dict) -> dict:
            return {
                k: names(v) if isinstance(v, dict) else getattr(v, "__name__", str(v))
                for k, v in schema.items()
            }

        return json.dumps(names(self.get_schema_as_dict()), indent=4 if pretty else None)

    def validate(self, input: Any) -> ValidationResult:
        """Check ``input`` against the declared variables: missing keys and wrong types."""
        if input is None:
            return ValidationResult(False, None, None)
        schema = _flatten(self.get_schema_as_dict())
        given = _flatten(input) if isinstance(input, dict) else {}
        missing = [k for k in schema if k not in given]
        mismatched = [
            (k, schema[k], type(v))
            for k, v in given.items()
            if k in schema and isinstance(schema[k], type) and not isinstance(v, schema[k])
        ]
        return ValidationResult(not missing and not mismatched, missing, mismatched)

    # -- rendering ------------------------------------------------------------------------
    def _path(self) -> list[str | int]:
        parts: list[str | int] = []
        node: Placeholder | None = self
        while node is not None and node.name is not None:
            parts.append(node.name)
            node = node.parent
        return parts[::-1]

    def to_jsonpath(self) -> str:
        """The JSONPath, in the DS SDK's bracket notation (``$['a'][0]``)."""
        text = "".join(f"['{p}']" if isinstance(p, str) else f"[{p}]" for p in self._path())
        return self.json_str_template.format(text)

    def to_jsonata(self) -> str:
        """The same location as a JSONata expression (for ``query_language="JSONata"``)."""
        out = self.jsonata_root
        for part in self._path():
            if isinstance(part, int):
                out += f"[{part}]"
            elif _IDENTIFIER.match(part):
                out += f".{part}"
            else:
                out += ".`" + part.replace("`", "") + "`"
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_jsonpath()!r})"


class ExecutionInput(Placeholder):
    """The execution's input: ``ExecutionInput()["key"]`` -> ``$$.Execution.Input['key']``."""

    json_str_template = "$$.Execution.Input{}"
    jsonata_root = "$states.context.Execution.Input"


class StepInput(Placeholder):
    """The state's input (a previous step's output): ``step.output()["k"]`` -> ``$['k']``."""

    json_str_template = "${}"
    jsonata_root = "$states.input"


class MapItemValue(Placeholder):
    """The current Map item, for ``item_selector=``: ``$$.Map.Item.Value['key']``."""

    json_str_template = "$$.Map.Item.Value{}"
    jsonata_root = "$states.context.Map.Item.Value"


class MapItemIndex(Placeholder):
    """The current Map item's index, ``$$.Map.Item.Index`` (a single value, no keys)."""

    json_str_template = "$$.Map.Item.Index"
    jsonata_root = "$states.context.Map.Item.Index"

    def __getitem__(self, name: str | int) -> Placeholder:
        raise ValueError("MapItemIndex is a number; it has no keys")


class Variable(Placeholder):
    """A workflow variable set with ``assign=``: ``Variable("best")["score"]`` -> ``$best.score``.

    Variables (ASL ``Assign``) let a later state read a value without threading it through
    every intermediate output.
    """

    def __init__(self, var_name: str, **kwargs: Any) -> None:
        if not _IDENTIFIER.match(var_name):
            raise ValueError(
                f"variable name {var_name!r} must be a letter/_ then letters, digits, _"
            )
        self.var_name = var_name
        self.jsonata_root = "$" + var_name
        super().__init__(**kwargs)

    def _create_variable(self, name: str | int, type: type | None = None) -> Placeholder:
        if self.immutable:
            raise ValueError(f"variable {self.var_name!r} has a schema without key {name!r}")
        return Variable(self.var_name, name=name, type=type, parent=self)

    def to_jsonpath(self) -> str:
        out = "$" + self.var_name
        for part in self._path():
            if isinstance(part, int):
                out += f"[{part}]"
            elif _IDENTIFIER.match(part):
                out += f".{part}"
            else:
                out += f"['{part}']"
        return out


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out
