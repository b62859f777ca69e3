"""Tuning jobs over real (tiny) training jobs: strategies, grid, early stopping, warm start."""

from __future__ import annotations

import re
import statistics

import pytest
from tuning_support import tuning_request

from stepline import jobs, tuning
from stepline.asl import execute
from stepline.errors import ValidationException
from stepline.integrations import Router


def _best(name: str) -> float:
    desc = tuning.describe_hyper_parameter_tuning_job(name)
    return desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]


def test_bayesian_beats_random_on_the_same_budget(train_image) -> None:
    seeds = range(4)
    for seed in seeds:
        for strategy in ("Bayesian", "Random"):
            tuning.create_hyper_parameter_tuning_job(
                tuning_request(f"{strategy[:3].lower()}{seed}", train_image, strategy, 16, 2, seed)
            )
    for seed in seeds:
        for prefix in ("bay", "ran"):
            assert tuning.wait(f"{prefix}{seed}", timeout=170) == "Completed"
    bayes = [_best(f"bay{s}") for s in seeds]
    rand = [_best(f"ran{s}") for s in seeds]
    assert statistics.mean(bayes) < statistics.mean(rand), (bayes, rand)
    assert sum(b <= r for b, r in zip(bayes, rand, strict=True)) >= 3, (bayes, rand)

    desc = tuning.describe_hyper_parameter_tuning_job("bay0")
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["Completed"] == 16
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 16, "Pending": 0, "Failed": 0}
    best = desc["BestTrainingJob"]
    assert re.fullmatch(r"bay0-\d{3}-[0-9a-f]{8}", best["TrainingJobName"])
    child = jobs.describe_training_job(best["TrainingJobName"])
    assert child["HyperParameters"]["_tuning_objective_metric"] == "loss"
    assert child["TuningJobArn"] == desc["HyperParameterTuningJobArn"]
    assert child["HyperParameters"]["x"] == best["TunedHyperParameters"]["x"]
    listed = tuning.list_training_jobs_for_hyper_parameter_tuning_job(
        "bay0", sort_by="FinalObjectiveMetricValue"
    )["TrainingJobSummaries"]
    assert len(listed) == 16
    assert listed[0]["TrainingJobName"] == best["TrainingJobName"]
    names = sorted(s["TrainingJobName"] for s in listed)
    assert [n.split("-")[1] for n in names] == [f"{i:03d}" for i in range(1, 17)]


def test_grid_runs_every_combination(train_image) -> None:
    ranges = {
        "CategoricalParameterRanges": [
            {"Name": "x", "Values": ["0.1", "0.3", "0.9"]},
            {"Name": "y", "Values": ["0.7", "0.0"]},
        ]
    }
    tuning.create_hyper_parameter_tuning_job(
        tuning_request("grid", train_image, "Grid", parallel=2, ranges=ranges)
    )
    assert tuning.wait("grid", timeout=60) == "Completed"
    listed = tuning.list_training_jobs_for_hyper_parameter_tuning_job("grid")
    combos = {
        (s["TunedHyperParameters"]["x"], s["TunedHyperParameters"]["y"])
        for s in listed["TrainingJobSummaries"]
    }
    assert len(combos) == 6
    best = tuning.describe_hyper_parameter_tuning_job("grid")["BestTrainingJob"]
    assert best["TunedHyperParameters"] == {"x": "0.3", "y": "0.7"}
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.0


def test_hyperband_stops_weak_jobs_early(train_image) -> None:
    req = tuning_request(
        "hb",
        train_image,
        "Hyperband",
        jobs=8,
        parallel=2,
        seed=3,
        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 6}},
    )
    req["TrainingJobDefinition"]["StaticHyperParameters"] = {"epochs": "6", "sleep": "0.25"}
    tuning.create_hyper_parameter_tuning_job(req)
    assert tuning.wait("hb", timeout=120) == "Completed"
    desc = tuning.describe_hyper_parameter_tuning_job("hb")
    counters = desc["TrainingJobStatusCounters"]
    assert counters["Stopped"] >= 1, counters
    assert counters["Completed"] + counters["Stopped"] == 8
    assert desc["BestTrainingJob"]["TrainingJobStatus"] in ("Completed", "Stopped")


def test_warm_start_and_validation(train_image) -> None:
    tuning.create_hyper_parameter_tuning_job(tuning_request("parent", train_image, "Random", 4))
    assert tuning.wait("parent", timeout=60) == "Completed"
    req = tuning_request(
        "child",
        train_image,
        "Bayesian",
        3,
        WarmStartConfig=None,
    )
    req["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    req["HyperParameterTuningJobConfig"].pop("WarmStartConfig", None)
    tuning.create_hyper_parameter_tuning_job(req)
    assert tuning.wait("child", timeout=60) == "Completed"
    desc = tuning.describe_hyper_parameter_tuning_job("child")
    overall = desc["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert overall == min(_best("parent"), _best("child"))

    bad = tuning_request("bad", train_image, "Grid")
    with pytest.raises(ValidationException, match="categorical ranges only"):
        tuning.create_hyper_parameter_tuning_job(bad)
    bad = tuning_request("bad", train_image)
    bad["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "acc"
    with pytest.raises(ValidationException, match="MetricDefinitions"):
        tuning.create_hyper_parameter_tuning_job(bad)
    bad = tuning_request("bad", train_image, "Hyperband", TrainingJobEarlyStoppingType="Auto")
    with pytest.raises(ValidationException, match="Hyperband"):
        tuning.create_hyper_parameter_tuning_job(bad)
    bad = tuning_request("bad", train_image)
    bad["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0][
        "ScalingType"
    ] = "Logarithmic"
    with pytest.raises(ValidationException, match="greater than 0"):
        tuning.create_hyper_parameter_tuning_job(bad)
    with pytest.raises(jobs.ResourceInUse):
        tuning.create_hyper_parameter_tuning_job(tuning_request("parent", train_image))


def test_sync_integration_returns_describe(train_image) -> None:
    params = tuning_request("sfn", train_image, "Random", 2)
    definition = {
        "StartAt": "Tune",
        "States": {
            "Tune": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync",
                "Parameters": params,
                "End": True,
            }
        },
    }
    result = execute(definition, {}, tasks=Router())
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    out = result.output
    assert out["HyperParameterTuningJobStatus"] == "Completed"
    assert out["BestTrainingJob"]["TrainingJobName"].startswith("sfn-")
    assert isinstance(out["CreationTime"], int)  # epoch milliseconds, as Step Functions


def test_space_scaling() -> None:
    from stepline.tuning import space

    dists = space.distributions(
        {
            "ContinuousParameterRanges": [
                {"Name": "lr", "MinValue": "1e-5", "MaxValue": "1", "ScalingType": "Auto"},
                {
                    "Name": "mom",
                    "MinValue": "0.9",
                    "MaxValue": "0.999",
                    "ScalingType": "ReverseLogarithmic",
                },
            ],
            "IntegerParameterRanges": [
                {"Name": "n", "MinValue": "1", "MaxValue": "512", "ScalingType": "Logarithmic"}
            ],
        }
    )
    assert dists["lr"].log and dists["n"].log
    assert space.REVERSE in "".join(dists)
    hps = space.to_hyperparameters({"mom" + space.REVERSE: 0.01, "n": 8, "lr": 0.1})
    assert hps == {"mom": "0.99", "n": "8", "lr": "0.1"}
    assert space.from_hyperparameters(hps, dists)["n"] == 8
