"""Rebuild an execution's progress graph from its history events.

History events are the single source of truth; the CLI progress view, the web console and
notebook views all colour states from this one reduction, so they never disagree.

Statuses: ``not_run``, ``in_progress``, ``succeeded``, ``failed``, ``caught`` (an error that a
Catch handled) and ``cached`` (a job step that reused a previous job's outputs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_FAILURE_EVENTS = {
    "TaskFailed",
    "TaskTimedOut",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "MapStateFailed",
    "ParallelStateFailed",
}
_SUCCESS_EVENTS = {
    "TaskSucceeded",
    "LambdaFunctionSucceeded",
    "MapStateSucceeded",
    "ParallelStateSucceeded",
}


@dataclass
class StateProgress:
    """What happened to one state (all its visits and Map iterations together)."""

    name: str
    type: str = ""
    status: str = "not_run"
    entered: int = 0
    exited: int = 0
    failures: int = 0
    started: Any = None
    ended: Any = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    cached: bool = False
    job_name: str | None = None
    events: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "events"} | {"eventIds": self.events}


def _details(event: dict) -> dict:
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}


def summarize(events: list[dict]) -> dict[str, StateProgress]:
    """Per-state progress from GetExecutionHistory-shaped events (oldest first)."""
    states: dict[str, StateProgress] = {}
    by_event: dict[int, str] = {}
    open_failure: dict[str, bool] = {}
    for event in events:
        etype = event["type"]
        details = _details(event)
        name: str | None = None
        if etype.endswith("StateEntered"):
            name = details.get("name")
            prog = states.setdefault(name, StateProgress(name))
            prog.type = etype[: -len("StateEntered")]
            prog.entered += 1
            prog.status = "in_progress"
            prog.input = details.get("input")
            if prog.started is None:
                prog.started = event["timestamp"]
            open_failure[name] = False
            if prog.type == "Fail":
                prog.status = "failed"
        else:
            parent = event.get("previousEventId")
            name = by_event.get(parent) if parent is not None else None
            if etype.endswith("StateExited"):
                name = details.get("name", name)
        if name is None:
            if etype == "ExecutionFailed":
                for prog in states.values():
                    if prog.status == "in_progress":
                        prog.status = "failed"
                        prog.error = prog.error or details.get("error")
                        prog.cause = prog.cause or details.get("cause")
            elif etype in ("ExecutionAborted", "ExecutionTimedOut"):
                for prog in states.values():
                    if prog.status == "in_progress":
                        prog.status = "failed"
                        prog.error = details.get("error") or etype
            continue
        by_event[event["id"]] = name
        prog = states.setdefault(name, StateProgress(name))
        prog.events.append(event["id"])
        if etype in _FAILURE_EVENTS:
            prog.failures += 1
            prog.error = details.get("error")
            prog.cause = details.get("cause")
            open_failure[name] = True
        elif etype in _SUCCESS_EVENTS:
            open_failure[name] = False
            output = details.get("output")
            if output and '"StepLineCache"' in output:
                prog.cached = True
            if output:
                prog.job_name = _job_name(output) or prog.job_name
        elif etype == "TaskScheduled":
            params = details.get("parameters")
            if params:
                prog.job_name = _job_name(params) or prog.job_name
        elif etype.endswith("StateExited"):
            prog.exited += 1
            prog.output = details.get("output")
            prog.ended = event["timestamp"]
            if prog.exited >= prog.entered:
                if open_failure.get(name):
                    prog.status = "caught"
                elif prog.cached:
                    prog.status = "cached"
                else:
                    prog.status = "succeeded"
    return states


def _job_name(text: str) -> str | None:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for key in (
        "TrainingJobName",
        "ProcessingJobName",
        "TransformJobName",
        "HyperParameterTuningJobName",
    ):
        if isinstance(data.get(key), str):
            return data[key]
    return None
