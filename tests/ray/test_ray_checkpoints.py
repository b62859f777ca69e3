"""CheckpointConfig on Ray: checkpoints are uploaded from the node while the job runs and at
its end, and a later job with the same S3Uri (a restart, as on SageMaker) finds them in its
LocalPath."""

from __future__ import annotations

import time

from ray_support import training_request

from stepline import jobs
from stepline.jobs import records

CKPT = """
import os, time
ck = "/opt/checkpoints"
found = sorted(os.listdir(ck))
print("RESTORED", ",".join(found), flush=True)
step = len(found)
open(f"{ck}/step-{step}.txt", "w").write(str(step))
print("WROTE", step, flush=True)
time.sleep(5)
open(f"{ck}/final-{step}.txt", "w").write("end")
"""


def _keys(store, prefix: str) -> list[str]:
    return sorted(o.key.rsplit("/", 1)[1] for o in store.list(prefix))


def test_checkpoints_sync_while_running_and_restore_on_restart(store, make_image):
    image = make_image("ckpt", {"ckpt.py": CKPT}, ["python", "/opt/program/ckpt.py"])
    uri = f"s3://{store.bucket}/checkpoints"
    config = {"S3Uri": uri, "LocalPath": "/opt/checkpoints"}
    jobs.create_training_job(training_request("ck-1", image, store.bucket, CheckpointConfig=config))
    # Uploaded while the job runs: the first file is there before the job ends.
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and "step-0.txt" not in _keys(store, uri + "/"):
        time.sleep(0.2)
    record = records.get("training", "ck-1")
    assert "step-0.txt" in _keys(store, uri + "/"), record.log_path.read_text()
    assert record.status == "InProgress" and "final-0.txt" not in _keys(store, uri + "/")
    first = jobs.wait("training", "ck-1", timeout=150)
    assert first.status == "Completed", first.state.get("failure_reason")
    # ...and at the end.
    assert _keys(store, uri + "/") == ["final-0.txt", "step-0.txt"]

    jobs.create_training_job(training_request("ck-2", image, store.bucket, CheckpointConfig=config))
    second = jobs.wait("training", "ck-2", timeout=150)
    assert second.status == "Completed", second.state.get("failure_reason")
    log = second.log_path.read_text()
    assert "RESTORED final-0.txt,step-0.txt" in log, log
    assert _keys(store, uri + "/") == ["final-0.txt", "final-2.txt", "step-0.txt", "step-2.txt"]
    assert store.get_bytes(f"{uri}/step-2.txt") == b"2"
