"""The SageMaker job API: Create*, Describe*, Stop*, List, wait, logs.

``create_*`` validates the request against botocore's SageMaker model plus the local rules
(what stepline cannot run is refused up front, naming the field), writes the record and
spawns the job's detached supervisor (:mod:`stepline.jobs.supervisor`).  ``describe_*``
returns what boto3's ``describe_*`` returns (timestamps as aware ``datetime``).

Idempotency: ``create_*(..., token=T)`` for a name that already exists with the same token
returns the Create response again instead of failing -- how an engine restarted after a
crash reattaches to the job it had started -- while any other duplicate is
``ResourceInUse``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from stepline import detached
from stepline.detached import Lease, exit_notifier, wait_readable
from stepline.errors import ResourceInUse, ResourceNotFound, ValidationException
from stepline.jobs import cache as job_cache
from stepline.jobs import contract, forkserver, kinds, records
from stepline.jobs.records import JobRecord
from stepline.jobs.validation import service_model, validate_request

#: SIGTERM-to-SIGKILL window of Stop*/MaxRuntime (SageMaker: 120 s); override for tests.
GRACE_ENV = "STEPLINE_JOB_STOP_GRACE"


def job_arn(kind: str, name: str) -> str:
    """SageMaker's ARN form (names are lower-cased in job ARNs)."""
    return kinds.sagemaker_arn(kinds.get(kind).arn_segment, name)


def validate(kind: str, request: Any, *, coerce_scalars: bool = False) -> dict[str, Any]:
    """The normalised request, or :class:`ValidationException` naming every bad field."""
    spec = kinds.get(kind)
    req = validate_request(spec.create_operation, request, coerce_scalars=coerce_scalars)
    errors = contract.normalise_container_paths(req, kind) + spec.local_rules(req)
    if errors:
        raise ValidationException.from_errors(errors)
    return req


# -- create ---------------------------------------------------------------------------------


def _spawn_supervisor(kind: str, name: str, folder: Any) -> dict[str, Any]:
    """Start the job's detached supervisor: forked by the warm fork server when it can be
    (no interpreter start, no imports), else ``python -m stepline.jobs.supervisor``."""
    log_path = folder / "supervisor.log"
    if forkserver.enabled():
        try:
            pid = forkserver.spawn(kind, name, log_path)
        except forkserver.ForkServerError:
            pass
        else:
            return Lease.of(pid).record()
    argv = [sys.executable, "-m", "stepline.jobs.supervisor", kind, name]
    return detached.spawn(argv, log=log_path).record()


def create_job(
    kind: str,
    request: Any,
    *,
    token: str | None = None,
    coerce_scalars: bool = False,
    cache: bool = False,
    tuning_job_arn: str | None = None,
) -> dict[str, str]:
    """Create and start a job of ``kind``; returns the Create response (``{...JobArn}``).

    With ``cache`` (pipelines), a job identical to an earlier successful one reuses its
    outputs instead of running (see :mod:`stepline.jobs.cache`).
    """
    spec = kinds.get(kind)
    req = validate(kind, request, coerce_scalars=coerce_scalars)
    name = req[spec.name_field]
    arn = job_arn(kind, name)
    arn_key = spec.arn_field
    existing = records.get(kind, name)
    if existing is not None:
        if token is not None and existing.token == token:
            ensure_supervised(existing)
            return {arn_key: existing.arn}
        raise ResourceInUse(f"Job name {name!r} is already in use by {existing.arn}")
    folder = records.job_folder(kind, name)
    now = time.time()
    state: dict[str, Any] = {
        "stop_grace_seconds": float(os.environ.get(GRACE_ENV, "120")),
    }
    if tuning_job_arn:
        state["tuning_job_arn"] = tuning_job_arn
    if cache and spec.cacheable and job_cache.enabled(req):
        parts = job_cache.key_parts(kind, req)
        if parts is not None:
            key = job_cache.key_of(parts)
            source = job_cache.find_hit(kind, key)
            if source is not None:
                return _create_cached(kind, req, token, source, parts, key)
            state["cache"] = {"hit": False, "key": key, "parts": parts}
    state.update(spec.initial_state(now))
    record = _new_record(kind, req, token, now, state)
    if spec.pre_create is not None:
        spec.pre_create(req)
    if not records.insert(record):
        again = records.get(kind, name)
        if again is not None and token is not None and again.token == token:
            return {arn_key: again.arn}
        raise ResourceInUse(f"Job name {name!r} is already in use")
    folder.mkdir(parents=True, exist_ok=True)
    record.log_path.touch()
    records.write_snapshot(record)
    records.update(kind, name, supervisor=_spawn_supervisor(kind, name, folder))
    return {arn_key: arn}


