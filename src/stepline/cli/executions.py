"""``stepline executions``: list, describe, history, stop, redrive, resume."""

from __future__ import annotations

import typer

from stepline.cli._common import emit_json, fmt_time, print_table

app = typer.Typer(no_args_is_help=True)


def _engine():  # noqa: ANN202 - imported lazily so `stepline --help` stays fast
    from stepline.engine import Engine

    return Engine()


@app.command("list")
def list_(
    state_machine: str | None = typer.Option(None, "--state-machine", "-s"),
    status: str | None = typer.Option(None, "--status", help="RUNNING, SUCCEEDED, FAILED ..."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Executions, newest first."""
    rows = _engine().list_executions(state_machine, status.upper() if status else None)
    if as_json:
        emit_json(rows)
        return
    print_table(
        ("name", "state machine", "status", "started", "stopped"),
        (
            (
                r["name"],
                r["stateMachineArn"].split(":")[-1],
                r["status"],
                fmt_time(r["startDate"]),
                fmt_time(r.get("stopDate")),
            )
            for r in rows
        ),
        empty="no executions",
    )


@app.command()
def describe(
    name: str = typer.Argument(..., help="Execution name or ARN."),
    as_json: bool = typer.Option(False, "--json", help="Print DescribeExecution's JSON."),
) -> None:
    """One execution's status, input, output, error."""
    desc = _engine().describe_execution(name)
    if as_json:
        emit_json(desc)
        return
    for key, value in desc.items():
        typer.echo(f"{key}: {value}")


@app.command()
def history(
    name: str = typer.Argument(..., help="Execution name or ARN."),
    as_json: bool = typer.Option(False, "--json", help="Print GetExecutionHistory's events."),
) -> None:
    """The execution's history events, oldest first."""
    events = _engine().get_execution_history(name)
    if as_json:
        emit_json(events)
        return
    rows = []
    for e in events:
        details = next((v for k, v in e.items() if k.endswith("EventDetails")), {})
        rows.append((e["id"], e["type"], details.get("name"), fmt_time(e["timestamp"], ms=True)))
    print_table(("id", "type", "state", "timestamp"), rows)


@app.command()
def stop(
    name: str = typer.Argument(..., help="Execution name or ARN."),
    error: str | None = typer.Option(None, "--error"),
    cause: str | None = typer.Option(None, "--cause"),
) -> None:
    """Abort a running execution."""
    emit_json(_engine().stop_execution(name, error, cause))


@app.command()
def redrive(name: str = typer.Argument(..., help="Execution name or ARN.")) -> None:
    """Re-run a failed, timed-out or aborted execution from where it stopped."""
    engine = _engine()
    engine.redrive_execution(name)
    desc = engine.describe_execution(name)
    emit_json(desc)
    if desc["status"] != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def resume() -> None:
    """Continue every execution left running by a process that died."""
    engine = _engine()
    arns = engine.resume(wait=True)
    for arn in arns:
        desc = engine.describe_execution(arn)
        typer.echo(f"{desc['name']}: {desc['status']}")
    if not arns:
        typer.echo("no interrupted executions")
