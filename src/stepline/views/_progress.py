"""The one reduction of an execution's history to a status per graph node.

The console, ``stepline run`` and notebooks (``render_progress`` and the SDK's
``Execution.render_progress``) all read progress from :func:`state_statuses`, so a state
shows the same status everywhere.  The reduction has three steps: index the graph
(:class:`_Index`), replay the history into *visits* of states (:class:`_Replay`), and sum a
node's visits up (:func:`_summary`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stepline.views._model import graph_model, is_group, state_class

_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_RETRY_TYPES = ("Scheduled",)
#: Which visit's status a node shows when it has several (a Map's iterations).
_RANK = {"running": 5, "failed": 4, "caught": 3, "cancelled": 2, "succeeded": 1, "cached": 0}


def _ts(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _parsed(text: Any) -> Any:
    """A history field's JSON text parsed (None if it is not JSON)."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _cache_hit(result: Any) -> bool:
    """Whether a Task's (parsed) result says its job reused an earlier job's outputs.

    The SageMaker integration adds ``StepLineCache: {"Hit": true, ...}`` to the result of a
    job step that hit the step cache; only that field counts, not the words anywhere else."""
    note = result.get("StepLineCache") if isinstance(result, dict) else None
    return isinstance(note, dict) and note.get("Hit") is True


def _job_name(text: Any) -> str | None:
    """The SageMaker job a Task's parameters or result name, if any."""
    if not text:
        return None
    data = _parsed(text)
    # Only data that names a job pays for importing the job types (the SageMaker layer).
    if isinstance(data, dict) and any(str(key).endswith("JobName") for key in data):
        for key in _job_name_fields():
            if isinstance(data.get(key), str):
                return data[key]
    return None


@functools.cache
def _job_name_fields() -> tuple[str, ...]:
    """Every SageMaker job type's name field (``TrainingJobName`` ...), from the service
    layer's job types, so a new job kind's steps show their job without an edit here."""
    from stepline import sagemaker

    return tuple(job.name_field for job in sagemaker.JOB_TYPES.values())


@dataclass
class _Visit:
    """One entry into a state (a Map state's processor is visited once per iteration)."""

    id: int
    name: str
    parent: int | None
    node: str
    type: str
    entered: float | None
    input: str | None
    iteration: int | None = None
    exited: float | None = None
    output: str | None = None
    failed: bool = False
    error: str | None = None
    cause: str | None = None
    retries: int = 0
    status: str = "running"
    after_redrive: bool = False
    cached: bool = False
    job: str | None = None
    children: list[int] = field(default_factory=list)


@dataclass
class _Index:
    """What the replay needs to know of the graph: node types and where a state name lands."""

    types: dict[str, str]
    group_of: dict[str, str | None]
    #: (scope id, state name) -> node id; the scope of a top-level state is "".
    lookup: dict[tuple[str, str], str]
    #: A Parallel/Map node's child scopes: "P/0", "P/1", ...
    child_scopes: dict[str, list[str]]

    @classmethod
    def of(cls, model: dict[str, Any]) -> _Index:
        lookup: dict[tuple[str, str], str] = {}
        for node in model["nodes"]:
            if node["kind"] != "state":
                continue
            nid = node["id"]
            scope = nid[: len(nid) - len(node["name"])].rstrip("/")
            lookup[(scope, node["name"])] = nid
        child_scopes: dict[str, list[str]] = {}
        for g in model["groups"]:
            if g["type"] == "Branch" and g["parent"]:
                child_scopes.setdefault(g["parent"], []).append(g["id"])
        return cls(
            types={n["id"]: n["type"] for n in model["nodes"]},
            group_of={n["id"]: n.get("group") for n in model["nodes"]},
            lookup=lookup,
            child_scopes=child_scopes,
        )

    def node_for(self, name: str, parent_node: str | None) -> str:
        """The node id of state ``name`` entered inside ``parent_node`` (None: top level)."""
        if parent_node is None:
            return self.lookup.get(("", name), name)
        return next(
            (
                self.lookup[(s, name)]
                for s in self.child_scopes.get(parent_node, [])
                if (s, name) in self.lookup
            ),
            f"{parent_node}/0/{name}",
        )


