"""Static validation of Amazon States Language definitions.

AWS refuses to create a state machine whose definition is wrong and lists what is wrong;
stepline does the same before anything runs, so a typo in a ``Next`` fails at upload time
rather than hours into a pipeline.  Every problem is collected (not just the first) and
each names a JSON pointer into the definition, so editors and CLIs can point at it.

Which fields a state may carry depends on its type *and* its query language, so that
knowledge lives in one table (:data:`_SPECS`) instead of being spread over conditionals.
Expression syntax (JSONPath, intrinsic functions, JSONata) is delegated to the modules that
evaluate those expressions, so the validator and the interpreter can never disagree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepline.asl.errors import ALL, DefinitionError

JSONPATH = "JSONPath"
JSONATA = "JSONata"
QUERY_LANGUAGES = (JSONPATH, JSONATA)

MAX_NAME_LENGTH = 80
MAX_LABEL_LENGTH = 40
#: AWS's upper bound for the second counts of Wait, TimeoutSeconds and HeartbeatSeconds.
MAX_SECONDS = 99999999
#: AWS's upper bound for a retrier's MaxDelaySeconds (exclusive).
MAX_DELAY_SECONDS = 31622401
MAX_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class Problem:
    """One reason AWS would refuse the definition, located by a JSON pointer."""

    path: str
    message: str

    def __str__(self) -> str:
        # The root's JSON pointer is empty; show it as "/" so every line names a place.
        return f"{self.path or '/'}: {self.message}"


def validate(definition: dict | str) -> list[Problem]:
    """Every problem in ``definition`` (a dict, or JSON text), in document order.

    An empty list means the definition is one AWS would accept.
    """
    parsed, problems = _parse(definition)
    if problems:
        return problems
    return _Validator(parsed[1]).run(parsed[0])


def check(definition: dict | str) -> dict:
    """The parsed definition, or :class:`DefinitionError` carrying every problem."""
    parsed, problems = _parse(definition)
    if not problems:
        problems = _Validator(parsed[1]).run(parsed[0])
    if problems:
        raise DefinitionError(problems)
    return parsed[0]


# --------------------------------------------------------------------------- parsing


def _parse(definition: dict | str) -> tuple[tuple[Any, dict[int, list[str]]], list[Problem]]:
    """Parse JSON text, remembering duplicate keys (``json`` would silently keep the last).

    Duplicate state names inside one ``States`` object are only visible in the text, so the
    hook records them by the id of the object that held them.
    """
    duplicates: dict[int, list[str]] = {}
    if isinstance(definition, str):

        def hook(pairs: list[tuple[str, Any]]) -> dict:
            obj: dict = {}
            for key, value in pairs:
                if key in obj:
                    duplicates.setdefault(id(obj), []).append(key)
                obj[key] = value
            return obj

        try:
            definition = json.loads(definition, object_pairs_hook=hook)
        except json.JSONDecodeError as e:
            msg = f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
            return (None, duplicates), [Problem("", msg)]
    if not isinstance(definition, dict):
        return (None, duplicates), [Problem("", "a definition must be a JSON object")]
    nonfinite = [
        Problem(where, f"{what} is not valid JSON") for where, what in non_finite(definition)
    ]
    if nonfinite:
        return (None, duplicates), nonfinite
    return (definition, duplicates), []


def non_finite(value: Any, base: str = "") -> list[tuple[str, str]]:
    """``(JSON pointer, "NaN" | "Infinity" | "-Infinity")`` of every non-finite number.

    Python's ``json`` reads and writes ``NaN`` and ``Infinity``, which JSON (and AWS) do not
    have; a value holding one would be stored and printed as invalid JSON.
    """
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(base, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float):
            if item != item:
                found.append((where or "/", "NaN"))
            elif item in (math.inf, -math.inf):
                found.append((where or "/", "Infinity" if item > 0 else "-Infinity"))
        elif isinstance(item, dict):
            stack.extend((_ptr(where, k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((_ptr(where, i), v) for i, v in reversed(list(enumerate(item))))
    return found


def _ptr(base: str, *parts: str | int) -> str:
    """Extend a JSON pointer, escaping ``~`` and ``/`` as RFC 6901 requires."""
    for part in parts:
        base += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return base


# ----------------------------------------------------------------- the field table


@dataclass(frozen=True)
class _Spec:
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


def _f(*names: str) -> frozenset[str]:
    return frozenset(names)


_COMMON = _f("Type", "Comment", "QueryLanguage")
_IO_PATHS = _f("InputPath", "OutputPath")
_RESULT_IO = _IO_PATHS | _f("Parameters", "ResultSelector", "ResultPath")
_FLOW = _f("Next", "End", "Assign")
_ERRORS = _f("Retry", "Catch")

_SPECS: dict[str, _Spec] = {
    "Pass": _Spec(
        both=_COMMON | _FLOW,
        jsonpath=_IO_PATHS | _f("Parameters", "ResultPath", "Result"),
        jsonata=_f("Output"),
        transitions=True,
    ),
    "Task": _Spec(
        both=_COMMON
        | _FLOW
        | _ERRORS
        | _f("Resource", "Credentials")
        | _f("TimeoutSeconds", "HeartbeatSeconds"),
        jsonpath=_RESULT_IO | _f("TimeoutSecondsPath", "HeartbeatSecondsPath"),
        jsonata=_f("Arguments", "Output"),
        required=("Resource",),
        transitions=True,
    ),
    "Choice": _Spec(
        both=_COMMON | _f("Choices", "Default", "Assign"),
        jsonpath=_IO_PATHS,
        jsonata=_f("Output"),
        required=("Choices",),
    ),
    "Wait": _Spec(
        both=_COMMON | _FLOW | _f("Seconds", "Timestamp"),
        jsonpath=_IO_PATHS | _f("SecondsPath", "TimestampPath"),
        jsonata=_f("Output"),
        transitions=True,
    ),
    "Succeed": _Spec(both=_COMMON, jsonpath=_IO_PATHS, jsonata=_f("Output")),
    "Fail": _Spec(
        both=_COMMON | _f("Error", "Cause"), jsonpath=_f("ErrorPath", "CausePath"), jsonata=_f()
    ),
    "Parallel": _Spec(
        both=_COMMON | _FLOW | _ERRORS | _f("Branches"),
        jsonpath=_RESULT_IO,
        jsonata=_f("Arguments", "Output"),
        required=("Branches",),
        transitions=True,
    ),
    "Map": _Spec(
        both=_COMMON
        | _FLOW
        | _ERRORS
        | _f("ItemProcessor", "Iterator", "ItemSelector", "ItemReader", "ItemBatcher")
        | _f("ResultWriter", "MaxConcurrency", "ToleratedFailurePercentage")
        | _f("ToleratedFailureCount", "Label"),
        jsonpath=_RESULT_IO
        | _f("ItemsPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath")
        | _f("ToleratedFailureCountPath"),
        jsonata=_f("Items", "Output"),
        transitions=True,
    ),
}

_TOP_FIELDS = _f("StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage")
_GRAPH_FIELDS = _f("StartAt", "States", "Comment")
_PROCESSOR_FIELDS = _GRAPH_FIELDS | _f("ProcessorConfig")

_RETRY_FIELDS = _f(
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
)
_CATCH_FIELDS = {
    JSONPATH: _f("ErrorEquals", "Next", "ResultPath", "Assign", "Comment"),
    JSONATA: _f("ErrorEquals", "Next", "Output", "Assign", "Comment"),
}


def _comparators() -> dict[str, str]:
    """Choice comparison operators and the kind of operand each takes."""
    ops = {}
    for prefix, kind in (("String", "string"), ("Numeric", "number"), ("Timestamp", "timestamp")):
        for suffix in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"):
            ops[prefix + suffix] = kind
            ops[prefix + suffix + "Path"] = "path"
    ops["BooleanEquals"] = "boolean"
    ops["BooleanEqualsPath"] = "path"
    ops["StringMatches"] = "string"
    for test in ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"):
        ops[test] = "boolean"
    return ops


_COMPARATORS = _comparators()
_COMBINATORS = ("And", "Or", "Not")
_RULE_EXTRA = {True: _f("Next", "Assign", "Comment"), False: _f("Comment")}
_JSONATA_RULE_FIELDS = _f("Condition", "Next", "Assign", "Output", "Comment")

_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_ARN = re.compile(r"^arn:[^:\s]+:[^:\s]+:[^:\s]*:[^:\s]*:\S+$")
_LABEL_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")

_READER_INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET")
_CSV_HEADER_LOCATIONS = ("FIRST_ROW", "GIVEN")
_CSV_DELIMITERS = ("COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB")
_WRITER_OUTPUT_TYPES = ("JSON", "JSONL")
_WRITER_TRANSFORMATIONS = ("NONE", "COMPACT", "FLATTEN")


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# ------------------------------------------------------- expression syntax (delegated)


def _path_error(expr: str) -> str | None:
    from stepline.asl.paths import path_syntax_error

    return path_syntax_error(expr)


def _reference_path_error(expr: str) -> str | None:
    from stepline.asl.paths import reference_path_syntax_error

    return reference_path_syntax_error(expr)


def _result_path_error(expr: str | None) -> str | None:
    from stepline.asl.paths import result_path_syntax_error

    return result_path_syntax_error(expr)


def _is_intrinsic(expr: str) -> bool:
    from stepline.asl.intrinsics import is_intrinsic

    return is_intrinsic(expr)


def _intrinsic_error(expr: str) -> str | None:
    from stepline.asl.intrinsics import intrinsic_syntax_error

    return intrinsic_syntax_error(expr)


def _is_jsonata(value: Any) -> bool:
    from stepline.asl.jsonata import is_jsonata

    return is_jsonata(value)


def _jsonata_error(value: str) -> str | None:
    from stepline.asl.jsonata import jsonata_syntax_error

    inner = value.strip()[2:-2]
    return jsonata_syntax_error(inner)


# ------------------------------------------------------------------- the validator

_Checker = Callable[[Any, str, str], None]


class _Validator:
    """Walks one definition once, appending to ``problems`` as it goes."""

    def __init__(self, duplicates: dict[int, list[str]]) -> None:
        self.problems: list[Problem] = []
        self.duplicates = duplicates
        #: state name -> pointer of its first definition, across all nested graphs.
        self.names: dict[str, str] = {}
        self.top_lang = JSONPATH
        self.checks: dict[str, _Checker] = {
            "Comment": self._string,
            "Next": self._string,
            "Default": self._string,
            "End": self._end,
            "InputPath": self._io_path,
            "OutputPath": self._io_path,
            "ResultPath": self._result_path,
            "Parameters": self._template_object,
            "ResultSelector": self._template_object,
            "ItemSelector": self._selector,
            "Arguments": self._arguments,
            "Output": self._jsonata_value,
            "Assign": self._assign,
            "Resource": self._resource,
            "Credentials": self._selector,
            "TimeoutSeconds": self._positive_seconds,
            "HeartbeatSeconds": self._positive_seconds,
            "Seconds": self._wait_seconds,
            "Timestamp": self._timestamp_field,
            "Error": self._error_text,
            "Cause": self._error_text,
            "ErrorPath": self._error_path,
            "CausePath": self._error_path,
            "Items": self._items,
            "MaxConcurrency": self._non_negative_int,
            "ToleratedFailureCount": self._non_negative_int,
            "ToleratedFailurePercentage": self._percentage,
            "Label": self._label,
            "ItemReader": self._item_reader,
            "ItemBatcher": self._item_batcher,
            "ResultWriter": self._result_writer,
        }
        for name in (
            "TimeoutSecondsPath",
            "HeartbeatSecondsPath",
            "SecondsPath",
            "TimestampPath",
            "ItemsPath",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCountPath",
        ):
            self.checks[name] = self._reference_path

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # -- top level and graphs -------------------------------------------------------

    def run(self, definition: dict) -> list[Problem]:
        lang = definition.get("QueryLanguage", JSONPATH)
        if lang not in QUERY_LANGUAGES:
            self.add("/QueryLanguage", f"must be one of {_quoted(QUERY_LANGUAGES)}")
            lang = JSONPATH
        self.top_lang = lang
        for key in definition:
            if key not in _TOP_FIELDS:
                self.add(_ptr("", key), f'unknown top-level field "{key}"')
        if "Comment" in definition:
            self._string(definition["Comment"], "/Comment", lang)
        if "Version" in definition:
            self._string(definition["Version"], "/Version", lang)
        if "TimeoutSeconds" in definition:
            value = definition["TimeoutSeconds"]
            if not _is_int(value) or value < 1:
                self.add("/TimeoutSeconds", "must be a positive integer")
        self._graph(definition, "", lang, _TOP_FIELDS, check_fields=False)
        return self.problems

    def _graph(
        self,
        graph: Any,
        path: str,
        lang: str,
        fields: frozenset[str] = _GRAPH_FIELDS,
        *,
        check_fields: bool = True,
    ) -> None:
        """A state graph: the top level, a Parallel branch or a Map processor."""
        if not isinstance(graph, dict):
            self.add(path, "must be an object with StartAt and States")
            return
        if check_fields:
            for key in graph:
                if key not in fields:
                    self.add(_ptr(path, key), f'unknown field "{key}"')
            if "Comment" in graph:
                self._string(graph["Comment"], _ptr(path, "Comment"), lang)
        states = graph.get("States")
        states_path = _ptr(path, "States")
        if "States" not in graph:
            self.add(path, 'missing required field "States"')
            states = {}
        elif not isinstance(states, dict):
            self.add(states_path, "must be an object mapping state names to states")
            states = {}
        elif not states:
            self.add(states_path, "must contain at least one state")
        for name in self.duplicates.get(id(states), []):
            self.add(_ptr(states_path, name), f'duplicate state name "{name}"')

        edges: dict[str, list[tuple[str, str]]] = {}
        terminal = False
        for name, state in states.items():
            state_path = _ptr(states_path, name)
            self._state_name(name, state_path)
            targets, is_terminal = self._state(state, state_path, lang)
            edges[name] = targets
            terminal = terminal or is_terminal

        for targets in edges.values():
            for target, target_path in targets:
                if target not in states:
                    self.add(target_path, f'no state named "{target}"')

        start = graph.get("StartAt")
        if "StartAt" not in graph:
            self.add(path, 'missing required field "StartAt"')
        elif not isinstance(start, str):
            self.add(_ptr(path, "StartAt"), "must be a string")
        elif start not in states:
            if states:
                self.add(_ptr(path, "StartAt"), f'no state named "{start}"')
        else:
            reached = {start}
            todo = [start]
            while todo:
                for target, _ in edges.get(todo.pop(), []):
                    if target in states and target not in reached:
                        reached.add(target)
                        todo.append(target)
            for name in states:
                if name not in reached:
                    self.add(_ptr(states_path, name), "state is not reachable from StartAt")
        if states and not terminal:
            self.add(states_path, 'no terminal state: needs a Succeed or Fail state or "End": true')

    def _state_name(self, name: str, path: str) -> None:
        if not name:
            self.add(path, "a state name must not be empty")
        elif len(name) > MAX_NAME_LENGTH:
            self.add(path, f"state name is longer than {MAX_NAME_LENGTH} characters")
        first = self.names.get(name)
        if first is None:
            self.names[name] = path
        else:
            self.add(path, f'duplicate state name "{name}" (also at {first})')

    # -- one state ------------------------------------------------------------------

    def _state(self, state: Any, path: str, graph_lang: str) -> tuple[list[tuple[str, str]], bool]:
        """Check one state; returns its outgoing transitions and whether it can end."""
        if not isinstance(state, dict):
            self.add(path, "a state must be an object")
            return [], False
        if "Type" not in state:
            self.add(path, 'missing required field "Type"')
            return [], False
        kind = state["Type"]
        spec = _SPECS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            self.add(
                _ptr(path, "Type"),
                f"unknown state type {json.dumps(kind)}; expected one of {_quoted(_SPECS)}",
            )
            return [], False

        lang = state.get("QueryLanguage", graph_lang)
        if lang not in QUERY_LANGUAGES:
            self.add(_ptr(path, "QueryLanguage"), f"must be one of {_quoted(QUERY_LANGUAGES)}")
            lang = graph_lang
        elif lang == JSONPATH and self.top_lang == JSONATA:
            self.add(
                _ptr(path, "QueryLanguage"),
                "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata",
            )

        allowed = spec.fields(lang)
        for key, value in state.items():
            field_path = _ptr(path, key)
            if key in allowed:
                checker = self.checks.get(key)
                if checker is not None:
                    checker(value, field_path, lang)
            elif key in spec.other_fields(lang):
                self.add(field_path, f'"{key}" is not allowed in a {lang} state')
            else:
                self.add(field_path, f'unknown field "{key}" for a {kind} state')
        for key in spec.required:
            if key not in state:
                self.add(path, f'missing required field "{key}"')

        edges: list[tuple[str, str]] = []
        terminal = kind in ("Succeed", "Fail")
        if spec.transitions:
            terminal = self._transition(state, path, edges)
        extra = _TYPE_CHECKS.get(kind)
        if extra is not None:
            extra(self, state, path, lang, edges)
        if "Retry" in state and "Retry" in allowed:
            self._retry(state["Retry"], _ptr(path, "Retry"))
        if "Catch" in state and "Catch" in allowed:
            self._catch(state["Catch"], _ptr(path, "Catch"), lang, edges)
        return edges, terminal

    def _transition(self, state: dict, path: str, edges: list[tuple[str, str]]) -> bool:
        has_next = "Next" in state
        end = state.get("End") is True
        if has_next and end:
            self.add(path, 'has both "Next" and "End": true; use one')
        elif not has_next and not end:
            self.add(path, 'needs "Next" or "End": true')
        if has_next and isinstance(state["Next"], str):
            edges.append((state["Next"], _ptr(path, "Next")))
        return end

    # -- type-specific rules --------------------------------------------------------

    def _task(self, state: dict, path: str, lang: str, edges: list) -> None:
        for field in ("TimeoutSeconds", "HeartbeatSeconds"):
            if lang == JSONPATH and field in state and field + "Path" in state:
                self.add(path, f'"{field}" and "{field}Path" are mutually exclusive')
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if _is_int(timeout) and _is_int(heartbeat) and heartbeat >= timeout:
            self.add(_ptr(path, "HeartbeatSeconds"), "must be smaller than TimeoutSeconds")

    def _wait(self, state: dict, path: str, lang: str, edges: list) -> None:
        given = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in state]
        if len(given) != 1:
            names = (
                "Seconds, Timestamp"
                if lang == JSONATA
                else ("Seconds, Timestamp, SecondsPath, TimestampPath")
            )
            found = f" (found {', '.join(given)})" if given else ""
            self.add(path, f"a Wait state needs exactly one of {names}{found}")

    def _fail(self, state: dict, path: str, lang: str, edges: list) -> None:
        for field in ("Error", "Cause"):
            if lang == JSONPATH and field in state and field + "Path" in state:
                self.add(path, f'"{field}" and "{field}Path" are mutually exclusive')

    def _choice(self, state: dict, path: str, lang: str, edges: list) -> None:
        choices = state.get("Choices")
        choices_path = _ptr(path, "Choices")
        if "Choices" in state and (not isinstance(choices, list) or not choices):
            self.add(choices_path, "must be a non-empty array of Choice rules")
        for i, rule in enumerate(choices if isinstance(choices, list) else []):
            rule_path = _ptr(choices_path, i)
            if lang == JSONATA:
                self._jsonata_rule(rule, rule_path, lang)
            else:
                self._rule(rule, rule_path, top=True)
            if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
                edges.append((rule["Next"], _ptr(rule_path, "Next")))
        default = state.get("Default")
        if isinstance(default, str):
            edges.append((default, _ptr(path, "Default")))

    def _jsonata_rule(self, rule: Any, path: str, lang: str) -> None:
        if not isinstance(rule, dict):
            self.add(path, "a Choice rule must be an object")
            return
        for key, value in rule.items():
            field_path = _ptr(path, key)
            if key not in _JSONATA_RULE_FIELDS:
                hint = (
                    " (JSONata rules use Condition)"
                    if key in _COMPARATORS or key in ("Variable", *_COMBINATORS)
                    else ""
                )
                self.add(field_path, f'unknown field "{key}" in a Choice rule{hint}')
            elif key == "Condition":
                if isinstance(value, str) and _is_jsonata(value):
                    self._jsonata_value(value, field_path, lang)
                elif not isinstance(value, bool):
                    self.add(field_path, "must be a JSONata expression {% ... %} or a boolean")
            elif key in ("Next", "Comment"):
                self._string(value, field_path, lang)
            elif key == "Assign":
                self._assign(value, field_path, lang)
            elif key == "Output":
                self._jsonata_value(value, field_path, lang)
        for key in ("Condition", "Next"):
            if key not in rule:
                self.add(path, f'missing required field "{key}"')

    def _rule(self, rule: Any, path: str, *, top: bool) -> None:
        """A JSONPath Choice rule; only top-level rules carry Next (and Assign)."""
        if not isinstance(rule, dict):
            self.add(path, "a Choice rule must be an object")
            return
        operators = [k for k in rule if k in _COMPARATORS or k in _COMBINATORS]
        for key, value in rule.items():
            field_path = _ptr(path, key)
            if key in operators or key == "Variable":
                continue
            if key in _RULE_EXTRA[top]:
                if key == "Assign":
                    self._assign(value, field_path, JSONPATH)
                else:
                    self._string(value, field_path, JSONPATH)
            elif key in ("Next", "Assign"):
                self.add(field_path, f'only top-level Choice rules may have "{key}"')
            elif key == "Condition":
                self.add(field_path, '"Condition" is not allowed in a JSONPath Choice rule')
            else:
                self.add(field_path, f'unknown field "{key}" in a Choice rule')
        if top and "Next" not in rule:
            self.add(path, 'missing required field "Next"')
        if not operators:
            self.add(path, "a Choice rule needs a comparison operator, And, Or or Not")
            return
        if len(operators) > 1:
            self.add(path, f"a Choice rule takes exactly one operator, found {_quoted(operators)}")
            return
        op = operators[0]
        value, op_path = rule[op], _ptr(path, op)
        if op in _COMBINATORS:
            if "Variable" in rule:
                self.add(_ptr(path, "Variable"), f'"Variable" is not allowed with "{op}"')
            if op == "Not":
                self._rule(value, op_path, top=False)
            elif not isinstance(value, list) or not value:
                self.add(op_path, "must be a non-empty array of Choice rules")
            else:
                for i, sub in enumerate(value):
                    self._rule(sub, _ptr(op_path, i), top=False)
            return
        if "Variable" not in rule:
            self.add(path, f'missing required field "Variable" for "{op}"')
        else:
            self._reference_path(rule["Variable"], _ptr(path, "Variable"), JSONPATH)
        self._operand(_COMPARATORS[op], value, op_path)

    def _operand(self, kind: str, value: Any, path: str) -> None:
        if kind == "path":
            self._reference_path(value, path, JSONPATH)
        elif kind == "string" and not isinstance(value, str):
            self.add(path, f"must be a string, not {_json_type(value)}")
        elif kind == "number" and not _is_number(value):
            self.add(path, f"must be a number, not {_json_type(value)}")
        elif kind == "boolean" and not isinstance(value, bool):
            self.add(path, f"must be a boolean, not {_json_type(value)}")
        elif kind == "timestamp":
            self._timestamp(value, path)

    def _parallel(self, state: dict, path: str, lang: str, edges: list) -> None:
        branches = state.get("Branches")
        if "Branches" not in state:
            return
        branches_path = _ptr(path, "Branches")
        if not isinstance(branches, list) or not branches:
            self.add(branches_path, "must be a non-empty array of state graphs")
            return
        for i, branch in enumerate(branches):
            self._graph(branch, _ptr(branches_path, i), self.top_lang)

    def _map(self, state: dict, path: str, lang: str, edges: list) -> None:
        has_processor, has_iterator = "ItemProcessor" in state, "Iterator" in state
        if has_processor and has_iterator:
            self.add(path, '"ItemProcessor" and "Iterator" are mutually exclusive')
        elif not has_processor and not has_iterator:
            self.add(path, 'missing required field "ItemProcessor"')
        if has_processor:
            self._processor(state["ItemProcessor"], _ptr(path, "ItemProcessor"), lang)
        if has_iterator:
            self._processor(state["Iterator"], _ptr(path, "Iterator"), lang)
        if "Parameters" in state and "ItemSelector" in state:
            self.add(path, '"Parameters" and "ItemSelector" are mutually exclusive')
        for field in ("MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount"):
            if lang == JSONPATH and field in state and field + "Path" in state:
                self.add(path, f'"{field}" and "{field}Path" are mutually exclusive')

    def _processor(self, processor: Any, path: str, lang: str) -> None:
        if isinstance(processor, dict) and "ProcessorConfig" in processor:
            config, config_path = processor["ProcessorConfig"], _ptr(path, "ProcessorConfig")
            if not isinstance(config, dict):
                self.add(config_path, "must be an object")
            else:
                self._object_fields(config, config_path, _f("Mode", "ExecutionType"))
                mode = config.get("Mode", "INLINE")
                self._enum(config, "Mode", config_path, ("INLINE", "DISTRIBUTED"))
                self._enum(config, "ExecutionType", config_path, ("STANDARD", "EXPRESS"))
                if mode == "DISTRIBUTED" and "ExecutionType" not in config:
                    self.add(config_path, 'a DISTRIBUTED Map needs "ExecutionType"')
        self._graph(processor, path, self.top_lang, _PROCESSOR_FIELDS)

    # -- Retry and Catch ------------------------------------------------------------

    def _error_equals(self, entry: dict, path: str, last: bool) -> None:
        errors = entry.get("ErrorEquals")
        if "ErrorEquals" not in entry:
            self.add(path, 'missing required field "ErrorEquals"')
            return
        errors_path = _ptr(path, "ErrorEquals")
        if not isinstance(errors, list) or not errors:
            self.add(errors_path, "must be a non-empty array of error names")
            return
        for i, error in enumerate(errors):
            if not isinstance(error, str) or not error:
                self.add(_ptr(errors_path, i), "must be a non-empty string")
        if ALL in errors:
            if len(errors) != 1:
                self.add(errors_path, f'"{ALL}" must appear alone in ErrorEquals')
            if not last:
                self.add(errors_path, f'"{ALL}" must be in the last entry')

    def _retry(self, retry: Any, path: str) -> None:
        if not isinstance(retry, list):
            self.add(path, "must be an array of retriers")
            return
        for i, retrier in enumerate(retry):
            rpath = _ptr(path, i)
            if not isinstance(retrier, dict):
                self.add(rpath, "a retrier must be an object")
                continue
            self._object_fields(retrier, rpath, _RETRY_FIELDS, "a retrier")
            self._error_equals(retrier, rpath, i == len(retry) - 1)
            value = retrier.get("IntervalSeconds", 1)
            if not _is_int(value) or not 1 <= value <= MAX_SECONDS:
                self.add(_ptr(rpath, "IntervalSeconds"), "must be a positive integer")
            value = retrier.get("MaxAttempts", 0)
            if not _is_int(value) or not 0 <= value <= MAX_SECONDS:
                self.add(_ptr(rpath, "MaxAttempts"), "must be a non-negative integer")
            value = retrier.get("BackoffRate", 1.0)
            if not _is_number(value) or value < 1.0:
                self.add(_ptr(rpath, "BackoffRate"), "must be a number greater than or equal to 1")
            value = retrier.get("MaxDelaySeconds", 1)
            if not _is_int(value) or not 0 < value < MAX_DELAY_SECONDS:
                self.add(
                    _ptr(rpath, "MaxDelaySeconds"),
                    f"must be a positive integer below {MAX_DELAY_SECONDS}",
                )
            self._enum(retrier, "JitterStrategy", rpath, ("FULL", "NONE"))
            if "Comment" in retrier:
                self._string(retrier["Comment"], _ptr(rpath, "Comment"), JSONPATH)

    def _catch(self, catch: Any, path: str, lang: str, edges: list) -> None:
        if not isinstance(catch, list):
            self.add(path, "must be an array of catchers")
            return
        fields = _CATCH_FIELDS[lang]
        other = _CATCH_FIELDS[JSONATA if lang == JSONPATH else JSONPATH] - fields
        for i, catcher in enumerate(catch):
            cpath = _ptr(path, i)
            if not isinstance(catcher, dict):
                self.add(cpath, "a catcher must be an object")
                continue
            for key, value in catcher.items():
                field_path = _ptr(cpath, key)
                if key in other:
                    self.add(field_path, f'"{key}" is not allowed in a {lang} state')
                elif key not in fields:
                    self.add(field_path, f'unknown field "{key}" in a catcher')
                elif key in self.checks and key != "ErrorEquals":
                    self.checks[key](value, field_path, lang)
            self._error_equals(catcher, cpath, i == len(catch) - 1)
            if "Next" not in catcher:
                self.add(cpath, 'missing required field "Next"')
            elif isinstance(catcher["Next"], str):
                edges.append((catcher["Next"], _ptr(cpath, "Next")))

    # -- Map's distributed-mode objects ----------------------------------------------

    def _item_reader(self, value: Any, path: str, lang: str) -> None:
        if not self._require_object(value, path):
            return
        self._resource_object(value, path, lang, _f("ReaderConfig"), resource_required=True)
        if "ReaderConfig" not in value:
            return
        config, config_path = value["ReaderConfig"], _ptr(path, "ReaderConfig")
        if not self._require_object(config, config_path):
            return
        fields = _f(
            "InputType",
            "CSVHeaderLocation",
            "CSVHeaders",
            "CSVDelimiter",
            "MaxItems",
            "ManifestType",
        )
        if lang == JSONPATH:
            fields |= _f("MaxItemsPath")
        self._object_fields(config, config_path, fields)
        self._enum(config, "InputType", config_path, _READER_INPUT_TYPES)
        self._enum(config, "CSVHeaderLocation", config_path, _CSV_HEADER_LOCATIONS)
        self._enum(config, "CSVDelimiter", config_path, _CSV_DELIMITERS)
        headers = config.get("CSVHeaders", [])
        if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
            self.add(_ptr(config_path, "CSVHeaders"), "must be an array of strings")
        if "MaxItems" in config:
            self._non_negative_int(config["MaxItems"], _ptr(config_path, "MaxItems"), lang)
        if "MaxItemsPath" in config:
            self._reference_path(config["MaxItemsPath"], _ptr(config_path, "MaxItemsPath"), lang)
            if "MaxItems" in config:
                self.add(config_path, '"MaxItems" and "MaxItemsPath" are mutually exclusive')

    def _result_writer(self, value: Any, path: str, lang: str) -> None:
        if not self._require_object(value, path):
            return
        self._resource_object(value, path, lang, _f("WriterConfig"), resource_required=False)
        if "Resource" not in value and "WriterConfig" not in value:
            self.add(path, 'needs "Resource" or "WriterConfig"')
        if "WriterConfig" in value:
            config, config_path = value["WriterConfig"], _ptr(path, "WriterConfig")
            if self._require_object(config, config_path):
                self._object_fields(config, config_path, _f("OutputType", "Transformation"))
                self._enum(config, "OutputType", config_path, _WRITER_OUTPUT_TYPES)
                self._enum(config, "Transformation", config_path, _WRITER_TRANSFORMATIONS)

    def _resource_object(
        self, value: dict, path: str, lang: str, extra: frozenset[str], *, resource_required: bool
    ) -> None:
        """ItemReader / ResultWriter: a Resource plus Parameters (JSONPath) or Arguments."""
        args = "Parameters" if lang == JSONPATH else "Arguments"
        wrong = "Arguments" if lang == JSONPATH else "Parameters"
        for key, item in value.items():
            field_path = _ptr(path, key)
            if key == "Resource":
                self._resource(item, field_path, lang)
            elif key == args:
                if lang == JSONPATH:
                    self._template_object(item, field_path, lang)
                else:
                    self._arguments(item, field_path, lang)
            elif key == wrong:
                self.add(field_path, f'"{key}" is not allowed in a {lang} state')
            elif key not in extra:
                self.add(field_path, f'unknown field "{key}"')
        if resource_required and "Resource" not in value:
            self.add(path, 'missing required field "Resource"')

    def _item_batcher(self, value: Any, path: str, lang: str) -> None:
        if not self._require_object(value, path):
            return
        fields = _f("MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput")
        if lang == JSONPATH:
            fields |= _f("MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath")
        self._object_fields(value, path, fields)
        for field in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            if field in value:
                self._positive_int(value[field], _ptr(path, field), lang)
                if _is_int(value[field]) and field == "MaxInputBytesPerBatch":
                    if value[field] > MAX_BATCH_BYTES:
                        self.add(_ptr(path, field), f"must be at most {MAX_BATCH_BYTES}")
            if field + "Path" in value:
                self._reference_path(value[field + "Path"], _ptr(path, field + "Path"), lang)
                if field in value:
                    self.add(path, f'"{field}" and "{field}Path" are mutually exclusive')
        if not any(f in value for f in fields - {"BatchInput"}):
            self.add(path, "needs MaxItemsPerBatch or MaxInputBytesPerBatch")
        if "BatchInput" in value:
            self._selector(value["BatchInput"], _ptr(path, "BatchInput"), lang)

    # -- field checkers: (value, pointer, query language) ---------------------------

    def _string(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {_json_type(value)}")

    def _end(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, bool):
            self.add(path, f"must be a boolean, not {_json_type(value)}")

    def _io_path(self, value: Any, path: str, lang: str) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.add(path, f"must be a path string or null, not {_json_type(value)}")
            return
        self._report(path, _path_error(value))

    def _reference_path(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, str):
            self.add(path, f"must be a reference path string, not {_json_type(value)}")
            return
        self._report(path, _reference_path_error(value))

    def _result_path(self, value: Any, path: str, lang: str) -> None:
        if value is not None and not isinstance(value, str):
            self.add(path, f"must be a reference path string or null, not {_json_type(value)}")
            return
        self._report(path, _result_path_error(value))

    def _error_path(self, value: Any, path: str, lang: str) -> None:
        if isinstance(value, str) and _is_intrinsic(value):
            self._report(path, _intrinsic_error(value))
        else:
            self._reference_path(value, path, lang)

    def _template_object(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, dict):
            self.add(path, f"must be an object, not {_json_type(value)}")
            return
        self._template(value, path)

    def _template(self, value: Any, path: str) -> None:
        """A JSONPath payload template: keys ending in ``.$`` hold paths or intrinsics."""
        if isinstance(value, dict):
            for key, item in value.items():
                item_path = _ptr(path, key)
                if key.endswith(".$"):
                    self._dynamic(item, item_path)
                else:
                    self._template(item, item_path)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._template(item, _ptr(path, i))

    def _dynamic(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(
                path,
                'a field ending in ".$" needs a path or intrinsic function string, '
                f"not {_json_type(value)}",
            )
        elif _is_intrinsic(value):
            self._report(path, _intrinsic_error(value))
        else:
            self._report(path, _path_error(value))

    def _jsonata_value(self, value: Any, path: str, lang: str) -> None:
        """Any JSON whose strings of the form ``{% ... %}`` must be valid JSONata."""
        if isinstance(value, str):
            if _is_jsonata(value):
                self._report(path, _jsonata_error(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                self._jsonata_value(item, _ptr(path, key), lang)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._jsonata_value(item, _ptr(path, i), lang)

    def _arguments(self, value: Any, path: str, lang: str) -> None:
        if isinstance(value, dict) or (isinstance(value, str) and _is_jsonata(value)):
            self._jsonata_value(value, path, lang)
        else:
            self.add(path, f"must be an object or a JSONata expression, not {_json_type(value)}")

    def _selector(self, value: Any, path: str, lang: str) -> None:
        if lang == JSONPATH:
            self._template_object(value, path, lang)
        else:
            self._arguments(value, path, lang)

    def _items(self, value: Any, path: str, lang: str) -> None:
        if isinstance(value, list) or (isinstance(value, str) and _is_jsonata(value)):
            self._jsonata_value(value, path, lang)
        else:
            self.add(path, f"must be an array or a JSONata expression, not {_json_type(value)}")

    def _assign(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, dict):
            self.add(path, f"must be an object of variable names, not {_json_type(value)}")
            return
        for key, item in value.items():
            item_path = _ptr(path, key)
            dynamic = lang == JSONPATH and key.endswith(".$")
            name = key[:-2] if dynamic else key
            if not name:
                self.add(item_path, "a variable name must not be empty")
            elif len(name) > MAX_NAME_LENGTH:
                self.add(item_path, f"variable name is longer than {MAX_NAME_LENGTH} characters")
            elif name == "states":
                self.add(item_path, '"states" is reserved and cannot be assigned')
            elif not name.isidentifier():
                self.add(item_path, f'"{name}" is not a valid variable name')
            if lang == JSONATA:
                self._jsonata_value(item, item_path, lang)
            elif dynamic:
                self._dynamic(item, item_path)
            else:
                self._template(item, item_path)

    def _resource(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, str) or not _ARN.match(value):
            self.add(
                path,
                f"must be an ARN (arn:partition:service:region:account:resource), "
                f"got {json.dumps(value)}",
            )

    def _jsonata_or(self, value: Any, path: str, lang: str) -> bool:
        """In JSONata states a numeric field may be an expression; True if it was one."""
        if lang == JSONATA and isinstance(value, str) and _is_jsonata(value):
            self._report(path, _jsonata_error(value))
            return True
        return False

    def _int_range(self, value: Any, path: str, lang: str, low: int, high: int, what: str) -> None:
        if self._jsonata_or(value, path, lang):
            return
        if not _is_int(value) or not low <= value <= high:
            hint = " or a JSONata expression" if lang == JSONATA else ""
            self.add(path, f"must be {what}{hint}")

    def _positive_seconds(self, value: Any, path: str, lang: str) -> None:
        self._int_range(value, path, lang, 1, MAX_SECONDS, f"a positive integer <= {MAX_SECONDS}")

    def _wait_seconds(self, value: Any, path: str, lang: str) -> None:
        self._int_range(
            value, path, lang, 0, MAX_SECONDS, f"a non-negative integer <= {MAX_SECONDS}"
        )

    def _positive_int(self, value: Any, path: str, lang: str) -> None:
        self._int_range(value, path, lang, 1, 2**31 - 1, "a positive integer")

    def _non_negative_int(self, value: Any, path: str, lang: str) -> None:
        self._int_range(value, path, lang, 0, 2**31 - 1, "a non-negative integer")

    def _percentage(self, value: Any, path: str, lang: str) -> None:
        if self._jsonata_or(value, path, lang):
            return
        if not _is_number(value) or not 0 <= value <= 100:
            self.add(path, "must be a number from 0 to 100")

    def _timestamp_field(self, value: Any, path: str, lang: str) -> None:
        if not self._jsonata_or(value, path, lang):
            self._timestamp(value, path)

    def _timestamp(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not _TIMESTAMP.match(value):
            self.add(path, "must be an ISO-8601 timestamp such as 2016-03-14T01:59:00Z")

    def _error_text(self, value: Any, path: str, lang: str) -> None:
        if not self._jsonata_or(value, path, lang):
            self._string(value, path, lang)

    def _label(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, str) or not value:
            self.add(path, "must be a non-empty string")
        elif len(value) > MAX_LABEL_LENGTH:
            self.add(path, f"must be at most {MAX_LABEL_LENGTH} characters")
        elif _LABEL_FORBIDDEN.search(value):
            self.add(path, "must not contain whitespace or special characters")

    # -- small helpers --------------------------------------------------------------

    def _report(self, path: str, error: str | None) -> None:
        if error:
            self.add(path, error)

    def _require_object(self, value: Any, path: str) -> bool:
        if isinstance(value, dict):
            return True
        self.add(path, f"must be an object, not {_json_type(value)}")
        return False

    def _object_fields(
        self, value: dict, path: str, fields: frozenset[str], where: str = ""
    ) -> None:
        suffix = f" in {where}" if where else ""
        for key in value:
            if key not in fields:
                self.add(_ptr(path, key), f'unknown field "{key}"{suffix}')

    def _enum(self, obj: dict, field: str, path: str, allowed: tuple[str, ...]) -> None:
        if field in obj and obj[field] not in allowed:
            self.add(_ptr(path, field), f"must be one of {_quoted(allowed)}")


def _quoted(names: Any) -> str:
    return ", ".join(f'"{n}"' for n in names)


_TYPE_CHECKS: dict[str, Callable[[_Validator, dict, str, str, list], None]] = {
    "Task": _Validator._task,
    "Wait": _Validator._wait,
    "Fail": _Validator._fail,
    "Choice": _Validator._choice,
    "Parallel": _Validator._parallel,
    "Map": _Validator._map,
}
