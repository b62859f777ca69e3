"""Host processes by command line: what a test checks to say that nothing outlived a job."""

from __future__ import annotations

import os
import signal


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line (arguments joined by spaces) contains ``marker``.

    Zombies are left out: they have exited and only wait for their parent to reap them."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry))
    return found


def kill_all(pids: list[int]) -> None:
    """SIGKILL each of ``pids`` that still exists (cleanup after a test that failed)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