class _Replay:
    """The visits of one history.

    Each ``*StateEntered`` event opens a visit; every later event belongs to the visit its
    ``previousEventId`` chain leads to (how the history threads Parallel branches and Map
    iterations), so concurrent iterations of one state never mix."""

    def __init__(self, index: _Index) -> None:
        self.index = index
        self.by_id: dict[int, Mapping[str, Any]] = {}
        self.owner: dict[int, int | None] = {}
        self.visits: dict[int, _Visit] = {}
        self.redriven = False

    def feed(self, event: Mapping[str, Any]) -> None:
        eid = int(event.get("id", 0))
        prev = int(event.get("previousEventId", 0) or 0)
        etype = str(event.get("type", ""))
        self.by_id[eid] = event
        details = _details(event)
        when = _ts(event.get("timestamp"))
        if etype == "ExecutionRedriven":
            self.redriven = True
            self.owner[eid] = None
            return
        if etype.endswith("StateEntered"):
            self._enter(eid, prev, etype, details, when)
            return
        vid = self.owner.get(prev)
        self.owner[eid] = vid
        if vid is None or etype.startswith("Execution"):
            return
        self._apply(self.visits[vid], etype, details, when)

    def _enter(
        self, eid: int, prev: int, etype: str, details: dict[str, Any], when: float | None
    ) -> None:
        prev_event = self.by_id.get(prev, {})
        prev_type = str(prev_event.get("type", ""))
        prev_owner = self.owner.get(prev)
        if prev_type.endswith("StateExited") and prev_owner is not None:
            parent = self.visits[prev_owner].parent
        else:
            parent = prev_owner
        name = str(details.get("name", ""))
        node = self.index.node_for(name, None if parent is None else self.visits[parent].node)
        iteration = None
        if prev_type == "MapIterationStarted":
            iteration = _details(prev_event).get("index")
        elif parent is not None and self.visits[parent].iteration is not None:
            iteration = self.visits[parent].iteration
        visit = _Visit(
            id=eid,
            name=name,
            parent=parent,
            node=node,
            type=self.index.types.get(node, etype[: -len("StateEntered")]),
            entered=when,
            input=details.get("input"),
            iteration=iteration,
            after_redrive=self.redriven,
        )
        cls = state_class(visit.type)
        if cls is not None and not cls.emits_exit:  # Fail: it fails as it enters, never exits
            visit.failed, visit.status = True, "failed"
        self.visits[eid] = visit
        if parent is not None:
            self.visits[parent].children.append(eid)
        self.owner[eid] = eid

    def _apply(
        self, visit: _Visit, etype: str, details: dict[str, Any], when: float | None
    ) -> None:
        """What a non-entry event says about the visit it belongs to."""
        if etype.endswith("StateExited"):
            visit.exited = when
            visit.output = details.get("output")
            if visit.failed:
                visit.status = "caught"
            else:
                visit.status = "cached" if visit.cached else "succeeded"
            self._close_children(visit, when)
        elif etype == "TaskScheduled":
            visit.job = _job_name(details.get("parameters")) or visit.job
            if visit.failed:
                visit.failed = False
                visit.retries += 1
        elif etype == "TaskSucceeded":
            result = _parsed(details.get("output"))
            visit.cached = _cache_hit(result)
            visit.job = _job_name(result) or visit.job
        elif etype.startswith("MapIteration"):
            return
        elif etype.endswith(_FAILURE_SUFFIXES):
            visit.failed = True
            visit.error = details.get("error", visit.error)
            visit.cause = details.get("cause", visit.cause)
            if etype in ("MapStateFailed", "ParallelStateFailed"):
                self._close_children(visit, when)
        elif etype.endswith(_RETRY_TYPES) and visit.failed:
            visit.failed = False
            visit.retries += 1

    def _close_children(self, visit: _Visit, when: float | None) -> None:
        for cid in visit.children:
            child = self.visits[cid]
            if child.status == "running":
                child.status = "failed" if child.failed else "cancelled"
                child.exited = child.exited or when
            self._close_children(child, when)

    def finish(self, execution_status: str) -> None:
        """Once the execution has ended, nothing is running any more."""
        if execution_status == "RUNNING":
            return
        for visit in self.visits.values():
            if visit.status == "running":
                visit.status = "failed" if visit.failed else "cancelled"


