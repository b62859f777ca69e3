"""One Ray driver per engine: the long-lived process that supervises every job on the cluster.

Why: joining a cluster as a Ray driver (``ray.init``) costs seconds of CPU.  When each job's
supervisor was its own driver, a burst of short jobs spent more of the engine machine on
``ray.init`` than the cluster spent on the jobs (24 one-second jobs scaled 1.48x on two nodes,
not 2x).  Now a job's supervisor process -- still one per job, forked cheaply, and still the
pid the engine watches (``supervisor_alive``, ``jobs.wait``'s pidfd) -- hands the job to the
home's driver and waits until the driver says the job has ended.  The driver joins the
cluster once and runs each job's :class:`~stepline.jobs.runtimes.ray.RaySupervisor` in a
thread of its own; stop, MaxRuntime, log streaming and reattachment are that class's, as
before.

One driver serves one set of settings: the socket's name is derived from ``STEPLINE_HOME``,
the Ray address and the ``STEPLINE_*``/``AWS_*``/``RAY_*`` environment, so a job whose
settings differ gets a driver of its own.  The socket is in Linux's abstract namespace (no
file to leave behind or to outgrow ``sun_path``), and the driver talks only to processes of
its own user (``SO_PEERCRED``).

Protocol, one JSON line each way: ``{"kind", "name", "me"}`` -> ``{"accepted": true}``, and
``{"done": true}`` when the job's supervision ends.  A second hand-over of a job the driver
already runs (its supervisor process died and the engine started another) attaches the new
process: the record names it from then on, and it too is told when the job ends.

Lifetimes: the driver is started by the first supervisor that finds none (detached, in its
own session, logging to ``$STEPLINE_HOME/ray-driver.log``) and exits after
``STEPLINE_RAY_DRIVER_IDLE`` seconds (default 60) without a job.  If it dies, every
supervisor waiting on it sees end-of-file and hands its job to a new driver, which reattaches
to the job's running actors.  If no driver can be reached at all, the supervisor runs the job
itself, as a driver of its own.  The driver keeps finished one-instance jobs' actors warm for
the next jobs (:class:`~stepline.jobs.runtimes.ray.ActorPool`) and kills them when it leaves;
an actor whose driver died unannounced ends itself once unused for a few seconds more.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import traceback
from typing import Any

from stepline import config, detached

#: Seconds without a job before the driver exits.
IDLE_ENV = "STEPLINE_RAY_DRIVER_IDLE"
DEFAULT_IDLE = 60.0
#: How long a supervisor waits for a driver it started to accept connections.
START_TIMEOUT = 60.0
#: Hand-overs a supervisor tries (a driver that exits idle, or dies) before it runs the job
#: itself.
ATTEMPTS = 4
#: The environment that tells one driver's settings from another's.
_KEY_PREFIXES = ("STEPLINE_", "AWS_", "RAY_")


class DriverUnavailable(RuntimeError):
    """No driver took the job; the caller runs it in-process."""


def socket_name() -> bytes:
    """The abstract socket name of the driver for this process's settings."""
    from stepline.jobs.runtimes.ray import address

    parts = [str(config.home().resolve()), address(), str(os.getuid())]
    parts += sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith(_KEY_PREFIXES))
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
    return b"\0stepline-ray-driver-" + digest.encode()


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[2]


# -- the supervisor's side ------------------------------------------------------------------


def _start_driver() -> None:
    """Start the home's driver, detached: it outlives this supervisor, like the job does."""
    log_path = config.home() / "ray-driver.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    detached.spawn([sys.executable, "-m", "stepline.jobs.runtimes.ray_driver"], log=log_path)


def _connect(name: bytes, start: bool) -> socket.socket:
    """A connection to the driver, starting one when there is none and ``start``."""
    deadline = time.monotonic() + START_TIMEOUT
    started = False
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(name)
            return sock
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
        if not start:
            raise DriverUnavailable("no Ray driver is running")
        if not started:
            _start_driver()
            started = True
        if time.monotonic() >= deadline:
            raise DriverUnavailable(f"the Ray driver did not start in {START_TIMEOUT:.0f}s")
        time.sleep(0.05)


def _read_line(sock: socket.socket, buffer: bytearray) -> dict[str, Any] | None:
    """The next JSON line, or ``None`` at end-of-file."""
    while b"\n" not in buffer:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            return None
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return json.loads(line)


