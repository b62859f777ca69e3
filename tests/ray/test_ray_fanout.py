"""Map fan-out on a Ray cluster: a state machine's Map runs its training jobs on the cluster's
nodes at once, bounded by the cluster's free resources (jobs that do not fit yet wait in
Ray's queue), not by the engine machine's cores."""

from __future__ import annotations

from ray_support import training_request

from stepline import asl
from stepline.integrations import Router
from stepline.jobs import records

WORK = """
import time
print("RUN", flush=True)
time.sleep(2)
open("/opt/ml/model/done.txt", "w").write("ok")
"""

ITEMS = 4


def test_map_runs_its_training_jobs_on_the_cluster_at_once(store, make_image, cluster):
    image = make_image("fanout", {"work.py": WORK}, ["python", "/opt/program/work.py"])
    req = training_request("unused", image, store.bucket)
    del req["TrainingJobName"]
    req["TrainingJobName.$"] = "States.Format('fan-{}', $.i)"
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": ITEMS,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Train",
                    "States": {
                        "Train": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                            "Parameters": req,
                            "ResultSelector": {"status.$": "$.TrainingJobStatus"},
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
    items = [{"i": i} for i in range(ITEMS)]
    result = asl.execute(definition, {"items": items}, tasks=Router())
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == [{"status": "Completed"}] * ITEMS
    ran = [records.get("training", f"fan-{i}") for i in range(ITEMS)]
    # Every job ran on the cluster, and the record names the worker node it ran on.
    workers = {cluster.node_id(0), cluster.node_id(1)}
    nodes = [r.state["instances"][0]["node_id"] for r in ran]
    assert set(nodes) == workers, nodes
    assert all(r.state["runtime_backend"] == "ray" for r in ran)
    # They ran at once: at some moment two runs overlapped (one per one-CPU node), and never
    # more than the cluster's two CPUs.
    spans = [(r.state["run_started"], r.state["run_ended"]) for r in ran]
    peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert peak == 2, spans
