"""Intrinsic functions; expected values come from executions recorded on AWS
(tests/conformance/data/cases.jsonl, feature_area intrinsic_functions and assign)."""

import re
import threading

import pytest

from stepline.asl.errors import INTRINSIC_FAILURE, StatesError
from stepline.asl.intrinsics import compile_intrinsic, intrinsic_syntax_error, is_intrinsic
from stepline.asl.paths import PathNotFound


def run(expr, fst=None, snd=None, trd=None, context=None, variables=None):
    inp = {"FunctionInput": {"fst": fst, "snd": snd, "trd": trd}}
    return compile_intrinsic(expr)(inp, context or {}, variables or {})


def two(name):
    return f"States.{name}($.FunctionInput.fst, $.FunctionInput.snd)"


def test_is_intrinsic():
    assert is_intrinsic("States.UUID()")
    assert is_intrinsic("  States.Array(1)")
    assert not is_intrinsic("$.States")
    assert not is_intrinsic(None)


@pytest.mark.parametrize(
    "expr",
    [
        "States.UUID()",
        "States.Array()",
        "States.Array('a', 1, 1.5, -2, null, true, false, $.x, $$.y, $var.z)",
        "States.Format('a {} b {}', $.x, States.UUID())",
        "States.Format('no placeholders')",
        "States.Format('escaped \\{\\} {}', $.x)",
        "States.Format('it\\'s {}', $.x)",
        "States.MathRandom(1, 10)",
        "States.MathRandom(1, 10, 3)",
        "States.JsonMerge($.a, $.b, false)",
        "States.Hash($.a, 'SHA-256')",
        "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
        "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))",
        "States.Array($.items[?(@.p > 1)], $['a b'])",
        "  States.Array( 1 ,2 )  ",
    ],
)
def test_valid_syntax(expr):
    assert intrinsic_syntax_error(expr) is None


@pytest.mark.parametrize(
    "expr,fragment",
    [
        ("States.Nope(1)", "unknown function 'States.Nope'"),
        ("States.MathAdd(1)", "takes 2 argument(s), got 1"),
        ("States.UUID(1)", "takes 0 argument(s), got 1"),
        ("States.MathRandom(1)", "takes 2 to 3 argument(s)"),
        ("States.Format()", "takes 1 or more argument(s)"),
        ("States.Format('{} {}', $.a)", "1 argument(s) were given"),
        ("States.Format(1, $.a)", "must be a string"),
        ("States.JsonMerge($.a, $.b, true)", "shallow merge"),
        ("States.Hash($.a, 'SHA-3')", "unsupported hash algorithm"),
        ("States.Array(", "missing"),
        ("States.Array(1", "missing ')'"),
        ("States.Array('abc)", "unterminated string"),
        ("States.Array(1) x", "unexpected text"),
        ("States.Array(nul)", "unexpected argument"),
        ("States.Array($.a[)", "not a valid JSONPath"),
        ("States.Array(1 2)", "unexpected '2'"),
        ("States.Array" + "(States.Array" * 10 + "()" + ")" * 10, "nested"),
    ],
)
def test_syntax_errors(expr, fragment):
    err = intrinsic_syntax_error(expr)
    assert err is not None and fragment in err


def test_nesting_limit_is_ten():
    ok = "States.Array(" * 10 + ")" * 10
    assert intrinsic_syntax_error(ok) is None


