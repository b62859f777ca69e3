"""What every state shares: input/output processing, Assign, Retry and Catch.

Task, Parallel and Map retry and catch through one loop, :meth:`RetryingState.run`; each
of them only says what one attempt is (:meth:`RetryingState.attempt`).

Each state type is one class (see the sibling modules).  All of them run through the same
sequence, driven by :mod:`stepline.asl.program`:

    enter → process input → run → process output → choose next → exit

A state's :meth:`State.run` is a generator: it yields *requests* (sleep until, invoke a task,
run child graphs) to the program loop and receives their outcomes, so a state never blocks,
never sleeps and never touches storage.  That is what lets one loop drive thousands of
concurrent branches, skip time in tests, and replay a state after a crash.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from stepline.asl import errors as E
from stepline.asl.errors import StatesError
from stepline.asl.intrinsics import compile_intrinsic, is_intrinsic
from stepline.asl.jsonata import compile_jsonata_template, is_jsonata
from stepline.asl.paths import PathNotFound, compile_path, compile_result_path
from stepline.asl.states.fields import JSONATA, JSONPATH, Fields
from stepline.asl.templates import compile_template

if TYPE_CHECKING:
    from stepline.asl.program import Fiber
    from stepline.asl.validate import Validator

#: A check of one field's value: (validator, value, JSON pointer, query language).
FieldCheck = Callable[["Validator", Any, str, str], None]

Request = Any
StateGen = Generator[Request, Any, "Transition"]


@dataclass(slots=True)
class Transition:
    """Where a state goes: ``next`` (None when the branch ends) with ``output``."""

    next: str | None
    output: Any


class _NoValue:
    """Marks an absent optional field (distinct from JSON null, which means 'discard')."""


NO_VALUE: Any = _NoValue()


def json_size(value: Any) -> int:
    return len(dumps(value).encode())


def dumps(value: Any) -> str:
    """Serialise a payload as AWS does in history events (compact JSON).

    ``allow_nan=False``: a NaN or Infinity that slipped in fails the state (``ValueError``)
    instead of being written as text that is not JSON.

    A lone surrogate (``"\\ud800"`` is valid JSON text) has no UTF-8 form, so a payload
    holding one stays ``\\u``-escaped: the history must stay storable and its size
    measurable (found by ``tests/fuzz/test_execution_fuzz.py``).
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


def error_matches(names: list[str], error: str) -> bool:
    """AWS matching: exact names, ``States.ALL`` (bar terminal errors), ``States.TaskFailed``."""
    for name in names:
        if name == error:
            return True
        if name == E.ALL and error not in E.NOT_CAUGHT_BY_ALL:
            return True
        if name == E.TASK_FAILED and error not in E.NOT_CAUGHT_BY_ALL and error != E.TIMEOUT:
            if not error.startswith("States.") or error == E.TASK_FAILED:
                return True
    return False


#: The longest retry back-off: one year, AWS's maximum duration of a Standard execution.
MAX_RETRY_DELAY = 365 * 24 * 3600.0


