"""Static validation of Amazon States Language definitions.

AWS refuses to create a state machine whose definition is wrong and lists what is wrong;
stepline does the same before anything runs, so a typo in a ``Next`` fails at upload time
rather than hours into a pipeline.  Every problem is collected (not just the first) and
each names a JSON pointer into the definition, so editors and CLIs can point at it.

Which fields a state may carry depends on its type *and* its query language, so that
knowledge lives in one table instead of being spread over conditionals: ``STATE_TYPES``, the
state classes the interpreter runs.  Each class carries its fields (``Fields``), whether it
ends its graph by itself, and its own rules (``check``, ``field_checks``); this module holds
what every state shares (Next/End, Retry, Catch, the graphs) and the checkers of the shared
fields, and asks the class for the rest.  A new state type is therefore its module plus one
line in ``states/__init__.py``, with nothing to add here.
Expression syntax (JSONPath, intrinsic functions, JSONata) is delegated to the modules that
evaluate those expressions, so the validator and the interpreter can never disagree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stepline.asl.errors import ALL, DefinitionError
from stepline.asl.states import STATE_TYPES
from stepline.asl.states.fields import (
    JSONATA,
    JSONPATH,
    f,
    is_int,
    is_number,
    json_type,
    ptr,
    quoted,
)

QUERY_LANGUAGES = (JSONPATH, JSONATA)

MAX_NAME_LENGTH = 80
#: AWS's upper bound for the second counts of Wait, TimeoutSeconds and HeartbeatSeconds.
MAX_SECONDS = 99999999
#: AWS's upper bound for a retrier's MaxDelaySeconds (exclusive).
MAX_DELAY_SECONDS = 31622401


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
    return Validator(parsed[1]).run(parsed[0])


def check(definition: dict | str) -> dict:
    """The parsed definition, or :class:`DefinitionError` carrying every problem."""
    parsed, problems = _parse(definition)
    if not problems:
        problems = Validator(parsed[1]).run(parsed[0])
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
            stack.extend((ptr(where, k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((ptr(where, i), v) for i, v in reversed(list(enumerate(item))))
    return found


# ----------------------------------------------------------------- the field tables

_TOP_FIELDS = f("StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage")
_GRAPH_FIELDS = f("StartAt", "States", "Comment")

_RETRY_FIELDS = f(
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
)
_CATCH_FIELDS = {
    JSONPATH: f("ErrorEquals", "Next", "ResultPath", "Assign", "Comment"),
    JSONATA: f("ErrorEquals", "Next", "Output", "Assign", "Comment"),
}


_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_ARN = re.compile(r"^arn:[^:\s]+:[^:\s]+:[^:\s]*:[^:\s]*:\S+$")
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


class Validator:
    """Walks one definition once, appending to ``problems`` as it goes.

    The state classes' ``check`` and ``field_checks`` receive it: they report through
    :meth:`add` and use its public checkers (``string``, ``reference_path``, ``graph`` ...).
    """

    def __init__(self, duplicates: dict[int, list[str]]) -> None:
        self.problems: list[Problem] = []
        self.duplicates = duplicates
        #: state name -> pointer of its first definition, across all nested graphs.
        self.names: dict[str, str] = {}
        self.top_lang = JSONPATH
        #: Checkers of the fields several types share, by name (a type's own fields are
        #: checked by its ``field_checks``, which come first).
        self.checks: dict[str, _Checker] = {
            "Comment": self.string,
            "Next": self.string,
            "Default": self.string,
            "End": self._end,
            "InputPath": self._io_path,
            "OutputPath": self._io_path,
            "ResultPath": self._result_path,
            "Parameters": self.template_object,
            "ResultSelector": self.template_object,
            "ItemSelector": self.selector,
            "Arguments": self.arguments,
            "Output": self.jsonata_value,
            "Assign": self.assign,
            "Resource": self.resource,
            "Credentials": self.selector,
            "TimeoutSeconds": self._positive_seconds,
            "HeartbeatSeconds": self._positive_seconds,
            "Seconds": self._wait_seconds,
            "Timestamp": self._timestamp_field,
            "Error": self._error_text,
            "Cause": self._error_text,
            "ErrorPath": self._error_path,
            "CausePath": self._error_path,
            "MaxConcurrency": self.non_negative_int,
            "ToleratedFailureCount": self.non_negative_int,
            "ToleratedFailurePercentage": self._percentage,
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
            self.checks[name] = self.reference_path

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def path_forms_exclusive(
        self, state: dict, path: str, lang: str, fields: Iterable[str]
    ) -> None:
        """In JSONPath a field ``X`` and its ``XPath`` form (X read from the input) exclude
        each other; a state type names the fields of its own that have both forms."""
        if lang != JSONPATH:
            return
        for field in fields:
            if field in state and field + "Path" in state:
                self.add(path, f'"{field}" and "{field}Path" are mutually exclusive')

    # -- top level and graphs -------------------------------------------------------

    def run(self, definition: dict) -> list[Problem]:
        lang = definition.get("QueryLanguage", JSONPATH)
        if lang not in QUERY_LANGUAGES:
            self.add("/QueryLanguage", f"must be one of {quoted(QUERY_LANGUAGES)}")
            lang = JSONPATH
        self.top_lang = lang
        for key in definition:
            if key not in _TOP_FIELDS:
                self.add(ptr("", key), f'unknown top-level field "{key}"')
        if "Comment" in definition:
            self.string(definition["Comment"], "/Comment", lang)
        if "Version" in definition:
            self.string(definition["Version"], "/Version", lang)
        if "TimeoutSeconds" in definition:
            value = definition["TimeoutSeconds"]
            if not is_int(value) or value < 1:
                self.add("/TimeoutSeconds", "must be a positive integer")
        self.graph(definition, "", lang, _TOP_FIELDS, check_fields=False)
        return self.problems

    def graph(
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
                    self.add(ptr(path, key), f'unknown field "{key}"')
            if "Comment" in graph:
                self.string(graph["Comment"], ptr(path, "Comment"), lang)
        states = graph.get("States")
        states_path = ptr(path, "States")
        if "States" not in graph:
            self.add(path, 'missing required field "States"')
            states = {}
        elif not isinstance(states, dict):
            self.add(states_path, "must be an object mapping state names to states")
            states = {}
        elif not states:
            self.add(states_path, "must contain at least one state")
        for name in self.duplicates.get(id(states), []):
            self.add(ptr(states_path, name), f'duplicate state name "{name}"')

        edges: dict[str, list[tuple[str, str]]] = {}
        terminal = False
        for name, state in states.items():
            state_path = ptr(states_path, name)
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
            self.add(ptr(path, "StartAt"), "must be a string")
        elif start not in states:
            if states:
                self.add(ptr(path, "StartAt"), f'no state named "{start}"')
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
                    self.add(ptr(states_path, name), "state is not reachable from StartAt")
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
        cls = STATE_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            self.add(
                ptr(path, "Type"),
                f"unknown state type {json.dumps(kind)}; expected one of {quoted(STATE_TYPES)}",
            )
            return [], False
        spec = cls.fields

        lang = state.get("QueryLanguage", graph_lang)
        if lang not in QUERY_LANGUAGES:
            self.add(ptr(path, "QueryLanguage"), f"must be one of {quoted(QUERY_LANGUAGES)}")
            lang = graph_lang
        elif lang == JSONPATH and self.top_lang == JSONATA:
            self.add(
                ptr(path, "QueryLanguage"),
                "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata",
            )

        allowed = spec.fields(lang)
        for key, value in state.items():
            field_path = ptr(path, key)
            if key in allowed:
                own = cls.field_checks.get(key)
                if own is not None:
                    own(self, value, field_path, lang)
                    continue
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
        terminal = cls.terminal
        if spec.transitions:
            terminal = self._transition(state, path, edges)
        cls.check(self, state, path, lang, edges)
        if "Retry" in state and "Retry" in allowed:
            self._retry(state["Retry"], ptr(path, "Retry"))
        if "Catch" in state and "Catch" in allowed:
            self._catch(state["Catch"], ptr(path, "Catch"), lang, edges)
        return edges, terminal

    def _transition(self, state: dict, path: str, edges: list[tuple[str, str]]) -> bool:
        has_next = "Next" in state
        end = state.get("End") is True
        if has_next and end:
            self.add(path, 'has both "Next" and "End": true; use one')
        elif not has_next and not end:
            self.add(path, 'needs "Next" or "End": true')
        if has_next and isinstance(state["Next"], str):
            edges.append((state["Next"], ptr(path, "Next")))
        return end

    # -- Retry and Catch ------------------------------------------------------------

    def _error_equals(self, entry: dict, path: str, last: bool) -> None:
        errors = entry.get("ErrorEquals")
        if "ErrorEquals" not in entry:
            self.add(path, 'missing required field "ErrorEquals"')
            return
        errors_path = ptr(path, "ErrorEquals")
        if not self.non_empty_array(errors, errors_path, "error names"):
            return
        for i, error in enumerate(errors):
            if not isinstance(error, str) or not error:
                self.add(ptr(errors_path, i), "must be a non-empty string")
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
            rpath = ptr(path, i)
            if not isinstance(retrier, dict):
                self.add(rpath, "a retrier must be an object")
                continue
            self.object_fields(retrier, rpath, _RETRY_FIELDS, "a retrier")
            self._error_equals(retrier, rpath, i == len(retry) - 1)
            value = retrier.get("IntervalSeconds", 1)
            if not is_int(value) or not 1 <= value <= MAX_SECONDS:
                self.add(ptr(rpath, "IntervalSeconds"), "must be a positive integer")
            value = retrier.get("MaxAttempts", 0)
            if not is_int(value) or not 0 <= value <= MAX_SECONDS:
                self.add(ptr(rpath, "MaxAttempts"), "must be a non-negative integer")
            value = retrier.get("BackoffRate", 1.0)
            if not is_number(value) or value < 1.0:
                self.add(ptr(rpath, "BackoffRate"), "must be a number greater than or equal to 1")
            value = retrier.get("MaxDelaySeconds", 1)
            if not is_int(value) or not 0 < value < MAX_DELAY_SECONDS:
                self.add(
                    ptr(rpath, "MaxDelaySeconds"),
                    f"must be a positive integer below {MAX_DELAY_SECONDS}",
                )
            self.enum(retrier, "JitterStrategy", rpath, ("FULL", "NONE"))
            if "Comment" in retrier:
                self.string(retrier["Comment"], ptr(rpath, "Comment"), JSONPATH)

    def _catch(self, catch: Any, path: str, lang: str, edges: list) -> None:
        if not isinstance(catch, list):
            self.add(path, "must be an array of catchers")
            return
        fields = _CATCH_FIELDS[lang]
        other = _CATCH_FIELDS[JSONATA if lang == JSONPATH else JSONPATH] - fields
        for i, catcher in enumerate(catch):
            cpath = ptr(path, i)
            if not isinstance(catcher, dict):
                self.add(cpath, "a catcher must be an object")
                continue
            for key, value in catcher.items():
                field_path = ptr(cpath, key)
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
                edges.append((catcher["Next"], ptr(cpath, "Next")))

    # -- field checkers: (value, pointer, query language) ---------------------------

    def string(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {json_type(value)}")

    def _end(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, bool):
            self.add(path, f"must be a boolean, not {json_type(value)}")

    def _io_path(self, value: Any, path: str, lang: str) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.add(path, f"must be a path string or null, not {json_type(value)}")
            return
        self.report(path, _path_error(value))

    def reference_path(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, str):
            self.add(path, f"must be a reference path string, not {json_type(value)}")
            return
        self.report(path, _reference_path_error(value))

    def _result_path(self, value: Any, path: str, lang: str) -> None:
        if value is not None and not isinstance(value, str):
            self.add(path, f"must be a reference path string or null, not {json_type(value)}")
            return
        self.report(path, _result_path_error(value))

    def _error_path(self, value: Any, path: str, lang: str) -> None:
        if isinstance(value, str) and _is_intrinsic(value):
            self.report(path, _intrinsic_error(value))
        else:
            self.reference_path(value, path, lang)

    def template_object(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, dict):
            self.add(path, f"must be an object, not {json_type(value)}")
            return
        self._template(value, path)

    def _template(self, value: Any, path: str) -> None:
        """A JSONPath payload template: keys ending in ``.$`` hold paths or intrinsics."""
        if isinstance(value, dict):
            for key, item in value.items():
                item_path = ptr(path, key)
                if key.endswith(".$"):
                    self._dynamic(item, item_path)
                else:
                    self._template(item, item_path)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._template(item, ptr(path, i))

    def _dynamic(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(
                path,
                'a field ending in ".$" needs a path or intrinsic function string, '
                f"not {json_type(value)}",
            )
        elif _is_intrinsic(value):
            self.report(path, _intrinsic_error(value))
        else:
            self.report(path, _path_error(value))

    def jsonata_value(self, value: Any, path: str, lang: str) -> None:
        """Any JSON whose strings of the form ``{% ... %}`` must be valid JSONata."""
        if isinstance(value, str):
            if _is_jsonata(value):
                self.report(path, _jsonata_error(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                self.jsonata_value(item, ptr(path, key), lang)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.jsonata_value(item, ptr(path, i), lang)

    def arguments(self, value: Any, path: str, lang: str) -> None:
        if isinstance(value, dict) or (isinstance(value, str) and _is_jsonata(value)):
            self.jsonata_value(value, path, lang)
        else:
            self.add(path, f"must be an object or a JSONata expression, not {json_type(value)}")

    def selector(self, value: Any, path: str, lang: str) -> None:
        if lang == JSONPATH:
            self.template_object(value, path, lang)
        else:
            self.arguments(value, path, lang)

    def assign(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, dict):
            self.add(path, f"must be an object of variable names, not {json_type(value)}")
            return
        for key, item in value.items():
            item_path = ptr(path, key)
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
                self.jsonata_value(item, item_path, lang)
            elif dynamic:
                self._dynamic(item, item_path)
            else:
                self._template(item, item_path)

    def resource(self, value: Any, path: str, lang: str) -> None:
        if not isinstance(value, str) or not _ARN.match(value):
            self.add(
                path,
                f"must be an ARN (arn:partition:service:region:account:resource), "
                f"got {json.dumps(value)}",
            )

    def jsonata_or(self, value: Any, path: str, lang: str) -> bool:
        """In JSONata states a numeric field may be an expression; True if it was one."""
        if lang == JSONATA and isinstance(value, str) and _is_jsonata(value):
            self.report(path, _jsonata_error(value))
            return True
        return False

    def int_range(self, value: Any, path: str, lang: str, low: int, high: int, what: str) -> None:
        if self.jsonata_or(value, path, lang):
            return
        if not is_int(value) or not low <= value <= high:
            hint = " or a JSONata expression" if lang == JSONATA else ""
            self.add(path, f"must be {what}{hint}")

    def _positive_seconds(self, value: Any, path: str, lang: str) -> None:
        self.int_range(value, path, lang, 1, MAX_SECONDS, f"a positive integer <= {MAX_SECONDS}")

    def _wait_seconds(self, value: Any, path: str, lang: str) -> None:
        self.int_range(
            value, path, lang, 0, MAX_SECONDS, f"a non-negative integer <= {MAX_SECONDS}"
        )

    def positive_int(self, value: Any, path: str, lang: str) -> None:
        self.int_range(value, path, lang, 1, 2**31 - 1, "a positive integer")

    def non_negative_int(self, value: Any, path: str, lang: str) -> None:
        self.int_range(value, path, lang, 0, 2**31 - 1, "a non-negative integer")

    def _percentage(self, value: Any, path: str, lang: str) -> None:
        if self.jsonata_or(value, path, lang):
            return
        if not is_number(value) or not 0 <= value <= 100:
            self.add(path, "must be a number from 0 to 100")

    def _timestamp_field(self, value: Any, path: str, lang: str) -> None:
        if not self.jsonata_or(value, path, lang):
            self.timestamp(value, path)

    def timestamp(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not _TIMESTAMP.match(value):
            self.add(path, "must be an ISO-8601 timestamp such as 2016-03-14T01:59:00Z")

    def _error_text(self, value: Any, path: str, lang: str) -> None:
        if not self.jsonata_or(value, path, lang):
            self.string(value, path, lang)

    # -- small helpers --------------------------------------------------------------

    def report(self, path: str, error: str | None) -> None:
        if error:
            self.add(path, error)

    def require_object(self, value: Any, path: str) -> bool:
        if isinstance(value, dict):
            return True
        self.add(path, f"must be an object, not {json_type(value)}")
        return False

    def non_empty_array(self, value: Any, path: str, of: str) -> bool:
        """Whether ``value`` is a non-empty array; if not, says it must be one (of ``of``:
        state graphs, Choice rules, error names)."""
        if isinstance(value, list) and value:
            return True
        self.add(path, f"must be a non-empty array of {of}")
        return False

    def object_fields(
        self, value: dict, path: str, fields: frozenset[str], where: str = ""
    ) -> None:
        suffix = f" in {where}" if where else ""
        for key in value:
            if key not in fields:
                self.add(ptr(path, key), f'unknown field "{key}"{suffix}')

    def enum(self, obj: dict, field: str, path: str, allowed: tuple[str, ...]) -> None:
        if field in obj and obj[field] not in allowed:
            self.add(ptr(path, field), f"must be one of {quoted(allowed)}")
