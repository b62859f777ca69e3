"""SageMaker Runtime's place in the registry.

InvokeEndpoint (``POST /endpoints/NAME/invocations``) never reaches the gateway: the router
answers it on its event loop, before any AWS request parsing, which keeps invocations at the
router's sub-millisecond cost (see ``serving/router.py``).  What does reach the gateway on that
path (another method, a query string) is answered here, in rest-json's error shape, instead of
falling through to SageMaker's JSON control plane, which shares the signing name "sagemaker".
"""

from __future__ import annotations

from stepline.awsapi._base import AwsError, AwsRequest, AwsResponse


class RuntimeService:
    """The part of SageMaker Runtime the router does not serve: only errors."""

    name = "sagemaker-runtime"

    def accepts(self, req: AwsRequest) -> bool:
        return req.service == "sagemaker" and req.path.startswith("/endpoints/")

    def handle(self, req: AwsRequest) -> AwsResponse:
        if req.path.endswith("/invocations"):
            raise AwsError(
                "UnknownOperationException",
                f"InvokeEndpoint is POST {req.path} without a query string; got {req.method}",
                404,
            )
        raise AwsError(
            "UnknownOperationException",
            f"SageMaker Runtime on stepline serves POST /endpoints/NAME/invocations only "
            f"(got {req.method} {req.path})",
            404,
        )


SERVICE = RuntimeService()
