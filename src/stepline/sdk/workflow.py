"""``Workflow`` and ``Execution``: the Data Science SDK's API over stepline's durable engine.

Where the DS SDK calls the Step Functions API (and needs a region, credentials and boto3),
these call :class:`stepline.engine.Engine`, so a workflow is created and run on this machine.
``Workflow.create()`` also uploads the local code the steps reference (see
:mod:`stepline.sdk.code`), which is why building a workflow never touches storage.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import Any

from stepline.sdk.placeholders import ExecutionInput
from stepline.sdk.render import JSONPATH
from stepline.sdk.states import Chain, FrozenGraph, Graph, State
from stepline.sdk.views import graph_view, progress_view


class ExecutionStatus(StrEnum):
    """Execution statuses, as the DS SDK names them (values are the API's)."""

    Running = "RUNNING"
    Succeeded = "SUCCEEDED"
    Failed = "FAILED"
    TimedOut = "TIMED_OUT"
    Aborted = "ABORTED"


def _engine(client: Any) -> Any:
    if client is not None:
        return client
    from stepline.engine import Engine

    return Engine()


class Workflow:
    """A named state machine built from a State, Chain or Graph.

    ``role`` is kept in the definition's record (AWS needs it; locally it is informational),
    ``client`` is an :class:`~stepline.engine.Engine` (default: one over ``$STEPLINE_HOME``).
    """

    def __init__(
        self,
        name: str,
        definition: State | Chain | Graph,
        role: str | None = None,
        tags: list[dict[str, str]] | None = None,
        execution_input: ExecutionInput | None = None,
        timeout_seconds: int | None = None,
        comment: str | None = None,
        version: str | None = None,
        query_language: str | None = None,
        state_machine_arn: str | None = None,
        format_json: bool = True,
        client: Any = None,
    ) -> None:
        self.name = name
        self.role = role
        self.tags = tags or []
        self.execution_input = execution_input
        self.format_json = format_json
        self.state_machine_arn = state_machine_arn
        self._client = client
        if isinstance(definition, Graph):
            self.definition = definition
        else:
            options = {
                "timeout_seconds": timeout_seconds,
                "comment": comment,
                "version": version,
                "query_language": query_language,
            }
            self.definition = Graph(
                definition, **{k: v for k, v in options.items() if v is not None}
            )

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _engine(None)
        return self._client

    # -- definition -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.definition.to_dict(JSONPATH)

    def to_json(self, pretty: bool | None = None) -> str:
        pretty = self.format_json if pretty is None else pretty
        return json.dumps(self.to_dict(), indent=4 if pretty else None)

    def validate(self) -> list[Any]:
        """Problems AWS would report for this definition (empty when it is valid)."""
        from stepline.asl import validate

        return validate(self.to_dict())

    # -- lifecycle ------------------------------------------------------------------------
    def upload_code(self, store: Any = None) -> list[str]:
        """Upload every local source archive/script the steps use; returns their URIs."""
        deferred = [d for d in self.definition.deferred() if hasattr(d, "upload")]
        if not deferred:
            return []
        if store is None:
            from stepline.storage import get_store

            store = get_store()
        uris: list[str] = []
        for item in deferred:
            uri = item.upload(store)
            if uri not in uris:
                uris.append(uri)
        return uris

    def create(self) -> str:
        """Upload the steps' code, then create (or update) the state machine; its ARN."""
        self.upload_code()
        described = self.client.create_state_machine(self.name, self.to_dict(), self.role)
        self.state_machine_arn = described["stateMachineArn"]
        return self.state_machine_arn

    def update(
        self, definition: State | Chain | Graph | None = None, role: str | None = None
    ) -> str:
        """Replace the definition and/or role (a new revision of the same state machine)."""
        if definition is not None:
            self.definition = definition if isinstance(definition, Graph) else Graph(definition)
        if role is not None:
            self.role = role
        return self.create()

    def _require_created(self) -> str:
        if self.state_machine_arn is None:
            raise ValueError(
                "Local workflow instance does not point to an existing workflow. Please use "
                "'create()' first or 'Workflow.attach()'."
            )
        return self.state_machine_arn

    def execute(self, name: str | None = None, inputs: Any = None, wait: bool = False) -> Execution:
        """Start an execution (in the background unless ``wait``) and return it.

        ``inputs`` is checked against ``execution_input``'s schema first, as in the DS SDK.
        """
        arn = self._require_created()
        if self.execution_input is not None and self.execution_input.schema:
            result = self.execution_input.validate(inputs)
            if not result.valid:
                raise ValueError(
                    "Expected run input with the schema: "
                    f"{self.execution_input.get_schema_as_json()}; missing "
                    f"{result.keys_missing}, wrong types {result.keys_type_mismatch}"
                )
        described = self.client.start_execution(arn, inputs, name=name, wait=wait)
        return Execution(self, described["executionArn"], described=described)

    def list_executions(
        self, max_items: int = 100, status_filter: ExecutionStatus | str | None = None
    ) -> list[Execution]:
        """This workflow's executions, newest first."""
        arn = self._require_created()
        status = (
            status_filter.value if isinstance(status_filter, ExecutionStatus) else status_filter
        )
        rows = self.client.list_executions(arn, status)
        return [Execution(self, r["executionArn"], described=r) for r in rows[:max_items]]

    def delete(self) -> None:
        self.client.delete_state_machine(self._require_created())

    def render_graph(self, portrait: bool = False) -> Any:
        return graph_view(self.to_dict(), portrait)

    @classmethod
    def attach(cls, state_machine_arn: str, client: Any = None) -> Workflow:
        """A Workflow for an existing state machine (its definition as a FrozenGraph)."""
        engine = _engine(client)
        described = engine.describe_state_machine(state_machine_arn)
        return cls(
            name=described["name"],
            definition=FrozenGraph.from_json(described["definition"]),
            role=described["roleArn"],
            state_machine_arn=described["stateMachineArn"],
            client=engine,
        )

    @classmethod
    def list_workflows(cls, max_items: int = 100, client: Any = None) -> list[dict[str, Any]]:
        return _engine(client).list_state_machines()[:max_items]

    def __repr__(self) -> str:
        return f"Workflow(name={self.name!r}, state_machine_arn={self.state_machine_arn!r})"


class Execution:
    """One run of a workflow."""

    def __init__(
        self, workflow: Workflow, execution_arn: str, described: dict[str, Any] | None = None
    ) -> None:
        self.workflow = workflow
        self.execution_arn = execution_arn
        described = described or {}
        self.name = described.get("name", execution_arn.rsplit(":", 1)[-1])
        self.start_date = described.get("startDate")

    @property
    def client(self) -> Any:
        return self.workflow.client

    def describe(self) -> dict[str, Any]:
        return self.client.describe_execution(self.execution_arn)

    @property
    def status(self) -> str:
        return self.describe()["status"]

    def get_input(self) -> Any:
        text = self.describe().get("input")
        return None if text is None else json.loads(text)

    def get_output(self, wait: bool = False, timeout: float | None = None) -> Any:
        """The output once the execution succeeded (``None`` otherwise); ``wait`` blocks."""
        if wait:
            self.wait(timeout)
        described = self.describe()
        text = described.get("output")
        return None if text is None else json.loads(text)

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the execution is no longer RUNNING; its description."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.client.wait(self.execution_arn, timeout)
        described = self.describe()
        while described["status"] == "RUNNING":
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"execution {self.name} still RUNNING after {timeout}s")
            time.sleep(0.05)
            described = self.describe()
        return described

    def stop(self, cause: str | None = None, error: str | None = None) -> dict[str, Any]:
        return self.client.stop_execution(self.execution_arn, error=error, cause=cause)

    def list_events(
        self, max_items: int = 100, reverse_order: bool = False
    ) -> list[dict[str, Any]]:
        """GetExecutionHistory's events (oldest first unless ``reverse_order``)."""
        events = self.client.get_execution_history(self.execution_arn)
        if reverse_order:
            events = events[::-1]
        return events[:max_items]

    def render_progress(self, portrait: bool = False, max_events: int = 25000) -> Any:
        definition = json.loads(
            self.client.describe_state_machine(self.workflow._require_created())["definition"]
        )
        status = self.describe()["status"]
        return progress_view(definition, self.list_events(max_events), portrait, status)

    def __repr__(self) -> str:
        return f"Execution(name={self.name!r}, execution_arn={self.execution_arn!r})"
