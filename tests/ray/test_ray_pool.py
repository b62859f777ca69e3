"""The driver's warm actors (:class:`stepline.jobs.runtimes.ray.ActorPool`): a finished
one-instance job's actor serves the next instance of its shape, gives way to a placement
group that needs its room, and ends itself when its driver died without killing it."""

from __future__ import annotations

import os
import signal
import time

from ray_support import drivers, training_request

from stepline import jobs
from stepline.jobs import records
from support.procs import processes_with

SAY = """
import os
print("JOB", os.environ["WHO"], sorted(os.listdir("/opt/ml/model")), flush=True)
open("/opt/ml/model/mine.txt", "w").write(os.environ["WHO"])
"""

ACTOR = "ray::InstanceRunner"


def _run(name: str, image: str, bucket: str, count: int = 1) -> records.JobRecord:
    req = training_request(name, image, bucket, count=count, Environment={"WHO": name})
    jobs.create_training_job(req)
    record = jobs.wait("training", name, timeout=180)
    desc = jobs.describe_training_job(name)
    assert desc["TrainingJobStatus"] == "Completed", (desc.get("FailureReason"), record.state)
    return record


def _wait_for(predicate, timeout: float, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError("timed out")


def test_a_finished_instance_actor_serves_the_next_job_of_its_shape(store, make_image, cluster):
    image = make_image("say", {"say.py": SAY}, ["python", "/opt/program/say.py"])
    first = _run("warm-a", image, store.bucket)
    second = _run("warm-b", image, store.bucket)
    actors = [r.state["instances"][0]["actor"] for r in (first, second)]
    assert actors[0].startswith("instance-") and actors[0] == actors[1], actors
    # The second job started clean: its own environment, an empty model folder, its own log.
    log = second.log_path.read_text()
    assert "JOB warm-b []" in log.splitlines() and "warm-a" not in log, log
    # The first job's folder on the node went with its end.
    for home in cluster.homes:
        assert not (home / "ray-jobs" / "training" / "warm-a").exists()


def test_warm_actors_give_way_to_a_placement_group(store, make_image, monkeypatch):
    # Warm for two minutes: the two-instance job below needs both nodes' CPUs at once, one of
    # which the first job's actor holds; only killing it lets the group be placed soon.
    monkeypatch.setenv("STEPLINE_RAY_ACTOR_IDLE", "120")
    image = make_image("say2", {"say.py": SAY}, ["python", "/opt/program/say.py"])
    first = _run("before-group", image, store.bucket)
    group = _run("group", image, store.bucket, count=2)
    assert group.started - first.ended < 60  # not the 120 s the warm actor had left
    assert len({i["node_id"] for i in group.state["instances"]}) == 2


def test_an_actor_whose_driver_died_ends_itself(store, make_image, home, cluster, monkeypatch):
    monkeypatch.setenv("STEPLINE_RAY_ACTOR_IDLE", "3")  # the driver would kill it after 3 s
    image = make_image("say3", {"say.py": SAY}, ["python", "/opt/program/say.py"])
    record = _run("orphan", image, store.bucket)
    folder = cluster.homes[0].parent  # every node's home is under it
    # The actor is reset (its job folder removed) and warm in the driver's pool: the driver
    # dies before it would kill the actor.
    _wait_for(lambda: not list(folder.glob("node*/ray-jobs/training/orphan")), 30, 0.02)
    assert processes_with(ACTOR)
    for pid in drivers(home):
        os.kill(pid, signal.SIGKILL)
    assert record.state["instances"][0]["actor"].startswith("instance-")
    # Unused for its idle time and a few seconds more, it ends itself: nothing holds the
    # node's CPU for good.
    _wait_for(lambda: not processes_with(ACTOR), 45, 0.5)
