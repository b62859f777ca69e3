"""Task: hand parameters to an integration and shape what comes back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepline.asl import errors as E
from stepline.asl.errors import StatesError
from stepline.asl.states.base import JSONATA, NO_VALUE, RetryingState, StateGen, dumps
from stepline.asl.states.fields import RESULT_IO, RETRYING, Fields, f, is_int, ptr

if TYPE_CHECKING:
    from stepline.asl.program import Fiber
    from stepline.asl.validate import Validator

DEFAULT_TIMEOUT = 99999999


def resource_parts(resource: str) -> tuple[str, str, bool]:
    """(resourceType, resource, is_lambda_function) as AWS names them in history events."""
    parts = resource.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return "lambda", resource, True
    if len(parts) >= 7 and parts[2] == "states":
        return parts[5], ":".join(parts[6:]), False
    return parts[2] if len(parts) > 2 else "unknown", resource, False


class TaskState(RetryingState):
    """Runs a Resource through the program's task port, with Retry, Catch and timeouts."""

    type = "Task"
    fields = Fields(
        both=RETRYING | f("Resource", "Credentials") | f("TimeoutSeconds", "HeartbeatSeconds"),
        jsonpath=RESULT_IO | f("TimeoutSecondsPath", "HeartbeatSecondsPath"),
        jsonata=f("Arguments", "Output"),
        required=("Resource",),
        transitions=True,
    )

    @classmethod
    def check(cls, v: Validator, state: dict, path: str, lang: str, edges: list) -> None:
        """TimeoutSeconds/HeartbeatSeconds exclude their *Path forms; heartbeat < timeout."""
        v.path_forms_exclusive(state, path, lang, ("TimeoutSeconds", "HeartbeatSeconds"))
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if is_int(timeout) and is_int(heartbeat) and heartbeat >= timeout:
            v.add(ptr(path, "HeartbeatSeconds"), "must be smaller than TimeoutSeconds")

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        self.resource: str = spec["Resource"]
        self.resource_type, self.resource_name, self.is_lambda = resource_parts(self.resource)
        self.compile_fields("TimeoutSeconds", "HeartbeatSeconds")
        self.credentials = spec.get("Credentials")

    def attempt(self, fiber: Fiber, raw_input: Any) -> StateGen:
        from stepline.asl.program import Invoke

        token = None
        if self.resource.endswith(".waitForTaskToken"):
            # $$.Task.Token: the same attempt always gets the same token (resume-safe).
            attempt = sum(fiber.retry_counts.values())
            token = f"{fiber.program.info.execution_arn}#{fiber.id}#{fiber.visit}#{attempt}#cb"
            fiber.context = {**fiber.context, "Task": {"Token": token}}
        if self.query_language == JSONATA:
            if self.arguments is not None:
                states = fiber.states_var(raw_input, None)
                parameters = self.arguments.render(states, fiber.variables)
            else:
                parameters = raw_input
        else:
            parameters = self.effective_input(fiber, raw_input)
        timeout = self._seconds(fiber, "TimeoutSeconds", raw_input)
        heartbeat = self._seconds(fiber, "HeartbeatSeconds", raw_input)
        self.check_input_size(fiber, parameters)
        self._emit_scheduled(fiber, parameters, timeout, heartbeat)
        status, value = yield Invoke(
            self.resource,
            parameters,
            self.name,
            timeout=timeout,
            heartbeat=heartbeat,
            credentials=self.credentials,
            token=token,
        )
        if status == "err":
            self._emit_failed(fiber, value)
            raise value
        try:
            self.check_size(fiber, value)
        except StatesError as err:
            # Recorded as the task's failure: the history never holds a result over the quota.
            self._emit_failed(fiber, err)
            raise
        self._emit_succeeded(fiber, value)
        return self.finish(fiber, raw_input, value)

    def _seconds(self, fiber: Fiber, name: str, raw_input: Any) -> float | None:
        value = self.field_value(fiber, name, raw_input, raw_input)
        if value is NO_VALUE:
            return DEFAULT_TIMEOUT if name == "TimeoutSeconds" else None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise StatesError(
                E.RUNTIME,
                f"The {name} field must be a positive integer, got: {dumps(value)}",
            )
        return float(value)

    # -- events ----------------------------------------------------------------------------
    def _emit_scheduled(
        self, fiber: Fiber, parameters: Any, timeout: float | None, heartbeat: float | None
    ) -> None:
        if self.is_lambda:
            details: dict[str, Any] = {
                "resource": self.resource,
                "input": dumps(parameters),
                "inputDetails": {"truncated": False},
            }
            if timeout is not None and timeout != DEFAULT_TIMEOUT:
                details["timeoutInSeconds"] = int(timeout)
            fiber.emit("LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails", **details)
            fiber.emit("LambdaFunctionStarted")
            return
        details = {
            "resourceType": self.resource_type,
            "resource": self.resource_name,
            "region": fiber.program.info.execution_arn.split(":")[3],
            "parameters": dumps(parameters),
        }
        if timeout is not None and timeout != DEFAULT_TIMEOUT:
            details["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            details["heartbeatInSeconds"] = int(heartbeat)
        fiber.emit("TaskScheduled", "taskScheduledEventDetails", **details)
        fiber.emit(
            "TaskStarted",
            "taskStartedEventDetails",
            resourceType=self.resource_type,
            resource=self.resource_name,
        )

    def _emit_succeeded(self, fiber: Fiber, value: Any) -> None:
        output = {"output": dumps(value), "outputDetails": {"truncated": False}}
        if self.is_lambda:
            fiber.emit("LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails", **output)
            return
        fiber.emit(
            "TaskSucceeded",
            "taskSucceededEventDetails",
            resourceType=self.resource_type,
            resource=self.resource_name,
            **output,
        )

    def _emit_failed(self, fiber: Fiber, err: StatesError) -> None:
        details: dict[str, Any] = {"error": err.error}
        if err.cause is not None:
            details["cause"] = err.cause
        if err.error == E.TIMEOUT:
            if self.is_lambda:
                fiber.emit(
                    "LambdaFunctionTimedOut", "lambdaFunctionTimedOutEventDetails", **details
                )
            else:
                fiber.emit(
                    "TaskTimedOut",
                    "taskTimedOutEventDetails",
                    resourceType=self.resource_type,
                    resource=self.resource_name,
                    **details,
                )
            return
        if self.is_lambda:
            fiber.emit("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails", **details)
            return
        fiber.emit(
            "TaskFailed",
            "taskFailedEventDetails",
            resourceType=self.resource_type,
            resource=self.resource_name,
            **details,
        )
