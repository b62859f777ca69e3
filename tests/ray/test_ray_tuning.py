"""Tuning on a Ray cluster: MaxParallelTrainingJobs trials run at the same time, across nodes."""

from __future__ import annotations

import sys
from pathlib import Path

from stepline import jobs, tuning
from stepline.jobs import records

sys.path.insert(0, str(Path(__file__).parent.parent / "tuning"))
from tuning_support import TRAIN, tuning_request  # noqa: E402


def test_two_parallel_trials_run_at_once_on_two_nodes(store, make_image):
    image = make_image("quad", {"train.py": TRAIN}, ["python", "/opt/program/train.py"])
    req = tuning_request("raytune", image, "Random", jobs=2, parallel=2, seed=1)
    definition = req["TrainingJobDefinition"]
    definition["OutputDataConfig"]["S3OutputPath"] = f"s3://{store.bucket}/tuning"
    # Runs long enough (9 s) that the second trial starts while the first runs, even on a
    # busy machine where a start takes seconds.
    definition["StaticHyperParameters"] = {"epochs": "3", "sleep": "3"}
    tuning.create_hyper_parameter_tuning_job(req)
    assert tuning.wait("raytune", timeout=240) == "Completed"
    desc = tuning.describe_hyper_parameter_tuning_job("raytune")
    assert desc["TrainingJobStatusCounters"]["Completed"] == 2
    children = [records.get("training", r.name) for r in records.all_jobs("training")]
    assert len(children) == 2
    for child in children:
        assert jobs.describe_training_job(child.name)["TrainingJobStatus"] == "Completed"
    # Both trials ran at the same time (their runs overlap), on different nodes.
    (a_start, a_end), (b_start, b_end) = (
        (c.state["run_started"], c.state["run_ended"]) for c in children
    )
    assert a_start < b_end and b_start < a_end, "the trials ran one after the other"
    nodes = {c.state["instances"][0]["node_id"] for c in children}
    assert len(nodes) == 2
