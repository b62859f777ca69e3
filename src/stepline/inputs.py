"""``stepfunctions.inputs`` under its stepline name, so DS SDK imports port unchanged."""

from stepline.sdk.placeholders import ExecutionInput, StepInput

__all__ = ["ExecutionInput", "StepInput"]
