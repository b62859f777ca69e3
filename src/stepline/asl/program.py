"""The interpreter: one loop drives a state machine as a program.

A running execution is a set of *fibers*.  The root fiber walks the top-level graph; every
Parallel branch and Map iteration is a child fiber.  A fiber is a Python generator that
runs states one after another; when a state needs something from outside -- time to pass,
a task to run, child graphs to finish -- it yields a request and the loop parks the fiber
until the answer is there.  Nothing here blocks, sleeps or does I/O: time comes from a
:class:`Clock`, task results from a :class:`TaskPort`, and every history event goes out
through :meth:`Program.emit`, the single place events are made.

Durability is the engine's business; the loop only offers a seam for it.  When a
:class:`CheckpointSink` is given, each fiber's position (state, input, variables, the events
and request outcomes of the current state visit) is handed to it at every transition and
around every request.  A program rebuilt from those checkpoints re-runs the interrupted state
visit and answers its requests from the journal, so a task that completed is never run again
and no recorded event is emitted twice.
"""

from __future__ import annotations

import heapq
import json
import queue
import random
import threading
import time
from collections import ChainMap, deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from stepline import config
from stepline.asl import errors as E
from stepline.asl import jsonata
from stepline.asl.definition import Definition, Graph
from stepline.asl.errors import StatesError
from stepline.asl.jsonata import EvalBudget, EvaluationStopped
from stepline.asl.limits import Limits
from stepline.asl.states.base import State, Transition, dumps

#: The events that may end an execution; they alone may take the last place in a full history.
_TERMINAL_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
)


class HistoryLimitReached(BaseException):  # noqa: N818 - a control-flow signal
    """Raised by :meth:`Program.emit` when the history is full; unwinds to the loop.

    A ``BaseException`` so that no state's ``except`` can swallow it.
    """


# ---------------------------------------------------------------------------------------
# Requests a state can yield
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Sleep:
    """Park the fiber until the clock reaches ``deadline`` (epoch seconds)."""

    deadline: float


@dataclass(slots=True)
class Invoke:
    """Run a Task resource; the answer is ``("ok", result)`` or ``("err", StatesError)``."""

    resource: str
    parameters: Any
    state_name: str
    timeout: float | None = None
    heartbeat: float | None = None
    credentials: Any = None
    #: The task token, when the state made it visible as ``$$.Task.Token`` (callbacks).
    token: str | None = None


@dataclass(slots=True)
class ChildSpec:
    """One Parallel branch or Map iteration."""

    graph: Graph
    input: Any
    index: int
    isolated_variables: bool = False


@dataclass(slots=True)
class Spawn:
    """Run child graphs; the answer is a list of ``(status, value)`` per child, in order.

    ``fail_fast`` (Parallel, and Map without tolerance) aborts the remaining children at the
    first failure; otherwise failures are counted against the tolerated count/percentage.
    """

    kind: str  # "parallel" | "map"
    children: list[ChildSpec]
    max_concurrency: int = 0
    tolerated_count: int | None = None
    tolerated_percentage: float | None = None
    state_name: str = ""


# ---------------------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------------------


class Clock:
    """Wall-clock time.  Replace with :class:`VirtualClock` to skip waits in tests."""

    virtual = False

    def now(self) -> float:
        return time.time()

    def advance_to(self, deadline: float) -> None:
        """Called by the loop when nothing can happen before ``deadline``."""
        delay = deadline - time.time()
        if delay > 0:
            time.sleep(delay)


class VirtualClock(Clock):
    """A clock that jumps: when the program is idle, time moves to the next timer at once."""

    virtual = True

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance_to(self, deadline: float) -> None:
        with self._lock:
            if deadline > self._now:
                self._now = deadline


@dataclass
class TaskRequest:
    """What an integration receives for one Task invocation.

    ``token`` is stable across retries of a crashed engine (execution, fiber, visit and
    attempt), so an integration can reattach to work it already started instead of
    starting it twice.
    """

    resource: str
    parameters: Any
    state_name: str
    execution_arn: str
    execution_name: str
    token: str
    timeout: float | None
    cancel: threading.Event
    heartbeat: Callable[[], None]
    credentials: Any = None
    #: What the host offers integrations (the engine passes itself as ``"engine"``).
    services: Mapping[str, Any] = field(default_factory=dict)


class TaskPort(Protocol):
    """Runs Task resources.  Called on a worker thread; returns the result or raises."""

    def invoke(self, request: TaskRequest) -> Any: ...


class NoTasks:
    """A task port for programs without integrations: every Task fails clearly."""

    def invoke(self, request: TaskRequest) -> Any:
        raise StatesError(
            "States.Runtime",
            f"No integration is registered for resource '{request.resource}'",
            in_state=False,
        )


class CheckpointSink(Protocol):
    """Receives everything needed to continue the program after a crash.

    ``commit`` gets the events emitted since the last commit and the new checkpoint of every
    fiber that changed (``None`` for a fiber that is gone); it must store them atomically.
    """

    def commit(self, events: list[dict], fibers: dict[str, dict | None]) -> None: ...


