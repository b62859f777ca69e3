"""Fuzzing the language layer with hypothesis (issue 10, "A fuzzing campaign").

Targets: the ASL parser and validator, JSONPath, intrinsic functions and JSONata; the
generated state machines (``machines``, mostly broken on purpose) feed the validator.  The
evaluator -- machines the validator accepts, run end to end -- is ``test_execution_fuzz.py``.

The property everywhere is the same: nothing escapes but the documented errors
(:class:`DefinitionError` for a definition AWS would refuse, ``StatesError`` with an AWS
error name at run time, ``PathNotFound`` for a path that selects nothing), and nothing
hangs: every evaluation runs under a small budget (time, depth, history events).

Speed: hypothesis drawing deep recursive values costs tens of milliseconds a case.  The
expressions and JSON values are therefore generated once, from a seeded RNG, into pools of
hundreds (random paths, intrinsic calls, JSONata programs, JSON documents, valid and
invalid alike); hypothesis draws and combines them, and draws the machines' structure
itself.  See ``fuzz_support.py`` for how many cases run and how to run more.
"""

from __future__ import annotations

import json
import random

from fuzz_support import COUNTS, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from stepline.asl import DefinitionError, Limits, parse, validate
from stepline.asl.errors import StatesError
from stepline.asl.intrinsics import compile_intrinsic, intrinsic_syntax_error
from stepline.asl.jsonata import EvalBudget, budget, evaluate_jsonata, jsonata_syntax_error
from stepline.asl.paths import (
    PathNotFound,
    compile_path,
    compile_result_path,
    path_syntax_error,
    reference_path_syntax_error,
    result_path_syntax_error,
)
from stepline.integrations import register_function

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
BUDGET = EvalBudget(timeout_ms=50, max_depth=60)
LIMITS = Limits(history_events=300, eval_timeout_ms=50, eval_max_depth=60)
ERROR_NAMES = ("States.ALL", "Boom", "E", "Custom")
_RNG = random.Random(20261130)

# -- JSON documents -------------------------------------------------------------------------

_KEYS = ["a", "b", "items", "n", "s", "x.y", "it's", "ü", "", "$", "a b", "boom"]
_STRINGS = [
    "",
    "a",
    "NaN",
    "1e400",
    "2016-03-14T01:59:00Z",
    '{"a": 1}',
    "[1,2]",
    "a,b,,c",
    "aGk=",
    "x{}y",
    "ü\n\"'",
    "SHA-256",
]


def _json(depth: int) -> object:
    roll = _RNG.random()
    if depth == 0 or roll < 0.4:
        return _RNG.choice(
            [
                None,
                True,
                False,
                0,
                1,
                -1,
                2.5,
                -0.0,
                10**20,
                2**63,
                1e300,
                5e-324,
                _RNG.randint(-1000, 1000),
                _RNG.uniform(-1e6, 1e6),
                _RNG.choice(_STRINGS),
            ]
        )
    if roll < 0.7:
        return [_json(depth - 1) for _ in range(_RNG.randint(0, 4))]
    return {_RNG.choice(_KEYS): _json(depth - 1) for _ in range(_RNG.randint(0, 4))}


JSON_POOL = [_json(3) for _ in range(400)]
OBJECT_POOL = [v for v in JSON_POOL if isinstance(v, dict)] + [{"items": [1, 2, 3]}]
JSON = st.sampled_from(JSON_POOL)
OBJECTS = st.sampled_from(OBJECT_POOL)
VARIABLES = st.sampled_from([{}, {"v": 1}, {"v": [1, {"a": 2}]}, {"x": "s", "v": None}])

# -- JSONPath -----------------------------------------------------------------------------

_SEGMENTS = [
    ".a",
    ".b",
    ".items",
    ".n",
    ".s",
    "[0]",
    "[1]",
    "[-1]",
    "[*]",
    "..a",
    "['x.y']",
    "['it\\'s']",
    '["a"]',
    "['\\u00fc']",
    "[0:2]",
    "[?(@.n > 1)]",
    "[?(@ == 'a')]",
    "[0,1]",
    ".length()",
    "[",
    "]",
    ".",
    "..",
    "['",
    "*",
    " ",
    "$",
    "@",
    "[?(@.a)]",
    "[9999999999]",
]
_ROOTS = ["$", "$", "$", "$$", "$$.Execution", "$$.State", "$v", "$missing", "", "a", "$."]
_RANDOM_PATHS = [
    _RNG.choice(_ROOTS) + "".join(_RNG.choices(_SEGMENTS, k=_RNG.randint(0, 4))) for _ in range(600)
]
PATHS = st.sampled_from(_RANDOM_PATHS)
_VALID_PATHS = [p for p in _RANDOM_PATHS if p[:1] == "$" and path_syntax_error(p) is None]
_INVALID_PATHS = [p for p in _RANDOM_PATHS if path_syntax_error(p) is not None]
# Machines take mostly valid paths (so they run), some invalid (so the validator refuses).
PATH_POOL = ["$", "$.a", "$.items", "$v", "$$.Map.Item.Value"] + _VALID_PATHS[:150]
PATH_POOL += _INVALID_PATHS[:15]
REFERENCE_PATHS = [p for p in PATH_POOL if reference_path_syntax_error(p) is None]
RESULT_PATHS = [p for p in REFERENCE_PATHS if result_path_syntax_error(p) is None] + ["$$.x"]

