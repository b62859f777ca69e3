"""``stepline states``: validate and run ASL definitions (durable, under $STEPLINE_HOME)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stepline.cli._common import emit_json, load_json_arg

app = typer.Typer(no_args_is_help=True)


def _read_definition(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


def _load_input(value: str) -> Any:
    """The execution input; NaN and Infinity (which Python's json reads) are refused by path."""
    from stepline.asl.validate import non_finite

    payload = load_json_arg(value)
    bad = non_finite(payload)
    if bad:
        where, what = bad[0]
        raise ValueError(f"input is not valid JSON: {what} at {where}")
    return payload


@app.command()
def validate(definition: Path = typer.Argument(..., help="ASL definition (JSON file).")) -> None:
    """Exit 0 when the definition is valid; else exit 1 with one line per problem."""
    from stepline.asl import validate as check

    problems = check(_read_definition(definition))
    if problems:
        for problem in problems:
            typer.echo(str(problem))
        raise typer.Exit(1)
    typer.echo(f"{definition}: valid")


@app.command()
def run(
    definition: Path = typer.Argument(..., help="ASL definition (JSON file)."),
    input: str = typer.Option("{}", "--input", "-i", help="Execution input: JSON or @FILE."),
    name: str | None = typer.Option(None, "--name", help="Execution name (default: a UUID)."),
    state_machine: str | None = typer.Option(
        None, "--state-machine", help="State machine name (default: the file's stem)."
    ),
) -> None:
    """Create or update the state machine, run one execution to its end, print the result."""
    from stepline.asl import DefinitionError
    from stepline.engine import Engine

    payload = _load_input(input)
    text = _read_definition(definition)
    machine = state_machine or _machine_name(definition)
    engine = Engine()
    try:
        engine.create_state_machine(machine, text)
    except DefinitionError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    result = engine.start_execution(machine, payload, name=name)
    emit_json(
        {
            "executionArn": result["executionArn"],
            "name": result["name"],
            "status": result["status"],
            "output": json.loads(result["output"]) if "output" in result else None,
            "error": result.get("error"),
            "cause": result.get("cause"),
        }
    )
    if result["status"] != "SUCCEEDED":
        raise typer.Exit(1)


def _machine_name(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in path.stem)
    return stem.strip("-")[:80] or "state-machine"