@dataclass
class ExecutionInfo:
    """Names and ARNs that appear in the context object and in events."""

    execution_arn: str = field(
        default_factory=lambda: config.arn("states", "execution:local:local")
    )
    name: str = "local"
    state_machine_arn: str = field(
        default_factory=lambda: config.arn("states", "stateMachine:local")
    )
    state_machine_name: str = "local"
    role_arn: str = field(default_factory=lambda: config.arn("iam", "role/stepline"))
    start_time: float | None = None
    redrive_count: int = 0
    #: When the execution timeout starts counting (the redrive time after a redrive).
    timeout_from: float | None = None


@dataclass
class Outcome:
    """How a program ended."""

    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: Any = None
    error: str | None = None
    cause: str | None = None


#: The latest instant an ISO-8601 timestamp with a 4-digit year can name.
MAX_TIMESTAMP = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def iso(ts: float) -> str:
    """AWS-style timestamp with milliseconds, as used in the context object.

    Virtual time can jump far (a Wait until 9999-12-31, years of retry back-off); times past
    the last 4-digit-year instant show as that instant instead of failing to format.
    """
    ts = min(ts, MAX_TIMESTAMP)
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------
# Fibers
# ---------------------------------------------------------------------------------------


class Fiber:
    """One thread of control walking one graph (the top level, a branch or an iteration)."""

    __slots__ = (
        "id",
        "program",
        "parent",
        "gen",
        "local_vars",
        "variables",
        "context",
        "retry_counts",
        "last_event_id",
        "state",
        "state_input",
        "visit",
        "visit_events",
        "journal",
        "jpos",
        "spawn_seq",
        "alive",
        "wait_seq",
        "group",
        "index",
        "rng",
        "replay_events",
        "entered_event_id",
        "map_item",
        "in_visit",
    )

    def __init__(
        self,
        program: Program,
        fid: str,
        parent: Fiber | None,
        variables: Mapping[str, Any] | None,
        index: int = 0,
    ) -> None:
        self.id = fid
        self.program = program
        self.parent = parent
        self.gen: Any = None
        self.local_vars: dict[str, Any] = {}
        self.variables: Mapping[str, Any] = (
            ChainMap(self.local_vars, variables) if variables is not None else self.local_vars
        )
        self.context: dict[str, Any] = program.base_context
        self.retry_counts: dict[int, int] = {}
        self.last_event_id = 0
        self.state: State | None = None
        self.state_input: Any = None
        self.visit = 0
        self.visit_events: list[int] = []
        self.journal: list[dict] = []
        self.jpos = 0
        self.spawn_seq = 0
        self.alive = True
        self.wait_seq = 0
        self.group: ChildGroup | None = None
        self.index = index
        self.rng = program.rng
        self.replay_events: list[int] = []
        self.entered_event_id = 0
        self.map_item: Any = None
        self.in_visit = False

    # -- used by states -------------------------------------------------------------------
    def assign(self, values: Mapping[str, Any]) -> None:
        if values:
            self.local_vars.update(values)

    def states_var(self, raw_input: Any, result: Any, error_output: Any = None) -> dict:
        """The ``$states`` object of JSONata expressions."""
        states = {"input": raw_input, "context": self.context}
        if result is not None:
            states["result"] = result
        if error_output is not None:
            states["errorOutput"] = error_output
        return states

    def caught(self, state: State, err: StatesError) -> None:
        """Hook for a Catch that handled ``err`` (recorded so views can show it)."""
        self.program.caught_errors.append((self.id, state.name, err.error))

    def emit(self, event_type: str, details_key: str | None = None, **details: Any) -> int:
        return self.program.emit(self, event_type, details_key, details)

    def child_id(self, index: int) -> str:
        return f"{self.id}/{self.visit}.{self.spawn_seq}.{index}"

    def checkpoint(self) -> dict:
        return {
            "state": self.state.name if self.state else None,
            "input": self.state_input,
            "vars": self.local_vars,
            "visit": self.visit,
            "visit_events": self.visit_events,
            "journal": self.journal,
            "retry_counts": {str(k): v for k, v in self.retry_counts.items()},
            "last_event_id": self.last_event_id,
            "map_item": self.map_item,
            "in_visit": self.in_visit,
            "status": "RUNNING",
        }


class ChildGroup:
    """The children of one Spawn request, with concurrency and failure tolerance."""

    def __init__(self, parent: Fiber, spawn: Spawn, seq: int) -> None:
        self.parent = parent
        self.spawn = spawn
        self.seq = seq
        self.pending: deque[ChildSpec] = deque(spawn.children)
        self.running: dict[int, Fiber] = {}
        self.results: list[Any] = [None] * len(spawn.children)
        self.remaining = len(spawn.children)
        self.failures = 0
        self.closed = False
        self.child_ids: list[str] = []

    def tolerated(self) -> bool:
        """Whether the failures so far are still within the tolerated threshold."""
        sp = self.spawn
        if sp.tolerated_count is None and sp.tolerated_percentage is None:
            return self.failures == 0
        total = len(sp.children)
        if sp.tolerated_count is not None and self.failures <= sp.tolerated_count:
            return True
        if sp.tolerated_percentage is not None and total:
            if self.failures * 100.0 / total <= sp.tolerated_percentage:
                return True
        return False


