"""Job builders that produce SageMaker request shapes without the ``sagemaker`` package.

The DS SDK needs ``sagemaker<3`` (its Airflow exporters) just to turn an estimator into a
CreateTrainingJob request, and breaks with sagemaker 3.  These small classes keep the
SageMaker SDK's constructor names (``image_uri``, ``role``, ``instance_count`` ...) so scripts
port, and return plain dicts in the API's shape: ``Estimator.training_request()`` is a
CreateTrainingJob request, ``Processor.processing_request()`` a CreateProcessingJob request,
and so on.  Any value may be a placeholder, rendered when the step is.

Hyperparameters are strings, as CreateTrainingJob requires, encoded like the SageMaker SDK:
``str(value)`` for a plain (bring-your-own-image) estimator, JSON for a script-mode one
(``entry_point`` given), where the toolkit ``json.loads`` them back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from stepline.sdk.code import Encoded, ScriptFile, SourceArchive, default_bucket
from stepline.sdk.intrinsics import Intrinsic, Path, States
from stepline.sdk.placeholders import Placeholder

CODE_INPUT_DIR = "/opt/ml/processing/input/code"


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def tags_list(tags: dict[str, str] | list[dict[str, str]] | Placeholder | None) -> Any:
    """``{"k": "v"}`` -> ``[{"Key": "k", "Value": "v"}]`` (lists and placeholders pass)."""
    if tags is None or isinstance(tags, list | Placeholder):
        return tags
    return [{"Key": k, "Value": v} for k, v in tags.items()]


# -- inputs -------------------------------------------------------------------------------
class TrainingInput:
    """One training channel's data, like ``sagemaker.inputs.TrainingInput``."""

    def __init__(
        self,
        s3_data: str | Placeholder,
        distribution: str | None = None,
        compression: str | None = None,
        content_type: str | None = None,
        record_wrapping: str | None = None,
        s3_data_type: str = "S3Prefix",
        input_mode: str | None = None,
        attribute_names: list[str] | None = None,
        shuffle_config: int | None = None,
    ) -> None:
        source = {
            "S3DataType": s3_data_type,
            "S3Uri": s3_data,
            "S3DataDistributionType": distribution or "FullyReplicated",
        }
        if attribute_names:
            source["AttributeNames"] = attribute_names
        self.config: dict[str, Any] = {"DataSource": {"S3DataSource": source}}
        self.config.update(
            _drop_none(
                {
                    "CompressionType": compression,
                    "ContentType": content_type,
                    "RecordWrapperType": record_wrapping,
                    "InputMode": input_mode,
                }
            )
        )
        if shuffle_config is not None:
            self.config["ShuffleConfig"] = {"Seed": shuffle_config}


def channels(inputs: Any) -> list[dict[str, Any]] | None:
    """``InputDataConfig`` from a URI, a TrainingInput, a placeholder or a dict of them."""
    if inputs is None:
        return None
    named = inputs if isinstance(inputs, dict) else {"training": inputs}
    out = []
    for name, value in named.items():
        config = copy.deepcopy(
            value.config if isinstance(value, TrainingInput) else TrainingInput(value).config
        )
        out.append({**config, "ChannelName": name})
    return out


class ProcessingInput:
    """A processing job input, like ``sagemaker.processing.ProcessingInput``."""

    def __init__(
        self,
        source: str | Placeholder | Any,
        destination: str,
        input_name: str | None = None,
        s3_data_type: str = "S3Prefix",
        s3_input_mode: str = "File",
        s3_data_distribution_type: str = "FullyReplicated",
        s3_compression_type: str = "None",
    ) -> None:
        self.source = source
        self.destination = destination
        self.input_name = input_name
        self.s3_data_type = s3_data_type
        self.s3_input_mode = s3_input_mode
        self.s3_data_distribution_type = s3_data_distribution_type
        self.s3_compression_type = s3_compression_type

    def to_request(self, index: int) -> dict[str, Any]:
        return {
            "InputName": self.input_name or f"input-{index}",
            "AppManaged": False,
            "S3Input": {
                "S3Uri": self.source,
                "LocalPath": self.destination,
                "S3DataType": self.s3_data_type,
                "S3InputMode": self.s3_input_mode,
                "S3DataDistributionType": self.s3_data_distribution_type,
                "S3CompressionType": self.s3_compression_type,
            },
        }


