"""Durable executions over :mod:`stepline.asl`.

The engine owns what the language must not know about: the SQLite store, which process
runs which execution, resuming executions whose process died, redrive and stop.  It runs each
execution as a :class:`~stepline.asl.program.Program` with a checkpoint sink, in the calling
thread (``wait=True``) or a background thread.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from stepline import config, wiring
from stepline.asl.definition import parse
from stepline.asl.limits import Limits
from stepline.asl.program import (
    Clock,
    ExecutionInfo,
    Program,
    TaskPort,
    VirtualClock,
    iso,
)
from stepline.engine.store import SqliteSink, Store, owner_alive, owner_token
from stepline.errors import ServiceError

_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,80}$")


class EngineError(ServiceError, ValueError):
    """A request the engine refuses (unknown name, invalid state ...), named like AWS's.

    Under the services' one root: ``code`` is Step Functions' error name (``InvalidName``,
    ``ExecutionDoesNotExist`` ...), ``status`` 400 as Step Functions answers all of them,
    ``message`` the bare text; ``str()`` is ``code: message``.  Still a :class:`ValueError`,
    as it was before it joined the root, so callers that catch a refused request that way
    keep working."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def default_role() -> str:
    """The role ARN executions run as when none is given (the configured account)."""
    return config.arn("iam", "role/stepline")


def state_machine_arn(name: str) -> str:
    return config.arn("states", f"stateMachine:{name}")


def execution_arn(machine: str, name: str) -> str:
    return config.arn("states", f"execution:{machine}:{name}")


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise EngineError(
            "InvalidName",
            f"{what} name {name!r} must be 1-80 characters of letters, digits, - and _",
        )


