"""Shared pieces of the console tests: the test pipeline, its handles, screenshots.

The fixtures that use them are in ``conftest.py``: a live console over a real pipeline (an
engine, a uvicorn server and headless Chromium).

Session-scoped so the whole browser suite shares one server and one browser (the suite must
stay well under two minutes).  The pipeline's Task states are local functions; ``gate``
blocks on a :class:`threading.Event` so tests can look at an execution while it runs.  The
``train`` task starts a real SageMaker-style training job (process runtime) whose script
waits until the test releases it (it polls a small HTTP server of the test over the host
network, which the sandbox leaves to jobs that do not ask for isolation; no host folder is
visible to a job), so its page can be watched while it runs too.

Chromium comes from the system (``apt-get install chromium``); Playwright only drives it.
Screenshots go to ``test-artifacts/console/``.
"""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

TRAIN_SCRIPT = """
import json, os, time, urllib.request
release = json.load(open("/opt/ml/input/config/hyperparameters.json"))["release"]

def released():
    try:
        return urllib.request.urlopen(release, timeout=2).status == 200
    except OSError:
        return False
print("console-test: loading data", flush=True)
for epoch in range(3):
    print(f"epoch={epoch} loss={1.0 / (epoch + 1):.4f};", flush=True)
    time.sleep(0.05)
print("console-test: waiting for release", flush=True)
deadline = time.time() + 60
while not released() and time.time() < deadline:
    time.sleep(0.05)
print("console-test: training done", flush=True)
os.makedirs("/opt/ml/model", exist_ok=True)
open("/opt/ml/model/weights.txt", "w").write("w=1")
"""


def pipeline_definition() -> dict[str, Any]:
    """Pass -> Parallel[Map[Task], Task caught -> Pass, gated Task] -> job Task -> Succeed."""
    return {
        "Comment": "console test pipeline",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {
                "Type": "Pass",
                "Result": [1, 2, 3],
                "ResultPath": "$.items",
                "Next": "Fan",
            },
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Each",
                        "States": {
                            "Each": {
                                "Type": "Map",
                                "ItemsPath": "$.items",
                                "ItemProcessor": {
                                    "ProcessorConfig": {"Mode": "INLINE"},
                                    "StartAt": "Double",
                                    "States": {
                                        "Double": {
                                            "Type": "Task",
                                            "Resource": LAMBDA + "console_double",
                                            "End": True,
                                        }
                                    },
                                },
                                "End": True,
                            }
                        },
                    },
                    {
                        "StartAt": "Risky",
                        "States": {
                            "Risky": {
                                "Type": "Task",
                                "Resource": LAMBDA + "console_boom",
                                "Catch": [
                                    {
                                        "ErrorEquals": ["States.ALL"],
                                        "ResultPath": "$.error",
                                        "Next": "Recover",
                                    }
                                ],
                                "End": True,
                            },
                            "Recover": {"Type": "Pass", "Result": "recovered", "End": True},
                        },
                    },
                    {
                        "StartAt": "Gate",
                        "States": {
                            "Gate": {
                                "Type": "Task",
                                "Resource": LAMBDA + "console_gate",
                                "End": True,
                            }
                        },
                    },
                ],
                "Next": "Train",
            },
            "Train": {"Type": "Task", "Resource": LAMBDA + "console_train", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }


def flaky_definition() -> dict[str, Any]:
    """Two steps; the second fails until ``Pipeline.flaky_ok`` is set (for redrive)."""
    return {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Task", "Resource": LAMBDA + "console_first", "Next": "Second"},
            "Second": {"Type": "Task", "Resource": LAMBDA + "console_flaky", "End": True},
        },
    }


class Pipeline:
    """Handles on the running test pipeline (gates, the job's release, the engine)."""

    def __init__(self, engine: Any, image: str) -> None:
        self.engine = engine
        self.image = image
        self.released: set[str] = set()
        pipeline = self

        class Release(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                job = urllib.parse.unquote(self.path.lstrip("/"))
                self.send_response(200 if job in pipeline.released else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._release_server = ThreadingHTTPServer(("127.0.0.1", 0), Release)
        self._release_server.daemon_threads = True
        threading.Thread(target=self._release_server.serve_forever, daemon=True).start()
        self.gates: dict[str, threading.Event] = {}
        self.gate_reached: dict[str, threading.Event] = {}
        self.flaky_ok = False
        self.first_calls = 0

    def gate(self, execution: str) -> threading.Event:
        return self.gates.setdefault(execution, threading.Event())

    def reached(self, execution: str) -> threading.Event:
        return self.gate_reached.setdefault(execution, threading.Event())

    def release_url(self, job: str) -> str:
        """What the job polls: 200 once :meth:`release_job` was called, 404 before."""
        port = self._release_server.server_address[1]
        return f"http://127.0.0.1:{port}/{urllib.parse.quote(job)}"

    def release_job(self, job: str) -> None:
        self.released.add(job)

    def close(self) -> None:
        self._release_server.shutdown()
        self._release_server.server_close()


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of the whole page under test-artifacts/console/.

    Chromium's own full-page capture hangs in this headless setup, so the viewport is grown
    to the page's height first.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(max(height, 600), 6000)})
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 1000})
    return path
