"""The job kinds as data: what differs between a training, a processing and a transform job.

Why a registry: the Create/Describe/Stop/List machinery (:mod:`stepline.jobs.service`), the
SageMaker service layer (:mod:`stepline.sagemaker`) and the CLI are the same for every kind;
only a few facts differ -- the API's names (``CreateTrainingJob``, ``TrainingJobName``), the
ARN's resource segment, where the image is named, the rules SageMaker enforces beyond its
model, and the members Describe adds to the request.  Each kind states those facts once here;
adding a kind is one :class:`JobKind` plus one line in :data:`KINDS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stepline import config, wiring
from stepline.jobs import records
from stepline.jobs.records import JobRecord


def sagemaker_arn(resource_type: str, name: str) -> str:
    """A SageMaker resource's ARN (``training-job``, ``model``, ``endpoint`` ...), with the
    configured account and region; SageMaker lower-cases the name in ARNs."""
    return config.arn("sagemaker", f"{resource_type}/{name.lower()}")


def dt(epoch: float | None) -> datetime | None:
    """An epoch timestamp as the aware ``datetime`` boto3 returns (``None`` stays ``None``)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


#: One container path of a request: (field, keys to it, value, the folder it must stay under).
ContainerPath = tuple[str, tuple[Any, ...], Any, str | None]


def _no_rules(req: dict[str, Any]) -> list[str]:
    return []


def _no_state(now: float) -> dict[str, Any]:
    return {}


class ApiNames:
    """The API's names a job type's ``label`` makes (``Training`` -> ``CreateTrainingJob``,
    ``TrainingJobName`` ...), shared by the jobs layer's kinds and the SageMaker layer."""

    label: str

    @property
    def name_field(self) -> str:
        return f"{self.label}JobName"

    @property
    def arn_field(self) -> str:
        return f"{self.label}JobArn"

    @property
    def status_field(self) -> str:
        return f"{self.label}JobStatus"

    @property
    def create_operation(self) -> str:
        return f"Create{self.label}Job"

    @property
    def describe_operation(self) -> str:
        return f"Describe{self.label}Job"

    @property
    def stop_operation(self) -> str:
        return f"Stop{self.label}Job"

    @property
    def list_operation(self) -> str:
        return f"List{self.label}Jobs"


@dataclass(frozen=True)
class JobKind(ApiNames):
    """One SageMaker job kind.  ``label`` makes the API's names: ``Create{label}Job``,
    ``{label}JobName``, ``{label}JobArn``, ``{label}JobStatus``."""

    kind: str  # the record's kind ("training"), also the CLI's --kind
    label: str  # "Training"
    arn_segment: str  # "training-job"
    #: Where the request names the image (``None``: it comes from a model).
    image_field: tuple[str, ...] | None
    #: Rules SageMaker's service enforces beyond the model, and what stepline cannot run.
    local_rules: Callable[[dict[str, Any]], list[str]] = _no_rules
    #: The Describe members beyond the echoed request, status and ARN.
    describe_extra: Callable[[JobRecord, dict[str, Any]], None] = lambda record, out: None
    #: Extra ``state`` of a new record (training's status transitions).
    initial_state: Callable[[float], dict[str, Any]] = _no_state
    #: A further check before the record is written (transform: the model must exist).
    pre_create: Callable[[dict[str, Any]], None] | None = None
    #: Whether a pipeline step of this kind may reuse an identical earlier job's outputs.
    cacheable: bool = True
    #: Whether Stop records a status transition (training's SecondaryStatusTransitions).
    stop_transition: str | None = None
    #: The request's S3 inputs: (input name, the dict holding its ``S3Uri``), in order
    #: (cache keys count inputs by content, so they blank the URIs in place).
    input_sources: Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]] = field(
        default=lambda req: []
    )
    #: Where a job called ``name`` writes its outputs: S3 prefixes ending in ``/``.
    output_prefixes: Callable[[dict[str, Any], str], list[str]] = field(
        default=lambda req, name: []
    )
    #: What a cache hit's record takes over from the source job beyond the common facts.
    reused_state: Callable[[JobRecord], dict[str, Any]] = field(default=lambda source: {})
    #: SageMaker's message when Describe/Stop names a job that does not exist
    #: (a ValidationException, as AWS answers; ``{name}`` is filled in).
    not_found: str = "Could not find requested job with name {name}"
    #: Where the request says its instances (``InstanceType``, ``InstanceCount``).
    resources_field: tuple[str, ...] = ()
    #: Whether Describe lists ``SecondaryStatusTransitions`` (each secondary status is then
    #: recorded with its message) rather than only the current secondary status.
    status_transitions: bool = False
    #: The secondary status while the user's code runs (``None``: the job says
    #: ``InProgress`` until it ends), and the message that transition records.
    phase: str | None = None
    phase_message: str | None = None
    #: The failure reason when the container wrote no failure file (``None``: say the exit
    #: code, or the user's command in script mode).
    failure_default: str | None = None
    #: Run by the runner the composition root registers in :mod:`stepline.wiring` under the
    #: kind's name (transform: the serving layer feeds records to the model's server), not by
    #: the supervisor's container steps.
    external_runner: bool = False
    #: The request's container paths: (field, keys to it, value, the folder it must stay
    #: under or ``None``); checked and normalised when the job is created.
    container_paths: Callable[[dict[str, Any]], list[ContainerPath]] = field(default=lambda req: [])
    #: Request values that become folder names inside the container: (field, value, the
    #: folder they are made in).
    folder_names: Callable[[dict[str, Any]], list[tuple[str, Any, str]]] = field(
        default=lambda req: []
    )

    def inputs(self, req: dict[str, Any]) -> dict[str, str]:
        """Input name -> S3 URI."""
        return {name: holder["S3Uri"] for name, holder in self.input_sources(req)}

    def resources(self, req: dict[str, Any]) -> dict[str, Any]:
        """The request's ``InstanceType``/``InstanceCount`` holder (``{}`` when absent)."""
        value: Any = req
        for key in self.resources_field:
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, dict) else {}

    def image(self, req: dict[str, Any]) -> str | None:
        """The image URI the request names, if it names one."""
        value: Any = req
        for key in self.image_field or ():
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value if isinstance(value, str) and self.image_field else None


# -- training -----------------------------------------------------------------------------


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
        elif count > 1 and _runtime_backend() != "ray":
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


def final_metrics(kind: str, name: str) -> list[dict[str, Any]]:
    """The last value of each metric (``FinalMetricDataList``)."""
    last: dict[str, dict[str, Any]] = {}
    for point in records.metrics(kind, name):
        last[point["MetricName"]] = point
    return [
        {"MetricName": p["MetricName"], "Value": p["Value"], "Timestamp": dt(p["Timestamp"])}
        for p in last.values()
    ]


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


TRAINING = JobKind(
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
)


# -- processing ---------------------------------------------------------------------------


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
    if count > 1 and _runtime_backend() != "ray":
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


PROCESSING = JobKind(
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
)


# -- transform ----------------------------------------------------------------------------


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


TRANSFORM = JobKind(
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
)


#: The registry: one line per kind.
KINDS: dict[str, JobKind] = {k.kind: k for k in (TRAINING, PROCESSING, TRANSFORM)}


def get(kind: str) -> JobKind:
    """The kind called ``kind``, or a ValueError naming the known ones."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown job kind {kind!r} (known: {', '.join(KINDS)})") from None


def _runtime_backend() -> str:
    """``local`` or ``ray`` (several instances per job run only on Ray)."""
    from stepline.jobs.runtimes.ray import backend

    return backend()
