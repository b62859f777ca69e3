"""Run the console: in the foreground with uvicorn (``stepline ui``) or on a background
thread for a notebook or a test.

Why 127.0.0.1 by default: the console can stop and redrive executions, so it is not
exposed to the network unless asked for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stepline.console.app import create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def serve(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, engine: Any = None, token: str | None = None
) -> None:
    """Run the console until interrupted (``token``: default the home's console token)."""
    import uvicorn

    app = create_app(engine, token=token, bind=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@contextmanager
def running(app: Any, host: str = DEFAULT_HOST, port: int = 0) -> Iterator[str]:
    """Serve ``app`` on a background thread (a notebook, a test); yields its base URL.

    ``port=0`` picks a free port.  The server stops when the block ends."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="stepline-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the console did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(5)
