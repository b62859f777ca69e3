"""``stepline workflows``: the state machines stored under $STEPLINE_HOME."""

from __future__ import annotations

import json

import typer

from stepline.cli._common import emit_json, fmt_time, print_table

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every workflow with its revision and last update."""
    from stepline.engine import Engine

    machines = Engine().list_state_machines()
    if as_json:
        emit_json([{k: v for k, v in m.items() if k != "definition"} for m in machines])
        return
    print_table(
        ("name", "revision", "updated", "arn"),
        (
            (m["name"], m["revisionId"], fmt_time(m["updateDate"]), m["stateMachineArn"])
            for m in machines
        ),
        empty="no workflows",
    )


@app.command()
def describe(
    name: str = typer.Argument(..., help="Workflow name or ARN."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A workflow's definition and versions."""
    from stepline.engine import Engine

    engine = Engine()
    desc = engine.describe_state_machine(name)
    desc["definition"] = json.loads(desc["definition"])
    desc["versions"] = [
        {"revision": v["revision"], "creationDate": v["creationDate"]}
        for v in engine.state_machine_versions(name)
    ]
    if as_json:
        emit_json(desc)
        return
    typer.echo(json.dumps(desc, indent=2))
