"""Wait: park the branch for some seconds or until a timestamp."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stepline.asl import errors as E
from stepline.asl.errors import StatesError
from stepline.asl.paths import PathNotFound
from stepline.asl.states.base import JSONATA, NO_VALUE, State, StateGen, Transition, dumps
from stepline.asl.states.fields import COMMON, FLOW, IO_PATHS, Fields, f

if TYPE_CHECKING:
    from stepline.asl.program import Fiber
    from stepline.asl.validate import Validator

# ISO-8601 extended offset date-time, the only form AWS accepts ("2016-03-14T01:59:00Z").
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


#: The latest instant a Wait can name: 9999-12-31T23:59:59Z (RFC 3339 years have 4 digits).
MAX_WAIT_UNTIL = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def parse_timestamp(text: Any) -> float | None:
    """Epoch seconds of an AWS timestamp string, or None when it is not one.

    AWS's Wait documentation: "if you specify the wait time as a timestamp, Step Functions
    considers the time value up to seconds and truncates milliseconds" -- so the fraction is
    dropped.  Every 4-digit-year timestamp is accepted; one whose offset carries it past
    9999-12-31T23:59:59Z waits until that last instant.
    """
    if not isinstance(text, str) or not _TIMESTAMP.match(text):
        return None
    try:
        value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return min(float(math.floor(value.replace(microsecond=0).timestamp())), MAX_WAIT_UNTIL)


class WaitState(State):
    """Waits using the program's clock, so virtual time makes long waits instant."""

    type = "Wait"
    fields = Fields(
        both=COMMON | FLOW | f("Seconds", "Timestamp"),
        jsonpath=IO_PATHS | f("SecondsPath", "TimestampPath"),
        jsonata=f("Output"),
        transitions=True,
    )

    @classmethod
    def check(cls, v: Validator, state: dict, path: str, lang: str, edges: list) -> None:
        """Exactly one of the ways to say how long."""
        fields = ("Seconds", "Timestamp", "SecondsPath", "TimestampPath")
        given = [field for field in fields if field in state]
        if len(given) != 1:
            names = (
                "Seconds, Timestamp"
                if lang == JSONATA
                else ("Seconds, Timestamp, SecondsPath, TimestampPath")
            )
            found = f" (found {', '.join(given)})" if given else ""
            v.add(path, f"a Wait state needs exactly one of {names}{found}")

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        self.compile_fields("Seconds", "Timestamp")

    def run(self, fiber: Fiber, raw_input: Any) -> StateGen:
        from stepline.asl.program import Sleep

        data = raw_input
        if self.query_language != JSONATA and self.input_path is not NO_VALUE:
            data = self._select(self.input_path, raw_input, fiber, "InputPath")
        deadline = self._deadline(fiber, raw_input, data)
        yield Sleep(deadline)
        return Transition(self.next, self.passthrough(fiber, raw_input))

    def _deadline(self, fiber: Fiber, raw_input: Any, data: Any) -> float:
        now = fiber.program.clock.now()
        jsonata = self.query_language == JSONATA
        if "Seconds" in self._fields:
            seconds = self.eval_field(fiber, self._fields["Seconds"], raw_input)
            return now + self._check_seconds(seconds, "Seconds", None, jsonata)
        if "SecondsPath" in self._fields:
            seconds, expr = self._referenced("SecondsPath", fiber, data)
            return now + self._check_seconds(seconds, "SecondsPath", expr, False)
        if "Timestamp" in self._fields:
            text = self.eval_field(fiber, self._fields["Timestamp"], raw_input)
            when = parse_timestamp(text)
            if when is None:
                raise StatesError(
                    E.QUERY_EVALUATION_ERROR if jsonata else E.RUNTIME,
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                    f"date-time format string: {text}",
                )
            return when
        text, expr = self._referenced("TimestampPath", fiber, data)
        when = parse_timestamp(text)
        if when is None:
            raise StatesError(
                E.RUNTIME,
                "The TimestampPath parameter does not reference a valid ISO-8601 extended "
                f"offset date-time format string: {expr} == {_show(text)}",
            )
        return when

    def _referenced(self, field: str, fiber: Fiber, data: Any) -> tuple[Any, str]:
        """The value the path in ``field`` (SecondsPath, TimestampPath) selects from the
        effective input, and the path's text; a path that selects nothing is AWS's
        States.Runtime naming the field."""
        path = self._fields[field]
        try:
            return path.get(data, fiber.context, fiber.variables), path.expr
        except PathNotFound:
            raise StatesError(
                E.RUNTIME,
                f"The {field} parameter does not reference an input value: {path.expr}",
            ) from None

    @staticmethod
    def _check_seconds(value: Any, field: str, expr: str | None, jsonata: bool) -> float:
        where = f"{expr} == {_show(value)}" if expr else _show(value)
        error = E.QUERY_EVALUATION_ERROR if jsonata else E.RUNTIME
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StatesError(
                error, f"The {field} parameter cannot be parsed as a long value: {where}"
            )
        if isinstance(value, float) and not value.is_integer():
            raise StatesError(
                error, f"The {field} parameter cannot be parsed as a long value: {where}"
            )
        if value < 0:
            raise StatesError(error, f"The {field} parameter references a negative value: {where}")
        return float(value)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)
