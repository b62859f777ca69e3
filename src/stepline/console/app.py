"""The console's HTTP+JSON API (FastAPI; the spec is served at ``/openapi.json``).

Why an API and not server-rendered pages: the same routes serve the browser console, the
CLI and notebooks, and the OpenAPI document lets anyone script against a running console.
The console itself is static files (``stepline/console/static``) that only call these routes.
Every ``/api`` route needs the home's console token, and every request passes the Host and
CSRF checks of :mod:`stepline.console.security` first.

Names in URLs are hostile: every path parameter is checked against the shape AWS allows
before it reaches the engine or the job records, and no name is ever used to build a file
path (job logs are read from the path stored in the job's record).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from stepline import sagemaker, views
from stepline.console import providers, security
from stepline.engine import Engine
from stepline.engine.engine import EngineError

#: State machine and execution names, or their ARNs.
_REF = re.compile(
    r"[A-Za-z0-9_\-]{1,80}|arn:aws:states:[A-Za-z0-9\-]+:\d+:[A-Za-z]+(:[A-Za-z0-9_\-]{1,80}){1,2}"
)
#: SageMaker job names.
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
#: The job kinds the console's job pages show: those with a record (a tuning job has none).
_JOB_KINDS = tuple(kind for kind, job in sagemaker.JOB_TYPES.items() if job.has_records)
_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
_LOG_CHUNK = 256 * 1024
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
#: How long the browser keeps the token cookie (the token itself does not expire).
_COOKIE_MAX_AGE = 30 * 24 * 3600

_ERROR_STATUS = {
    "StateMachineDoesNotExist": 404,
    "ExecutionDoesNotExist": 404,
    "ExecutionAlreadyExists": 409,
    "ExecutionNotRunning": 409,
    "ExecutionNotRedrivable": 409,
    "AmbiguousExecutionName": 409,
    "InvalidName": 400,
}


class StartExecutionRequest(BaseModel):
    """StartExecution's fields (``input`` is any JSON value, not a string)."""

    stateMachine: str = Field(description="State machine name or ARN.", max_length=256)
    input: Any = Field(default=None, description="The execution's input (JSON).")
    name: str | None = Field(default=None, description="Execution name; default a UUID.")


class StopExecutionRequest(BaseModel):
    """StopExecution's optional error and cause."""

    error: str | None = Field(default=None, max_length=256)
    cause: str | None = Field(default=None, max_length=32768)


def _check_ref(value: str, what: str) -> str:
    if not _REF.fullmatch(value):
        raise HTTPException(404, f"no {what} {value[:100]!r}")
    return value


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _with_duration(item: dict[str, Any]) -> dict[str, Any]:
    start = _epoch(item.get("startDate"))
    stop = _epoch(item.get("stopDate"))
    end = stop if stop is not None else (time.time() if item.get("status") == "RUNNING" else None)
    out = dict(item)
    out["stateMachineName"] = item["stateMachineArn"].rsplit(":", 1)[-1]
    out["durationMs"] = round((end - start) * 1000) if start is not None and end else None
    return out


