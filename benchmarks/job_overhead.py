"""Job overhead: Task scheduled -> first line of user code, and user code exit -> Task done.

Runs ``createTrainingJob.sync`` through the ASL interpreter and the SageMaker integration on
a warm image (built once, one warm-up job) and prints the median of N runs for the process
runtime with and without the bubblewrap sandbox, and for the container runtime when podman
can build the image (``FROM`` the offline Debian base of the job tests).  The user code
prints ``time.time()`` as its first and last lines; "scheduled" and "done" are taken at the
task port's entry and return.  Step caching is off: every run runs.

    python benchmarks/job_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

CODE = "import time; print('T0', time.time(), flush=True)\nprint('T1', time.time(), flush=True)\n"


class TimedRouter:
    """The normal task port, timing each invoke."""

    def __init__(self) -> None:
        from stepline.integrations import Router

        self.router = Router()
        self.times: list[tuple[float, float]] = []

    def invoke(self, request):  # noqa: ANN001 - TaskPort
        start = time.time()
        result = self.router.invoke(request)
        self.times.append((start, time.time()))
        return result


def run_once(image: str, name: str) -> tuple[float, float]:
    from stepline import asl, jobs

    port = TimedRouter()
    params = {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/Bench",
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bench/models"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
    }
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": params,
                "End": True,
            }
        },
    }
    result = asl.execute(definition, {}, tasks=port, name=name)
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"{name}: {result.error} {result.cause}")
    log = jobs.get_record("training", name).log_path.read_text().split()
    t0, t1 = float(log[log.index("T0") + 1]), float(log[log.index("T1") + 1])
    scheduled, done = port.times[0]
    return (t0 - scheduled) * 1000, (done - t1) * 1000


def measure(label: str, image: str, runs: int) -> None:
    slug = "".join(c if c.isalnum() else "-" for c in label).strip("-").replace("--", "-")
    run_once(image, f"warm-{slug}")
    starts, ends = [], []
    for i in range(runs):
        a, b = run_once(image, f"{slug}-{i}")
        starts.append(a)
        ends.append(b)
    print(
        f"{label:<22} scheduled->user code: median {statistics.median(starts):7.1f} ms "
        f"(min {min(starts):.1f})   user exit->task done: median {statistics.median(ends):7.1f} ms "
        f"(min {min(ends):.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="stepline-bench-")
    os.environ["STEPLINE_HOME"] = home
    os.environ["STEPLINE_STORE"] = "local"
    os.environ["STEPLINE_CACHE"] = "off"  # measure runs, not cache hits
    from stepline import images
    from stepline.jobs.runtimes import sandbox_command
    from stepline.storage import get_store

    get_store().create_bucket("bench")
    ctx = Path(home) / "ctx"
    ctx.mkdir()
    (ctx / "job.py").write_text(CODE)
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY job.py /opt/program/job.py\n"
        'ENTRYPOINT ["python", "/opt/program/job.py"]\n'
    )
    images.build(ctx, "bench:latest", runtime="process")
    print(f"runs per figure: {args.runs}; bubblewrap: {sandbox_command() or 'missing'}")
    if sandbox_command():
        measure("process (sandbox)", "bench:latest", args.runs)
    os.environ["STEPLINE_SANDBOX"] = "none"
    import warnings

    warnings.simplefilter("ignore")
    measure("process (no sandbox)", "bench:latest", args.runs)
    del os.environ["STEPLINE_SANDBOX"]
    try:
        base = container_base()
        (ctx / "Dockerfile").write_text(
            f"FROM {base}\nCOPY job.py /opt/program/job.py\n"
            'ENTRYPOINT ["python3", "/opt/program/job.py"]\n'
        )
        images.build(ctx, "bench-container:latest", runtime="container")
    except Exception as exc:  # noqa: BLE001 - report why the figure is missing
        print(f"container              not measured: {str(exc).splitlines()[0][:150]}")
        return
    measure("container (podman)", "bench-container:latest", args.runs)


def container_base() -> str:
    """The offline Debian base the job tests use (``tests/jobs/conftest.py``): debootstrap's
    tree under /var/cache/stepline-test imported into an overlay store there, once."""
    import subprocess

    from stepline.images import container_engine

    cache = Path("/var/cache/stepline-test")
    rootfs, base = cache / "bookworm-minbase-python3", "stepline-test-base:bookworm"
    os.environ["STEPLINE_CONTAINERS_ROOT"] = str(cache / "containers-jobs")
    if container_engine.engine_name() is None:
        raise RuntimeError("no container engine (podman or docker)")
    if container_engine.image_exists(base):
        return base
    if not (rootfs / "usr/bin/python3").exists():
        raise RuntimeError(f"no base tree at {rootfs}: run pytest tests/jobs first")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(
        container_engine.command("import", "-", base),
        stdin=tar.stdout,
        env=container_engine.env(),
        check=True,
    )
    tar.wait()
    return base


if __name__ == "__main__":
    sys.exit(main())
