"""Six AWS behaviours beyond the recorded corpus (issue 11), each pinned to AWS's documentation.

1. ``States.StringToJson`` on edge inputs -- "Converts a string to JSON" (intrinsic functions
   page): any JSON text, whitespace around it included, becomes its value; text that is not
   JSON fails with ``States.IntrinsicFailure``.  Python's extensions (``NaN``, ``Infinity``)
   and numbers no double can hold are not JSON.
2. Escape sequences in JSONPath member names -- AWS evaluates paths with Jayway JsonPath, whose
   bracket notation reads JSON's escapes (``\\'``, ``\\"``, ``\\\\``, ``\\n``, ``\\uXXXX`` ...).
3. Variable references in Map's ``ToleratedFailureCountPath`` / ``ToleratedFailurePercentagePath``
   -- "Passing data between states with variables": a variable is referenced as ``$name``
   wherever a JSONPath state accepts a path.
4. Wait until a far-future timestamp -- the Wait page: timestamps follow RFC 3339 (4-digit
   years, so 9999-12-31T23:59:59Z is the last), and "Step Functions considers the time value
   up to seconds and truncates milliseconds".
5. The evaluation order of ``Assign`` and ``Output`` -- "Passing data between states with
   variables": Assign and Output are evaluated with the variable values from before the state;
   a variable assigned in a state is seen from the next state on.
6. JSONata's ``$range(start, end, step)`` -- "Transforming data with JSONata": an array of
   integers from start to end *inclusive*, by step (which may be negative); like
   ``States.ArrayRange`` it may hold at most 1000 items.
"""

from __future__ import annotations

import pytest

from stepline.asl import execute


def pass_params(params: dict, **extra: object) -> dict:
    return {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": params, "End": True, **extra}},
    }


# -- 1. States.StringToJson -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"foo": "bar"}', {"foo": "bar"}),  # AWS's documented example
        ("  [1, 2]\n", [1, 2]),
        ("null", None),
        ('"text"', "text"),
        ("1.5e3", 1500),
        ("-0", 0),
        ('{"a": {"b": [true, false]}}', {"a": {"b": [True, False]}}),
    ],
)
def test_string_to_json_accepts_any_json_text(text: str, value: object) -> None:
    result = execute(pass_params({"v.$": "States.StringToJson($.s)"}), {"s": text})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"v": value}


@pytest.mark.parametrize("text", ["", "   ", "NaN", "Infinity", '{"a": -Infinity}', "1e400", "{"])
def test_string_to_json_refuses_what_is_not_json(text: str) -> None:
    result = execute(pass_params({"v.$": "States.StringToJson($.s)"}), {"s": text})
    assert result.status == "FAILED"
    assert result.error == "States.IntrinsicFailure"


def test_string_to_json_refuses_a_non_string() -> None:
    result = execute(pass_params({"v.$": "States.StringToJson($.s)"}), {"s": {"a": 1}})
    assert result.status == "FAILED"
    assert result.error == "States.IntrinsicFailure"


# -- 2. escape sequences in JSONPath member names -------------------------------------------

DATA = {"it's": 1, 'say "hi"': 2, "back\\slash": 3, "line\nbreak": 4, "ü": 5, "a.b": 6}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$['it\\'s']", 1),
        ('$["say \\"hi\\""]', 2),
        ("$['back\\\\slash']", 3),
        ("$['line\\nbreak']", 4),
        ("$['\\u00fc']", 5),
        ("$['a.b']", 6),
    ],
)
def test_escapes_in_bracket_member_names(path: str, value: int) -> None:
    result = execute(pass_params({"v.$": path}), DATA)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"v": value}


def test_escapes_in_result_path() -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Result": 1, "ResultPath": "$['it\\'s']", "End": True}},
    }
    assert execute(definition, {}).output == {"it's": 1}


# -- 3. variables in Map's tolerated-failure paths ------------------------------------------


def tolerant_map(field: str, variable: str, value: object) -> dict:
    return {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {variable: value}, "Next": "M"},
            "M": {
                "Type": "Map",
                field: "$" + variable,
                "ItemProcessor": {
                    "StartAt": "F",
                    "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}},
                },
                "End": True,
            },
        },
    }


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("ToleratedFailureCountPath", 2, "SUCCEEDED"),
        ("ToleratedFailureCountPath", 1, "FAILED"),
        ("ToleratedFailurePercentagePath", 100, "SUCCEEDED"),
        ("ToleratedFailurePercentagePath", 50, "FAILED"),
    ],
)
def test_tolerated_failure_paths_read_variables(field: str, value: int, status: str) -> None:
    result = execute(tolerant_map(field, "allowed", value), [1, 2])
    assert result.status == status, result.cause
    if status == "FAILED":
        assert result.error == "States.ExceedToleratedFailureThreshold"
    else:
        assert result.output == [{"Error": "E", "Cause": "c"}] * 2


