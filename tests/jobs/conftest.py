"""Fixtures for job tests: every test gets a private STEPLINE_HOME (see ``support.fixtures``
for ``home``, ``store`` and ``make_image``), plus the request builders as fixtures.

Images are process-runtime builds of ``FROM python:3.11`` Dockerfiles with the job code
COPY'd in (a build is a cached venv lookup, ~50 ms); container-runtime tests build ``FROM``
the offline Debian base (``container_base``).  The stop grace is 1 s instead of
SageMaker's 120 s so timeout tests stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from support.job_requests import processing_request, training_request


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


@pytest.fixture(name="training_request")
def training_request_fixture() -> Callable[..., dict]:
    return training_request


@pytest.fixture(name="processing_request")
def processing_request_fixture() -> Callable[..., dict]:
    return processing_request
