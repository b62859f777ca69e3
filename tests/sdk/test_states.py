"""Authoring: field naming, structure rules, placeholders, and the features beyond the DS SDK.

Rendering tests pin the exact ASL; behaviour tests run the compiled definition with
``stepline.asl.execute`` so a rendering that looks right but means something else fails.
"""

from __future__ import annotations

import pytest

from stepline.asl import execute, validate
from stepline.integrations import register_function
from stepline.steps import (
    Catch,
    Chain,
    Choice,
    ChoiceRule,
    DuplicateStatesInChain,
    ExecutionInput,
    Fail,
    Graph,
    LambdaStep,
    Map,
    MapItemIndex,
    MapItemValue,
    Parallel,
    Pass,
    Retry,
    States,
    Succeed,
    Task,
    Variable,
    Wait,
    jsonata,
)


def run(branch, input=None, **graph):
    definition = Graph(branch, **graph).to_dict()
    assert validate(definition) == []
    result = execute(definition, input, virtual_time=True)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output


def test_snake_case_fields_become_pascal_case_and_unknown_ones_are_refused():
    task = Task(
        "T",
        resource="arn:aws:states:::lambda:invoke",
        timeout_seconds=5,
        heartbeat_seconds=2,
        input_path="$.a",
        result_path=None,
        result_selector={"x.$": "$.y"},
    )
    assert task.to_dict() == {
        "Resource": "arn:aws:states:::lambda:invoke",
        "TimeoutSeconds": 5,
        "HeartbeatSeconds": 2,
        "InputPath": "$.a",
        "ResultPath": None,
        "ResultSelector": {"x.$": "$.y"},
        "Type": "Task",
        "End": True,
    }
    with pytest.raises(TypeError, match="Field 'seconds' is not supported"):
        Pass("P", seconds=1)
    with pytest.raises(ValueError, match="Only one of 'timeout_seconds'"):
        Task("T", resource="r", timeout_seconds=1, timeout_seconds_path="$.t")


def test_wait_needs_exactly_one_duration_and_terminal_states_refuse_next():
    with pytest.raises(ValueError, match="exactly one"):
        Wait("W")
    with pytest.raises(ValueError, match="exactly one"):
        Wait("W", seconds=1, timestamp="2024-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="does not support method `next`"):
        Succeed("S").next(Pass("P"))
    with pytest.raises(ValueError, match="does not support retry"):
        Pass("P").add_retry(Retry(error_equals=["States.ALL"]))


def test_chain_links_states_and_refuses_duplicates():
    a, b, c = Pass("A"), Pass("B"), Pass("C")
    chain = Chain([a, Chain([b, c])])
    assert [s.state_id for s in chain] == ["A", "B", "C"]
    assert a.next_step is b and b.next_step is c
    with pytest.raises(DuplicateStatesInChain):
        Chain([a, a])
    with pytest.raises(ValueError, match="duplicate state id 'A'"):
        Graph(Chain([Pass("A"), Pass("A")]))


def test_chaining_a_choice_sets_its_default():
    choice = Choice("C")
    choice.add_choice(ChoiceRule.NumericGreaterThan("$.n", 1), Pass("Big"))
    Chain([choice, Pass("Small")])
    rendered = Graph(choice).to_dict()["States"]["C"]
    assert rendered["Default"] == "Small"
    assert rendered["Choices"] == [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}]
    assert run(choice, {"n": 0}) == {"n": 0}


def test_choice_rules_check_value_types_and_accept_placeholders():
    with pytest.raises(ValueError, match="Numeric"):
        ChoiceRule.NumericEquals("$.n", "1")
    with pytest.raises(ValueError, match="Boolean"):
        ChoiceRule.BooleanEquals("$.b", 1)
    with pytest.raises(ValueError, match="start with '\\$'"):
        ChoiceRule.StringEquals("name", "x")
    previous = Pass("Prev")
    rule = ChoiceRule.StringEqualsPath(previous.output()["a"], ExecutionInput()["b"])
    assert rule.to_dict() == {
        "Variable": "$['a']",
        "StringEqualsPath": "$$.Execution.Input['b']",
    }