class Retrier:
    """One Retry entry.  Attempt counts live on the fiber, per state visit."""

    __slots__ = ("errors", "interval", "max_attempts", "backoff", "max_delay", "jitter")

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.errors: list[str] = list(spec.get("ErrorEquals", []))
        self.interval: float = float(spec.get("IntervalSeconds", 1))
        self.max_attempts: int = int(spec.get("MaxAttempts", 3))
        self.backoff: float = float(spec.get("BackoffRate", 2.0))
        md = spec.get("MaxDelaySeconds")
        self.max_delay: float | None = float(md) if md is not None else None
        self.jitter: str = spec.get("JitterStrategy", "NONE")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), as AWS computes it.

        Never more than :data:`MAX_RETRY_DELAY` (a retry past a year would outlive any
        Standard execution), so huge ``MaxAttempts``/``BackoffRate`` can't overflow.
        """
        try:
            delay = self.interval * (self.backoff**attempt)
        except OverflowError:
            delay = MAX_RETRY_DELAY
        delay = min(delay, MAX_RETRY_DELAY)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter == "FULL":
            delay = rng.uniform(0, delay)
        return delay


class Catcher:
    """One Catch entry: where an error goes and how it is merged into the output."""

    __slots__ = ("errors", "next", "result_path", "output", "assign", "query_language")

    def __init__(self, spec: Mapping[str, Any], query_language: str) -> None:
        self.errors: list[str] = list(spec.get("ErrorEquals", []))
        self.next: str = spec["Next"]
        self.query_language = query_language
        if query_language == JSONATA:
            self.output = (
                compile_jsonata_template(spec["Output"], "Output") if "Output" in spec else None
            )
            self.result_path = None
        else:
            self.output = None
            self.result_path = compile_result_path(spec.get("ResultPath", "$"))
        self.assign = compile_assign(spec.get("Assign"), query_language)


def compile_assign(spec: Any, query_language: str) -> Any:
    if spec is None:
        return None
    if query_language == JSONATA:
        return compile_jsonata_template(spec, "Assign")
    return compile_template(spec, "Assign")


def compile_value(value: Any, field: str, query_language: str) -> Any:
    """Compile a field that may hold a JSONata template in JSONata states."""
    if query_language == JSONATA and _has_jsonata(value):
        return compile_jsonata_template(value, field)
    return value


def _has_jsonata(value: Any) -> bool:
    if isinstance(value, str):
        return is_jsonata(value)
    if isinstance(value, dict):
        return any(_has_jsonata(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_jsonata(v) for v in value)
    return False


class State(ABC):
    """Base of all state types: the fields every state may have, compiled once.

    A state type's class also carries what the validator and the views know of it (the
    class attributes below and :meth:`check`, :meth:`graphs`), so that a new state type is
    its module plus one line in ``states/__init__.py``.
    """

    type: str = ""
    #: Whether the state emits ``{Type}StateExited`` (Fail does not).
    emits_exit = True
    #: The fields the validator accepts, per query language (its table is built from these).
    fields: ClassVar[Fields]
    #: Checks of fields only this type has, by field name, run in document order with the
    #: validator's checks of the shared fields (``Validator.checks``).
    field_checks: ClassVar[Mapping[str, FieldCheck]] = {}
    #: Whether the state ends its graph by itself, with no ``"End": true`` (Succeed, Fail).
    terminal: ClassVar[bool] = False
    #: How the views draw the nested graphs of :meth:`graphs`: ``"branches"`` (side by side,
    #: each labelled "Branch n", as Parallel's), ``"iteration"`` (one body run per item, as
    #: Map's processor) or None (no nested graphs; the state is one box).
    nesting: ClassVar[str | None] = None

    @classmethod
    def check(cls, v: Validator, state: dict, path: str, lang: str, edges: list) -> None:
        """This type's rules beyond its fields' own checks (mutually exclusive fields, nested
        graphs, ...): report through ``v.add``; append ``(target, pointer)`` for every
        transition to ``edges``.  The validator has already checked each field and, where
        :attr:`Fields.transitions`, Next/End.  Nothing more by default."""
        return

    @classmethod
    def graphs(cls, spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The nested graphs of a state of this type in a definition (as written, maybe
        invalid: the views draw what they are given); none by default."""
        return []

    def __init__(self, name: str, spec: Mapping[str, Any], query_language: str) -> None:
        self.name = name
        self.spec = spec
        self.query_language = spec.get("QueryLanguage", query_language)
        ql = self.query_language
        self.next: str | None = spec.get("Next")
        self.end: bool = bool(spec.get("End", False))
        self.comment = spec.get("Comment")
        if ql == JSONPATH:
            self.input_path = _compile_optional_path(spec, "InputPath")
            self.output_path = _compile_optional_path(spec, "OutputPath")
            self.parameters = (
                compile_template(spec["Parameters"], "Parameters") if "Parameters" in spec else None
            )
            self.result_selector = (
                compile_template(spec["ResultSelector"], "ResultSelector")
                if "ResultSelector" in spec
                else None
            )
            self.result_path = compile_result_path(
                spec["ResultPath"] if "ResultPath" in spec else "$"
            )
            self.arguments = None
            self.output = None
        else:
            self.input_path = self.output_path = None
            self.parameters = self.result_selector = None
            self.result_path = None
            self.arguments = (
                compile_jsonata_template(spec["Arguments"], "Arguments")
                if "Arguments" in spec
                else None
            )
            self.output = (
                compile_jsonata_template(spec["Output"], "Output") if "Output" in spec else None
            )
        self.assign = compile_assign(spec.get("Assign"), ql)
        self.retriers = [Retrier(r) for r in spec.get("Retry", [])]
        self.catchers = [Catcher(c, ql) for c in spec.get("Catch", [])]
        self._fields: dict[str, Any] = {}

    # -- the evaluation sequence ---------------------------------------------------------
    @abstractmethod
    def run(self, fiber: Fiber, raw_input: Any) -> StateGen:
        """Run the state on ``raw_input``; a generator returning a :class:`Transition`."""

    # -- helpers shared by the state classes ---------------------------------------------
    def effective_input(self, fiber: Fiber, raw_input: Any) -> Any:
        """InputPath then Parameters (JSONPath); the raw input for JSONata states."""
        if self.query_language == JSONATA:
            return raw_input
        value = raw_input
        if self.input_path is not NO_VALUE:
            value = self._select(self.input_path, raw_input, fiber, "InputPath")
        if self.parameters is not None:
            value = self.parameters.render(value, fiber.context, fiber.variables)
        return value

    def _select(self, path: Any, data: Any, fiber: Fiber, field: str) -> Any:
        if path is None:
            return {}
        try:
            return path.get(data, fiber.context, fiber.variables)
        except PathNotFound:
            raise StatesError(
                E.RUNTIME,
                f"Invalid path '{path.expr}' : No results for path: {path.expr}",
            ) from None

    def finish(
        self,
        fiber: Fiber,
        raw_input: Any,
        result: Any,
        *,
        next_state: str | None = NO_VALUE,
        output_override: Any = NO_VALUE,
    ) -> Transition:
        """Process output: ResultSelector, Assign, ResultPath, OutputPath (or JSONata Output).

        ``result`` is the state's raw result (a task's answer, a Map's list ...).
        """
        nxt = self.next if next_state is NO_VALUE else next_state
        if self.query_language == JSONATA:
            states = fiber.states_var(raw_input, result)
            if output_override is not NO_VALUE:
                output = output_override
            elif self.output is not None:
                output = self.output.render(states, fiber.variables)
            else:
                output = result
            if self.assign is not None:
                fiber.assign(self.assign.render(states, fiber.variables))
            return Transition(nxt, output)
        if self.result_selector is not None:
            result = self.result_selector.render(result, fiber.context, fiber.variables)
        if self.assign is not None:
            fiber.assign(self.assign.render(result, fiber.context, fiber.variables))
        output = self.result_path.apply(raw_input, result) if self.result_path else raw_input
        if self.output_path is not NO_VALUE:
            output = self._select(self.output_path, output, fiber, "OutputPath")
        return Transition(nxt, output)

    def check_size(self, fiber: Fiber, value: Any) -> None:
        """AWS's payload quota on a task's or Pass state's result (``States.DataLimitExceeded``)."""
        if json_size(value) > fiber.program.limits.payload_bytes:
            raise StatesError(
                E.DATA_LIMIT_EXCEEDED,
                f"The state/task '{self.name}' returned a result with a size exceeding the "
                "maximum number of bytes service limit.",
                in_state=False,
            )

    def check_input_size(self, fiber: Fiber, value: Any) -> None:
        """AWS's payload quota on a state's input after Parameters/Arguments processing.

        Checked before the value is recorded (TaskScheduled, a branch's StateEntered), so no
        history event holds more than the quota.
        """
        if not fiber.program.fits_payload(dumps(value)):
            raise StatesError(
                E.DATA_LIMIT_EXCEEDED,
                f"The state '{self.name}' received an input with a size exceeding the maximum "
                "number of bytes service limit after its parameters were processed.",
                in_state=False,
            )

    def handle_error(self, fiber: Fiber, raw_input: Any, err: StatesError) -> Transition | float:
        """Decide what an error does: a delay before retrying, or a Catch transition.

        Re-raises ``err`` when neither Retry nor Catch handles it.
        """
        for index, retrier in enumerate(self.retriers):
            if error_matches(retrier.errors, err.error):
                attempt = fiber.retry_counts.get(index, 0)
                if attempt < retrier.max_attempts:
                    fiber.retry_counts[index] = attempt + 1
                    return retrier.delay(attempt, fiber.rng)
                break
        for catcher in self.catchers:
            if error_matches(catcher.errors, err.error):
                return self._catch(fiber, raw_input, err, catcher)
        raise err

    def _catch(
        self, fiber: Fiber, raw_input: Any, err: StatesError, catcher: Catcher
    ) -> Transition:
        error_output = {"Error": err.error, "Cause": err.cause if err.cause is not None else ""}
        if err.cause is None:
            error_output = {"Error": err.error}
        if catcher.query_language == JSONATA:
            states = fiber.states_var(raw_input, None, error_output=error_output)
            output = (
                catcher.output.render(states, fiber.variables)
                if catcher.output is not None
                else error_output
            )
            if catcher.assign is not None:
                fiber.assign(catcher.assign.render(states, fiber.variables))
        else:
            if catcher.assign is not None:
                fiber.assign(catcher.assign.render(error_output, fiber.context, fiber.variables))
            output = catcher.result_path.apply(raw_input, error_output)
        fiber.caught(self, err)
        return Transition(catcher.next, output)

    def eval_field(self, fiber: Fiber, value: Any, raw_input: Any) -> Any:
        """Evaluate a field that may be a JSONata template, else return it as is."""
        if hasattr(value, "render") and self.query_language == JSONATA:
            return value.render(fiber.states_var(raw_input, None), fiber.variables)
        return value

    def passthrough(self, fiber: Fiber, raw_input: Any) -> Any:
        """Output of states without a result (Choice, Wait, Succeed): InputPath → OutputPath."""
        if self.query_language == JSONATA:
            if self.output is not None:
                return self.output.render(fiber.states_var(raw_input, None), fiber.variables)
            return raw_input
        value = raw_input
        if self.input_path is not NO_VALUE:
            value = self._select(self.input_path, raw_input, fiber, "InputPath")
        if self.output_path is not NO_VALUE:
            value = self._select(self.output_path, value, fiber, "OutputPath")
        return value

    def field_value(self, fiber: Fiber, name: str, raw_input: Any, data: Any) -> Any:
        """Value of a field that comes as ``Name`` (literal or JSONata) or ``NamePath``.

        Returns ``NO_VALUE`` when neither form is present.
        """
        compiled = self._fields.get(name, NO_VALUE)
        if compiled is not NO_VALUE:
            return self.eval_field(fiber, compiled, raw_input)
        path = self._fields.get(name + "Path", NO_VALUE)
        if path is NO_VALUE:
            return NO_VALUE
        try:
            return path.get(data, fiber.context, fiber.variables)
        except PathNotFound:
            message = self.missing_path_message(name + "Path", path.expr, data)
            raise StatesError(E.RUNTIME, message) from None

    def missing_path_message(self, field: str, expr: str, data: Any) -> str:
        return f"The {field} field references an invalid value: {expr}"

    def compile_fields(self, *names: str) -> None:
        """Compile ``Name``/``NamePath`` pairs once (literal, JSONata, path or intrinsic)."""
        ql = self.query_language
        for name in names:
            if name in self.spec:
                self._fields[name] = compile_value(self.spec[name], name, ql)
            if name + "Path" in self.spec:
                self._fields[name + "Path"] = compile_path_or_intrinsic(self.spec[name + "Path"])


