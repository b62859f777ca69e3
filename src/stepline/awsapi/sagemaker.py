"""SageMaker's control-plane API (awsJson1_1, ``SageMaker.*``) over the SageMaker service
layer (:mod:`stepline.sagemaker`).

Why so thin: the layer already checks requests against botocore's model, owns response
shapes, error names and messages and ARNs, and is what the Step Functions integrations, the
CLI and the console call; this module only maps its errors to the wire and lets
:class:`~stepline.awsapi._jsonproto.JsonService` serialise (timestamps as epoch seconds).
Jobs created here run as every stepline job runs (a detached supervisor per job) and land in
the same records ``stepline jobs`` and the console show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepline import sagemaker
from stepline.awsapi._base import AwsError
from stepline.awsapi._jsonproto import JsonService


def _operation(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def run(params: dict[str, Any]) -> dict[str, Any]:
        try:
            return sagemaker.call(name, params)
        except sagemaker.SageMakerError as exc:
            raise AwsError(exc.code, exc.message, exc.status) from None

    return run


SERVICE = JsonService(
    "sagemaker",
    "sagemaker",
    "SageMaker",
    {name: _operation(name) for name in sagemaker.OPERATIONS},
    validate=False,  # the layer checks every request against the same model
)