def _jsonable(value: Any) -> Any:
    """Datetimes (boto3 shapes) to ISO strings, recursively."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _or_list(words: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _console_dir() -> Path:
    return Path(str(resources.files("stepline.console") / "static"))


def _workflow_routes(eng: Engine) -> APIRouter:
    """State machines: list, describe, versions."""
    router = APIRouter()

    # -- workflows -------------------------------------------------------------------------
    @router.get("/api/state-machines", tags=["workflows"], summary="List state machines")
    def list_state_machines() -> dict[str, Any]:
        items = []
        for sm in eng.list_state_machines():
            summary = {k: v for k, v in sm.items() if k != "definition"}
            runs = eng.store.read(
                "SELECT status, COUNT(*) AS n FROM executions WHERE state_machine_arn=? "
                "GROUP BY status",
                (sm["stateMachineArn"],),
            )
            summary["executionCounts"] = {r["status"]: r["n"] for r in runs}
            items.append(summary)
        return {"stateMachines": items}

    @router.get(
        "/api/state-machines/{name}", tags=["workflows"], summary="Describe a state machine"
    )
    def describe_state_machine(name: str) -> dict[str, Any]:
        sm = eng.describe_state_machine(_check_ref(name, "state machine"))
        sm["definition"] = json.loads(sm["definition"])
        sm["graph"] = views.graph_model(sm["definition"])
        return sm

    @router.get(
        "/api/state-machines/{name}/versions",
        tags=["workflows"],
        summary="Every revision of a state machine's definition",
    )
    def state_machine_versions(name: str) -> dict[str, Any]:
        versions = eng.state_machine_versions(_check_ref(name, "state machine"))
        for version in versions:
            version["graph"] = views.graph_model(version["definition"])
        return {"versions": sorted(versions, key=lambda v: -v["revision"])}

    return router


def _execution_routes(eng: Engine) -> APIRouter:
    """Executions: list, start, describe, history, progress, stop, redrive."""
    router = APIRouter()

    # -- executions ------------------------------------------------------------------------
    @router.get("/api/executions", tags=["executions"], summary="List executions, newest first")
    def list_executions(
        stateMachine: str | None = Query(default=None, description="Name or ARN."),
        status: str | None = Query(default=None, description="One of " + ", ".join(_STATUSES)),
    ) -> dict[str, Any]:
        if stateMachine:
            _check_ref(stateMachine, "state machine")
        if status and status not in _STATUSES:
            raise HTTPException(422, f"status must be one of {', '.join(_STATUSES)}")
        items = eng.list_executions(stateMachine or None, status or None)
        return {"executions": [_with_duration(i) for i in items]}

    @router.post(
        "/api/executions", tags=["executions"], status_code=201, summary="Start an execution"
    )
    def start_execution(body: StartExecutionRequest) -> dict[str, Any]:
        _check_ref(body.stateMachine, "state machine")
        desc = eng.start_execution(body.stateMachine, body.input, name=body.name, wait=False)
        return _with_duration(desc)

    @router.get("/api/executions/{name}", tags=["executions"], summary="Describe an execution")
    def describe_execution(name: str) -> dict[str, Any]:
        return _with_duration(eng.describe_execution(_check_ref(name, "execution")))

    @router.get(
        "/api/executions/{name}/history",
        tags=["executions"],
        summary="The execution's events (GetExecutionHistory), after event id `after`",
    )
    def execution_history(name: str, after: int = Query(default=0, ge=0)) -> dict[str, Any]:
        return {"events": eng.get_execution_history(_check_ref(name, "execution"), after=after)}

    @router.get(
        "/api/executions/{name}/progress",
        tags=["executions"],
        summary="The execution, its graph and each state's status, input, output and timing",
        description="Poll this while the execution runs: it is what the console redraws from.",
    )
    def execution_progress(name: str) -> dict[str, Any]:
        desc = _with_duration(eng.describe_execution(_check_ref(name, "execution")))
        row = eng.store.get_execution(desc["executionArn"]) or {}
        definition = row.get("definition") or "{}"
        history = eng.get_execution_history(desc["executionArn"])
        return {
            "execution": desc,
            "definition": json.loads(definition),
            "revision": row.get("revision"),
            "graph": views.graph_model(definition),
            "states": views.state_statuses(definition, history, desc["status"]),
            "lastEventId": history[-1]["id"] if history else 0,
        }

    @router.post("/api/executions/{name}/stop", tags=["executions"], summary="Stop an execution")
    def stop_execution(name: str, body: StopExecutionRequest | None = None) -> dict[str, Any]:
        body = body or StopExecutionRequest()
        return eng.stop_execution(_check_ref(name, "execution"), body.error, body.cause)

    @router.post(
        "/api/executions/{name}/redrive",
        tags=["executions"],
        summary="Redrive a failed, timed-out or aborted execution",
    )
    def redrive_execution(name: str) -> dict[str, Any]:
        return eng.redrive_execution(_check_ref(name, "execution"), wait=False)

    return router


def _job(kind: str, name: str) -> tuple[sagemaker.JobType, Any]:
    """The job type and record of a job named in a URL; 404 for a bad kind or name (checked
    before anything is looked up) or a job that does not exist."""
    if kind not in _JOB_KINDS or not _JOB_NAME.fullmatch(name):
        raise HTTPException(404, f"no {kind[:20]} job {name[:100]!r}")
    job = sagemaker.job_type(kind)
    record = job.record(name)
    if record is None:
        raise HTTPException(404, f"no {kind} job {name!r}")
    return job, record


def _job_document(job: sagemaker.JobType, record: Any) -> dict[str, Any]:
    """Everything the console's job page shows: the record, Describe and the local details."""
    duration = None
    if record.started is not None:
        duration = (record.ended or time.time()) - record.started
    return _jsonable(
        {
            "kind": record.kind,
            "name": record.name,
            "arn": record.arn,
            "status": record.status,
            "secondaryStatus": record.secondary_status,
            "created": record.created,
            "modified": record.modified,
            "started": record.started,
            "ended": record.ended,
            "durationSeconds": duration,
            "describe": job.describe(record.name),
            "local": job.local(record),
            "request": record.request,
            "state": record.state,
        }
    )


