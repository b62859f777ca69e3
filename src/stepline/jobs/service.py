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

import math
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from stepline import config
from stepline.jobs import cache as job_cache
from stepline.jobs import forkserver, records
from stepline.jobs.errors import ResourceInUse, ResourceNotFound, ValidationException
from stepline.jobs.pidfd import exit_notifier
from stepline.jobs.records import JobRecord
from stepline.jobs.runtimes.base import process_start_time
from stepline.jobs.validation import service_model, validate_request

#: SIGTERM-to-SIGKILL window of Stop*/MaxRuntime (SageMaker: 120 s); override for tests.
GRACE_ENV = "STEPLINE_JOB_STOP_GRACE"

_SPEC = {
    "training": ("CreateTrainingJob", "DescribeTrainingJob", "TrainingJobName", "training-job"),
    "processing": (
        "CreateProcessingJob",
        "DescribeProcessingJob",
        "ProcessingJobName",
        "processing-job",
    ),
    "transform": (
        "CreateTransformJob",
        "DescribeTransformJob",
        "TransformJobName",
        "transform-job",
    ),
}
_CHILDREN: list[subprocess.Popen] = []
_CHILDREN_LOCK = threading.Lock()


def job_arn(kind: str, name: str) -> str:
    """SageMaker's ARN form (names are lower-cased in job ARNs)."""
    return config.arn("sagemaker", f"{_SPEC[kind][3]}/{name.lower()}")


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


# -- local rules ------------------------------------------------------------------------


def _local_rules(kind: str, req: dict[str, Any]) -> list[str]:
    """What SageMaker's service enforces beyond the model, and what stepline cannot run."""
    errors = []
    if kind == "training":
        algo = req.get("AlgorithmSpecification")
        if not algo:
            errors.append("AlgorithmSpecification: is required")
        elif "TrainingImage" not in algo:
            errors.append(
                "AlgorithmSpecification.TrainingImage: is required (AlgorithmName refers to "
                "AWS Marketplace algorithms, which cannot run locally)"
            )
        elif algo.get("TrainingInputMode") == "Pipe":
            errors.append("AlgorithmSpecification.TrainingInputMode: Pipe mode is not supported")
        rc = req.get("ResourceConfig")
        if not rc:
            errors.append("ResourceConfig: is required")
        else:
            count = rc.get("InstanceCount")
            if rc.get("InstanceGroups"):
                errors.append(
                    "ResourceConfig.InstanceGroups: heterogeneous clusters run on AWS only"
                )
            elif count is None:
                errors.append("ResourceConfig.InstanceCount: is required")
            elif count < 1:
                errors.append(f"ResourceConfig.InstanceCount: {count} is less than the minimum 1")
            elif count > 1:
                errors.append(
                    f"ResourceConfig.InstanceCount: {count} instances; stepline runs one "
                    "instance per job"
                )
            if "InstanceType" not in rc:
                errors.append("ResourceConfig.InstanceType: is required")
        names = set()
        for i, channel in enumerate(req.get("InputDataConfig", [])):
            where = f"InputDataConfig[{i}]"
            if channel["ChannelName"] in names:
                errors.append(f"{where}.ChannelName: duplicate channel {channel['ChannelName']!r}")
            names.add(channel["ChannelName"])
            source = channel.get("DataSource", {})
            if "S3DataSource" not in source:
                errors.append(f"{where}.DataSource: only S3DataSource is supported")
            elif source["S3DataSource"].get("S3DataType") not in ("S3Prefix", "ManifestFile"):
                errors.append(
                    f"{where}.DataSource.S3DataSource.S3DataType: only S3Prefix and "
                    "ManifestFile are supported"
                )
            if channel.get("InputMode") == "Pipe":
                errors.append(f"{where}.InputMode: Pipe mode is not supported")
            if channel.get("CompressionType") == "Gzip":
                errors.append(f"{where}.CompressionType: Gzip needs Pipe mode")
        ck = req.get("CheckpointConfig")
        if ck and not ck.get("LocalPath", "/opt/ml/checkpoints").startswith("/"):
            errors.append("CheckpointConfig.LocalPath: must be an absolute path")
    elif kind == "processing":
        for i, item in enumerate(req.get("ProcessingInputs", [])):
            where = f"ProcessingInputs[{i}]"
            if "S3Input" not in item:
                errors.append(f"{where}: only S3Input is supported (not DatasetDefinition)")
                continue
            s3 = item["S3Input"]
            local = s3.get("LocalPath")
            if not local or not local.startswith("/opt/ml/processing/"):
                errors.append(f"{where}.S3Input.LocalPath: must start with /opt/ml/processing/")
            if s3.get("S3InputMode") == "Pipe":
                errors.append(f"{where}.S3Input.S3InputMode: Pipe mode is not supported")
            if s3.get("S3CompressionType") == "Gzip":
                errors.append(f"{where}.S3Input.S3CompressionType: Gzip needs Pipe mode")
        outputs = req.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for i, item in enumerate(outputs):
            where = f"ProcessingOutputConfig.Outputs[{i}]"
            if "S3Output" not in item:
                errors.append(f"{where}: only S3Output is supported (not FeatureStoreOutput)")
                continue
            local = item["S3Output"].get("LocalPath")
            if not local or not local.startswith("/opt/ml/processing/"):
                errors.append(f"{where}.S3Output.LocalPath: must start with /opt/ml/processing/")
        count = req["ProcessingResources"]["ClusterConfig"]["InstanceCount"]
        if count > 1:
            errors.append(
                f"ProcessingResources.ClusterConfig.InstanceCount: {count} instances; stepline "
                "runs one instance per job"
            )
    return errors


