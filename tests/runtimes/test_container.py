"""The container runtime: podman builds FROM an offline debootstrap base and runs it.

The base image (Debian bookworm minbase with python3) comes from the shared
``container_base`` fixture (``tests/conftest.py``), made with debootstrap once and cached.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stepline import images
from stepline.jobs.runtimes import Mount, Resources, RunSpec, get_runtime

pytestmark = [pytest.mark.podman, pytest.mark.debootstrap]


def test_build_and_run_container(container_base: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "train.py").write_text(
        "import os, sys\n"
        "print('args', sys.argv[1:], 'env', os.environ['FROM_JOB'], os.getcwd(), flush=True)\n"
        "print('config', open('/opt/ml/input/config/hp.json').read(), flush=True)\n"
        "open('/opt/ml/model/model.txt', 'w').write('trained')\n"
        "sys.exit(5)\n"
    )
    (ctx / "Dockerfile").write_text(
        f"FROM {container_base}\n"
        "RUN echo built > /etc/stepline-built\n"
        "COPY train.py /opt/program/train.py\n"
        "WORKDIR /opt/program\n"
        'ENTRYPOINT ["python3", "/opt/program/train.py"]\n'
    )
    image = images.build(
        ctx, "123456789012.dkr.ecr.us-east-1.amazonaws.com/ctr:1", runtime="container"
    )
    assert image.runtime == "container" and image.digest.startswith("sha256:")
    assert images.resolve("ctr:1").engine_ref == image.engine_ref
    job = tmp_path / "job"
    (job / "input/config").mkdir(parents=True)
    (job / "input/config/hp.json").write_text('{"epochs": "1"}')
    (job / "model").mkdir()
    spec = RunSpec(
        image=image,
        log_path=tmp_path / "job.log",
        command=["train"],
        env={"FROM_JOB": "yes"},
        mounts=[Mount(job / "input", "/opt/ml/input", True), Mount(job / "model", "/opt/ml/model")],
        resources=Resources(cpus=1, memory_bytes=512 << 20),
        network=False,
    )
    runtime = get_runtime("container")
    assert runtime.available()
    handle = runtime.start(spec)
    assert handle.wait(60) == 5
    log = spec.log_path.read_text()
    assert "args ['train'] env yes /opt/program" in log
    assert 'config {"epochs": "1"}' in log
    assert (job / "model/model.txt").read_text() == "trained"
    assert "--network" in handle.prepared.argv and "none" in handle.prepared.argv


def test_container_stop(container_base: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {container_base}\n"
        'CMD ["python3", "-c", "import time; print(\'up\', flush=True); time.sleep(60)"]\n'
    )
    image = images.build(ctx, "sleeper:1", runtime="container")
    spec = RunSpec(image=image, log_path=tmp_path / "s.log")
    runtime = get_runtime("container")
    handle = runtime.start(spec)
    deadline = time.monotonic() + 30
    while "up" not in (spec.log_path.read_text() if spec.log_path.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    again = runtime.reattach(handle.identifier)
    assert again.poll() is None
    handle.stop(grace_seconds=1)
    assert handle.poll() == 137
