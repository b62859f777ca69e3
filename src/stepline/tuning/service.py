"""CreateHyperParameterTuningJob and friends: records, Describe/List shapes, stop, wait.

The tuning job's records live in SQLite (``tuning_jobs``, ``tuning_trials`` in
``stepline.db``) so the driver (a detached process, :mod:`stepline.tuning.driver`), the
engine and the CLI share them and a restarted driver resumes where the dead one stopped.
Child training jobs are ordinary jobs of the jobs layer (``CreateTrainingJob``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
import time
from typing import Any

from stepline import config, detached
from stepline import db as shared_db
from stepline.detached import Lease
from stepline.errors import ResourceInUse, ResourceNotFound, ValidationException
from stepline.jobs.kinds import dt, sagemaker_arn
from stepline.jobs.validation import validate_request
from stepline.tuning import space

TERMINAL = ("Completed", "Failed", "Stopped")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tuning_jobs (
    name TEXT PRIMARY KEY, arn TEXT NOT NULL, token TEXT, status TEXT NOT NULL,
    created REAL NOT NULL, modified REAL NOT NULL, ended REAL, request TEXT NOT NULL,
    failure_reason TEXT, driver TEXT, stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tuning_trials (
    tuning TEXT NOT NULL, number INTEGER NOT NULL, training_job TEXT NOT NULL,
    params TEXT NOT NULL, hyperparameters TEXT NOT NULL, status TEXT NOT NULL,
    objective REAL, objective_status TEXT NOT NULL DEFAULT 'Pending', pruned INTEGER DEFAULT 0,
    created REAL NOT NULL, started REAL, ended REAL, failure_reason TEXT,
    PRIMARY KEY (tuning, number)
);
"""


def connect() -> sqlite3.Connection:
    """This thread's connection to ``stepline.db``, the tuning schema ensured."""
    return shared_db.connect(_SCHEMA)


