"""``stepline server``: run the local server (router for endpoints) in the foreground,
or ``--background`` to start the daemon, ``--stop`` to stop it, ``--status`` to show it."""

from __future__ import annotations

import typer


def server(
    port: int | None = typer.Option(None, "--port", help="Port on 127.0.0.1 (default: any)."),
    background: bool = typer.Option(False, "--background", help="Start as a daemon."),
    stop: bool = typer.Option(False, "--stop", help="Stop the running server."),
    status: bool = typer.Option(False, "--status", help="Show the running server."),
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="Continue executions left running by dead processes."
    ),
) -> None:
    """Host endpoints: the router on 127.0.0.1 and their model servers."""
    from stepline.serving import server as srv

    if stop:
        typer.echo("stopped" if srv.stop_server() else "no server running")
        return
    if status:
        info = srv.server_info()
        typer.echo(
            f"running: pid {info['pid']}, http://127.0.0.1:{info['port']}"
            if info
            else "not running"
        )
        return
    if background:
        typer.echo(f"http://127.0.0.1:{srv.ensure_server(port=port)}")
        return
    srv.serve_forever(port, resume_executions=resume)
