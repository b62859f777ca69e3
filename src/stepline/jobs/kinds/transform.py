"""Batch transform jobs (CreateTransformJob): the kind's facts and its Ray step.

Why one module: see :mod:`stepline.jobs.kinds.training`.  A transform runs no container of
its own: the model's server is fed the input records by the serving layer, which the
composition root registers in :mod:`stepline.wiring` (locally, as the kind's runner; on a
Ray node, as the ``transform`` provider's ``TransformRun``).
"""

from __future__ import annotations

import shutil
import threading
import types
from typing import TYPE_CHECKING, Any

from stepline import config, wiring
from stepline.jobs.kinds._base import FAILURE_LIMIT, JobKind, dt
from stepline.jobs.records import JobRecord

if TYPE_CHECKING:
    from stepline.jobs.runtimes.ray_node import InstanceRunner


def _transform_describe(record: JobRecord, out: dict[str, Any]) -> None:
    out["TransformJobStatus"] = record.status
    if record.state.get("failure_reason"):
        out["FailureReason"] = record.state["failure_reason"]
    out["CreationTime"] = dt(record.created)
    if record.ended is not None:
        out["TransformEndTime"] = dt(record.ended)


def _transform_check(req: dict[str, Any]) -> None:
    check, _run = wiring.job_runner("transform")  # the serving layer's (see stepline.wiring)
    check(req)


def _transform_inputs(req: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    source = req.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource", {})
    return [("input", source)] if "S3Uri" in source else []


# -- the Ray run ----------------------------------------------------------------------------


class _RunHandle:
    """A transform instance running in a thread of the actor, seen as a run handle."""

    def __init__(self) -> None:
        self.code: int | None = None
        #: The instance's FailureReason (what the actor's ``failure`` reports).
        self.failure_reason: str | None = None

    def poll(self) -> int | None:
        return self.code

    def stop(self, grace: float) -> None:
        """Nothing to signal: the supervisor kills the actor, and its model server with it."""


def ray_start(runner: InstanceRunner, job: dict[str, Any]) -> dict[str, Any]:
    """On the node: this instance's share of the input objects, through a model server on
    this node (:class:`stepline.serving.transform.TransformRun`)."""
    from stepline.images.registry import ImageStore
    from stepline.jobs.runtimes import ray_images

    TransformRun = wiring.provider("transform").TransformRun  # noqa: N806 - a class

    name, index, count = job["name"], job["index"], job["count"]
    runner.folder = config.home() / "ray-jobs" / "transform" / name / f"algo-{index + 1}"
    shutil.rmtree(runner.folder, ignore_errors=True)
    runner.folder.mkdir(parents=True)
    runner.log_path = runner.folder / "log"
    runner.log_path.touch()
    image, downloaded = ray_images.pull(runner.store, job["image_uri"], job["image_digest"])
    # The model names its image by reference: that reference resolves here too.
    ImageStore().set_tag(job["image_ref"], image.digest)
    record = types.SimpleNamespace(
        kind="transform",
        name=name,
        request=job["request"],
        log_path=runner.log_path,
        folder=runner.folder,
    )
    run = TransformRun(record, model=job["model"], shard=(index, count))  # type: ignore[arg-type]
    run.store = runner.store
    handle = runner.handle = _RunHandle()

    def work() -> None:
        try:
            ok, reason = run.run()
        except Exception as exc:  # noqa: BLE001 - any failure is the job's FailureReason
            ok, reason = False, f"ClientError: {exc}"[:FAILURE_LIMIT]
        handle.failure_reason = reason
        handle.code = 0 if ok else 1

    threading.Thread(target=work, daemon=True, name="transform").start()
    return {
        "argv": None,
        "sandboxed": None,
        "warnings": [],
        "notes": [],
        "runtime": image.runtime,
        "environment": {},
        "entrypoint": None,
        "arguments": None,
        "inputs": [],
        "image_downloaded": downloaded,
    }


KIND = JobKind(
    kind="transform",
    label="Transform",
    arn_segment="transform-job",
    image_field=None,
    describe_extra=_transform_describe,
    pre_create=_transform_check,
    cacheable=False,
    input_sources=_transform_inputs,
    output_prefixes=lambda req, name: [req["TransformOutput"]["S3OutputPath"].rstrip("/") + "/"],
    resources_field=("TransformResources",),
    external_runner=True,
    ray_start=ray_start,
    ray_stop_by_removal=True,
)
