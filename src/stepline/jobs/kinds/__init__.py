"""The job kinds as data: what differs between a training, a processing and a transform job.

Why a registry: the Create/Describe/Stop/List machinery (:mod:`stepline.jobs.service`), the
SageMaker service layer (:mod:`stepline.sagemaker`), the CLI, the supervisor and the runtimes
are the same for every kind; only a few facts and steps differ -- the API's names
(``CreateTrainingJob``, ``TrainingJobName``), the ARN's resource segment, where the image is
named, the rules SageMaker enforces beyond its model, the members Describe adds to the
request, the container's files and how the outputs are uploaded, locally and on Ray.  Each
kind states those once, in its own module (:mod:`.training`, :mod:`.processing`,
:mod:`.transform`, each a :class:`JobKind` called ``KIND``); adding a kind is one module plus
one name in :data:`MODULES`.
"""

from __future__ import annotations

import importlib

from stepline.jobs.kinds._base import (
    FAILURE_LIMIT,
    ApiNames,
    ContainerPath,
    JobKind,
    dt,
    final_metrics,
    finish_without_uploads,
    sagemaker_arn,
)

#: The registry: the modules of :mod:`stepline.jobs.kinds`, one per kind, in the order the
#: CLI and the API list them.  Each module's ``KIND`` is the kind.
MODULES = ("training", "processing", "transform")

KINDS: dict[str, JobKind] = {
    kind.kind: kind
    for kind in (importlib.import_module(f"stepline.jobs.kinds.{m}").KIND for m in MODULES)
}


def get(kind: str) -> JobKind:
    """The kind called ``kind``, or a ValueError naming the known ones."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown job kind {kind!r} (known: {', '.join(KINDS)})") from None


__all__ = [
    "FAILURE_LIMIT",
    "KINDS",
    "ApiNames",
    "ContainerPath",
    "JobKind",
    "dt",
    "final_metrics",
    "finish_without_uploads",
    "get",
    "sagemaker_arn",
]
