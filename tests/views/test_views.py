"""Notebook and terminal views: the graph model, statuses from real histories, SVG and text."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from stepline import views
from stepline.engine import Engine
from stepline.integrations import register_function

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"


def _machine(fail_branch: bool) -> dict:
    return {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "P"},
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Slow",
                        "States": {
                            "Slow": {"Type": "Task", "Resource": LAMBDA + "views_slow", "End": True}
                        },
                    },
                    {
                        "StartAt": "Bad",
                        "States": {
                            "Bad": {
                                "Type": "Task",
                                "Resource": LAMBDA + "views_bad",
                                **({} if fail_branch else {"Catch": _catch()}),
                                "End": True,
                            },
                            **({} if fail_branch else {"Handle": {"Type": "Pass", "End": True}}),
                        },
                    },
                ],
                "Next": "Z",
            },
            "Z": {"Type": "Succeed"},
        },
    }


def _catch() -> list:
    return [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}]


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("STEPLINE_HOME", str(tmp_path))
    return Engine(tmp_path)


def test_graph_model_groups_and_edges() -> None:
    model = views.graph_model(_machine(fail_branch=False))
    ids = {n["id"]: n for n in model["nodes"]}
    assert ids["P"]["group"] == "P" and ids["P/end"]["kind"] == "join"
    assert ids["P/0/Slow"]["group"] == "P/0" and ids["P/1/Handle"]["group"] == "P/1"
    groups = {g["id"]: g for g in model["groups"]}
    assert groups["P"]["type"] == "Parallel" and groups["P/1"]["parent"] == "P"
    edges = {(e["source"], e["target"], e["kind"]) for e in model["edges"]}
    assert ("__start__", "A", "next") in edges
    assert ("A", "P", "next") in edges
    assert ("P", "P/0/Slow", "branch") in edges
    assert ("P/1/Bad", "P/1/Handle", "catch") in edges
    assert ("P/1/Handle", "P/end", "join") in edges
    assert ("P/end", "Z", "next") in edges and ("Z", "__end__", "next") in edges


def test_statuses_running_then_failed_with_cancelled_sibling(engine: Engine) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(event: Any, context: Any) -> Any:
        started.set()
        while not release.wait(0.02):
            if context.cancelled.is_set():
                raise RuntimeError("cancelled")
        return 1

    def bad(event: Any) -> Any:
        raise ZeroDivisionError("no")

    register_function("views_slow", slow)
    register_function("views_bad", bad)
    engine.create_state_machine("caught", _machine(fail_branch=False))
    engine.start_execution("caught", {}, name="c1", wait=False)
    assert started.wait(10)
    deadline = time.time() + 10
    while True:  # until the caught branch has finished beside the blocked one
        desc = engine.describe_execution("c1")
        running = views.state_statuses(
            _machine(False), engine.get_execution_history("c1"), desc["status"]
        )
        if running.get("P/1/Handle", {}).get("status") == "succeeded":
            break
        assert time.time() < deadline
        time.sleep(0.02)
    assert running["A"]["status"] == "succeeded"
    assert running["P"]["status"] == "running"
    assert running["P/0/Slow"]["status"] == "running"
    assert running["P/1/Bad"]["status"] == "caught"
    assert running["P/1/Bad"]["error"] == "ZeroDivisionError"
    assert "Z" not in running
    release.set()
    done = engine.wait("c1", timeout=10)
    final = views.state_statuses(_machine(False), engine.get_execution_history("c1"), "SUCCEEDED")
    assert done["status"] == "SUCCEEDED"
    assert {k: v["status"] for k, v in final.items() if "/end" not in k} == {
        "A": "succeeded",
        "P": "succeeded",
        "P/0/Slow": "succeeded",
        "P/1/Bad": "caught",
        "P/1/Handle": "succeeded",
        "Z": "succeeded",
    }
    assert final["P"]["durationMs"] >= 0 and final["P/end"]["status"] == "succeeded"

    # Uncaught: the branch fails, the Parallel fails, the slow sibling is cancelled.
    release.clear()
    started.clear()
    engine.create_state_machine("uncaught", _machine(fail_branch=True))
    engine.start_execution("uncaught", {}, name="u1", wait=False)
    assert started.wait(10)
    failed_desc = engine.wait("u1", timeout=10)
    release.set()
    assert failed_desc["status"] == "FAILED"
    st = views.state_statuses(_machine(True), engine.get_execution_history("u1"), "FAILED")
    assert st["P/1/Bad"]["status"] == "failed"
    assert st["P"]["status"] == "failed"
    assert st["P/0/Slow"]["status"] == "cancelled"
    assert "P/1/Handle" not in st and "Z" not in st


def test_redrive_marks_reused_states_cached(engine: Engine) -> None:
    ok = {"now": False}

    def maybe(event: Any) -> Any:
        if not ok["now"]:
            raise RuntimeError("later")
        return 2

    register_function("views_one", lambda event: 1)
    register_function("views_maybe", maybe)
    definition = {
        "StartAt": "One",
        "States": {
            "One": {"Type": "Task", "Resource": LAMBDA + "views_one", "Next": "Two"},
            "Two": {"Type": "Task", "Resource": LAMBDA + "views_maybe", "End": True},
        },
    }
    engine.create_state_machine("redrive", definition)
    engine.start_execution("redrive", {}, name="r1")
    st = views.state_statuses(definition, engine.get_execution_history("r1"), "FAILED")
    assert (st["One"]["status"], st["Two"]["status"]) == ("succeeded", "failed")
    ok["now"] = True
    engine.redrive_execution("r1")
    desc = engine.describe_execution("r1")
    st = views.state_statuses(definition, engine.get_execution_history("r1"), desc["status"])
    assert (st["One"]["status"], st["Two"]["status"]) == ("cached", "succeeded")


def test_render_graph_is_inline_svg_and_text() -> None:
    view = views.render_graph(_machine(False), {"Bad": "caught", "A": "succeeded"})
    bundle = view._repr_mimebundle_()
    html = bundle["text/html"]
    assert html.count("<svg") == 1 and "<script" not in html
    assert not re.search(r"(src|href)=\"https?:", html)
    assert 'data-state="P/1/Bad" data-status="caught"' in html
    assert 'data-state="A" data-status="succeeded"' in html
    assert 'data-state="Z" data-status="not_run"' in html
    assert "caught error" in html  # the legend
    text = bundle["text/plain"]
    assert "! Bad (Task) -> Handle  [caught error]" in text
    assert "· Z (Succeed)  [not run]" in text
    assert "branch 2:" in text and repr(view) == text
    plain = views.render_graph(_machine(False))
    assert "[" not in repr(plain) and "<svg" in plain._repr_svg_()
    with pytest.raises(ValueError, match="unknown status"):
        views.render_graph(_machine(False), {"A": "purple"})
    with pytest.raises(ValueError):
        views.render_graph({"States": {}})


def test_svg_escapes_hostile_state_names() -> None:
    name = '<img src=x onerror="alert(1)">'
    definition = {"StartAt": name, "States": {name: {"Type": "Pass", "End": True}}}
    svg = views.render_graph(definition, {name: "running"}).svg
    assert "<img" not in svg and "&lt;img" in svg


def test_render_progress_from_engine(engine: Engine) -> None:
    register_function("views_one", lambda event: 1)
    definition = {
        "StartAt": "Only",
        "States": {"Only": {"Type": "Task", "Resource": LAMBDA + "views_one", "End": True}},
    }
    engine.create_state_machine("progress", definition)
    desc = engine.start_execution("progress", {}, name="p1")
    view = views.render_progress("p1", engine)
    assert view.title == "p1 · SUCCEEDED"
    assert view.statuses == {"Only": "succeeded"}
    assert view.details["Only"]["output"] == "1"
    assert "✓ Only (Task)" in repr(view)
    assert views.render_progress(desc, engine).statuses == view.statuses


def test_sdk_progress_uses_the_same_reduction(engine: Engine) -> None:
    """The DS SDK-style text view (Execution.render_progress) blames the state that failed,
    not the last one still running: here the Parallel's slow sibling is cancelled."""
    from stepline.sdk.views import progress_view, state_statuses

    release = threading.Event()

    def slow(event: Any, context: Any) -> Any:
        while not release.wait(0.02):
            if context.cancelled.is_set():
                raise RuntimeError("cancelled")
        return 1

    def bad(event: Any) -> Any:
        time.sleep(0.2)  # entered after Slow, so Slow is the state that is still running
        raise ZeroDivisionError("no")

    register_function("views_slow", slow)
    register_function("views_bad", bad)
    engine.create_state_machine("sdk-uncaught", _machine(fail_branch=True))
    engine.start_execution("sdk-uncaught", {}, name="s1", wait=False)
    desc = engine.wait("s1", timeout=10)
    release.set()
    assert desc["status"] == "FAILED"
    history = engine.get_execution_history("s1")
    expected = views.state_statuses(_machine(True), history, "FAILED")
    assert state_statuses(_machine(True), history, "FAILED") == {
        k: v["status"] for k, v in expected.items()
    }
    lines = progress_view(_machine(True), history, execution_status="FAILED").text().splitlines()
    assert lines[0].startswith("✓ ▶ A [Pass]")
    assert next(line for line in lines if "Slow [Task]" in line).startswith("■")
    assert next(line for line in lines if "Bad [Task]" in line).startswith("✗")
    assert next(line for line in lines if "P [Parallel]" in line).startswith("✗")
    assert next(line for line in lines if "Z [Succeed]" in line).startswith(" ")


def test_cache_hits_are_read_from_the_result_field(engine: Engine) -> None:
    """Only the result's own ``StepLineCache.Hit`` (which the SageMaker integration adds, see
    tests/jobs/test_cache.py) marks a step cached, not those words anywhere in the result."""
    register_function("views_claims_cache", lambda event: {"StepLineCache": {"Hit": True}})
    invoke = "arn:aws:states:::lambda:invoke"
    definition = {
        "StartAt": "Claims",
        "States": {
            "Claims": {
                "Type": "Task",
                "Resource": invoke,
                "Parameters": {"FunctionName": "views_claims_cache", "Payload.$": "$"},
                "End": True,
            },
        },
    }
    engine.create_state_machine("cache-words", definition)
    engine.start_execution("cache-words", {}, name="w1")
    history = engine.get_execution_history("w1")
    [done] = [e for e in history if e["type"] == "TaskSucceeded"]
    assert '"StepLineCache"' in done["taskSucceededEventDetails"]["output"]  # in the Payload
    st = views.state_statuses(definition, history, "SUCCEEDED")
    assert st["Claims"]["status"] == "succeeded"
