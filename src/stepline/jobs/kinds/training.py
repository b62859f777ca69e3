"""Training jobs (CreateTrainingJob): the kind's facts and its local and Ray steps.

Why one module: everything a training job does differently -- SageMaker's rules beyond the
model, the Describe members, the container's files, how the model is uploaded, locally and
from a Ray node -- is here, and :mod:`stepline.jobs.kinds` lists :data:`KIND`.  The steps
are functions of the supervisor that runs them (``sup``), which does what every kind does.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import TYPE_CHECKING, Any

from stepline.jobs import contract, staging
from stepline.jobs.kinds._base import (
    ContainerPath,
    JobKind,
    dt,
    final_metrics,
    runtime_backend,
)
from stepline.jobs.records import JobRecord

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from stepline.jobs.runtimes.base import Mount
    from stepline.jobs.runtimes.ray import RaySupervisor
    from stepline.jobs.runtimes.ray_node import InstanceRunner
    from stepline.jobs.supervisor import Supervisor
    from stepline.storage import ObjectStore


def _training_rules(req: dict[str, Any]) -> list[str]:
    errors = []
    algo = req.get("AlgorithmSpecification")
    if not algo:
        errors.append("AlgorithmSpecification: is required")
    elif "TrainingImage" not in algo:
        errors.append(
            "AlgorithmSpecification.TrainingImage: is required (AlgorithmName refers to "
            "AWS Marketplace algorithms, which cannot run locally)"
        )
    elif algo.get("TrainingInputMode") == "Pipe":
        errors.append("AlgorithmSpecification.TrainingInputMode: Pipe mode is not supported")
    rc = req.get("ResourceConfig")
    if not rc:
        errors.append("ResourceConfig: is required")
    else:
        count = rc.get("InstanceCount")
        if rc.get("InstanceGroups"):
            errors.append("ResourceConfig.InstanceGroups: heterogeneous clusters run on AWS only")
        elif count is None:
            errors.append("ResourceConfig.InstanceCount: is required")
        elif count < 1:
            errors.append(f"ResourceConfig.InstanceCount: {count} is less than the minimum 1")
        elif count > 1 and runtime_backend() != "ray":
            errors.append(
                f"ResourceConfig.InstanceCount: {count} instances; stepline runs one "
                "instance per job locally (set STEPLINE_RUNTIME=ray to run several)"
            )
        if "InstanceType" not in rc:
            errors.append("ResourceConfig.InstanceType: is required")
    names = set()
    for i, channel in enumerate(req.get("InputDataConfig", [])):
        where = f"InputDataConfig[{i}]"
        if channel["ChannelName"] in names:
            errors.append(f"{where}.ChannelName: duplicate channel {channel['ChannelName']!r}")
        names.add(channel["ChannelName"])
        source = channel.get("DataSource", {})
        if "S3DataSource" not in source:
            errors.append(f"{where}.DataSource: only S3DataSource is supported")
        elif source["S3DataSource"].get("S3DataType") not in ("S3Prefix", "ManifestFile"):
            errors.append(
                f"{where}.DataSource.S3DataSource.S3DataType: only S3Prefix and "
                "ManifestFile are supported"
            )
        if channel.get("InputMode") == "Pipe":
            errors.append(f"{where}.InputMode: Pipe mode is not supported")
        if channel.get("CompressionType") == "Gzip":
            errors.append(f"{where}.CompressionType: Gzip needs Pipe mode")
    ck = req.get("CheckpointConfig")
    if ck and not ck.get("LocalPath", "/opt/ml/checkpoints").startswith("/"):
        errors.append("CheckpointConfig.LocalPath: must be an absolute path")
    return errors


def _training_describe(record: JobRecord, out: dict[str, Any]) -> None:
    state = record.state
    if state.get("tuning_job_arn"):
        out["TuningJobArn"] = state["tuning_job_arn"]
    if record.status != "Failed":
        out_path = record.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        default = f"{out_path}/{record.name}/output/model.tar.gz"
        out["ModelArtifacts"] = {"S3ModelArtifacts": state.get("model_artifacts", default)}
    out["TrainingJobStatus"] = record.status
    out["SecondaryStatus"] = record.secondary_status
    out.setdefault("StoppingCondition", {"MaxRuntimeInSeconds": 86400})
    if state.get("failure_reason"):
        out["FailureReason"] = state["failure_reason"]
    out["CreationTime"] = dt(record.created)
    if record.started is not None:
        out["TrainingStartTime"] = dt(record.started)
    if record.ended is not None:
        out["TrainingEndTime"] = dt(record.ended)
    out["LastModifiedTime"] = dt(record.modified)
    out["SecondaryStatusTransitions"] = [
        {k: (dt(v) if k in ("StartTime", "EndTime") else v) for k, v in t.items()}
        for t in state.get("transitions", [])
    ]
    metrics = final_metrics(record.kind, record.name)
    if metrics:
        out["FinalMetricDataList"] = metrics
    if record.started is not None and record.ended is not None:
        seconds = max(1, math.ceil(record.ended - record.started))
        out["TrainingTimeInSeconds"] = seconds
        out["BillableTimeInSeconds"] = seconds


def _training_container_paths(req: dict[str, Any]) -> list[ContainerPath]:
    # Training's paths outside /opt/ml may be anywhere but the sandbox's own folders.
    return [
        (f"{section}.LocalPath", (section, "LocalPath"), conf["LocalPath"], None)
        for section in ("CheckpointConfig", "TensorBoardOutputConfig", "DebugHookConfig")
        if (conf := req.get(section)) and "LocalPath" in conf
    ]


def _training_folder_names(req: dict[str, Any]) -> list[tuple[str, Any, str]]:
    # A channel is the folder /opt/ml/input/data/<ChannelName>.
    return [
        (f"InputDataConfig[{i}].ChannelName", channel.get("ChannelName"), "/opt/ml/input/data")
        for i, channel in enumerate(req.get("InputDataConfig", []))
    ]


def _training_reused(source: JobRecord) -> dict[str, Any]:
    # The model *is* the source job's: report its artifact (a copy also sits under this
    # job's name), so a pipeline can tell it already deployed this very model.
    base = source.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    default = f"{base}/{source.name}/output/model.tar.gz"
    return {"model_artifacts": source.state.get("model_artifacts", default)}


# -- the local run --------------------------------------------------------------------------


def prepare(
    sup: Supervisor, res: Any, mounts: list[Mount], inputs: list[dict[str, Any]]
) -> tuple[dict[str, str], Any, Any]:
    """``/opt/ml/input/config``, the channels, checkpoints and script-mode code."""
    req = sup.request
    config_dir = sup.ml / "input" / "config"
    config_dir.mkdir(parents=True)
    hps = req.get("HyperParameters", {})
    (config_dir / "hyperparameters.json").write_text(json.dumps(hps))
    (config_dir / "inputdataconfig.json").write_text(json.dumps(contract.input_data_config(req)))
    instance_type = req["ResourceConfig"]["InstanceType"]
    (config_dir / "resourceconfig.json").write_text(
        json.dumps(contract.resource_config(instance_type))
    )
    for channel in req.get("InputDataConfig", []):
        name = channel["ChannelName"]
        dest = sup.ml / "input" / "data" / name
        target = f"{contract.ML}/input/data/{name}"
        s3 = channel["DataSource"]["S3DataSource"]
        inputs.append(sup.stage_input(name, s3, dest, target, mounts))
    for sub in ("model", "output/data", "output/intermediate", "code"):
        (sup.ml / sub).mkdir(parents=True, exist_ok=True)
    _stage_checkpoints(sup, req.get("CheckpointConfig"), mounts)
    _fetch_code(sup)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    env = contract.training_env(
        req,
        sup.record.arn,
        cpus=max(1, int(res.cpus)),
        gpus=res.gpus,
        region=region or "us-east-1",
    )
    entrypoint, command = contract.training_command(req, toolkit=getattr(sup, "toolkit", False))
    return env, entrypoint, command


def _stage_checkpoints(
    sup: Supervisor, checkpoint: dict[str, Any] | None, mounts: list[Mount]
) -> None:
    """``CheckpointConfig``: the last checkpoints, staged as private files the job writes
    and the supervisor syncs back."""
    from stepline.jobs.runtimes.base import Mount

    if not checkpoint:
        return
    local = checkpoint.get("LocalPath", contract.default_checkpoint_path())
    host = sup.host(local)
    if not local.startswith(contract.ML + "/"):
        mounts.append(Mount(host, local))
    staged = staging.stage_if_any(sup.store, checkpoint["S3Uri"], host)
    how = staging.make_private(staged)
    if how != "none":
        sup.pending["checkpoint_staging"] = how
    sup.pending["checkpoint_host"] = str(host)


def _fetch_code(sup: Supervisor) -> None:
    """Script mode's ``sagemaker_submit_directory`` into ``/opt/ml/code``.

    The toolkit fetches a container-path submit directory itself, inside the job (the SDK
    sends code as a channel under network isolation); S3 code is fetched here either way,
    and the toolkit then finds /opt/ml/code filled."""
    script = contract.script_mode(sup.request)
    submit = str((script or {}).get("submit_directory") or "")
    if submit and (submit.startswith("s3://") or not getattr(sup, "toolkit", False)):
        staging.fetch_source_dir(sup.store, submit, sup.ml / "code", sup.scratch)


def _final(reason: str | None) -> tuple[str, str, str]:
    """(secondary status, its message, status) of a run that was not a failure."""
    if reason == "timeout":
        return "MaxRuntimeExceeded", "Training job ran longer than MaxRuntimeInSeconds", "Stopped"
    if reason is not None:
        return "Stopped", "Training job stopped", "Stopped"
    return "Completed", "Training job completed", "Completed"


def finish(
    sup: Supervisor, ok: bool, stopped: bool, reason: str | None, code: int | None, state: dict
) -> None:
    """The model (``/opt/ml/model``) and output data uploaded, or the failure recorded."""
    req = sup.request
    if ok and contract.script_mode(req):
        (sup.ml / "output" / "success").touch()
    if not ok and not stopped:
        state["failure_reason"] = sup.failure_reason(code)
        sup.transition(
            "Failed", state["failure_reason"], status="Failed", ended=time.time(), state=state
        )
        return
    sup.transition("Uploading", "Uploading generated training model")
    out_path = req["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    base = f"{out_path}/{sup.name}/output"
    folder = sup.folder
    state.update(
        _upload_model(
            sup.store,
            sup.ml,
            folder / "artifacts",
            lambda path: staging.inside(folder, path),
            base,
            req["OutputDataConfig"].get("CompressionType"),
        )
    )
    final, message, status = _final(reason if stopped else None)
    sup.transition(final, message, status=status, ended=time.time(), state=state)


# -- the Ray run ----------------------------------------------------------------------------


def ray_finish(sup: RaySupervisor, state: dict[str, Any], reason: str | None) -> None:
    """The model from algo-1's ``/opt/ml/model`` (and its ``output/data``)."""
    import ray

    sup.transition("Uploading", "Uploading generated training model")
    out = sup.request["OutputDataConfig"]
    base = f"{out['S3OutputPath'].rstrip('/')}/{sup.name}/output"
    upload = sup.actors[0].call.remote(
        upload_from_node, base, out.get("CompressionType", "GZIP"), reason is None
    )
    state.update(ray.get(upload))
    final, message, status = _final(reason)
    sup.transition(final, message, status=status, ended=time.time(), state=state)


