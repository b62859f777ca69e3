"""The container runtime: container-built images run by podman (or docker).

``podman run`` gets bind mounts for the job folders (``/opt/ml/...``), ``--network none`` for
network isolation, ``--cpus``/``--memory`` from the resources, and the GPU devices handed
over.  Each of ``RunSpec.ports`` (a model server's port) is published on the host's loopback
with ``-p 127.0.0.1:P:P`` so the router reaches it; the server inside must listen on all the
container's addresses, as SageMaker images do, because a forwarded connection arrives on the
container's own interface, not on its loopback.  The engine's client stays attached with its
output going to the log file, so the log fills as the job writes; the container is named
``stepline-...`` and kept until its exit code is read, so a reattached handle (after an
engine restart) can still ask the engine for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

from stepline.images import container_engine
from stepline.jobs.runtimes.base import Prepared, RunHandle, RunSpec, Runtime


class ContainerRuntime(Runtime):
    """Runs container-built images with the container engine."""

    name = "container"

    def available(self) -> bool:
        """Whether podman or a working docker is present."""
        return container_engine.engine_name() is not None

    def prepare(self, spec: RunSpec) -> Prepared:
        """The ``podman run`` command line and the mount map."""
        image = spec.image
        if image.runtime != "container" or not image.engine_ref:
            raise ValueError(
                f"image {image.ref} was built for the {image.runtime} runtime; "
                "run it with that runtime"
            )
        name = spec.name or f"stepline-{uuid.uuid4().hex[:16]}"
        args = ["run", "--name", name, "--pull=never"]
        paths: dict[str, Path] = {}
        for m in spec.mounts:
            if not Path(m.host).is_file():  # a file is bound as is (e.g. /etc/hosts)
                Path(m.host).mkdir(parents=True, exist_ok=True)
            opts = "ro" if m.read_only else "rw"
            args += ["-v", f"{Path(m.host).resolve()}:{m.target}:{opts}"]
            paths[m.target] = Path(m.host)
        if spec.scratch is not None:
            Path(spec.scratch).mkdir(parents=True, exist_ok=True)
            args += ["-v", f"{Path(spec.scratch).resolve()}:/tmp:rw"]
            paths["/tmp"] = Path(spec.scratch)
        if spec.ports and not spec.network:
            # podman drops -p under --network none without a word, and its internal networks
            # do not forward ports either: the server would start but never be reachable.
            raise ValueError(
                "a run that publishes ports needs a network (network=False with ports "
                f"{spec.ports}); the container engine cannot forward into --network none"
            )
        if not spec.network:
            args += ["--network", "none"]
        for port in spec.ports:
            args += ["-p", f"127.0.0.1:{port}:{port}"]
        notes: list[str] = []
        res = spec.resources
        env = dict(spec.env)
        if res is not None:
            args += ["--cpus", f"{res.cpus:g}", "--memory", str(res.memory_bytes)]
            for gpu in res.gpu_ids:
                for dev in (f"/dev/nvidia{gpu}", "/dev/nvidiactl", "/dev/nvidia-uvm"):
                    if os.path.exists(dev) and dev not in args:
                        args += ["--device", dev]
            if res.gpu_ids or res.gpus == 0:
                env.setdefault("CUDA_VISIBLE_DEVICES", ",".join(map(str, res.gpu_ids)))
        for key, value in sorted(env.items()):
            args += ["-e", f"{key}={value}"]
        if spec.entrypoint is not None:
            args += ["--entrypoint", json.dumps(spec.entrypoint)]
        args.append(image.engine_ref)
        if spec.command is not None:
            args += spec.command
        return Prepared(
            container_engine.command(*args),
            container_engine.env(),
            os.getcwd(),
            paths,
            True,
            [],
            notes,
        )

    def start(self, spec: RunSpec) -> ContainerHandle:
        """Start the container; its output is appended to ``spec.log_path``."""
        prepared = self.prepare(spec)
        name = prepared.argv[prepared.argv.index("--name") + 1]
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "ab", buffering=0) as log:
            popen = subprocess.Popen(
                prepared.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=prepared.env,
                start_new_session=True,
            )
        handle = ContainerHandle(name, popen)
        handle.prepared = prepared
        return handle

    def reattach(self, identifier: str) -> ContainerHandle:
        """A handle on the container named in ``identifier``."""
        return ContainerHandle(json.loads(identifier)["container"], None)


class ContainerHandle(RunHandle):
    """A container run, known to the engine by ``name``."""

    def __init__(self, name: str, popen: subprocess.Popen | None) -> None:
        self.name = name
        self._popen = popen
        self._code: int | None = None
        self.identifier = json.dumps({"container": name})

    def _state(self) -> tuple[str, int] | None:
        proc = container_engine.run(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name, check=False
        )
        if proc.returncode != 0:
            return None
        status, _, code = proc.stdout.strip().partition(" ")
        return status, int(code or 0)

    def _finish(self, code: int) -> int:
        self._code = code
        container_engine.run("rm", "-f", self.name, check=False)
        return code

    def _recorded_exit(self) -> int | None:
        """The exited container's code, as podman recorded it."""
        state = self._state()
        return state[1] if state is not None and state[0] in ("exited", "stopped") else None

    def _poll_adopted(self) -> int | None:
        """The container's state: gone (255), exited, or still running (None)."""
        state = self._state()
        if state is None:
            return self._finish(255)
        if state[0] in ("exited", "stopped"):
            return self._finish(state[1])
        return None

    def stop(self, grace_seconds: float = 120) -> None:
        """``podman stop -t GRACE``: SIGTERM, SIGKILL after the grace."""
        if self.poll() is not None:
            return
        container_engine.run("stop", "-t", str(int(round(grace_seconds))), self.name, check=False)
        self.wait(30)
