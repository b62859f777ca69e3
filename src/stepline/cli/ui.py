"""``stepline ui``: serve the web console (and its API) for the local stepline home.

It binds to 127.0.0.1 unless ``--host`` says otherwise, and every API call needs the home's
console token: the first line of output is the URL to open, token included (opening it sets a
cookie and drops the token from the address bar).

Ctrl-C stops the console at once, even while executions it started are running: they are
left RUNNING, as after a crash, and ``stepline executions resume`` (or ``stepline server``)
continues them from their history.
"""

from __future__ import annotations

import os
import sys

import typer

# Not imported from stepline.console: the CLI must load without the console's dependencies.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def ui(
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", help="Port to listen on."),
    host: str = typer.Option(
        DEFAULT_HOST, "--host", help="Address to bind (default: this machine only)."
    ),
) -> None:
    """Serve the web console: workflows, executions, jobs, endpoints and models."""
    from stepline.console import security, serve
    from stepline.engine import Engine
    from stepline.engine.store import owner_token

    token = security.console_token()
    typer.echo(security.console_url(host, port, token))
    typer.echo(
        "stepline console: open the URL above (API: /openapi.json, with the header "
        f"'Authorization: Bearer TOKEN' from {security.token_path()}; Ctrl-C stops)",
        err=True,
    )
    engine = Engine()
    interrupted = False
    try:
        serve(host=host, port=port, engine=engine, token=token)
    except KeyboardInterrupt:
        interrupted = True
    me = owner_token()
    left = [
        r
        for r in engine.store.list_executions(status="RUNNING", limit=100000)
        if r.get("owner") == me
    ]
    if not left:
        if interrupted:
            raise typer.Exit(130)
        return
    typer.echo(
        f"stepline console stopped; {len(left)} execution(s) it started are left RUNNING: "
        "`stepline executions resume` (or `stepline server`) continues them",
        err=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # Their threads (and the pools they wait on) would keep the interpreter alive until they
    # finish; leave them as a crash would, which the store and `resume` are built for.
    os._exit(130 if interrupted else 0)
