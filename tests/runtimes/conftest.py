"""Fixtures for runtime tests: a private STEPLINE_HOME and a process-built image."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepline import images

JOB = r"""
import json, os, signal, socket, sys, time
mode = sys.argv[1] if len(sys.argv) > 1 else "report"
if mode == "report":
    data = "/opt/program/data.txt"
    cfg = os.environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")
    model = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
    info = {
        "argv": sys.argv, "cwd": os.getcwd(), "executable": sys.executable,
        "env": dict(os.environ),
        "program": open(data).read() if os.path.exists(data) else None,
        "ml": sorted(os.listdir("/opt/ml")) if os.path.isdir("/opt/ml") else None,
        "config": open(os.path.join(cfg, "hp.json")).read(),
    }
    with open(os.path.join(model, "info.json"), "w") as fh:
        json.dump(info, fh)
    print("report done", flush=True)
    sys.exit(int(os.environ.get("EXIT_CODE", "0")))
if mode == "connect":
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2).close()
        print("connected")
    except OSError as exc:
        print("no network:", exc)
        sys.exit(7)
if mode == "stubborn":
    def on_term(*_):
        print("got SIGTERM, ignoring", flush=True)
    signal.signal(signal.SIGTERM, on_term)
    print("started", flush=True)
    while True:
        time.sleep(0.05)
if mode == "graceful":
    def on_term(*_):
        print("got SIGTERM, saving", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    print("started", flush=True)
    while True:
        time.sleep(0.05)
if mode == "slow":
    print("first line")
    time.sleep(float(sys.argv[2]))
    print("last line")
"""


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("STEPLINE_HOME", str(path))
    monkeypatch.delenv("STEPLINE_SANDBOX", raising=False)
    return path


@pytest.fixture
def job_image(tmp_path: Path) -> images.Image:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "job.py").write_text(JOB)
    (ctx / "data.txt").write_text("image data")
    (ctx / "Dockerfile").write_text(
        "FROM python:3.11\n"
        "ENV IMAGE_VAR=from-image PATH=/opt/program:$PATH\n"
        "COPY job.py data.txt /opt/program/\n"
        "WORKDIR /opt/program\n"
        'ENTRYPOINT ["python", "/opt/program/job.py"]\n'
        'CMD ["report"]\n'
    )
    return images.build(ctx, "job:1")


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "job" / "ml"
    (folder / "input/config").mkdir(parents=True)
    (folder / "input/config/hp.json").write_text('{"lr": "0.1"}')
    (folder / "model").mkdir()
    return folder
