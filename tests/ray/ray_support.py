"""Request builders for the Ray tests: ``support.job_requests``'s, sized for a cluster node
(``ml.m5.large``, 120 s) and writing to the test's own bucket on the S3 server; and the
home's Ray driver processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from support import job_requests


def training_request(name: str, image: str, bucket: str, count: int = 1, **overrides: Any) -> dict:
    return job_requests.training_request(
        name,
        image,
        bucket=bucket,
        count=count,
        instance_type="ml.m5.large",
        max_runtime=120,
        **overrides,
    )


def processing_request(name: str, image: str, count: int = 1, **overrides: Any) -> dict:
    return job_requests.processing_request(
        name, image, count=count, instance_type="ml.m5.large", max_runtime=120, **overrides
    )


def drivers(home: Path) -> list[int]:
    """The Ray driver processes (:mod:`stepline.jobs.runtimes.ray_driver`) serving ``home``."""
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
