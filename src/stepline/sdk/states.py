"""The state classes: the Data Science SDK's authoring model, extended to today's ASL.

Same contract as AWS's ``stepfunctions.steps``: snake_case keyword arguments become PascalCase
ASL fields, each class accepts only the fields its state type allows (``TypeError``
otherwise), ``next()`` links states, ``Chain`` links a list, and a state without a successor
gets ``End: true``.  On top of that: ``result_selector``, ``assign`` (variables),
``query_language``/``arguments``/``output`` (JSONata), ``credentials``, Fail's
``error_path``/``cause_path``, retriers' ``max_delay_seconds``/``jitter_strategy``, and Map's
``item_selector``, ``item_reader``, ``result_writer``, ``item_batcher`` and distributed mode.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from stepline.sdk.placeholders import Placeholder, StepInput
from stepline.sdk.render import JSONATA, JSONPATH, find_deferred, path_of, payload

logger = logging.getLogger("stepline.sdk")

#: Fields whose value is a payload template (placeholders make keys dynamic).
PAYLOAD_FIELDS = {
    "parameters",
    "result_selector",
    "item_selector",
    "assign",
    "arguments",
    "output",
    "credentials",
    "item_reader",
    "result_writer",
    "item_batcher",
}
#: Fields that hold a path (a placeholder renders as its JSONPath).
PATH_FIELDS = {
    "input_path",
    "output_path",
    "result_path",
    "items_path",
    "seconds_path",
    "timestamp_path",
    "timeout_seconds_path",
    "heartbeat_seconds_path",
    "error_path",
    "cause_path",
    "max_concurrency_path",
    "tolerated_failure_percentage_path",
    "tolerated_failure_count_path",
}
#: Fields the DS SDK writes even when explicitly ``None`` (ASL's "discard" meaning: null).
NULLABLE = ("result_path", "input_path", "output_path")

_COMMON = ["comment", "query_language"]
_JSONPATH_IO = ["input_path", "output_path"]
_ASSIGN = ["assign", "output"]


def to_pascalcase(text: str) -> str:
    return "".join(part.title() for part in text.split("_"))


class Block:
    """A piece of ASL built from keyword arguments (``fields``)."""

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            if not self.is_field_allowed(key):
                raise TypeError(f"Field '{key}' is not supported.")
        self.fields: dict[str, Any] = dict(kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "fields":
            raise AttributeError(name)
        return self.__dict__.get("fields", {}).get(name)

    def allowed_fields(self) -> list[str]:
        return []

    def is_field_allowed(self, name: str) -> bool:
        return name in self.allowed_fields()

    def _language(self, inherited: str) -> str:
        return self.fields.get("query_language") or inherited

    def _render_fields(self, language: str = JSONPATH) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.fields.items():
            if value is None and key not in NULLABLE:
                continue
            if key in PAYLOAD_FIELDS:
                value = payload(value, language)
            elif key in PATH_FIELDS:
                value = path_of(value)
            out[to_pascalcase(key)] = value
        return out

    def to_dict(self, language: str = JSONPATH) -> dict[str, Any]:
        return self._render_fields(self._language(language))

    def to_json(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), indent=4 if pretty else None)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{type(self).__name__}({args})"

    def __str__(self) -> str:
        return self.to_json(pretty=True)


class Retry(Block):
    """A retrier: ``Retry(error_equals=[...], interval_seconds=, max_attempts=, backoff_rate=)``."""

    def allowed_fields(self) -> list[str]:
        return [
            "error_equals",
            "interval_seconds",
            "max_attempts",
            "backoff_rate",
            "max_delay_seconds",
            "jitter_strategy",
            "comment",
        ]


class Catch(Block):
    """A catcher: on ``error_equals`` go to ``next_step``, keeping input per ``result_path``."""

    def __init__(self, next_step: State | Chain, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.next_step = next_step

    def allowed_fields(self) -> list[str]:
        return ["error_equals", "result_path", "assign", "output", "comment"]

    def to_dict(self, language: str = JSONPATH) -> dict[str, Any]:
        out = self._render_fields(language)
        out["Next"] = self.next_step.state_id
        return out


class State(Block):
    """A state: its ``state_id`` (name), type, fields and links to the states after it."""

    def __init__(
        self,
        state_id: str,
        state_type: str,
        output_schema: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.state_id = state_id
        self.state_type = state_type
        self.output_schema = output_schema
        self.step_output = StepInput(schema=output_schema)
        self.retries: list[Retry] = []
        self.catches: list[Catch] = []
        self.next_step: State | Chain | None = None

    @property
    def type(self) -> str:
        return self.state_type

    def __repr__(self) -> str:
        return f"{self.state_id} {super().__repr__()}"

    def update_parameters(self, params: Any) -> None:
        """Replace ``parameters`` (DS SDK behaviour: silently ignored where not allowed)."""
        if self.is_field_allowed("parameters"):
            self.fields["parameters"] = params

    def next(self, next_step: State | Chain) -> State | Chain:
        """Set the state after this one and return it, so ``a.next(b).next(c)`` chains."""
        if self.state_type in ("Succeed", "Fail"):
            raise ValueError(
                f"Unexpected State instance `{next_step}`, State type `{self.state_type}` "
                "does not support method `next`."
            )
        self.next_step = next_step
        return next_step

    def output(self) -> StepInput:
        """Placeholders for this state's output, i.e. the next state's input (``$...``)."""
        return self.step_output

    def add_retry(self, retry: Retry | list[Retry]) -> None:
        if not self.is_field_allowed("retry"):
            raise ValueError(f"{type(self).__name__} state does not support retry field. ")
        self.retries.extend(retry if isinstance(retry, list) else [retry])

    def add_catch(self, catch: Catch | list[Catch]) -> None:
        if not self.is_field_allowed("catch"):
            raise ValueError(f"{type(self).__name__} state does not support catch field. ")
        self.catches.extend(catch if isinstance(catch, list) else [catch])

    def successors(self) -> Iterator[State | Chain]:
        """The states control can go to next (for graph building)."""
        if self.next_step is not None:
            yield self.next_step
        for catch in self.catches:
            yield catch.next_step

    def subgraphs(self) -> Iterator[Graph]:
        """Nested state machines (Parallel branches, Map bodies)."""
        return iter(())

    def deferred(self) -> Iterator[Any]:
        yield from find_deferred(self.fields)
        for graph in self.subgraphs():
            yield from graph.deferred()

    def to_dict(self, language: str = JSONPATH) -> dict[str, Any]:
        lang = self._language(language)
        out = self._render_fields(lang)
        out["Type"] = self.state_type
        if self.next_step is not None:
            out["Next"] = self.next_step.state_id
        elif self.state_type not in ("Succeed", "Fail", "Choice"):
            out["End"] = True
        if self.retries:
            out["Retry"] = [r.to_dict(lang) for r in self.retries]
        if self.catches:
            out["Catch"] = [c.to_dict(lang) for c in self.catches]
        return out


class Pass(State):
    """Pass its input on, optionally shaped by ``parameters`` or replaced by ``result``."""

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, "Pass", **kwargs)

    def allowed_fields(self) -> list[str]:
        return [*_COMMON, *_JSONPATH_IO, *_ASSIGN, "parameters", "result_path", "result"]


class Succeed(State):
    """End the execution successfully."""

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, "Succeed", **kwargs)

    def allowed_fields(self) -> list[str]:
        return [*_COMMON, *_JSONPATH_IO, "output"]


class Fail(State):
    """End the execution with ``error`` and ``cause`` (or ``error_path``/``cause_path``)."""

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, "Fail", **kwargs)

    def allowed_fields(self) -> list[str]:
        return [*_COMMON, "error", "cause", "error_path", "cause_path"]


class Wait(State):
    """Delay for ``seconds``/until ``timestamp`` (or their ``*_path`` variants): exactly one."""

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, "Wait", **kwargs)
        given = [
            k for k in ("seconds", "timestamp", "seconds_path", "timestamp_path") if k in kwargs
        ]
        if len(given) != 1:
            raise ValueError(
                "The Wait state MUST contain exactly one of 'seconds', 'seconds_path', "
                "'timestamp' or 'timestamp_path'."
            )

    def allowed_fields(self) -> list[str]:
        return [
            *_COMMON,
            *_JSONPATH_IO,
            *_ASSIGN,
            "seconds",
            "timestamp",
            "seconds_path",
            "timestamp_path",
        ]


class Choice(State):
    """Branch on rules; chaining a Choice sets its default (as in the DS SDK since PR #132)."""

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, "Choice", **kwargs)
        self.choices: list[tuple[Any, State | Chain, dict[str, Any]]] = []
        self.default: State | Chain | None = None

    def allowed_fields(self) -> list[str]:
        return [*_COMMON, *_JSONPATH_IO, *_ASSIGN]

    def add_choice(
        self,
        rule: Any,
        next_step: State | Chain,
        *,
        assign: dict | None = None,
        output: Any = None,
        comment: str | None = None,
    ) -> None:
        """Go to ``next_step`` when ``rule`` matches; optionally assign variables on the way."""
        extra = {"assign": assign, "output": output, "comment": comment}
        self.choices.append((rule, next_step, {k: v for k, v in extra.items() if v is not None}))

    def default_choice(self, next_step: State | Chain) -> None:
        self.default = next_step

    def next(self, next_step: State | Chain) -> State | Chain:
        if self.default is not None:
            logger.warning(
                "Chaining Choice state: overwriting %s's default_choice (%s) with %s",
                self.state_id,
                self.default.state_id,
                next_step.state_id,
            )
        self.default_choice(next_step)
        return next_step

    def successors(self) -> Iterator[State | Chain]:
        if self.default is not None:
            yield self.default
        for _, next_step, _ in self.choices:
            yield next_step

    def to_dict(self, language: str = JSONPATH) -> dict[str, Any]:
        lang = self._language(language)
        out = super().to_dict(language)
        choices = []
        for rule, next_step, extra in self.choices:
            item = rule.to_dict()
            item["Next"] = next_step.state_id
            for key, value in extra.items():
                item[to_pascalcase(key)] = payload(value, lang) if key != "comment" else value
            choices.append(item)
        out["Choices"] = choices
        if self.default is not None:
            out["Default"] = self.default.state_id
        return out


