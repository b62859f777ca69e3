"""The SageMaker hosting API: models, endpoint configs, endpoints (boto3's shapes).

Create* and Update* validate the request against botocore's SageMaker model (the jobs
layer's validator) plus the rules SageMaker enforces server-side, write the record, and tell
the stepline server (started on demand) to act; the server moves the endpoint through
``Creating -> InService`` (or ``Failed`` with a FailureReason), ``Updating -> InService``
and ``Deleting``.  Describe*/List* read the records, so they answer without the server.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from stepline.errors import ResourceInUse, ResourceNotFound, ValidationException
from stepline.jobs.kinds import dt, sagemaker_arn
from stepline.jobs.service import echo
from stepline.jobs.validation import validate_request
from stepline.serving import db

#: Statuses in which the server still has work to do for an endpoint.
BUSY = ("Creating", "Updating", "SystemUpdating", "Deleting")


def arn(kind: str, name: str) -> str:
    """SageMaker's ARN form (names lower-cased)."""
    return sagemaker_arn(kind, name)


def _errors(errors: list[str]) -> None:
    if errors:
        raise ValidationException.from_errors(errors)


def _notify() -> None:
    from stepline.serving import server

    server.notify(start=True)


# -- models -------------------------------------------------------------------------------


def primary_container(model_request: dict[str, Any]) -> dict[str, Any]:
    """The one container of a model (``PrimaryContainer`` or a single ``Containers`` entry)."""
    if "PrimaryContainer" in model_request:
        return model_request["PrimaryContainer"]
    return model_request["Containers"][0]


def create_model(request: dict[str, Any], *, coerce_scalars: bool = False) -> dict[str, str]:
    """CreateModel: the image must be a local image; the model data is fetched at deploy."""
    req = validate_request("CreateModel", request, coerce_scalars=coerce_scalars)
    errors = []
    containers = req.get("Containers") or []
    if "PrimaryContainer" in req and containers:
        errors.append("PrimaryContainer: give either PrimaryContainer or Containers, not both")
    elif "PrimaryContainer" not in req and not containers:
        errors.append("PrimaryContainer: is required")
    elif len(containers) > 1:
        errors.append("Containers: inference pipelines (several containers) are not supported")
    if not errors:
        container = primary_container(req)
        if not container.get("Image"):
            errors.append("PrimaryContainer.Image: is required (model packages run on AWS only)")
        if container.get("Mode") == "MultiModel":
            errors.append("PrimaryContainer.Mode: MultiModel endpoints are not supported")
    _errors(errors)
    return {"ModelArn": _insert("serving_models", "model", "model", req["ModelName"], req)}


# Models and endpoint configs are stored alike: a name, an ARN, the request.  SageMaker's own
# messages for a duplicate and for a missing one, naming the resource by its ARN.
def _insert(table: str, kind: str, label: str, name: str, req: dict[str, Any]) -> str:
    resource_arn = arn(kind, name)
    try:
        with db.transaction() as conn:
            conn.execute(
                f"INSERT INTO {table} (name, arn, created, request) VALUES (?,?,?,?)",
                (name, resource_arn, time.time(), json.dumps(req)),
            )
    except sqlite3.IntegrityError:
        raise ValidationException(
            f'Cannot create already existing {label} "{resource_arn}".'
        ) from None
    return resource_arn


def _row(table: str, kind: str, label: str, name: str) -> dict[str, Any]:
    row = db.row_dict(
        db.connect().execute(f"SELECT * FROM {table} WHERE name=?", (name,)).fetchone()
    )
    if row is None:
        raise ValidationException(f'Could not find {label} "{arn(kind, name)}".')
    return row


def _model_row(name: str) -> dict[str, Any]:
    return _row("serving_models", "model", "model", name)


def describe_model(name: str) -> dict[str, Any]:
    """DescribeModel."""
    row = _model_row(name)
    out = echo("DescribeModel", row["request"])
    out.pop("Tags", None)
    out["CreationTime"] = dt(row["created"])
    out["ModelArn"] = row["arn"]
    return out


def list_models() -> dict[str, Any]:
    """ListModels (newest first)."""
    rows = db.connect().execute("SELECT * FROM serving_models ORDER BY created DESC")
    return {
        "Models": [
            {"ModelName": r["name"], "ModelArn": r["arn"], "CreationTime": dt(r["created"])}
            for r in rows
        ]
    }


def delete_model(name: str) -> None:
    """DeleteModel (running endpoints keep their copy, as on SageMaker)."""
    _model_row(name)
    with db.transaction() as conn:
        conn.execute("DELETE FROM serving_models WHERE name=?", (name,))


# -- endpoint configs ---------------------------------------------------------------------


