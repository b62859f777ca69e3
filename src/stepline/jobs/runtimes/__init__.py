"""Job runtimes: run an image with mounts, environment and resources.

The job layer builds a :class:`RunSpec` and hands it to a :class:`Runtime`::

    runtime = get_runtime("process")          # or "container"; RUNTIMES lists them
    prepared = runtime.prepare(spec)          # optional: argv, env, cwd, paths, sandboxed
    handle = runtime.start(spec)              # output appended to spec.log_path, live
    handle.poll() -> int | None               # exit code (docker-style: 128+N on signal N)
    handle.wait(timeout=None) -> int | None
    handle.stop(grace_seconds=120)            # SIGTERM, SIGKILL after the grace
    handle.identifier -> str                  # keep it; runtime.reattach(identifier) later

    Mount(host, target, read_only=False)
    Resources(cpus, memory_bytes, gpus=0, gpu_ids=())
    RunSpec(image, log_path, command=None, entrypoint=None, env={}, mounts=[],
            resources=None, network=True, scratch=None, name=None, ports=[])
    # ports: servers (endpoints) reachable from the host at 127.0.0.1:PORT; the container
    # runtime publishes them, the process sandbox shares the host network already
    Prepared(argv, env, cwd, paths, sandboxed, warnings, notes).host_path(container_path)

Resources::

    resources_for(instance_type, host=None, where=...) -> (Resources, notes)
    # every ml.* type in botocore, scaled down to this machine (or the largest Ray node)
    ResourceScheduler().acquire(resources, timeout=None) -> Lease  # FIFO, cross-process
    lease.resources.gpu_ids / lease.release()

Where instances run (``STEPLINE_RUNTIME=local|ray``, or ``[runtime] backend``; see
:mod:`stepline.jobs.runtimes.ray`): ``local`` runs each job on this machine with the runtimes
below; ``ray`` places each SageMaker instance as one Ray actor on a cluster node, which runs
it there with the same runtimes (``ray_node``), images shipped through the object store
(``ray_images``); ``ray_local`` starts a throwaway cluster for tests and benchmarks.

``process`` runs process-built images in a bubblewrap sandbox (the bundled bwrap; a plain
subprocess with a ``SandboxWarning`` only under ``STEPLINE_SANDBOX=none``; ``Prepared.sandboxed``
says which; ``process.runtime_for(image)`` picks the container fallback where no bwrap can
run, see ``runtimes/process.py``).  ``container`` runs container-built images with podman.
The job layer passes the SageMaker environment (``SM_*``, ``TRAINING_JOB_NAME`` ...) in
``RunSpec.env`` and reads ``Prepared.paths`` to know where each container path lives on the
host.
"""

from __future__ import annotations

from stepline.jobs.runtimes.base import (
    Mount,
    Prepared,
    Resources,
    RunHandle,
    RunSpec,
    Runtime,
)
from stepline.jobs.runtimes.container import ContainerRuntime
from stepline.jobs.runtimes.instances import INSTANCE_TYPES, machine, resources_for
from stepline.jobs.runtimes.process import ProcessRuntime, SandboxWarning, sandbox_command
from stepline.jobs.runtimes.scheduler import Lease, QueueTimeout, ResourceScheduler

#: The runtimes, by name: a plain list.
RUNTIMES: list[Runtime] = [ProcessRuntime(), ContainerRuntime()]


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name`` (``process`` or ``container``)."""
    for runtime in RUNTIMES:
        if runtime.name == name:
            return runtime
    raise ValueError(f"unknown runtime {name!r}; use one of {', '.join(r.name for r in RUNTIMES)}")


__all__ = [
    "INSTANCE_TYPES",
    "RUNTIMES",
    "ContainerRuntime",
    "Lease",
    "Mount",
    "Prepared",
    "ProcessRuntime",
    "QueueTimeout",
    "Resources",
    "ResourceScheduler",
    "RunHandle",
    "RunSpec",
    "Runtime",
    "SandboxWarning",
    "get_runtime",
    "machine",
    "resources_for",
    "sandbox_command",
]
