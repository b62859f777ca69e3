"""The tuning driver: a detached process that runs one tuning job to its end.

It asks optuna for hyperparameters, starts each child with the jobs layer's
``CreateTrainingJob`` (named ``<tuning>-<NNN>-<8 hex>``, carrying ``_tuning_objective_metric``),
follows the objective metric the jobs layer parses from the child's log (each new value is an
intermediate result: the median rule and Hyperband stop weak children through
``StopTrainingJob``), and tells optuna the final value.  Every launch and result is written to
SQLite first, so a driver that dies is replaced by one that rebuilds the study from the
records and follows the children already running instead of starting them again.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import uuid
from typing import Any

import optuna

from stepline import jobs
from stepline.jobs import records
from stepline.jobs.runtimes import machine, resources_for
from stepline.tuning import service, space
from stepline.tuning.service import arn as tuning_arn

POLL = 0.05


def _child_request(req: dict[str, Any], name: str, hps: dict[str, str]) -> dict[str, Any]:
    definition = req["TrainingJobDefinition"]
    objective = req["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    algo = {
        k: v
        for k, v in definition["AlgorithmSpecification"].items()
        if k in ("TrainingImage", "TrainingInputMode", "MetricDefinitions")
    }
    child: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": definition["RoleArn"],
        "AlgorithmSpecification": algo,
        "HyperParameters": {
            **definition.get("StaticHyperParameters", {}),
            **hps,
            "_tuning_objective_metric": objective["MetricName"],
        },
        "OutputDataConfig": definition["OutputDataConfig"],
        "StoppingCondition": definition["StoppingCondition"],
    }
    if "ResourceConfig" in definition:
        child["ResourceConfig"] = definition["ResourceConfig"]
    else:
        hrc = definition.get("HyperParameterTuningResourceConfig", {})
        child["ResourceConfig"] = {
            "InstanceType": hrc.get("InstanceType", "local"),
            "InstanceCount": hrc.get("InstanceCount", 1),
            "VolumeSizeInGB": hrc.get("VolumeSizeInGB", 1),
        }
    for key in (
        "InputDataConfig",
        "Environment",
        "CheckpointConfig",
        "EnableNetworkIsolation",
        "VpcConfig",
        "RetryStrategy",
    ):
        if key in definition:
            child[key] = definition[key]
    return child


def parallelism(req: dict[str, Any]) -> int:
    """MaxParallelTrainingJobs, bounded by how many children this machine (or, on the ray
    runtime, the cluster) fits at once."""
    limits = req["HyperParameterTuningJobConfig"]["ResourceLimits"]
    wanted = int(limits["MaxParallelTrainingJobs"])
    rc = req["TrainingJobDefinition"].get("ResourceConfig", {})
    from stepline.jobs.runtimes import ray as ray_runtime

    if ray_runtime.backend() == "ray":  # trials run across the cluster, not on this machine
        count = int(rc.get("InstanceCount", 1))
        return max(
            1, min(wanted, ray_runtime.cluster_slots(rc.get("InstanceType", "local"), count))
        )
    try:
        res, _ = resources_for(rc.get("InstanceType", "local"))
        fits = max(1, int(machine().cpus // max(res.cpus, 1.0)))
    except ValueError:
        fits = 1
    return max(1, min(wanted, fits, int(machine().cpus)))


class Driver:
    """One tuning job's loop (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        row = service.job_row(name)
        if row is None:
            raise KeyError(name)
        self.req = row["request"]
        cfg = self.req["HyperParameterTuningJobConfig"]
        self.cfg = cfg
        self.objective = cfg["HyperParameterTuningJobObjective"]
        self.minimize = self.objective["Type"] == "Minimize"
        self.ranges = service._ranges(self.req)
        self.dists = space.distributions(self.ranges)
        self.max_jobs = service.max_jobs(self.req)
        self.parallel = parallelism(self.req)
        seed = cfg.get("RandomSeed")
        self.study = optuna.create_study(
            direction="minimize" if self.minimize else "maximize",
            sampler=space.sampler(cfg["Strategy"], seed, self.max_jobs, self.ranges),
            pruner=space.pruner(
                cfg["Strategy"],
                cfg.get("TrainingJobEarlyStoppingType", "Off"),
                (cfg.get("StrategyConfig") or {}).get("HyperbandStrategyConfig"),
            ),
        )
        self.grid = space.grid_points(self.ranges) if cfg["Strategy"] == "Grid" else None
        self.running: dict[str, tuple[dict[str, Any], Any, int]] = {}
        self.launched = 0
        self.started = time.monotonic()

    # -- study state ------------------------------------------------------------------------

    def _add_finished(self, params: dict[str, Any], value: float | None, failed: bool) -> None:
        if params is None:
            return
        state = (
            optuna.trial.TrialState.FAIL
            if failed or value is None
            else optuna.trial.TrialState.COMPLETE
        )
        self.study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: self.dists[k] for k in params},
                value=None if state != optuna.trial.TrialState.COMPLETE else value,
                state=state,
            )
        )

    def warm_start(self) -> None:
        """Add the parents' finished trials to the study (WarmStartConfig)."""
        warm = self.req.get("WarmStartConfig") or {}
        for parent in warm.get("ParentHyperParameterTuningJobs", []):
            for t in service.trials(parent["HyperParameterTuningJobName"]):
                if t["objective"] is None:
                    continue
                params = space.from_hyperparameters(t["hyperparameters"], self.dists)
                if params is not None:
                    self._add_finished(params, t["objective"], False)

    def resume(self) -> None:
        """Rebuild from the records: finished trials go to the study, running ones are followed."""
        for t in service.trials(self.name):
            self.launched = max(self.launched, t["number"])
            if t["status"] in ("InProgress", "Stopping"):
                # Pin the recorded point: the sampler must not propose a new one here.
                self.study.enqueue_trial(t["params"])
                trial = self.study.ask(self.dists)
                self.running[t["training_job"]] = (t, trial, 0)
            else:
                self._add_finished(t["params"], t["objective"], t["objective"] is None)

    # -- the loop ---------------------------------------------------------------------------

    def stop_requested(self) -> bool:
        row = service.job_row(self.name)
        return bool(row and row["stop_requested"])

    def target_reached(self) -> bool:
        criteria = self.cfg.get("TuningJobCompletionCriteria") or {}
        target = criteria.get("TargetObjectiveMetricValue")
        if target is None or not self.study.best_trials:
            return False
        best = self.study.best_value
        return best <= target if self.minimize else best >= target

    def out_of_time(self) -> bool:
        limit = self.cfg["ResourceLimits"].get("MaxRuntimeInSeconds")
        return limit is not None and time.monotonic() - self.started > limit

    def launch(self) -> None:
        self.launched += 1
        number = self.launched
        if self.grid is not None:
            self.study.enqueue_trial(self.grid[number - 1])
        trial = self.study.ask(self.dists)
        hps = space.to_hyperparameters(trial.params)
        child = f"{self.name}-{number:03d}-{uuid.uuid4().hex[:8]}"
        now = time.time()
        with service.transaction() as conn:
            conn.execute(
                "INSERT INTO tuning_trials (tuning, number, training_job, params, hyperparameters,"
                " status, created) VALUES (?,?,?,?,?,?,?)",
                (
                    self.name,
                    number,
                    child,
                    json.dumps(trial.params),
                    json.dumps(hps),
                    "InProgress",
                    now,
                ),
            )
        try:
            jobs.create_training_job(
                _child_request(self.req, child, hps),
                token=f"tuning:{self.name}:{number}",
                tuning_job_arn=tuning_arn(self.name),
            )
        except jobs.SageMakerError as exc:
            self._finish_trial(child, trial, "Failed", None, str(exc), False)
            return
        row = {"training_job": child, "params": trial.params}
        self.running[child] = (row, trial, 0)

    def _finish_trial(
        self,
        child: str,
        trial: Any,
        status: str,
        value: float | None,
        reason: str | None,
        pruned: bool,
    ) -> None:
        record = records.get("training", child)
        objective_status = "Succeeded" if value is not None else "Failed"
        with service.transaction() as conn:
            conn.execute(
                "UPDATE tuning_trials SET status=?, objective=?, objective_status=?, pruned=?,"
                " started=?, ended=?, failure_reason=? WHERE tuning=? AND training_job=?",
                (
                    status,
                    value,
                    objective_status,
                    int(pruned),
                    record.started if record else None,
                    record.ended if record else time.time(),
                    reason,
                    self.name,
                    child,
                ),
            )
        if pruned:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif value is not None and status in ("Completed", "Stopped"):
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        service._set(self.name)  # LastModifiedTime

    def follow(self, stopping: bool) -> None:
        metric = self.objective["MetricName"]
        for child, (row, trial, seen) in list(self.running.items()):
            record = records.get("training", child)
            if record is None:
                continue
            values = [
                m["Value"] for m in records.metrics("training", child) if m["MetricName"] == metric
            ]
            pruned = bool(row.get("pruned"))
            for step in range(seen, len(values)):
                trial.report(values[step], step + 1)
                if not pruned and not record.terminal and trial.should_prune():
                    pruned = row["pruned"] = True
                    try:
                        jobs.stop_training_job(child)
                    except jobs.SageMakerError:
                        pass
            self.running[child] = (row, trial, len(values))
            if stopping and not record.terminal and not record.stop_requested:
                try:
                    jobs.stop_training_job(child)
                except jobs.SageMakerError:
                    pass
            if record.terminal:
                value = values[-1] if values else None
                self._finish_trial(
                    child,
                    trial,
                    record.status,
                    value,
                    record.state.get("failure_reason"),
                    pruned,
                )
                del self.running[child]
            else:
                with service.transaction() as conn:
                    conn.execute(
                        "UPDATE tuning_trials SET status=?, started=? WHERE tuning=? AND"
                        " training_job=?",
                        (record.status, record.started, self.name, child),
                    )

    def run(self) -> None:
        self.warm_start()
        self.resume()
        while True:
            stopping = self.stop_requested() or self.out_of_time()
            done_launching = stopping or self.launched >= self.max_jobs or self.target_reached()
            while not done_launching and len(self.running) < self.parallel:
                self.launch()
                done_launching = self.launched >= self.max_jobs
            self.follow(stopping)
            if done_launching and not self.running:
                break
            time.sleep(POLL)
        stopped = self.stop_requested()
        status = "Stopped" if stopped else "Completed"
        counts = service.trials(self.name)
        reason = None
        if not stopped and counts and all(t["objective"] is None for t in counts):
            status = "Failed"
            reason = "All training jobs failed: " + (counts[-1]["failure_reason"] or "")[:900]
        service._set(self.name, status=status, ended=time.time(), failure_reason=reason)


def main(argv: list[str] | None = None) -> None:
    """``python -m stepline.tuning.driver NAME``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = (argv or sys.argv[1:])[0]
    try:
        Driver(name).run()
    except Exception:  # noqa: BLE001 - the tuning job fails with the reason
        reason = traceback.format_exc()[-1000:]
        sys.stderr.write(reason)
        service._set(name, status="Failed", ended=time.time(), failure_reason=reason)


if __name__ == "__main__":
    main()
