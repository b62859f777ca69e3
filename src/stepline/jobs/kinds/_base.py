"""What every job kind states: the :class:`JobKind` record and the helpers its modules share.

Why a module of its own: each kind's module (:mod:`.training`, :mod:`.processing`,
:mod:`.transform`) builds one :class:`JobKind`, and the package's ``__init__`` lists them;
both import this, so it imports no kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stepline import config
from stepline.jobs import records
from stepline.jobs.records import JobRecord

if TYPE_CHECKING:
    from stepline.jobs.runtimes.base import Mount
    from stepline.jobs.runtimes.ray import RaySupervisor
    from stepline.jobs.runtimes.ray_node import InstanceRunner
    from stepline.jobs.supervisor import Supervisor


def sagemaker_arn(resource_type: str, name: str) -> str:
    """A SageMaker resource's ARN (``training-job``, ``model``, ``endpoint`` ...), with the
    configured account and region; SageMaker lower-cases the name in ARNs."""
    return config.arn("sagemaker", f"{resource_type}/{name.lower()}")


def dt(epoch: float | None) -> datetime | None:
    """An epoch timestamp as the aware ``datetime`` boto3 returns (``None`` stays ``None``)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


#: The longest failure reason (and exit message) a record keeps, as SageMaker's limit.
FAILURE_LIMIT = 1024

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


#: A local run's first step: write the container's files and stage its inputs, given the
#: supervisor, the instance's resources, the mounts and the inputs' records to add to;
#: (environment, entrypoint, arguments).
PrepareStep = Callable[
    ["Supervisor", Any, "list[Mount]", "list[dict[str, Any]]"], "tuple[dict[str, str], Any, Any]"
]
#: A local run's last step: upload the outputs and record the final status, given the
#: supervisor, whether the run succeeded, whether it was stopped, the stop reason
#: (``timeout``/``stopped``), the exit code and the state to record.
FinishStep = Callable[["Supervisor", bool, bool, "str | None", "int | None", dict], None]
#: A Ray run's last step: the same, from the instances (given the Ray supervisor, the state
#: to record and the stop reason).
RayFinishStep = Callable[["RaySupervisor", "dict[str, Any]", "str | None"], None]
#: A Ray instance's start, run by its actor on its node (given the
#: :class:`~stepline.jobs.runtimes.ray_node.InstanceRunner` and the job the supervisor built);
#: what the supervisor records of the run.
RayStartStep = Callable[["InstanceRunner", "dict[str, Any]"], "dict[str, Any]"]


def finish_without_uploads(sup: RaySupervisor, state: dict[str, Any], reason: str | None) -> None:
    """A Ray run's end when the instances wrote their outputs as they went: the status."""
    status = "Stopped" if reason is not None else "Completed"
    sup.transition(status, status=status, ended=time.time(), state=state)


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
    #: The local run's steps, run by the supervisor (:mod:`stepline.jobs.supervisor`);
    #: ``None`` for a kind with ``external_runner``.
    prepare: PrepareStep | None = None
    finish: FinishStep | None = None
    #: Where ``prepare`` writes ``resourceconfig.json`` under ``/opt/ml`` (a Ray instance
    #: rewrites the hosts in it).
    resource_config: str | None = None
    #: The Ray run's steps (:mod:`stepline.jobs.runtimes.ray`).  ``ray_start`` runs on the
    #: node, in the instance's actor (``None``: the actor runs the container the local steps
    #: prepare); ``ray_finish`` runs in the Ray supervisor once every instance has exited.
    ray_start: RayStartStep | None = None
    ray_finish: RayFinishStep = finish_without_uploads
    #: Whether stopping a Ray job means removing its actors (a transform's model servers run
    #: inside them, with no process of their own to signal).
    ray_stop_by_removal: bool = False

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


def final_metrics(kind: str, name: str) -> list[dict[str, Any]]:
    """The last value of each metric (``FinalMetricDataList``)."""
    last: dict[str, dict[str, Any]] = {}
    for point in records.metrics(kind, name):
        last[point["MetricName"]] = point
    return [
        {"MetricName": p["MetricName"], "Value": p["Value"], "Timestamp": dt(p["Timestamp"])}
        for p in last.values()
    ]


def runtime_backend() -> str:
    """``local`` or ``ray`` (several instances per job run only on Ray)."""
    from stepline.jobs.runtimes.ray import backend

    return backend()
