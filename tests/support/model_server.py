"""A SageMaker model server in the standard library, for the images of tests whose job also
serves its model (``train`` and ``serve`` in one image, SageMaker's bring-your-own contract).

This file runs inside those images, not in the tests: ``support.images.MODEL_SERVER`` copies
it next to the job's code, where ``from model_server import serve`` finds it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve(predict: Callable[[bytes], Any]) -> None:
    """Answer ``GET /ping`` and ``POST /invocations`` (with ``predict(body)`` as JSON) on
    127.0.0.1 at ``SAGEMAKER_BIND_TO_PORT`` (8080 when unset), until killed."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200 if self.path == "/ping" else 404, b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/invocations":
                return self._send(404, b"")
            self._send(200, json.dumps(predict(body)).encode())

    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
