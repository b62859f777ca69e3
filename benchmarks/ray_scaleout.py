"""Scale-out on Ray: 24 one-second jobs on 1 worker node against 2, and the per-job overhead.

A real local cluster (:class:`~stepline.jobs.runtimes.ray_local.LocalRayCluster`: a head
without CPUs and one-CPU workers) and a real SeaweedFS server.  Each job is a training job
whose script sleeps one second; its instance type (``ml.m5.large``) is scaled down to a
worker's one CPU, so a worker runs one job at a time and the ideal speed-up is 2x (the goal
is 1.8x).  Each batch starts as a steady stream would find the cluster: every node has the
image and one warm instance actor (a longer warm-up job ran on each, see
:class:`~stepline.jobs.runtimes.ray.ActorPool`).  The per-job overhead is a job's wall time
(create to Completed, one job alone) less its one second: on the local runtime, on Ray with
a warm actor, and on Ray with a new actor (after the pool let the warm one go).

The CPU each batch cost, per job, is printed by side: the engine machine's (this process,
the job supervisors, the Ray driver), the nodes' (instance actors, the jobs' sandboxes) and
Ray's own daemons and the S3 server.  On a small machine all of them share the same cores,
which lowers the speed-up; the load average is printed too, because the figures mean little
without it.

Run: ``python benchmarks/ray_scaleout.py [--jobs 24] [--repeat 3]``.  Everything it starts is
stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

SLEEP = """
import os, time
time.sleep(float(os.environ.get("SLEEP_SECONDS", "1")))
open("/opt/ml/model/done", "w").write("ok")
"""


def _request(name: str, image: str, bucket: str, seconds: float = 1.0) -> dict:
    return {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/bench",
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Environment": {"SLEEP_SECONDS": str(seconds)},
    }


def _run_batch(prefix: str, count: int, image: str, bucket: str, seconds: float = 1.0) -> float:
    from stepline import jobs

    names = [f"{prefix}-{i:03d}" for i in range(count)]
    start = time.monotonic()
    for name in names:
        jobs.create_training_job(_request(name, image, bucket, seconds))
    for name in names:
        jobs.wait("training", name, timeout=1800)
        status = jobs.describe_training_job(name)
        if status["TrainingJobStatus"] != "Completed":
            raise SystemExit(
                f"{name}: {status['TrainingJobStatus']}: {status.get('FailureReason')}"
            )
    return time.monotonic() - start


def _overhead(prefix: str, repeat: int, image: str, bucket: str) -> float:
    return statistics.median(
        _run_batch(f"{prefix}-{i}", 1, image, bucket) - 1.0 for i in range(repeat)
    )


def _nodes_used(prefix: str, count: int) -> list[int]:
    """How many of the batch's jobs each node ran."""
    from stepline.jobs import records

    per: dict[str, int] = {}
    for i in range(count):
        record = records.get("training", f"{prefix}-{i:03d}")
        node = record.state["instances"][0]["node_id"]
        per[node] = per.get(node, 0) + 1
    return sorted(per.values(), reverse=True)


class CpuMeter:
    """CPU seconds of the benchmark's own processes, by side, sampled from ``/proc``.

    Ours: this process, every process whose ``STEPLINE_HOME`` lies in the work folder (the
    driver, the supervisors, the cluster's nodes and their Ray workers, the S3 server), and
    their children (the jobs' sandboxes).  Sampled every 0.1 s, so what a process spends
    before its first sample, or a process that lives less than that, is missed: a floor."""

    DAEMONS = ("raylet", "gcs_server", "log_monitor", "monitor.py", "dashboard", "Agent")
    DAEMONS += ("ray.scripts",)

    def __init__(self, work: Path) -> None:
        self.marker = f"STEPLINE_HOME={work}".encode()
        self.tick = os.sysconf("SC_CLK_TCK")
        self.procs: dict[tuple[int, str], list] = {}  # (pid, start) -> [side, first, last]
        self.ours: set[int] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _side(self, pid: int, ppid: int) -> str | None:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                mine = pid == os.getpid() or self.marker in fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        if not mine and ppid not in self.ours:
            return None
        self.ours.add(pid)
        if pid == os.getpid():
            return "engine: this process (creates, waits)"
        if "ray_driver" in cmd:
            return "engine: the Ray driver"
        if "stepline.jobs.forkserver" in cmd or "stepline.jobs.supervisor" in cmd:
            return "engine: job supervisors"
        if "ray::" in cmd and any(d in cmd for d in self.DAEMONS):
            return "Ray's daemons"
        if "ray::" in cmd or "default_worker.py" in cmd:
            return "nodes: Ray workers (instance actors)"
        if "weed" in cmd:
            return "S3 server"
        if any(d in cmd for d in self.DAEMONS):
            return "Ray's daemons"
        return "nodes: jobs (sandbox, user code)"

    def sample(self) -> None:
        with self.lock:
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                key = (int(entry), fields[19])
                cpu = (int(fields[11]) + int(fields[12])) / self.tick
                if key not in self.procs:
                    self.procs[key] = [self._side(int(entry), int(fields[1])), cpu, cpu]
                self.procs[key][2] = cpu

    def _loop(self) -> None:
        while not self.stopping.wait(0.1):
            self.sample()

    def snapshot(self) -> dict[tuple[int, str], float]:
        """Each process's CPU so far (ours only)."""
        self.sample()
        with self.lock:
            return {k: v[2] for k, v in self.procs.items() if v[0]}

    def between(self, before: dict, after: dict) -> dict[str, float]:
        """CPU seconds by side from ``before`` to ``after`` (two snapshots)."""
        out: dict[str, float] = {}
        for key, cpu in after.items():
            side, first, _ = self.procs[key]
            out[side] = out.get(side, 0.0) + cpu - before.get(key, first)
        return out

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()


