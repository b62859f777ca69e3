"""Processing jobs (CreateProcessingJob): the kind's facts and its local and Ray steps.

Why one module: see :mod:`stepline.jobs.kinds.training`; the same holds for every kind.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from stepline.jobs import contract, staging
from stepline.jobs.kinds._base import FAILURE_LIMIT, ContainerPath, JobKind, dt, runtime_backend
from stepline.jobs.records import JobRecord

if TYPE_CHECKING:
    from stepline.jobs.runtimes.base import Mount
    from stepline.jobs.runtimes.ray import RaySupervisor
    from stepline.jobs.runtimes.ray_node import InstanceRunner
    from stepline.jobs.supervisor import Supervisor


def _processing_rules(req: dict[str, Any]) -> list[str]:
    errors = []
    for i, item in enumerate(req.get("ProcessingInputs", [])):
        where = f"ProcessingInputs[{i}]"
        if "S3Input" not in item:
            errors.append(f"{where}: only S3Input is supported (not DatasetDefinition)")
            continue
        s3 = item["S3Input"]
        local = s3.get("LocalPath")
        if not local or not local.startswith("/opt/ml/processing/"):
            errors.append(f"{where}.S3Input.LocalPath: must start with /opt/ml/processing/")
        if s3.get("S3InputMode") == "Pipe":
            errors.append(f"{where}.S3Input.S3InputMode: Pipe mode is not supported")
        if s3.get("S3CompressionType") == "Gzip":
            errors.append(f"{where}.S3Input.S3CompressionType: Gzip needs Pipe mode")
    outputs = req.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for i, item in enumerate(outputs):
        where = f"ProcessingOutputConfig.Outputs[{i}]"
        if "S3Output" not in item:
            errors.append(f"{where}: only S3Output is supported (not FeatureStoreOutput)")
            continue
        local = item["S3Output"].get("LocalPath")
        if not local or not local.startswith("/opt/ml/processing/"):
            errors.append(f"{where}.S3Output.LocalPath: must start with /opt/ml/processing/")
    count = req["ProcessingResources"]["ClusterConfig"]["InstanceCount"]
    if count > 1 and runtime_backend() != "ray":
        errors.append(
            f"ProcessingResources.ClusterConfig.InstanceCount: {count} instances; stepline "
            "runs one instance per job locally (set STEPLINE_RUNTIME=ray to run several)"
        )
    return errors


def _processing_describe(record: JobRecord, out: dict[str, Any]) -> None:
    state = record.state
    out["ProcessingJobStatus"] = record.status
    if "exit_message" in state:
        out["ExitMessage"] = state["exit_message"]
    if state.get("failure_reason"):
        out["FailureReason"] = state["failure_reason"]
    if record.ended is not None:
        out["ProcessingEndTime"] = dt(record.ended)
    if record.started is not None:
        out["ProcessingStartTime"] = dt(record.started)
    out["LastModifiedTime"] = dt(record.modified)
    out["CreationTime"] = dt(record.created)


def _processing_container_paths(req: dict[str, Any]) -> list[ContainerPath]:
    root = "/opt/ml/processing"
    paths: list[ContainerPath] = [
        (
            f"ProcessingInputs[{i}].S3Input.LocalPath",
            ("ProcessingInputs", i, "S3Input", "LocalPath"),
            item["S3Input"]["LocalPath"],
            root,
        )
        for i, item in enumerate(req.get("ProcessingInputs", []))
        if "S3Input" in item and item["S3Input"].get("LocalPath")
    ]
    outputs = req.get("ProcessingOutputConfig", {}).get("Outputs", [])
    paths += [
        (
            f"ProcessingOutputConfig.Outputs[{i}].S3Output.LocalPath",
            ("ProcessingOutputConfig", "Outputs", i, "S3Output", "LocalPath"),
            item["S3Output"]["LocalPath"],
            root,
        )
        for i, item in enumerate(outputs)
        if "S3Output" in item and item["S3Output"].get("LocalPath")
    ]
    return paths


# -- the local run --------------------------------------------------------------------------


def prepare(
    sup: Supervisor, res: Any, mounts: list[Mount], inputs: list[dict[str, Any]]
) -> tuple[dict[str, str], Any, Any]:
    """``/opt/ml/config``, the inputs at their ``LocalPath``s, the output folders."""
    req = sup.request
    config_dir = sup.ml / "config"
    config_dir.mkdir(parents=True)
    (config_dir / "processingjobconfig.json").write_text(
        json.dumps(contract.processing_job_config(req, sup.record.arn))
    )
    (config_dir / "resourceconfig.json").write_text(
        json.dumps(contract.processing_resource_config())
    )
    for item in req.get("ProcessingInputs", []):
        s3 = item["S3Input"]
        dest = sup.host(s3["LocalPath"])
        inputs.append(sup.stage_input(item["InputName"], s3, dest, s3["LocalPath"], mounts))
    for item in req.get("ProcessingOutputConfig", {}).get("Outputs", []):
        sup.host(item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
    (sup.ml / "output").mkdir(parents=True, exist_ok=True)
    env = {**contract.aws_environment(), **req.get("Environment", {})}
    entrypoint, command = contract.processing_command(req)
    return env, entrypoint, command


def finish(
    sup: Supervisor, ok: bool, stopped: bool, reason: str | None, code: int | None, state: dict
) -> None:
    """Every output folder uploaded to its ``S3Uri``, or the failure recorded."""
    req = sup.request
    message = staging.read_text_inside(sup.folder, sup.ml / "output" / "message", FAILURE_LIMIT)
    if message is not None:
        state["exit_message"] = message
    if not ok and not stopped:
        state["failure_reason"] = sup.failure_reason(code)
        sup.update(state=state, status="Failed", secondary_status="Failed", ended=time.time())
        return
    sup.update(secondary_status="Uploading")
    outputs = []
    for item in req.get("ProcessingOutputConfig", {}).get("Outputs", []):
        s3 = item["S3Output"]
        local = sup.host(s3["LocalPath"])
        uploaded = sup.store.upload_dir(local, s3["S3Uri"].rstrip("/") + "/")
        outputs.append(
            {
                "name": item["OutputName"],
                "uri": s3["S3Uri"],
                "local_path": s3["LocalPath"],
                "files": len(uploaded),
                "mode": s3["S3UploadMode"],
            }
        )
    state["outputs"] = outputs
    status = "Stopped" if stopped else "Completed"
    sup.update(state=state, status=status, secondary_status=status, ended=time.time())


# -- the Ray run ----------------------------------------------------------------------------


def ray_finish(sup: RaySupervisor, state: dict[str, Any], reason: str | None) -> None:
    """Every instance uploads its own outputs (each has its share of the work)."""
    import ray

    sup.transition("Uploading")
    outputs = sup.request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    results = ray.get([a.call.remote(upload_from_node, outputs) for a in sup.actors])
    state["outputs"] = [
        {
            "name": item["OutputName"],
            "uri": item["S3Output"]["S3Uri"],
            "local_path": item["S3Output"]["LocalPath"],
            "files": sum(r["files"].get(item["OutputName"], 0) for r in results),
            "mode": item["S3Output"]["S3UploadMode"],
        }
        for item in outputs
    ]
    if results and results[0].get("message") is not None:
        state["exit_message"] = results[0]["message"]
    status = "Stopped" if reason is not None else "Completed"
    sup.transition(status, status=status, ended=time.time(), state=state)


def upload_from_node(runner: InstanceRunner, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """On the node: upload this instance's processing outputs; the files uploaded per
    output, and the instance's exit message."""
    assert runner.folder is not None
    counts = {}
    message = None
    try:
        path = runner.inside(runner.folder / "ml" / "output" / "message")
        message = path.read_bytes().decode("utf-8", "replace")[:1024]
    except OSError:
        pass
    for item in outputs:
        s3 = item["S3Output"]
        local = runner.folder / "ml" / s3["LocalPath"][len(contract.ML) :].lstrip("/")
        local = runner.inside(local)
        uploaded = runner.store.upload_dir(local, s3["S3Uri"].rstrip("/") + "/")
        counts[item["OutputName"]] = len(uploaded)
    return {"files": counts, "message": message}


KIND = JobKind(
    kind="processing",
    label="Processing",
    arn_segment="processing-job",
    image_field=("AppSpecification", "ImageUri"),
    local_rules=_processing_rules,
    describe_extra=_processing_describe,
    input_sources=lambda req: [
        (i["InputName"], i["S3Input"]) for i in req.get("ProcessingInputs") or [] if "S3Input" in i
    ],
    output_prefixes=lambda req, name: [
        o["S3Output"]["S3Uri"].rstrip("/") + "/"
        for o in (req.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        if "S3Output" in o
    ],
    resources_field=("ProcessingResources", "ClusterConfig"),
    phase="Processing",
    failure_default="AlgorithmError: See job logs for more information",
    container_paths=_processing_container_paths,
    prepare=prepare,
    finish=finish,
    resource_config="config/resourceconfig.json",
    ray_finish=ray_finish,
)