def test_tolerated_failure_path_to_an_unknown_variable_fails_the_state() -> None:
    definition = tolerant_map("ToleratedFailureCountPath", "allowed", 1)
    definition["States"]["M"]["ToleratedFailureCountPath"] = "$nosuch"
    result = execute(definition, [1])
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"


# -- 4. Wait until a far-future timestamp ---------------------------------------------------


def wait_until(timestamp: str) -> dict:
    return {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Timestamp": timestamp, "End": True}},
    }


def test_wait_until_the_last_rfc3339_instant_succeeds() -> None:
    result = execute(wait_until("9999-12-31T23:59:59Z"), virtual_time=True)
    assert result.status == "SUCCEEDED", result.cause
    exited = result.events[-2]
    assert exited["type"] == "WaitStateExited"
    assert exited["timestamp"].startswith("9999-12-31T23:59:59")


def test_wait_past_the_last_instant_by_its_offset_still_succeeds() -> None:
    # 9999-12-31T23:59:59-01:00 is in year 10000 UTC: it waits until the last instant.
    result = execute(wait_until("9999-12-31T23:59:59-01:00"), virtual_time=True)
    assert result.status == "SUCCEEDED", result.cause


def test_wait_truncates_milliseconds() -> None:
    from stepline.asl.states.wait import parse_timestamp

    assert parse_timestamp("2024-08-18T17:33:00.999Z") == parse_timestamp("2024-08-18T17:33:00Z")


def test_a_five_digit_year_is_not_a_timestamp() -> None:
    from stepline.asl import validate

    problems = validate(wait_until("10000-01-01T00:00:00Z"))
    assert [p.path for p in problems] == ["/States/W/Timestamp"]
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": True}},
    }
    result = execute(definition, {"t": "10000-01-01T00:00:00Z"}, virtual_time=True)
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"


# -- 5. Assign and Output see the values from before the state -------------------------------


def test_jsonata_output_sees_the_variable_as_it_was_before_assign() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Bump"},
            "Bump": {
                "Type": "Pass",
                "Assign": {"x": "{% $x + 1 %}", "before": "{% $x %}"},
                "Output": {"x": "{% $x %}"},
                "Next": "Read",
            },
            "Read": {
                "Type": "Pass",
                "Output": {"was": "{% $states.input.x %}", "x": "{% $x %}", "b": "{% $before %}"},
                "End": True,
            },
        },
    }
    result = execute(definition)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"was": 1, "x": 2, "b": 1}


def test_jsonpath_assign_reads_values_from_before_the_state() -> None:
    definition = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Bump"},
            "Bump": {
                "Type": "Pass",
                "Parameters": {"seen.$": "$x"},
                "Assign": {"x": 2, "old.$": "$x"},
                "Next": "Read",
            },
            "Read": {
                "Type": "Pass",
                "Parameters": {"seen.$": "$.seen", "x.$": "$x", "old.$": "$old"},
                "End": True,
            },
        },
    }
    result = execute(definition)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"seen": 1, "x": 2, "old": 1}


# -- 6. JSONata $range ----------------------------------------------------------------------


def jsonata_output(expr: str) -> dict:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% " + expr + " %}", "End": True}},
    }


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("$range(0, 10, 2)", [0, 2, 4, 6, 8, 10]),
        ("$range(1, 10, 3)", [1, 4, 7, 10]),
        ("$range(1, 9, 3)", [1, 4, 7]),
        ("$range(10, 0, -5)", [10, 5, 0]),
        ("$range(5, 5, 1)", [5]),
        ("$range(0, 999, 1)[-1]", 999),
    ],
)
def test_range_is_inclusive_of_its_end(expr: str, value: object) -> None:
    result = execute(jsonata_output(expr))
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == value
    if isinstance(value, list):
        assert all(type(v) is int for v in value)


@pytest.mark.parametrize("expr", ["$range(0, 1000, 1)", "$range(0, 1, 0)", "$range(0, 2.5, 1)"])
def test_range_refuses_too_many_items_a_zero_step_and_fractions(expr: str) -> None:
    result = execute(jsonata_output(expr))
    assert result.status == "FAILED"
    assert result.error == "States.QueryEvaluationError"
