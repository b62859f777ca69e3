"""An endpoint whose model image was built for the container runtime (podman), end to end.

The image is ``FROM`` the offline Debian base of the container job tests (Debian's python3,
the same cached root file system and engine store as ``tests/jobs``) with a stdlib ``serve``
executable on PATH, the classic bring-your-own-container layout: SageMaker runs
``docker run IMAGE serve``.  The endpoint goes through create, invoke via the router,
blue/green update and delete, and podman must be left with no container of it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from serving_support import make_config, make_model, put_model, wait_status

from stepline import images, serving
from stepline.images import container_engine
from stepline.jobs.runtimes import RunSpec, get_runtime
from stepline.serving import api, server

pytestmark = [pytest.mark.podman, pytest.mark.debootstrap]

#: Shared with ``tests/jobs/conftest.py`` (same names and paths), so whichever suite runs
#: first pays for debootstrap and the import, and the other finds the base ready.

#: A SageMaker model server with the standard library only.  It listens on every address of
#: the container: the published port forwards to the container's interface, and the host
#: side is 127.0.0.1 only.  SIGTERM ends it at once (it is PID 1, which has no default
#: handler), so ``podman stop`` does not wait out the grace on every retirement.
SERVE = r"""#!/usr/bin/python3
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
MODEL = json.load(open("/opt/ml/model/model.json"))
PORT = int(os.environ["SAGEMAKER_BIND_TO_PORT"])
LABEL = os.environ.get("MODEL_LABEL", "m")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200 if self.path == "/ping" else 404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/invocations":
            return self._send(404, {})
        x = json.loads(body or b"0")
        debian = os.path.exists("/etc/debian_version")
        self._send(200, {"y": MODEL["w"] * x + MODEL["b"], "model": LABEL, "debian": debian})


ThreadingHTTPServer.daemon_threads = True
print(f"serving {LABEL} on {PORT}", flush=True)
ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
"""


@pytest.fixture
def serve_container_image(container_base: str, tmp_path: Path) -> images.Image:
    ctx = tmp_path / "ctx-serve"
    ctx.mkdir()
    (ctx / "serve").write_text(SERVE)
    (ctx / "serve").chmod(0o755)
    (ctx / "Dockerfile").write_text(
        f"FROM {container_base}\n"
        "COPY serve /usr/local/bin/serve\n"
        "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true\n"
    )
    image = images.build(ctx, "linear-serve-ctr:1", runtime="container")
    assert image.runtime == "container"
    return image


def _containers(endpoint: str) -> dict[str, str]:
    """This endpoint's containers that podman knows of (any state): name -> ports."""
    out = container_engine.run(
        "ps",
        "-a",
        "--filter",
        f"name=stepline-ep-{endpoint}-",
        "--format",
        "{{.Names}}\t{{.Ports}}",
    ).stdout
    return dict(line.split("\t", 1) for line in out.splitlines() if line.strip())


def _identifiers(endpoint: str) -> list[str]:
    row = api.endpoint_row(endpoint)
    return [
        json.loads(inst["identifier"])["container"]
        for v in row["variants"]
        for inst in v["_instances"]
    ]


def _wait_gone(endpoint: str, names: list[str], timeout: float = 20.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    left = _containers(endpoint)
    while time.monotonic() < deadline and set(names) & set(left):
        time.sleep(0.1)
        left = _containers(endpoint)
    return left


def test_container_endpoint_create_invoke_update_delete(serve_container_image) -> None:
    put_model("s3://models/ctr/model.tar.gz", {"w": 2, "b": 1})
    make_model("ctr-model", "linear-serve-ctr:1", "s3://models/ctr/model.tar.gz")
    make_config("ctr-config", [("AllTraffic", "ctr-model", 1.0)])
    api.create_endpoint({"EndpointName": "ctr", "EndpointConfigName": "ctr-config"})
    desc = wait_status("ctr", "InService", timeout=60)
    deployed = desc["ProductionVariants"][0]["DeployedImages"][0]
    assert deployed["ResolvedImage"] == serve_container_image.digest

    # The model server is a podman container whose port is published on loopback only.
    (blue,) = _identifiers("ctr")
    running = _containers("ctr")
    assert list(running) == [blue]
    assert running[blue].startswith("127.0.0.1:"), running

    port = server.server_info()["port"]
    assert serving.invocation_url("ctr") == f"http://127.0.0.1:{port}/endpoints/ctr/invocations"
    out = serving.invoke_endpoint("ctr", b"3")
    assert json.loads(out["Body"]) == {"y": 7, "model": "m", "debian": True}
    assert out["InvokedProductionVariant"] == "AllTraffic"

    # Blue/green with the same variant name: the new container runs beside the old one
    # until traffic moves, then the old one is stopped and removed.
    put_model("s3://models/ctr-v2/model.tar.gz", {"w": 10, "b": 0})
    make_model("ctr-model-v2", "linear-serve-ctr:1", "s3://models/ctr-v2/model.tar.gz", "v2")
    make_config("ctr-config-v2", [("AllTraffic", "ctr-model-v2", 1.0)])
    api.update_endpoint({"EndpointName": "ctr", "EndpointConfigName": "ctr-config-v2"})
    desc = wait_status("ctr", "InService", timeout=60)
    assert desc["EndpointConfigName"] == "ctr-config-v2"
    assert json.loads(serving.invoke_endpoint("ctr", b"3")["Body"])["model"] == "v2"
    (green,) = _identifiers("ctr")
    assert green != blue
    assert list(_wait_gone("ctr", [blue])) == [green]
    assert "serving v2 on" in serving.endpoint_logs("ctr")

    api.delete_endpoint("ctr")
    deadline = time.monotonic() + 20
    while api.endpoint_row("ctr") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.endpoint_row("ctr") is None
    assert _wait_gone("ctr", [green]) == {}


def test_published_ports_are_loopback_only_and_need_a_network(
    serve_container_image, tmp_path: Path
) -> None:
    """``RunSpec.ports`` become ``-p 127.0.0.1:P:P``; isolation cannot publish, so it is refused."""
    runtime = get_runtime("container")
    spec = RunSpec(serve_container_image, tmp_path / "log", command=["serve"], ports=[18080])
    argv = runtime.prepare(spec).argv
    assert argv[argv.index("-p") + 1] == "127.0.0.1:18080:18080"
    assert "host" not in argv  # no --network host
    spec.network = False
    with pytest.raises(ValueError, match="needs a network"):
        runtime.prepare(spec)
    # Without ports, network isolation is podman's --network none, as for jobs.
    spec.ports = []
    argv = runtime.prepare(spec).argv
    assert argv[argv.index("--network") + 1] == "none"