def _new_record(
    kind: str, req: dict[str, Any], token: str | None, now: float, state: dict[str, Any]
) -> JobRecord:
    """A fresh InProgress/Starting record for the validated request ``req``."""
    name = req[kinds.get(kind).name_field]
    return JobRecord(
        kind=kind,
        name=name,
        arn=job_arn(kind, name),
        token=token,
        status="InProgress",
        secondary_status="Starting",
        created=now,
        modified=now,
        started=None,
        ended=None,
        request=req,
        state=state,
        folder=records.job_folder(kind, name),
        supervisor=None,
        stop_requested=False,
        run_identifier=None,
    )


def _create_cached(
    kind: str,
    req: dict[str, Any],
    token: str | None,
    source: JobRecord,
    parts: dict[str, Any],
    key: str,
) -> dict[str, str]:
    """Record a job that reuses ``source``'s outputs: InProgress while copying, then done."""
    name = req[kinds.get(kind).name_field]
    arn = job_arn(kind, name)
    arn_key = kinds.get(kind).arn_field
    now = time.time()
    message = f"Reused the outputs of job {source.name} (cache hit)"
    record = _new_record(
        kind, req, token, now, {"transitions": [{"Status": "Starting", "StartTime": now}]}
    )
    record.started = now
    if not records.insert(record):
        again = records.get(kind, name)
        if again is not None and token is not None and again.token == token:
            return {arn_key: again.arn}
        raise ResourceInUse(f"Job name {name!r} is already in use")
    record.folder.mkdir(parents=True, exist_ok=True)
    record.log_path.write_text(f"stepline: {message}; the job did not run.\n")
    state = job_cache.reuse(kind, req, source, parts, key)
    records.update(
        kind,
        name,
        state=state,
        transition=("Completed", message),
        status="Completed",
        ended=time.time(),
    )
    return {arn_key: arn}


def create_training_job(
    request: dict[str, Any], *, token: str | None = None, tuning_job_arn: str | None = None
) -> dict[str, str]:
    """CreateTrainingJob (``tuning_job_arn``: the job is a tuning job's child)."""
    return create_job("training", request, token=token, tuning_job_arn=tuning_job_arn)


def create_processing_job(request: dict[str, Any], *, token: str | None = None) -> dict[str, str]:
    """CreateProcessingJob."""
    return create_job("processing", request, token=token)


def create_transform_job(request: dict[str, Any], *, token: str | None = None) -> dict[str, str]:
    """CreateTransformJob: the serving layer runs it (the model's server fed record by record)."""
    return create_job("transform", request, token=token)


# -- supervision ----------------------------------------------------------------------------


def supervisor_alive(record: JobRecord) -> bool:
    """Whether the record's supervisor process still runs."""
    lease = Lease.from_record(record.supervisor)
    return lease is not None and lease.alive()


