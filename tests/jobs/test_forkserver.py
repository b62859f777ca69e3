"""The fork server: supervisors forked from a warm helper, detached, with the caller's
environment; the helper leaves with its parent; the subprocess path when it cannot be used."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stepline import detached, jobs
from stepline.jobs import forkserver


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if detached.start_time(pid) is None:
            return True
        time.sleep(0.02)
    return False


def test_supervisor_is_forked_detached_with_callers_environment(
    store, make_image, training_request, monkeypatch
):
    code = """
    import os, signal
    print("REGION", os.environ["AWS_REGION"], flush=True)
    print("SIGINT", signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)
    """
    image = make_image("fs", {"t.py": code}, ["python", "/opt/program/t.py"])
    jobs.create_job("training", training_request("fs-0", image))
    server = forkserver.server_pid()
    assert server is not None and server != os.getpid()
    jobs.wait("training", "fs-0", timeout=30)
    # The supervisor reads AWS_REGION from its environment: the server, started before the
    # change, must hand the job the environment of the create call, not its own.
    monkeypatch.setenv("AWS_REGION", "eu-fork-1")
    jobs.create_job("training", training_request("fs-1", image))
    record = jobs.get_record("training", "fs-1")
    pid = int(record.supervisor["pid"])
    assert forkserver.server_pid() == server
    assert _ppid(pid) == server  # forked by the server, not started by this process
    assert os.getsid(pid) == pid  # its own session: a signal to ours does not reach it
    done = jobs.wait("training", "fs-1", timeout=30)
    assert done.status == "Completed", done.state.get("failure_reason")
    log = done.log_path.read_text()
    assert "REGION eu-fork-1" in log
    assert "SIGINT True" in log  # the server's ignored signals are not the job's
    assert done.folder.is_relative_to(os.environ["STEPLINE_HOME"])
    assert _gone(pid, 5)  # reaped by the server, not a zombie


def test_fallback_to_subprocess_when_off(store, make_image, training_request, monkeypatch):
    image = make_image("fb", {"t.py": "print('ran')"}, ["python", "/opt/program/t.py"])
    monkeypatch.setenv(forkserver.ENV, "off")
    jobs.create_job("training", training_request("fb-1", image))
    pid = int(jobs.get_record("training", "fb-1").supervisor["pid"])
    assert _ppid(pid) == os.getpid()
    assert jobs.wait("training", "fb-1", timeout=30).status == "Completed"


def test_a_dead_server_is_replaced(store, make_image, training_request):
    image = make_image("rs", {"t.py": "print('ran')"}, ["python", "/opt/program/t.py"])
    jobs.create_job("training", training_request("rs-1", image))
    first = forkserver.server_pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert _gone(first, 5)
    jobs.create_job("training", training_request("rs-2", image))
    second = forkserver.server_pid()
    assert second is not None and second != first
    assert _ppid(int(jobs.get_record("training", "rs-2").supervisor["pid"])) == second
    for name in ("rs-1", "rs-2"):
        assert jobs.wait("training", name, timeout=30).status == "Completed"


def test_fallback_when_the_server_fails(store, make_image, training_request, monkeypatch):
    image = make_image("fb2", {"t.py": "print('ran')"}, ["python", "/opt/program/t.py"])

    def broken_pipe(self, message):
        raise BrokenPipeError("the fork server's pipe is closed")

    monkeypatch.setattr(forkserver._Client, "request", broken_pipe)
    jobs.create_job("training", training_request("fb2-1", image))
    assert forkserver.server_pid() is None  # discarded; the next job starts a new one
    pid = int(jobs.get_record("training", "fb2-1").supervisor["pid"])
    assert _ppid(pid) == os.getpid()
    assert jobs.wait("training", "fb2-1", timeout=30).status == "Completed"


PARENT = """
import json, sys, time
from stepline import detached, jobs
from stepline.jobs import forkserver
jobs.create_job("training", json.loads(sys.argv[1]))
print(json.dumps({"server": forkserver.server_pid()}), flush=True)
time.sleep(60)
"""


def test_server_exits_with_its_parent_and_the_job_lives_on(store, make_image, training_request):
    image = make_image(
        "orphan",
        {"t.py": "import time; print('up', flush=True); time.sleep(1); print('end')"},
        ["python", "/opt/program/t.py"],
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, json.dumps(training_request("orphan-1", image))],
        stdout=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert parent.stdout is not None
    server = json.loads(parent.stdout.readline())["server"]
    assert server is not None and detached.start_time(server) is not None
    parent.kill()
    parent.wait()
    assert _gone(server, 5)  # its control pipe closed
    record = jobs.wait("training", "orphan-1", timeout=30)
    assert record.status == "Completed"
    assert record.log_path.read_text().count("end") == 1
