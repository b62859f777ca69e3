"""The one root of the errors stepline's services raise: SageMaker's, named as SageMaker does.

Why here, at the bottom: every SageMaker service raises them -- jobs, tuning, serving and
the :mod:`stepline.sagemaker` layer over them -- so they belong to none of those packages.
Catch :class:`SageMakerError` for any of them; ``code``, ``status`` and the message are what
AWS answers.  (The language's own errors are ``States.*`` names, :mod:`stepline.asl.errors`;
storage, images and the wire protocols keep theirs beside their code.)

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
    """A resource (job, endpoint, model ...) with this name already exists."""

    code = "ResourceInUse"


class ResourceNotFound(SageMakerError):
    """No resource with this name."""

    code = "ResourceNotFound"


class ResourceLimitExceeded(SageMakerError):
    """The request asks for more than this machine can ever give."""

    code = "ResourceLimitExceeded"