def ensure_supervised(record: JobRecord) -> None:
    """Start a new supervisor for an unfinished job whose supervisor died (it reattaches)."""
    if record.terminal or supervisor_alive(record):
        return
    if record.supervisor and time.time() - record.modified < 0.5 and not record.run_identifier:
        return  # just spawned; its first write has not landed yet
    # Claim the restart (compare-and-set on the supervisor column), then spawn outside the
    # transaction: a spawn can wait seconds for the fork server, and the database's one write
    # lock must not wait with it (every job's supervisor and the engine write there too).
    # A claim is no lease, so a caller that dies before spawning leaves a job the next
    # caller restarts.
    seen = None if record.supervisor is None else _json(record.supervisor)
    claim = _json({"restarting": os.getpid(), "at": time.time()})
    with records.transaction() as conn:
        changed = conn.execute(
            "UPDATE jobs SET supervisor=? WHERE kind=? AND name=? AND supervisor IS ?",
            (claim, record.kind, record.name, seen),
        ).rowcount
    if not changed:
        return  # someone else restarted it (or the job is gone)
    sup = _spawn_supervisor(record.kind, record.name, record.folder)
    with records.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET supervisor=? WHERE kind=? AND name=? AND supervisor=?",
            (_json(sup), record.kind, record.name, claim),
        )


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def get_record(kind: str, name: str) -> JobRecord:
    """The record, or ``ResourceNotFound`` (SageMaker's "Requested resource not found")."""
    record = records.get(kind, name)
    if record is None:
        raise ResourceNotFound(f"Requested resource not found: {kind} job {name!r}")
    return record


def wait(
    kind: str,
    name: str,
    *,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
    poll: float = 0.01,
) -> JobRecord:
    """Block until the job ends (or ``cancel`` is set / ``timeout`` passes); the record.

    Polls the record with a growing delay, but wakes as soon as the job's supervisor exits
    (a pidfd on it): the supervisor exits right after writing the final status, so the end
    of a job is seen at once however long it ran.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    next_check = time.monotonic() + 1.0
    delay = poll
    watched: tuple[Any, int] | None = None  # (supervisor dict, pidfd)
    try:
        while True:
            record = get_record(kind, name)
            if record.terminal:
                return record
            if cancel is not None and cancel.is_set():
                return record
            if deadline is not None and time.monotonic() >= deadline:
                return record
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 1.0
                ensure_supervised(record)
            if watched is not None and watched[0] != record.supervisor:
                if watched[1] >= 0:  # -1: already seen exiting and closed
                    os.close(watched[1])
                watched = None
            if watched is None and record.supervisor and supervisor_alive(record):
                fd = exit_notifier(int(record.supervisor["pid"]))
                if fd is not None:
                    watched = (record.supervisor, fd)
            step = delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
            if watched is not None and watched[1] >= 0:
                if wait_readable(watched[1], step):
                    os.close(watched[1])
                    watched = (watched[0], -1)  # exited: poll the record from now on
            elif cancel is not None:
                cancel.wait(step)
            else:
                time.sleep(step)
            delay = min(delay * 1.2, 0.05)
    finally:
        if watched is not None and watched[1] >= 0:
            os.close(watched[1])


# -- stop -----------------------------------------------------------------------------------


def stop_job(kind: str, name: str) -> None:
    """Stop*Job: the supervisor sends SIGTERM, then SIGKILL after the grace."""
    record = get_record(kind, name)
    if record.terminal:
        raise ValidationException(
            f"The request was rejected because the {kind} job is in status {record.status}."
        )
    if record.stop_requested:
        return
    message = kinds.get(kind).stop_transition
    if message is not None:
        records.update(
            kind, name, stop_requested=True, status="Stopping", transition=("Stopping", message)
        )
    else:
        records.update(
            kind, name, stop_requested=True, status="Stopping", secondary_status="Stopping"
        )
    ensure_supervised(records.get(kind, name))  # type: ignore[arg-type]


def stop_training_job(name: str) -> None:
    """StopTrainingJob."""
    stop_job("training", name)


def stop_processing_job(name: str) -> None:
    """StopProcessingJob."""
    stop_job("processing", name)


def stop_transform_job(name: str) -> None:
    """StopTransformJob."""
    stop_job("transform", name)


# -- describe -------------------------------------------------------------------------------


def echo(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """The members of ``request`` that ``operation``'s response repeats (Describe echoes the
    Create request), as botocore's model lists them."""
    members = service_model().operation_model(operation).output_shape.members
    return {k: v for k, v in request.items() if k in members}