@pytest.mark.parametrize(
    "fst,snd,expected",
    [
        (" ", " ", "Formatting arguments fst=  and snd= ."),
        ("", "", "Formatting arguments fst= and snd=."),
        ("HelloWorld", "HelloWorld", "Formatting arguments fst=HelloWorld and snd=HelloWorld."),
        (
            '{"Arg1": 1, "Arg2": []}',
            '{"Arg1": 1, "Arg2": []}',
            'Formatting arguments fst={"Arg1": 1, "Arg2": []} and snd={"Arg1": 1, "Arg2": []}.',
        ),
        (1, 1, "Formatting arguments fst=1 and snd=1."),
        (1.1, 1.1, "Formatting arguments fst=1.1 and snd=1.1."),
        (None, None, "Formatting arguments fst=null and snd=null."),
        (
            {"Arg1": 1, "Arg2": []},
            {"Arg1": 1, "Arg2": []},
            "Formatting arguments fst={Arg1=1, Arg2=[]} and snd={Arg1=1, Arg2=[]}.",
        ),
        (True, [1, "a"], "Formatting arguments fst=true and snd=[1, a]."),
    ],
)
def test_format_aws(fst, snd, expected):
    expr = (
        "States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, "
        "$.FunctionInput.snd)"
    )
    assert run(expr, fst, snd) == expected


def test_format_context_object_renders_like_java():
    ctx = {
        "Execution": {"Name": "exec-1"},
        "StateMachine": {"Id": "arn:aws:states:r:1:stateMachine:sm", "Name": "sm"},
    }
    expr = "States.Format('fst={} and snd={}.', $$.Execution.Name, $$.StateMachine)"
    assert run(expr, context=ctx) == (
        "fst=exec-1 and snd={Id=arn:aws:states:r:1:stateMachine:sm, Name=sm}."
    )


def test_format_escapes():
    fn = compile_intrinsic("States.Format('\\{\\} {} it\\'s \\\\', $.x)")
    assert fn({"x": 1}, {}, {}) == "{} 1 it's \\"


def test_format_with_variable_and_dynamic_template():
    assert (
        run(
            "States.Format('Hello {}, welcome to {}!', $.FunctionInput.fst, $place)",
            "John",
            variables={"place": "LocalStack"},
        )
        == "Hello John, welcome to LocalStack!"
    )
    assert run("States.Format($.FunctionInput.fst, 2)", "n={}") == "n=2"
    with pytest.raises(StatesError) as info:
        run("States.Format($.FunctionInput.fst, 2)", "no placeholder")
    assert info.value.error == INTRINSIC_FAILURE


@pytest.mark.parametrize(
    "value",
    [" ", "", "HelloWorld", '{"Arg1": 1, "Arg2": []}', 1, 1.1, None, {"Arg1": 1, "Arg2": []}],
)
def test_array(value):
    assert run(two("Array"), value, value) == [value, value]


def test_array_literals():
    fn = compile_intrinsic("States.Array('a', 1, -2.5, null, true, false, 'it\\'s')")
    assert fn(None, None, {}) == ["a", 1, -2.5, None, True, False, "it's"]
    assert compile_intrinsic("States.Array()")(None, None, {}) == []


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("arr", [[], [0], [0, 1], [0, 1, 2], [0, 1, 2, 3]])
def test_array_partition(arr, size):
    expected = [arr[i : i + size] for i in range(0, len(arr), size)]
    assert run(two("ArrayPartition"), arr, size) == expected


def test_array_partition_aws_examples():
    assert run(two("ArrayPartition"), [0, 1, 2, 3], 3) == [[0, 1, 2], [3]]
    assert run(two("ArrayPartition"), [], 1) == []


@pytest.mark.parametrize(
    "arr,value,expected",
    [
        ([[1, 2, 3], 2], [1, 2, 3], True),
        ([[1, 2, 3], 2], None, False),
        ([], 1, False),
        ([], [], False),
        ([], None, False),
        ([True, False], False, True),
        ([True, False], True, True),
        ([{"1": 2, "2": []}], [], False),
        ([{"1": 2, "2": []}], {"1": 2, "2": []}, True),
        ([1, 2, 3, 4, 5, 6], 5, True),
        ([1], True, False),
        ([1.0], 1, True),
    ],
)
def test_array_contains(arr, value, expected):
    assert run(two("ArrayContains"), arr, value) is expected


def test_array_range():
    assert compile_intrinsic("States.ArrayRange(1, 10, 2)")(None, None, {}) == [1, 3, 5, 7, 9]
    assert compile_intrinsic("States.ArrayRange(0, 3, 1)")(None, None, {}) == [0, 1, 2, 3]
    assert compile_intrinsic("States.ArrayRange(5, 1, -2)")(None, None, {}) == [5, 3, 1]
    assert len(compile_intrinsic("States.ArrayRange(1, 1000, 1)")(None, None, {})) == 1000


