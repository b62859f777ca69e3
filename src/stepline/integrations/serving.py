"""SageMaker hosting and tuning as Task resources.

``arn:aws:states:::sagemaker:createModel``, ``createEndpointConfig``, ``createEndpoint`` and
``updateEndpoint`` return the API response as Step Functions does (``{"ModelArn": ...}``,
``{"EndpointConfigArn": ...}``, ``{"EndpointArn": ...}``); ``createEndpoint`` does not wait
for ``InService`` (there is no ``.sync`` form on AWS).  ``createHyperParameterTuningJob``
returns ``{"HyperParameterTuningJobArn": ...}`` and its ``.sync`` form waits and returns
DescribeHyperParameterTuningJob (timestamps in epoch milliseconds); a tuning job that ends
``Failed`` or ``Stopped`` fails the Task with ``States.TaskFailed``.  API errors surface as
``SageMaker.<Error>`` exactly like the jobs integration's.

Idempotency across engine restarts: the task token makes createEndpoint and the tuning job
return the same ARN again; createModel/createEndpointConfig accept a repeat of the identical
request (what a retried task sends).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from stepline.asl.errors import StatesError
from stepline.asl.program import TaskRequest
from stepline.integrations.sagemaker import _error_name, _to_sfn_json

_RESOURCE = re.compile(
    r"^arn:[a-z-]+:states:::sagemaker:"
    r"(createModel|createEndpointConfig|createEndpoint|updateEndpoint"
    r"|createHyperParameterTuningJob(?:\.sync)?)$"
)


def _api_error(exc: Any) -> StatesError:
    cause = (
        f"{exc.message} (Service: AmazonSageMaker; Status Code: {exc.status}; "
        f"Error Code: {exc.code}; Request ID: {uuid.uuid4()}; Proxy: null)"
    )
    return StatesError(_error_name(exc.code), cause, in_state=False)


class ServingIntegration:
    """Models, endpoint configs, endpoints and tuning jobs through stepline's APIs."""

    def matches(self, resource: str) -> bool:
        return bool(_RESOURCE.match(resource))

    def invoke(self, request: TaskRequest) -> Any:
        from stepline import serving
        from stepline.jobs.errors import SageMakerError
        from stepline.serving import api

        match = _RESOURCE.match(request.resource)
        assert match is not None
        action = match.group(1)
        params = request.parameters if isinstance(request.parameters, dict) else {}
        try:
            if action == "createModel":
                try:
                    return serving.create_model(params, coerce_scalars=True)
                except SageMakerError as exc:
                    return self._repeat(exc, "serving_models", "ModelName", params, "ModelArn")
            if action == "createEndpointConfig":
                try:
                    return serving.create_endpoint_config(params, coerce_scalars=True)
                except SageMakerError as exc:
                    return self._repeat(
                        exc,
                        "serving_endpoint_configs",
                        "EndpointConfigName",
                        params,
                        "EndpointConfigArn",
                    )
            if action == "createEndpoint":
                return api.create_endpoint(params, token=request.token)
            if action == "updateEndpoint":
                return api.update_endpoint(params)
            return self._tuning(request, action.endswith(".sync"), params)
        except SageMakerError as exc:
            raise _api_error(exc) from None

    @staticmethod
    def _repeat(exc: Any, table: str, key: str, params: dict, arn_key: str) -> dict:
        from stepline.serving import db

        name = params.get(key)
        row = db.row_dict(
            db.connect().execute(f"SELECT * FROM {table} WHERE name=?", (name,)).fetchone()
        )
        if row is None:
            raise exc
        stored = {k: v for k, v in row["request"].items() if k != "Tags"}
        given = {k: v for k, v in params.items() if k != "Tags"}
        if json.dumps(stored, sort_keys=True) == json.dumps(given, sort_keys=True):
            return {arn_key: row["arn"]}
        raise exc

    @staticmethod
    def _tuning(request: TaskRequest, sync: bool, params: dict) -> Any:
        from stepline import tuning

        created = tuning.create_hyper_parameter_tuning_job(
            params, token=request.token, coerce_scalars=True
        )
        if not sync:
            return created
        name = params["HyperParameterTuningJobName"]
        status = tuning.wait(name, cancel=request.cancel)
        if status not in tuning.TERMINAL:
            try:
                tuning.stop_hyper_parameter_tuning_job(name)
            except Exception:  # noqa: BLE001 - best effort, as Step Functions does
                pass
            raise StatesError("States.TaskFailed", "The task was cancelled", in_state=False)
        described = _to_sfn_json(tuning.describe_hyper_parameter_tuning_job(name))
        if status != "Completed":
            raise StatesError("States.TaskFailed", json.dumps(described), in_state=False)
        return described
