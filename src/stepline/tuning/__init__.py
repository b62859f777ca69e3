"""Hyperparameter tuning jobs (SageMaker's CreateHyperParameterTuningJob), run locally.

Public interface (boto3's shapes)::

    create_hyper_parameter_tuning_job(request, token=None) -> {"HyperParameterTuningJobArn"}
    describe_hyper_parameter_tuning_job(name)   # BestTrainingJob, status counters ...
    list_training_jobs_for_hyper_parameter_tuning_job(name, status=None, sort_by=...)
    list_hyper_parameter_tuning_jobs()
    stop_hyper_parameter_tuning_job(name)
    wait(name, cancel=None, timeout=None) -> status;  TERMINAL

Strategies map to optuna (:mod:`space`): Random -> RandomSampler, Bayesian -> TPESampler,
Grid -> GridSampler, Hyperband -> RandomSampler + HyperbandPruner; early stopping ``Auto``
is optuna's MedianPruner.  Children are the jobs layer's training jobs (:mod:`driver`).
"""

from __future__ import annotations

from stepline.tuning.service import (
    TERMINAL,
    create_hyper_parameter_tuning_job,
    describe_hyper_parameter_tuning_job,
    list_hyper_parameter_tuning_jobs,
    list_training_jobs_for_hyper_parameter_tuning_job,
    stop_hyper_parameter_tuning_job,
    trials,
    wait,
)

__all__ = [
    "TERMINAL",
    "create_hyper_parameter_tuning_job",
    "describe_hyper_parameter_tuning_job",
    "list_hyper_parameter_tuning_jobs",
    "list_training_jobs_for_hyper_parameter_tuning_job",
    "stop_hyper_parameter_tuning_job",
    "trials",
    "wait",
]
