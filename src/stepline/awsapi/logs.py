"""CloudWatch Logs (awsJson1_1, ``Logs_20140328.*``): DescribeLogStreams and GetLogEvents over
stepline's own job and endpoint logs, so ``estimator.fit(logs=True)``, ``sagemaker.logs`` and
``aws logs get-log-events`` show job output.

The groups and stream names are SageMaker's:

=======================================  ================================================
log group                                streams
=======================================  ================================================
``/aws/sagemaker/TrainingJobs``          ``{job}/algo-1-{creation epoch}`` (one per job)
``/aws/sagemaker/ProcessingJobs``        same
``/aws/sagemaker/TransformJobs``         same
``/aws/sagemaker/Endpoints/{endpoint}``  ``{variant}/i-{n}`` (one per model server)
=======================================  ================================================

Why lines are given made-up timestamps: stepline's log files hold lines, not events.  Line
``n`` of a job's log is stamped ``start + n`` milliseconds, so every event keeps the same
timestamp on every read (the SageMaker SDK resumes from a timestamp and skips the events it
already printed at that timestamp), and order is kept.  Tokens are opaque (base64 of the line
index); a forward token does not change while no new line arrives, which is how CloudWatch
clients see the end of a stream.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from stepline import config, sagemaker
from stepline.awsapi._base import AwsError
from stepline.awsapi._jsonproto import JsonService

#: Log group -> job kind: one group per job type whose jobs have a record and so a log file
#: (``/aws/sagemaker/TrainingJobs`` ...), from the service layer's job types, so a new job
#: kind has its group with no edit here.  Tuning has none, as on AWS: its trials are
#: training jobs and log there.
JOB_GROUPS = {
    f"/aws/sagemaker/{t.label}Jobs": t.kind for t in sagemaker.JOB_TYPES.values() if t.has_records
}
ENDPOINT_GROUP = "/aws/sagemaker/Endpoints/"
HOST = "algo-1"
MAX_EVENTS = 10000
MAX_BYTES = 1024 * 1024


class _Stream:
    """One log stream: a file of lines, and the time its first line is stamped with."""

    def __init__(self, group: str, name: str, path: Path, created: float, start: float) -> None:
        self.group, self.name, self.path = group, name, path
        self.created_ms = int(created * 1000)
        self.start_ms = int(start * 1000)

    def lines(self, complete_only: bool = True) -> list[str]:
        try:
            text = self.path.read_text(errors="replace")
        except OSError:
            return []
        lines = text.split("\n")
        last = lines.pop()  # "" when the file ends with a newline; else a partial line
        if last and not complete_only:
            lines.append(last)
        return lines

    def describe(self) -> dict[str, Any]:
        count = len(self.lines())
        out: dict[str, Any] = {
            "logStreamName": self.name,
            "creationTime": self.created_ms,
            "arn": config.arn("logs", f"log-group:{self.group}:log-stream:{self.name}"),
            "storedBytes": 0,
        }
        if count:
            out["firstEventTimestamp"] = self.start_ms
            out["lastEventTimestamp"] = self.start_ms + count - 1
            out["lastIngestionTime"] = self.start_ms + count - 1
        return out


def _not_found(what: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"The specified log {what} does not exist.")


def _job_streams(group: str, kind: str, prefix: str) -> list[_Stream]:
    job_name = prefix.split("/", 1)[0] if "/" in prefix else None
    streams = []
    for job in sagemaker.job_logs(kind, job_name):
        if job.started is None and not job.path.exists():
            continue  # no container yet: SageMaker has no stream either
        name = f"{job.name}/{HOST}-{int(job.created)}"
        if name.startswith(prefix):
            start = job.started or job.created
            streams.append(_Stream(group, name, job.path, job.created, start))
    return streams


def _endpoint_streams(group: str, prefix: str) -> list[_Stream]:
    logs = sagemaker.endpoint_instance_logs(group[len(ENDPOINT_GROUP) :])
    if logs is None:
        raise _not_found("group")
    streams = []
    for log in logs:
        name = f"{log.variant}/i-{log.instance:017d}"
        if name.startswith(prefix):
            streams.append(_Stream(group, name, log.path, log.created, log.created))
    return streams


def _streams(group: str, prefix: str = "") -> list[_Stream]:
    if group in JOB_GROUPS:
        return _job_streams(group, JOB_GROUPS[group], prefix)
    if group.startswith(ENDPOINT_GROUP) and len(group) > len(ENDPOINT_GROUP):
        return _endpoint_streams(group, prefix)
    raise _not_found("group")


def _token(prefix: str, index: int) -> str:
    return base64.urlsafe_b64encode(f"{prefix}/{index}".encode()).decode()


def _untoken(token: str) -> tuple[str, int]:
    try:
        direction, _, index = base64.urlsafe_b64decode(token.encode()).decode().partition("/")
        if direction not in ("f", "b"):
            raise ValueError(direction)
        return direction, int(index)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise AwsError("InvalidParameterException", "The specified nextToken is invalid.") from None


def describe_log_streams(params: dict[str, Any]) -> dict[str, Any]:
    group = params.get("logGroupName") or ""
    prefix = params.get("logStreamNamePrefix") or ""
    order = params.get("orderBy") or "LogStreamName"
    if order == "LastEventTime" and prefix:
        raise AwsError(
            "InvalidParameterException",
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        )
    streams = [s.describe() for s in _streams(group, prefix)]
    if order == "LastEventTime":
        streams.sort(key=lambda s: s.get("lastEventTimestamp", 0))
    else:
        streams.sort(key=lambda s: s["logStreamName"])
    if params.get("descending"):
        streams.reverse()
    limit = int(params.get("limit") or 50)
    offset = 0
    if params.get("nextToken"):
        _, offset = _untoken(params["nextToken"])
    page = streams[offset : offset + limit]
    out: dict[str, Any] = {"logStreams": page}
    if offset + limit < len(streams):
        out["nextToken"] = _token("f", offset + limit)
    return out


def get_log_events(params: dict[str, Any]) -> dict[str, Any]:
    group = params.get("logGroupName") or ""
    name = params.get("logStreamName") or ""
    matches = [s for s in _streams(group, name) if s.name == name]
    if not matches:
        raise _not_found("stream")
    stream = matches[0]
    lines = stream.lines()
    start_time, end_time = params.get("startTime"), params.get("endTime")
    lo = 0 if start_time is None else max(0, int(start_time) - stream.start_ms)
    hi = (
        len(lines) if end_time is None else max(0, min(len(lines), int(end_time) - stream.start_ms))
    )
    limit = min(int(params.get("limit") or MAX_EVENTS), MAX_EVENTS)
    token = params.get("nextToken")
    from_head = bool(params.get("startFromHead")) or (token or "") != ""
    if token:
        direction, index = _untoken(token)
        if direction == "f":
            lo = max(lo, index)
        else:
            hi = min(hi, index)
            from_head = False
    if from_head:
        first, last = lo, min(hi, lo + limit)
    else:  # CloudWatch returns the newest events by default
        first, last = max(lo, hi - limit), hi
    events, size = [], 0
    for index in range(first, max(first, last)):
        message = lines[index]
        size += len(message.encode()) + 26
        if events and size > MAX_BYTES:
            last = index
            break
        stamp = stream.start_ms + index
        events.append({"timestamp": stamp, "message": message, "ingestionTime": stamp})
    else:
        last = max(first, last)
    return {
        "events": events,
        "nextForwardToken": _token("f", last),
        "nextBackwardToken": _token("b", first),
    }


SERVICE = JsonService(
    "logs",
    "logs",
    "Logs_20140328",
    {"DescribeLogStreams": describe_log_streams, "GetLogEvents": get_log_events},
)
