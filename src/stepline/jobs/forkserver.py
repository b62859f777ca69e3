"""A warm fork server for job supervisors.

Why: starting ``python -m stepline.jobs.supervisor`` costs a Python start plus ~60 ms of
imports (and a ``bwrap`` probe) on every job, before the user's code can begin.  The fork
server is a long-lived helper, started lazily by the first :func:`spawn` in a process, that
has imported the supervisor's modules once; each job is then one ``fork()`` away.

The forked supervisor is the same detached process the ``subprocess`` path makes: it calls
``os.setsid()``, reads nothing, writes to the job's ``supervisor.log``, and takes the
environment and working directory of the process that created the job (sent with each
request, so a test that changes ``STEPLINE_HOME`` gets its own home).  It therefore outlives
the engine, as a job must.  The server itself leaves with its parent: it exits when its
control pipe reaches end-of-file.  The server ignores ``SIGCHLD`` so finished supervisors do
not linger as zombies (a zombie would still look alive to ``supervisor_alive``).

Protocol (one JSON line each way): ``{"kind", "name", "log", "env", "cwd"}`` ->
``{"pid": N}`` or ``{"error": "..."}``.  :func:`spawn` raises :class:`ForkServerError` when
the server cannot be used, and the caller falls back to ``subprocess``.  ``STEPLINE_JOB_FORK
SERVER=off`` turns the fork server off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO

from stepline.detached import wait_readable

#: Set to ``off`` to start every supervisor with ``subprocess`` instead.
ENV = "STEPLINE_JOB_FORKSERVER"
#: How long a request may wait for the server (its first reply includes its imports).
REPLY_TIMEOUT = 30.0


class ForkServerError(RuntimeError):
    """The fork server could not start a supervisor; start one another way."""


def enabled() -> bool:
    """Whether :func:`spawn` may be used (``STEPLINE_JOB_FORKSERVER`` is not off)."""
    return os.environ.get(ENV, "").strip().lower() not in ("off", "0", "false", "no")


# -- client ---------------------------------------------------------------------------------


class _Client:
    """The parent's end of one fork server."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stepline.jobs.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C meant for the engine does not reach it
            close_fds=True,
        )
        self.buffer = b""

    def request(self, message: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            if not wait_readable(fd, REPLY_TIMEOUT):
                raise ForkServerError("the fork server did not answer")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ForkServerError("the fork server exited")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_lock = threading.Lock()
_client: _Client | None = None


def spawn(kind: str, name: str, log: Path) -> int:
    """Fork a supervisor for job ``(kind, name)`` with output to ``log``; its pid.

    Raises :class:`ForkServerError` if the server cannot be started or does not answer
    (the server is then discarded; the next call starts a new one).
    """
    global _client
    message = {
        "kind": kind,
        "name": name,
        "log": str(log),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
    }
    with _lock:
        if _client is not None and server_pid() is None:
            _client = None  # inherited through fork(), or dead: not ours to use
        try:
            if _client is None:
                _client = _Client()
            reply = _client.request(message)
        except (OSError, ValueError, ForkServerError) as exc:
            _discard()
            raise ForkServerError(f"fork server unusable: {exc}") from exc
    if "pid" not in reply:
        raise ForkServerError(reply.get("error", "no pid in the fork server's reply"))
    return int(reply["pid"])


def _discard() -> None:
    global _client
    client, _client = _client, None
    if client is not None:
        try:
            client.close()
        except OSError:
            pass


def shutdown() -> None:
    """Stop this process's fork server (running supervisors are not affected)."""
    with _lock:
        _discard()


def server_pid() -> int | None:
    """The pid of this process's fork server, if one runs."""
    client = _client
    if client is None or client.owner != os.getpid() or client.proc.poll() is not None:
        return None
    return client.proc.pid


# -- server ---------------------------------------------------------------------------------


def _preload() -> None:
    """Import what a supervisor needs and warm the per-process caches it consults."""
    import gzip  # noqa: F401 - model.tar.gz
    import sqlite3  # noqa: F401

    import stepline.jobs.supervisor  # noqa: F401
    import stepline.storage.local  # noqa: F401
    from stepline.jobs.runtimes import machine, sandbox_command

    sandbox_command()  # probes bwrap once (cached per process) instead of once per job
    machine()  # CPUs, memory and GPUs (cached per process)


def _child(request: dict, log_fd: int, ready_fd: int) -> None:
    """In the forked process: detach, redirect, take the caller's environment, supervise."""
    code = 1
    try:
        os.setsid()
        # Tell the server we are detached, so the pid it hands back is already our own
        # session's leader (a signal to the caller's group can no longer reach us).
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        # Undo the server's dispositions: an ignored signal stays ignored across exec, so
        # the job itself would inherit them.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the supervisor waits on its children
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(null)
        os.close(log_fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["stepline.jobs.supervisor", request["kind"], request["name"]]
        from stepline.jobs.supervisor import main

        main([request["kind"], request["name"]])
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - report, then leave with a failure status
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _fork(request: dict) -> int:
    log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        _child(request, log_fd, ready_w)
    os.close(ready_w)
    os.close(log_fd)
    try:
        wait_readable(ready_r, 5.0)
    finally:
        os.close(ready_r)
    return pid


def serve(control: IO[bytes], replies: IO[bytes]) -> None:
    """Answer requests from ``control`` until it reaches end-of-file (the parent is gone)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished supervisors are reaped at once
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        line = control.readline()
        if not line:
            return
        try:
            reply: dict = {"pid": _fork(json.loads(line))}
        except Exception as exc:  # noqa: BLE001 - the caller falls back and says why
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()


def main() -> None:
    """``python -m stepline.jobs.forkserver``: preload, then serve stdin/stdout."""
    _preload()
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
