"""Instance types to local resources, and the FIFO resource queue."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stepline.jobs.runtimes import (
    QueueTimeout,
    Resources,
    ResourceScheduler,
    machine,
    resources_for,
)

GiB = 1 << 30
HOST = Resources(cpus=2, memory_bytes=23 * GiB, gpus=0)


def test_instance_types_map_and_cap() -> None:
    res, notes = resources_for("ml.m5.large", HOST)
    assert res == Resources(2, 8 * GiB, 0) and notes == []
    res, notes = resources_for("ml.m5.4xlarge", HOST)
    assert res.cpus == 2 and res.memory_bytes == 23 * GiB
    assert notes == [
        "ml.m5.4xlarge is larger than this machine; running scaled down: 16 vCPUs to 2, "
        "64 GiB memory to 23.0 GiB"
    ]
    res, notes = resources_for("ml.g4dn.xlarge", HOST)
    assert res.gpus == 0 and any("1 GPU(s) to 0 (runs on CPU)" in n for n in notes)
    res, notes = resources_for("ml.p3.2xlarge", Resources(64, 512 * GiB, 2, (0, 1)))
    assert res == Resources(8, 61 * GiB, 1) and notes == []
    assert resources_for("local", HOST)[0] == Resources(2, 23 * GiB, 0)
    assert "no GPU" in resources_for("local_gpu", HOST)[1][0]
    with pytest.raises(ValueError, match="unknown instance type"):
        resources_for("ml.m5.huge", HOST)
    assert machine().cpus >= 1 and machine().memory_bytes > 0


def test_queue_waits_fifo_instead_of_overcommitting(tmp_path: Path) -> None:
    sched = ResourceScheduler(Resources(2, 4 * GiB, 1, (0,)), tmp_path / "res.json")
    first = sched.acquire(Resources(2, 1 * GiB, 1))
    assert first.resources.gpu_ids == (0,)
    order: list[str] = []

    def job(name: str, req: Resources) -> None:
        with sched.acquire(req) as lease:
            order.append(name)
            assert lease.resources.gpus == req.gpus
            time.sleep(0.05)

    big = threading.Thread(target=job, args=("big", Resources(2, 3 * GiB)))
    big.start()
    time.sleep(0.1)
    small = threading.Thread(target=job, args=("small", Resources(1, 1 * GiB)))
    small.start()
    time.sleep(0.2)
    assert order == [] and len(sched.snapshot()["queue"]) == 2
    with pytest.raises(QueueTimeout):
        sched.acquire(Resources(1, GiB), timeout=0.1)
    first.release()
    big.join(5)
    small.join(5)
    assert order == ["big", "small"]
    assert sched.snapshot() == {"queue": [], "held": []}
    with pytest.raises(ValueError, match="never fit"):
        sched.acquire(Resources(3, GiB))


def test_queue_is_shared_across_processes_and_dead_holders_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "res.json"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from stepline.jobs.runtimes import Resources, ResourceScheduler\n"
        f"s = ResourceScheduler(Resources(2, 1 << 32), Path({str(path)!r}))\n"
        "s.acquire(Resources(2, 1 << 30))\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        sched = ResourceScheduler(Resources(2, 1 << 32), path)
        with pytest.raises(QueueTimeout):
            sched.acquire(Resources(1, 1 << 30), timeout=0.2)
        holder.kill()
        holder.wait()
        lease = sched.acquire(Resources(1, 1 << 30), timeout=5)
        lease.release()
    finally:
        holder.kill()
        holder.wait()