@pytest.mark.parametrize(
    "expr",
    ["States.ArrayRange(0, 1000, 1)", "States.ArrayRange(0, 3, 0)", "States.ArrayRange(0.5, 3, 1)"],
)
def test_array_range_failures(expr):
    with pytest.raises(StatesError) as info:
        compile_intrinsic(expr)(None, None, {})
    assert info.value.error == INTRINSIC_FAILURE


def test_array_get_item_length_unique():
    arr = [1, 2, 3, 4, 5, 6]
    assert run(two("ArrayGetItem"), arr, 2) == 3
    assert run("States.ArrayLength($.FunctionInput.fst)", arr) == 6
    assert run("States.ArrayUnique($.FunctionInput.fst)", [1, 2, 2, 3, 3, 4]) == [1, 2, 3, 4]
    assert run("States.ArrayUnique($.FunctionInput.fst)", [1, True, 1.0, {"a": 1}, {"a": 1}]) == [
        1,
        True,
        {"a": 1},
    ]
    with pytest.raises(StatesError):
        run(two("ArrayGetItem"), arr, 6)
    with pytest.raises(StatesError):
        run("States.ArrayLength($.FunctionInput.fst)", "abc")


def test_nested_calls_on_state_machine_name():
    ctx = {"StateMachine": {"Name": "first-middle-last"}}
    first = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)"
    last = (
        "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
        "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))"
    )
    assert run(first, context=ctx) == "first"
    assert run(last, context=ctx) == "last"


def test_base64():
    assert run("States.Base64Encode($.FunctionInput.fst)", "Hello World") == "SGVsbG8gV29ybGQ="
    assert run("States.Base64Decode($.FunctionInput.fst)", "SGVsbG8gV29ybGQ=") == "Hello World"
    assert run("States.Base64Encode($.FunctionInput.fst)", "héllo") == "aMOpbGxv"
    for bad_expr, bad in [
        ("States.Base64Decode($.FunctionInput.fst)", "@@@"),
        ("States.Base64Encode($.FunctionInput.fst)", "x" * 10001),
        ("States.Base64Encode($.FunctionInput.fst)", 5),
    ]:
        with pytest.raises(StatesError) as info:
            run(bad_expr, bad)
        assert info.value.error == INTRINSIC_FAILURE


