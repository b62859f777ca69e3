"""SageMaker steps with the Data Science SDK's signatures.

Each step is a Task whose ``Resource`` is the SageMaker service integration
(``arn:aws:states:::sagemaker:createTrainingJob.sync`` ...) and whose ``Parameters`` are the
API request built by a job builder from :mod:`stepline.sdk.jobs` (or ``None``: then pass the
request as ``parameters=``).  A ``parameters=`` dict is always deep-merged on top, as in the
DS SDK, so any field the builders do not know can still be set.
"""

from __future__ import annotations

import copy
from typing import Any

from stepline.sdk.jobs import Estimator, HyperparameterTuner, Model, Processor, Transformer
from stepline.sdk.jobs import tags_list as _tags
from stepline.sdk.placeholders import Placeholder
from stepline.sdk.states import Task

SAGEMAKER = "arn:aws:states:::sagemaker:"


def sagemaker_arn(api: str, wait_for_completion: bool = False) -> str:
    """``arn:aws:states:::sagemaker:<api>[.sync]``."""
    return f"{SAGEMAKER}{api}{'.sync' if wait_for_completion else ''}"


def merge_dicts(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``source`` into ``target`` (dicts merge, anything else replaces)."""
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_dicts(target[key], value)
        else:
            target[key] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return target


def _finish(request: dict[str, Any], tags: Any, kwargs: dict[str, Any]) -> None:
    if tags:
        request["Tags"] = _tags(tags)
    extra = kwargs.get("parameters")
    if isinstance(extra, dict):
        merge_dicts(request, extra)
    kwargs["parameters"] = request


class TrainingStep(Task):
    """CreateTrainingJob; ``.sync`` unless ``wait_for_completion=False``."""

    def __init__(
        self,
        state_id: str,
        estimator: Estimator | None,
        job_name: str | Placeholder | None,
        data: Any = None,
        hyperparameters: dict[str, Any] | Placeholder | None = None,
        mini_batch_size: int | None = None,
        experiment_config: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        tags: dict[str, str] | list | Placeholder | None = None,
        output_data_config_path: str | Placeholder | None = None,
        **kwargs: Any,
    ) -> None:
        self.estimator = estimator
        self.job_name = job_name
        kwargs["resource"] = sagemaker_arn("createTrainingJob", wait_for_completion)
        request: dict[str, Any] = {}
        if estimator is not None:
            extra = (
                hyperparameters
                if isinstance(hyperparameters, Placeholder)
                else dict(hyperparameters or {})
            )
            if mini_batch_size is not None and isinstance(extra, dict):
                extra["mini_batch_size"] = mini_batch_size
            request = estimator.training_request(job_name, data, extra)
            if output_data_config_path is not None:
                request["OutputDataConfig"]["S3OutputPath"] = output_data_config_path
        elif job_name is not None:
            request["TrainingJobName"] = job_name
        if experiment_config is not None:
            request["ExperimentConfig"] = experiment_config
        _finish(request, tags, kwargs)
        super().__init__(state_id, **kwargs)

    def get_expected_model(self, model_name: str | Placeholder | None = None) -> Model:
        """The model this job will produce: its artifacts come from this step's output."""
        if self.estimator is None:
            raise ValueError("get_expected_model needs the step's estimator")
        return Model(
            image_uri=self.estimator.image_uri,
            model_data=self.output()["ModelArtifacts"]["S3ModelArtifacts"],
            role=self.estimator.role,
            env=dict(self.estimator.environment or {}),
            name=model_name or self.job_name,
        )


class ProcessingStep(Task):
    """CreateProcessingJob; ``.sync`` unless ``wait_for_completion=False``."""

    def __init__(
        self,
        state_id: str,
        processor: Processor | None,
        job_name: str | Placeholder | None,
        inputs: list | None = None,
        outputs: list | None = None,
        experiment_config: dict[str, Any] | None = None,
        container_arguments: list[str] | None = None,
        container_entrypoint: list[str] | None = None,
        kms_key_id: str | None = None,
        wait_for_completion: bool = True,
        tags: dict[str, str] | list | Placeholder | None = None,
        **kwargs: Any,
    ) -> None:
        self.processor = processor
        kwargs["resource"] = sagemaker_arn("createProcessingJob", wait_for_completion)
        request: dict[str, Any] = {}
        if processor is not None:
            request = processor.processing_request(
                job_name, inputs, outputs, container_arguments, container_entrypoint, kms_key_id
            )
        elif job_name is not None:
            request["ProcessingJobName"] = job_name
        if experiment_config is not None:
            request["ExperimentConfig"] = experiment_config
        _finish(request, tags, kwargs)
        super().__init__(state_id, **kwargs)


class TransformStep(Task):
    """CreateTransformJob; ``model_name`` overrides the transformer's."""

    def __init__(
        self,
        state_id: str,
        transformer: Transformer | None,
        job_name: str | Placeholder | None,
        model_name: str | Placeholder | None,
        data: str | Placeholder | None = None,
        data_type: str = "S3Prefix",
        content_type: str | None = None,
        compression_type: str | None = None,
        split_type: str | None = None,
        experiment_config: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        tags: dict[str, str] | list | Placeholder | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        join_source: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["resource"] = sagemaker_arn("createTransformJob", wait_for_completion)
        request: dict[str, Any] = {}
        if transformer is not None:
            request = transformer.transform_request(
                data,
                job_name,
                model_name,
                data_type,
                content_type,
                compression_type,
                split_type,
                input_filter,
                output_filter,
                join_source,
            )
        else:
            request = {"TransformJobName": job_name, "ModelName": model_name}
        if experiment_config is not None:
            request["ExperimentConfig"] = experiment_config
        _finish(request, tags, kwargs)
        super().__init__(state_id, **kwargs)


class TuningStep(Task):
    """CreateHyperParameterTuningJob; ``.sync`` unless ``wait_for_completion=False``."""

    def __init__(
        self,
        state_id: str,
        tuner: HyperparameterTuner | None,
        job_name: str | Placeholder | None,
        data: Any = None,
        wait_for_completion: bool = True,
        tags: dict[str, str] | list | Placeholder | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["resource"] = sagemaker_arn("createHyperParameterTuningJob", wait_for_completion)
        if tuner is not None:
            request = tuner.tuning_request(job_name, data)
        else:
            request = {"HyperParameterTuningJobName": job_name}
        _finish(request, tags, kwargs)
        super().__init__(state_id, **kwargs)


class ModelStep(Task):
    """CreateModel from a :class:`~stepline.sdk.jobs.Model` (or ``parameters=``)."""

    def __init__(
        self,
        state_id: str,
        model: Model | None,
        model_name: str | Placeholder | None = None,
        instance_type: str | None = None,
        tags: dict[str, str] | list | Placeholder | None = None,
        **kwargs: Any,
    ) -> None:
        if model is not None and not isinstance(model, Model):
            raise ValueError(
                "Expected 'model' parameter to be of type 'stepline.sdk.jobs.Model', but "
                f"received type '{type(model).__name__}'"
            )
        request = model.model_request(model_name) if model is not None else {}
        if model is None and model_name is not None:
            request["ModelName"] = model_name
        _finish(request, tags, kwargs)
        kwargs["resource"] = sagemaker_arn("createModel")
        super().__init__(state_id, **kwargs)


class EndpointConfigStep(Task):
    """CreateEndpointConfig with one production variant."""

    def __init__(
        self,
        state_id: str,
        endpoint_config_name: str | Placeholder,
        model_name: str | Placeholder,
        initial_instance_count: int,
        instance_type: str,
        variant_name: str = "AllTraffic",
        data_capture_config: dict[str, Any] | None = None,
        tags: dict[str, str] | list | None = None,
        **kwargs: Any,
    ) -> None:
        request: dict[str, Any] = {
            "EndpointConfigName": endpoint_config_name,
            "ProductionVariants": [
                {
                    "InitialInstanceCount": initial_instance_count,
                    "InstanceType": instance_type,
                    "ModelName": model_name,
                    "VariantName": variant_name,
                }
            ],
        }
        if data_capture_config is not None:
            request["DataCaptureConfig"] = data_capture_config
        _finish(request, tags, kwargs)
        kwargs["resource"] = sagemaker_arn("createEndpointConfig")
        super().__init__(state_id, **kwargs)


class EndpointStep(Task):
    """CreateEndpoint, or UpdateEndpoint with ``update=True``."""

    def __init__(
        self,
        state_id: str,
        endpoint_name: str | Placeholder,
        endpoint_config_name: str | Placeholder,
        tags: dict[str, str] | list | None = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        request = {"EndpointConfigName": endpoint_config_name, "EndpointName": endpoint_name}
        _finish(request, tags, kwargs)
        kwargs["resource"] = sagemaker_arn("updateEndpoint" if update else "createEndpoint")
        super().__init__(state_id, **kwargs)