def hand_over(kind: str, name: str, me: dict[str, Any]) -> None:
    """Have the home's driver supervise job ``(kind, name)``; return when the job's
    supervision has ended.  :class:`DriverUnavailable` when no driver would take it."""
    target = socket_name()
    for _ in range(ATTEMPTS):
        try:
            sock = _connect(target, start=True)
        except DriverUnavailable:
            raise
        except OSError as exc:
            raise DriverUnavailable(f"cannot reach the Ray driver: {exc}") from None
        with sock:
            buffer = bytearray()
            try:
                sock.sendall(json.dumps({"kind": kind, "name": name, "me": me}).encode() + b"\n")
            except OSError:
                continue  # the driver was closing (idle): another one takes it
            sock.settimeout(START_TIMEOUT)
            reply = _read_line(sock, buffer)
            if reply is None:
                continue  # the driver was exiting (idle) or died: another one takes it
            if not reply.get("accepted"):
                raise DriverUnavailable(str(reply.get("error") or reply))
            sock.settimeout(None)
            reply = _read_line(sock, buffer)
            if reply is not None and reply.get("done"):
                return
            # The driver died mid-job: the next one reattaches to the running instances.
    raise DriverUnavailable(f"no Ray driver kept job {kind}/{name} after {ATTEMPTS} tries")


# -- the driver -----------------------------------------------------------------------------


class _Job:
    """A job the driver supervises: its supervisor and the processes waiting on it."""

    def __init__(self, supervisor: Any) -> None:
        self.supervisor = supervisor
        self.watchers: list[socket.socket] = []


class Driver:
    """The driver process: accepts hand-overs and runs each job's supervision in a thread."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.jobs: dict[tuple[str, str], _Job] = {}
        self.lock = threading.Lock()
        self.last_active = time.monotonic()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def serve(self) -> None:
        """Listen until idle; exits quietly when another driver already has the name."""
        try:
            self.listener.bind(socket_name())
        except OSError:
            return  # another supervisor started one at the same moment: it serves
        self.listener.listen(128)
        self.listener.settimeout(0.5)
        while True:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                with self.lock:
                    if not self.jobs and time.monotonic() - self.last_active > self.idle:
                        self.listener.close()  # from now on a supervisor starts a new one
                        return
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if _peer_uid(conn) != os.getuid():
                conn.close()
                return
            conn.settimeout(10)
            request = _read_line(conn, bytearray())
            if request is None:
                conn.close()
                return
            kind, name, me = str(request["kind"]), str(request["name"]), dict(request["me"])
        except (OSError, ValueError, KeyError, TypeError):
            conn.close()
            return
        try:
            self._take(kind, name, me, conn)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - e.g. no such job: the
            # supervisor then runs the job itself, and says why
            traceback.print_exc()
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
            conn.close()

    def _take(self, kind: str, name: str, me: dict[str, Any], conn: socket.socket) -> None:
        from stepline.jobs import records
        from stepline.jobs.runtimes.ray import RaySupervisor

        key = (kind, name)
        with self.lock:
            self.last_active = time.monotonic()
            job = self.jobs.get(key)
            if job is not None:
                # A new supervisor process for a job this driver runs: it is the one the
                # engine watches from now on.
                job.supervisor.me = me
                records.update(kind, name, supervisor=me)
            else:
                supervisor = RaySupervisor(kind, name)  # cheap: one store client for all
                supervisor.me = me
                job = self.jobs[key] = _Job(supervisor)
                threading.Thread(
                    target=self._run, args=(key, job), daemon=True, name=f"{kind}/{name}"
                ).start()
            job.watchers.append(conn)
            conn.sendall(b'{"accepted": true}\n')

    def _run(self, key: tuple[str, str], job: _Job) -> None:
        try:
            job.supervisor.run()
        finally:
            with self.lock:
                del self.jobs[key]
                self.last_active = time.monotonic()
                watchers, job.watchers = job.watchers, []
            for conn in watchers:
                with contextlib.suppress(OSError):
                    conn.sendall(b'{"done": true}\n')
                conn.close()


def main() -> None:
    """``python -m stepline.jobs.runtimes.ray_driver``: serve until idle, then exit."""
    from stepline.jobs.runtimes import ray as ray_runtime

    idle = float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE)
    ray_runtime.enable_pool()  # finished instances' actors stay warm for the next ones
    try:
        Driver(idle).serve()
    finally:
        ray_runtime.drain_pool()
    sys.stdout.flush()
    # Not ray.shutdown(): the cluster may be gone, and every job has ended.
    os._exit(0)


if __name__ == "__main__":
    main()