def test_execution_input_schema_freezes_keys_and_validates_input():
    ei = ExecutionInput(schema={"Job": str, "Params": {"lr": float}})
    assert ei["Params"]["lr"].to_jsonpath() == "$$.Execution.Input['Params']['lr']"
    with pytest.raises(ValueError, match="does not conform to schema"):
        ei["Typo"]
    assert ei.validate({"Job": "j", "Params": {"lr": 0.1}}).valid
    result = ei.validate({"Job": 3})
    assert not result.valid
    assert result.keys_missing == ["Params/lr"]
    assert result.keys_type_mismatch == [("Job", str, int)]


def test_nested_placeholders_in_lists_of_dicts_and_bare_lists():
    ei = ExecutionInput()
    p = Pass("P", parameters={"rows": [{"id": ei["id"]}], "pair": [ei["a"], "lit", 3]})
    assert p.to_dict()["Parameters"] == {
        "rows": [{"id.$": "$$.Execution.Input['id']"}],
        "pair.$": "States.Array($$.Execution.Input['a'], 'lit', 3)",
    }
    assert run(p, {"id": 7, "a": "x"}) == {"rows": [{"id": 7}], "pair": ["x", "lit", 3]}


def test_intrinsic_helpers_quote_arguments_and_evaluate():
    ei = ExecutionInput()
    p = Pass(
        "P",
        parameters={
            "name": States.Format("job-{}-it's {braces}", ei["id"]),
            "parts": States.StringSplit(ei["csv"], ","),
            "len": States.ArrayLength(States.Array(1, 2, None, True)),
            "sum": States.MathAdd(ei["n"], -1),
        },
    )
    params = p.to_dict()["Parameters"]
    assert params["name.$"] == (
        "States.Format('job-{}-it\\'s \\{braces\\}', $$.Execution.Input['id'])"
    )
    assert run(p, {"id": 5, "csv": "a,b", "n": 10}) == {
        "name": "job-5-it's {braces}",
        "parts": ["a", "b"],
        "len": 4,
        "sum": 9,
    }


def test_result_selector_assign_and_variables():
    register_function("sdk_score", lambda event: {"score": event["x"] * 2, "noise": 1})
    score = LambdaStep(
        "Score",
        parameters={"FunctionName": "sdk_score", "Payload": {"x.$": "$.x"}},
        result_selector={"score.$": "$.Payload.score"},
        assign={"best": {"score.$": "$.score"}},
    )
    use = Pass("Use", parameters={"from_variable": Variable("best")["score"]})
    assert use.to_dict()["Parameters"] == {"from_variable.$": "$best.score"}
    assert score.to_dict()["Assign"] == {"best": {"score.$": "$.score"}}
    assert run(Chain([score, use]), {"x": 4}) == {"from_variable": 8}


def test_lambda_step_with_a_python_function():
    def sdk_add_one(event):
        return event["n"] + 1

    step = LambdaStep("Add", function=sdk_add_one, result_selector={"n.$": "$.Payload"})
    assert step.to_dict()["Parameters"] == {"FunctionName": "sdk_add_one", "Payload.$": "$"}
    assert run(step, {"n": 1}) == {"n": 2}


def test_retry_and_catch_with_newer_fields():
    step = Task("T", resource="arn:aws:states:::lambda:invoke", parameters={"FunctionName": "x"})
    step.add_retry(
        Retry(
            error_equals=["States.ALL"], max_attempts=2, max_delay_seconds=5, jitter_strategy="FULL"
        )
    )
    step.add_catch(Catch(error_equals=["States.ALL"], next_step=Fail("F"), result_path="$.err"))
    rendered = Graph(step).to_dict()
    assert rendered["States"]["T"]["Retry"] == [
        {
            "ErrorEquals": ["States.ALL"],
            "MaxAttempts": 2,
            "MaxDelaySeconds": 5,
            "JitterStrategy": "FULL",
        }
    ]
    assert rendered["States"]["T"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "F"}
    ]
    assert set(rendered["States"]) == {"T", "F"}
    assert validate(rendered) == []