def _measured(meter: CpuMeter, run: Callable[[], float]) -> tuple[float, dict[str, float]]:
    """(what ``run`` returns, the CPU by side meanwhile)."""
    before = meter.snapshot()
    took = run()
    return took, meter.between(before, meter.snapshot())


def _print_cpu(jobs: int, one: dict[str, float], two: dict[str, float]) -> None:
    print(f"CPU per job (seconds; {jobs} jobs a batch)      1 node   2 nodes")
    for side in sorted(set(one) | set(two), key=lambda s: -(one.get(s, 0) + two.get(s, 0))):
        a, b = one.get(side, 0.0) / jobs, two.get(side, 0.0) / jobs
        if a >= 0.005 or b >= 0.005:
            print(f"  {side:40s} {a:6.3f}   {b:6.3f}")
    print(f"  {'total':40s} {sum(one.values()) / jobs:6.3f}   {sum(two.values()) / jobs:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from stepline import images
    from stepline.jobs.runtimes import ray as ray_runtime
    from stepline.jobs.runtimes.ray_local import LocalRayCluster
    from stepline.storage import get_store
    from stepline.storage.seaweed import SeaweedServer

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the start (1/5/15 min): {load} on {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="ray-scaleout-"))
    os.environ.update(
        STEPLINE_HOME=str(work / "engine"),
        STEPLINE_JOB_STOP_GRACE="1",
        # The engine's Ray driver leaves 5 s after the last job (the default is 60 s).
        STEPLINE_RAY_DRIVER_IDLE="5",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.pop(ray_runtime.ACTOR_IDLE_ENV, None)  # the default
    warm_idle = ray_runtime.actor_idle()
    ctx = work / "ctx"
    ctx.mkdir(parents=True)
    (ctx / "sleep.py").write_text(textwrap.dedent(SLEEP))
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY sleep.py /opt/program/\n"
        'ENTRYPOINT ["python", "/opt/program/sleep.py"]\n'
    )
    images.build(ctx, "sleep1:latest", runtime="process")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sleep1:latest"

    # The local runtime first: embedded store, no cluster.
    os.environ.update(STEPLINE_RUNTIME="local", STEPLINE_STORE="local")
    get_store().create_bucket("bench")
    local = _overhead("local", args.repeat, image, "bench")

    seaweed = SeaweedServer(work / "seaweed")
    meter = CpuMeter(work)
    cluster = None
    try:
        seaweed.wait_ready()
        started = time.monotonic()
        cluster = LocalRayCluster(work / "cluster", workers=1, cpus_per_worker=1)
        print(f"cluster: head + 1 worker up in {time.monotonic() - started:.1f}s")
        os.environ.update(
            STEPLINE_RUNTIME="ray",
            RAY_ADDRESS=cluster.address,
            STEPLINE_STORE="s3",
            STEPLINE_S3_ENDPOINT_URL=seaweed.endpoint_url,
            AWS_ACCESS_KEY_ID=seaweed.access_key,
            AWS_SECRET_ACCESS_KEY=seaweed.secret_key,
        )
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        get_store().create_bucket(bucket)
        _run_batch("warm", 1, image, bucket)  # the node pulls the image once
        time.sleep(warm_idle + 1.5)  # the pool lets the warm actor go
        cold = _run_batch("cold", 1, image, bucket) - 1.0
        on_ray = _overhead("overhead", args.repeat, image, bucket)
        # A warm actor on the node, as a steady stream of jobs keeps it.
        _run_batch("warm1", 1, image, bucket)
        one, cpu_one = _measured(meter, lambda: _run_batch("one", args.jobs, image, bucket))
        spread_one = _nodes_used("one", args.jobs)
        cluster.add_worker(1)
        # Two longer jobs at once: one on each node, which pulls the image and keeps a warm
        # actor.
        _run_batch("warm2", 2, image, bucket, seconds=4.0)
        if sorted(_nodes_used("warm2", 2)) != [1, 1]:
            print("note: the warm-up jobs did not run on both nodes")
        two, cpu_two = _measured(meter, lambda: _run_batch("two", args.jobs, image, bucket))
        spread_two = _nodes_used("two", args.jobs)
    finally:
        meter.stop()
        if cluster is not None:
            cluster.stop()
        seaweed.stop()
        shutil.rmtree(work, ignore_errors=True)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end (1/5/15 min): {load} on {os.cpu_count()} CPUs")
    print(f"{args.jobs} one-second jobs, 1 worker node:  {one:6.1f}s  (jobs per node {spread_one})")
    print(f"{args.jobs} one-second jobs, 2 worker nodes: {two:6.1f}s  (jobs per node {spread_two})")
    print(f"speed-up: {one / two:.2f}x (goal 1.8x)")
    _print_cpu(args.jobs, cpu_one, cpu_two)
    print(f"per-job overhead (one job alone, wall time less 1s; median of {args.repeat}):")
    print(f"  local runtime:              {local:5.2f}s")
    print(f"  ray runtime, warm actor:    {on_ray:5.2f}s  (+{on_ray - local:.2f}s)")
    print(f"  ray runtime, new actor:     {cold:5.2f}s  (+{cold - local:.2f}s; one run)")


if __name__ == "__main__":
    main()
