"""The web console (``stepline ui``): its HTTP+JSON API and its page (``static/``).

Not to be confused with ``stepline server`` (:mod:`stepline.serving.server`), the daemon that
serves endpoints and the AWS API; the console is a separate app on its own port.

``create_app(engine)`` builds the FastAPI app; ``serve(port=...)`` runs it with uvicorn on
127.0.0.1 (the console can stop and redrive executions, so it is not exposed to the network
unless asked for).  Every API call needs the home's console token and passes Host and CSRF
checks (:mod:`stepline.console.security`).  Serving code fills the endpoint and model pages
through :mod:`stepline.console.providers`.  Behind this face: :mod:`.app` (the API),
:mod:`._serve` (running it).
"""

from __future__ import annotations

from stepline.console._serve import DEFAULT_HOST, DEFAULT_PORT, running, serve
from stepline.console.app import create_app

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "create_app", "running", "serve"]
