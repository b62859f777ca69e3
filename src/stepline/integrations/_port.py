"""The task port: the registry of integrations and the router that hands each Task to the
first one whose ``matches`` accepts its resource.

Why a plain list: the order is the precedence (a specific resource before the catch-all
``.waitForTaskToken``), and adding an integration is one ``append``.
"""

from __future__ import annotations

from typing import Any, Protocol

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.integrations.aws_sdk import AwsSdkSageMakerIntegration
from stepline.integrations.callback import CallbackIntegration
from stepline.integrations.lambda_ import LambdaIntegration
from stepline.integrations.s3 import S3Integration
from stepline.integrations.sagemaker import SageMakerIntegration
from stepline.integrations.states import StatesIntegration


class Integration(Protocol):
    """One family of Task resources."""

    #: The resources it runs, in words (the router's error on an unknown resource lists them).
    family: str

    def matches(self, resource: str) -> bool: ...

    def invoke(self, request: TaskRequest) -> Any: ...


#: The registry, consulted in order.  Append to add an integration.
INTEGRATIONS: list[Integration] = [LambdaIntegration(), StatesIntegration()]
INTEGRATIONS.append(SageMakerIntegration())
INTEGRATIONS.append(S3Integration())
INTEGRATIONS.append(AwsSdkSageMakerIntegration())
INTEGRATIONS.append(CallbackIntegration())


class Router:
    """The task port that dispatches each Task to the first integration that matches."""

    def __init__(self, integrations: list[Integration] | None = None, **options: Any) -> None:
        self.integrations = list(INTEGRATIONS if integrations is None else integrations)
        self.options = options

    def invoke(self, request: TaskRequest) -> Any:
        for integration in self.integrations:
            if integration.matches(request.resource):
                return integration.invoke(request)
        known = "; ".join(getattr(i, "family", type(i).__name__) for i in self.integrations)
        raise StatesError(
            "States.Runtime",
            f"No integration is registered for resource '{request.resource}'. Known resource "
            f"families: {known}.",
            in_state=False,
        )


def default_task_port(**options: Any) -> Router:
    """The router over every registered integration."""
    return Router(**options)