@pytest.mark.parametrize(
    "alg,digest",
    [
        ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
        ("SHA-1", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        ("SHA-256", "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"),
        (
            "SHA-384",
            "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562",
        ),
        (
            "SHA-512",
            "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4",
        ),
    ],
)
def test_hash(alg, digest):
    assert run(two("Hash"), "input data", alg) == digest


def test_hash_unknown_algorithm_at_runtime():
    with pytest.raises(StatesError) as info:
        run(two("Hash"), "input data", "SHA-3")
    assert info.value.error == INTRINSIC_FAILURE


def test_json_merge_is_shallow():
    fst = {"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}
    snd = {"a": {"a3": 1, "a4": 2}, "c": 3, "d": 4}
    out = run("States.JsonMerge($.FunctionInput.fst, $.FunctionInput.snd, false)", fst, snd)
    assert out == {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3, "d": 4}
    assert fst == {"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}
    with pytest.raises(StatesError):
        run("States.JsonMerge($.FunctionInput.fst, $.FunctionInput.snd, false)", fst, [1])
    with pytest.raises(StatesError):
        run(
            "States.JsonMerge($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)",
            fst,
            snd,
            True,
        )


def test_json_merge_with_escaped_literal():
    expr = (
        'States.JsonMerge(States.StringToJson(\'{"constant_in_literal": "false"}\'), '
        "$$.Execution.Input.input_field, false)"
    )
    ctx = {"Execution": {"Input": {"input_field": {"constant_input_field": "constant_value"}}}}
    assert run(expr, context=ctx) == {
        "constant_input_field": "constant_value",
        "constant_in_literal": "false",
    }


def test_string_to_json_and_back():
    assert run("States.StringToJson($.FunctionInput.fst)", '{"key":"value"}') == {"key": "value"}
    assert (
        run("States.JsonToString($.FunctionInput.fst)", {"test": "object"}) == '{"test":"object"}'
    )
    assert run("States.JsonToString($.FunctionInput.fst)", [1, "é"]) == '[1,"é"]'
    with pytest.raises(StatesError) as info:
        run("States.StringToJson($.FunctionInput.fst)", "{not json")
    assert info.value.error == INTRINSIC_FAILURE


@pytest.mark.parametrize(
    "a,b,expected",
    [
        (-0.5, 0.5, 1),
        (-0.5, 0, 0),
        (-1.49, -1.5, -2),
        (-1.49, 0, -1),
        (-1.5, -1.51, -3),
        (-1.5, 0, -1),
        (-1.51, 0, -2),
        (-2.5, 0, -2),
        (-3.5, 0, -3),
        (-9, 3, -6),
        (0.5, 0, 1),
        (1.49, -1.49, 0),
        (1.49, 0, 1),
        (1.49, 1.5, 3),
        (1.5, 0, 2),
        (1.5, 1.51, 4),
        (1.51, 0, 2),
        (2.5, 0, 3),
        (3.5, 0, 4),
        (5, 3, 8),
    ],
)
def test_math_add_rounds_each_operand_half_up(a, b, expected):
    result = run(two("MathAdd"), a, b)
    assert result == expected and type(result) is int


def test_math_add_rejects_non_numbers():
    for bad in ["1", True, None]:
        with pytest.raises(StatesError):
            run(two("MathAdd"), bad, 1)


@pytest.mark.parametrize("start,end", [(-99999, -9999), (12.5, 44.51), (9999, 99999), (0, 999)])
def test_math_random_in_range(start, end):
    for _ in range(20):
        n = run(two("MathRandom"), start, end)
        assert type(n) is int and round(start) <= n <= round(end)


def test_math_random_seeded_is_repeatable():
    expr = "States.MathRandom($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)"
    assert run(expr, 0, 999, 3) == run(expr, 0, 999, 3)


def test_string_split_like_java_tokenizer():
    inp = "Value1,Value2,Value3\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n"
    assert run(two("StringSplit"), inp, ",") == [
        "Value1",
        "Value2",
        "Value3\nValue4",
        "Value5",
        "Value6\n",
        "\ntrue",
        "1",
        "'HelloWorld'\nNull",
        "None",
        "\n   \n",
    ]
    assert compile_intrinsic("States.StringSplit('Hello\nWorld', '\n')")(None, None, {}) == [
        "Hello",
        "World",
    ]
    assert run(two("StringSplit"), "a,b;c", ",;") == ["a", "b", "c"]
    assert run(two("StringSplit"), "a,b,c,d,e", ",") == ["a", "b", "c", "d", "e"]


def test_uuid():
    a = compile_intrinsic("States.UUID()")(None, None, {})
    b = compile_intrinsic("States.UUID()")(None, None, {})
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", a)
    assert a != b


def test_missing_path_argument_raises_path_not_found():
    with pytest.raises(PathNotFound) as info:
        compile_intrinsic("States.Array($.nope)")({"a": 1}, {}, {})
    assert info.value.expr == "$.nope"


def test_compile_rejects_bad_syntax_and_caches():
    with pytest.raises(ValueError):
        compile_intrinsic("States.Nope()")
    assert compile_intrinsic("States.UUID()") is compile_intrinsic("States.UUID()")


def test_concurrent_evaluation():
    fn = compile_intrinsic("States.Format('{}-{}', $.a, States.MathAdd($.a, 1))")
    bad = []

    def work(n):
        for _ in range(200):
            if fn({"a": n}, {}, {}) != f"{n}-{n + 1}":
                bad.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