# -- intrinsic functions ------------------------------------------------------------------

INTRINSIC_NAMES = [
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
    "States.Nope",
]
_ARGS = [
    "1",
    "-1",
    "0",
    "2.5",
    "1e400",
    "1000000000",
    "'a,b'",
    "'{\"a\": [1]}'",
    "'NaN'",
    "'SHA-256'",
    "'MD5'",
    "'x{}y'",
    "'\\''",
    "null",
    "true",
    "''",
    "'aGk='",
    "'%%%'",
    "$",
    "$.a",
    "$.items",
    "$.items[0]",
    "$v",
    "$$.Execution.Id",
    "$.nosuch",
    "$[*]",
]


def _intrinsic_text(depth: int) -> str:
    args = [
        _intrinsic_text(depth - 1) if depth and _RNG.random() < 0.3 else _RNG.choice(_ARGS)
        for _ in range(_RNG.randint(0, 4))
    ]
    return f"{_RNG.choice(INTRINSIC_NAMES)}({', '.join(args)})"


_RANDOM_INTRINSICS = [_intrinsic_text(2) for _ in range(800)]
_GARBLED = ["States.Format(", "States.Array(1,,2)", "States.(", "$.a(1)", "States.Array('x)"]
INTRINSICS = st.sampled_from(_RANDOM_INTRINSICS + _GARBLED)
INTRINSIC_POOL = [i for i in _RANDOM_INTRINSICS if intrinsic_syntax_error(i) is None][:150]
INTRINSIC_POOL += [i for i in _RANDOM_INTRINSICS if intrinsic_syntax_error(i) is not None][:10]

# -- JSONata --------------------------------------------------------------------------------

_ATOMS = [
    "1",
    "-2.5",
    "'a'",
    '"b"',
    "true",
    "null",
    "[1, 2, 3]",
    "{'k': 1}",
    "$states.input",
    "$states.input.a",
    "$states.context.Execution.Id",
    "$v",
    "$nosuch",
    "[1..5]",
    "$x",
    "$states.input.items[0]",
    "$",
    "$states.input.items",
]
_FUNCS = [
    "$range",
    "$partition",
    "$hash",
    "$random",
    "$uuid",
    "$parse",
    "$pad",
    "$string",
    "$number",
    "$sum",
    "$count",
    "$reverse",
    "$sort",
    "$keys",
    "$join",
    "$split",
    "$substring",
    "$uppercase",
    "$now",
    "$millis",
    "$exists",
    "$formatNumber",
]
_OPS = ["+", "-", "*", "/", "%", "&", "=", "!=", "<", "and", "or", "in"]


def _jsonata_text(depth: int) -> str:
    roll = _RNG.random()
    if depth == 0 or roll < 0.25:
        return _RNG.choice(_ATOMS)
    if roll < 0.5:
        ops = (_jsonata_text(depth - 1), _RNG.choice(_OPS), _jsonata_text(depth - 1))
        return "({} {} {})".format(*ops)
    if roll < 0.75:
        args = [_jsonata_text(depth - 1) for _ in range(_RNG.randint(0, 3))]
        return f"{_RNG.choice(_FUNCS)}({', '.join(args)})"
    if roll < 0.85:
        parts = (_jsonata_text(depth - 1), _jsonata_text(depth - 1), _jsonata_text(depth - 1))
        return "({} ? {} : {})".format(*parts)
    if roll < 0.95:
        return f"($x := {_jsonata_text(depth - 1)}; $x)"
    return f"$map([1, 2], function($v){{ {_jsonata_text(depth - 1)} }})"


_ATTACKS = [
    "($f := function($n){ $f($n + 1) }; $f(0))",
    "($f := function($n){ 1 + $f($n + 1) }; $f(0))",
    "($f := function($n){ $n > 0 ? 1 + $f($n - 1) : 0 }; $f(100))",
    "$range(0, 1e9, 1)",
    '$pad("x", 1e12)',
    '($f := function($s, $n){ $n = 0 ? $s : $f($s & $s, $n - 1) }; $f("a", 60))',
    "[0..9999999]",
]
_RANDOM_JSONATA = [_jsonata_text(3) for _ in range(600)]
JSONATA = st.sampled_from(_RANDOM_JSONATA + _ATTACKS)
JSONATA_POOL = _RANDOM_JSONATA[:150] + _ATTACKS

