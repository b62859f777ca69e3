import pytest

from stepline.asl.errors import INTRINSIC_FAILURE, RUNTIME, StatesError
from stepline.asl.templates import compile_template, template_syntax_errors


def test_static_template_is_returned_as_is():
    obj = {"a": 1, "b": [1, {"c": "$.not_a_path"}]}
    t = compile_template(obj)
    assert t.render({"x": 1}) == obj


def test_paths_intrinsics_and_nesting():
    t = compile_template(
        {
            "flagged": True,
            "first.$": "$.vals[0]",
            "last3.$": "$.vals[3:]",
            "ctx.$": "$$.Execution.Name",
            "var.$": "$myVar.k",
            "fmt.$": "States.Format('{}/{}', $.vals[1], $myVar.k)",
            "nested": {"deep.$": "$.vals[2]", "list": [1, {"x.$": "$"}]},
        }
    )
    inp = {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}
    out = t.render(inp, {"Execution": {"Name": "e1"}}, {"myVar": {"k": "v"}})
    assert out == {
        "flagged": True,
        "first": 0,
        "last3": [30, 40, 50],
        "ctx": "e1",
        "var": "v",
        "fmt": "10/v",
        "nested": {"deep": 20, "list": [1, {"x": inp}]},
    }


def test_render_returns_fresh_containers_and_shares_selected_values():
    t = compile_template({"a.$": "$.big", "b": {"c.$": "$.n"}})
    inp = {"big": {"huge": list(range(10))}, "n": 1}
    first = t.render(inp)
    second = t.render(inp)
    assert first == second and first is not second and first["b"] is not second["b"]
    assert first["a"] is inp["big"]  # shared, by the immutable-JSON contract


def test_missing_path_is_runtime_error_with_aws_text():
    t = compile_template({"value.$": "$.no_such_jsonpath"})
    with pytest.raises(StatesError) as info:
        t.render({"int-literal": 0})
    assert info.value.error == RUNTIME
    assert info.value.cause == (
        "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be "
        "found in the input '{\"int-literal\":0}'"
    )


def test_missing_context_path_reports_state_input():
    t = compile_template({"value.$": "$$.Execution.Input.no_such_jsonpath"})
    with pytest.raises(StatesError) as info:
        t.render({"int-literal": 0}, {"Execution": {"Input": {"int-literal": 0}}})
    assert info.value.cause == (
        "The JSONPath '$$.Execution.Input.no_such_jsonpath' specified for the field 'value.$' "
        "could not be found in the input '{\"int-literal\":0}'"
    )


def test_missing_path_inside_intrinsic():
    t = compile_template({"nested": {"v.$": "States.Array($.a, $.nope)"}})
    with pytest.raises(StatesError) as info:
        t.render({"a": 1})
    assert info.value.error == RUNTIME
    assert "'$.nope' specified for the field 'v.$'" in info.value.cause


def test_intrinsic_failure_passes_through():
    t = compile_template({"v.$": "States.StringToJson($.s)"})
    with pytest.raises(StatesError) as info:
        t.render({"s": "{bad"})
    assert info.value.error == INTRINSIC_FAILURE


def test_assign_from_intrinsics_recorded_on_aws():
    result = {
        "inputArray": [1, 2, 3, 4, 5, 6],
        "duplicateArray": [1, 2, 2, 3, 3, 4],
        "rawString": "Hello World",
        "encodedString": "SGVsbG8gV29ybGQ=",
        "inputString": "Hash this string",
        "json1": {"a": 1, "b": 2},
        "json2": {"c": 3, "d": 4},
        "jsonString": '{"key":"value"}',
        "jsonObject": {"test": "object"},
        "value1": 5,
        "value2": 3,
        "csvString": "a,b,c,d,e",
        "name": "John",
        "place": "LocalStack",
    }
    t = compile_template(
        {
            "arrayOps": {
                "simpleArray.$": "States.Array('a', 'b', 'c')",
                "partitionedArray.$": "States.ArrayPartition($.inputArray, 2)",
                "containsElement.$": "States.ArrayContains($.inputArray, 5)",
                "numberRange.$": "States.ArrayRange(1, 10, 2)",
                "thirdElement.$": "States.ArrayGetItem($.inputArray, 2)",
                "arraySize.$": "States.ArrayLength($.inputArray)",
                "uniqueValues.$": "States.ArrayUnique($.duplicateArray)",
            },
            "encodingOps": {
                "encoded.$": "States.Base64Encode($.rawString)",
                "decoded.$": "States.Base64Decode($.encodedString)",
            },
            "jsonOps": {
                "mergedJson.$": "States.JsonMerge($.json1, $.json2, false)",
                "parsedJson.$": "States.StringToJson($.jsonString)",
                "stringifiedJson.$": "States.JsonToString($.jsonObject)",
            },
            "mathOps": {"sum.$": "States.MathAdd($.value1, $.value2)"},
            "stringOps": {
                "splitString.$": "States.StringSplit($.csvString, ',')",
                "formattedString.$": "States.Format('Hello {}, welcome to {}!', $.name, $.place)",
            },
        },
        field="Assign",
    )
    assert t.render(result) == {
        "arrayOps": {
            "simpleArray": ["a", "b", "c"],
            "partitionedArray": [[1, 2], [3, 4], [5, 6]],
            "containsElement": True,
            "numberRange": [1, 3, 5, 7, 9],
            "thirdElement": 3,
            "arraySize": 6,
            "uniqueValues": [1, 2, 3, 4],
        },
        "encodingOps": {"encoded": "SGVsbG8gV29ybGQ=", "decoded": "Hello World"},
        "jsonOps": {
            "mergedJson": {"a": 1, "b": 2, "c": 3, "d": 4},
            "parsedJson": {"key": "value"},
            "stringifiedJson": '{"test":"object"}',
        },
        "mathOps": {"sum": 8},
        "stringOps": {
            "splitString": ["a", "b", "c", "d", "e"],
            "formattedString": "Hello John, welcome to LocalStack!",
        },
    }


def test_reentrant_pattern_from_aws_scenario():
    start = compile_template({"Iterations": 3, "Values.$": "States.ArrayRange(0, 3, 1)"})
    again = compile_template(
        {"Iterations.$": "States.MathAdd($.Iterations, -1)", "Values.$": "$.Values"}
    )
    state = start.render({})
    assert state == {"Iterations": 3, "Values": [0, 1, 2, 3]}
    assert again.render(state) == {"Iterations": 2, "Values": [0, 1, 2, 3]}


def test_compile_rejects_invalid_dynamic_values():
    for bad in [{"a.$": "nope"}, {"a.$": 3}, {"a.$": "States.Nope()"}, {"x": {"a.$": "$.a["}}]:
        with pytest.raises(ValueError):
            compile_template(bad)


def test_template_syntax_errors_lists_every_problem():
    problems = template_syntax_errors(
        {"a.$": "x", "b": [{"c.$": "States.Nope()"}], "d.$": 3, "ok.$": "$.fine"}, "ResultSelector"
    )
    assert len(problems) == 3
    assert any("ResultSelector" in p for p in problems)
    assert template_syntax_errors({"ok.$": "$.fine", "lit": "$.x"}) == []


def test_variables_default_to_empty():
    t = compile_template({"v.$": "$undefined"})
    with pytest.raises(StatesError) as info:
        t.render({})
    assert info.value.error == RUNTIME
