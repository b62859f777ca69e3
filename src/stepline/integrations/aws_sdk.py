"""AWS SDK service integrations for SageMaker's read calls: ``arn:aws:states:::aws-sdk:
sagemaker:describeEndpoint`` and friends, through the SageMaker service layer.

Step Functions users poll with these (a Wait → describe → Choice loop until an endpoint is
``InService``), because ``createEndpoint`` has no ``.sync`` form.  Parameters and results
are the API's own; errors are ``SageMaker.<ErrorCode>`` as the AWS SDK integration names
them (a missing endpoint is ``SageMaker.ValidationException``, as on AWS), so a Retry or
Catch written for AWS matches here too.
"""

from __future__ import annotations

import re
from typing import Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.integrations._params import object_params

_RESOURCE = re.compile(r"^arn:[a-z-]+:states:::aws-sdk:sagemaker:((?:describe|list)[A-Za-z]+)$")


def _operation(action: str) -> str | None:
    from stepline import sagemaker

    operation = action[0].upper() + action[1:]
    return operation if operation in sagemaker.OPERATIONS else None


class AwsSdkSageMakerIntegration:
    """SageMaker's Describe* and List* calls through the AWS SDK integration's ARNs."""

    #: The resources it runs, for the router's error on an unknown one.
    family = "arn:aws:states:::aws-sdk:sagemaker:describe*/list*"

    def matches(self, resource: str) -> bool:
        match = _RESOURCE.match(resource)
        return bool(match) and _operation(match.group(1)) is not None

    def invoke(self, request: TaskRequest) -> Any:
        from stepline import sagemaker
        from stepline.integrations.sagemaker import to_sfn_json

        match = _RESOURCE.match(request.resource)
        assert match is not None
        operation = _operation(match.group(1))
        assert operation is not None
        params = object_params(request)
        try:
            return to_sfn_json(sagemaker.call(operation, params, coerce_scalars=True))
        except sagemaker.SageMakerError as exc:
            raise StatesError(f"SageMaker.{exc.code}", exc.message, in_state=False) from None