def validate(kind: str, request: Any, *, coerce_scalars: bool = False) -> dict[str, Any]:
    """The normalised request, or :class:`ValidationException` naming every bad field."""
    req = validate_request(_SPEC[kind][0], request, coerce_scalars=coerce_scalars)
    errors = _local_rules(kind, req)
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
            return {"pid": pid, "start": process_start_time(pid)}
    with _CHILDREN_LOCK:
        _CHILDREN[:] = [p for p in _CHILDREN if p.poll() is None]
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stepline.jobs.supervisor", kind, name],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()
    with _CHILDREN_LOCK:
        _CHILDREN.append(proc)
    return {"pid": proc.pid, "start": process_start_time(proc.pid)}


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
    req = validate(kind, request, coerce_scalars=coerce_scalars)
    name = req[_SPEC[kind][2]]
    arn = job_arn(kind, name)
    arn_key = _SPEC[kind][2].replace("Name", "Arn")
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
    if cache and kind != "transform" and job_cache.enabled(req):
        parts = job_cache.key_parts(kind, req)
        if parts is not None:
            key = job_cache.key_of(parts)
            source = job_cache.find_hit(kind, key)
            if source is not None:
                return _create_cached(kind, req, token, source, parts, key)
            state["cache"] = {"hit": False, "key": key, "parts": parts}
    if kind == "training":
        state["transitions"] = [
            {"Status": "Starting", "StartTime": now, "StatusMessage": "Starting the training job"}
        ]
    record = _new_record(kind, req, token, now, state)
    if kind == "transform":
        from stepline.serving.transform import check_transform_request

        check_transform_request(req)
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
    name = req[_SPEC[kind][2]]
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
    name = req[_SPEC[kind][2]]
    arn = job_arn(kind, name)
    arn_key = _SPEC[kind][2].replace("Name", "Arn")
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
    sup = record.supervisor
    if not sup:
        return False
    return process_start_time(int(sup["pid"])) == sup.get("start")