class Engine:
    """Create state machines and run, inspect, stop, redrive and resume their executions."""

    def __init__(
        self,
        home: Path | str | None = None,
        *,
        tasks: TaskPort | None = None,
        virtual_time: bool = False,
    ) -> None:
        db = Path(home) / "stepline.db" if home is not None else config.db_path()
        self.store = Store(db)
        if tasks is None:
            # Registered by the composition root (stepline/__init__.py): the engine does not
            # import the integrations above it.
            tasks = wiring.default_task_port()
        self.tasks = tasks
        self.limits = Limits.from_config()
        self.virtual_time = virtual_time
        self._running: dict[str, Program] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    # -- state machines ------------------------------------------------------------------
    def create_state_machine(
        self, name: str, definition: dict | str, role_arn: str | None = None
    ) -> dict:
        """Create ``name`` or update its definition (a new revision); validates first."""
        _check_name(name, "State machine")
        parsed = parse(definition)
        text = json.dumps(parsed.source, sort_keys=False)
        row = self.store.put_state_machine(
            name, state_machine_arn(name), text, role_arn or default_role()
        )
        return self._describe_machine(row)

    def describe_state_machine(self, name_or_arn: str) -> dict:
        return self._describe_machine(self._machine(name_or_arn))

    def list_state_machines(self) -> list[dict]:
        return [self._describe_machine(r) for r in self.store.list_state_machines()]

    def state_machine_versions(self, name_or_arn: str) -> list[dict]:
        machine = self._machine(name_or_arn)
        return [
            {
                "revision": v["revision"],
                "creationDate": iso(v["created"]),
                "definition": json.loads(v["definition"]),
            }
            for v in self.store.state_machine_versions(machine["arn"])
        ]

    def delete_state_machine(self, name_or_arn: str) -> None:
        machine = self._machine(name_or_arn)
        self.store.delete_state_machine(machine["name"])

    def _machine(self, name_or_arn: str) -> dict:
        row = self.store.get_state_machine(name_or_arn)
        if row is None:
            raise EngineError("StateMachineDoesNotExist", f"no state machine {name_or_arn!r}")
        return row

    @staticmethod
    def _describe_machine(row: dict) -> dict:
        return {
            "stateMachineArn": row["arn"],
            "name": row["name"],
            "status": "ACTIVE",
            "definition": row["definition"],
            "roleArn": row["role_arn"],
            "type": row["type"],
            "creationDate": iso(row["created"]),
            "updateDate": iso(row["updated"]),
            "revisionId": str(row["revision"]),
        }

    # -- executions ------------------------------------------------------------------------
    def start_execution(
        self,
        state_machine: str,
        input: Any = None,
        *,
        name: str | None = None,
        wait: bool = True,
    ) -> dict:
        """Start an execution; with ``wait`` run it here to the end, else in a thread."""
        machine = self._machine(state_machine)
        name = name or str(uuid.uuid4())
        _check_name(name, "Execution")
        arn = execution_arn(machine["name"], name)
        if self.store.get_execution(arn) is not None:
            raise EngineError("ExecutionAlreadyExists", f"execution {arn} already exists")
        payload = {} if input is None else input
        text = self._input_text(payload)
        now = time.time()
        self.store.insert_execution(
            {
                "arn": arn,
                "name": name,
                "state_machine_arn": machine["arn"],
                "state_machine_name": machine["name"],
                "revision": machine["revision"],
                "definition": machine["definition"],
                "status": "RUNNING",
                "input": text,
                "start": now,
                "owner": owner_token(),
            }
        )
        self._launch(arn, wait)
        return self.describe_execution(arn)

    def _input_text(self, payload: Any) -> str:
        """The execution input as stored, refused as StartExecution refuses it on AWS."""
        try:
            text = json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise EngineError(
                "InvalidExecutionInput", f"The provided JSON input data is not valid: {exc}"
            ) from None
        limit = self.limits.payload_bytes
        if len(text.encode()) > limit:
            # botocore's model of StartExecution: ``input`` has max 262144, "expressed as bytes
            # in UTF-8 encoding"; AWS answers a model constraint with a ValidationException.
            raise EngineError(
                "ValidationException",
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {limit}",
            )
        return text

    def _launch(self, arn: str, wait: bool) -> None:
        if wait:
            self._run(arn)
            return
        thread = threading.Thread(target=self._run, args=(arn,), name=f"exec-{arn[-12:]}")
        with self._lock:
            self._threads[arn] = thread
        thread.start()

    def wait(self, name_or_arn: str, timeout: float | None = None) -> dict:
        """Wait for an execution started with ``wait=False`` in this process."""
        arn = self._execution(name_or_arn)["arn"]
        thread = self._threads.get(arn)
        if thread is not None:
            thread.join(timeout)
        return self.describe_execution(arn)

    def _run(self, arn: str) -> None:
        """Run one execution; whatever goes wrong, it does not stay RUNNING."""
        try:
            self._run_program(arn)
        except Exception as exc:
            self._fail_directly(
                arn, "States.Runtime", f"Internal error: {type(exc).__name__}: {exc}"
            )

    def _fail_directly(self, arn: str, error: str, cause: str) -> None:
        """Record an ExecutionFailed event for an execution no program can end itself."""
        row = self.store.get_execution(arn)
        if row is None or row["status"] != "RUNNING":
            return
        events = self.store.events(arn)
        last = events[-1]["id"] if events else 0
        event = {
            "timestamp": time.time(),
            "type": "ExecutionFailed",
            "id": last + 1,
            "previousEventId": last,
            "executionFailedEventDetails": {"error": error, "cause": cause},
        }
        self.store.commit(arn, [event], {})

    def _run_program(self, arn: str) -> None:
        row = self.store.get_execution(arn)
        assert row is not None
        definition = parse(row["definition"], validate=False)
        info = ExecutionInfo(
            execution_arn=arn,
            name=row["name"],
            state_machine_arn=row["state_machine_arn"],
            state_machine_name=row["state_machine_name"],
            role_arn=default_role(),
            start_time=row["start"],
            redrive_count=row["redrive_count"],
            timeout_from=row["redrive_date"],
        )
        program = Program(
            definition,
            json.loads(row["input"]),
            info=info,
            clock=VirtualClock() if self.virtual_time else Clock(),
            tasks=self.tasks,
            sink=SqliteSink(self.store, arn),
            poll=self._poller(arn),
            services={"engine": self},
            limits=self.limits,
        )
        events = self.store.events(arn)
        fibers = self.store.fibers(arn)
        if events:
            program.restore(events, fibers)
        with self._lock:
            self._running[arn] = program
        try:
            program.run()
        finally:
            with self._lock:
                self._running.pop(arn, None)

    def _poller(self, arn: str) -> Any:
        store = self.store

        def poll(program: Program) -> None:
            rows = store.read("SELECT stop_requested FROM executions WHERE arn=?", (arn,))
            if rows and rows[0]["stop_requested"]:
                stop = json.loads(rows[0]["stop_requested"])
                program.request_stop(stop.get("error"), stop.get("cause"))

        return poll

    def stop_execution(
        self, name_or_arn: str, error: str | None = None, cause: str | None = None
    ) -> dict:
        """Abort a running execution, in this process or in whichever process runs it."""
        row = self._execution(name_or_arn)
        if row["status"] != "RUNNING":
            raise EngineError("ExecutionNotRunning", f"execution {row['name']} is {row['status']}")
        arn = row["arn"]
        with self._lock:
            program = self._running.get(arn)
        if program is not None:
            program.request_stop(error, cause)
        elif owner_alive(row["owner"]):
            request = json.dumps({"error": error, "cause": cause})
            self.store.update_execution(arn, stop_requested=request)
        else:
            # Nobody runs it: record the abort directly.
            events = self.store.events(arn)
            last = events[-1]["id"] if events else 0
            details = {k: v for k, v in (("error", error), ("cause", cause)) if v}
            event = {
                "timestamp": time.time(),
                "type": "ExecutionAborted",
                "id": last + 1,
                "previousEventId": last,
                "executionAbortedEventDetails": details,
            }
            self.store.commit(arn, [event], {})
        return {"stopDate": iso(time.time())}

    def redrive_execution(self, name_or_arn: str, *, wait: bool = True) -> dict:
        """Restart a FAILED, TIMED_OUT or ABORTED execution from its unsuccessful states.

        As on AWS: states that succeeded are not run again (Map iterations and Parallel
        branches included); the failed, aborted or timed-out ones run again from the state
        where they stopped, with the input they had.
        """
        row = self._execution(name_or_arn)
        if row["status"] not in ("FAILED", "TIMED_OUT", "ABORTED"):
            raise EngineError(
                "ExecutionNotRedrivable",
                f"execution {row['name']} is {row['status']}; only FAILED, TIMED_OUT and "
                "ABORTED executions can be redriven",
            )
        arn = row["arn"]
        fibers = self.store.fibers(arn)
        if "0" not in fibers:
            raise EngineError(
                "ExecutionNotRedrivable",
                f"execution {row['name']} failed before its first state; start a new one",
            )
        for body in fibers.values():
            if body.get("status") == "SUCCEEDED":
                continue
            body["status"] = "RUNNING"
            body["in_visit"] = True
            body["visit_events"] = []
            body["journal"] = []
            body["retry_counts"] = {}
            body.pop("error", None)
            body.pop("cause", None)
        events = self.store.events(arn)
        last = events[-1]["id"] if events else 0
        now = time.time()
        count = row["redrive_count"] + 1
        redriven = {
            "timestamp": now,
            "type": "ExecutionRedriven",
            "id": last + 1,
            "previousEventId": last,
            "executionRedrivenEventDetails": {"redriveCount": count},
        }
        # Fibers continue from the redriven event, not from their failure.
        for body in fibers.values():
            if body.get("status") == "RUNNING":
                body["last_event_id"] = last + 1
        self.store.replace_fibers(arn, fibers)
        self.store.append_events(arn, [redriven])
        self.store.update_execution(
            arn,
            status="RUNNING",
            output=None,
            error=None,
            cause=None,
            stop=None,
            redrive_count=count,
            redrive_date=now,
            owner=owner_token(),
            stop_requested=None,
        )
        self._launch(arn, wait)
        return {"redriveDate": iso(now)}

    def resume(self, *, wait: bool = True) -> list[str]:
        """Continue every RUNNING execution whose process died; returns their ARNs."""
        resumed = []
        for row in self.store.list_executions(status="RUNNING", limit=100000):
            if owner_alive(row["owner"]):
                continue
            with self.store.tx() as db:
                current = db.execute(
                    "SELECT owner, status FROM executions WHERE arn=?", (row["arn"],)
                ).fetchone()
                if current["status"] != "RUNNING" or owner_alive(current["owner"]):
                    continue
                db.execute("UPDATE executions SET owner=? WHERE arn=?", (owner_token(), row["arn"]))
            resumed.append(row["arn"])
        threads = []
        for arn in resumed:
            if wait and len(resumed) == 1:
                self._run(arn)
                continue
            thread = threading.Thread(target=self._run, args=(arn,))
            thread.start()
            threads.append(thread)
        if wait:
            for thread in threads:
                thread.join()
        return resumed

    def run_child_execution(self, machine_arn: str, child_input: Any, name: str, sync: bool):
        """Start (or find again, after a crash) a nested execution; wait when ``sync``."""
        machine = self._machine(machine_arn.split(":")[-1])
        arn = execution_arn(machine["name"], name)
        row = self.store.get_execution(arn)
        if row is None:
            self.start_execution(machine["name"], child_input, name=name, wait=sync)
        elif row["status"] == "RUNNING" and not owner_alive(row["owner"]):
            self.store.update_execution(arn, owner=owner_token())
            self._launch(arn, sync)
        if sync:
            while True:
                row = self.store.get_execution(arn)
                if row["status"] != "RUNNING":
                    break
                time.sleep(0.05)
        row = self.store.get_execution(arn)
        output = json.loads(row["output"]) if row["output"] is not None else None
        stop = iso(row["stop"]) if row["stop"] is not None else None
        return row["status"], output, row["error"], row["cause"], iso(row["start"]), stop

    # -- reading ---------------------------------------------------------------------------
    def _execution(self, name_or_arn: str) -> dict:
        rows = self.store.find_executions(name_or_arn)
        if not rows:
            raise EngineError("ExecutionDoesNotExist", f"no execution {name_or_arn!r}")
        if len(rows) > 1 and not name_or_arn.startswith("arn:"):
            arns = ", ".join(r["arn"] for r in rows[:3])
            raise EngineError(
                "AmbiguousExecutionName",
                f"{len(rows)} executions are named {name_or_arn!r}; give the ARN ({arns})",
            )
        return rows[0]

    def describe_execution(self, name_or_arn: str) -> dict:
        """DescribeExecution's fields."""
        row = self._execution(name_or_arn)
        out: dict[str, Any] = {
            "executionArn": row["arn"],
            "stateMachineArn": row["state_machine_arn"],
            "name": row["name"],
            "status": row["status"],
            "startDate": iso(row["start"]),
            "input": row["input"],
            "inputDetails": {"included": True},
            "redriveCount": row["redrive_count"],
        }
        if row["stop"] is not None:
            out["stopDate"] = iso(row["stop"])
        if row["output"] is not None:
            out["output"] = row["output"]
            out["outputDetails"] = {"included": True}
        if row["error"] is not None:
            out["error"] = row["error"]
        if row["cause"] is not None:
            out["cause"] = row["cause"]
        if row["redrive_date"] is not None:
            out["redriveDate"] = iso(row["redrive_date"])
        if row["status"] in ("FAILED", "TIMED_OUT", "ABORTED"):
            out["redriveStatus"] = "REDRIVABLE"
        else:
            out["redriveStatus"] = "NOT_REDRIVABLE"
        return out

    def get_execution_history(self, name_or_arn: str, *, after: int = 0) -> list[dict]:
        """GetExecutionHistory's events, oldest first, timestamps as ISO strings."""
        arn = self._execution(name_or_arn)["arn"]
        events = self.store.events(arn, after)
        for event in events:
            event["timestamp"] = iso(event["timestamp"])
        return events

    def list_executions(
        self, state_machine: str | None = None, status: str | None = None
    ) -> list[dict]:
        machine_arn = self._machine(state_machine)["arn"] if state_machine else None
        rows = self.store.list_executions(machine_arn, status)
        return [
            {
                "executionArn": r["arn"],
                "stateMachineArn": r["state_machine_arn"],
                "name": r["name"],
                "status": r["status"],
                "startDate": iso(r["start"]),
                **({"stopDate": iso(r["stop"])} if r["stop"] is not None else {}),
                "redriveCount": r["redrive_count"],
            }
            for r in rows
        ]
