"""One model server: the model's image run with ``serve`` in the jobs' runtimes and sandbox.

SageMaker's hosting contract (``shared/design/sagemaker-contract.md`` section 3.1): the image
is started with the ``serve`` argument, the model artifact is extracted at ``/opt/ml/model``,
the server listens on ``SAGEMAKER_BIND_TO_PORT`` (8080 when absent; here a free local port so
any number of endpoints can run at once), extra ports come from ``SAGEMAKER_SAFE_PORT_RANGE``,
and it is healthy once ``GET /ping`` answers 200 within 2 seconds.

The port is the same number on the host and in the run (``RunSpec.ports``): the process
runtime's sandbox shares the host's network, and the container runtime publishes it on the
host's loopback only (``-p 127.0.0.1:P:P``), so container images answer the router without
``--network host`` and without exposing the model server beyond this machine.  A model with
``EnableNetworkIsolation`` runs in its own network namespace (``--unshare-net``) and the
process runtime relays the port to it over a Unix socket; podman cannot forward into
``--network none``, so the container runtime refuses such a model rather than run it with a
network.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline import images
from stepline.jobs.runtimes import Mount, RunSpec, get_runtime, resources_for
from stepline.jobs.runtimes.process import runtime_for

PING_TIMEOUT = 2.0
INVOCATION_TIMEOUT = 60.0
MAX_PAYLOAD = 6 * 1024 * 1024
#: SageMaker's default ContainerStartupHealthCheckTimeoutInSeconds window is minutes; the
#: variant's own value wins when given.
DEFAULT_STARTUP_TIMEOUT = 600.0
SAFE_RANGE_SIZE = 10
_port_lock = threading.Lock()
_handed_out: set[int] = set()


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free local port not handed out before by this process."""
    with _port_lock:
        for _ in range(100):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise OSError("no free port")


def safe_port_range() -> str:
    """``"LOW-HIGH"``: a block of free ports for servers that open more than one."""
    with _port_lock:
        for _ in range(200):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                low = s.getsockname()[1]
            low = min(low, 65535 - SAFE_RANGE_SIZE)
            block = range(low, low + SAFE_RANGE_SIZE)
            if not _handed_out.intersection(block) and all(_free(p) for p in block):
                _handed_out.update(block)
                return f"{low}-{low + SAFE_RANGE_SIZE - 1}"
    raise OSError("no free port range")


def answers_ok(
    method: str, port: int, path: str, timeout: float, body: bytes | None = None
) -> bool:
    """Whether ``METHOD path`` on ``127.0.0.1:port`` answers 200 within ``timeout`` seconds.

    Any network or protocol error is a no: the callers ask whether a local server is up
    and doing its job, not why it is not."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def ping(port: int, timeout: float = PING_TIMEOUT) -> bool:
    """Whether ``GET /ping`` answers 200 within ``timeout`` seconds."""
    return answers_ok("GET", port, "/ping", timeout)


@dataclass
class InstanceSpec:
    """What every instance of one production variant runs."""

    endpoint: str
    variant: str
    model_name: str
    image_ref: str
    model_dir: Path
    environment: dict[str, str]
    instance_type: str
    folder: Path
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    extra_env: dict[str, str] = field(default_factory=dict)
    #: False is the model's ``EnableNetworkIsolation``: the server gets its own network
    #: namespace and is reached through its port only (see ``jobs.runtimes.process``).
    network: bool = True


class ModelInstance:
    """One running model server (one "instance" of a variant)."""

    def __init__(self, spec: InstanceSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.port = 0
        self.handle: Any = None
        self.image = images.ensure(spec.image_ref)  # AWS framework images: built on first use
        self.log_path = spec.folder / f"{spec.variant}-{index}.log"
        self.restarts = 0

    def start(self) -> None:
        """Start the server on a fresh port (``serve``, model read-only at /opt/ml/model)."""
        spec = self.spec
        self.port = free_port()
        env = dict(spec.environment)
        env.update(spec.extra_env)
        env["SAGEMAKER_BIND_TO_PORT"] = str(self.port)
        env["SAGEMAKER_SAFE_PORT_RANGE"] = safe_port_range()
        env.setdefault("SAGEMAKER_MODEL_SERVER_TIMEOUT", str(int(INVOCATION_TIMEOUT)))
        env.setdefault("SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS", str(int(INVOCATION_TIMEOUT)))
        env.setdefault("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")
        resources, _notes = resources_for(spec.instance_type)
        env.setdefault("SAGEMAKER_MODEL_SERVER_WORKERS", str(max(1, int(resources.cpus))))
        scratch = spec.folder / f"{spec.variant}-{self.index}.tmp"
        # Where no bubblewrap can run, a process-built image runs rebuilt in a container.
        runtime, self.image = runtime_for(self.image)
        run = RunSpec(
            image=self.image,
            log_path=self.log_path,
            command=["serve"],
            env=env,
            mounts=[Mount(spec.model_dir, "/opt/ml/model", read_only=True)],
            resources=resources,
            network=spec.network,
            ports=[self.port],
            scratch=scratch,
            # Unique per start: a blue/green update starts the new "AllTraffic 1" while the
            # old one still serves, and a container name can be held by one container only.
            name=(
                f"stepline-ep-{spec.endpoint}-{spec.variant}-{self.index}-{os.getpid()}-"
                f"{uuid.uuid4().hex[:8]}"
            ),
        )
        spec.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(
                f"--- stepline: starting {self.image.ref} serve on port {self.port} ---\n".encode()
            )
        self.handle = runtime.start(run)

    @property
    def identifier(self) -> str | None:
        """The runtime identifier (to stop an orphan after a server crash)."""
        return None if self.handle is None else self.handle.identifier

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.handle is not None and self.handle.poll() is None

    def wait_healthy(self, cancel: threading.Event | None = None) -> str | None:
        """Ping until 200; None when healthy, else why not (exited, timed out)."""
        deadline = time.monotonic() + self.spec.startup_timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.handle.poll() if self.handle is not None else None
                return f"the model server exited with code {code} before answering /ping"
            if ping(self.port):
                return None
            if cancel is not None and cancel.is_set():
                return "cancelled"
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        return (
            f"the model server did not answer GET /ping with 200 within "
            f"{self.spec.startup_timeout:g} seconds"
        )

    def last_log(self, lines: int = 5) -> str:
        """The end of the server's log (for FailureReason)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, SIGKILL after ``grace`` (SageMaker: 30 s on scale-in and update)."""
        if self.handle is not None:
            self.handle.stop(grace)


def stop_orphan(image_runtime: str, identifier: str, grace: float = 5.0) -> None:
    """Stop a model server left behind by a server process that died."""
    runtime = get_runtime(image_runtime)
    try:
        handle = runtime.reattach(identifier)
        handle.stop(grace)
    except Exception:  # noqa: BLE001 - already gone or unknown: nothing to stop
        pass