def create_endpoint_config(
    request: dict[str, Any], *, coerce_scalars: bool = False
) -> dict[str, str]:
    """CreateEndpointConfig: every variant names an existing model and an instance type."""
    req = validate_request("CreateEndpointConfig", request, coerce_scalars=coerce_scalars)
    errors = []
    seen = set()
    for i, variant in enumerate(req["ProductionVariants"]):
        where = f"ProductionVariants[{i}]"
        if variant["VariantName"] in seen:
            errors.append(f"{where}.VariantName: duplicate variant {variant['VariantName']!r}")
        seen.add(variant["VariantName"])
        if not variant.get("ModelName"):
            errors.append(f"{where}.ModelName: is required")
        elif (
            db.connect()
            .execute("SELECT 1 FROM serving_models WHERE name=?", (variant["ModelName"],))
            .fetchone()
            is None
        ):
            errors.append(
                f'{where}.ModelName: Could not find model "{arn("model", variant["ModelName"])}"'
            )
        if "ServerlessConfig" not in variant:
            if "InstanceType" not in variant:
                errors.append(f"{where}.InstanceType: is required")
            if "InitialInstanceCount" not in variant:
                errors.append(f"{where}.InitialInstanceCount: is required")
    if req.get("AsyncInferenceConfig"):
        errors.append("AsyncInferenceConfig: asynchronous inference is not supported")
    if req.get("ShadowProductionVariants"):
        errors.append("ShadowProductionVariants: shadow variants are not supported")
    _errors(errors)
    config_arn = _insert(
        "serving_endpoint_configs",
        "endpoint-config",
        "endpoint configuration",
        req["EndpointConfigName"],
        req,
    )
    return {"EndpointConfigArn": config_arn}


def _config_row(name: str) -> dict[str, Any]:
    return _row("serving_endpoint_configs", "endpoint-config", "endpoint configuration", name)


def endpoint_config(name: str) -> dict[str, Any]:
    """The stored CreateEndpointConfig request."""
    return _config_row(name)["request"]


def model_request(name: str) -> dict[str, Any]:
    """The stored CreateModel request."""
    return _model_row(name)["request"]


def describe_endpoint_config(name: str) -> dict[str, Any]:
    """DescribeEndpointConfig."""
    row = _config_row(name)
    out = echo("DescribeEndpointConfig", row["request"])
    out.pop("Tags", None)
    out["EndpointConfigArn"] = row["arn"]
    out["CreationTime"] = dt(row["created"])
    return out


def list_endpoint_configs() -> dict[str, Any]:
    """ListEndpointConfigs (newest first)."""
    rows = db.connect().execute("SELECT * FROM serving_endpoint_configs ORDER BY created DESC")
    return {
        "EndpointConfigs": [
            {
                "EndpointConfigName": r["name"],
                "EndpointConfigArn": r["arn"],
                "CreationTime": dt(r["created"]),
            }
            for r in rows
        ]
    }


def delete_endpoint_config(name: str) -> None:
    """DeleteEndpointConfig."""
    _config_row(name)
    with db.transaction() as conn:
        conn.execute("DELETE FROM serving_endpoint_configs WHERE name=?", (name,))


# -- endpoints ----------------------------------------------------------------------------


def endpoint_row(name: str) -> dict[str, Any] | None:
    """The endpoint's record (None if there is none)."""
    return db.row_dict(
        db.connect().execute("SELECT * FROM serving_endpoints WHERE name=?", (name,)).fetchone()
    )


def _endpoint_or_error(name: str) -> dict[str, Any]:
    row = endpoint_row(name)
    if row is None:
        raise ValidationException(f'Could not find endpoint "{arn("endpoint", name)}".')
    return row


def create_endpoint(
    request: dict[str, Any], *, token: str | None = None, notify: bool = True
) -> dict[str, str]:
    """CreateEndpoint: recorded as ``Creating``; the server deploys it.

    ``token`` makes the call idempotent for the engine: the same token returns the same ARN.
    """
    req = validate_request("CreateEndpoint", request)
    name = req["EndpointName"]
    _config_row(req["EndpointConfigName"])
    endpoint_arn = arn("endpoint", name)
    now = time.time()
    try:
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO serving_endpoints (name, arn, config_name, status, created,"
                " modified, token) VALUES (?,?,?,?,?,?,?)",
                (name, endpoint_arn, req["EndpointConfigName"], "Creating", now, now, token),
            )
    except Exception as exc:
        if "UNIQUE" not in str(exc):
            raise
        existing = endpoint_row(name)
        if existing is not None and token is not None and existing["token"] == token:
            if notify:
                _notify()
            return {"EndpointArn": endpoint_arn}
        raise ValidationException(
            f'Cannot create already existing endpoint "{endpoint_arn}".'
        ) from None
    db.event(name, f"CreateEndpoint with configuration {req['EndpointConfigName']}")
    if notify:
        _notify()
    return {"EndpointArn": endpoint_arn}