class _Compound(State):
    """Common ground of states with retriers, catchers and nested state machines."""

    def __init__(
        self,
        state_id: str,
        state_type: str,
        retry: Retry | list[Retry] | None = None,
        catch: Catch | list[Catch] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(state_id, state_type, **kwargs)
        if retry:
            self.add_retry(retry)
        if catch:
            self.add_catch(catch)


class Parallel(_Compound):
    """Run each branch (a State or Chain) on the same input; the output is their list."""

    def __init__(self, state_id: str, retry: Any = None, catch: Any = None, **kwargs: Any):
        self.branches: list[State | Chain] = []
        super().__init__(state_id, "Parallel", retry, catch, **kwargs)

    def allowed_fields(self) -> list[str]:
        return [
            *_COMMON,
            *_JSONPATH_IO,
            *_ASSIGN,
            "parameters",
            "arguments",
            "result_path",
            "result_selector",
            "retry",
            "catch",
        ]

    def add_branch(self, branch: State | Chain) -> None:
        self.branches.append(branch)

    def subgraphs(self) -> Iterator[Graph]:
        return (Graph(b) for b in self.branches)

    def to_dict(self, language: str = JSONPATH) -> dict[str, Any]:
        out = super().to_dict(language)
        lang = self._language(language)
        out["Branches"] = [g.to_dict(lang, nested=True) for g in self.subgraphs()]
        return out


class Map(_Compound):
    """Run ``iterator`` for each item, inline (the DS SDK's ``Iterator``) or distributed.

    ``iterator=`` alone renders the legacy ``Iterator`` key, as the DS SDK does.  Passing
    ``mode="DISTRIBUTED"`` (with ``execution_type``), ``item_reader=`` or
    ``item_processor=`` renders the current ``ItemProcessor`` form with its
    ``ProcessorConfig``; the item placeholders are :class:`~stepline.sdk.MapItemValue` and
    :class:`~stepline.sdk.MapItemIndex`.
    """

    def __init__(
        self,
        state_id: str,
        retry: Any = None,
        catch: Any = None,
        *,
        iterator: State | Chain | None = None,
        item_processor: State | Chain | None = None,
        mode: str | None = None,
        execution_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.iterator = item_processor or iterator
        self.mode = mode
        self.execution_type = execution_type
        self._processor = (
            item_processor is not None
            or mode is not None
            or execution_type is not None
            or kwargs.get("item_reader") is not None
        )
        super().__init__(state_id, "Map", retry, catch, **kwargs)

    def allowed_fields(self) -> list[str]:
        return [
            *_COMMON,
            *_JSONPATH_IO,
            *_ASSIGN,
            "parameters",
            "item_selector",
            "items",
            "items_path",
            "item_reader",
            "item_batcher",
            "result_writer",
            "result_path",
            "result_selector",
            "max_concurrency",
            "max_concurrency_path",
            "tolerated_failure_percentage",
            "tolerated_failure_percentage_path",
            "tolerated_failure_count",
            "tolerated_failure_count_path",
            "label",
            "arguments",
            "retry",
            "catch",
        ]

    def attach_iterator(self, iterator: State | Chain) -> None:
        """Set (or replace) the state machine run for each item."""
        self.iterator = iterator

    def subgraphs(self) -> Iterator[Graph]:
        if self.iterator is None:
            raise ValueError(f"Map state {self.state_id!r} has no iterator")
        return iter([Graph(self.iterator)])

    def to_dict(self, language: str = JSONPATH) -> dict[str, Any]:
        out = super().to_dict(language)
        body = next(self.subgraphs()).to_dict(self._language(language), nested=True)
        if self._processor:
            config = {}
            if self.mode is not None:
                config["Mode"] = self.mode
            if self.execution_type is not None:
                config["ExecutionType"] = self.execution_type
            if config:
                body = {"ProcessorConfig": config, **body}
            out["ItemProcessor"] = body
        else:
            out["Iterator"] = body
        return out


class Task(_Compound):
    """Call ``resource`` (a local function, a SageMaker job, a nested workflow ...)."""

    def __init__(self, state_id: str, retry: Any = None, catch: Any = None, **kwargs: Any):
        super().__init__(state_id, "Task", retry, catch, **kwargs)
        for name in ("timeout_seconds", "heartbeat_seconds"):
            if self.fields.get(name) is not None and self.fields.get(f"{name}_path") is not None:
                raise ValueError(f"Only one of '{name}' or '{name}_path' can be provided.")

    def allowed_fields(self) -> list[str]:
        return [
            *_COMMON,
            *_JSONPATH_IO,
            *_ASSIGN,
            "parameters",
            "arguments",
            "result_path",
            "result_selector",
            "resource",
            "timeout_seconds",
            "timeout_seconds_path",
            "heartbeat_seconds",
            "heartbeat_seconds_path",
            "credentials",
            "retry",
            "catch",
        ]


class DuplicateStatesInChain(Exception):
    """The same state object appears twice in a Chain."""


class Chain:
    """States linked in order: each one's ``next`` is the following one."""

    def __init__(self, steps: list[State | Chain] | None = None) -> None:
        steps = [] if steps is None else steps
        if not isinstance(steps, list):
            raise TypeError(
                "Chain takes a 'list' of steps. You provided an input that is not a list."
            )
        self.steps: list[State] = []
        expanded: list[State] = []
        for step in steps:
            expanded.extend(step.steps if isinstance(step, Chain) else [step])
        if len({id(s) for s in expanded}) != len(expanded):
            raise DuplicateStatesInChain("Duplicate states in the chain.")
        for step in expanded:
            self.append(step)

    def __iter__(self) -> Iterator[State]:
        return iter(self.steps)

    @property
    def state_id(self) -> str:
        if not self.steps:
            raise ValueError("The chain is empty")
        return self.steps[0].state_id

    def append(self, step: State) -> None:
        """Add ``step`` at the end, linking the current last state to it."""
        if any(s is step for s in self.steps):
            raise DuplicateStatesInChain(
                f"State '{step.state_id}' is already inside this chain. A chain cannot have "
                "duplicate states."
            )
        if self.steps:
            self.steps[-1].next(step)
        self.steps.append(step)

    def __repr__(self) -> str:
        return f"Chain(steps={self.steps!r})"


def _head(node: State | Chain) -> State:
    if isinstance(node, Chain):
        if not node.steps:
            raise ValueError("The chain is empty")
        return node.steps[0]
    return node


class Graph(Block):
    """A whole state machine (or a branch): ``StartAt`` plus every reachable state."""

    def __init__(self, branch: State | Chain, **kwargs: Any) -> None:
        if not isinstance(branch, State | Chain):
            raise ValueError(f"Expected branch to be a State or a Chain, but got `{branch}`")
        super().__init__(**kwargs)
        self.branch = branch
        self.states = self._collect()

    def allowed_fields(self) -> list[str]:
        return ["timeout_seconds", "comment", "version", "query_language"]

    def _collect(self) -> dict[str, State]:
        """Every state reachable from the start; two different states may not share a name.

        Placeholders are not checked against the previous step (the DS SDK did, wrongly):
        any path is legal ASL and is resolved against whatever input the state gets.
        """
        found: dict[str, State] = {}
        todo: list[State | Chain] = [self.branch]
        while todo:
            state = _head(todo.pop())
            seen = found.get(state.state_id)
            if seen is state:
                continue
            if seen is not None:
                raise ValueError(
                    "Each state in a workflow must have a unique state id. Found duplicate "
                    f"state id '{state.state_id}' in workflow."
                )
            found[state.state_id] = state
            todo.extend(reversed(list(state.successors())))
        # Keep the order the DS SDK's depth-first visitor produces.
        order: list[str] = []

        def visit(node: State | Chain) -> None:
            for state in node.steps if isinstance(node, Chain) else [node]:
                if state.state_id in order:
                    continue
                order.append(state.state_id)
                for nxt in state.successors():
                    visit(nxt)

        visit(self.branch)
        return {name: found[name] for name in order}

    def contains(self, state: State) -> bool:
        return self.states.get(state.state_id) is state

    def deferred(self) -> Iterator[Any]:
        """Deferred values (local code to upload) anywhere in the state machine."""
        for state in self.states.values():
            yield from state.deferred()

    def to_dict(self, language: str = JSONPATH, nested: bool = False) -> dict[str, Any]:
        lang = self._language(language)
        out = self._render_fields(lang)
        out["StartAt"] = self.branch.state_id
        out["States"] = {name: s.to_dict(lang) for name, s in self.states.items()}
        return out


class FrozenGraph(Graph):
    """A finished ASL document (e.g. from ``Workflow.attach``), rendered as it is."""

    def __init__(self, definition: dict[str, Any]) -> None:
        if not isinstance(definition, dict):
            raise ValueError(f"Expected definition to be a dict, but got `{type(definition)}`.")
        self.fields = {}
        self.definition = definition
        self.states = {}

    def deferred(self) -> Iterator[Any]:
        return iter(())

    def to_dict(self, language: str = JSONPATH, nested: bool = False) -> dict[str, Any]:
        return self.definition

    @classmethod
    def from_json(cls, json_definition: str) -> FrozenGraph:
        return cls(json.loads(json_definition))


__all__ = [
    "JSONATA",
    "JSONPATH",
    "Block",
    "Catch",
    "Chain",
    "Choice",
    "DuplicateStatesInChain",
    "Fail",
    "FrozenGraph",
    "Graph",
    "Map",
    "Parallel",
    "Pass",
    "Placeholder",
    "Retry",
    "State",
    "Succeed",
    "Task",
    "Wait",
]
