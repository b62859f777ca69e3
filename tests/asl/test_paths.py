import threading

import pytest

from stepline.asl.errors import RESULT_PATH_MATCH_FAILURE, StatesError
from stepline.asl.paths import (
    PathNotFound,
    compile_path,
    compile_result_path,
    path_syntax_error,
    reference_path_syntax_error,
    result_path_syntax_error,
)

DOC = {
    "a": {"b": 1, "c": [10, {"d": "x"}, 30]},
    "x y": 2,
    "items": [{"p": 1}, {"p": 5}, {"p": 9}],
    "n": None,
}


@pytest.mark.parametrize(
    "expr",
    [
        "$",
        "$$",
        "$.a",
        "$.a.b",
        "$.a.c[0]",
        "$.a.c[1].d",
        "$['x y']",
        '$["x y"]',
        "$$.Execution.Input",
        "$myVar",
        "$myVar.a[0]",
        "$_v1",
        "$.items[*].p",
        "$..p",
        "$.items[?(@.p > 1)]",
        "$.items[0:2]",
        "$.items[0,2]",
        "$.a-b",
    ],
)
def test_valid_paths(expr):
    assert path_syntax_error(expr) is None


@pytest.mark.parametrize("expr", ["a", "", "$.", "$.a[", "$.a b", "$[", 5, None])
def test_invalid_paths(expr):
    assert path_syntax_error(expr)


@pytest.mark.parametrize(
    "expr", ["$", "$.a.b", "$.a[0].b", "$['x y']", "$$.Map.Item.Value", "$v.a"]
)
def test_reference_paths(expr):
    assert reference_path_syntax_error(expr) is None


@pytest.mark.parametrize(
    "expr", ["$.a[*]", "$..a", "$.a[?(@.x > 1)]", "$.a[1:3]", "$.a[0,1]", "$.*"]
)
def test_not_reference_paths(expr):
    assert path_syntax_error(expr) is None
    assert "not a valid reference path" in reference_path_syntax_error(expr)


def test_reference_path_reports_plain_syntax_errors():
    assert reference_path_syntax_error("x") == "The path 'x' must start with '$'"


def test_result_path_must_target_input():
    assert result_path_syntax_error("$.a") is None
    assert result_path_syntax_error("$") is None
    assert result_path_syntax_error(None) is None
    assert result_path_syntax_error("$$.Execution") is not None
    assert result_path_syntax_error("$var.a") is not None
    assert result_path_syntax_error("$.a[*]") is not None


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("$", DOC),
        ("$.a.b", 1),
        ("$.a.c[0]", 10),
        ("$.a.c[1].d", "x"),
        ("$['x y']", 2),
        ("$.n", None),
        ("$.items[*].p", [1, 5, 9]),
        ("$..p", [1, 5, 9]),
        ("$.items[?(@.p > 1)].p", [5, 9]),
        ("$.items[0:2].p", [1, 5]),
        ("$.items[0,2].p", [1, 9]),
        ("$.nothing[*]", []),
    ],
)
def test_get_input(expr, expected):
    assert compile_path(expr).get(DOC, {}, {}) == expected


def test_roots():
    ctx = {"Execution": {"Input": {"k": "v"}}, "Map": {"Item": {"Index": 3}}}
    assert compile_path("$$").get(None, ctx, {}) is ctx
    assert compile_path("$$.Execution.Input.k").get(None, ctx, {}) == "v"
    assert compile_path("$$.Map.Item.Index").get(None, ctx, {}) == 3
    variables = {"myVar": {"a": [7]}, "flag": False}
    assert compile_path("$myVar.a[0]").get(None, ctx, variables) == 7
    assert compile_path("$flag").get(None, ctx, variables) is False
    assert compile_path("$myVar.a[*]").get(None, ctx, variables) == [7]


@pytest.mark.parametrize(
    "expr", ["$.missing", "$.a.b.c", "$.a.c[3]", "$.a[0]", "$.a.c.d", "$.n.x", "$undefinedVar"]
)
def test_missing_raises(expr):
    with pytest.raises(PathNotFound) as info:
        compile_path(expr).get(DOC, {}, {})
    assert info.value.expr == expr


def test_compile_is_cached_and_rejects_bad_syntax():
    assert compile_path("$.a.b") is compile_path("$.a.b")
    with pytest.raises(ValueError):
        compile_path("$.a[")


def test_index_does_not_apply_to_strings_or_dicts():
    with pytest.raises(PathNotFound):
        compile_path("$[0]").get("abc")
    with pytest.raises(PathNotFound):
        compile_path("$[0]").get({"0": 1})


class TestResultPath:
    def test_null_discards_result(self):
        inp = {"a": 1}
        assert compile_result_path(None).apply(inp, {"r": 1}) is inp

    def test_root_replaces(self):
        assert compile_result_path("$").apply({"a": 1}, [1]) == [1]

    def test_sets_and_creates_intermediates_without_mutating(self):
        inp = {"a": {"keep": 1}, "other": {"big": [1, 2]}}
        out = compile_result_path("$.a.b.c").apply(inp, 5)
        assert out == {"a": {"keep": 1, "b": {"c": 5}}, "other": {"big": [1, 2]}}
        assert inp == {"a": {"keep": 1}, "other": {"big": [1, 2]}}
        assert out["other"] is inp["other"]  # only the spine is copied

    def test_overwrites_existing(self):
        assert compile_result_path("$.a").apply({"a": {"x": 1}}, 2) == {"a": 2}

    def test_array_index(self):
        inp = {"a": [1, 2, 3]}
        assert compile_result_path("$.a[1]").apply(inp, "x") == {"a": [1, "x", 3]}
        assert inp == {"a": [1, 2, 3]}

    @pytest.mark.parametrize(
        "expr,inp",
        [("$.a.b", {"a": "str"}), ("$.a", "plain"), ("$.a", [1]), ("$.a[5]", {"a": [1]})],
    )
    def test_failure(self, expr, inp):
        with pytest.raises(StatesError) as info:
            compile_result_path(expr).apply(inp, 1)
        assert info.value.error == RESULT_PATH_MATCH_FAILURE
        assert info.value.cause.startswith(f"Unable to apply ReferencePath {expr} to input ")

    def test_rejects_context_and_wildcards(self):
        for bad in ["$$.x", "$v", "$.a[*]"]:
            with pytest.raises(ValueError):
                compile_result_path(bad)


def test_get_is_thread_safe():
    path = compile_path("$.items[?(@.p > 1)].p")
    simple = compile_path("$.a.c[1].d")
    errors = []

    def work():
        for _ in range(200):
            if path.get(DOC) != [5, 9] or simple.get(DOC) != "x":
                errors.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
