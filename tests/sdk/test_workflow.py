"""Workflow and Execution over the durable engine (an isolated ``$STEPLINE_HOME``)."""

from __future__ import annotations

import json

import pytest

from stepline.engine import Engine
from stepline.steps import Chain, ExecutionInput, Fail, LambdaStep, Pass, Wait
from stepline.workflow import ExecutionStatus, Workflow


def sdk_greet(event):
    return f"hello {event['who']}"


@pytest.fixture
def workflow(home):
    ei = ExecutionInput(schema={"who": str})
    greet = LambdaStep(
        "Greet",
        function=sdk_greet,
        parameters={"Payload": {"who": ei["who"]}},
        result_selector={"greeting.$": "$.Payload"},
    )
    done = Pass("Done", parameters={"message.$": "$.greeting"})
    return Workflow(
        "sdk-greeter",
        Chain([greet, done]),
        role="arn:aws:iam::0:role/r",
        execution_input=ei,
        client=Engine(home),
    )


def test_create_execute_and_get_output(workflow, home):
    arn = workflow.create()
    assert arn.endswith(":stateMachine:sdk-greeter")
    stored = Engine(home).describe_state_machine("sdk-greeter")
    assert json.loads(stored["definition"]) == workflow.to_dict()
    execution = workflow.execute(name="first", inputs={"who": "ada"})
    assert execution.get_output(wait=True) == {"message": "hello ada"}
    assert execution.describe()["status"] == "SUCCEEDED"
    assert execution.get_input() == {"who": "ada"}
    events = execution.list_events()
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert execution.list_events(reverse_order=True, max_items=1)[0]["type"] == (
        "ExecutionSucceeded"
    )
    listed = workflow.list_executions(status_filter=ExecutionStatus.Succeeded)
    assert [e.name for e in listed] == ["first"]
    assert workflow.list_executions(status_filter=ExecutionStatus.Failed) == []


def test_execute_checks_the_input_schema_and_needs_create(workflow):
    with pytest.raises(ValueError, match="create"):
        workflow.execute(inputs={"who": "x"})
    workflow.create()
    with pytest.raises(ValueError, match="missing \\['who'\\]"):
        workflow.execute(inputs={})


def test_execute_is_non_blocking_and_stop_aborts(home):
    workflow = Workflow("sdk-slow", Wait("Long", seconds=3600), client=Engine(home))
    workflow.create()
    execution = workflow.execute()
    assert execution.status == "RUNNING"
    execution.stop(cause="enough", error="Stopped")
    described = execution.wait(timeout=10)
    assert described["status"] == "ABORTED"
    assert execution.get_output() is None


def test_failure_render_progress_and_graph(home):
    workflow = Workflow(
        "sdk-fails", Chain([Pass("Prep"), Fail("Boom", error="E", cause="c")]), client=Engine(home)
    )
    workflow.create()
    execution = workflow.execute(wait=True)
    assert execution.describe()["status"] == "FAILED"
    graph = workflow.render_graph()
    assert repr(graph).splitlines() == ["▶ Prep [Pass] -> Boom", "  Boom [Fail] -> (end)"]
    assert graph._repr_html_().startswith("<pre>")
    progress = repr(execution.render_progress())
    assert "✓ ▶ Prep [Pass]" in progress
    assert "✗   Boom [Fail]" in progress


def test_update_attach_and_delete(workflow, home):
    workflow.create()
    workflow.update(Pass("Only", result={"v": 2}))
    engine = Engine(home)
    assert len(engine.state_machine_versions("sdk-greeter")) == 2
    attached = Workflow.attach(workflow.state_machine_arn, client=engine)
    assert attached.to_dict() == {
        "StartAt": "Only",
        "States": {"Only": {"Result": {"v": 2}, "Type": "Pass", "End": True}},
    }
    assert attached.execute(wait=True).get_output() == {"v": 2}
    assert [m["name"] for m in Workflow.list_workflows(client=engine)] == ["sdk-greeter"]
    attached.delete()
    assert Workflow.list_workflows(client=engine) == []


def test_validate_reports_problems_before_create(home):
    workflow = Workflow("sdk-bad", Wait("W", seconds=-1), client=Engine(home))
    assert workflow.validate() != []
