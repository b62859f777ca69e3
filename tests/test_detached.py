"""stepline.detached on real processes: spawn, leases that survive pid reuse, pidfiles, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stepline import detached
from stepline.detached import Lease


def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _spawn_ready(tmp_path: Path, script: str) -> tuple[Lease, Path]:
    """Spawn ``sh -c script`` (which prints ``ready`` once set up) and wait for ``ready``."""
    log = tmp_path / "out.log"
    lease = detached.spawn(["sh", "-c", script], log=log)
    _until(lambda: "ready" in log.read_text())
    return lease, log


def test_start_time_tells_this_process_from_none() -> None:
    me = detached.start_time(os.getpid())
    assert me is not None and me.isdigit()
    assert detached.start_time(os.getpid()) == me
    assert detached.start_time(0) is None
    assert detached.start_time(2**22 + 12345) is None  # above pid_max: never a process


def test_a_zombie_is_not_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    lease = Lease.of(proc.pid)
    # Not reaped yet: the kernel keeps the entry (state Z) until waitpid.
    _until(lambda: Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
    assert detached.start_time(proc.pid) is None
    assert not lease.alive()
    proc.wait()


def test_a_reused_pid_is_not_the_leased_process() -> None:
    real = Lease.current()
    assert real.alive()
    assert not Lease(real.pid, str(int(real.start) + 1)).alive()  # same pid, another process
    assert not Lease(real.pid, None).alive()  # no start recorded: cannot be vouched for


def test_record_round_trip_and_malformed_records() -> None:
    lease = Lease.current()
    assert Lease.from_record(json.loads(json.dumps(lease.record()))) == lease
    assert Lease.from_record(None) is None
    assert Lease.from_record({}) is None
    assert Lease.from_record({"pid": "x", "start": "1"}) is None
    assert Lease.from_record({"start": "1"}) is None
    assert Lease.from_record({"pid": 5, "start": ""}) == Lease(5, None)


def test_spawn_detaches_logs_and_reaps(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_text("earlier\n")
    lease = detached.spawn(
        ["sh", "-c", 'echo "sid $(ps -o sid= -p $$) pid $$"; read x; echo "read rc $?"; echo $V'],
        log=log,
        env={"PATH": os.environ["PATH"], "V": "from-env"},
        cwd=tmp_path,
    )
    assert lease.start is not None
    assert lease.wait(10)
    _until(lambda: not Path(f"/proc/{lease.pid}").exists())  # reaped, not a zombie
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier"  # appended, not truncated
    sid, pid = lines[1].split()[1], lines[1].split()[3]
    assert sid == pid == str(lease.pid)  # its own session leader
    assert lines[2] == "read rc 1"  # stdin is /dev/null: end of file at once
    assert lines[3] == "from-env"


def test_terminate_ends_a_process_that_obeys_sigterm(tmp_path: Path) -> None:
    lease, log = _spawn_ready(
        tmp_path, 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.02; done'
    )
    started = time.monotonic()
    assert lease.terminate(grace=30)
    assert time.monotonic() - started < 10  # did not sit out the grace
    assert not lease.alive()
    _until(lambda: "got-term" in log.read_text())


def test_terminate_kills_after_the_grace(tmp_path: Path) -> None:
    lease, _ = _spawn_ready(tmp_path, 'trap "" TERM; echo ready; exec sleep 60')
    assert not lease.terminate(grace=0.3, kill=False)  # SIGTERM ignored, no SIGKILL asked
    assert lease.alive()
    started = time.monotonic()
    assert lease.terminate(grace=0.3)
    assert 0.3 <= time.monotonic() - started < 10
    assert not lease.alive()


def test_signal_and_terminate_leave_a_dead_lease_alone(tmp_path: Path) -> None:
    lease = detached.spawn(["true"], log=tmp_path / "log")
    assert lease.wait(10)
    assert not lease.signal(signal.SIGTERM)
    assert lease.terminate(grace=0)


def test_wait_times_out_on_a_running_process(tmp_path: Path) -> None:
    lease, _ = _spawn_ready(tmp_path, "echo ready; exec sleep 60")
    try:
        assert not lease.wait(0.1)
        assert lease.alive()
    finally:
        assert lease.terminate(grace=5)


def test_exit_notifier_becomes_readable_on_exit(tmp_path: Path) -> None:
    lease, _ = _spawn_ready(tmp_path, "echo ready; exec sleep 60")
    fd = detached.exit_notifier(lease.pid)
    assert fd is not None
    try:
        assert not detached.wait_readable(fd, 0)
        os.kill(lease.pid, signal.SIGKILL)
        assert detached.wait_readable(fd, 10)
    finally:
        os.close(fd)
    assert detached.exit_notifier(None) is None
    assert detached.exit_notifier(2**22 + 12345) is None


def test_pidfile_shows_only_a_live_process(tmp_path: Path) -> None:
    path = tmp_path / "server.json"
    assert detached.read_record(path) is None  # missing
    detached.write_record(path, Lease.current(), port=8080)
    assert detached.read_record(path) == {"port": 8080, **Lease.current().record()}
    assert [p.name for p in tmp_path.iterdir()] == ["server.json"]  # no temporary left

    lease = detached.spawn(["true"], log=tmp_path / "log")
    assert lease.wait(10)
    detached.write_record(path, lease, port=8081)
    assert detached.read_record(path) is None  # its process is gone
    path.write_text("{not json")
    assert detached.read_record(path) is None
    path.write_text("[1, 2]")
    assert detached.read_record(path) is None


def test_signal_group_spares_the_skipped_member(tmp_path: Path) -> None:
    # A group leader (standing in for the sandbox monitor) that ignores SIGTERM and outlives
    # its one child (the job).
    lease, log = _spawn_ready(
        tmp_path, 'sleep 60 & trap "" TERM; echo "child $!"; echo ready; wait; exec sleep 60'
    )
    child = int(log.read_text().split("child ")[1].split()[0])
    _until(lambda: sorted(detached.group_members(lease.pid)) == sorted([lease.pid, child]))
    detached.signal_group(lease.pid, signal.SIGTERM, skip=lease.pid)
    _until(lambda: detached.start_time(child) is None)
    assert lease.alive()
    assert detached.group_members(lease.pid) == [lease.pid]
    detached.signal_group(lease.pid, signal.SIGKILL)
    assert lease.wait(10)
    assert detached.group_members(lease.pid) == []


def test_waits_work_on_descriptors_past_1024(tmp_path: Path) -> None:
    """A long-lived process (the server, a test session, a notebook) can hold more than 1024
    descriptors; ``select`` refuses those ("filedescriptor out of range"), so every wait on a
    pidfd or pipe uses ``detached.wait_readable`` and still works there."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    ballast = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        proc = subprocess.Popen(["sleep", "0.3"])
        lease = Lease.of(proc.pid)
        assert lease.wait(10)
        proc.wait()
        read_end, write_end = os.pipe()
        assert read_end >= 1024
        assert not detached.wait_readable(read_end, 0.01)
        os.write(write_end, b"x")
        assert detached.wait_readable(read_end, 1)
        os.close(read_end)
        os.close(write_end)
    finally:
        for fd in ballast:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
