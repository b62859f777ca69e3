"""A state type is one module of :mod:`stepline.asl.states` plus one line in ``STATE_TYPES``.

What keeps that true: every state class of the package is registered and carries its facts
(fields, whether it ends its graph, its nested graphs), the code that handles every type --
the validator, the interpreter and the views -- names none of them, and a type registered
at run time validates, runs and is drawn with nothing else added.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

from stepline.asl import Problem, execute, validate
from stepline.asl.states import STATE_TYPES, State
from stepline.asl.states.fields import COMMON, FLOW, IO_PATHS, Fields, f, ptr
from stepline.asl.states.parallel import ParallelState
from stepline.views import graph_model, to_text

SRC = Path(inspect.getfile(State)).resolve().parents[2]
STATES = SRC / "asl" / "states"


def test_every_state_class_is_registered_under_its_type() -> None:
    found = []
    for path in sorted(STATES.glob("*.py")):
        if path.stem in ("__init__", "base", "fields"):
            continue
        module = importlib.import_module(f"stepline.asl.states.{path.stem}")
        classes = [
            cls
            for cls in vars(module).values()
            if inspect.isclass(cls) and issubclass(cls, State) and cls.__module__ == module.__name__
        ]
        assert classes, f"{path.name} defines no state type"
        found += classes
    assert sorted(c.type for c in found) == sorted(STATE_TYPES)
    for cls in found:
        assert STATE_TYPES[cls.type] is cls


def test_each_type_carries_its_facts() -> None:
    for name, cls in STATE_TYPES.items():
        assert cls.type == name
        assert isinstance(cls.fields, Fields), name
        assert {"Type", "Comment", "QueryLanguage"} <= cls.fields.both, name
        assert cls.nesting in (None, "branches", "iteration"), name
        # A state that ends its graph by itself takes no Next/End; one that holds nested
        # graphs names the field(s) they are in.
        assert not (cls.terminal and cls.fields.transitions), name
        assert set(cls.field_checks) <= cls.fields.both | cls.fields.jsonpath | cls.fields.jsonata


def test_the_code_that_handles_every_type_names_none() -> None:
    names = set(STATE_TYPES)
    shared = sorted((SRC / "asl").glob("*.py")) + sorted((SRC / "views").glob("*.py"))
    assert len(shared) > 10
    for path in shared:
        literals = {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not literals & names, f"{path.relative_to(SRC)} names a state type"


def _message(v: Any, value: Any, path: str, lang: str) -> None:
    if not isinstance(value, str):
        v.add(path, "must be a string")


class _EchoState(State):
    """A made-up type: its output is its Message and its input."""

    type = "Echo"
    fields = Fields(
        both=COMMON | FLOW | f("Message"),
        jsonpath=IO_PATHS | f("ResultPath"),
        jsonata=f("Output"),
        required=("Message",),
        transitions=True,
    )
    field_checks = {"Message": _message}

    @classmethod
    def check(cls, v: Any, state: dict, path: str, lang: str, edges: list) -> None:
        if state.get("Message") == "":
            v.add(ptr(path, "Message"), "must not be empty")

    def run(self, fiber: Any, raw_input: Any) -> Any:
        output = {"message": self.spec["Message"], "input": self.effective_input(fiber, raw_input)}
        return self.finish(fiber, raw_input, output)
        yield  # noqa: B901 - a state's run is a generator


class _TerminalEcho(_EchoState):
    """A made-up type that ends its graph by itself, as Succeed does."""

    type = "EchoEnd"
    fields = Fields(both=COMMON | f("Message"), jsonpath=IO_PATHS, jsonata=f("Output"))
    terminal = True

    def run(self, fiber: Any, raw_input: Any) -> Any:
        return super().run(fiber, raw_input)


def test_a_type_registered_in_one_line_validates_runs_and_is_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    definition = {
        "StartAt": "Say",
        "States": {
            "Say": {"Type": "Echo", "Message": "hi", "ResultPath": "$.said", "Next": "Last"},
            "Last": {"Type": "EchoEnd", "Message": "bye"},
        },
    }
    assert [str(p) for p in validate(definition)][0].startswith("/States/Say/Type: unknown")

    monkeypatch.setitem(STATE_TYPES, "Echo", _EchoState)
    monkeypatch.setitem(STATE_TYPES, "EchoEnd", _TerminalEcho)
    assert validate(definition) == []
    bad = {"StartAt": "A", "States": {"A": {"Type": "Echo", "Message": 1, "Seconds": 2}}}
    assert [str(p) for p in validate(bad)] == [
        "/States/A/Message: must be a string",
        '/States/A/Seconds: unknown field "Seconds" for a Echo state',
        '/States/A: needs "Next" or "End": true',
        '/States: no terminal state: needs a Succeed or Fail state or "End": true',
    ]
    empty = {"StartAt": "A", "States": {"A": {"Type": "Echo", "Message": "", "End": True}}}
    assert [str(p) for p in validate(empty)] == ["/States/A/Message: must not be empty"]

    result = execute(definition, {"x": 1})
    assert result.status == "SUCCEEDED"
    assert result.output == {
        "message": "bye",
        "input": {"x": 1, "said": {"message": "hi", "input": {"x": 1}}},
    }
    assert [e["type"] for e in result.events][1:3] == ["EchoStateEntered", "EchoStateExited"]

    assert to_text(definition) == "Say (Echo) -> Last\nLast (EchoEnd)"
    edges = {(e["source"], e["target"]) for e in graph_model(definition)["edges"]}
    assert ("Last", "__end__") in edges


class _BothState(ParallelState):
    """A made-up group type: a Parallel under another name."""

    type = "Both"


def test_a_registered_group_type_is_drawn_as_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STATE_TYPES, "Both", _BothState)
    branch = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    definition = {
        "StartAt": "B",
        "States": {"B": {"Type": "Both", "Branches": [branch] * 2, "End": True}},
    }
    assert validate(definition) == [
        Problem(
            "/States/B/Branches/1/States/P",
            'duplicate state name "P" (also at /States/B/Branches/0/States/P)',
        )
    ]
    model = graph_model(definition)
    assert [g["name"] for g in model["groups"]] == ["B", "Branch 1", "Branch 2"]
    assert to_text(definition).splitlines()[1] == "  branch 1:"
