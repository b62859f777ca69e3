"""Waking on a process's exit without being its parent.

Why: the engine waits on a job whose supervisor is not its child (it was forked by the fork
server, or survives from an engine that died), and the supervisor waits on a run the runtime
started.  Polling finds an exit up to one poll interval late; a pidfd (Linux 5.3+) becomes
readable the moment the process exits, so ``select`` on it with the poll interval as the
timeout keeps the polling as a fallback and removes the lag.
"""

from __future__ import annotations

import os


def exit_notifier(pid: int | None) -> int | None:
    """A pidfd that becomes readable when ``pid`` exits, or None (no pid, gone, no pidfd).

    The caller closes it (``os.close``); once readable it stays readable.
    """
    if pid is None or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None
