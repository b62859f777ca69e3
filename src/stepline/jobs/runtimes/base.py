"""The runtime interface: what a job layer hands a runtime and what it gets back."""

from __future__ import annotations

import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from stepline.images.registry import Image


@dataclass(frozen=True)
class Mount:
    """Bind ``host`` at ``target`` (a container path such as ``/opt/ml``).

    ``overlay``: the job may change the files but the host folder never changes (staged
    inputs are hard links to stored objects).  A runtime that cannot layer a writable copy
    over the folder says so in :meth:`Runtime.overlays`; the job layer then stages copies.
    """

    host: Path
    target: str
    read_only: bool = False
    overlay: bool = False


@dataclass(frozen=True)
class Resources:
    """What a job may use: CPUs, memory, and GPUs (``gpu_ids`` are the devices handed over)."""

    cpus: float
    memory_bytes: int
    gpus: int = 0
    gpu_ids: tuple[int, ...] = ()


@dataclass
class RunSpec:
    """One run of an image.  ``command``/``entrypoint`` of None mean the image's CMD/ENTRYPOINT."""

    image: Image
    log_path: Path
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    resources: Resources | None = None
    #: False is SageMaker's EnableNetworkIsolation: no network at all.
    network: bool = True
    #: Ports a server in the run listens on, reachable from the host at ``127.0.0.1:PORT``
    #: (the same number on both sides, so the run's environment can name it).  The
    #: container runtime publishes them (``-p 127.0.0.1:P:P``); the process runtime shares
    #: the host's network, where the server binds the port itself, or, with
    #: ``network=False``, relays the port over a Unix socket into the run's own network
    #: namespace.  Only loopback: a model server is for this machine's router, never for the
    #: LAN.  The container runtime refuses ``network=False`` with ports (podman cannot
    #: forward into ``--network none``) rather than leave them silently unreachable.
    ports: list[int] = field(default_factory=list)
    #: Host folder backing the job's ``/tmp`` (None: a tmpfs in the sandbox, host /tmp without).
    scratch: Path | None = None
    #: A name for the run (container name; also shown in process listings).
    name: str | None = None
    #: Host folder for the writable layers of ``overlay`` mounts (on the job's disk, so a
    #: job rewriting a large input does not fill memory); None keeps them in memory.
    overlay_dir: Path | None = None


@dataclass
class Prepared:
    """How a run will start: the final command line and the effective paths.

    ``paths`` maps container paths to the host paths that back them (mounts, the image's
    files).  Inside a sandbox or container the job sees the container paths; in the
    unsandboxed fallback (``sandboxed`` False) the job sees the host paths, and a job layer
    uses ``paths`` / :meth:`host_path` to point environment variables at them.
    """

    argv: list[str]
    env: dict[str, str]
    cwd: str
    paths: dict[str, Path]
    sandboxed: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Ports of a network-isolated server: host port -> the Unix socket the run forwards it
    #: to (the runtime relays ``127.0.0.1:PORT`` on the host to it).
    port_sockets: dict[int, Path] = field(default_factory=dict)

    def host_path(self, container_path: str) -> Path | None:
        """The host path behind a container path (longest matching prefix), or None."""
        return host_path(self.paths, container_path)


def host_path(paths: dict[str, Path], container_path: str) -> Path | None:
    """Resolve ``container_path`` through a container-to-host ``paths`` map."""
    best = None
    for prefix in paths:
        if container_path == prefix or container_path.startswith(prefix.rstrip("/") + "/"):
            if best is None or len(prefix) > len(best):
                best = prefix
    if best is None:
        return None
    rest = container_path[len(best) :].lstrip("/")
    return paths[best] / rest if rest else paths[best]


def exit_code(status: int) -> int:
    """Popen's ``-N`` (killed by signal N) as the shell/docker code ``128 + N``."""
    return 128 - status if status < 0 else status


class RunHandle(ABC):
    """A started run.  Exit codes are docker-style: ``128 + N`` when killed by signal N.

    A handle either started its run (``_popen``: this process is the parent and reaps it)
    or found it again after a restart (:meth:`Runtime.reattach`, ``_popen`` None); both
    kinds learn the exit code the same way (:meth:`poll`), from what each runtime records."""

    #: Give this to :meth:`Runtime.reattach` to find the run again (e.g. after a restart).
    identifier: str
    prepared: Prepared | None = None
    _popen: subprocess.Popen | None = None
    _code: int | None = None

    def poll(self) -> int | None:
        """The exit code, or None while running.  Once known it is kept (and the run's
        leftovers cleaned up, :meth:`_finish`); the code the runtime recorded wins over
        what ``waitpid`` says of the parent process (a wrapper's own status)."""
        if self._code is not None:
            return self._code
        if self._popen is None:
            return self._poll_adopted()
        status = self._popen.poll()
        if status is None:
            return None
        recorded = self._recorded_exit()
        return self._finish(recorded if recorded is not None else exit_code(status))

    @abstractmethod
    def _recorded_exit(self) -> int | None:
        """The run's exit code as the runtime recorded it, if it did."""

    @abstractmethod
    def _poll_adopted(self) -> int | None:
        """:meth:`poll` for a run this process did not start."""

    @abstractmethod
    def _finish(self, code: int) -> int:
        """Keep ``code`` as the run's exit code, clean up after the run; ``code``."""

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit code; None when ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.002
        while True:
            code = self.poll()
            if code is not None:
                return code
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    @abstractmethod
    def stop(self, grace_seconds: float = 120) -> None:
        """SIGTERM, then SIGKILL after ``grace_seconds`` (SageMaker: ``docker stop -t 120``)."""


class Runtime(ABC):
    """Runs images.  Implementations: ``process`` and ``container`` (see ``get_runtime``)."""

    name: str

    @abstractmethod
    def available(self) -> bool:
        """Whether this runtime can run anything on this machine."""

    def overlays(self) -> bool:
        """Whether ``Mount.overlay`` is honoured (else the job layer stages private copies)."""
        return False

    @abstractmethod
    def prepare(self, spec: RunSpec) -> Prepared:
        """Work out the command line and paths without starting anything."""

    @abstractmethod
    def start(self, spec: RunSpec) -> RunHandle:
        """Start the run; output goes to ``spec.log_path`` as it is written."""

    @abstractmethod
    def reattach(self, identifier: str) -> RunHandle:
        """A handle on a run started earlier, possibly by another process."""
