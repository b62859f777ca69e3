"""JSONata mode; expectations come from executions recorded on AWS
(tests/conformance/data/cases.jsonl: evaluate_jsonata, assign, intrinsic_functions, scenarios)."""

import re
import threading
import time

import pytest

from stepline.asl.errors import QUERY_EVALUATION_ERROR, StatesError
from stepline.asl.jsonata import (
    compile_jsonata_template,
    is_jsonata,
    jsonata_syntax_error,
)


def render(value, input=None, variables=None, field="Output", context=None):
    states = {"input": input, "context": context or {}}
    return compile_jsonata_template(value, field).render(states, variables or {})


def error_of(value, **kw):
    with pytest.raises(StatesError) as info:
        render(value, **kw)
    assert info.value.error == QUERY_EVALUATION_ERROR
    return info.value.cause


def test_is_jsonata_requires_exact_delimiters():
    assert is_jsonata("{% $states.input %}")
    assert is_jsonata("{%1%}")
    assert not is_jsonata(" {% states.input %} ")
    assert not is_jsonata("{% x")
    assert not is_jsonata("$states.input")
    assert not is_jsonata({"a": 1})


def test_syntax_errors():
    assert jsonata_syntax_error("$states.input.a + 1") is None
    assert jsonata_syntax_error("$fn := function($x){$x}") is None
    assert "not valid" in jsonata_syntax_error("$x +")
    assert "not valid" in jsonata_syntax_error("(")
    assert jsonata_syntax_error("  ") == "The JSONata expression is empty"
    with pytest.raises(ValueError):
        compile_jsonata_template({"a": "{% ( %}"}, "Output")


def test_literals_are_not_evaluated():
    output = {
        "constant_null": None,
        "constant_int": 0,
        "constant_float": 0.1,
        "constant_bool": True,
        "constant_str": "constant string",
        "constant_not_jsonata": " {% states.input %} ",
        "constant_varpath_states": "$states.input",
        "constant_varpath": "$no.such.var.path",
        "constant_jp_input": "$",
        "constant_jp_input.$": "$",
        "constant_jp_context": "$$",
        "constant_if": "States.Format('Format:{}', 101)",
        "constant_lst": [None, 0, 0.1, True, [], {"constant": 0}, " {% states.input %} "],
    }
    assert render(output, input={"input_value": "string literal"}) == output


@pytest.mark.parametrize(
    "value,input,variables,expected",
    [
        ("{% $states.input %}", {"a": 1}, {}, {"a": 1}),
        ("{% $states.input.value = 0 %}", {"value": 0}, {}, True),
        ("{% $states.input.value >= 20 and $states.input.value < 30 %}", {"value": 25}, {}, True),
        ("{% $not($states.input.type = 'Private') %}", {"type": "Public"}, {}, True),
        (
            "{% $sum($states.input.input_values) + $var_constant_1 %}",
            {"input_values": [1, 2, 3]},
            {"var_constant_1": 1},
            7,
        ),
        ("{% $varname.varfield %}", None, {"varname": {"varfield": "v"}}, "v"),
        ("{% $theAnswer %}", None, {"theAnswer": 42}, 42),
        ("{% $contains('hello$world', /^hello\\$/) %}", None, {}, True),
        ("{% $contains('hello$world', /^hello\\ /) %}", None, {}, False),
        ('{% $contains("hello$world", /^hello\\ /) %}', None, {}, False),
        ("{% $number('2') %}", None, {}, 2),
        ("{% $variable := 1 %}", None, {}, 1),
        ("{% [1, 'two', 3] %}", None, {}, [1, "two", 3]),
        ("{% {'foo': 'bar'} %}", None, {}, {"foo": "bar"}),
        ("{% [] %}", None, {}, []),
        ("{% null %}", None, {}, None),
        ("{% $nullVar %}", None, {"nullVar": None}, None),
        ("{% $states.input.a %}", {"a": [None, 1]}, {}, [None, 1]),
        ("{% $states.input.a[0] %}", {"a": [{"b": None}]}, {}, {"b": None}),
        ("{% $states.context.Execution.Name %}", None, {}, "exec"),
        ("{% $sum([1, 2]) / 2 %}", None, {}, 1.5),
        ("{% $states.input.items.(p * 2) %}", {"items": [{"p": 1}, {"p": 2}]}, {}, [2, 4]),
    ],
)
def test_expressions(value, input, variables, expected):
    out = render(value, input=input, variables=variables, context={"Execution": {"Name": "exec"}})
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("-0", 0),
        ("1", 1),
        ("1.1", 1.1),
        ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
        ('"HelloWorld"', "HelloWorld"),
        ("true", True),
        ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []}),
        ("null", None),
    ],
)
def test_aws_parse(text, expected):
    assert render("{% $parse($states.input.FunctionInput) %}", input={"FunctionInput": text}) == (
        expected
    )


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("arr", [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]])
def test_aws_partition(arr, size):
    value = "{% $partition($states.input.FunctionInput.fst, $states.input.FunctionInput.snd) %}"
    out = render(value, input={"FunctionInput": {"fst": arr, "snd": size}})
    assert out == [arr[i : i + size] for i in range(0, len(arr), size)]


