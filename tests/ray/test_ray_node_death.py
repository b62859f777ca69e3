"""A worker node that dies mid-job: the job fails naming the node, a Retry runs elsewhere."""

from __future__ import annotations

import threading
import time

from ray_support import training_request

from stepline import asl, jobs
from stepline.integrations import Router
from stepline.jobs import records
from support.procs import processes_with

DOOMED = """
import os, time
print("READY", flush=True)
time.sleep(6)
os.makedirs("/opt/ml/model", exist_ok=True)
open("/opt/ml/model/done.txt", "w").write("ok")
"""


def test_dead_node_fails_the_job_and_a_retry_succeeds_on_the_other_node(store, make_image, cluster):
    script = "/opt/program/doomed_train.py"
    image = make_image("doomed", {"doomed_train.py": DOOMED}, ["python", script])
    req = training_request("unused", image, store.bucket)
    del req["TrainingJobName"]
    req["TrainingJobName.$"] = "States.Format('doomed-{}', States.UUID())"
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": req,
                "Retry": [
                    {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}
                ],
                "End": True,
            }
        },
    }
    result: dict = {}
    runner = threading.Thread(
        target=lambda: result.setdefault("r", asl.execute(definition, {}, tasks=Router()))
    )
    runner.start()
    killed = None
    try:
        deadline = time.monotonic() + 180
        first = None
        while time.monotonic() < deadline and first is None:
            for record in records.all_jobs("training"):
                if record.state.get("instances") and "READY" in _read(record.log_path):
                    first = record
            time.sleep(0.2)
        assert first is not None, "the first attempt never started"
        node = first.state["instances"][0]["node_id"]
        killed = next(i for i in range(2) if cluster.node_id(i) == node)
        cluster.kill_worker(killed)
        runner.join(240)
        assert not runner.is_alive()
        r = result["r"]
        assert r.status == "SUCCEEDED", (r.error, r.cause)
        failed = jobs.describe_training_job(first.name)
        assert failed["TrainingJobStatus"] == "Failed"
        assert node in failed["FailureReason"] and "died" in failed["FailureReason"]
        assert not processes_with("doomed_train.py")  # nothing left running
        names = [j.name for j in records.all_jobs("training")]
        retried = [n for n in names if n != first.name]
        assert len(retried) == 1
        second = records.get("training", retried[0])
        assert second.status == "Completed"
        assert second.state["instances"][0]["node_id"] == cluster.node_id(1 - killed)
    finally:
        runner.join(240)
        if killed is not None:
            cluster.add_worker()  # later tests get two workers again


def _read(path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
