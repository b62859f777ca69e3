"""Scale-out on Ray: 24 one-second jobs on 1 worker node against 2, and the per-job overhead.

A real local cluster (:class:`~stepline.jobs.runtimes.ray_local.LocalRayCluster`: a head
without CPUs and one-CPU workers) and a real SeaweedFS server.  Each job is a training job
whose script sleeps one second; its instance type (``ml.m5.large``) is scaled down to a
worker's one CPU, so a worker runs one job at a time and the ideal speed-up is 2x (the goal
is 1.8x).  The per-job overhead is a job's wall time (create to Completed, one job alone)
less its one second, on Ray and on the local runtime.

Run: ``python benchmarks/ray_scaleout.py [--jobs 24] [--repeat 3]``.  Everything it starts is
stopped at the end.  On a small machine the engine side (a forked supervisor per job, and the
engine's one shared Ray driver, :mod:`stepline.jobs.runtimes.ray_driver`) competes with the
workers for the same cores, which lowers the speed-up; the machine's load average is printed
with the figures, because they mean little without it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

SLEEP = """
import time
time.sleep(1)
open("/opt/ml/model/done", "w").write("ok")
"""


def _request(name: str, image: str, bucket: str) -> dict:
    return {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/bench",
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def _run_batch(prefix: str, count: int, image: str, bucket: str) -> float:
    from stepline import jobs

    names = [f"{prefix}-{i:03d}" for i in range(count)]
    start = time.monotonic()
    for name in names:
        jobs.create_training_job(_request(name, image, bucket))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from stepline import images
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
        on_ray = _overhead("overhead", args.repeat, image, bucket)
        one = _run_batch("one", args.jobs, image, bucket)
        cluster.add_worker(1)
        _run_batch("warm2", 2, image, bucket)  # the new node pulls the image once
        two = _run_batch("two", args.jobs, image, bucket)
    finally:
        if cluster is not None:
            cluster.stop()
        seaweed.stop()
        shutil.rmtree(work, ignore_errors=True)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end (1/5/15 min): {load} on {os.cpu_count()} CPUs")
    print(f"{args.jobs} one-second jobs, 1 worker node:  {one:6.1f}s")
    print(f"{args.jobs} one-second jobs, 2 worker nodes: {two:6.1f}s")
    print(f"speed-up: {one / two:.2f}x (goal 1.8x)")
    print(f"per-job overhead (median of {args.repeat}, one job alone, wall time less 1s):")
    print(f"  local runtime: {local:5.2f}s")
    print(f"  ray runtime:   {on_ray:5.2f}s  (+{on_ray - local:.2f}s)")


if __name__ == "__main__":
    main()
