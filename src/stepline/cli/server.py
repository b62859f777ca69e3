"""``stepline server``: run the local server in the foreground, ``--background`` to start the
daemon, ``--stop`` to stop it, ``--status`` to say whether it is up and ready.

One server per ``$STEPLINE_HOME``, on 127.0.0.1 at one port (default 8787, ``[server] port``
or STEPLINE_SERVER_PORT): the endpoint router, AWS's wire protocols (see ``stepline env``) and
the resumption of executions whose process died.
"""

from __future__ import annotations

import typer


def server(
    port: int | None = typer.Option(
        None, "--port", help="Port on 127.0.0.1 (default 8787, or [server] port in config.toml)."
    ),
    background: bool = typer.Option(False, "--background", help="Start as a daemon."),
    stop: bool = typer.Option(False, "--stop", help="Stop the running server."),
    status: bool = typer.Option(False, "--status", help="Say whether it is up and ready."),
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="Continue executions left running by dead processes."
    ),
) -> None:
    """Serve endpoints and AWS's APIs (S3, STS, IAM, Logs, SageMaker, Step Functions)."""
    from stepline import config
    from stepline.serving import server as srv
    from stepline.serving.host import ping

    if stop:
        typer.echo("stopped" if srv.stop_server() else "no server running")
        return
    info = srv.server_info()
    if status:
        if info is None:
            typer.echo(f"not running (home {config.home()})")
            raise typer.Exit(1)
        ready = ping(int(info["port"]))
        typer.echo(
            f"{'ready' if ready else 'starting'}: pid {info['pid']}, "
            f"http://127.0.0.1:{info['port']} (home {config.home()})"
        )
        raise typer.Exit(0 if ready else 1)
    if info is not None:
        where = f"http://127.0.0.1:{info['port']} (pid {info['pid']}, home {config.home()})"
        if port is not None and int(info["port"]) != port:
            typer.echo(f"stepline server: already running at {where}, not on {port}", err=True)
            raise typer.Exit(1)
        typer.echo(f"already running at {where}")
        return
    if background:
        typer.echo(f"http://127.0.0.1:{srv.ensure_server(port=port)}")
        return
    srv.serve_forever(port, resume_executions=resume)
