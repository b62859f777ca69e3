"""Detached processes: start one that outlives us, record it, tell later whether it still runs.

Why one module: job supervisors, the tuning driver, the endpoints server, the engine's
ownership of an execution and the job runs themselves are all processes that another process
(often a later one) must judge alive or dead.  A pid alone cannot say: the kernel reuses pids,
so a dead supervisor's pid may belong to an unrelated process a minute later.  A
:class:`Lease` is the pid plus the kernel's start time of that process (field 22 of
``/proc/PID/stat``, in clock ticks since boot); a pid whose start time still matches is the
same process.  A zombie counts as gone: it has exited, only its exit status is left.

What lives here, and nowhere else:

- :func:`spawn`: a new session (a Ctrl-C or a signal to the caller's group does not reach
  it), stdin from ``/dev/null``, output appended to a log, no inherited descriptors; the
  child is reaped by a thread as soon as it ends, so it never lingers as a zombie;
- :class:`Lease`: the record (``{"pid", "start"}``), liveness, signalling, waiting (a pidfd
  wakes the waiter the moment the process exits), terminating with a grace period;
- :func:`write_record` / :func:`read_record`: a pidfile whose reader sees only a live process;
- :func:`signal_group` / :func:`group_members`: a detached process is its own process group,
  and a job's group is signalled as a whole (like a container), the sandbox monitor excepted.

This is the bottom layer: it imports nothing of stepline's.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name (which may hold spaces and parentheses)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()


def _procfs() -> bool:
    return os.path.exists("/proc/self/stat")


def start_time(pid: int) -> str | None:
    """The kernel start time of ``pid``, or None when no such process runs (a zombie included).

    Without ``/proc`` (not Linux) there is no start time to read; a process that exists then
    reads as ``"?"``, which tells nothing about pid reuse but keeps liveness answerable.
    """
    if pid <= 0:
        return None
    fields = _stat_fields(pid)
    if fields is None:
        if _procfs():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    if fields[0] == "Z":
        return None
    return fields[19]


def exit_notifier(pid: int | None) -> int | None:
    """A pidfd that becomes readable when ``pid`` exits, or None (no pid, gone, no pidfd).

    Why: a waiter that is not the parent (the engine waiting on a supervisor the fork server
    forked, a supervisor reattached to a run) would otherwise find an exit up to one poll
    interval late; waiting on the pidfd (:func:`wait_readable`), with the poll interval as
    its timeout, removes the lag and keeps polling as the fallback.  The caller closes it
    (``os.close``); once readable it stays readable.
    """
    if pid is None or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def wait_readable(fd: int, timeout: float | None) -> bool:
    """Whether ``fd`` became readable within ``timeout`` seconds (None: no limit).

    Why not ``select.select``: it refuses descriptors numbered 1024 and above, which a
    long-lived process (``stepline server`` with many clients, a notebook that opened many
    homes) reaches; ``poll`` has no such limit.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    millis = None if timeout is None else max(0, int(timeout * 1000))
    return bool(poller.poll(millis))


@dataclass(frozen=True)
class Lease:
    """One process, pid-reuse safe: its pid and its kernel start time."""

    pid: int
    start: str | None

    @classmethod
    def of(cls, pid: int) -> Lease:
        """The lease of the process now running as ``pid`` (dead at once if none runs)."""
        return cls(pid, start_time(pid))

    @classmethod
    def current(cls) -> Lease:
        """This process's lease."""
        return cls.of(os.getpid())

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> Lease | None:
        """The lease a :meth:`record` describes; None for no record or a malformed one."""
        if not record:
            return None
        try:
            pid = int(record["pid"])
        except (KeyError, TypeError, ValueError):
            return None
        start = record.get("start")
        return cls(pid, str(start) if start else None)

    def record(self) -> dict[str, Any]:
        """``{"pid", "start"}``: what a database row or pidfile keeps."""
        return {"pid": self.pid, "start": self.start}

    def alive(self) -> bool:
        """Whether this process still runs (False once it exited, or its pid was reused)."""
        return self.start is not None and start_time(self.pid) == self.start

    def signal(self, sig: int) -> bool:
        """Send ``sig`` if the process still runs; whether it did."""
        fd = exit_notifier(self.pid)
        try:
            # With a pidfd the check and the signal reach the same process even if it exits
            # and its pid is reused in between; without one the window is the gap between two
            # system calls.
            if not self.alive():
                return False
            try:
                if fd is not None:
                    signal.pidfd_send_signal(fd, sig)
                else:
                    os.kill(self.pid, sig)
            except ProcessLookupError:
                return False
            return True
        finally:
            if fd is not None:
                os.close(fd)

    def wait(self, timeout: float | None = None, *, poll: float = 0.05) -> bool:
        """Block until the process is gone or ``timeout`` passes; whether it is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = exit_notifier(self.pid) if self.alive() else None
        try:
            while self.alive():
                left = poll if deadline is None else min(poll, deadline - time.monotonic())
                if left <= 0:
                    return False
                if fd is not None:
                    wait_readable(fd, left)
                else:
                    time.sleep(left)
            return True
        finally:
            if fd is not None:
                os.close(fd)

    def terminate(self, grace: float, *, kill: bool = True) -> bool:
        """SIGTERM, then SIGKILL after ``grace`` seconds (unless ``kill`` is False).

        Returns whether the process is gone.  False at once when it was not running.
        """
        if not self.signal(signal.SIGTERM):
            return not self.alive()
        if self.wait(grace):
            return True
        if not kill:
            return False
        self.signal(signal.SIGKILL)
        return self.wait(5.0)


def _reap(proc: subprocess.Popen) -> None:
    proc.wait()


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
) -> Lease:
    """Start ``argv`` detached (own session, stdin ``/dev/null``, output appended to ``log``).

    The child survives this process.  While this process lives, a thread reaps the child the
    moment it ends, so it is not left a zombie that a pid check would mistake for alive.
    """
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    lease = Lease.of(proc.pid)
    threading.Thread(target=_reap, args=(proc,), name=f"reap-{proc.pid}", daemon=True).start()
    return lease


def write_record(path: Path, lease: Lease, **extra: Any) -> None:
    """Write a pidfile: ``lease``'s record plus ``extra`` fields, replaced atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**extra, **lease.record()}))
    os.replace(tmp, path)


def read_record(path: Path) -> dict[str, Any] | None:
    """The pidfile at ``path`` if the process it names still runs; None otherwise."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    lease = Lease.from_record(data) if isinstance(data, dict) else None
    if lease is None or not lease.alive():
        return None
    return data


def group_members(pgid: int) -> list[int]:
    """Live pids in process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry))
    return out


def signal_group(pgid: int, sig: int, *, skip: int | None = None) -> None:
    """Send ``sig`` to every process of a group, except ``skip`` (the sandbox monitor)."""
    if skip is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        return
    for pid in group_members(pgid):
        if pid != skip:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


__all__ = [
    "Lease",
    "exit_notifier",
    "group_members",
    "read_record",
    "signal_group",
    "spawn",
    "start_time",
    "wait_readable",
    "write_record",
]