class RetryingState(State):
    """A state with Retry and Catch (Task, Parallel, Map): one loop drives every attempt.

    ``$$.State.RetryCount`` follows AWS's context object: present in states that have a
    Retry field, it is the number of retries made so far in this visit of the state (0 on
    the first attempt), and every re-attempt sees the new count.
    """

    def run(self, fiber: Fiber, raw_input: Any) -> StateGen:
        from stepline.asl.program import Sleep

        while True:
            recorded = fiber.last_event_id
            try:
                transition = yield from self.attempt(fiber, raw_input)
                return transition
            except StatesError as err:
                decision = self.handle_error(fiber, raw_input, err)
                if isinstance(decision, Transition):
                    return decision
                if fiber.last_event_id == recorded:
                    # The attempt failed before recording anything: the retry still costs a
                    # place in the history quota, so the loop can't run unbounded.
                    fiber.program.charge_silent_retry()
                yield Sleep(fiber.program.clock.now() + decision)
                state_ctx = dict(fiber.context["State"])
                state_ctx["RetryCount"] = sum(fiber.retry_counts.values())
                fiber.context["State"] = state_ctx

    @abstractmethod
    def attempt(self, fiber: Fiber, raw_input: Any) -> StateGen:
        """One attempt of the state; raise :class:`StatesError` to retry or catch it."""


class _IntrinsicPath:
    """Adapts an intrinsic call to the ``Path.get`` interface used by ``...Path`` fields."""

    __slots__ = ("expr", "fn")

    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.fn = compile_intrinsic(expr)

    def get(self, data: Any, context: Any, variables: Any) -> Any:
        return self.fn(data, context, variables)


def compile_path_or_intrinsic(expr: str) -> Any:
    if is_intrinsic(expr):
        return _IntrinsicPath(expr)
    return compile_path(expr)


def _compile_optional_path(spec: Mapping[str, Any], field: str) -> Any:
    if field not in spec:
        return NO_VALUE
    expr = spec[field]
    if expr is None:
        return None
    if expr == "$":
        return NO_VALUE
    return compile_path(expr)