def _log_chunk(path: Path, offset: int, limit: int) -> tuple[str, int, int, int]:
    """Up to ``limit`` bytes of the log from ``offset``, never ending inside a UTF-8
    character: (text, start, next offset, file size)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(min(offset, size))
            data = fh.read(limit)
    except FileNotFoundError:
        size, data = 0, b""
    cut = len(data)
    if cut == limit:
        while cut > 0 and (data[cut - 1] & 0xC0) == 0x80:
            cut -= 1
        if cut > 0 and data[cut - 1] >= 0xC0:
            cut -= 1
        cut = cut or len(data)
    start = min(offset, size)
    return data[:cut].decode("utf-8", "replace"), start, start + cut, size


def _job_routes() -> APIRouter:
    """Jobs of every kind with a record: list, describe, metrics, logs (through the SageMaker
    service layer, as the CLI and the AWS API reach them)."""
    router = APIRouter()
    kinds = _or_list(_JOB_KINDS)

    # -- jobs ------------------------------------------------------------------------------
    @router.get("/api/jobs", tags=["jobs"], summary="List jobs, newest first")
    def list_jobs(kind: str | None = Query(default=None, description=kinds)) -> dict[str, Any]:
        if kind and kind not in _JOB_KINDS:
            raise HTTPException(422, f"kind must be {kinds}")
        rows = [r for r in sagemaker.job_overviews(kind or None) if r["Kind"] in _JOB_KINDS]
        return {"jobs": _jsonable(rows[:1000])}

    @router.get("/api/jobs/{kind}/{name}", tags=["jobs"], summary="Everything a job's record holds")
    def describe_job(kind: str, name: str) -> dict[str, Any]:
        return _job_document(*_job(kind, name))

    @router.get("/api/jobs/{kind}/{name}/metrics", tags=["jobs"], summary="Metric values over time")
    def job_metrics(kind: str, name: str) -> dict[str, Any]:
        job, record = _job(kind, name)
        series: dict[str, list[list[float]]] = {}
        for m in job.local(record)["Metrics"]:
            series.setdefault(m["MetricName"], []).append([m["Timestamp"], m["Value"]])
        return {"metrics": series}

    @router.get(
        "/api/jobs/{kind}/{name}/logs",
        tags=["jobs"],
        summary="A chunk of the job's log from byte `offset`",
        description="Poll with `offset=nextOffset` to follow a running job.",
    )
    def job_logs(
        kind: str,
        name: str,
        offset: int = Query(default=0, ge=0),
        limit: int = Query(default=_LOG_CHUNK, ge=1, le=4 * _LOG_CHUNK),
    ) -> dict[str, Any]:
        _, record = _job(kind, name)
        text, start, next_offset, size = _log_chunk(record.log_path, offset, limit)
        return {
            "text": text,
            "offset": start,
            "nextOffset": next_offset,
            "size": size,
            "complete": record.terminal and next_offset >= size,
        }

    return router


def _serving_routes() -> APIRouter:
    """Endpoints and models, from the serving providers."""
    router = APIRouter()

    # -- serving ---------------------------------------------------------------------------
    @router.get("/api/endpoints", tags=["serving"], summary="Endpoints (from serving providers)")
    def list_endpoints() -> dict[str, Any]:
        return {"endpoints": _jsonable(providers.endpoints())}

    @router.get("/api/models", tags=["serving"], summary="Models (from serving providers)")
    def list_models() -> dict[str, Any]:
        return {"models": _jsonable(providers.models())}

    return router


def _console_routes(token: str) -> APIRouter:
    """The page, its static files and the favicon; the token becomes a cookie here."""
    router = APIRouter()

    # -- the console -----------------------------------------------------------------------
    console = _console_dir()
    files = {p.name: p for p in console.iterdir() if p.suffix in _STATIC_TYPES}

    page_headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

    @router.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is None:
            return HTMLResponse(files["index.html"].read_text(), headers=page_headers)
        # Trade the token for a cookie and take it out of the address bar (and history).
        response = RedirectResponse("/", status_code=303, headers=page_headers)
        if security.token_matches(given, token):
            response.set_cookie(
                security.cookie_name(token),
                token,
                max_age=_COOKIE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="strict",
            )
        return response

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(
            files["favicon.svg"],
            media_type=_STATIC_TYPES[".svg"],
            headers={"Cache-Control": "max-age=86400"},
        )

    @router.get("/static/{filename}", include_in_schema=False)
    def static(filename: str) -> Response:
        path = files.get(filename)  # only files that ship with the console, by exact name
        if path is None:
            raise HTTPException(404, "not found")
        return FileResponse(
            path,
            media_type=_STATIC_TYPES[path.suffix],
            headers={"Cache-Control": "no-cache"},
        )

    return router


def create_app(
    engine: Engine | None = None, *, token: str | None = None, bind: str | None = None
) -> FastAPI:
    """The console app over ``engine`` (default: an engine over ``$STEPLINE_HOME``).

    ``token`` defaults to the home's console token; ``bind`` is the address the server
    listens on, which is added to the Host allow-list.
    """
    eng = engine if engine is not None else Engine()
    token = token or security.console_token()
    from stepline.console import endpoints as endpoint_pages

    endpoint_pages.register()
    app = FastAPI(
        title="stepline console API",
        version="1",
        description=(
            "Workflows (state machines), executions, jobs, endpoints and models of a local "
            "stepline home. Executions are described in Step Functions' shapes, jobs in "
            "SageMaker's."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(security.ConsoleGuard, token=token, bind=bind)

    @app.exception_handler(EngineError)
    async def _engine_error(_request: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.code, "detail": str(exc)}, status_code=_ERROR_STATUS.get(exc.code, 400)
        )

    for router in (
        _workflow_routes(eng),
        _execution_routes(eng),
        _job_routes(),
        _serving_routes(),
        _console_routes(token),
    ):
        app.include_router(router)

    def openapi_with_token() -> dict[str, Any]:
        """The generated document, saying that every route needs the console token."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "consoleToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The home's console token: $STEPLINE_HOME/secrets/"
                    "console-token (also accepted as the X-Stepline-Token header).",
                }
            }
            schema["security"] = [{"consoleToken": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_token  # type: ignore[method-assign]
    return app