class ProcessingOutput:
    """A processing job output, like ``sagemaker.processing.ProcessingOutput``."""

    def __init__(
        self,
        source: str,
        destination: str | Placeholder | None = None,
        output_name: str | None = None,
        s3_upload_mode: str = "EndOfJob",
    ) -> None:
        self.source = source
        self.destination = destination
        self.output_name = output_name
        self.s3_upload_mode = s3_upload_mode

    def to_request(self, index: int) -> dict[str, Any]:
        name = self.output_name or f"output-{index}"
        destination = self.destination or f"s3://{default_bucket()}/stepline/processing/{name}"
        return {
            "OutputName": name,
            "AppManaged": False,
            "S3Output": {
                "S3Uri": destination,
                "LocalPath": self.source,
                "S3UploadMode": self.s3_upload_mode,
            },
        }


# -- training -----------------------------------------------------------------------------
def _dynamic(value: Any) -> bool:
    return isinstance(value, Placeholder | Intrinsic | Path)


class Estimator:
    """A training job template, like ``sagemaker.estimator.Estimator`` (plus script mode).

    With ``entry_point`` (and optionally ``source_dir``) the job runs in script mode: the code
    is packed into ``sourcedir.tar.gz``, uploaded by ``Workflow.create()``, and named by the
    ``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters.
    ``sagemaker_session`` is accepted and ignored, so SageMaker SDK code ports as is.
    """

    def __init__(
        self,
        image_uri: str | Placeholder,
        role: str | Placeholder | None = None,
        instance_count: int = 1,
        instance_type: str = "ml.m5.large",
        volume_size: int = 30,
        max_run: int = 24 * 60 * 60,
        input_mode: str = "File",
        output_path: str | Placeholder | None = None,
        hyperparameters: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
        metric_definitions: list[dict[str, str]] | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        code_location: str | None = None,
        checkpoint_s3_uri: str | None = None,
        checkpoint_local_path: str | None = None,
        use_spot_instances: bool = False,
        max_wait: int | None = None,
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        base_job_name: str | None = None,
        sagemaker_session: Any = None,
    ) -> None:
        self.image_uri = image_uri
        self.role = role
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.volume_size = volume_size
        self.max_run = max_run
        self.input_mode = input_mode
        self.output_path = output_path
        self._hyperparameters = dict(hyperparameters or {})
        self.environment = environment
        self.metric_definitions = metric_definitions
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.code_location = code_location
        self.checkpoint_s3_uri = checkpoint_s3_uri
        self.checkpoint_local_path = checkpoint_local_path
        self.use_spot_instances = use_spot_instances
        self.max_wait = max_wait
        self.tags = tags
        self.base_job_name = base_job_name
        self.source: SourceArchive | None = None
        if entry_point is not None and not str(source_dir or "").startswith("s3://"):
            self.source = SourceArchive(entry_point, source_dir, code_location)

    @property
    def script_mode(self) -> bool:
        return self.entry_point is not None

    def set_hyperparameters(self, **kwargs: Any) -> None:
        self._hyperparameters.update(kwargs)

    def hyperparameters(self) -> dict[str, Any]:
        """The user hyperparameters, not yet encoded."""
        return dict(self._hyperparameters)

    def encode(self, value: Any) -> Any:
        """One hyperparameter as the string CreateTrainingJob wants (see module docstring)."""
        if _dynamic(value):
            # The value is only known at run time: stringify it there.
            return States.JsonToString(value) if self.script_mode else States.Format("{}", value)
        if isinstance(value, Encoded):
            return value
        if self.script_mode:
            return json.dumps(value)
        return value if isinstance(value, str) else str(value)

    def encoded_hyperparameters(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {**self._hyperparameters, **(extra or {})}
        out = {str(k): self.encode(v) for k, v in values.items()}
        if self.script_mode:
            assert self.entry_point is not None
            if self.source is not None:
                out["sagemaker_program"] = json.dumps(self.source.program())
                out["sagemaker_submit_directory"] = Encoded(self.source, json.dumps)
            else:
                out["sagemaker_program"] = json.dumps(self.entry_point)
                out["sagemaker_submit_directory"] = json.dumps(self.source_dir)
        return out

    def _output_path(self) -> Any:
        return self.output_path or f"s3://{default_bucket()}/"

    def _definition(self) -> dict[str, Any]:
        """The parts shared by CreateTrainingJob and a tuning job's TrainingJobDefinition."""
        algorithm: dict[str, Any] = {
            "TrainingImage": self.image_uri,
            "TrainingInputMode": self.input_mode,
        }
        if self.metric_definitions:
            algorithm["MetricDefinitions"] = self.metric_definitions
        stopping: dict[str, Any] = {"MaxRuntimeInSeconds": self.max_run}
        if self.max_wait is not None:
            stopping["MaxWaitTimeInSeconds"] = self.max_wait
        out: dict[str, Any] = {
            "AlgorithmSpecification": algorithm,
            "OutputDataConfig": {"S3OutputPath": self._output_path()},
            "StoppingCondition": stopping,
            "ResourceConfig": {
                "VolumeSizeInGB": self.volume_size,
                "InstanceCount": self.instance_count,
                "InstanceType": self.instance_type,
            },
            "RoleArn": self.role,
        }
        if self.environment:
            out["Environment"] = dict(self.environment)
        if self.checkpoint_s3_uri:
            out["CheckpointConfig"] = _drop_none(
                {"S3Uri": self.checkpoint_s3_uri, "LocalPath": self.checkpoint_local_path}
            )
        if self.use_spot_instances:
            out["EnableManagedSpotTraining"] = True
        return out

    def training_request(
        self,
        job_name: str | Placeholder | None = None,
        inputs: Any = None,
        hyperparameters: dict[str, Any] | Placeholder | None = None,
    ) -> dict[str, Any]:
        """A CreateTrainingJob request."""
        request = self._definition()
        config = channels(inputs)
        if config is not None:
            request["InputDataConfig"] = config
        if isinstance(hyperparameters, Placeholder):
            request["HyperParameters"] = hyperparameters
        else:
            encoded = self.encoded_hyperparameters(hyperparameters)
            if encoded:
                request["HyperParameters"] = encoded
        if job_name is not None:
            request["TrainingJobName"] = job_name
        if self.tags:
            request["Tags"] = tags_list(self.tags)
        return request


# -- processing ---------------------------------------------------------------------------
class Processor:
    """A processing job template, like ``sagemaker.processing.Processor``.

    ``inputs``, ``outputs`` and ``arguments`` may be given here or to the step (the step's
    win), which is handy for a processor used by one step only.
    """

    def __init__(
        self,
        image_uri: str | Placeholder,
        role: str | Placeholder | None = None,
        instance_count: int = 1,
        instance_type: str = "ml.m5.large",
        entrypoint: list[str] | None = None,
        volume_size_in_gb: int = 30,
        max_runtime_in_seconds: int | None = None,
        env: dict[str, str] | None = None,
        environment: dict[str, str] | None = None,
        inputs: list[ProcessingInput] | None = None,
        outputs: list[ProcessingOutput] | None = None,
        arguments: list[str] | None = None,
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        base_job_name: str | None = None,
        sagemaker_session: Any = None,
    ) -> None:
        self.image_uri = image_uri
        self.role = role
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.entrypoint = entrypoint
        self.volume_size_in_gb = volume_size_in_gb
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.env = env if env is not None else environment
        self.inputs = inputs
        self.outputs = outputs
        self.arguments = arguments
        self.tags = tags
        self.base_job_name = base_job_name

    def _code_inputs(self) -> list[ProcessingInput]:
        return []

    def _entrypoint(self) -> list[str] | None:
        return self.entrypoint

    def processing_request(
        self,
        job_name: str | Placeholder | None = None,
        inputs: list[ProcessingInput] | None = None,
        outputs: list[ProcessingOutput] | None = None,
        arguments: list[str] | None = None,
        entrypoint: list[str] | None = None,
        kms_key_id: str | None = None,
    ) -> dict[str, Any]:
        """A CreateProcessingJob request."""
        all_inputs = [*(inputs if inputs is not None else self.inputs or []), *self._code_inputs()]
        all_outputs = outputs if outputs is not None else self.outputs or []
        request: dict[str, Any] = {}
        if job_name is not None:
            request["ProcessingJobName"] = job_name
        if all_inputs:
            request["ProcessingInputs"] = [p.to_request(i + 1) for i, p in enumerate(all_inputs)]
        if all_outputs:
            config: dict[str, Any] = {
                "Outputs": [o.to_request(i + 1) for i, o in enumerate(all_outputs)]
            }
            if kms_key_id:
                config["KmsKeyId"] = kms_key_id
            request["ProcessingOutputConfig"] = config
        app: dict[str, Any] = {"ImageUri": self.image_uri}
        args = arguments if arguments is not None else self.arguments
        if args:
            app["ContainerArguments"] = list(args)
        command = entrypoint if entrypoint is not None else self._entrypoint()
        if command:
            app["ContainerEntrypoint"] = list(command)
        request["AppSpecification"] = app
        request["RoleArn"] = self.role
        if self.env:
            request["Environment"] = dict(self.env)
        request["ProcessingResources"] = {
            "ClusterConfig": {
                "InstanceCount": self.instance_count,
                "InstanceType": self.instance_type,
                "VolumeSizeInGB": self.volume_size_in_gb,
            }
        }
        if self.max_runtime_in_seconds:
            request["StoppingCondition"] = {"MaxRuntimeInSeconds": self.max_runtime_in_seconds}
        if self.tags:
            request["Tags"] = tags_list(self.tags)
        return request


class ScriptProcessor(Processor):
    """Run a local script (``code=``) with ``command`` (e.g. ``["python3"]``).

    The script is uploaded (content-addressed) by ``Workflow.create()`` and staged as the
    ``code`` input at ``/opt/ml/processing/input/code``, as the SageMaker SDK does; the
    entrypoint is ``command + [that path]``.  A ``code=`` that is already an ``s3://`` URI is
    used as is.
    """

    def __init__(
        self,
        image_uri: str | Placeholder,
        command: list[str],
        role: str | Placeholder | None = None,
        code: str | None = None,
        code_location: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_uri, role, **kwargs)
        self.command = list(command)
        self.code = code
        self.code_location = code_location

    def _script(self) -> ScriptFile | str | None:
        if self.code is None:
            return None
        if self.code.startswith("s3://"):
            return self.code
        return ScriptFile(self.code, self.code_location)

    def _code_inputs(self) -> list[ProcessingInput]:
        script = self._script()
        if script is None:
            return []
        return [ProcessingInput(source=script, destination=CODE_INPUT_DIR, input_name="code")]

    def _entrypoint(self) -> list[str] | None:
        if self.code is None:
            return self.entrypoint or self.command
        name = PurePosixPath(self.code).name
        return [*self.command, f"{CODE_INPUT_DIR}/{name}"]


# -- models, transform, tuning ----------------------------------------------------------
class Model:
    """A model for CreateModel, like ``sagemaker.model.Model``."""

    def __init__(
        self,
        image_uri: str | Placeholder,
        model_data: str | Placeholder | None = None,
        role: str | Placeholder | None = None,
        env: dict[str, str] | None = None,
        name: str | Placeholder | None = None,
        sagemaker_session: Any = None,
    ) -> None:
        self.image_uri = image_uri
        self.model_data = model_data
        self.role = role
        self.env = env if env is not None else {}
        self.name = name

    def model_request(self, model_name: str | Placeholder | None = None) -> dict[str, Any]:
        """A CreateModel request."""
        container: dict[str, Any] = {"Environment": dict(self.env), "Image": self.image_uri}
        if self.model_data is not None:
            container["ModelDataUrl"] = self.model_data
        return {
            "ExecutionRoleArn": self.role,
            "ModelName": model_name or self.name,
            "PrimaryContainer": container,
        }


class Transformer:
    """A batch transform template, like ``sagemaker.transformer.Transformer``."""

    def __init__(
        self,
        model_name: str | Placeholder,
        instance_count: int = 1,
        instance_type: str = "ml.m5.large",
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_path: str | Placeholder | None = None,
        output_kms_key: str | None = None,
        accept: str | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: int | None = None,
        env: dict[str, str] | None = None,
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        base_transform_job_name: str | None = None,
        sagemaker_session: Any = None,
    ) -> None:
        self.model_name = model_name
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.strategy = strategy
        self.assemble_with = assemble_with
        self.output_path = output_path
        self.output_kms_key = output_kms_key
        self.accept = accept
        self.max_concurrent_transforms = max_concurrent_transforms
        self.max_payload = max_payload
        self.env = env
        self.tags = tags

    def transform_request(
        self,
        data: str | Placeholder,
        job_name: str | Placeholder | None = None,
        model_name: str | Placeholder | None = None,
        data_type: str = "S3Prefix",
        content_type: str | None = None,
        compression_type: str | None = None,
        split_type: str | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        join_source: str | None = None,
    ) -> dict[str, Any]:
        """A CreateTransformJob request."""
        transform_input: dict[str, Any] = {
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": data}}
        }
        transform_input.update(
            _drop_none(
                {
                    "ContentType": content_type,
                    "CompressionType": compression_type,
                    "SplitType": split_type,
                }
            )
        )
        output = _drop_none(
            {
                "S3OutputPath": self.output_path or f"s3://{default_bucket()}/stepline/transform",
                "AssembleWith": self.assemble_with,
                "Accept": self.accept,
                "KmsKeyId": self.output_kms_key,
            }
        )
        request: dict[str, Any] = {}
        if job_name is not None:
            request["TransformJobName"] = job_name
        request["ModelName"] = model_name or self.model_name
        request["TransformInput"] = transform_input
        request["TransformOutput"] = output
        request["TransformResources"] = {
            "InstanceCount": self.instance_count,
            "InstanceType": self.instance_type,
        }
        request.update(
            _drop_none(
                {
                    "BatchStrategy": self.strategy,
                    "MaxConcurrentTransforms": self.max_concurrent_transforms,
                    "MaxPayloadInMB": self.max_payload,
                    "Environment": self.env,
                }
            )
        )
        processing = _drop_none(
            {"InputFilter": input_filter, "OutputFilter": output_filter, "JoinSource": join_source}
        )
        if processing:
            request["DataProcessing"] = processing
        if self.tags:
            request["Tags"] = tags_list(self.tags)
        return request


class _Range:
    kind = ""

    def __init__(self, min_value: Any, max_value: Any, scaling_type: str = "Auto") -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.scaling_type = scaling_type

    def as_range(self, name: str, encode: Callable[[Any], Any]) -> dict[str, Any]:
        return {
            "Name": name,
            "MinValue": str(self.min_value),
            "MaxValue": str(self.max_value),
            "ScalingType": self.scaling_type,
        }


class ContinuousParameter(_Range):
    kind = "Continuous"


class IntegerParameter(_Range):
    kind = "Integer"


class CategoricalParameter:
    kind = "Categorical"

    def __init__(self, values: list[Any]) -> None:
        self.values = list(values) if isinstance(values, list | tuple) else [values]

    def as_range(self, name: str, encode: Callable[[Any], Any]) -> dict[str, Any]:
        return {"Name": name, "Values": [encode(v) for v in self.values]}


class HyperparameterTuner:
    """A tuning job template, like ``sagemaker.tuner.HyperparameterTuner``."""

    def __init__(
        self,
        estimator: Estimator,
        objective_metric_name: str,
        hyperparameter_ranges: dict[str, _Range | CategoricalParameter],
        metric_definitions: list[dict[str, str]] | None = None,
        strategy: str = "Bayesian",
        objective_type: str = "Maximize",
        max_jobs: int = 1,
        max_parallel_jobs: int = 1,
        early_stopping_type: str = "Off",
        tags: dict[str, str] | list[dict[str, str]] | None = None,
        base_tuning_job_name: str | None = None,
        max_runtime_in_seconds: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.objective_metric_name = objective_metric_name
        self.hyperparameter_ranges = hyperparameter_ranges
        self.metric_definitions = metric_definitions
        self.strategy = strategy
        self.objective_type = objective_type
        self.max_jobs = max_jobs
        self.max_parallel_jobs = max_parallel_jobs
        self.early_stopping_type = early_stopping_type
        self.tags = tags
        self.max_runtime_in_seconds = max_runtime_in_seconds

    def tuning_request(
        self, job_name: str | Placeholder | None = None, inputs: Any = None
    ) -> dict[str, Any]:
        """A CreateHyperParameterTuningJob request."""
        ranges: dict[str, list] = {
            "ContinuousParameterRanges": [],
            "CategoricalParameterRanges": [],
            "IntegerParameterRanges": [],
        }
        for name, parameter in self.hyperparameter_ranges.items():
            encode = self.estimator.encode
            ranges[f"{parameter.kind}ParameterRanges"].append(parameter.as_range(name, encode))
        limits: dict[str, Any] = {
            "MaxNumberOfTrainingJobs": self.max_jobs,
            "MaxParallelTrainingJobs": self.max_parallel_jobs,
        }
        if self.max_runtime_in_seconds:
            limits["MaxRuntimeInSeconds"] = self.max_runtime_in_seconds
        config = {
            "Strategy": self.strategy,
            "ResourceLimits": limits,
            "TrainingJobEarlyStoppingType": self.early_stopping_type,
            "HyperParameterTuningJobObjective": {
                "Type": self.objective_type,
                "MetricName": self.objective_metric_name,
            },
            "ParameterRanges": ranges,
        }
        definition = self.estimator._definition()
        if self.metric_definitions:
            definition["AlgorithmSpecification"]["MetricDefinitions"] = self.metric_definitions
        data = channels(inputs)
        if data is not None:
            definition["InputDataConfig"] = data
        tuned = set(self.hyperparameter_ranges)
        static = {
            k: v for k, v in self.estimator.encoded_hyperparameters().items() if k not in tuned
        }
        if static:
            definition["StaticHyperParameters"] = static
        request: dict[str, Any] = {}
        if job_name is not None:
            request["HyperParameterTuningJobName"] = job_name
        request["HyperParameterTuningJobConfig"] = config
        request["TrainingJobDefinition"] = definition
        if self.tags:
            request["Tags"] = tags_list(self.tags)
        return request


__all__ = [
    "CategoricalParameter",
    "ContinuousParameter",
    "Estimator",
    "HyperparameterTuner",
    "IntegerParameter",
    "Model",
    "ProcessingInput",
    "ProcessingOutput",
    "Processor",
    "ScriptProcessor",
    "TrainingInput",
    "Transformer",
    "tags_list",
]
