"""AWS's JSON protocols (awsJson1_0 / awsJson1_1) for any service botocore has a model of.

Why botocore's models: they are what AWS's own SDKs are generated from, so parsing requests
and shaping responses by them keeps stepline's wire format the SDKs' own.  A service module
gives :class:`JsonService` its operations as plain functions (``dict -> dict``) named as AWS
names them; this module does the rest:

* routing: ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>``;
* input: the JSON body checked against the operation's input shape (required members,
  unknown members, types, lengths, ranges, enums, patterns -- AWS's
  ``N validation errors detected`` message), timestamps turned into aware ``datetime`` and
  blobs into ``bytes``;
* output: only the output shape's members, timestamps as epoch seconds (what botocore's JSON
  parser reads), blobs base64;
* errors: :class:`AwsError` as ``{"__type": code, "message": ...}`` plus
  ``x-amzn-errortype``, as AWS's JSON services answer.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from stepline.awsapi._base import AwsError, AwsRequest, AwsResponse

log = logging.getLogger(__name__)

Operation = Callable[[dict[str, Any]], dict[str, Any] | None]


@functools.cache
def service_model(name: str) -> Any:
    """botocore's ``ServiceModel`` for ``name`` (e.g. "stepfunctions"), loaded once."""
    import botocore.session

    return botocore.session.get_session().get_service_model(name)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:  # the ISO 8601 strings the service layer keeps: 20x faster than dateutil
            parsed = datetime.fromisoformat(value)
        except ValueError:
            from botocore.utils import parse_timestamp

            parsed = parse_timestamp(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise TypeError(f"not a timestamp: {value!r}")


def to_wire(shape: Any, value: Any) -> Any:
    """``value`` serialized as the JSON protocol sends ``shape``: members the shape does not
    have and ``None`` values are left out, timestamps become epoch seconds, blobs base64."""
    if value is None or shape is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise TypeError(f"{shape.name}: expected a dict, got {type(value).__name__}")
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = to_wire(member, value[name])
        return out
    if kind == "list":
        return [to_wire(shape.member, v) for v in value]
    if kind == "map":
        return {str(k): to_wire(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        seconds = _epoch(value)
        return int(seconds) if seconds.is_integer() else round(seconds, 3)
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind == "boolean":
        return bool(value)
    if kind == "string" and not isinstance(value, str):
        return str(value)
    return value


def unknown_members(shape: Any, value: Any, path: str = "") -> list[str]:
    """Keys of ``value`` that ``shape`` does not define (what :func:`to_wire` would drop):
    a test helper that catches a response builder drifting from AWS's shape."""
    found: list[str] = []
    if shape is None or value is None:
        return found
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key not in shape.members:
                found.append(where)
            else:
                found += unknown_members(shape.members[key], item, where)
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            found += unknown_members(shape.member, item, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            found += unknown_members(shape.value, item, f"{path}.{key}")
    return found


def from_wire(shape: Any, value: Any) -> Any:
    """A checked request value as Python values: timestamps aware ``datetime``, blobs bytes."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {
            k: from_wire(shape.members[k], v) if k in shape.members else v for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [from_wire(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: from_wire(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return datetime.fromtimestamp(_epoch(value), UTC)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise AwsError("SerializationException", "blob member is not base64") from None
    return value


def check_input(model: Any, operation: str, params: Any) -> dict[str, Any]:
    """``params`` checked against the operation's input shape; AWS's ValidationException."""
    from stepline import sagemaker  # its validation covers any service's botocore model
    from stepline.errors import validation_message

    shape = model.operation_model(operation).input_shape
    if shape is None:
        return {}
    normalised, errors = sagemaker.check_shape(shape, params)
    if errors:
        raise AwsError("ValidationException", validation_message(errors))
    return from_wire(shape, normalised)


def error_response(error: AwsError, json_version: str = "1.1") -> AwsResponse:
    """``error`` as AWS's JSON protocols send it."""
    body = {"__type": error.code, "message": error.message}
    return AwsResponse(
        status=error.status,
        headers={
            "content-type": f"application/x-amz-json-{json_version}",
            "x-amzn-errortype": error.code,
            "x-amzn-requestid": str(uuid.uuid4()),
        },
        body=json.dumps(body).encode(),
    )


class JsonService:
    """One awsJson service: routing by ``X-Amz-Target``, botocore-shaped input and output.

    ``validate`` checks every request against the model before the operation runs; a service
    whose operations validate themselves (the SageMaker layer, shared with the Step Functions
    integrations) passes ``False`` to avoid checking twice.
    """

    def __init__(
        self,
        name: str,
        botocore_model_name: str,
        target_prefix: str,
        operations: dict[str, Operation],
        *,
        validate: bool = True,
    ) -> None:
        self.name = name
        self.model_name = botocore_model_name
        self.target_prefix = target_prefix
        self.operations = dict(operations)
        self.validate = validate
        model = service_model(botocore_model_name)
        unknown = sorted(set(self.operations) - set(model.operation_names))
        if unknown:
            raise ValueError(f"{botocore_model_name} has no operations {', '.join(unknown)}")
        self.json_version = model.metadata.get("jsonVersion", "1.1")

    @property
    def model(self) -> Any:
        return service_model(self.model_name)

    def accepts(self, req: AwsRequest) -> bool:
        return bool(req.target) and req.target.startswith(self.target_prefix + ".")

    def handle(self, req: AwsRequest) -> AwsResponse:
        try:
            return self._handle(req)
        except AwsError as exc:
            return error_response(exc, self.json_version)
        except Exception as exc:  # noqa: BLE001 - a bug must still answer in AWS's shape
            log.exception("%s: internal error", self.name)
            return error_response(
                AwsError("InternalFailure", f"{type(exc).__name__}: {exc}", 500),
                self.json_version,
            )

    def call(self, operation: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``operation`` in-process as the wire would (checked input, shaped output);
        the wire's JSON, before encoding.  Raises :class:`AwsError`."""
        func = self.operations.get(operation)
        if func is None:
            raise AwsError(
                "UnknownOperationException", f"{self.target_prefix}.{operation} is not supported"
            )
        model = self.model
        params = params or {}
        if self.validate:
            params = check_input(model, operation, params)
        result = func(params) or {}
        return to_wire(model.operation_model(operation).output_shape, result) or {}

    def _handle(self, req: AwsRequest) -> AwsResponse:
        operation = (req.target or "").split(".", 1)[1] if req.target else ""
        if req.method != "POST":
            raise AwsError("UnknownOperationException", f"{req.method} is not supported", 404)
        try:
            params = json.loads(req.body) if req.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise AwsError("SerializationException", "the request body is not JSON") from None
        if not isinstance(params, dict):
            raise AwsError("SerializationException", "the request body must be a JSON object")
        out = self.call(operation, params)
        return AwsResponse(
            status=200,
            headers={
                "content-type": f"application/x-amz-json-{self.json_version}",
                "x-amzn-requestid": str(uuid.uuid4()),
            },
            body=json.dumps(out, separators=(",", ":")).encode(),
        )
