"""``stepline server`` leaves once stopped, even when something in the process hangs its exit.

A server that had stopped everything and removed its record was once found alive half an
hour later (a library's non-daemon thread or exit hook), still holding ``server.lock``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def test_a_stopped_server_exits_even_if_a_thread_would_hang_the_exit(home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING],
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
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert server.server_info() is None  # its record went before it left
        assert "leaving now" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