def _summary(nid: str, visits: list[_Visit], redriven: bool, index: _Index) -> dict[str, Any]:
    """Node ``nid``'s status and details from its visits (the latest run's, after a redrive)."""
    latest = [v for v in visits if v.after_redrive] if redriven else visits
    if redriven and not latest:
        earlier = [v for v in visits if v.status == "succeeded"]
        status = "cached" if earlier else max(visits, key=lambda v: _RANK[v.status]).status
        shown = earlier or visits
    else:
        shown = latest
        status = max(shown, key=lambda v: _RANK[v.status]).status
    last = shown[-1]
    entered = [v.entered for v in shown if v.entered is not None]
    exited = [v.exited for v in shown if v.exited is not None]
    start = min(entered) if entered else None
    end = max(exited) if exited and status != "running" else None
    errs = [v for v in shown if v.error or v.cause]
    info: dict[str, Any] = {
        "status": status,
        "type": index.types.get(nid, last.type),
        "visits": len(shown),
        "retries": sum(v.retries for v in shown),
        "enteredAt": start,
        "exitedAt": end,
        "durationMs": round((end - start) * 1000, 1) if start and end else None,
        "input": last.input,
        "output": last.output,
        "error": errs[-1].error if errs else None,
        "cause": errs[-1].cause if errs else None,
        "job": next((v.job for v in reversed(shown) if v.job), None),
    }
    if len(shown) > 1 or last.iteration is not None:
        info["iterations"] = [
            {
                "index": v.iteration,
                "status": v.status,
                "enteredAt": v.entered,
                "exitedAt": v.exited,
                "error": v.error,
            }
            for v in shown[:200]
        ]
    return info


def state_statuses(
    definition: Mapping[str, Any] | str,
    history: list[Mapping[str, Any]],
    execution_status: str = "RUNNING",
) -> dict[str, dict[str, Any]]:
    """A status and details per node id of :func:`graph_model`, from GetExecutionHistory events.

    Each ``*StateEntered`` event opens a *visit*; every later event is attributed to a visit by
    following ``previousEventId`` (that is how the history threads Parallel branches and Map
    iterations), so concurrent iterations of one state never mix.  A visit is ``running``
    until its ``*StateExited`` event; it is ``succeeded`` if it exited cleanly, ``caught`` if
    it exited after a failure (a Catch), ``failed`` if it failed and never exited (or is a
    Fail state), ``cancelled`` if its enclosing state or the execution ended first, and
    ``cached`` if it was a job step that reused an earlier job's outputs (step caching).
    After a redrive, states that succeeded before it and were not run again are ``cached``
    too: their earlier result was reused.  A node's status summarises its visits (one per Map
    iteration): running > failed > caught > cancelled > succeeded.

    Returns ``{node_id: {status, visits, retries, enteredAt, exitedAt, durationMs, input,
    output, error, cause, job, iterations}}`` for nodes that ran; missing nodes did not run.
    """
    index = _Index.of(graph_model(definition))
    replay = _Replay(index)
    for event in history:
        replay.feed(event)
    replay.finish(execution_status)
    per_node: dict[str, list[_Visit]] = {}
    for visit in replay.visits.values():
        per_node.setdefault(visit.node, []).append(visit)
    out = {nid: _summary(nid, vs, replay.redriven, index) for nid, vs in per_node.items()}
    # A group's join node shares its state's status, so edges out of it read right.
    for nid in list(out):
        if is_group(index.types.get(nid)) and f"{nid}/end" in index.group_of:
            out[f"{nid}/end"] = {"status": out[nid]["status"], "type": "Join"}
    return out
