"""The one root of the errors stepline's services answer with, in AWS's terms.

Why here, at the bottom: every service raises them -- jobs, tuning, serving and the
:mod:`stepline.sagemaker` layer over them, and the AWS API on ``stepline server`` -- so they
belong to none of those packages.  :class:`ServiceError` is the root: ``code``, ``status`` and
``message`` are what AWS answers.  Its branches:

* :class:`SageMakerError` and its subclasses here: SageMaker's API errors, named as SageMaker
  names them (catch :class:`SageMakerError` for any of them);
* :class:`stepline.awsapi.AwsError`: any AWS service's error as the AWS API puts it on the
  wire (S3, STS, CloudWatch Logs, Step Functions, SageMaker's translated from the above).

(The language's own errors are ``States.*`` names, :mod:`stepline.asl.errors`; storage and
images keep theirs beside their code: they are no service's answer.)

The Step Functions integration turns SageMaker's into ``SageMaker.<code>`` task errors (for
example ``SageMaker.ValidationException`` surfaces as ``SageMaker.AmazonSageMakerException``,
the way Step Functions reports SageMaker's 400s), so ``Retry``/``Catch`` written for AWS
behave the same.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error a service answers with: AWS's error ``code``, HTTP ``status`` and ``message``.

    Subclasses fix ``code`` and ``status`` per class (:class:`SageMakerError`) or per error
    (:class:`stepline.awsapi.AwsError`)."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SageMakerError(ServiceError):
    """A SageMaker API error: ``code`` is SageMaker's error code, the message names the field."""

    code = "AmazonSageMakerException"
    status = 400


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
