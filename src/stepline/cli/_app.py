"""The ``stepline`` typer app, built from the registry of command modules, and its entry
point.

Why one boundary (:func:`main`): every error reaches the user as one line
(``stepline: error: ...``) whichever command raised it, unless ``--debug`` asks for the
traceback; a new command needs a line in :data:`GROUPS` or :data:`COMMANDS`, nothing else.
"""

from __future__ import annotations

import importlib
import sys

import typer

#: (group name, module under stepline.cli, help) -- add a line to add a group.
GROUPS: list[tuple[str, str, str]] = [
    ("states", "states", "Validate and run Amazon States Language definitions."),
    ("executions", "executions", "List, inspect, stop, redrive and resume executions."),
    ("s3", "s3", "Copy, list and remove objects in the object store."),
    ("images", "images", "Build, list, tag and remove job images."),
    ("endpoints", "endpoints", "List, describe, invoke, tail and delete endpoints."),
    ("jobs", "jobs", "List, describe and follow SageMaker-style jobs."),
    ("cache", "cache", "Explain why a job step did or did not reuse earlier outputs."),
    ("workflows", "workflows", "List workflows (state machines) and their versions."),
]

#: (command name, module under stepline.cli, function) -- top-level commands.
COMMANDS: list[tuple[str, str, str]] = [
    ("run", "run", "run"),
    ("ui", "ui", "ui"),
    ("server", "server", "server"),
    ("env", "env", "env"),
]

app = typer.Typer(
    name="stepline",
    help="Local-first ML pipelines in the shape of AWS Step Functions + SageMaker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    _state["debug"] = debug


for _name, _module, _help in GROUPS:
    _mod = importlib.import_module(f"stepline.cli.{_module}")
    app.add_typer(_mod.app, name=_name, help=_help)
for _name, _module, _function in COMMANDS:
    app.command(_name)(getattr(importlib.import_module(f"stepline.cli.{_module}"), _function))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the typer app, turning unexpected errors into one clear line."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = app(args=argv, standalone_mode=False)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("stepline: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - the CLI's single error boundary
        import click

        if isinstance(exc, click.exceptions.Exit):
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.exceptions.Abort):
            print("Aborted.", file=sys.stderr)
            raise SystemExit(1) from None
        if debug:
            raise
        print(f"stepline: error: {str(exc) or type(exc).__name__}", file=sys.stderr)
        raise SystemExit(1) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)
