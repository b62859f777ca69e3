"""``stepline ui``: serve the web console (and its API) for the local stepline home.

It binds to 127.0.0.1 unless ``--host`` says otherwise, because the console can stop and
redrive executions and nothing in it asks who is calling.
"""

from __future__ import annotations

import typer

# Not imported from stepline.server: the CLI must load without the server's dependencies.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def ui(
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", help="Port to listen on."),
    host: str = typer.Option(
        DEFAULT_HOST, "--host", help="Address to bind (default: this machine only)."
    ),
) -> None:
    """Serve the web console: workflows, executions, jobs, endpoints and models."""
    from stepline.server import serve

    typer.echo(f"stepline console on http://{host}:{port}/  (API: /openapi.json; Ctrl-C stops)")
    serve(host=host, port=port)