def ensure_supervised(record: JobRecord) -> None:
    """Start a new supervisor for an unfinished job whose supervisor died (it reattaches)."""
    if record.terminal or supervisor_alive(record):
        return
    if record.supervisor and time.time() - record.modified < 0.5 and not record.run_identifier:
        return  # just spawned; its first write has not landed yet
    with records.transaction() as conn:
        row = conn.execute(
            "SELECT supervisor FROM jobs WHERE kind=? AND name=?", (record.kind, record.name)
        ).fetchone()
        if row and row[0] != (None if record.supervisor is None else _json(record.supervisor)):
            return  # someone else restarted it
        sup = _spawn_supervisor(record.kind, record.name, record.folder)
        conn.execute(
            "UPDATE jobs SET supervisor=? WHERE kind=? AND name=?",
            (_json(sup), record.kind, record.name),
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
                os.close(watched[1])
                watched = None
            if watched is None and record.supervisor and supervisor_alive(record):
                fd = exit_notifier(int(record.supervisor["pid"]))
                if fd is not None:
                    watched = (record.supervisor, fd)
            step = delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
            if watched is not None and watched[1] >= 0:
                if select.select([watched[1]], [], [], step)[0]:
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
    if kind == "training":
        records.update(
            kind,
            name,
            stop_requested=True,
            status="Stopping",
            transition=("Stopping", "Stopping the training job"),
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


def _echo(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    members = service_model().operation_model(operation).output_shape.members
    return {k: v for k, v in request.items() if k in members}


def final_metrics(kind: str, name: str) -> list[dict[str, Any]]:
    """The last value of each metric (``FinalMetricDataList``)."""
    last: dict[str, dict[str, Any]] = {}
    for point in records.metrics(kind, name):
        last[point["MetricName"]] = point
    return [
        {"MetricName": p["MetricName"], "Value": p["Value"], "Timestamp": _dt(p["Timestamp"])}
        for p in last.values()
    ]


def describe(record: JobRecord) -> dict[str, Any]:
    """The Describe* response of ``record``."""
    kind, state = record.kind, record.state
    out = _echo(_SPEC[kind][1], record.request)
    out.pop("Tags", None)
    created, modified = _dt(record.created), _dt(record.modified)
    if kind == "training":
        out["TrainingJobArn"] = record.arn
        if state.get("tuning_job_arn"):
            out["TuningJobArn"] = state["tuning_job_arn"]
        if record.status != "Failed":
            out_path = record.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
            default = f"{out_path}/{record.name}/output/model.tar.gz"
            out["ModelArtifacts"] = {"S3ModelArtifacts": state.get("model_artifacts", default)}
        out["TrainingJobStatus"] = record.status
        out["SecondaryStatus"] = record.secondary_status
        out.setdefault("StoppingCondition", {"MaxRuntimeInSeconds": 86400})
        if state.get("failure_reason"):
            out["FailureReason"] = state["failure_reason"]
        out["CreationTime"] = created
        if record.started is not None:
            out["TrainingStartTime"] = _dt(record.started)
        if record.ended is not None:
            out["TrainingEndTime"] = _dt(record.ended)
        out["LastModifiedTime"] = modified
        out["SecondaryStatusTransitions"] = [
            {k: (_dt(v) if k in ("StartTime", "EndTime") else v) for k, v in t.items()}
            for t in state.get("transitions", [])
        ]
        metrics = final_metrics(kind, record.name)
        if metrics:
            out["FinalMetricDataList"] = metrics
        if record.started is not None and record.ended is not None:
            seconds = max(1, math.ceil(record.ended - record.started))
            out["TrainingTimeInSeconds"] = seconds
            out["BillableTimeInSeconds"] = seconds
    elif kind == "processing":
        out["ProcessingJobArn"] = record.arn
        out["ProcessingJobStatus"] = record.status
        if "exit_message" in state:
            out["ExitMessage"] = state["exit_message"]
        if state.get("failure_reason"):
            out["FailureReason"] = state["failure_reason"]
        if record.ended is not None:
            out["ProcessingEndTime"] = _dt(record.ended)
        if record.started is not None:
            out["ProcessingStartTime"] = _dt(record.started)
        out["LastModifiedTime"] = modified
        out["CreationTime"] = created
    else:
        out["TransformJobArn"] = record.arn
        out["TransformJobStatus"] = record.status
        if state.get("failure_reason"):
            out["FailureReason"] = state["failure_reason"]
        out["CreationTime"] = created
        if record.ended is not None:
            out["TransformEndTime"] = _dt(record.ended)
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
                "CreationTime": _dt(r.created),
                "EndTime": _dt(r.ended),
                "LastModifiedTime": _dt(r.modified),
                "FailureReason": r.state.get("failure_reason"),
            }
        )
    return out


def follow_logs(kind: str, name: str, *, follow: bool = False, poll: float = 0.1) -> Iterator[str]:
    """The job's log, chunk by chunk; with ``follow`` until the job ends."""
    record = get_record(kind, name)
    offset = 0
    while True:
        try:
            with open(record.log_path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        if data:
            offset += len(data)
            yield data.decode("utf-8", "replace")
        if not follow:
            return
        if record.terminal and not data:
            return
        time.sleep(poll)
        record = get_record(kind, name)