def test_parallel_and_inline_map_run():
    par = Parallel("Par")
    par.add_branch(Pass("A", result=1))
    par.add_branch(Chain([Pass("B1", result=2), Pass("B2")]))
    ei = ExecutionInput()
    per_item = Map(
        "Each",
        iterator=Pass("Item", parameters={"v.$": "$.v", "run": ei["run"]}),
        items_path="$.items",
        result_path="$.out",
    )
    out = run(
        Chain([per_item, Pass("Keep", input_path="$.out")]),
        {"items": [{"v": 1}, {"v": 2}], "run": "r1"},
    )
    assert out == [{"v": 1, "run": "r1"}, {"v": 2, "run": "r1"}]
    assert run(par) == [1, 2]


def test_map_item_selector_and_distributed_map_render_item_processor():
    body = Pass("Body")
    mapped = Map(
        "Shards",
        iterator=body,
        item_selector={
            "value": MapItemValue(),
            "index": MapItemIndex(),
            "key": MapItemValue()["k"],
        },
        items_path="$.items",
    )
    rendered = mapped.to_dict()
    assert rendered["ItemSelector"] == {
        "value.$": "$$.Map.Item.Value",
        "index.$": "$$.Map.Item.Index",
        "key.$": "$$.Map.Item.Value['k']",
    }
    assert "Iterator" in rendered
    assert run(mapped, {"items": [{"k": "a"}]}) == [{"value": {"k": "a"}, "index": 0, "key": "a"}]

    distributed = Map(
        "Big",
        iterator=Pass("Each"),
        mode="DISTRIBUTED",
        execution_type="STANDARD",
        item_reader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSONL"},
            "Parameters": {"Bucket": "data", "Key": ExecutionInput()["key"]},
        },
        result_writer={
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "out", "Prefix": "results"},
        },
        max_concurrency=100,
        tolerated_failure_percentage=5,
        label="big",
    )
    out = Graph(distributed).to_dict()
    state = out["States"]["Big"]
    assert state["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert state["ItemReader"]["Parameters"]["Key.$"] == "$$.Execution.Input['key']"
    assert "Iterator" not in state
    assert validate(out) == []


def test_jsonata_mode_states():
    ei = ExecutionInput()
    start = Pass("Start", output={"n": ei["n"], "doubled": jsonata("$states.input.n * 2")})
    choice = Choice("Big?")
    choice.add_choice(
        ChoiceRule.Condition("$states.input.doubled > 5"), Succeed("Yes"), output={"big": True}
    )
    choice.default_choice(Fail("No", error="Small"))
    chain = Chain([start, choice])
    definition = Graph(chain, query_language="JSONata").to_dict()
    assert definition["QueryLanguage"] == "JSONata"
    assert definition["States"]["Start"]["Output"] == {
        "n": "{% $states.context.Execution.Input.n %}",
        "doubled": "{% $states.input.n * 2 %}",
    }
    assert definition["States"]["Big?"]["Choices"][0]["Condition"] == (
        "{% $states.input.doubled > 5 %}"
    )
    assert run(chain, {"n": 3}, query_language="JSONata") == {"big": True}
    with pytest.raises(TypeError, match="JSONPath-mode"):
        Graph(Pass("P", output={"x": States.UUID()}), query_language="JSONata").to_dict()


def test_per_state_query_language_and_arguments():
    task = Task(
        "Call",
        resource="arn:aws:states:::lambda:invoke",
        query_language="JSONata",
        arguments={"FunctionName": "f", "Payload": {"v": ExecutionInput()["v"]}},
        assign={"seen": "{% $states.result %}"},
    )
    rendered = task.to_dict()
    assert rendered["QueryLanguage"] == "JSONata"
    assert rendered["Arguments"]["Payload"] == {"v": "{% $states.context.Execution.Input.v %}"}
    assert validate(Graph(task).to_dict()) == []


def test_fail_paths_and_wait_paths_accept_placeholders():
    prev = Pass("Prev")
    fail = Fail("F", error_path=prev.output()["code"], cause_path="$.why")
    wait = Wait("W", seconds_path=prev.output()["delay"])
    assert fail.to_dict() == {"ErrorPath": "$['code']", "CausePath": "$.why", "Type": "Fail"}
    assert wait.to_dict()["SecondsPath"] == "$['delay']"
