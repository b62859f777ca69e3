"""The definition validator: AWS-accepted definitions pass, every rule family is caught."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stepline.asl.errors import DefinitionError
from stepline.asl.validate import Problem, check, validate

TESTS = Path(__file__).resolve().parents[1]


def _machine(states: dict, start: str | None = None, **top: object) -> dict:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def _one(state: dict, **top: object) -> dict:
    """A machine whose only state is ``state`` (named S)."""
    return _machine({"S": state}, **top)


def _paths(definition: dict | str) -> list[str]:
    return [p.path for p in validate(definition)]


def _messages(definition: dict | str) -> dict[str, str]:
    return {p.path: p.message for p in validate(definition)}


PASS_END = {"Type": "Pass", "End": True}
TASK = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": True}


# ------------------------------------------------------------- AWS-accepted corpora


def _corpus() -> list[tuple[str, dict]]:
    lines = (TESTS / "conformance" / "data" / "cases.jsonl").read_text().splitlines()
    return [(c["id"], c["definition"]) for c in map(json.loads, lines)]


def test_every_recorded_aws_definition_is_valid() -> None:
    cases = _corpus()
    assert len(cases) == 517
    failures = {case_id: [str(p) for p in validate(d)] for case_id, d in cases if validate(d)}
    assert failures == {}


def test_data_science_sdk_pipeline_is_valid() -> None:
    text = (TESTS / "jobs" / "data" / "dssdk_seed_pipeline.asl.json").read_text()
    assert validate(text) == []
    assert check(text)["StartAt"] == "Preprocess data"


# ----------------------------------------------------------------- interface


def test_problem_prints_as_path_colon_message() -> None:
    assert str(Problem("/States/Train/Next", 'no state named "Trian"')) == (
        '/States/Train/Next: no state named "Trian"'
    )


def test_check_returns_parsed_definition_or_raises_with_all_problems() -> None:
    good = _one(PASS_END)
    assert check(json.dumps(good)) == good
    assert check(good) is good
    bad = _machine({"A": {"Type": "Pass", "Next": "Nope"}, "B": {"Type": "Bogus"}})
    with pytest.raises(DefinitionError) as err:
        check(bad)
    assert [p.path for p in err.value.problems] == [
        "/States/B/Type",
        "/States/A/Next",
        "/States/B",
        "/States",
    ]
    assert '/States/A/Next: no state named "Nope"' in str(err.value)


def test_invalid_json_is_one_problem_naming_line_and_column() -> None:
    problems = validate('{\n  "StartAt": "A",\n  "States": {,}\n}')
    assert len(problems) == 1
    assert problems[0].path == ""
    assert "line 3, column 14" in problems[0].message


def test_definition_must_be_an_object() -> None:
    assert validate("[1, 2]") == [Problem("", "a definition must be a JSON object")]


# --------------------------------------------------------------- graph structure


def test_misspelled_next_names_the_path_and_target() -> None:
    definition = _machine(
        {
            "Prep": {"Type": "Pass", "Next": "Train"},
            "Train": {"Type": "Pass", "Next": "Trian"},
            "Done": {"Type": "Succeed"},
        }
    )
    assert [str(p) for p in validate(definition)] == [
        '/States/Train/Next: no state named "Trian"',
        "/States/Done: state is not reachable from StartAt",
    ]


def test_top_level_required_and_unknown_fields() -> None:
    assert _messages({"States": {"S": PASS_END}, "Foo": 1, "TimeoutSeconds": 0}) == {
        "/Foo": 'unknown top-level field "Foo"',
        "/TimeoutSeconds": "must be a positive integer",
        "": 'missing required field "StartAt"',
    }
    assert _paths({"StartAt": "S"}) == [""]
    assert _paths({"StartAt": "S", "States": {}}) == ["/States"]
    assert _paths(_one(PASS_END, StartAt="T")) == ["/StartAt"]
    assert _paths(_one(PASS_END, Version=1, Comment=2)) == ["/Comment", "/Version"]


def test_unreachable_states_and_missing_terminal_state() -> None:
    loop = _machine(
        {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Next": "A"},
            "Orphan": {"Type": "Pass", "Next": "A"},
        }
    )
    assert _messages(loop) == {
        "/States/Orphan": "state is not reachable from StartAt",
        "/States": 'no terminal state: needs a Succeed or Fail state or "End": true',
    }


def test_catch_and_choice_targets_make_states_reachable() -> None:
    definition = _machine(
        {
            "T": {**TASK, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
            "F": {"Type": "Fail"},
        }
    )
    assert validate(definition) == []


def test_next_end_conflicts() -> None:
    definition = _machine(
        {
            "A": {"Type": "Pass", "Next": "B", "End": True},
            "B": {"Type": "Pass"},
            "C": {"Type": "Succeed", "Next": "A"},
            "D": {"Type": "Choice", "Choices": [], "End": True},
        }
    )
    assert _messages(definition) == {
        "/States/A": 'has both "Next" and "End": true; use one',
        "/States/B": 'needs "Next" or "End": true',
        "/States/C/Next": 'unknown field "Next" for a Succeed state',
        "/States/D/End": 'unknown field "End" for a Choice state',
        "/States/D/Choices": "must be a non-empty array of Choice rules",
        "/States/C": "state is not reachable from StartAt",
        "/States/D": "state is not reachable from StartAt",
    }


def test_state_names_longer_than_80_characters() -> None:
    name = "x" * 81
    assert _paths(_machine({name: PASS_END})) == [f"/States/{name}"]
    assert validate(_machine({"x" * 80: PASS_END})) == []


def test_json_pointer_escapes_slash_and_tilde() -> None:
    definition = _machine({"a/b~c": {"Type": "Pass", "Next": "nope"}})
    assert _paths(definition)[0] == "/States/a~1b~0c/Next"


def test_duplicate_state_names_across_nested_graphs() -> None:
    definition = _machine(
        {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "X", "States": {"X": PASS_END}},
                    {"StartAt": "P", "States": {"P": PASS_END}},
                ],
            },
            "M": {
                "Type": "Map",
                "End": True,
                "ItemProcessor": {"StartAt": "X", "States": {"X": PASS_END}},
            },
        },
        start="P",
    )
    problems = validate(definition)
    assert [p.path for p in problems if "duplicate" in p.message] == [
        "/States/P/Branches/1/States/P",
        "/States/M/ItemProcessor/States/X",
    ]


def test_duplicate_keys_in_json_text_are_reported() -> None:
    text = '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}'
    assert [str(p) for p in validate(text)] == ['/States/A: duplicate state name "A"']


def test_nested_graphs_are_validated_with_their_own_paths() -> None:
    definition = _one(
        {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Outer"}}},
                {"States": {"Y": PASS_END}, "Extra": 1},
            ],
        }
    )
    assert _messages(definition) == {
        "/States/S/Branches/0/States/X/Next": 'no state named "Outer"',
        "/States/S/Branches/0/States": (
            'no terminal state: needs a Succeed or Fail state or "End": true'
        ),
        "/States/S/Branches/1/Extra": 'unknown field "Extra"',
        "/States/S/Branches/1": 'missing required field "StartAt"',
    }
    assert _paths(_one({"Type": "Parallel", "End": True, "Branches": []})) == ["/States/S/Branches"]


# ------------------------------------------------------------- fields per state


def test_unknown_and_missing_fields_per_state_type() -> None:
    definition = _machine(
        {
            "T": {"Type": "Task", "Next": "W", "Resources": "arn:aws:x:::y"},
            "W": {"Type": "Wait", "Next": "F", "Seconds": 1, "Result": {}},
            "F": {"Type": "Fail", "Cause": "x", "InputPath": "$"},
            "N": {"End": True},
            "Z": {"Type": "Zap"},
        }
    )
    assert [str(p) for p in validate(definition)][:6] == [
        '/States/T/Resources: unknown field "Resources" for a Task state',
        '/States/T: missing required field "Resource"',
        '/States/W/Result: unknown field "Result" for a Wait state',
        '/States/F/InputPath: unknown field "InputPath" for a Fail state',
        '/States/N: missing required field "Type"',
        '/States/Z/Type: unknown state type "Zap"; expected one of "Pass", "Task", '
        '"Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"',
    ]


def test_jsonata_states_refuse_jsonpath_fields_and_vice_versa() -> None:
    jsonata = _one(
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "InputPath": "$",
            "Parameters": {},
            "ResultSelector": {},
            "ResultPath": "$.r",
            "OutputPath": "$",
            "TimeoutSecondsPath": "$.t",
            "Arguments": {"a": "{% $states.input %}"},
            "End": True,
        },
        QueryLanguage="JSONata",
    )
    assert _messages(jsonata) == {
        f"/States/S/{f}": f'"{f}" is not allowed in a JSONata state'
        for f in (
            "InputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "OutputPath",
            "TimeoutSecondsPath",
        )
    }
    jsonpath = _one({"Type": "Pass", "Output": {}, "End": True})
    assert _messages(jsonpath) == {
        "/States/S/Output": '"Output" is not allowed in a JSONPath state'
    }
    task_args = _one({**TASK, "Arguments": {}})
    assert _paths(task_args) == ["/States/S/Arguments"]


def test_query_language_values_and_jsonpath_state_under_jsonata_top_level() -> None:
    definition = _machine(
        {
            "A": {"Type": "Pass", "QueryLanguage": "JSONPath", "Next": "B"},
            "B": {"Type": "Pass", "QueryLanguage": "XPath", "End": True},
        },
        QueryLanguage="JSONata",
    )
    assert _messages(definition) == {
        "/States/A/QueryLanguage": (
            "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata"
        ),
        "/States/B/QueryLanguage": 'must be one of "JSONPath", "JSONata"',
    }
    assert _paths(_one(PASS_END, QueryLanguage="SQL")) == ["/QueryLanguage"]
    mixed = _one({"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}", "End": True})
    assert validate(mixed) == []


def test_task_resource_timeouts_and_heartbeats() -> None:
    definition = _machine(
        {
            "A": {**TASK, "Resource": "lambda:f", "End": None, "Next": "B"},
            "B": {**TASK, "TimeoutSeconds": 10, "HeartbeatSeconds": 10},
            "C": {**TASK, "TimeoutSeconds": 0, "TimeoutSecondsPath": "$.t"},
            "D": {**TASK, "HeartbeatSecondsPath": "$[*]", "TimeoutSeconds": 5.5},
        },
        start="A",
    )
    messages = _messages(definition)
    assert set(messages) == {
        "/States/A/Resource",
        "/States/A/End",
        "/States/B/HeartbeatSeconds",
        "/States/C/TimeoutSeconds",
        "/States/C",
        "/States/D/HeartbeatSecondsPath",
        "/States/D/TimeoutSeconds",
        "/States/D",
    }
    assert messages["/States/B/HeartbeatSeconds"] == "must be smaller than TimeoutSeconds"
    assert Problem(
        "/States/C", '"TimeoutSeconds" and "TimeoutSecondsPath" are mutually exclusive'
    ) in validate(definition)
    assert messages["/States/A/Resource"].startswith("must be an ARN")
    # Any ARN is accepted, not only known services.
    assert validate(_one({**TASK, "Resource": "arn:aws-cn:my-service:eu:1:thing/x"})) == []
    jsonata_timeout = _one({**TASK, "TimeoutSeconds": "{% $x %}"}, QueryLanguage="JSONata")
    assert validate(jsonata_timeout) == []


def test_wait_needs_exactly_one_duration() -> None:
    definition = _machine(
        {
            "A": {"Type": "Wait", "Next": "B"},
            "B": {"Type": "Wait", "Seconds": 1, "TimestampPath": "$.t", "Next": "C"},
            "C": {"Type": "Wait", "Timestamp": "tomorrow", "Next": "D"},
            "D": {"Type": "Wait", "Seconds": -1, "End": True},
        }
    )
    assert _messages(definition) == {
        "/States/A": "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, "
        "TimestampPath",
        "/States/B": "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, "
        "TimestampPath (found Seconds, TimestampPath)",
        "/States/C/Timestamp": "must be an ISO-8601 timestamp such as 2016-03-14T01:59:00Z",
        "/States/D/Seconds": "must be a non-negative integer <= 99999999",
    }
    jsonata = _machine(
        {
            "A": {"Type": "Wait", "Seconds": "{% $n %}", "Next": "B"},
            "B": {"Type": "Wait", "Timestamp": "{% $t %}", "Next": "C"},
            "C": {"Type": "Wait", "SecondsPath": "$.n", "End": True},
        },
        QueryLanguage="JSONata",
    )
    assert _paths(jsonata) == ["/States/C/SecondsPath"]


def test_fail_error_and_cause_fields() -> None:
    definition = _machine(
        {
            "A": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"},
            "B": {"Type": "Fail", "Cause": 3, "CausePath": "States.Format('{}', $.c)"},
            "C": {"Type": "Fail", "ErrorPath": "States.Nope($.x)", "CausePath": "c"},
        }
    )
    messages = _messages(definition)
    assert messages["/States/A"] == '"Error" and "ErrorPath" are mutually exclusive'
    assert messages["/States/B/Cause"] == "must be a string, not a number"
    assert {"/States/C/ErrorPath", "/States/C/CausePath"} <= set(messages)
    assert "/States/B/CausePath" not in messages
    jsonata = _one(
        {"Type": "Fail", "Error": "{% 'E' & %}", "ErrorPath": "$.e"}, QueryLanguage="JSONata"
    )
    assert _paths(jsonata) == ["/States/S/Error", "/States/S/ErrorPath"]


# ------------------------------------------------------------------ Choice rules


def _choice(*rules: dict, lang: str = "JSONPath", **extra: object) -> dict:
    return _machine(
        {
            "C": {"Type": "Choice", "Choices": list(rules), "Default": "D", **extra},
            "D": {"Type": "Succeed"},
        },
        QueryLanguage=lang,
    )


def test_every_comparison_operator_is_accepted() -> None:
    operands = {
        "String": "a",
        "Numeric": 1.5,
        "Timestamp": "2012-10-09T19:00:55Z",
    }
    rules = []
    for prefix, operand in operands.items():
        for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"):
            rules.append({"Variable": "$.v", prefix + op: operand, "Next": "D"})
            rules.append({"Variable": "$.v", prefix + op + "Path": "$.w", "Next": "D"})
    rules.append({"Variable": "$.v", "BooleanEquals": True, "Next": "D"})
    rules.append({"Variable": "$var.x", "BooleanEqualsPath": "$$.Execution.Input.b", "Next": "D"})
    rules.append({"Variable": "$.v", "StringMatches": "log-*.txt", "Next": "D"})
    for test in ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"):
        rules.append({"Variable": "$.v", test: False, "Next": "D"})
    rules.append(
        {
            "And": [
                {"Not": {"Variable": "$.a", "IsNull": True}},
                {"Or": [{"Variable": "$.b", "NumericEquals": 1}]},
            ],
            "Next": "D",
            "Comment": "nested",
            "Assign": {"chosen": True},
        }
    )
    assert validate(_choice(*rules)) == []


def test_malformed_choice_rules() -> None:
    definition = _choice(
        {"Variable": "$.a", "NumericEquals": "1", "Next": "D"},
        {"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1, "Next": "D"},
        {"Variable": "$.a[*]", "StringEqualsPath": "nope", "Next": "D"},
        {"NumericEquals": 1, "Next": "D"},
        {"Variable": "$.a", "IsNull": True},
        {"And": [], "Next": "D"},
        {"Or": [{"Variable": "$.a", "IsNull": True, "Next": "D"}], "Next": "D"},
        {"Not": {"Variable": "$.a"}, "Variable": "$.b", "Next": "D"},
        {"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "D", "Foo": 1},
        {"Variable": "$.a", "BooleanEquals": "true", "Next": "D"},
        {"Condition": "{% true %}", "Next": "D"},
        "rule",
    )
    messages = [str(p) for p in validate(definition)]
    assert messages == [
        "/States/C/Choices/0/NumericEquals: must be a number, not a string",
        '/States/C/Choices/1: a Choice rule takes exactly one operator, found "StringEquals", '
        '"NumericEquals"',
        messages[2],
        messages[3],
        '/States/C/Choices/3: missing required field "Variable" for "NumericEquals"',
        '/States/C/Choices/4: missing required field "Next"',
        "/States/C/Choices/5/And: must be a non-empty array of Choice rules",
        '/States/C/Choices/6/Or/0/Next: only top-level Choice rules may have "Next"',
        '/States/C/Choices/7/Variable: "Variable" is not allowed with "Not"',
        "/States/C/Choices/7/Not: a Choice rule needs a comparison operator, And, Or or Not",
        '/States/C/Choices/8/Foo: unknown field "Foo" in a Choice rule',
        "/States/C/Choices/8/TimestampEquals: must be an ISO-8601 timestamp such as "
        "2016-03-14T01:59:00Z",
        "/States/C/Choices/9/BooleanEquals: must be a boolean, not a string",
        '/States/C/Choices/10/Condition: "Condition" is not allowed in a JSONPath Choice rule',
        "/States/C/Choices/10: a Choice rule needs a comparison operator, And, Or or Not",
        "/States/C/Choices/11: a Choice rule must be an object",
    ]
    assert messages[2].startswith("/States/C/Choices/2/Variable: ")
    assert messages[3].startswith("/States/C/Choices/2/StringEqualsPath: ")


def test_choice_default_and_rule_targets_must_exist() -> None:
    definition = _choice({"Variable": "$.a", "IsNull": True, "Next": "Nowhere"}, Default="Gone")
    assert [str(p) for p in validate(definition)] == [
        '/States/C/Choices/0/Next: no state named "Nowhere"',
        '/States/C/Default: no state named "Gone"',
        "/States/D: state is not reachable from StartAt",
    ]


def test_jsonata_choice_rules_use_condition() -> None:
    ok = _choice({"Condition": "{% $x > 1 %}", "Next": "D", "Output": {"a": 1}}, lang="JSONata")
    assert validate(ok) == []
    bad = _choice(
        {"Variable": "$.a", "IsNull": True, "Next": "D"},
        {"Condition": "{% $x > %}", "Next": "D"},
        {"Condition": "true", "Next": "D"},
        {"Next": "D"},
        lang="JSONata",
    )
    messages = _messages(bad)
    assert messages["/States/C/Choices/0/Variable"] == (
        'unknown field "Variable" in a Choice rule (JSONata rules use Condition)'
    )
    assert "/States/C/Choices/0/IsNull" in messages
    assert "not valid" in messages["/States/C/Choices/1/Condition"]
    assert messages["/States/C/Choices/2/Condition"] == (
        "must be a JSONata expression {% ... %} or a boolean"
    )
    assert messages["/States/C/Choices/3"] == 'missing required field "Condition"'


# --------------------------------------------------------------- Retry and Catch


def test_bad_retriers() -> None:
    retry = [
        {"ErrorEquals": ["States.ALL", "States.Timeout"]},
        {"ErrorEquals": [], "IntervalSeconds": 0, "MaxAttempts": -1, "BackoffRate": 0.5},
        {"ErrorEquals": ["E"], "MaxDelaySeconds": 0, "JitterStrategy": "SOME", "Extra": 1},
        "retry",
    ]
    assert [str(p) for p in validate(_one({**TASK, "Retry": retry}))] == [
        '/States/S/Retry/0/ErrorEquals: "States.ALL" must appear alone in ErrorEquals',
        '/States/S/Retry/0/ErrorEquals: "States.ALL" must be in the last entry',
        "/States/S/Retry/1/ErrorEquals: must be a non-empty array of error names",
        "/States/S/Retry/1/IntervalSeconds: must be a positive integer",
        "/States/S/Retry/1/MaxAttempts: must be a non-negative integer",
        "/States/S/Retry/1/BackoffRate: must be a number greater than or equal to 1",
        '/States/S/Retry/2/Extra: unknown field "Extra" in a retrier',
        "/States/S/Retry/2/MaxDelaySeconds: must be a positive integer below 31622401",
        '/States/S/Retry/2/JitterStrategy: must be one of "FULL", "NONE"',
        "/States/S/Retry/3: a retrier must be an object",
    ]
    good = [
        {"ErrorEquals": ["E"], "IntervalSeconds": 2, "MaxAttempts": 0, "BackoffRate": 1},
        {"ErrorEquals": ["States.ALL"], "MaxDelaySeconds": 10, "JitterStrategy": "FULL"},
    ]
    assert validate(_one({**TASK, "Retry": good})) == []
    assert _paths(_one({**PASS_END, "Retry": good})) == ["/States/S/Retry"]


def test_bad_catchers() -> None:
    definition = _machine(
        {
            "T": {
                **TASK,
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "Next": "H"},
                    {"ErrorEquals": ["E"], "ResultPath": "$$.x", "Output": 1},
                    {"ErrorEquals": ["E"], "Next": "Nope"},
                ],
            },
            "H": {"Type": "Succeed"},
        }
    )
    assert [str(p) for p in validate(definition)] == [
        '/States/T/Catch/0/ErrorEquals: "States.ALL" must be in the last entry',
        messages_result_path(definition),
        '/States/T/Catch/1/Output: "Output" is not allowed in a JSONPath state',
        '/States/T/Catch/1: missing required field "Next"',
        '/States/T/Catch/2/Next: no state named "Nope"',
    ]
    jsonata = _machine(
        {
            "T": {
                **TASK,
                "Catch": [
                    {"ErrorEquals": ["E"], "Next": "H", "ResultPath": "$.e", "Output": "{% %}"}
                ],
            },
            "H": {"Type": "Succeed"},
        },
        QueryLanguage="JSONata",
    )
    assert _paths(jsonata) == ["/States/T/Catch/0/ResultPath", "/States/T/Catch/0/Output"]


def messages_result_path(definition: dict) -> str:
    """The ResultPath message comes from the paths module; only its location is ours."""
    found = [str(p) for p in validate(definition) if p.path.endswith("/ResultPath")]
    assert len(found) == 1 and found[0].startswith("/States/T/Catch/1/ResultPath: ")
    return found[0]


# ------------------------------------------------------------- expression syntax


def test_invalid_jsonpath_and_intrinsics_in_payload_templates() -> None:
    state = {
        "Type": "Pass",
        "InputPath": "input",
        "OutputPath": None,
        "ResultPath": "$.a[*]",
        "Parameters": {
            "ok.$": "$.x",
            "var.$": "$myVar",
            "ctx.$": "$$.Execution.Id",
            "fn.$": "States.Format('{}', $.x)",
            "bad.$": "x.y",
            "nested": [{"badfn.$": "States.NoSuchFunction($.x)"}],
            "num.$": 3,
            "literal": "$.not.evaluated",
        },
        "Result": {"looks.$": "but is a literal"},
        "End": True,
    }
    paths = _paths(_one(state))
    assert paths == [
        "/States/S/InputPath",
        "/States/S/ResultPath",
        "/States/S/Parameters/bad.$",
        "/States/S/Parameters/nested/0/badfn.$",
        "/States/S/Parameters/num.$",
    ]


def test_invalid_jsonata_expressions() -> None:
    state = {
        "Type": "Pass",
        "Output": {"a": ["{% $states.input.x + %}"], "b": "{% 1 + 1 %}", "c": "not {% code"},
        "Assign": {"v": "{% ( %}"},
        "End": True,
    }
    messages = _messages(_one(state, QueryLanguage="JSONata"))
    assert list(messages) == ["/States/S/Output/a/0", "/States/S/Assign/v"]
    assert "not valid" in messages["/States/S/Output/a/0"]


def test_assign_variable_names() -> None:
    state = {
        "Type": "Pass",
        "Assign": {
            "ok": 1,
            "_also_ok": 2,
            "näme": 3,
            "from.$": "$.x",
            "states": 4,
            "states.$": "$",
            "1st": 5,
            "has space": 6,
            "x" * 81: 7,
            "": 8,
            "bad.$": "nope",
        },
        "End": True,
    }
    assert _messages(_one(state)) == {
        "/States/S/Assign/states": '"states" is reserved and cannot be assigned',
        "/States/S/Assign/states.$": '"states" is reserved and cannot be assigned',
        "/States/S/Assign/1st": '"1st" is not a valid variable name',
        "/States/S/Assign/has space": '"has space" is not a valid variable name',
        f"/States/S/Assign/{'x' * 81}": "variable name is longer than 80 characters",
        "/States/S/Assign/": "a variable name must not be empty",
        "/States/S/Assign/bad.$": "The path 'nope' must start with '$'",
    }
    jsonata = _one({"Type": "Pass", "Assign": {"x.$": "$.a"}, "End": True}, QueryLanguage="JSONata")
    assert _messages(jsonata) == {"/States/S/Assign/x.$": '"x.$" is not a valid variable name'}
    assert _paths(_one({"Type": "Succeed", "Assign": {"a": 1}})) == ["/States/S/Assign"]


# -------------------------------------------------------------------------- Map


def _map(lang: str = "JSONPath", **fields: object) -> dict:
    processor = {"StartAt": "I", "States": {"I": PASS_END}}
    return _one(
        {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}, QueryLanguage=lang
    )


def test_distributed_map_with_every_field_is_valid() -> None:
    definition = _map(
        ItemProcessor={
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "I",
            "States": {"I": PASS_END},
        },
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItems": 10},
            "Parameters": {"Bucket": "b", "Key.$": "$.key"},
        },
        ItemBatcher={"MaxItemsPerBatch": 10, "BatchInput": {"run.$": "$$.Execution.Id"}},
        ResultWriter={
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "b", "Prefix": "out"},
        },
        ItemSelector={"v.$": "$$.Map.Item.Value"},
        MaxConcurrencyPath="$.n",
        ToleratedFailurePercentage=5.5,
        ToleratedFailureCountPath="$.c",
        Label="batch-1",
        ResultSelector={"n.$": "$.x"},
    )
    assert validate(definition) == []


def test_bad_map_fields() -> None:
    definition = _map(
        Iterator={"StartAt": "J", "States": {"J": PASS_END}},
        ItemsPath="$.items[*]",
        MaxConcurrency=-1,
        MaxConcurrencyPath="$.n",
        ToleratedFailurePercentage=101,
        ToleratedFailureCount=1.5,
        Label="has space",
        Parameters={},
        ItemSelector={},
        Items=[1],
    )
    messages = _messages(definition)
    assert set(messages) == {
        "/States/S/ItemsPath",
        "/States/S/MaxConcurrency",
        "/States/S/ToleratedFailurePercentage",
        "/States/S/ToleratedFailureCount",
        "/States/S/Label",
        "/States/S/Items",
        "/States/S",
    }
    assert messages["/States/S/MaxConcurrency"] == "must be a non-negative integer"
    assert messages["/States/S/ToleratedFailurePercentage"] == "must be a number from 0 to 100"
    assert messages["/States/S/ToleratedFailureCount"] == "must be a non-negative integer"
    assert messages["/States/S/Label"] == "must not contain whitespace or special characters"
    assert messages["/States/S/Items"] == '"Items" is not allowed in a JSONPath state'
    assert "reference path" in messages["/States/S/ItemsPath"]
    problems = [str(p) for p in validate(definition) if p.path == "/States/S"]
    assert problems == [
        '/States/S: "ItemProcessor" and "Iterator" are mutually exclusive',
        '/States/S: "Parameters" and "ItemSelector" are mutually exclusive',
        '/States/S: "MaxConcurrency" and "MaxConcurrencyPath" are mutually exclusive',
    ]


def test_map_processor_config_and_distributed_objects() -> None:
    definition = _map(
        ItemProcessor={
            "ProcessorConfig": {"Mode": "PARALLEL", "ExecutionType": "FAST", "X": 1},
            "StartAt": "I",
            "States": {"I": PASS_END},
        },
        ItemReader={"ReaderConfig": {"InputType": "XML"}, "Arguments": {}},
        ItemBatcher={"BatchInput": {}, "MaxInputBytesPerBatch": 10**9},
        ResultWriter={"Prefix": "p"},
    )
    assert [str(p) for p in validate(definition)] == [
        '/States/S/ItemReader/Arguments: "Arguments" is not allowed in a JSONPath state',
        '/States/S/ItemReader: missing required field "Resource"',
        '/States/S/ItemReader/ReaderConfig/InputType: must be one of "CSV", "JSON", "JSONL", '
        '"MANIFEST", "PARQUET"',
        "/States/S/ItemBatcher/MaxInputBytesPerBatch: must be at most 262144",
        '/States/S/ResultWriter/Prefix: unknown field "Prefix"',
        '/States/S/ResultWriter: needs "Resource" or "WriterConfig"',
        '/States/S/ItemProcessor/ProcessorConfig/X: unknown field "X"',
        '/States/S/ItemProcessor/ProcessorConfig/Mode: must be one of "INLINE", "DISTRIBUTED"',
        '/States/S/ItemProcessor/ProcessorConfig/ExecutionType: must be one of "STANDARD", '
        '"EXPRESS"',
    ]
    distributed = _map(
        ItemProcessor={
            "ProcessorConfig": {"Mode": "DISTRIBUTED"},
            "StartAt": "I",
            "States": {"I": PASS_END},
        }
    )
    assert [str(p) for p in validate(distributed)] == [
        '/States/S/ItemProcessor/ProcessorConfig: a DISTRIBUTED Map needs "ExecutionType"'
    ]
    assert [str(p) for p in validate(_one({"Type": "Map", "End": True}))] == [
        '/States/S: missing required field "ItemProcessor"'
    ]


def test_jsonata_map_fields() -> None:
    ok = _map(
        "JSONata",
        Items="{% $states.input.list %}",
        ItemSelector={"v": "{% $states.context.Map.Item.Value %}"},
        MaxConcurrency="{% $n %}",
        ToleratedFailurePercentage="{% $p %}",
    )
    assert validate(ok) == []
    bad = _map("JSONata", Items="$.list", ItemsPath="$.list", MaxConcurrency="{% $n + %}")
    assert _paths(bad) == ["/States/S/Items", "/States/S/ItemsPath", "/States/S/MaxConcurrency"]


# --------------------------------------------------------------- many at once


def test_all_problems_are_reported_together() -> None:
    definition = {
        "StartAt": "Prep",
        "QueryLanguage": "JSONPath",
        "States": {
            "Prep": {"Type": "Pass", "Next": "Train", "InputPath": "nope"},
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Next": "Trian",
                "Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 0}],
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Fial"}],
            },
            "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "Done"}]},
            "Done": {"Type": "Succeed", "Arguments": {}},
        },
    }
    text = json.dumps(definition)
    expected = [
        "/States/Prep/InputPath",
        "/States/Train/Retry/0/BackoffRate",
        "/States/Pick/Choices/0",
        "/States/Done/Arguments",
        "/States/Train/Next",
        "/States/Train/Catch/0/Next",
        "/States/Pick",
        "/States/Done",
    ]
    assert _paths(definition) == expected
    assert _paths(text) == expected
    with pytest.raises(DefinitionError) as err:
        check(text)
    assert len(err.value.problems) == len(expected)
    assert '/States/Train/Next: no state named "Trian"' in str(err.value).splitlines()


def test_validation_does_not_modify_the_definition() -> None:
    definition = _machine(
        {"A": {"Type": "Pass", "Next": "B", "Parameters": {"x.$": "$.y"}}, "B": PASS_END}
    )
    before = copy.deepcopy(definition)
    assert validate(definition) == []
    assert definition == before


def test_jsonata_item_reader_and_credentials() -> None:
    ok = _map(
        "JSONata",
        ItemProcessor={
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "I",
            "States": {"I": PASS_END},
        },
        ItemReader={
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Arguments": {"Bucket": "{% $bucket %}"},
            "ReaderConfig": {"MaxItems": "{% $n %}"},
        },
    )
    assert validate(ok) == []
    bad = _map(
        "JSONata",
        ItemReader={
            "Resource": "s3",
            "Parameters": {},
            "ReaderConfig": {"MaxItemsPath": "$.n", "CSVHeaders": "a,b"},
        },
    )
    assert _paths(bad) == [
        "/States/S/ItemReader/Resource",
        "/States/S/ItemReader/Parameters",
        "/States/S/ItemReader/ReaderConfig/MaxItemsPath",
        "/States/S/ItemReader/ReaderConfig/CSVHeaders",
    ]
    task = _one({**TASK, "Credentials": {"RoleArn.$": "$.role"}})
    assert validate(task) == []
    assert _paths(_one({**TASK, "Credentials": "role"})) == ["/States/S/Credentials"]