def transaction() -> contextlib.AbstractContextManager[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``."""
    return shared_db.transaction(connect())


def arn(name: str) -> str:
    """SageMaker's tuning job ARN."""
    return sagemaker_arn("hyper-parameter-tuning-job", name)


def job_row(name: str) -> dict[str, Any] | None:
    """The tuning job's row (request decoded), or None."""
    row = connect().execute("SELECT * FROM tuning_jobs WHERE name=?", (name,)).fetchone()
    if row is None:
        return None
    out = dict(row)
    out["request"] = json.loads(out["request"])
    out["driver"] = json.loads(out["driver"]) if out["driver"] else None
    return out


def _get(name: str) -> dict[str, Any]:
    row = job_row(name)
    if row is None:
        raise ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")
    return row


def trials(name: str) -> list[dict[str, Any]]:
    """The tuning job's trials (child training jobs), in launch order."""
    rows = (
        connect()
        .execute("SELECT * FROM tuning_trials WHERE tuning=? ORDER BY number", (name,))
        .fetchall()
    )
    out = []
    for r in rows:
        d = dict(r)
        d["params"] = json.loads(d["params"])
        d["hyperparameters"] = json.loads(d["hyperparameters"])
        out.append(d)
    return out


def _ranges(req: dict[str, Any]) -> dict[str, Any]:
    cfg = req["HyperParameterTuningJobConfig"]
    return cfg.get("ParameterRanges") or req["TrainingJobDefinition"].get(
        "HyperParameterRanges", {}
    )


def max_jobs(req: dict[str, Any]) -> int:
    """MaxNumberOfTrainingJobs (Grid: the number of combinations)."""
    cfg = req["HyperParameterTuningJobConfig"]
    limits = cfg.get("ResourceLimits", {})
    if cfg["Strategy"] == "Grid":
        return space.grid_size(_ranges(req))
    return int(limits.get("MaxNumberOfTrainingJobs", 100))


def validate(request: Any, *, coerce_scalars: bool = False) -> dict[str, Any]:
    """botocore's model plus SageMaker's own rules for tuning jobs."""
    req = validate_request("CreateHyperParameterTuningJob", request, coerce_scalars=coerce_scalars)
    errors: list[str] = []
    cfg = req["HyperParameterTuningJobConfig"]
    definition = req.get("TrainingJobDefinition")
    if req.get("TrainingJobDefinitions"):
        errors.append("TrainingJobDefinitions: several training definitions are not supported")
    if definition is None:
        errors.append("TrainingJobDefinition: is required")
    ranges = _ranges(req) if definition is not None else cfg.get("ParameterRanges", {})
    errors += space.check_ranges(ranges)
    strategy = cfg["Strategy"]
    objective = cfg.get("HyperParameterTuningJobObjective")
    if objective is None:
        errors.append("HyperParameterTuningJobConfig.HyperParameterTuningJobObjective: is required")
    elif definition is not None:
        algo = definition["AlgorithmSpecification"]
        names = [m["Name"] for m in algo.get("MetricDefinitions", [])]
        if objective["MetricName"] not in names:
            errors.append(
                f"HyperParameterTuningJobObjective.MetricName: {objective['MetricName']!r} is not "
                "one of AlgorithmSpecification.MetricDefinitions"
            )
        if "TrainingImage" not in algo:
            errors.append("TrainingJobDefinition.AlgorithmSpecification.TrainingImage: is required")
    if strategy == "Grid":
        if ranges.get("IntegerParameterRanges") or ranges.get("ContinuousParameterRanges"):
            errors.append("ParameterRanges: the Grid strategy takes categorical ranges only")
        given = cfg.get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs")
        if given is not None and given != space.grid_size(ranges):
            errors.append(
                f"ResourceLimits.MaxNumberOfTrainingJobs: {given} must equal the number of grid "
                f"combinations ({space.grid_size(ranges)}) or be omitted"
            )
    elif "MaxNumberOfTrainingJobs" not in cfg.get("ResourceLimits", {}):
        errors.append("ResourceLimits.MaxNumberOfTrainingJobs: is required for this strategy")
    if strategy == "Hyperband" and cfg.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        errors.append("TrainingJobEarlyStoppingType: must be Off with the Hyperband strategy")
    for parent in (req.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", []):
        if job_row(parent["HyperParameterTuningJobName"]) is None:
            errors.append(
                f"WarmStartConfig: parent tuning job {parent['HyperParameterTuningJobName']!r} "
                "does not exist"
            )
    if errors:
        raise ValidationException.from_errors(errors)
    return req


def _spawn_driver(name: str) -> dict[str, Any]:
    folder = config.home() / "tuning" / name
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "stepline.tuning.driver", name]
    env = {**os.environ, "STEPLINE_HOME": str(config.home())}
    return detached.spawn(argv, log=folder / "driver.log", env=env).record()


def create_hyper_parameter_tuning_job(
    request: dict[str, Any], *, token: str | None = None, coerce_scalars: bool = False
) -> dict[str, str]:
    """CreateHyperParameterTuningJob: validated, recorded, driven by a detached process."""
    req = validate(request, coerce_scalars=coerce_scalars)
    name = req["HyperParameterTuningJobName"]
    now = time.time()
    try:
        with transaction() as conn:
            conn.execute(
                "INSERT INTO tuning_jobs (name, arn, token, status, created, modified, request)"
                " VALUES (?,?,?,?,?,?,?)",
                (name, arn(name), token, "InProgress", now, now, json.dumps(req)),
            )
    except sqlite3.IntegrityError:
        existing = job_row(name)
        if existing is not None and token is not None and existing["token"] == token:
            ensure_driven(name)
            return {"HyperParameterTuningJobArn": existing["arn"]}
        raise ResourceInUse(f"Tuning job name {name!r} is already in use") from None
    _set(name, driver=_spawn_driver(name))
    return {"HyperParameterTuningJobArn": arn(name)}


def _set(name: str, **columns: Any) -> None:
    if "driver" in columns:
        columns["driver"] = json.dumps(columns["driver"])
    columns["modified"] = time.time()
    sets = ", ".join(f"{k}=?" for k in columns)
    with transaction() as conn:
        conn.execute(f"UPDATE tuning_jobs SET {sets} WHERE name=?", (*columns.values(), name))


def ensure_driven(name: str) -> None:
    """Start a new driver for an unfinished tuning job whose driver died (it resumes)."""
    row = _get(name)
    if row["status"] in TERMINAL:
        return
    driver = Lease.from_record(row["driver"])
    if driver is not None and driver.alive():
        return
    _set(name, driver=_spawn_driver(name))


def stop_hyper_parameter_tuning_job(name: str) -> None:
    """StopHyperParameterTuningJob: the driver stops running children and ends ``Stopped``."""
    row = _get(name)
    if row["status"] in TERMINAL:
        raise ValidationException(f"The tuning job {name} is already {row['status']}")
    _set(name, stop_requested=1, status="Stopping")
    ensure_driven(name)


def wait(name: str, *, cancel: threading.Event | None = None, timeout: float | None = None) -> str:
    """Block until the tuning job ends (or ``cancel``/``timeout``); its status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    next_check = time.monotonic() + 2.0
    while True:
        status = _get(name)["status"]
        if status in TERMINAL:
            return status
        if cancel is not None and cancel.is_set():
            return status
        if deadline is not None and time.monotonic() >= deadline:
            return status
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + 2.0
            ensure_driven(name)
        if cancel is not None:
            cancel.wait(0.05)
        else:
            time.sleep(0.05)


def _summary(job: dict[str, Any], trial: dict[str, Any]) -> dict[str, Any]:
    from stepline.jobs.service import job_arn

    objective = job["request"]["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    out: dict[str, Any] = {
        "TrainingJobName": trial["training_job"],
        "TrainingJobArn": job_arn("training", trial["training_job"]),
        "TuningJobName": job["name"],
        "CreationTime": dt(trial["created"]),
        "TrainingJobStatus": trial["status"],
        "TunedHyperParameters": trial["hyperparameters"],
        "ObjectiveStatus": trial["objective_status"],
    }
    if trial["started"] is not None:
        out["TrainingStartTime"] = dt(trial["started"])
    if trial["ended"] is not None:
        out["TrainingEndTime"] = dt(trial["ended"])
    if trial["failure_reason"]:
        out["FailureReason"] = trial["failure_reason"]
    if trial["objective"] is not None:
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": objective["Type"],
            "MetricName": objective["MetricName"],
            "Value": trial["objective"],
        }
    return out


def _best(job: dict[str, Any], candidates: list[tuple[dict, dict]]) -> dict[str, Any] | None:
    objective = job["request"]["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    scored = [(j, t) for j, t in candidates if t["objective"] is not None]
    if not scored:
        return None
    sign = 1 if objective["Type"] == "Minimize" else -1
    j, t = min(scored, key=lambda jt: (sign * jt[1]["objective"], jt[1]["number"]))
    return _summary(j, t)


def describe_hyper_parameter_tuning_job(name: str) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob."""
    job = _get(name)
    req = job["request"]
    own = trials(name)
    counters = {
        "Completed": 0,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    objectives = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for t in own:
        status = t["status"]
        if status == "Failed":
            counters["NonRetryableError"] += 1
        elif status in ("InProgress", "Stopping"):
            counters["InProgress"] += 1
        elif status in counters:
            counters[status] += 1
        objectives[t["objective_status"]] += 1
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": job["arn"],
        "HyperParameterTuningJobConfig": req["HyperParameterTuningJobConfig"],
    }
    if "TrainingJobDefinition" in req:
        out["TrainingJobDefinition"] = req["TrainingJobDefinition"]
    out["HyperParameterTuningJobStatus"] = job["status"]
    out["CreationTime"] = dt(job["created"])
    if job["ended"] is not None:
        out["HyperParameterTuningEndTime"] = dt(job["ended"])
    out["LastModifiedTime"] = dt(job["modified"])
    out["TrainingJobStatusCounters"] = counters
    out["ObjectiveStatusCounters"] = objectives
    best = _best(job, [(job, t) for t in own])
    if best is not None:
        out["BestTrainingJob"] = best
    warm = req.get("WarmStartConfig")
    if warm:
        out["WarmStartConfig"] = warm
        pool = [(job, t) for t in own]
        for parent in warm.get("ParentHyperParameterTuningJobs", []):
            pjob = job_row(parent["HyperParameterTuningJobName"])
            if pjob is not None:
                pool += [(pjob, t) for t in trials(pjob["name"])]
        overall = _best(job, pool)
        if overall is not None:
            out["OverallBestTrainingJob"] = overall
    if job["failure_reason"]:
        out["FailureReason"] = job["failure_reason"]
    end = job["ended"] or time.time()
    out["ConsumedResources"] = {"RuntimeInSeconds": max(0, int(end - job["created"]))}
    return out


def list_training_jobs_for_hyper_parameter_tuning_job(
    name: str, *, status: str | None = None, sort_by: str = "CreationTime"
) -> dict[str, Any]:
    """ListTrainingJobsForHyperParameterTuningJob (``SortBy``: Name, CreationTime, Status,
    FinalObjectiveMetricValue)."""
    job = _get(name)
    items = [_summary(job, t) for t in trials(name) if status is None or t["status"] == status]
    if sort_by == "Name":
        items.sort(key=lambda s: s["TrainingJobName"])
    elif sort_by == "Status":
        items.sort(key=lambda s: s["TrainingJobStatus"])
    elif sort_by == "FinalObjectiveMetricValue":
        objective = job["request"]["HyperParameterTuningJobConfig"][
            "HyperParameterTuningJobObjective"
        ]
        sign = 1 if objective["Type"] == "Minimize" else -1
        items.sort(
            key=lambda s: (
                sign
                * s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get(
                    "Value", sign * 1e308
                )
            )
        )
    return {"TrainingJobSummaries": items}


def list_hyper_parameter_tuning_jobs() -> dict[str, Any]:
    """ListHyperParameterTuningJobs (newest first)."""
    out = []
    for r in connect().execute("SELECT name FROM tuning_jobs ORDER BY created DESC"):
        d = describe_hyper_parameter_tuning_job(r[0])
        out.append(
            {
                k: d[k]
                for k in (
                    "HyperParameterTuningJobName",
                    "HyperParameterTuningJobArn",
                    "HyperParameterTuningJobStatus",
                    "CreationTime",
                    "LastModifiedTime",
                    "TrainingJobStatusCounters",
                    "ObjectiveStatusCounters",
                )
                if k in d
            }
            | {"Strategy": d["HyperParameterTuningJobConfig"]["Strategy"]}
        )
    return {"HyperParameterTuningJobSummaries": out}
