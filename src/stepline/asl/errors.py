"""Errors raised while evaluating a state machine.

Every failure inside the language is a :class:`StatesError` carrying an AWS error name
(``States.Runtime``, ``States.IntrinsicFailure`` ...) and a cause, so Retry and Catch can
match on the name exactly as AWS does.  Expression code raises the *detail* of a cause;
the interpreter prefixes it with the state and event id where AWS does.
"""

from __future__ import annotations

ALL = "States.ALL"
RUNTIME = "States.Runtime"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
PERMISSIONS = "States.Permissions"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"

#: Errors that ``States.ALL`` does not catch (AWS: terminal runtime errors).
NOT_CAUGHT_BY_ALL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})

#: AWS's payload limit for state input/output, in bytes of UTF-8 JSON.
PAYLOAD_LIMIT_BYTES = 256 * 1024


class StatesError(Exception):
    """An ASL-level error: ``error`` is the name Retry/Catch match, ``cause`` the text.

    ``in_state`` says whether the interpreter should prefix the cause with AWS's
    "An error occurred while executing the state ..." sentence.
    """

    def __init__(self, error: str, cause: str | None = None, *, in_state: bool = True) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause
        self.in_state = in_state


class DefinitionError(ValueError):
    """A definition failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: list) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