def upload_from_node(
    runner: InstanceRunner, base: str, compression: str, success: bool
) -> dict[str, Any]:
    """On the node: upload this instance's model and output data (the supervisor asks
    algo-1); the state to record."""
    assert runner.folder is not None
    ml = runner.folder / "ml"
    if success:
        (ml / "output").mkdir(parents=True, exist_ok=True)
        (ml / "output" / "success").touch()
    return _upload_model(
        runner.store, ml, runner.folder / "artifacts", runner.inside, base, compression
    )


def _upload_model(
    store: ObjectStore,
    ml: Path,
    artifacts: Path,
    inside: Callable[[Path], Path],
    base: str,
    compression: str | None,
) -> dict[str, Any]:
    """Upload ``ml/model`` (a tarball unless ``compression`` is ``NONE``) and a non-empty
    ``ml/output/data`` (always a tarball) under ``base``; the state that records them.

    The supervisor (local runs) and algo-1's node (Ray runs) both end a training job this
    way; ``inside`` is the caller's check that a path the job wrote stays in its folder."""
    outputs = []
    model_dir = inside(ml / "model")
    if compression == "NONE":
        store.upload_dir(model_dir, f"{base}/model/")
        model_uri = f"{base}/model/"
    else:
        tarball = staging.make_tarball(model_dir, artifacts / "model.tar.gz")
        model_uri = f"{base}/model.tar.gz"
        store.put_file(model_uri, tarball)
    outputs.append({"name": "model", "uri": model_uri})
    data_dir = inside(ml / "output" / "data")
    if data_dir.is_dir() and any(data_dir.iterdir()):
        tarball = staging.make_tarball(data_dir, artifacts / "output.tar.gz")
        store.put_file(f"{base}/output.tar.gz", tarball)
        outputs.append({"name": "output", "uri": f"{base}/output.tar.gz"})
    return {"model_artifacts": model_uri, "outputs": outputs}


KIND = JobKind(
    kind="training",
    label="Training",
    arn_segment="training-job",
    image_field=("AlgorithmSpecification", "TrainingImage"),
    local_rules=_training_rules,
    describe_extra=_training_describe,
    initial_state=lambda now: {
        "transitions": [
            {"Status": "Starting", "StartTime": now, "StatusMessage": "Starting the training job"}
        ]
    },
    stop_transition="Stopping the training job",
    not_found="Requested resource not found.",
    input_sources=lambda req: [
        (c["ChannelName"], c["DataSource"]["S3DataSource"])
        for c in req.get("InputDataConfig") or []
        if "S3DataSource" in c.get("DataSource", {})
    ],
    output_prefixes=lambda req, name: [
        f"{req['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{name}/output/"
    ],
    reused_state=_training_reused,
    resources_field=("ResourceConfig",),
    status_transitions=True,
    phase="Training",
    phase_message="Training image download completed. Training in progress.",
    container_paths=_training_container_paths,
    folder_names=_training_folder_names,
    prepare=prepare,
    finish=finish,
    resource_config="input/config/resourceconfig.json",
    ray_finish=ray_finish,
)
