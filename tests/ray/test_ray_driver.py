"""The engine's one Ray driver: every job of a home is supervised by one process that joined
the cluster once, and when it dies a new one reattaches to the running instances."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ray_support import training_request

from stepline import jobs
from stepline.jobs import records

SLOW = """
import time
print("started", flush=True)
time.sleep(12)
open("/opt/ml/model/m.txt", "w").write("m")
print("finished", flush=True)
"""


def _drivers(home: Path) -> list[int]:
    """The Ray driver processes serving ``home``."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"stepline.jobs.runtimes.ray_driver" not in fh.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if f"STEPLINE_HOME={home}".encode() not in fh.read().split(b"\0"):
                    continue
        except OSError:
            continue
        out.append(int(pid))
    return out


def _text(path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_one_driver_serves_the_jobs_and_a_new_one_reattaches(store, make_image, home):
    image = make_image("slowdrv", {"slow.py": SLOW}, ["python", "/opt/program/slow.py"])
    names = ["drv-1", "drv-2"]
    for name in names:
        jobs.create_training_job(training_request(name, image, store.bucket))

    def running(name: str) -> bool:
        record = records.get("training", name)
        return bool(record.run_identifier) and "started" in _text(record.log_path)

    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not all(running(n) for n in names):
        time.sleep(0.1)
    assert all(running(n) for n in names)
    drivers = _drivers(home)
    assert len(drivers) == 1, drivers  # one ray.init for both jobs
    supervisors = [records.get("training", n).supervisor["pid"] for n in names]
    assert len(set(supervisors)) == 2 and drivers[0] not in supervisors
    os.kill(drivers[0], signal.SIGKILL)  # the driver dies; the instances run on
    for name, pid in zip(names, supervisors, strict=True):
        record = jobs.wait("training", name, timeout=150)
        assert record.status == "Completed", record.state.get("failure_reason")
        log = record.log_path.read_text()
        assert log.count("started") == 1 and "finished" in log, log
        assert record.supervisor["pid"] == pid  # the same process handed it to a new driver
    assert _drivers(home) and _drivers(home) != drivers