def update_endpoint(request: dict[str, Any], *, notify: bool = True) -> dict[str, str]:
    """UpdateEndpoint: blue/green to a new endpoint config (the server swaps when healthy)."""
    req = validate_request("UpdateEndpoint", request)
    name = req["EndpointName"]
    _config_row(req["EndpointConfigName"])
    with db.transaction() as conn:
        row = db.row_dict(
            conn.execute("SELECT * FROM serving_endpoints WHERE name=?", (name,)).fetchone()
        )
        if row is None:
            raise ValidationException(f'Could not find endpoint "{arn("endpoint", name)}".')
        if row["status"] not in ("InService", "Failed"):
            raise ValidationException(
                f'Cannot update in-progress endpoint "{row["arn"]}" (status {row["status"]}).'
            )
        conn.execute(
            "UPDATE serving_endpoints SET status='Updating', pending_config=?,"
            " failure_reason=NULL, modified=? WHERE name=?",
            (req["EndpointConfigName"], time.time(), name),
        )
    db.event(name, f"UpdateEndpoint to configuration {req['EndpointConfigName']}")
    if notify:
        _notify()
    return {"EndpointArn": row["arn"]}


def delete_endpoint(name: str, *, notify: bool = True) -> None:
    """DeleteEndpoint: the server stops the model servers and removes the record."""
    with db.transaction() as conn:
        row = conn.execute("SELECT status FROM serving_endpoints WHERE name=?", (name,)).fetchone()
        if row is None:
            raise ValidationException(f'Could not find endpoint "{arn("endpoint", name)}".')
        conn.execute(
            "UPDATE serving_endpoints SET status='Deleting', modified=? WHERE name=?",
            (time.time(), name),
        )
    db.event(name, "DeleteEndpoint")
    if notify:
        _notify()


def describe_endpoint(name: str) -> dict[str, Any]:
    """DescribeEndpoint (``ProductionVariants`` as deployed, ``PendingDeploymentSummary``
    while an update is on its way)."""
    row = _endpoint_or_error(name)
    out: dict[str, Any] = {
        "EndpointName": row["name"],
        "EndpointArn": row["arn"],
        "EndpointConfigName": row["config_name"],
    }
    variants = [
        {k: v for k, v in variant.items() if not k.startswith("_")} for variant in row["variants"]
    ]
    for variant in variants:
        for image in variant.get("DeployedImages", []):
            if "ResolutionTime" in image:
                image["ResolutionTime"] = dt(image["ResolutionTime"])
    if variants:
        out["ProductionVariants"] = variants
    out["EndpointStatus"] = row["status"]
    if row["failure_reason"]:
        out["FailureReason"] = row["failure_reason"]
    out["CreationTime"] = dt(row["created"])
    out["LastModifiedTime"] = dt(row["modified"])
    if row["pending_config"] and row["status"] == "Updating":
        try:
            pending = endpoint_config(row["pending_config"])
        except ValidationException:
            pending = {"ProductionVariants": []}
        out["PendingDeploymentSummary"] = {
            "EndpointConfigName": row["pending_config"],
            "ProductionVariants": [
                {
                    "VariantName": v["VariantName"],
                    "DesiredWeight": float(v.get("InitialVariantWeight", 1.0)),
                    "DesiredInstanceCount": v.get("InitialInstanceCount", 1),
                    "InstanceType": v.get("InstanceType"),
                    "VariantStatus": [{"Status": "Creating", "StartTime": dt(row["modified"])}],
                }
                for v in pending["ProductionVariants"]
            ],
            "StartTime": dt(row["modified"]),
        }
    return out


def list_endpoints(status: str | None = None, name_contains: str | None = None) -> dict[str, Any]:
    """ListEndpoints (newest first), optionally by ``StatusEquals`` / ``NameContains``."""
    rows = db.connect().execute("SELECT * FROM serving_endpoints ORDER BY created DESC")
    out = []
    for r in rows:
        if status and r["status"] != status:
            continue
        if name_contains and name_contains not in r["name"]:
            continue
        out.append(
            {
                "EndpointName": r["name"],
                "EndpointArn": r["arn"],
                "CreationTime": dt(r["created"]),
                "LastModifiedTime": dt(r["modified"]),
                "EndpointStatus": r["status"],
            }
        )
    return {"Endpoints": out}


def set_endpoint(name: str, **columns: Any) -> None:
    """Server side: change an endpoint's columns (``variants`` as a list)."""
    if "variants" in columns:
        columns["variants"] = json.dumps(columns["variants"])
    columns["modified"] = time.time()
    sets = ", ".join(f"{k}=?" for k in columns)
    with db.transaction() as conn:
        conn.execute(f"UPDATE serving_endpoints SET {sets} WHERE name=?", (*columns.values(), name))


def remove_endpoint(name: str) -> None:
    """Server side: drop the record once its model servers are gone."""
    with db.transaction() as conn:
        conn.execute("DELETE FROM serving_endpoints WHERE name=?", (name,))


def all_endpoints() -> list[dict[str, Any]]:
    """Every endpoint record."""
    rows = db.connect().execute("SELECT * FROM serving_endpoints ORDER BY created")
    return [db.row_dict(r) for r in rows]  # type: ignore[misc]


__all__ = [
    "ResourceInUse",
    "ResourceNotFound",
    "ValidationException",
]
