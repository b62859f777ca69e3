"""AWS SDK service integrations for SageMaker's read calls: ``arn:aws:states:::aws-sdk:
sagemaker:describeEndpoint`` and friends.

Step Functions users poll with these (a Wait → describe → Choice loop until an endpoint is
``InService``), because ``createEndpoint`` has no ``.sync`` form.  Parameters and results
are the API's own; errors are ``SageMaker.<ErrorCode>`` as the AWS SDK integration names
them, so a Retry or Catch written for AWS matches here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest

_RESOURCE = re.compile(r"^arn:[a-z-]+:states:::aws-sdk:sagemaker:([A-Za-z]+)$")


def _calls() -> dict[str, tuple[str, Callable[[str], Any]]]:
    """API action → (the parameter naming the resource, the describe function)."""
    from stepline import jobs, serving, tuning

    return {
        "describeEndpoint": ("EndpointName", serving.describe_endpoint),
        "describeEndpointConfig": ("EndpointConfigName", serving.describe_endpoint_config),
        "describeModel": ("ModelName", serving.describe_model),
        "describeTrainingJob": ("TrainingJobName", jobs.describe_training_job),
        "describeProcessingJob": ("ProcessingJobName", jobs.describe_processing_job),
        "describeTransformJob": ("TransformJobName", jobs.describe_transform_job),
        "describeHyperParameterTuningJob": (
            "HyperParameterTuningJobName",
            tuning.describe_hyper_parameter_tuning_job,
        ),
    }


class AwsSdkSageMakerIntegration:
    """The SageMaker describe calls through the AWS SDK integration's ARNs."""

    def matches(self, resource: str) -> bool:
        match = _RESOURCE.match(resource)
        return bool(match) and match.group(1) in _calls()

    def invoke(self, request: TaskRequest) -> Any:
        from stepline.integrations.sagemaker import _to_sfn_json
        from stepline.jobs.errors import SageMakerError

        match = _RESOURCE.match(request.resource)
        assert match is not None
        field, describe = _calls()[match.group(1)]
        params = request.parameters if isinstance(request.parameters, dict) else {}
        name = params.get(field)
        if not isinstance(name, str) or not name:
            raise StatesError(
                "SageMaker.ValidationException",
                f"{match.group(1)} needs the parameter {field}",
                in_state=False,
            )
        try:
            return _to_sfn_json(describe(name))
        except SageMakerError as exc:
            raise StatesError(f"SageMaker.{exc.code}", exc.message, in_state=False) from None
        except KeyError as exc:
            raise StatesError(
                "SageMaker.ValidationException",
                f"Could not find {field} {name!r}: {exc}",
                in_state=False,
            ) from None