PATHS_P = st.sampled_from(PATH_POOL)
INTRINSICS_P = st.sampled_from(INTRINSIC_POOL)
JSONATA_P = st.sampled_from(JSONATA_POOL)
JSON_P = JSON

# -- state machines ---------------------------------------------------------------------------

COMPARISONS = st.sampled_from(
    [
        "StringEquals",
        "NumericEquals",
        "NumericLessThan",
        "BooleanEquals",
        "IsPresent",
        "IsNull",
        "IsString",
        "StringMatches",
        "TimestampLessThan",
        "NumericGreaterThanEqualsPath",
        "Bogus",
    ]
)


@st.composite
def machines(
    draw: st.DrawFn, depth: int = 1, prefix: str = "S", jsonata: bool | None = None
) -> dict:
    """A state machine: mostly well-formed graphs with random fields and expressions.

    States mostly run in order (S0, S1 ...), so most machines pass validation and run;
    a few point elsewhere, loop, or break a rule, so the validator is exercised too.
    """
    if jsonata is None:
        jsonata = draw(st.booleans())
    n = draw(st.integers(1, 4 if depth else 2))
    names = [f"{prefix}{i}" for i in range(n)]
    states: dict = {}
    for i, name in enumerate(names):
        after = names[min(i + 1, n - 1)]
        target = st.sampled_from([after] * 12 + names)
        kinds = ["Pass", "Pass", "Choice", "Wait", "Task", "Task"]
        if depth > 0:
            kinds += ["Parallel", "Map"]
        if i == n - 1 or draw(st.integers(0, 9)) == 9:
            kinds += ["Fail", "Succeed"]
        kind = draw(st.sampled_from(kinds))
        state: dict = {"Type": kind}
        if kind not in ("Choice", "Fail", "Succeed"):
            nxt = draw(target)
            if i == n - 1 and draw(st.integers(0, 5)) < 5:
                state["End"] = True
            else:
                state["Next"] = nxt
        if kind == "Fail":
            pass
        elif jsonata:
            if draw(st.booleans()):
                state["Output"] = "{% " + draw(JSONATA_P) + " %}"
            if kind != "Succeed" and draw(st.booleans()):
                state["Assign"] = {"x": "{% " + draw(JSONATA_P) + " %}", "v": draw(JSON_P)}
        else:
            for field in ("InputPath", "OutputPath"):
                if draw(st.integers(0, 3)) == 0:
                    state[field] = draw(PATHS_P)
            if kind in ("Pass", "Task", "Parallel", "Map") and draw(st.booleans()):
                state["Parameters"] = {
                    "p.$": draw(PATHS_P | INTRINSICS_P),
                    "lit": draw(JSON_P),
                    "i.$": draw(INTRINSICS_P),
                }
            if kind in ("Pass", "Task", "Parallel", "Map") and draw(st.integers(0, 3)) == 0:
                state["ResultPath"] = draw(st.none() | st.sampled_from(RESULT_PATHS))
            if kind != "Succeed" and draw(st.integers(0, 3)) == 0:
                state["Assign"] = {"x.$": draw(PATHS_P), "v": draw(JSON_P)}
        if kind == "Pass" and not jsonata and draw(st.booleans()):
            state["Result"] = draw(JSON_P)
        if kind == "Choice":
            rule: dict = {"Next": draw(target)}
            if jsonata:
                rule["Condition"] = "{% " + draw(JSONATA_P) + " %}"
            else:
                rule["Variable"] = draw(st.sampled_from(REFERENCE_PATHS))
                rule[draw(COMPARISONS)] = draw(JSON_P)
            state["Choices"] = [rule]
            if draw(st.integers(0, 5)) < 5:
                state["Default"] = draw(target)
        if kind == "Wait":
            field = draw(st.sampled_from(["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]))
            if field.endswith("Path"):
                state[field] = draw(PATHS_P)
            elif jsonata and draw(st.booleans()):
                state[field] = "{% " + draw(JSONATA_P) + " %}"
            else:
                state[field] = draw(
                    st.integers(0, 99999999) | st.sampled_from(["9999-12-31T23:59:59Z", "x"])
                )
        if kind == "Fail":
            if draw(st.booleans()):
                state["Error"] = draw(st.sampled_from(ERROR_NAMES))
            if not jsonata and draw(st.booleans()):
                state["CausePath"] = draw(PATHS_P | INTRINSICS_P)
        if kind == "Task":
            state["Resource"] = FN + draw(st.sampled_from(["fuzz_echo", "fuzz_nosuch"]))
        if kind == "Parallel":
            state["Branches"] = [
                draw(machines(depth - 1, f"{name}b{b}x", jsonata))
                for b in range(draw(st.integers(1, 2)))
            ]
        if kind == "Map":
            state["ItemProcessor"] = draw(machines(depth - 1, f"{name}ix", jsonata))
            if not jsonata and draw(st.booleans()):
                state["ItemsPath"] = draw(PATHS_P)
            if jsonata and draw(st.booleans()):
                state["Items"] = "{% " + draw(JSONATA_P) + " %}"
            if draw(st.booleans()):
                state["ToleratedFailureCount"] = draw(st.integers(0, 3))
            if draw(st.integers(0, 3)) == 0:
                state["MaxConcurrency"] = draw(st.integers(0, 3))
        if kind in ("Task", "Parallel", "Map") and draw(st.booleans()):
            state["Retry"] = [
                {
                    "ErrorEquals": [
                        draw(st.sampled_from(["States.ALL", "Boom", "States.Runtime"]))
                    ],
                    "MaxAttempts": draw(st.sampled_from([0, 1, 2, 99999999])),
                    "BackoffRate": draw(st.sampled_from([1, 2, 1e6])),
                }
            ]
        if kind in ("Task", "Parallel", "Map") and draw(st.booleans()):
            state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": draw(target)}]
        states[name] = state
    definition: dict = {"StartAt": names[0], "States": states}
    if jsonata and depth == 1:
        definition["QueryLanguage"] = "JSONata"
    if depth == 1 and draw(st.integers(0, 4)) == 0:
        definition["TimeoutSeconds"] = draw(st.integers(1, 100))
    return definition


def _echo(event: object) -> object:
    if isinstance(event, dict) and "boom" in event:
        raise RuntimeError("boom")
    return event


register_function("fuzz_echo", _echo)


def _assert_json(value: object) -> None:
    json.dumps(value, allow_nan=False)


# -- the properties ---------------------------------------------------------------------------


@fuzz_settings(2000)
@given(OBJECTS | machines() | st.builds(lambda m, extra: {**m, **extra}, machines(), OBJECTS))
def test_validator_reports_problems_and_never_raises(definition: dict) -> None:
    COUNTS["validator: definitions"] += 1
    problems = validate(definition)
    assert all(isinstance(str(p), str) and str(p).split(":")[0] for p in problems)
    try:
        parse(definition)
    except DefinitionError as exc:
        assert exc.problems
    else:
        assert not problems


@fuzz_settings(2000)
@given(
    st.text(max_size=80)
    | st.builds(json.dumps, JSON)
    | st.builds(lambda m, cut: json.dumps(m)[:cut], machines(), st.integers(-40, -1))
)
def test_validator_on_any_text(text: str) -> None:
    COUNTS["validator: texts"] += 1
    problems = validate(text)
    assert isinstance(problems, list)
    assert all(p.path == "" or p.path.startswith("/") for p in problems)


@fuzz_settings(2500)
@given(PATHS, JSON, VARIABLES, JSON)
def test_jsonpath_selects_or_reports(
    expr: str, data: object, variables: dict, result: object
) -> None:
    COUNTS["jsonpath: paths x inputs"] += 1
    context = {"Execution": {"Id": "arn"}, "State": {"Name": "S"}}
    if path_syntax_error(expr) is None:
        try:
            _assert_json(compile_path(expr).get(data, context, variables))
        except (PathNotFound, StatesError):
            pass
    if result_path_syntax_error(expr) is None:
        try:
            _assert_json(compile_result_path(expr).apply(data, result))
        except StatesError as err:
            assert err.error == "States.ResultPathMatchFailure"


@fuzz_settings(2000)
@given(INTRINSICS, JSON, VARIABLES)
def test_intrinsics_evaluate_or_fail_with_a_states_error(
    expr: str, data: object, variables: dict
) -> None:
    COUNTS["intrinsics: calls x inputs"] += 1
    if intrinsic_syntax_error(expr) is not None:
        return
    fn = compile_intrinsic(expr)
    try:
        _assert_json(fn(data, {"Execution": {"Id": "arn"}}, variables))
    except StatesError as err:
        assert err.error.startswith("States.")
    except PathNotFound:
        pass


@fuzz_settings(1500)
@given(JSONATA, JSON, VARIABLES)
def test_jsonata_evaluates_within_its_budget(expr: str, data: object, variables: dict) -> None:
    COUNTS["jsonata: expressions x inputs"] += 1
    if jsonata_syntax_error(expr) is not None:
        return
    states = {"input": data, "context": {"Execution": {"Id": "arn"}}}
    with budget(BUDGET):
        try:
            _assert_json(evaluate_jsonata(expr, states, variables, "Output"))
        except StatesError as err:
            assert err.error in ("States.QueryEvaluationError", "States.DataLimitExceeded")
