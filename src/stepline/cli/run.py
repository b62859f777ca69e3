"""``stepline run PIPELINE.py``: build the workflow a file defines and run it, with progress.

A pipeline file defines its workflow one of three ways, looked up in this order:

* ``build_workflow()`` returning a :class:`~stepline.workflow.Workflow`, or a
  ``(workflow, default_input)`` pair -- for pipelines that prepare things first (upload data,
  build images);
* a module-level ``Workflow`` object (``workflow``, ``pipeline`` or any other name), with an
  optional module-level ``INPUT`` dict as the default input;
* ``main()`` -- the file runs itself (no progress view here; it prints its own).
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from stepline.cli._common import emit_json, load_json_arg

_STYLE = {
    "not_run": "dim",
    "running": "bold yellow",
    "succeeded": "green",
    "failed": "bold red",
    "caught": "magenta",
    "cancelled": "dim red",
    "cached": "cyan",
}


def run(
    pipeline: Path = typer.Argument(..., help="Python file that defines the workflow."),
    input: str | None = typer.Option(
        None, "--input", "-i", help="Execution input (JSON or @FILE), merged over the default."
    ),
    name: str | None = typer.Option(None, "--name", help="Execution name (default: a UUID)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every job, reuse nothing."),
    as_json: bool = typer.Option(False, "--json", help="No live view; print the result JSON."),
) -> None:
    """Build the workflow PIPELINE defines and run it with a live progress view."""
    if no_cache:
        os.environ["STEPLINE_CACHE"] = "off"
    if not pipeline.is_file():
        raise ValueError(f"no such pipeline file: {pipeline}")
    sys.path.insert(0, str(pipeline.resolve().parent))
    module = runpy.run_path(str(pipeline), run_name="__stepline_run__")
    workflow, default_input = _find_workflow(module, pipeline)
    if workflow is None:
        code = module["main"]()
        raise typer.Exit(int(code or 0))
    payload = dict(default_input or {})
    if input is not None:
        extra = load_json_arg(input)
        payload = {**payload, **extra} if isinstance(extra, dict) else extra
    # With the live view, Ctrl-C sets a flag from here on (see _watch), so one that comes while
    # the execution is being started still asks whether to stop it.
    interrupted = threading.Event()
    previous = None if as_json else signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        workflow.create()
        execution = workflow.execute(name=name, inputs=payload, wait=False)
    except BaseException:
        if not as_json:  # a failed start: Ctrl-C interrupts again, as it did before it
            signal.signal(signal.SIGINT, previous)
        raise
    engine = workflow.client
    arn = execution.execution_arn
    if as_json:
        try:
            desc = engine.wait(arn)
        except KeyboardInterrupt:
            desc = _interrupted(engine, arn)
    else:
        try:
            desc = _watch(engine, arn, workflow.to_dict(), interrupted)
        finally:
            signal.signal(signal.SIGINT, previous)
        desc = desc or _interrupted(engine, arn)
    result = {
        "executionArn": desc["executionArn"],
        "name": desc["name"],
        "status": desc["status"],
        "output": json.loads(desc["output"]) if "output" in desc else None,
        "error": desc.get("error"),
        "cause": desc.get("cause"),
    }
    if as_json:
        emit_json(result)
    else:
        _summary(result)
    if result["status"] != "SUCCEEDED":
        raise typer.Exit(1)


def _find_workflow(module: dict[str, Any], path: Path) -> tuple[Any, Any]:
    from stepline.workflow import Workflow

    if callable(module.get("build_workflow")):
        built = module["build_workflow"]()
        if isinstance(built, tuple):
            return built[0], built[1]
        return built, module.get("INPUT")
    for value in module.values():
        if isinstance(value, Workflow):
            return value, module.get("INPUT")
    if callable(module.get("main")):
        return None, None
    raise ValueError(
        f"{path} defines no workflow: give it a build_workflow() function, a module-level "
        "Workflow object, or a main() function"
    )


def _last_log_line(job_name: str | None) -> str:
    """The last line of the log of the job a state runs (through the SageMaker layer)."""
    if not job_name:
        return ""
    from stepline import sagemaker

    for job, name in sagemaker.find_jobs(job_name):
        record = job.record(name)
        if record is None:
            continue
        try:
            with record.log_path.open("rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - 4096))
                lines = [ln for ln in fh.read().decode(errors="replace").splitlines() if ln]
            return lines[-1][-80:] if lines else ""
        except OSError:
            return ""
    return ""


def _table(engine: Any, arn: str, definition: dict) -> tuple[Table, str]:
    """One line per state, coloured from the same reduction the console and notebooks use."""
    from stepline.views import graph_model, state_statuses

    desc = engine.describe_execution(arn)
    statuses = state_statuses(definition, engine.get_execution_history(arn), desc["status"])
    table = Table(title=f"{desc['name']}  [{desc['status']}]", expand=False)
    for column in ("state", "status", "duration", "last log line"):
        table.add_column(column)
    now = time.time()
    for node in graph_model(definition)["nodes"]:
        if node["kind"] != "state":
            continue
        info = statuses.get(node["id"], {})
        status = info.get("status", "not_run")
        duration = ""
        if info.get("durationMs") is not None:
            duration = f"{info['durationMs'] / 1000:.1f}s"
        elif info.get("enteredAt"):
            duration = f"{max(0.0, now - info['enteredAt']):.1f}s"
        label = status.replace("_", " ")
        if info.get("visits", 0) > 1:
            label += f" ×{info['visits']}"
        depth = node["id"].count("/") // 2
        table.add_row(
            "  " * depth + node["name"],
            f"[{_STYLE.get(status, '')}]{label}[/]",
            duration,
            _last_log_line(info.get("job")),
        )
    return table, desc["status"]


def _watch(engine: Any, arn: str, definition: dict, interrupted: threading.Event) -> dict | None:
    """The live view until the execution ends (its description) or Ctrl-C (None).

    Ctrl-C sets ``interrupted``, which the loop reads, instead of raising KeyboardInterrupt
    wherever the main thread happens to be: raised inside the live view's lock, it left the
    lock taken and the view's refresh thread, which ``Live`` joins on exit, waiting for it
    forever (``stepline run`` hung after Ctrl-C, now and then).
    """
    console = Console(stderr=True)
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while not interrupted.is_set():
            table, status = _table(engine, arn, definition)
            live.update(table)
            if status != "RUNNING":
                return engine.describe_execution(arn)
            interrupted.wait(0.25)
    return None


def _interrupted(engine: Any, arn: str) -> dict:
    console = Console(stderr=True)
    try:
        stop = typer.confirm("\nStop the execution?", default=False, err=True)
    except (KeyboardInterrupt, EOFError, typer.Abort):
        stop = True
    if stop:
        engine.stop_execution(arn, error="Interrupted", cause="stopped from stepline run")
        return engine.wait(arn, timeout=30)
    console.print(
        "Leaving it. Its jobs keep running; continue the execution later with "
        "[bold]stepline executions resume[/]."
    )
    os._exit(130)


def _summary(result: dict) -> None:
    console = Console(stderr=True)
    style = "green" if result["status"] == "SUCCEEDED" else "bold red"
    console.print(f"[{style}]{result['status']}[/] {result['executionArn']}")
    if result["error"]:
        console.print(f"{result['error']}: {result['cause']}")
    emit_json(result["output"])
