"""SageMaker API errors, named as SageMaker names them.

The Step Functions integration turns these into ``SageMaker.<code>`` task errors (for example
``SageMaker.ValidationException`` surfaces as ``SageMaker.AmazonSageMakerException``, the way
Step Functions reports SageMaker's 400s), so ``Retry``/``Catch`` written for AWS behave the same.
"""

from __future__ import annotations


class SageMakerError(Exception):
    """A SageMaker API error: ``code`` is SageMaker's error code, the message names the field."""

    code = "AmazonSageMakerException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationException(SageMakerError):
    """The request does not match the SageMaker service model (or stepline's local limits)."""

    code = "ValidationException"

    @classmethod
    def from_errors(cls, errors: list[str]) -> ValidationException:
        """The one place that builds AWS's ``N validation error(s) detected: ...`` message."""
        return cls(validation_message(errors))


def validation_message(errors: list[str]) -> str:
    """``1 validation error detected: A; B`` as AWS words a list of field problems."""
    count = len(errors)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors)


class ResourceInUse(SageMakerError):
    """A job with this name already exists."""

    code = "ResourceInUse"


class ResourceNotFound(SageMakerError):
    """No job with this name."""

    code = "ResourceNotFound"


class ResourceLimitExceeded(SageMakerError):
    """The request asks for more than this machine can ever give."""

    code = "ResourceLimitExceeded"
