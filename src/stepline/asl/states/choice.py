"""Choice: pick the next state from the first rule that matches.

Rules are compiled once into small predicate closures; an operator whose operand has the
wrong type is simply false, as on AWS.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stepline.asl import errors as E
from stepline.asl.errors import StatesError
from stepline.asl.jsonata import compile_jsonata_template, is_jsonata
from stepline.asl.paths import PathNotFound, compile_path
from stepline.asl.states.base import (
    JSONATA,
    NO_VALUE,
    State,
    StateGen,
    Transition,
    compile_assign,
    dumps,
)
from stepline.asl.states.fields import (
    COMMON,
    IO_PATHS,
    JSONPATH,
    Fields,
    f,
    is_number,
    json_type,
    ptr,
    quoted,
)
from stepline.asl.states.wait import parse_timestamp

if TYPE_CHECKING:
    from stepline.asl.program import Fiber
    from stepline.asl.validate import Validator

Predicate = Callable[[Any, Any, Any], bool]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _string_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: isinstance(a, str) and isinstance(b, str) and op(a, b)


def _numeric_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: _is_number(a) and _is_number(b) and op(a, b)


def _timestamp_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ta, tb = parse_timestamp(a), parse_timestamp(b)
        return ta is not None and tb is not None and op(ta, tb)

    return compare


_OPS = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {}
for _suffix, _op in _OPS.items():
    COMPARATORS["String" + _suffix] = _string_cmp(_op)
    COMPARATORS["Numeric" + _suffix] = _numeric_cmp(_op)
    COMPARATORS["Timestamp" + _suffix] = _timestamp_cmp(_op)
COMPARATORS["BooleanEquals"] = lambda a, b: isinstance(a, bool) and isinstance(b, bool) and a == b


def _string_matches(pattern: str) -> Callable[[Any], bool]:
    """AWS wildcard: ``*`` matches anything, ``\\*`` a literal star; nothing else is special."""
    parts = re.split(r"(\\\\|\\\*|\*)", pattern)
    regex = "".join(
        ".*"
        if p == "*"
        else re.escape("*")
        if p == "\\*"
        else re.escape("\\")
        if p == "\\\\"
        else re.escape(p)
        for p in parts
    )
    compiled = re.compile(f"^{regex}$", re.DOTALL)
    return lambda v: isinstance(v, str) and compiled.match(v) is not None


_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}

_ = fnmatch  # fnmatch's rules differ from AWS's ([...] is literal there); kept explicit above


def compile_rule(rule: dict) -> Predicate:
    """Compile one JSONPath-mode rule (possibly nested And/Or/Not) into a predicate."""
    if "And" in rule:
        subs = [compile_rule(r) for r in rule["And"]]
        return lambda d, c, v: all(s(d, c, v) for s in subs)
    if "Or" in rule:
        subs = [compile_rule(r) for r in rule["Or"]]
        return lambda d, c, v: any(s(d, c, v) for s in subs)
    if "Not" in rule:
        sub = compile_rule(rule["Not"])
        return lambda d, c, v: not sub(d, c, v)
    variable = compile_path(rule["Variable"])

    if "IsPresent" in rule:
        want = rule["IsPresent"]

        def is_present(d: Any, c: Any, v: Any) -> bool:
            try:
                variable.get(d, c, v)
            except PathNotFound:
                return not want
            return bool(want)

        return is_present

    def read(d: Any, c: Any, v: Any) -> Any:
        try:
            return variable.get(d, c, v)
        except PathNotFound:
            raise StatesError(
                E.RUNTIME,
                f"Invalid path '{variable.expr}': The choice state's condition path references "
                "an invalid value.",
            ) from None

    for name, test in _TESTS.items():
        if name in rule:
            want = rule[name]
            return lambda d, c, v, t=test, w=want: t(read(d, c, v)) == w
    if "StringMatches" in rule:
        matcher = _string_matches(rule["StringMatches"])
        return lambda d, c, v: matcher(read(d, c, v))
    for name, cmp in COMPARATORS.items():
        if name in rule:
            expected = rule[name]
            return lambda d, c, v, f=cmp, e=expected: f(read(d, c, v), e)
        if name + "Path" in rule:
            other = compile_path(rule[name + "Path"])

            def compare_path(d: Any, c: Any, v: Any, f: Any = cmp, o: Any = other) -> bool:
                left = read(d, c, v)
                try:
                    right = o.get(d, c, v)
                except PathNotFound:
                    raise StatesError(
                        E.RUNTIME,
                        f"Invalid path '{o.expr}': The choice state's condition path "
                        "references an invalid value.",
                    ) from None
                return f(left, right)

            return compare_path
    raise ValueError(f"choice rule has no comparison operator: {dumps(rule)}")


class _Rule:
    __slots__ = ("test", "condition", "next", "assign", "output")

    def __init__(self, spec: dict, query_language: str) -> None:
        self.next: str = spec["Next"]
        self.assign = compile_assign(spec.get("Assign"), query_language)
        self.output = None
        self.test: Predicate | None = None
        self.condition = None
        if query_language == JSONATA:
            self.condition = compile_jsonata_template(spec["Condition"], "Condition")
            if "Output" in spec:
                self.output = compile_jsonata_template(spec["Output"], "Output")
        else:
            self.test = compile_rule(spec)


class ChoiceState(State):
    """Branches on its input without changing it (bar InputPath/OutputPath or Output)."""

    type = "Choice"
    fields = Fields(
        both=COMMON | f("Choices", "Default", "Assign"),
        jsonpath=IO_PATHS,
        jsonata=f("Output"),
        required=("Choices",),
    )

    @classmethod
    def check(cls, v: Validator, state: dict, path: str, lang: str, edges: list) -> None:
        """Every rule, in either language; rules and Default are its transitions."""
        choices = state.get("Choices")
        choices_path = ptr(path, "Choices")
        if "Choices" in state:
            v.non_empty_array(choices, choices_path, "Choice rules")
        for i, rule in enumerate(choices if isinstance(choices, list) else []):
            rule_path = ptr(choices_path, i)
            if lang == JSONATA:
                _jsonata_rule(v, rule, rule_path, lang)
            else:
                _rule(v, rule, rule_path, top=True)
            if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
                edges.append((rule["Next"], ptr(rule_path, "Next")))
        default = state.get("Default")
        if isinstance(default, str):
            edges.append((default, ptr(path, "Default")))

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        self.rules = [_Rule(r, self.query_language) for r in spec.get("Choices", [])]
        self.default: str | None = spec.get("Default")

    def run(self, fiber: Fiber, raw_input: Any) -> StateGen:
        return self._choose(fiber, raw_input)
        yield  # noqa: B901

    def _choose(self, fiber: Fiber, raw_input: Any) -> Transition:
        if self.query_language == JSONATA:
            states = fiber.states_var(raw_input, None)
            for rule in self.rules:
                verdict = rule.condition.render(states, fiber.variables)
                if not isinstance(verdict, bool):
                    raise StatesError(
                        E.QUERY_EVALUATION_ERROR,
                        "The JSONata expression specified for the field 'Condition' returned "
                        f"an unexpected result type. Expected 'boolean', got: {dumps(verdict)}",
                    )
                if verdict:
                    output = (
                        rule.output.render(states, fiber.variables)
                        if rule.output is not None
                        else self.passthrough(fiber, raw_input)
                    )
                    if rule.assign is not None:
                        fiber.assign(rule.assign.render(states, fiber.variables))
                    elif self.assign is not None:
                        fiber.assign(self.assign.render(states, fiber.variables))
                    return Transition(rule.next, output)
            return self._default(fiber, raw_input, states)
        data = raw_input
        if self.input_path is not NO_VALUE:
            data = self._select(self.input_path, raw_input, fiber, "InputPath")
        for rule in self.rules:
            if rule.test(data, fiber.context, fiber.variables):
                if rule.assign is not None:
                    fiber.assign(rule.assign.render(data, fiber.context, fiber.variables))
                elif self.assign is not None:
                    fiber.assign(self.assign.render(data, fiber.context, fiber.variables))
                return Transition(rule.next, self.passthrough(fiber, raw_input))
        return self._default(fiber, raw_input, None)

    def _default(self, fiber: Fiber, raw_input: Any, states: Any) -> Transition:
        if self.default is None:
            raise StatesError(E.NO_CHOICE_MATCHED, None, in_state=False)
        if self.assign is not None:
            if states is not None:
                fiber.assign(self.assign.render(states, fiber.variables))
            else:
                fiber.assign(self.assign.render(raw_input, fiber.context, fiber.variables))
        return Transition(self.default, self.passthrough(fiber, raw_input))


# -- validation (asl/validate.py calls ChoiceState.check) ---------------------------------


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
_RULE_EXTRA = {True: f("Next", "Assign", "Comment"), False: f("Comment")}
_JSONATA_RULE_FIELDS = f("Condition", "Next", "Assign", "Output", "Comment")


def _jsonata_rule(v: Validator, rule: Any, path: str, lang: str) -> None:
    if not isinstance(rule, dict):
        v.add(path, "a Choice rule must be an object")
        return
    for key, value in rule.items():
        field_path = ptr(path, key)
        if key not in _JSONATA_RULE_FIELDS:
            hint = (
                " (JSONata rules use Condition)"
                if key in _COMPARATORS or key in ("Variable", *_COMBINATORS)
                else ""
            )
            v.add(field_path, f'unknown field "{key}" in a Choice rule{hint}')
        elif key == "Condition":
            if isinstance(value, str) and is_jsonata(value):
                v.jsonata_value(value, field_path, lang)
            elif not isinstance(value, bool):
                v.add(field_path, "must be a JSONata expression {% ... %} or a boolean")
        elif key in ("Next", "Comment"):
            v.string(value, field_path, lang)
        elif key == "Assign":
            v.assign(value, field_path, lang)
        elif key == "Output":
            v.jsonata_value(value, field_path, lang)
    for key in ("Condition", "Next"):
        if key not in rule:
            v.add(path, f'missing required field "{key}"')


def _rule(v: Validator, rule: Any, path: str, *, top: bool) -> None:
    """A JSONPath Choice rule; only top-level rules carry Next (and Assign)."""
    if not isinstance(rule, dict):
        v.add(path, "a Choice rule must be an object")
        return
    operators = [k for k in rule if k in _COMPARATORS or k in _COMBINATORS]
    for key, value in rule.items():
        field_path = ptr(path, key)
        if key in operators or key == "Variable":
            continue
        if key in _RULE_EXTRA[top]:
            if key == "Assign":
                v.assign(value, field_path, JSONPATH)
            else:
                v.string(value, field_path, JSONPATH)
        elif key in ("Next", "Assign"):
            v.add(field_path, f'only top-level Choice rules may have "{key}"')
        elif key == "Condition":
            v.add(field_path, '"Condition" is not allowed in a JSONPath Choice rule')
        else:
            v.add(field_path, f'unknown field "{key}" in a Choice rule')
    if top and "Next" not in rule:
        v.add(path, 'missing required field "Next"')
    if not operators:
        v.add(path, "a Choice rule needs a comparison operator, And, Or or Not")
        return
    if len(operators) > 1:
        v.add(path, f"a Choice rule takes exactly one operator, found {quoted(operators)}")
        return
    op = operators[0]
    value, op_path = rule[op], ptr(path, op)
    if op in _COMBINATORS:
        if "Variable" in rule:
            v.add(ptr(path, "Variable"), f'"Variable" is not allowed with "{op}"')
        if op == "Not":
            _rule(v, value, op_path, top=False)
        elif v.non_empty_array(value, op_path, "Choice rules"):
            for i, sub in enumerate(value):
                _rule(v, sub, ptr(op_path, i), top=False)
        return
    if "Variable" not in rule:
        v.add(path, f'missing required field "Variable" for "{op}"')
    else:
        v.reference_path(rule["Variable"], ptr(path, "Variable"), JSONPATH)
    _operand(v, _COMPARATORS[op], value, op_path)


def _operand(v: Validator, kind: str, value: Any, path: str) -> None:
    if kind == "path":
        v.reference_path(value, path, JSONPATH)
    elif kind == "string" and not isinstance(value, str):
        v.add(path, f"must be a string, not {json_type(value)}")
    elif kind == "number" and not is_number(value):
        v.add(path, f"must be a number, not {json_type(value)}")
    elif kind == "boolean" and not isinstance(value, bool):
        v.add(path, f"must be a boolean, not {json_type(value)}")
    elif kind == "timestamp":
        v.timestamp(value, path)
