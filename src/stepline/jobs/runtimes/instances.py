"""SageMaker instance types mapped to local resources.

Sizes are AWS's published figures (vCPU, memory GiB, GPUs) for every ``ml.*`` type botocore
knows, so any instance type AWS accepts runs here.  One scale-down policy for every runtime: a
type larger than where it runs (this machine; on a Ray cluster, the largest node) runs scaled
down to fit, never waits forever, and the job record gets a note saying so.  GPU types get the
GPUs there are (``CUDA_VISIBLE_DEVICES``), or run on CPU with a note.  ``local`` means the
whole machine without GPUs, ``local_gpu`` the whole machine with all its GPUs (SageMaker
local mode's names).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

from stepline.jobs.runtimes.base import Resources

GiB = 1 << 30

#: Every ``ml.*`` instance type in botocore's SageMaker model (training, processing, transform,
#: endpoints, notebooks, Studio apps, HyperPod clusters), as AWS publishes them:
#: instance type -> (vCPUs, memory GiB, NVIDIA GPUs).  Sizes follow EC2's naming (``large`` =
#: 2 vCPUs, ``xlarge`` = 4, ``Nxlarge`` = 4N; Graviton ``medium`` = 1) and each family's
#: memory per vCPU (c: 2 GiB, m and g4dn/g5/g6: 4, r, i3en and g6e/gr6/g7e: 8), with the
#: irregular ones (c4, c5n, t2/t3, p*, trn*, inf2) written out from AWS's spec pages.
#: ``tests/runtimes/test_instances.py`` checks that every enum value in botocore is here.
#: ``ml.geospatial.interactive`` has no published size; it is sized as an ``ml.m5.4xlarge``.
INSTANCE_TYPES: dict[str, tuple[int, float, int]] = {
    "ml.c4.large": (2, 3.75, 0),
    "ml.c4.xlarge": (4, 7.5, 0),
    "ml.c4.2xlarge": (8, 15, 0),
    "ml.c4.4xlarge": (16, 30, 0),
    "ml.c4.8xlarge": (36, 60, 0),
    "ml.c5.large": (2, 4, 0),
    "ml.c5.xlarge": (4, 8, 0),
    "ml.c5.2xlarge": (8, 16, 0),
    "ml.c5.4xlarge": (16, 32, 0),
    "ml.c5.9xlarge": (36, 72, 0),
    "ml.c5.12xlarge": (48, 96, 0),
    "ml.c5.18xlarge": (72, 144, 0),
    "ml.c5.24xlarge": (96, 192, 0),
    "ml.c5d.large": (2, 4, 0),
    "ml.c5d.xlarge": (4, 8, 0),
    "ml.c5d.2xlarge": (8, 16, 0),
    "ml.c5d.4xlarge": (16, 32, 0),
    "ml.c5d.9xlarge": (36, 72, 0),
    "ml.c5d.18xlarge": (72, 144, 0),
    "ml.c5n.large": (2, 5.25, 0),
    "ml.c5n.xlarge": (4, 10.5, 0),
    "ml.c5n.2xlarge": (8, 21, 0),
    "ml.c5n.4xlarge": (16, 42, 0),
    "ml.c5n.9xlarge": (36, 96, 0),
    "ml.c5n.18xlarge": (72, 192, 0),
    "ml.c6g.large": (2, 4, 0),
    "ml.c6g.xlarge": (4, 8, 0),
    "ml.c6g.2xlarge": (8, 16, 0),
    "ml.c6g.4xlarge": (16, 32, 0),
    "ml.c6g.8xlarge": (32, 64, 0),
    "ml.c6g.12xlarge": (48, 96, 0),
    "ml.c6g.16xlarge": (64, 128, 0),
    "ml.c6gd.large": (2, 4, 0),
    "ml.c6gd.xlarge": (4, 8, 0),
    "ml.c6gd.2xlarge": (8, 16, 0),
    "ml.c6gd.4xlarge": (16, 32, 0),
    "ml.c6gd.8xlarge": (32, 64, 0),
    "ml.c6gd.12xlarge": (48, 96, 0),
    "ml.c6gd.16xlarge": (64, 128, 0),
    "ml.c6gn.large": (2, 4, 0),
    "ml.c6gn.xlarge": (4, 8, 0),
    "ml.c6gn.2xlarge": (8, 16, 0),
    "ml.c6gn.4xlarge": (16, 32, 0),
    "ml.c6gn.8xlarge": (32, 64, 0),
    "ml.c6gn.12xlarge": (48, 96, 0),
    "ml.c6gn.16xlarge": (64, 128, 0),
    "ml.c6i.large": (2, 4, 0),
    "ml.c6i.xlarge": (4, 8, 0),
    "ml.c6i.2xlarge": (8, 16, 0),
    "ml.c6i.4xlarge": (16, 32, 0),
    "ml.c6i.8xlarge": (32, 64, 0),
    "ml.c6i.12xlarge": (48, 96, 0),
    "ml.c6i.16xlarge": (64, 128, 0),
    "ml.c6i.24xlarge": (96, 192, 0),
    "ml.c6i.32xlarge": (128, 256, 0),
    "ml.c6id.large": (2, 4, 0),
    "ml.c6id.xlarge": (4, 8, 0),
    "ml.c6id.2xlarge": (8, 16, 0),
    "ml.c6id.4xlarge": (16, 32, 0),
    "ml.c6id.8xlarge": (32, 64, 0),
    "ml.c6id.12xlarge": (48, 96, 0),
    "ml.c6id.16xlarge": (64, 128, 0),
    "ml.c6id.24xlarge": (96, 192, 0),
    "ml.c6id.32xlarge": (128, 256, 0),
    "ml.c6in.large": (2, 4, 0),
    "ml.c6in.xlarge": (4, 8, 0),
    "ml.c6in.2xlarge": (8, 16, 0),
    "ml.c6in.4xlarge": (16, 32, 0),
    "ml.c6in.8xlarge": (32, 64, 0),
    "ml.c6in.12xlarge": (48, 96, 0),
    "ml.c6in.16xlarge": (64, 128, 0),
    "ml.c6in.24xlarge": (96, 192, 0),
    "ml.c6in.32xlarge": (128, 256, 0),
    "ml.c7g.large": (2, 4, 0),
    "ml.c7g.xlarge": (4, 8, 0),
    "ml.c7g.2xlarge": (8, 16, 0),
    "ml.c7g.4xlarge": (16, 32, 0),
    "ml.c7g.8xlarge": (32, 64, 0),
    "ml.c7g.12xlarge": (48, 96, 0),
    "ml.c7g.16xlarge": (64, 128, 0),
    "ml.c7i.large": (2, 4, 0),
    "ml.c7i.xlarge": (4, 8, 0),
    "ml.c7i.2xlarge": (8, 16, 0),
    "ml.c7i.4xlarge": (16, 32, 0),
    "ml.c7i.8xlarge": (32, 64, 0),
    "ml.c7i.12xlarge": (48, 96, 0),
    "ml.c7i.16xlarge": (64, 128, 0),
    "ml.c7i.24xlarge": (96, 192, 0),
    "ml.c7i.48xlarge": (192, 384, 0),
    "ml.c8g.medium": (1, 2, 0),
    "ml.c8g.large": (2, 4, 0),
    "ml.c8g.xlarge": (4, 8, 0),
    "ml.c8g.2xlarge": (8, 16, 0),
    "ml.c8g.4xlarge": (16, 32, 0),
    "ml.c8g.8xlarge": (32, 64, 0),
    "ml.c8g.12xlarge": (48, 96, 0),
    "ml.c8g.16xlarge": (64, 128, 0),
    "ml.c8g.24xlarge": (96, 192, 0),
    "ml.c8g.48xlarge": (192, 384, 0),
    "ml.dl1.24xlarge": (96, 768, 0),
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
    "ml.g6.xlarge": (4, 16, 1),
    "ml.g6.2xlarge": (8, 32, 1),
    "ml.g6.4xlarge": (16, 64, 1),
    "ml.g6.8xlarge": (32, 128, 1),
    "ml.g6.12xlarge": (48, 192, 4),
    "ml.g6.16xlarge": (64, 256, 1),
    "ml.g6.24xlarge": (96, 384, 4),
    "ml.g6.48xlarge": (192, 768, 8),
    "ml.g6e.xlarge": (4, 32, 1),
    "ml.g6e.2xlarge": (8, 64, 1),
    "ml.g6e.4xlarge": (16, 128, 1),
    "ml.g6e.8xlarge": (32, 256, 1),
    "ml.g6e.12xlarge": (48, 384, 4),
    "ml.g6e.16xlarge": (64, 512, 1),
    "ml.g6e.24xlarge": (96, 768, 4),
    "ml.g6e.48xlarge": (192, 1536, 8),
    "ml.g7e.2xlarge": (8, 64, 1),
    "ml.g7e.4xlarge": (16, 128, 1),
    "ml.g7e.8xlarge": (32, 256, 1),
    "ml.g7e.12xlarge": (48, 512, 2),
    "ml.g7e.24xlarge": (96, 1024, 4),
    "ml.g7e.48xlarge": (192, 2048, 8),
    "ml.geospatial.interactive": (16, 64, 0),
    "ml.gr6.4xlarge": (16, 128, 1),
    "ml.gr6.8xlarge": (32, 256, 1),
    "ml.i3en.large": (2, 16, 0),
    "ml.i3en.xlarge": (4, 32, 0),
    "ml.i3en.2xlarge": (8, 64, 0),
    "ml.i3en.3xlarge": (12, 96, 0),
    "ml.i3en.6xlarge": (24, 192, 0),
    "ml.i3en.12xlarge": (48, 384, 0),
    "ml.i3en.24xlarge": (96, 768, 0),
    "ml.inf1.xlarge": (4, 8, 0),
    "ml.inf1.2xlarge": (8, 16, 0),
    "ml.inf1.6xlarge": (24, 48, 0),
    "ml.inf1.24xlarge": (96, 192, 0),
    "ml.inf2.xlarge": (4, 16, 0),
    "ml.inf2.8xlarge": (32, 128, 0),
    "ml.inf2.24xlarge": (96, 384, 0),
    "ml.inf2.48xlarge": (192, 768, 0),
    "ml.m4.xlarge": (4, 16, 0),
    "ml.m4.2xlarge": (8, 32, 0),
    "ml.m4.4xlarge": (16, 64, 0),
    "ml.m4.10xlarge": (40, 160, 0),
    "ml.m4.16xlarge": (64, 256, 0),
    "ml.m5.large": (2, 8, 0),
    "ml.m5.xlarge": (4, 16, 0),
    "ml.m5.2xlarge": (8, 32, 0),
    "ml.m5.4xlarge": (16, 64, 0),
    "ml.m5.8xlarge": (32, 128, 0),
    "ml.m5.12xlarge": (48, 192, 0),
    "ml.m5.16xlarge": (64, 256, 0),
    "ml.m5.24xlarge": (96, 384, 0),
    "ml.m5d.large": (2, 8, 0),
    "ml.m5d.xlarge": (4, 16, 0),
    "ml.m5d.2xlarge": (8, 32, 0),
    "ml.m5d.4xlarge": (16, 64, 0),
    "ml.m5d.8xlarge": (32, 128, 0),
    "ml.m5d.12xlarge": (48, 192, 0),
    "ml.m5d.16xlarge": (64, 256, 0),
    "ml.m5d.24xlarge": (96, 384, 0),
    "ml.m6g.large": (2, 8, 0),
    "ml.m6g.xlarge": (4, 16, 0),
    "ml.m6g.2xlarge": (8, 32, 0),
    "ml.m6g.4xlarge": (16, 64, 0),
    "ml.m6g.8xlarge": (32, 128, 0),
    "ml.m6g.12xlarge": (48, 192, 0),
    "ml.m6g.16xlarge": (64, 256, 0),
    "ml.m6gd.large": (2, 8, 0),
    "ml.m6gd.xlarge": (4, 16, 0),
    "ml.m6gd.2xlarge": (8, 32, 0),
    "ml.m6gd.4xlarge": (16, 64, 0),
    "ml.m6gd.8xlarge": (32, 128, 0),
    "ml.m6gd.12xlarge": (48, 192, 0),
    "ml.m6gd.16xlarge": (64, 256, 0),
    "ml.m6i.large": (2, 8, 0),
    "ml.m6i.xlarge": (4, 16, 0),
    "ml.m6i.2xlarge": (8, 32, 0),
    "ml.m6i.4xlarge": (16, 64, 0),
    "ml.m6i.8xlarge": (32, 128, 0),
    "ml.m6i.12xlarge": (48, 192, 0),
    "ml.m6i.16xlarge": (64, 256, 0),
    "ml.m6i.24xlarge": (96, 384, 0),
    "ml.m6i.32xlarge": (128, 512, 0),
    "ml.m6id.large": (2, 8, 0),
    "ml.m6id.xlarge": (4, 16, 0),
    "ml.m6id.2xlarge": (8, 32, 0),
    "ml.m6id.4xlarge": (16, 64, 0),
    "ml.m6id.8xlarge": (32, 128, 0),
    "ml.m6id.12xlarge": (48, 192, 0),
    "ml.m6id.16xlarge": (64, 256, 0),
    "ml.m6id.24xlarge": (96, 384, 0),
    "ml.m6id.32xlarge": (128, 512, 0),
    "ml.m7i.large": (2, 8, 0),
    "ml.m7i.xlarge": (4, 16, 0),
    "ml.m7i.2xlarge": (8, 32, 0),
    "ml.m7i.4xlarge": (16, 64, 0),
    "ml.m7i.8xlarge": (32, 128, 0),
    "ml.m7i.12xlarge": (48, 192, 0),
    "ml.m7i.16xlarge": (64, 256, 0),
    "ml.m7i.24xlarge": (96, 384, 0),
    "ml.m7i.48xlarge": (192, 768, 0),
    "ml.m8g.medium": (1, 4, 0),
    "ml.m8g.large": (2, 8, 0),
    "ml.m8g.xlarge": (4, 16, 0),
    "ml.m8g.2xlarge": (8, 32, 0),
    "ml.m8g.4xlarge": (16, 64, 0),
    "ml.m8g.8xlarge": (32, 128, 0),
    "ml.m8g.12xlarge": (48, 192, 0),
    "ml.m8g.16xlarge": (64, 256, 0),
    "ml.m8g.24xlarge": (96, 384, 0),
    "ml.m8g.48xlarge": (192, 768, 0),
    "ml.p2.xlarge": (4, 61, 1),
    "ml.p2.8xlarge": (32, 488, 8),
    "ml.p2.16xlarge": (64, 732, 16),
    "ml.p3.2xlarge": (8, 61, 1),
    "ml.p3.8xlarge": (32, 244, 4),
    "ml.p3.16xlarge": (64, 488, 8),
    "ml.p3dn.24xlarge": (96, 768, 8),
    "ml.p4d.24xlarge": (96, 1152, 8),
    "ml.p4de.24xlarge": (96, 1152, 8),
    "ml.p5.4xlarge": (16, 256, 1),
    "ml.p5.48xlarge": (192, 2048, 8),
    "ml.p5e.48xlarge": (192, 2048, 8),
    "ml.p5en.48xlarge": (192, 2048, 8),
    "ml.p6-b200.48xlarge": (192, 2048, 8),
    "ml.p6-b300.48xlarge": (192, 4096, 8),
    "ml.p6e-gb200.36xlarge": (144, 960, 4),
    "ml.r5.large": (2, 16, 0),
    "ml.r5.xlarge": (4, 32, 0),
    "ml.r5.2xlarge": (8, 64, 0),
    "ml.r5.4xlarge": (16, 128, 0),
    "ml.r5.8xlarge": (32, 256, 0),
    "ml.r5.12xlarge": (48, 384, 0),
    "ml.r5.16xlarge": (64, 512, 0),
    "ml.r5.24xlarge": (96, 768, 0),
    "ml.r5d.large": (2, 16, 0),
    "ml.r5d.xlarge": (4, 32, 0),
    "ml.r5d.2xlarge": (8, 64, 0),
    "ml.r5d.4xlarge": (16, 128, 0),
    "ml.r5d.8xlarge": (32, 256, 0),
    "ml.r5d.12xlarge": (48, 384, 0),
    "ml.r5d.16xlarge": (64, 512, 0),
    "ml.r5d.24xlarge": (96, 768, 0),
    "ml.r6g.large": (2, 16, 0),
    "ml.r6g.xlarge": (4, 32, 0),
    "ml.r6g.2xlarge": (8, 64, 0),
    "ml.r6g.4xlarge": (16, 128, 0),
    "ml.r6g.8xlarge": (32, 256, 0),
    "ml.r6g.12xlarge": (48, 384, 0),
    "ml.r6g.16xlarge": (64, 512, 0),
    "ml.r6gd.large": (2, 16, 0),
    "ml.r6gd.xlarge": (4, 32, 0),
    "ml.r6gd.2xlarge": (8, 64, 0),
    "ml.r6gd.4xlarge": (16, 128, 0),
    "ml.r6gd.8xlarge": (32, 256, 0),
    "ml.r6gd.12xlarge": (48, 384, 0),
    "ml.r6gd.16xlarge": (64, 512, 0),
    "ml.r6i.large": (2, 16, 0),
    "ml.r6i.xlarge": (4, 32, 0),
    "ml.r6i.2xlarge": (8, 64, 0),
    "ml.r6i.4xlarge": (16, 128, 0),
    "ml.r6i.8xlarge": (32, 256, 0),
    "ml.r6i.12xlarge": (48, 384, 0),
    "ml.r6i.16xlarge": (64, 512, 0),
    "ml.r6i.24xlarge": (96, 768, 0),
    "ml.r6i.32xlarge": (128, 1024, 0),
    "ml.r6id.large": (2, 16, 0),
    "ml.r6id.xlarge": (4, 32, 0),
    "ml.r6id.2xlarge": (8, 64, 0),
    "ml.r6id.4xlarge": (16, 128, 0),
    "ml.r6id.8xlarge": (32, 256, 0),
    "ml.r6id.12xlarge": (48, 384, 0),
    "ml.r6id.16xlarge": (64, 512, 0),
    "ml.r6id.24xlarge": (96, 768, 0),
    "ml.r6id.32xlarge": (128, 1024, 0),
    "ml.r7gd.medium": (1, 8, 0),
    "ml.r7gd.large": (2, 16, 0),
    "ml.r7gd.xlarge": (4, 32, 0),
    "ml.r7gd.2xlarge": (8, 64, 0),
    "ml.r7gd.4xlarge": (16, 128, 0),
    "ml.r7gd.8xlarge": (32, 256, 0),
    "ml.r7gd.12xlarge": (48, 384, 0),
    "ml.r7gd.16xlarge": (64, 512, 0),
    "ml.r7i.large": (2, 16, 0),
    "ml.r7i.xlarge": (4, 32, 0),
    "ml.r7i.2xlarge": (8, 64, 0),
    "ml.r7i.4xlarge": (16, 128, 0),
    "ml.r7i.8xlarge": (32, 256, 0),
    "ml.r7i.12xlarge": (48, 384, 0),
    "ml.r7i.16xlarge": (64, 512, 0),
    "ml.r7i.24xlarge": (96, 768, 0),
    "ml.r7i.48xlarge": (192, 1536, 0),
    "ml.r8g.medium": (1, 8, 0),
    "ml.r8g.large": (2, 16, 0),
    "ml.r8g.xlarge": (4, 32, 0),
    "ml.r8g.2xlarge": (8, 64, 0),
    "ml.r8g.4xlarge": (16, 128, 0),
    "ml.r8g.8xlarge": (32, 256, 0),
    "ml.r8g.12xlarge": (48, 384, 0),
    "ml.r8g.16xlarge": (64, 512, 0),
    "ml.r8g.24xlarge": (96, 768, 0),
    "ml.r8g.48xlarge": (192, 1536, 0),
    "ml.t2.large": (2, 8, 0),
    "ml.t2.medium": (2, 4, 0),
    "ml.t2.xlarge": (4, 16, 0),
    "ml.t2.2xlarge": (8, 32, 0),
    "ml.t3.large": (2, 8, 0),
    "ml.t3.medium": (2, 4, 0),
    "ml.t3.micro": (2, 1, 0),
    "ml.t3.small": (2, 2, 0),
    "ml.t3.xlarge": (4, 16, 0),
    "ml.t3.2xlarge": (8, 32, 0),
    "ml.trn1.2xlarge": (8, 32, 0),
    "ml.trn1.32xlarge": (128, 512, 0),
    "ml.trn1n.32xlarge": (128, 512, 0),
    "ml.trn2.3xlarge": (12, 128, 0),
    "ml.trn2.48xlarge": (192, 2048, 0),
}

#: Accelerators that are not CUDA GPUs (AWS Inferentia/Trainium, Habana Gaudi): family ->
#: what they are.  Jobs on these types run on CPU here, with a note in the record.
ACCELERATORS: dict[str, str] = {
    "inf1": "AWS Inferentia",
    "inf2": "AWS Inferentia2",
    "trn1": "AWS Trainium",
    "trn1n": "AWS Trainium",
    "trn2": "AWS Trainium2",
    "dl1": "Habana Gaudi",
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


def resources_for(
    instance_type: str, host: Resources | None = None, where: str = "this machine"
) -> tuple[Resources, list[str]]:
    """The resources one instance of ``instance_type`` gets on ``host``, and notes for the record.

    ``host`` defaults to this machine; the Ray runtime passes the cluster's largest node (and
    ``where="the largest Ray node"``), so the same policy scales a job down on a cluster.
    Unknown types raise ``ValueError`` (so a typo is not silently a tiny job).
    """
    host = host or machine()
    notes: list[str] = []
    if instance_type in ("local", "local_gpu"):
        gpus = host.gpus if instance_type == "local_gpu" else 0
        if instance_type == "local_gpu" and not host.gpus:
            notes.append(f"local_gpu: {where} has no GPU; running on CPU")
        return Resources(host.cpus, host.memory_bytes, gpus), notes
    if instance_type not in INSTANCE_TYPES:
        raise ValueError(
            f"unknown instance type {instance_type!r}: not one of SageMaker's ml.* types "
            "(nor local, local_gpu)"
        )
    cpus, mem_gib, gpus = INSTANCE_TYPES[instance_type]
    memory = int(mem_gib * GiB)
    scaled = []
    if cpus > host.cpus:
        scaled.append(f"{cpus} vCPUs to {host.cpus:g}")
    if memory > host.memory_bytes:
        scaled.append(f"{mem_gib:g} GiB memory to {host.memory_bytes / GiB:.1f} GiB")
    if gpus > host.gpus:
        scaled.append(f"{gpus} GPU(s) to {host.gpus}" + (" (runs on CPU)" if not host.gpus else ""))
    if scaled:
        notes.append(
            f"{instance_type} is larger than {where}; running scaled down: " + ", ".join(scaled)
        )
    family = instance_type.split(".")[1]
    if family in ACCELERATORS:
        notes.append(f"{instance_type} has {ACCELERATORS[family]} accelerators; running on CPU")
    return (
        Resources(
            cpus=float(min(cpus, host.cpus)),
            memory_bytes=min(memory, host.memory_bytes),
            gpus=min(gpus, host.gpus),
        ),
        notes,
    )