final_metrics = kinds.final_metrics


def describe(record: JobRecord) -> dict[str, Any]:
    """The Describe* response of ``record``."""
    spec = kinds.get(record.kind)
    out = echo(spec.describe_operation, record.request)
    out.pop("Tags", None)
    out[spec.arn_field] = record.arn
    spec.describe_extra(record, out)
    return out


def describe_training_job(name: str) -> dict[str, Any]:
    """DescribeTrainingJob."""
    return describe(get_record("training", name))


def describe_processing_job(name: str) -> dict[str, Any]:
    """DescribeProcessingJob."""
    return describe(get_record("processing", name))


def describe_transform_job(name: str) -> dict[str, Any]:
    """DescribeTransformJob."""
    return describe(get_record("transform", name))


def local_details(record: JobRecord) -> dict[str, Any]:
    """What the record keeps beyond SageMaker's Describe: image digest, resources, argv..."""
    state = record.state
    duration = None
    if record.started is not None and record.ended is not None:
        duration = round(record.ended - record.started, 3)
    return {
        "Kind": record.kind,
        "Folder": str(record.folder),
        "LogPath": str(record.log_path),
        "Image": state.get("image"),
        "Runtime": state.get("runtime_name"),
        "Sandboxed": state.get("sandboxed"),
        "Sandbox": state.get("sandbox"),
        "InputStaging": state.get("input_staging", []),
        "MetricWarnings": state.get("metric_warnings", []),
        "Resources": state.get("resources"),
        "ResourceNotes": state.get("resource_notes", []) + state.get("runtime_notes", []),
        "Warnings": state.get("runtime_warnings", []),
        "Argv": state.get("argv"),
        "Entrypoint": state.get("entrypoint"),
        "Arguments": state.get("arguments"),
        "Environment": state.get("environment"),
        "Inputs": state.get("inputs", []),
        "Outputs": state.get("outputs", []),
        "ExitCode": state.get("exit_code"),
        "DurationSeconds": duration,
        "Metrics": records.metrics(record.kind, record.name),
        "Token": record.token,
    }


# -- list and logs --------------------------------------------------------------------------


def list_jobs(kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Summaries, newest first (the fields of SageMaker's List*Jobs summaries)."""
    out = []
    for r in records.all_jobs(kind, limit):
        out.append(
            {
                "JobName": r.name,
                "Kind": r.kind,
                "JobArn": r.arn,
                "Status": r.status,
                "SecondaryStatus": r.secondary_status,
                "CreationTime": kinds.dt(r.created),
                "EndTime": kinds.dt(r.ended),
                "LastModifiedTime": kinds.dt(r.modified),
                "FailureReason": r.state.get("failure_reason"),
            }
        )
    return out


def follow_logs(kind: str, name: str, *, follow: bool = False, poll: float = 0.1) -> Iterator[str]:
    """The job's log, chunk by chunk; with ``follow`` until the job ends."""
    record = get_record(kind, name)
    yield from follow_file(
        record.log_path, lambda: get_record(kind, name).terminal, follow=follow, poll=poll
    )


def follow_file(
    path: Any, ended: Callable[[], bool], *, follow: bool, poll: float = 0.1
) -> Iterator[str]:
    """A growing log file, chunk by chunk; with ``follow`` until ``ended()`` and drained
    (``ended`` is asked before each read, so the last lines written before the end show)."""
    offset = 0
    while True:
        done = ended() if follow else True
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        if data:
            offset += len(data)
            yield data.decode("utf-8", "replace")
        if not follow or (done and not data):
            return
        time.sleep(poll)
