"""A job does not outlive its supervisor, even one killed while bwrap sets the sandbox up.

``bwrap --die-with-parent`` arms ``PR_SET_PDEATHSIG`` in each of its processes some time
after that process starts: in the sandbox's own process only when, after all the mounts, it
forks the sandbox's init and the job.  A supervisor killed in between killed the outer
bwrap, and the sandbox went on to start the job with nobody watching it (issue 10's loose
end).  ``stepline.sandbox.with_lifeline`` closes that window.

The test makes the window deterministic with bwrap's own ``--block-fd``: the sandbox pauses
right there (mounts done, neither init nor job forked, no death signal armed) until the test
lets it go, and the parent is killed while it waits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import sandbox_support

from support.procs import kill_all, processes_with

home = sandbox_support.home

#: Starts the job as a supervisor does (ProcessRuntime.start), paused by ``--block-fd``.
PARENT = """
import functools, sys, time
from pathlib import Path
from stepline import images
from stepline.jobs.runtimes import ProcessRuntime, RunSpec, process
block = int(sys.argv[4])
spawn = process._spawn
def paused(start):
    argv = start.args[0]
    argv = [argv[0], "--block-fd", str(block), *argv[1:]]
    keywords = dict(start.keywords, pass_fds=(*start.keywords["pass_fds"], block))
    return spawn(functools.partial(start.func, argv, **keywords))
process._spawn = paused
image = images.resolve(sys.argv[1])
spec = RunSpec(image=image, log_path=Path(sys.argv[2]), entrypoint=["sleep"],
               command=[sys.argv[3]])
print(ProcessRuntime().start(spec).pid, flush=True)
time.sleep(600)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_job_started_after_its_supervisor_died_mid_setup_is_killed(
    make_image, home, tmp_path
) -> None:
    marker = "300.6161"
    make_image("setup-orphan", {"x.py": "print(1)\n"})
    block_read, block_write = os.pipe()
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, "setup-orphan:latest", str(tmp_path / "job.log"), marker]
        + [str(block_read)],
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=(block_read,),
    )
    os.close(block_read)
    try:
        bwrap = int(parent.stdout.readline())
        # The sandbox's process (the outer bwrap's child) exists: it is setting up or paused
        # on --block-fd, and cannot go further until the test writes.
        deadline = time.monotonic() + 30
        while not _children(bwrap) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _children(bwrap), "bwrap never forked the sandbox"
        parent.kill()  # SIGKILL: the supervisor is gone, no cleanup code runs
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(bwrap) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(bwrap), "the outer bwrap outlived its parent"
        os.close(block_write)  # the sandbox goes on: init and the job start, unwatched
        block_write = -1
        deadline = time.monotonic() + 15
        while processes_with(f"sleep {marker}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(f"sleep {marker}") == [], "the job runs with no supervisor"
    finally:
        if block_write != -1:
            os.close(block_write)
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
        kill_all(processes_with(f"sleep {marker}"))
