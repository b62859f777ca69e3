"""Start-up cost of the process runtime: bwrap sandbox vs plain subprocess.

Measures, on a warm image, the time from ``runtime.start()`` to the job's first line of user
code (the job prints ``time.time()`` as its first statement) and from the job's exit to
``poll()`` noticing it.  Run: ``python benchmarks/runtime_start.py [N]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def main(n: int) -> None:
    os.environ["STEPLINE_HOME"] = tempfile.mkdtemp(prefix="stepline-bench-")
    from stepline import images
    from stepline.jobs.runtimes import Mount, ProcessRuntime, RunSpec

    ctx = Path(os.environ["STEPLINE_HOME"]) / "ctx"
    ctx.mkdir()
    (ctx / "job.py").write_text("import time, sys\nprint(time.time(), flush=True)\n")
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\nCOPY job.py /opt/program/\n"
        'ENTRYPOINT ["python", "/opt/program/job.py"]\n'
    )
    t = time.perf_counter()
    image = images.build(ctx, "bench:1")
    cold = time.perf_counter() - t
    t = time.perf_counter()
    images.build(ctx, "bench:1")
    warm = time.perf_counter() - t
    print(f"build: cold {cold * 1000:.0f} ms, warm (cached) {warm * 1000:.1f} ms")
    job = Path(os.environ["STEPLINE_HOME"]) / "job"
    for mode in ("bwrap", "none"):
        os.environ["STEPLINE_SANDBOX"] = mode
        firsts, exits = [], []
        for i in range(n):
            log = job / f"{mode}-{i}.log"
            spec = RunSpec(image=image, log_path=log, mounts=[Mount(job / "ml", "/opt/ml")])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.time()
                handle = ProcessRuntime().start(spec)
            handle.wait()
            done = time.time()
            first = float(log.read_text().split()[0])
            firsts.append((first - start) * 1000)
            exits.append((done - first) * 1000)
        print(
            f"{mode:5s}: start->first line median {statistics.median(firsts):.1f} ms "
            f"(min {min(firsts):.1f}, max {max(firsts):.1f}); "
            f"first line->done median {statistics.median(exits):.1f} ms"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
