"""SageMaker instance types mapped to local resources.

Sizes are AWS's published figures (vCPU, memory GiB, GPUs) for the ``ml.*`` types jobs name
most.  A type larger than this machine is capped to the machine, with a note for the job
record; GPU types get the machine's GPUs (``CUDA_VISIBLE_DEVICES``), or a note when there are
none.  ``local`` means the whole machine without GPUs, ``local_gpu`` the whole machine with
all its GPUs (SageMaker local mode's names).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

from stepline.jobs.runtimes.base import Resources

GiB = 1 << 30

#: instance type -> (vCPUs, memory GiB, GPUs)
INSTANCE_TYPES: dict[str, tuple[int, float, int]] = {
    "ml.t3.medium": (2, 4, 0),
    "ml.t3.large": (2, 8, 0),
    "ml.t3.xlarge": (4, 16, 0),
    "ml.t3.2xlarge": (8, 32, 0),
    "ml.m5.large": (2, 8, 0),
    "ml.m5.xlarge": (4, 16, 0),
    "ml.m5.2xlarge": (8, 32, 0),
    "ml.m5.4xlarge": (16, 64, 0),
    "ml.m5.12xlarge": (48, 192, 0),
    "ml.m5.24xlarge": (96, 384, 0),
    "ml.c5.large": (2, 4, 0),
    "ml.c5.xlarge": (4, 8, 0),
    "ml.c5.2xlarge": (8, 16, 0),
    "ml.c5.4xlarge": (16, 32, 0),
    "ml.c5.9xlarge": (36, 72, 0),
    "ml.c5.18xlarge": (72, 144, 0),
    "ml.r5.large": (2, 16, 0),
    "ml.r5.xlarge": (4, 32, 0),
    "ml.r5.2xlarge": (8, 64, 0),
    "ml.r5.4xlarge": (16, 128, 0),
    "ml.r5.12xlarge": (48, 384, 0),
    "ml.r5.24xlarge": (96, 768, 0),
    "ml.g4dn.xlarge": (4, 16, 1),
    "ml.g4dn.2xlarge": (8, 32, 1),
    "ml.g4dn.4xlarge": (16, 64, 1),
    "ml.g4dn.8xlarge": (32, 128, 1),
    "ml.g4dn.12xlarge": (48, 192, 4),
    "ml.g4dn.16xlarge": (64, 256, 1),
    "ml.g5.xlarge": (4, 16, 1),
    "ml.g5.2xlarge": (8, 32, 1),
    "ml.g5.4xlarge": (16, 64, 1),
    "ml.g5.8xlarge": (32, 128, 1),
    "ml.g5.12xlarge": (48, 192, 4),
    "ml.g5.16xlarge": (64, 256, 1),
    "ml.g5.24xlarge": (96, 384, 4),
    "ml.g5.48xlarge": (192, 768, 8),
    "ml.p3.2xlarge": (8, 61, 1),
    "ml.p3.8xlarge": (32, 244, 4),
    "ml.p3.16xlarge": (64, 488, 8),
    "ml.p3dn.24xlarge": (96, 768, 8),
    "ml.p4d.24xlarge": (96, 1152, 8),
    "ml.p5.48xlarge": (192, 2048, 8),
}


@functools.cache
def machine() -> Resources:
    """This machine's CPUs (usable by this process), memory and GPUs."""
    cpus = len(os.sched_getaffinity(0))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    gpus = _gpu_count()
    return Resources(cpus=float(cpus), memory_bytes=memory, gpus=gpus, gpu_ids=tuple(range(gpus)))


def _gpu_count() -> int:
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return 0
        return sum(1 for line in out.splitlines() if line.startswith("GPU "))
    return 0


def resources_for(instance_type: str, host: Resources | None = None) -> tuple[Resources, list[str]]:
    """The resources one instance of ``instance_type`` gets here, and notes for the record.

    Unknown ``ml.*`` types raise ``ValueError`` (so a typo is not silently a tiny job).
    """
    host = host or machine()
    notes: list[str] = []
    if instance_type in ("local", "local_gpu"):
        gpus = host.gpus if instance_type == "local_gpu" else 0
        if instance_type == "local_gpu" and not host.gpus:
            notes.append("local_gpu: this machine has no GPU; running on CPU")
        return Resources(host.cpus, host.memory_bytes, gpus), notes
    if instance_type not in INSTANCE_TYPES:
        raise ValueError(
            f"unknown instance type {instance_type!r}; known: local, local_gpu, "
            + ", ".join(sorted(INSTANCE_TYPES))
        )
    cpus, mem_gib, gpus = INSTANCE_TYPES[instance_type]
    memory = int(mem_gib * GiB)
    if cpus > host.cpus:
        notes.append(f"{instance_type} has {cpus} vCPUs; capped to this machine's {host.cpus:g}")
    if memory > host.memory_bytes:
        notes.append(
            f"{instance_type} has {mem_gib:g} GiB memory; capped to this machine's "
            f"{host.memory_bytes / GiB:.1f} GiB"
        )
    if gpus > host.gpus:
        notes.append(
            f"{instance_type} has {gpus} GPU(s); this machine has {host.gpus}"
            + ("; running on CPU" if not host.gpus else f"; capped to {host.gpus}")
        )
    return (
        Resources(
            cpus=float(min(cpus, host.cpus)),
            memory_bytes=min(memory, host.memory_bytes),
            gpus=min(gpus, host.gpus),
        ),
        notes,
    )
