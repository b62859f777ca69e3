"""The web console and its HTTP+JSON API.

``create_app(engine)`` builds the FastAPI app; ``serve(port=...)`` runs it with uvicorn on
127.0.0.1 (the console can stop and redrive executions, so it is not exposed to the network
unless asked for).  Every API call needs the home's console token and passes Host and CSRF
checks (:mod:`stepline.server.security`).  Serving code fills the endpoint and model pages
through :mod:`stepline.server.providers`.
"""

from __future__ import annotations

from typing import Any

from stepline.server.app import create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def serve(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, engine: Any = None, token: str | None = None
) -> None:
    """Run the console until interrupted (``token``: default the home's console token)."""
    import uvicorn

    app = create_app(engine, token=token, bind=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "create_app", "serve"]
