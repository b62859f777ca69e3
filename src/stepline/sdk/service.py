"""Non-SageMaker service steps: local functions and nested workflows.

``LambdaStep`` keeps the DS SDK's shape (``parameters={"FunctionName": ..., "Payload": ...}``,
resource ``arn:aws:states:::lambda:invoke``); locally the function is a Python callable
registered with :func:`stepline.integrations.register_function`, so the same definition runs
here and, with a real Lambda of that name, on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepline.sdk.states import Task


class LambdaStep(Task):
    """Invoke a function; ``function=`` registers a Python callable under its name."""

    def __init__(
        self,
        state_id: str,
        wait_for_callback: bool = False,
        *,
        function: Callable[..., Any] | None = None,
        function_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        suffix = ".waitForTaskToken" if wait_for_callback else ""
        kwargs["resource"] = f"arn:aws:states:::lambda:invoke{suffix}"
        if function is not None or function_name is not None:
            name = function_name or getattr(function, "__name__", None)
            if not name:
                raise ValueError("LambdaStep(function=...) needs a function_name for this callable")
            if function is not None:
                from stepline.integrations import register_function

                register_function(name, function)
            params = dict(kwargs.get("parameters") or {})
            params.setdefault("FunctionName", name)
            if "Payload" not in params and "Payload.$" not in params:
                params["Payload.$"] = "$"
            kwargs["parameters"] = params
        super().__init__(state_id, **kwargs)


class StepFunctionsStartExecutionStep(Task):
    """Start a nested workflow (``states:startExecution``, ``.sync:2`` by default)."""

    def __init__(self, state_id: str, integration_pattern: str = "sync", **kwargs: Any) -> None:
        suffix = {"sync": ".sync:2", "callback": ".waitForTaskToken", "none": ""}
        if integration_pattern not in suffix:
            raise ValueError(f"integration_pattern must be one of {sorted(suffix)}")
        kwargs["resource"] = f"arn:aws:states:::states:startExecution{suffix[integration_pattern]}"
        super().__init__(state_id, **kwargs)