# ---------------------------------------------------------------------------------------
# The program
# ---------------------------------------------------------------------------------------


class Program:
    """Runs one execution of a definition to its end."""

    def __init__(
        self,
        definition: Definition,
        input: Any = None,
        *,
        info: ExecutionInfo | None = None,
        clock: Clock | None = None,
        tasks: TaskPort | None = None,
        sink: CheckpointSink | None = None,
        on_event: Callable[[dict], None] | None = None,
        max_workers: int = 32,
        seed: int | None = None,
        poll: Callable[[Program], None] | None = None,
        poll_interval: float = 0.25,
        services: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.definition = definition
        self.limits = limits or Limits.from_config()
        self.budget = EvalBudget(
            timeout_ms=self.limits.eval_timeout_ms,
            max_depth=self.limits.eval_max_depth,
            payload_bytes=self.limits.payload_bytes,
            should_stop=self._should_stop,
        )
        self._history_full = False
        self._ending = False
        #: Retries whose failed attempt recorded no event; each takes a place in the quota.
        self.silent_retries = 0
        self._last_poll = 0.0
        self.input = {} if input is None else input
        self.info = info or ExecutionInfo()
        self.clock = clock or Clock()
        self.tasks = tasks or NoTasks()
        self.sink = sink
        self.on_event = on_event
        self.poll = poll
        self.poll_interval = poll_interval
        self.services = services or {}
        self.rng = random.Random(seed)
        self.events: list[dict] = []
        self.pending_events: list[dict] = []
        self.next_event_id = 1
        self.caught_errors: list[tuple[str, str, str]] = []
        if self.info.start_time is None:
            self.info.start_time = self.clock.now()
        self.base_context = self._base_context()
        self._ready: deque[tuple[Fiber, Any]] = deque()
        self._timers: list[tuple[float, int, Fiber, int]] = []
        self._timer_seq = 0
        self._heartbeats: dict[int, tuple[float, list[float]]] = {}
        self._cancels: dict[int, threading.Event] = {}
        self._inflight = 0
        self._completions: queue.Queue = queue.Queue()
        self._executor: ThreadPoolExecutor | None = None
        self._max_workers = max_workers
        self._outcome: Outcome | None = None
        self._stop: tuple[str | None, str | None] | None = None
        self._dirty: dict[str, Any] = {}
        self._restored: dict[str, dict] = {}
        self._seq = 0
        self.root: Fiber | None = None

    # -- context ---------------------------------------------------------------------------
    def _base_context(self) -> dict:
        info = self.info
        return {
            "Execution": {
                "Id": info.execution_arn,
                "Input": self.input,
                "StartTime": iso(info.start_time),
                "Name": info.name,
                "RoleArn": info.role_arn,
                "RedriveCount": info.redrive_count,
            },
            "StateMachine": {"Id": info.state_machine_arn, "Name": info.state_machine_name},
        }

    # -- events ------------------------------------------------------------------------------
    def emit(
        self, fiber: Fiber | None, event_type: str, details_key: str | None, details: dict
    ) -> int:
        """Make one history event.  The only place events are created.

        AWS keeps at most ``limits.history_events`` events (25,000): "When an execution
        reaches 24,999 events, it waits for the next event to happen. If the event number
        25,000 is ExecutionSucceeded, the execution finishes successfully. If [it] isn't
        ExecutionSucceeded, the ExecutionFailed event is logged and the state machine execution
        fails" (Step Functions developer guide, "Avoid reaching the history quota").  So any
        other event that would take the last place raises :class:`HistoryLimitReached`, and the
        loop ends the execution as failed.
        """
        if fiber is not None and fiber.replay_events:
            event_id = fiber.replay_events.pop(0)
            fiber.visit_events.append(event_id)
            fiber.last_event_id = event_id
            return event_id
        event_id = self.next_event_id
        used = event_id + self.silent_retries
        if used >= self.limits.history_events and event_type not in _TERMINAL_EVENTS:
            if self._history_full or self._ending:
                return event_id  # dropped: the execution is ending because history is full
            self._history_full = True
            raise HistoryLimitReached
        self.next_event_id += 1
        event: dict[str, Any] = {
            "timestamp": self.clock.now(),
            "type": event_type,
            "id": event_id,
            "previousEventId": fiber.last_event_id if fiber is not None else event_id - 1,
        }
        if details_key is not None:
            event[details_key] = details
        self.events.append(event)
        if fiber is not None:
            fiber.last_event_id = event_id
            if self.sink is not None:
                fiber.visit_events.append(event_id)
                self._mark(fiber)
        if self.sink is not None:
            self.pending_events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event_id

    def charge_silent_retry(self) -> None:
        """Count a retry whose failed attempt recorded no history event against the quota.

        Why: the history quota is what bounds a retry loop (AWS records every attempt), but an
        attempt can fail before it records anything (a Map's ``Items`` that is not an array, a
        Task's ``Parameters`` whose intrinsic fails).  With ``MaxAttempts`` 99999999 and a
        virtual clock, such a loop re-evaluated its expressions for minutes without one event.
        Charging each silent retry a place in the quota ends it as a full history would, after
        at most ``limits.history_events`` retries, and leaves the recorded history unchanged.
        """
        self.silent_retries += 1
        if self.next_event_id + self.silent_retries >= self.limits.history_events:
            if not (self._history_full or self._ending):
                self._history_full = True
                raise HistoryLimitReached

    def fits_payload(self, text: str) -> bool:
        """Whether ``text`` (a serialised payload) is within AWS's payload quota."""
        limit = self.limits.payload_bytes
        # A character takes at most 4 UTF-8 bytes: most payloads need no encoding to judge.
        return len(text) * 4 <= limit or len(text.encode()) <= limit

    def _check_payload(self, text: str, what: str) -> None:
        """AWS's payload quota (256 KiB of UTF-8 by default) on a state's input or output."""
        if self.fits_payload(text):
            return
        limit = self.limits.payload_bytes
        raise StatesError(
            E.DATA_LIMIT_EXCEEDED,
            f"{what} with a size exceeding the maximum number of bytes service limit "
            f"({limit} bytes).",
        )

    # -- durability seam -------------------------------------------------------------------
    def _mark(self, fiber: Fiber) -> None:
        self._dirty[fiber.id] = fiber

    def _commit(self) -> None:
        if self.sink is None or (not self.pending_events and not self._dirty):
            return
        rows: dict[str, dict | None] = {}
        for fid, item in self._dirty.items():
            if isinstance(item, Fiber):
                rows[fid] = item.checkpoint() if item.alive else None
            else:
                rows[fid] = item
        self.sink.commit(self.pending_events, rows)
        self.pending_events = []
        self._dirty = {}

    def restore(self, events: list[dict], fibers: dict[str, dict]) -> None:
        """Load a crashed program's history and fiber checkpoints before :meth:`run`."""
        self.events = list(events)
        self.next_event_id = (events[-1]["id"] + 1) if events else 1
        self._restored = dict(fibers)

    # -- public ------------------------------------------------------------------------------
    def request_stop(self, error: str | None = None, cause: str | None = None) -> None:
        """Abort the execution from any thread (StopExecution)."""
        self._stop = (error, cause)
        self._completions.put(None)

    def _should_stop(self) -> bool:
        """Polled by long expression evaluations: has StopExecution been asked for?"""
        if self._stop is None and self.poll is not None:
            now = time.monotonic()
            if now - self._last_poll >= self.poll_interval:
                self._last_poll = now
                self.poll(self)
        return self._stop is not None

    def run(self) -> Outcome:
        """Run to the end and return how it ended.

        No Python exception escapes as anything but a failed execution: an internal error
        (a bug, ``MemoryError``, ``RecursionError``) ends it with ``States.Runtime``, so no
        execution is left RUNNING.  ``KeyboardInterrupt`` and ``SystemExit`` do propagate:
        the process is going away and a durable execution resumes later, as after a crash.
        """
        previous = getattr(jsonata._local, "budget", None)
        jsonata._local.budget = self.budget
        try:
            try:
                return self._run()
            except Exception as exc:
                if self._outcome is None:
                    self._fail_internal(exc)
                return self._outcome  # type: ignore[return-value]
        finally:
            jsonata._local.budget = previous
            # Abandoned tasks are cancelled only when the execution ended; when the host
            # process is merely going away (Ctrl-C), work such as jobs must carry on.
            if self._outcome is not None:
                for cancel in self._cancels.values():
                    cancel.set()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)

    def _fail_internal(self, exc: BaseException) -> None:
        """End the execution as FAILED after an error the language did not expect."""
        self._ending = True
        try:
            self._kill_all()
        except Exception:  # noqa: BLE001 - ending anyway; the failure below is what counts
            pass
        self._finish_failed(
            StatesError(E.RUNTIME, f"Internal error: {type(exc).__name__}: {exc}", in_state=False)
        )
        self._commit()

    def _run(self) -> Outcome:
        root = Fiber(self, "0", None, None)
        self.root = root
        restored = self._restored.get("0")
        if restored is None:
            self.emit(
                root,
                "ExecutionStarted",
                "executionStartedEventDetails",
                {
                    "input": dumps(self.input),
                    "inputDetails": {"truncated": False},
                    "roleArn": self.info.role_arn,
                },
            )
            root.gen = self._graph(root, self.definition.graph, None, self.input)
        else:
            self._load_fiber(root, restored)
            root.gen = self._graph(
                root, self.definition.graph, restored["state"], restored["input"]
            )
        timeout = self.definition.timeout_seconds
        if timeout is not None:
            base = self.info.timeout_from or self.info.start_time
            self._add_timer(base + timeout, root, -1, "execution")
        self._ready.append((root, None))
        while self._outcome is None:
            if self._stop is not None:
                err, cause = self._stop
                self._finish_aborted(err, cause)
                break
            if self._history_full:
                self._finish_history_full()
                break
            if self._ready:
                fiber, value = self._ready.popleft()
                self._step(fiber, value)
                continue
            self._commit()
            self._wait()
        self._commit()
        return self._outcome  # type: ignore[return-value]

    # -- the loop --------------------------------------------------------------------------
    def _wait(self) -> None:
        """Nothing is ready: wait for a task to finish, the next timer, or a stop request."""
        deadline = self._timers[0][0] if self._timers else None
        if self.clock.virtual and not self._inflight and self._stop is None:
            if deadline is None:
                raise RuntimeError("program is stuck: nothing running and nothing scheduled")
            self.clock.advance_to(deadline)
            self._fire_timers()
            return
        timeout: float | None = None
        if deadline is not None and not self.clock.virtual:
            timeout = max(0.0, deadline - self.clock.now())
        if self.poll is not None:
            timeout = self.poll_interval if timeout is None else min(timeout, self.poll_interval)
        if timeout is None and not self._inflight and self._stop is None:
            raise RuntimeError("program is stuck: nothing running and nothing scheduled")
        try:
            item = self._completions.get(timeout=timeout)
        except queue.Empty:
            item = None
        while item is not None:
            self._complete(*item)
            try:
                item = self._completions.get_nowait()
            except queue.Empty:
                item = None
        if self.poll is not None:
            self.poll(self)
        self._fire_timers()

    def _fire_timers(self) -> None:
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, fiber, seq, kind = heapq.heappop(self._timers)
            if kind == "execution":
                self._finish_timed_out()
                return
            if not fiber.alive or fiber.wait_seq != seq:
                continue
            if kind == "heartbeat":
                interval, last = self._heartbeats[seq]
                if now - last[0] < interval:
                    self._add_timer(last[0] + interval, fiber, seq, "heartbeat")
                    continue
                value: Any = (
                    "err",
                    StatesError(E.HEARTBEAT_TIMEOUT, "Task heartbeat timed out.", in_state=False),
                )
            elif kind == "timeout":
                value = ("err", StatesError(E.TIMEOUT, "Task timed out.", in_state=False))
            else:
                value = None
            fiber.wait_seq = 0
            cancel = self._cancels.pop(seq, None)
            if cancel is not None:
                cancel.set()
            self._journal_done(fiber, value)
            self._ready.append((fiber, value))

    def _add_timer(self, deadline: float, fiber: Fiber, seq: int, kind: str = "wake") -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (deadline, self._timer_seq, fiber, seq, kind))

    def _step(self, fiber: Fiber, value: Any) -> None:
        if not fiber.alive:
            return
        try:
            try:
                request = fiber.gen.send(value)
            except StopIteration as stop:
                self._fiber_done(fiber, "ok", stop.value)
                return
            except StatesError as err:
                self._fiber_done(fiber, "err", err)
                return
            self._dispatch(fiber, request)
        except (HistoryLimitReached, EvaluationStopped):
            # The loop sees the full history or the stop request next and ends the execution.
            return

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _dispatch(self, fiber: Fiber, request: Any) -> None:
        entry = None
        if self.sink is not None:
            if fiber.jpos < len(fiber.journal):
                entry = fiber.journal[fiber.jpos]
                fiber.jpos += 1
                if entry.get("done"):
                    self._ready.append((fiber, _thaw(entry["result"])))
                    return
            else:
                entry = {"kind": type(request).__name__, "done": False}
                fiber.journal.append(entry)
                fiber.jpos += 1
                self._mark(fiber)
        seq = self._next_seq()
        fiber.wait_seq = seq
        if isinstance(request, Sleep):
            deadline = request.deadline
            if entry is not None:
                deadline = entry.setdefault("deadline", deadline)
            if deadline <= self.clock.now():
                fiber.wait_seq = 0
                self._journal_done(fiber, None)
                self._ready.append((fiber, None))
            else:
                self._add_timer(deadline, fiber, seq)
                self._commit()
            return
        if isinstance(request, Invoke):
            self._start_invoke(fiber, request, seq, entry)
            return
        if isinstance(request, Spawn):
            self._start_spawn(fiber, request, seq)
            return
        raise TypeError(f"unknown request {request!r}")

    def _journal_done(self, fiber: Fiber, result: Any) -> None:
        if self.sink is None or not fiber.journal:
            return
        entry = fiber.journal[fiber.jpos - 1]
        entry["done"] = True
        entry["result"] = _freeze(result)
        self._mark(fiber)

    # -- tasks -----------------------------------------------------------------------------
    def _start_invoke(self, fiber: Fiber, inv: Invoke, seq: int, entry: dict | None) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="task")
        attempt = sum(fiber.retry_counts.values())
        token = inv.token or (
            f"{self.info.execution_arn}#{fiber.id}#{fiber.visit}#{fiber.jpos}#{attempt}"
        )
        if entry is not None:
            token = entry.setdefault("token", token)
        cancel = threading.Event()
        clock = self.clock
        heartbeat_at = [clock.now()]
        request = TaskRequest(
            resource=inv.resource,
            parameters=inv.parameters,
            state_name=inv.state_name,
            execution_arn=self.info.execution_arn,
            execution_name=self.info.name,
            token=token,
            timeout=inv.timeout,
            cancel=cancel,
            heartbeat=lambda: heartbeat_at.__setitem__(0, clock.now()),
            credentials=inv.credentials,
            services=self.services,
        )
        self._inflight += 1
        self._cancels[seq] = cancel
        if inv.timeout is not None:
            self._add_timer(self.clock.now() + inv.timeout, fiber, seq, "timeout")
        if inv.heartbeat is not None:
            self._heartbeats[seq] = (inv.heartbeat, heartbeat_at)
            self._add_timer(self.clock.now() + inv.heartbeat, fiber, seq, "heartbeat")
        self._commit()
        completions = self._completions
        tasks = self.tasks

        def work() -> None:
            try:
                result = ("ok", _json_result(tasks.invoke(request)))
            except StatesError as err:
                result = ("err", err)
            except Exception as exc:  # an integration bug or a user function's exception
                result = ("err", StatesError(type(exc).__name__, str(exc), in_state=False))
            completions.put((fiber, seq, result, cancel))

        self._executor.submit(work)

    def _complete(self, fiber: Fiber, seq: int, result: Any, cancel: threading.Event) -> None:
        self._inflight -= 1
        self._cancels.pop(seq, None)
        self._heartbeats.pop(seq, None)
        if not fiber.alive or fiber.wait_seq != seq:
            cancel.set()
            return
        fiber.wait_seq = 0
        self._journal_done(fiber, result)
        self._ready.append((fiber, result))

    # -- children --------------------------------------------------------------------------
    def _start_spawn(self, parent: Fiber, spawn: Spawn, seq: int) -> None:
        group = ChildGroup(parent, spawn, seq)
        parent.group = group
        group.child_ids = [parent.child_id(spec.index) for spec in spawn.children]
        parent.spawn_seq += 1
        self._fill_group(group)
        if group.remaining == 0 or (group.failures and not group.tolerated()):
            self._settle(group)

    def _fill_group(self, group: ChildGroup) -> None:
        """Start children while concurrency allows; restored finished children count at once."""
        limit = group.spawn.max_concurrency or len(group.spawn.children)
        parent = group.parent
        while group.pending and len(group.running) < limit and not group.closed:
            spec = group.pending.popleft()
            fid = group.child_ids[spec.index]
            variables = None if spec.isolated_variables else parent.variables
            child = Fiber(self, fid, parent, variables, spec.index)
            child.last_event_id = parent.last_event_id
            restored = self._restored.pop(fid, None)
            if restored is not None and restored.get("status") in ("SUCCEEDED", "FAILED"):
                ok = restored["status"] == "SUCCEEDED"
                value = (
                    restored.get("output")
                    if ok
                    else StatesError(restored["error"], restored.get("cause"), in_state=False)
                )
                self._record_child(group, child, "ok" if ok else "err", value, replayed=True)
                if group.failures and not group.tolerated():
                    return
                continue
            group.running[spec.index] = child
            if group.spawn.kind == "map":
                child.map_item = spec.input
            if restored is not None:
                self._load_fiber(child, restored)
                child.gen = self._branch(child, group, spec, restored["state"], restored["input"])
            else:
                child.gen = self._branch(child, group, spec, None, spec.input)
            self._ready.append((child, None))

    def _branch(self, child: Fiber, group: ChildGroup, spec: ChildSpec, start: Any, value: Any):
        if group.spawn.kind == "map" and start is None:
            self.emit(
                child,
                "MapIterationStarted",
                "mapIterationStartedEventDetails",
                {"name": group.spawn.state_name, "index": spec.index},
            )
        output = yield from self._graph(child, spec.graph, start, value)
        return output

    def _record_child(
        self, group: ChildGroup, child: Fiber, status: str, value: Any, replayed: bool = False
    ) -> None:
        group.running.pop(child.index, None)
        group.results[child.index] = (status, value)
        group.remaining -= 1
        if status == "err":
            group.failures += 1
        child.alive = False
        if replayed:
            return
        if group.spawn.kind == "map":
            details = {"name": group.spawn.state_name, "index": child.index}
            if status == "ok":
                self.emit(
                    child, "MapIterationSucceeded", "mapIterationSucceededEventDetails", details
                )
            else:
                self.emit(child, "MapIterationFailed", "mapIterationFailedEventDetails", details)
        if self.sink is not None:
            if status == "ok":
                self._dirty[child.id] = {"status": "SUCCEEDED", "output": value}
            else:
                # Keep where it failed, so a redrive can restart it from that state.
                row = child.checkpoint()
                row.update(status="FAILED", error=value.error, cause=value.cause)
                self._dirty[child.id] = row

    def _child_done(self, group: ChildGroup, child: Fiber, status: str, value: Any) -> None:
        if group.closed:
            return
        self._record_child(group, child, status, value)
        if group.remaining == 0 or (status == "err" and not group.tolerated()):
            self._settle(group)
            return
        self._fill_group(group)
        if group.remaining == 0 or (group.failures and not group.tolerated()):
            self._settle(group)

    def _settle(self, group: ChildGroup) -> None:
        """The group's outcome is known: abort what still runs and wake the parent."""
        if group.closed:
            return
        if group.running or group.pending:
            self._abort_group(group)
        group.closed = True
        parent = group.parent
        parent.group = None
        if self.sink is not None and not group.failures:
            for fid in group.child_ids:
                self._dirty[fid] = None
        if parent.wait_seq != group.seq:
            return
        parent.wait_seq = 0
        self._journal_done(parent, group.results)
        self._ready.append((parent, group.results))

    def _abort_group(self, group: ChildGroup) -> None:
        for child in list(group.running.values()):
            self._kill(child, aborted=True)
        group.running.clear()
        group.pending.clear()

    def _kill(self, fiber: Fiber, aborted: bool) -> None:
        if not fiber.alive:
            return
        fiber.alive = False
        cancel = self._cancels.pop(fiber.wait_seq, None)
        if cancel is not None:
            cancel.set()
        if fiber.group is not None and not fiber.group.closed:
            self._abort_group(fiber.group)
            fiber.group.closed = True
        parent_group = fiber.parent.group if fiber.parent is not None else None
        if aborted and parent_group is not None and parent_group.spawn.kind == "map":
            self.emit(
                fiber,
                "MapIterationAborted",
                "mapIterationAbortedEventDetails",
                {"name": parent_group.spawn.state_name, "index": fiber.index},
            )
        if fiber.gen is not None:
            fiber.gen.close()
        if self.sink is not None:
            # Keep the aborted fiber's position: a redrive continues it from there.
            row = fiber.checkpoint()
            row["status"] = "ABORTED"
            self._dirty[fiber.id] = row

    # -- fibers ----------------------------------------------------------------------------
    def _load_fiber(self, fiber: Fiber, row: dict) -> None:
        fiber.local_vars.update(row.get("vars") or {})
        fiber.visit = row.get("visit", 0)
        fiber.replay_events = list(row.get("visit_events") or [])
        fiber.journal = list(row.get("journal") or [])
        fiber.retry_counts = {int(k): v for k, v in (row.get("retry_counts") or {}).items()}
        fiber.last_event_id = row.get("last_event_id", 0)
        fiber.map_item = row.get("map_item")
        fiber.in_visit = bool(row.get("in_visit"))
        if fiber.replay_events:
            # The events of the interrupted visit were recorded; restart the visit from the
            # event before them so previousEventId chains come out the same.
            fiber.last_event_id = self._previous_of(fiber.replay_events[0])

    def _previous_of(self, event_id: int) -> int:
        # Event ids are 1..n in order, so the event is at index id - 1 (a lookup per restored
        # fiber, not a scan: resuming a Map of thousands of iterations stays linear).
        index = event_id - 1
        if 0 <= index < len(self.events) and self.events[index]["id"] == event_id:
            return self.events[index].get("previousEventId", event_id - 1)
        return event_id - 1

    def _fiber_done(self, fiber: Fiber, status: str, value: Any) -> None:
        if fiber.parent is None:
            if status == "ok":
                self._finish_succeeded(value)
            else:
                self._finish_failed(value)
            return
        parent = fiber.parent
        group = parent.group
        if group is None:
            return
        self._child_done(group, fiber, status, value)

    # -- endings ---------------------------------------------------------------------------
    def _finish_succeeded(self, output: Any) -> None:
        self.emit(
            None,
            "ExecutionSucceeded",
            "executionSucceededEventDetails",
            {"output": dumps(output), "outputDetails": {"truncated": False}},
        )
        self._end(Outcome("SUCCEEDED", output=output))

    def _finish_failed(self, err: StatesError) -> None:
        details: dict[str, Any] = {"error": err.error}
        if err.cause is not None:
            details["cause"] = err.cause
        self.emit(None, "ExecutionFailed", "executionFailedEventDetails", details)
        self._end(Outcome("FAILED", error=err.error, cause=err.cause))

    def _finish_history_full(self) -> None:
        self._ending = True
        self._kill_all()
        limit = self.limits.history_events
        self._finish_failed(
            StatesError(
                E.RUNTIME,
                f"The execution reached the maximum number of history events ({limit}).",
                in_state=False,
            )
        )

    def _finish_timed_out(self) -> None:
        self._ending = True
        self._kill_all()
        self.emit(
            None,
            "ExecutionTimedOut",
            "executionTimedOutEventDetails",
            {"error": E.TIMEOUT, "cause": "The execution timed out."},
        )
        self._end(Outcome("TIMED_OUT", error=E.TIMEOUT, cause="The execution timed out."))

    def _finish_aborted(self, error: str | None, cause: str | None) -> None:
        self._ending = True
        self._kill_all()
        details = {}
        if error:
            details["error"] = error
        if cause:
            details["cause"] = cause
        self.emit(None, "ExecutionAborted", "executionAbortedEventDetails", details)
        self._end(Outcome("ABORTED", error=error, cause=cause))

    def _kill_all(self) -> None:
        if self.root is not None:
            self._kill(self.root, aborted=True)

    def _end(self, outcome: Outcome) -> None:
        self._outcome = outcome
        if self.sink is not None and self.root is not None and outcome.status != "SUCCEEDED":
            # The root's position stays recorded so the execution can be redriven.
            self._dirty["0"] = self.root.checkpoint()

    # -- walking a graph -------------------------------------------------------------------
    def _graph(self, fiber: Fiber, graph: Graph, start: str | None, value: Any):
        """Generator: run ``graph`` from ``start`` (or StartAt) on ``value``; return output."""
        name = start or graph.start_at
        resuming = fiber.in_visit
        while True:
            state = graph.states[name]
            fiber.state = state
            fiber.state_input = value
            if not resuming:
                fiber.visit += 1
                fiber.visit_events = []
                fiber.journal = []
                fiber.retry_counts = {}
            resuming = False
            fiber.in_visit = True
            fiber.jpos = 0
            fiber.spawn_seq = 0
            now = self.clock.now()
            text = dumps(value)
            # An input over the quota fails the state below; its event must not carry it,
            # so the history keeps within the quota too (AWS's "truncated" flag says so).
            shown = text if self.fits_payload(text) else ""
            entered = self.emit(
                fiber,
                f"{state.type}StateEntered",
                "stateEnteredEventDetails",
                {"name": name, "input": shown, "inputDetails": {"truncated": shown != text}},
            )
            fiber.entered_event_id = entered
            fiber.context = dict(self.base_context)
            state_ctx = {"EnteredTime": iso(now), "Name": name}
            if state.retriers:
                state_ctx["RetryCount"] = sum(fiber.retry_counts.values())
            fiber.context["State"] = state_ctx
            try:
                self._check_payload(text, f"The state '{name}' received an input")
                transition: Transition = yield from state.run(fiber, value)
                if state.emits_exit:
                    text = dumps(transition.output)
                    self._check_payload(text, f"The state '{name}' produced an output")
            except StatesError as err:
                if err.in_state and err.cause is not None:
                    err = StatesError(
                        err.error,
                        f"An error occurred while executing the state '{name}' (entered at the "
                        f"event id #{entered}). {err.cause}",
                        in_state=False,
                    )
                raise err from None
            except Exception as exc:
                # A bug or exhaustion (MemoryError, RecursionError) in evaluation: fail the
                # branch with the terminal States.Runtime, never a raw Python exception.
                raise StatesError(
                    E.RUNTIME,
                    f"An error occurred while executing the state '{name}' (entered at the event "
                    f"id #{entered}). Internal error: {type(exc).__name__}: {exc}",
                    in_state=False,
                ) from None
            if state.emits_exit:
                self.emit(
                    fiber,
                    f"{state.type}StateExited",
                    "stateExitedEventDetails",
                    {"name": name, "output": text, "outputDetails": {"truncated": False}},
                )
            if transition.next is None:
                return transition.output
            name = transition.next
            value = transition.output
            if self.sink is not None:
                # Checkpoint the transition: a restart begins the next state afresh.
                fiber.state = graph.states[name]
                fiber.state_input = value
                fiber.in_visit = False
                fiber.visit_events = []
                fiber.journal = []
                fiber.retry_counts = {}
                self._mark(fiber)
                self._commit()


