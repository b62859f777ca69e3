"""States that finish in one step: Pass, Succeed and Fail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepline.asl import errors as E
from stepline.asl.errors import StatesError
from stepline.asl.states.base import JSONATA, NO_VALUE, State, StateGen, Transition, json_size
from stepline.asl.states.fields import COMMON, FLOW, IO_PATHS, Fields, f

if TYPE_CHECKING:
    from stepline.asl.program import Fiber
    from stepline.asl.validate import Validator


class PassState(State):
    """Passes its input (or ``Result``) to its output, reshaped by the usual fields."""

    type = "Pass"
    fields = Fields(
        both=COMMON | FLOW,
        jsonpath=IO_PATHS | f("Parameters", "ResultPath", "Result"),
        jsonata=f("Output"),
        transitions=True,
    )

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        self.result = spec.get("Result", NO_VALUE)
        self.result_size = json_size(self.result) if self.result is not NO_VALUE else 0

    def run(self, fiber: Fiber, raw_input: Any) -> StateGen:
        if self.result_size > fiber.program.limits.payload_bytes:
            self.check_size(fiber, self.result)
        if self.query_language == JSONATA:
            return self.finish(fiber, raw_input, raw_input)
        effective = self.effective_input(fiber, raw_input)
        result = effective if self.result is NO_VALUE else self.result
        return self.finish(fiber, raw_input, result)
        yield  # noqa: B901 - makes run() a generator like every other state


class SucceedState(State):
    """Ends the branch successfully."""

    type = "Succeed"
    fields = Fields(both=COMMON, jsonpath=IO_PATHS, jsonata=f("Output"))
    terminal = True

    def run(self, fiber: Fiber, raw_input: Any) -> StateGen:
        return Transition(None, self.passthrough(fiber, raw_input))
        yield  # noqa: B901


class FailState(State):
    """Ends the branch with an error; Error/Cause may come from paths or JSONata."""

    type = "Fail"
    emits_exit = False
    fields = Fields(
        both=COMMON | f("Error", "Cause"), jsonpath=f("ErrorPath", "CausePath"), jsonata=f()
    )
    terminal = True

    @classmethod
    def check(cls, v: Validator, state: dict, path: str, lang: str, edges: list) -> None:
        """Error and Cause exclude their *Path forms."""
        v.path_forms_exclusive(state, path, lang, ("Error", "Cause"))

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        self.compile_fields("Error", "Cause")

    def run(self, fiber: Fiber, raw_input: Any) -> StateGen:
        error = self._text(fiber, "Error", raw_input)
        cause = self._text(fiber, "Cause", raw_input)
        raise StatesError(error, cause, in_state=False)
        yield  # noqa: B901

    def _text(self, fiber: Fiber, name: str, raw_input: Any) -> Any:
        value = self.field_value(fiber, name, raw_input, raw_input)
        if value is NO_VALUE:
            return None
        if not isinstance(value, str):
            raise StatesError(
                E.RUNTIME if self.query_language != JSONATA else E.QUERY_EVALUATION_ERROR,
                f"The {name}Path field must resolve to a string, got: {value!r}",
            )
        return value

    def missing_path_message(self, field: str, expr: str, data: Any) -> str:
        return f"Invalid path '{expr}' : No results for path: {expr}"