def test_aws_range_hash_random_uuid():
    assert render("{% $range(0, 10, 2) %}") == [0, 2, 4, 6, 8, 10]
    assert render("{% $range(3, 1, -1) %}") == [3, 2, 1]
    assert render("{% $hash('input data', 'SHA-256') %}") == (
        "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"
    )
    assert render("{% $hash('input data', 'MD5') %}") == "812f45842bc6d66ee14572ce20db8e86"
    r = render("{% $random() %}")
    assert isinstance(r, float) and 0 <= r < 1
    assert render("{% $random(7) %}") == render("{% $random(7) %}")
    u = render("{% $uuid() %}")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", u)
    assert "not supported" in error_of("{% $hash('x', 'SHA-3') %}")
    assert "greater than 0" in error_of("{% $partition([1], 0) %}")


def test_now_and_millis_are_current():
    before = int(time.time() * 1000)
    millis = render("{% $millis() %}")
    assert before <= millis <= int(time.time() * 1000) + 1
    time.sleep(0.01)
    assert render("{% $millis() %}") > millis  # not stuck at a first evaluation's timestamp
    now = render("{% $now() %}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now)
    both = render("{% [$millis(), $millis()] %}")
    assert both[0] == both[1]  # constant within one evaluation, as JSONata specifies


def test_undefined_result_names_the_field():
    assert error_of("{% $doesNotExist %}", field="Assign/result") == (
        "The JSONata expression '$doesNotExist' specified for the field 'Assign/result' "
        "returned nothing (undefined)."
    )
    assert error_of({"result": "{% $doesNotExist %}"}) == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output/result' "
        "returned nothing (undefined)."
    )
    assert error_of("{% $doesNotExist %}") == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output' "
        "returned nothing (undefined)."
    )
    assert "'Items/1'" in error_of(["a", "{% $states.input.nope %}"], input={}, field="Items")


def test_function_result_is_unsupported():
    assert error_of("{% $fn := function($x){$x} %}", field="Items") == (
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' "
        "returned an unsupported result type."
    )
    assert "unsupported result type" in error_of("{% $uppercase %}")


def test_evaluation_error_is_query_evaluation_error():
    assert "threw an error" in error_of("{% $number('abc') + 'x' %}")


def test_nested_templates_and_sharing():
    t = compile_jsonata_template(
        {"a": "{% $states.input.x %}", "b": [1, {"c": "{% $v + 1 %}"}], "lit": {"k": [1]}},
        "Arguments",
    )
    out = t.render({"input": {"x": {"deep": 1}}}, {"v": 1})
    assert out == {"a": {"deep": 1}, "b": [1, {"c": 2}], "lit": {"k": [1]}}


def test_evaluation_is_thread_safe():
    t = compile_jsonata_template("{% $states.input.n * 2 + $offset %}", "Output")
    bad = []

    def work(n):
        for _ in range(100):
            if t.render({"input": {"n": n}}, {"offset": n}) != 3 * n:
                bad.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not bad
