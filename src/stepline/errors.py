"""The one root of the errors stepline's services answer with, in AWS's terms.

Why here, at the bottom: every service raises them -- the engine, jobs, tuning, serving and
the :mod:`stepline.sagemaker` layer over them, and the AWS API on ``stepline server`` -- so
they belong to none of those packages.  :class:`ServiceError` is the root: ``code``,
``status`` and ``message`` are what AWS answers, so one ``except ServiceError`` serves a
caller of several services (a script, the console, the AWS API).  Its branches:

* :class:`SageMakerError` and its subclasses here: SageMaker's API errors, named as SageMaker
  names them (catch :class:`SageMakerError` for any of them);
* :class:`stepline.engine.EngineError`: Step Functions' refusals of the engine's calls
  (``StateMachineDoesNotExist``, ``ExecutionAlreadyExists``, ``InvalidName`` ...);
* :class:`stepline.integrations.callback.TokenError`: SendTaskSuccess/Failure/Heartbeat's
  refusals (``InvalidToken``, ``TaskTimedOut``, ``InvalidOutput``);
* :class:`stepline.serving.InvokeError`: SageMaker Runtime's InvokeEndpoint errors;
* :class:`stepline.awsapi.AwsError`: any AWS service's error as the AWS API puts it on the
  wire (S3, STS, CloudWatch Logs, Step Functions, the above translated).

Outside the root, on purpose -- none is a service's answer in AWS's terms:

* the language's own: :class:`stepline.asl.StatesError` is a runtime error *value* of a
  running execution (``States.*`` or a task's error name), which ``Retry``/``Catch`` match and
  an execution fails with -- no call is refused; :class:`stepline.asl.DefinitionError` and
  ``IntrinsicSyntaxError`` are the validator's findings (a list of problems).  The language
  layer also runs without any service (``stepline.asl.execute``); the Step Functions API
  answers a bad definition as ``InvalidDefinition`` from those problems;
* :class:`stepline.storage.StorageError`: the object store is a library under the services;
  each caller answers it its own way (the S3 API as ``NoSuchKey``/``NoSuchBucket``, a job as
  a ``ClientError`` failure reason, the CLI as one line);
* ``ConfigError`` (a bad ``config.toml``) and ``ImageError`` (a bad Dockerfile or image
  build): the setup's problems, reported by the CLI or as a job's failure reason;
* the mechanisms' internal signals, caught where they are raised: the endpoint router's
  ``BodyError`` (HTTP framing, answered 400/413 before any service sees the request),
  ``UpstreamGone``/``ModelGone``, batch transform's ``TransformError``/``FilterError`` (they
  become the job's ``FailureReason``) and the fork server's ``ForkServerError``;
* :class:`stepline.sdk.states.DuplicateStatesInChain`: the client-side SDK's, named as the
  Step Functions Data Science SDK names it.

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
