"""``stepline server`` leaves once stopped, even when something in the process hangs its exit.

A server that had stopped everything and removed its record was once found alive half an
hour later (a library's non-daemon thread or exit hook), still holding ``server.lock``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from stepline.serving import server

# A server process with a non-daemon thread that never ends: without the exit grace, the
# interpreter waits for it forever after the server has stopped.
HANGING = """
import threading
from stepline.serving import server
threading.Thread(target=threading.Event().wait, name="hangs-forever").start()
server.EXIT_GRACE = 1.0
server.serve_forever(0)
"""


@contextlib.contextmanager
def _server_process(home: Path, *args: str) -> Iterator[subprocess.Popen]:
    """A server process for ``home`` (``python ARGS``), once its record is there; killed
    at the end if it is still running."""
    proc = subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, "STEPLINE_HOME": str(home)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while server.server_info() is None:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_stopped_server_exits_even_if_a_thread_would_hang_the_exit(home: Path) -> None:
    with _server_process(home, "-c", HANGING) as proc:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert server.server_info() is None  # its record went before it left
        assert "leaving now" in proc.stderr.read()


def _tgkill(pid: int, tid: int, sig: int) -> None:
    """Send ``sig`` to one thread of another process (Python has no call for that)."""
    import ctypes
    import platform

    number = {"x86_64": 234, "aarch64": 131}[platform.machine()]  # SYS_tgkill
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, pid, tid, sig) != 0:
        raise OSError(ctypes.get_errno(), "tgkill")


def test_a_sigterm_that_lands_on_another_thread_still_stops_the_server(home: Path) -> None:
    """The kernel may hand a process's SIGTERM to any of its threads; one that went to the
    router's thread used to leave the main thread asleep in ``Event.wait()`` forever."""
    with _server_process(home, "-m", "stepline.serving.server", "--port", "0") as proc:
        others = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        assert others, "the server runs threads besides its main one"
        _tgkill(proc.pid, others[0], signal.SIGTERM)
        proc.wait(timeout=30)
        assert "stopping" in proc.stderr.read()
        assert server.server_info() is None
