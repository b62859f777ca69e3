"""Request builders for the Ray tests: ``support.job_requests``'s, sized for a cluster node
(``ml.m5.large``, 120 s) and writing to the test's own bucket on the S3 server."""

from __future__ import annotations

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
