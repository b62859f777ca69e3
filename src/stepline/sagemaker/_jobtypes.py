"""Every SageMaker job type the layer serves, as data: the jobs layer's kinds plus tuning jobs.

Why one table: Create/Describe/List/Stop, the ``.sync`` wait in Step Functions, the CLI's
``stepline jobs`` and the JSON API treat every job type the same way; only the backend
functions and the API's names differ.  The jobs layer's kinds (:mod:`stepline.jobs.kinds`)
come in by a loop, so a new kind there appears here without an edit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from stepline.errors import ResourceNotFound, SageMakerError, ValidationException
from stepline.jobs.kinds import KINDS, ApiNames
from stepline.jobs.records import JobRecord


@dataclass(frozen=True)
class JobType(ApiNames):
    """One job type.  ``label`` makes the API's names (``Create{label}Job``...)."""

    kind: str  # "training", "processing", "transform", "tuning"
    label: str  # "Training", "HyperParameterTuning"
    #: Create: (validated-by-backend request, token, coerce_scalars, cache) -> Create response.
    create: Callable[..., dict[str, Any]]
    describe: Callable[[str], dict[str, Any]]
    stop: Callable[[str], None]
    #: Block until the job ends (or ``cancel`` is set); its status then.
    wait: Callable[[str, threading.Event | None], str]
    #: Every job of this type, newest first, each with at least the members of the List*
    #: summary (List* filters, sorts and cuts them).
    summaries: Callable[[], list[dict[str, Any]]]
    #: The names of the jobs of this type called ``name`` or whose ARN is ``name``.
    find: Callable[[str], list[str]]
    #: The error a Describe/Stop of a missing job raises, as SageMaker words it.
    not_found: Callable[[str], SageMakerError]
    #: The job's log, chunk by chunk; with ``follow`` until the job ends (``stepline jobs
    #: logs``).
    logs: Callable[[str, bool], Iterator[str]] = lambda name, follow: iter(())
    #: Rows of ``stepline jobs list``, newest first: JobName, Kind, JobArn, Status,
    #: SecondaryStatus, CreationTime, EndTime, LastModifiedTime, FailureReason.
    overviews: Callable[[], list[dict[str, Any]]] = lambda: []
    #: stepline's record of the job (timings, request, state, log file), for the views that
    #: show more than Describe (``stepline jobs describe``, the console's job page); None
    #: for a type that keeps none (tuning: its Describe response is the whole record).
    record: Callable[[str], JobRecord | None] = lambda name: None
    #: What a record keeps beyond Describe: image digest, resources, argv, every metric
    #: value (``Metrics``, oldest first), the log's path ...
    local: Callable[[JobRecord], dict[str, Any]] = lambda record: {}

    @property
    def has_records(self) -> bool:
        """Whether jobs of this type have a record (training, processing, transform)."""
        return self.kind in KINDS

    @property
    def operations(self) -> dict[str, str]:
        """AWS operation name -> role ("create", "describe", "list", "stop")."""
        return {
            self.create_operation: "create",
            self.describe_operation: "describe",
            self.list_operation: "list",
            self.stop_operation: "stop",
        }


def _from_jobs_kind(spec: Any) -> JobType:
    from stepline import jobs
    from stepline.jobs import records

    kind = spec.kind

    def missing(name: str) -> SageMakerError:
        return ValidationException(spec.not_found.format(name=name))

    def create(req: dict, token: str | None, coerce_scalars: bool, cache: bool) -> dict:
        return jobs.create_job(kind, req, token=token, coerce_scalars=coerce_scalars, cache=cache)

    def record(name: str) -> Any:
        found = records.get(kind, name)
        if found is None:
            raise missing(name)
        return found

    def stop(name: str) -> None:
        record(name)
        jobs.stop_job(kind, name)

    def wait(name: str, cancel: threading.Event | None) -> str:
        try:
            return jobs.wait(kind, name, cancel=cancel).status
        except ResourceNotFound:
            raise missing(name) from None

    return JobType(
        kind=kind,
        label=spec.label,
        create=create,
        describe=lambda name: jobs.describe(record(name)),
        stop=stop,
        wait=wait,
        summaries=lambda: [jobs.describe(r) for r in records.all_jobs(kind, None)],
        find=lambda name: [r.name for r in records.find(name) if r.kind == kind],
        not_found=missing,
        logs=lambda name, follow: jobs.follow_logs(kind, name, follow=follow),
        overviews=lambda: jobs.list_jobs(kind, None),
        record=lambda name: records.get(kind, name),
        local=jobs.local_details,
    )


def _tuning() -> JobType:
    from stepline import tuning
    from stepline.tuning import service

    def create(req: dict, token: str | None, coerce_scalars: bool, cache: bool) -> dict:
        return tuning.create_hyper_parameter_tuning_job(
            req, token=token, coerce_scalars=coerce_scalars
        )

    def find(name: str) -> list[str]:
        rows = service.connect().execute(
            "SELECT name FROM tuning_jobs WHERE name=? OR arn=?", (name, name)
        )
        return [r[0] for r in rows]

    return JobType(
        kind="tuning",
        label="HyperParameterTuning",
        create=create,
        describe=tuning.describe_hyper_parameter_tuning_job,
        stop=tuning.stop_hyper_parameter_tuning_job,
        wait=lambda name, cancel: tuning.wait(name, cancel=cancel),
        summaries=lambda: tuning.list_hyper_parameter_tuning_jobs()[
            "HyperParameterTuningJobSummaries"
        ],
        find=find,
        not_found=lambda name: ResourceNotFound(
            f"Amazon SageMaker can't find a tuning job with name {name}"
        ),
        logs=_tuning_logs,
        overviews=lambda: [
            {
                "JobName": s["HyperParameterTuningJobName"],
                "Kind": "tuning",
                "JobArn": s["HyperParameterTuningJobArn"],
                "Status": s["HyperParameterTuningJobStatus"],
                "SecondaryStatus": None,
                "CreationTime": s["CreationTime"],
                "EndTime": s.get("HyperParameterTuningEndTime"),
                "LastModifiedTime": s.get("LastModifiedTime"),
                "FailureReason": None,
            }
            for s in tuning.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
        ],
    )


def _tuning_logs(name: str, follow: bool) -> Iterator[str]:
    """A tuning job's driver log (followed until the job ends), then each trial's log."""
    from stepline import config, jobs, tuning

    yield from jobs.service.follow_file(
        config.home() / "tuning" / name / "driver.log",
        lambda: (
            tuning.describe_hyper_parameter_tuning_job(name)["HyperParameterTuningJobStatus"]
            in tuning.TERMINAL
        ),
        follow=follow,
    )
    for trial in tuning.trials(name):
        yield f"==> {trial['training_job']} ({trial['status']}) <==\n"
        yield from jobs.follow_logs("training", trial["training_job"])


def _build() -> dict[str, JobType]:
    types = {k: _from_jobs_kind(spec) for k, spec in KINDS.items()}
    types["tuning"] = _tuning()
    return types


#: The registry: kind -> JobType.
JOB_TYPES: dict[str, JobType] = _build()


def job_type(kind: str) -> JobType:
    """The job type called ``kind`` (``training`` ... ``tuning``), or a ValueError."""
    try:
        return JOB_TYPES[kind]
    except KeyError:
        known = ", ".join(JOB_TYPES)
        raise ValueError(f"unknown job kind {kind!r} (known: {known})") from None
