"""The engine's one Ray driver: every job of a home is supervised by one process that joined
the cluster once; a job whose supervisor process dies gets a new one, and when the driver
itself dies a new one reattaches to the running instances."""

from __future__ import annotations

import os
import signal
import time

from ray_support import drivers, training_request

from stepline import jobs
from stepline.jobs import records, service

SLOW = """
import time
print("started", flush=True)
time.sleep(12)
open("/opt/ml/model/m.txt", "w").write("m")
print("finished", flush=True)
"""


def _text(path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_one_driver_serves_the_jobs_and_survives_its_supervisors_and_its_death(
    store, make_image, home
):
    image = make_image("slowdrv", {"slow.py": SLOW}, ["python", "/opt/program/slow.py"])
    names = ["drv-1", "drv-2"]
    for name in names:
        jobs.create_training_job(training_request(name, image, store.bucket))

    def running(name: str) -> bool:
        record = records.get("training", name)
        return bool(record.run_identifier) and "started" in _text(record.log_path)

    _wait_for(lambda: all(running(n) for n in names), 150)
    first = drivers(home)
    assert len(first) == 1, first  # one ray.init for both jobs
    supervisors = [records.get("training", n).supervisor["pid"] for n in names]
    assert len(set(supervisors)) == 2 and first[0] not in supervisors

    # A job's supervisor process dies: the engine starts another, and the driver, which
    # still runs the job, hands the record to it.
    os.kill(supervisors[0], signal.SIGKILL)

    def replaced() -> bool:
        record = records.get("training", "drv-1")
        service.ensure_supervised(record)  # what jobs.wait does every second
        return record.supervisor["pid"] != supervisors[0]

    _wait_for(replaced, 30)
    supervisors[0] = records.get("training", "drv-1").supervisor["pid"]
    assert drivers(home) == first

    # The driver dies: the instances run on; each supervisor hands its job to a new driver,
    # which reattaches to the running actors.
    os.kill(first[0], signal.SIGKILL)
    for name, pid in zip(names, supervisors, strict=True):
        record = jobs.wait("training", name, timeout=150)
        assert record.status == "Completed", record.state.get("failure_reason")
        log = record.log_path.read_text()
        assert log.count("started") == 1 and "finished" in log, log
        assert record.supervisor["pid"] == pid


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")