def _json_result(value: Any) -> Any:
    """A task's result, refused when it is not JSON (NaN, Infinity, Python objects)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StatesError(
            E.RUNTIME, f"The task returned a result that is not valid JSON: {exc}", in_state=False
        ) from None
    return value


def _freeze(result: Any) -> Any:
    """Make a request outcome JSON-storable for the journal."""
    if isinstance(result, list):
        return [_freeze(r) for r in result]
    if isinstance(result, tuple):
        if len(result) == 2 and result[0] == "err" and isinstance(result[1], StatesError):
            return ["err", {"error": result[1].error, "cause": result[1].cause}]
        return [_freeze(r) for r in result]
    return result


def _thaw(result: Any) -> Any:
    if isinstance(result, list) and len(result) == 2 and result[0] in ("ok", "err"):
        if result[0] == "err":
            return ("err", StatesError(result[1]["error"], result[1]["cause"], in_state=False))
        return ("ok", result[1])
    if isinstance(result, list):
        return [_thaw(r) for r in result]
    return result


__all__ = [
    "ChildSpec",
    "Clock",
    "ExecutionInfo",
    "Fiber",
    "Invoke",
    "Outcome",
    "Program",
    "Sleep",
    "Spawn",
    "TaskPort",
    "TaskRequest",
    "VirtualClock",
]
