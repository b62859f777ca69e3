"""Run a definition in memory, start to end: :func:`execute`, for tests and notebooks.

Why no engine: nothing is stored, nothing survives the process; the durable engine
(:mod:`stepline.engine`) runs the same :class:`~stepline.asl.program.Program` with a
checkpoint sink.  The Task port comes from :mod:`stepline.wiring` (registered by the
composition root), so the language layer imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stepline import config, wiring
from stepline.asl.definition import Definition, parse
from stepline.asl.limits import Limits
from stepline.asl.program import (
    Clock,
    ExecutionInfo,
    Program,
    TaskPort,
    VirtualClock,
    iso,
)


@dataclass
class ExecutionResult:
    """How an in-memory execution ended, with its full event history."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    events: list[dict] = field(default_factory=list)


def execute(
    definition: Mapping[str, Any] | str | Definition,
    input: Any = None,
    *,
    virtual_time: bool = False,
    tasks: TaskPort | None = None,
    name: str = "local",
    seed: int | None = None,
    limits: Limits | None = None,
) -> ExecutionResult:
    """Run ``definition`` on ``input`` in memory and return its result.

    ``virtual_time=True`` makes Waits and retry back-offs jump instead of sleeping.
    ``tasks`` resolves Task resources; by default, the task port registered in
    :mod:`stepline.wiring` by the composition root (``stepline/__init__.py``): the
    integrations, with local functions and nested executions.  ``limits`` overrides the
    configured quotas and expression budget (:class:`~stepline.asl.limits.Limits`).

    Never raises for what happens while running: errors end the execution (``status``
    FAILED with an AWS error name).  An invalid definition raises
    :class:`~stepline.asl.errors.DefinitionError` listing every problem.
    """
    parsed = definition if isinstance(definition, Definition) else parse(definition)
    if tasks is None:
        tasks = wiring.default_task_port(virtual_time=virtual_time)
    info = ExecutionInfo(
        execution_arn=config.arn("states", f"execution:local:{name}"),
        name=name,
    )
    program = Program(
        parsed,
        input,
        info=info,
        clock=VirtualClock() if virtual_time else Clock(),
        tasks=tasks,
        seed=seed,
        limits=limits,
    )
    outcome = program.run()
    events = [_event_json(e) for e in program.events]
    return ExecutionResult(outcome.status, outcome.output, outcome.error, outcome.cause, events)


def _event_json(event: dict) -> dict:
    out = dict(event)
    out["timestamp"] = iso(event["timestamp"])
    return out
