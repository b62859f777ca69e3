"""Network isolation for processing jobs, and metric regexes that cannot stall the supervisor
(issue 10, rows 6 and 11)."""

from __future__ import annotations

import io
import tarfile
import time

import pytest
import sandbox_support

from stepline import jobs
from support.job_requests import ROLE, processing_request, training_request

home = sandbox_support.home

CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
    print("CONNECTED", flush=True)
except OSError as exc:
    print("REFUSED", exc, flush=True)
"""


@pytest.mark.parametrize("isolated", [True, False])
def test_processing_network_isolation(store, make_image, listener, isolated) -> None:
    image = make_image("net", {"c.py": CONNECT}, ["python3", "/opt/program/c.py"])
    name = f"net-{isolated}".lower()
    req = processing_request(
        name,
        image,
        AppSpecification={"ImageUri": image, "ContainerArguments": [str(listener)]},
        NetworkConfig={"EnableNetworkIsolation": isolated},
    )
    jobs.create_processing_job(req)
    done = jobs.wait("processing", name, timeout=60)
    assert done.status == "Completed", done.state.get("failure_reason")
    log = done.log_path.read_text()
    assert ("REFUSED" if isolated else "CONNECTED") in log, log


HOSTILE_LOG = """
import time
for _ in range(3):
    print("a" * 34 + "!", flush=True)
    print("b" * 5000 + "!", flush=True)
print("loss=0.5", flush=True)
time.sleep(300)
"""

#: Each takes exponential time on ``"a" * 34 + "!"`` with Python's re module; regex's
#: safeguards handle the first, its timeout the second.
DEFINITIONS = [
    {"Name": "nested", "Regex": "(a+)+$"},
    {"Name": "alternation", "Regex": "(a|aa)+$"},
    {"Name": "loss", "Regex": "loss=([0-9.]+)"},
]


def _hostile_job(make_image, name: str, max_runtime: int) -> None:
    image = make_image(name, {"m.py": HOSTILE_LOG}, ["python3", "/opt/program/m.py"])
    req = training_request(
        name,
        image,
        AlgorithmSpecification={
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": DEFINITIONS,
        },
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
    )
    jobs.create_training_job(req)


def test_max_runtime_is_enforced_while_a_metric_regex_backtracks(store, make_image) -> None:
    started = time.monotonic()
    _hostile_job(make_image, "redos-1", 3)
    done = jobs.wait("training", "redos-1", timeout=60)
    assert time.monotonic() - started < 20
    desc = jobs.describe_training_job("redos-1")
    assert desc["TrainingJobStatus"] == "Stopped"
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    # The well-behaved rule still recorded its value.
    assert any(m["MetricName"] == "loss" for m in desc.get("FinalMetricDataList", [])), desc
    assert done.terminal
    (warning,) = done.state["metric_warnings"]
    assert "'alternation'" in warning and "dropped" in warning


def test_stop_works_while_a_metric_regex_backtracks(store, make_image) -> None:
    _hostile_job(make_image, "redos-2", 600)
    deadline = time.monotonic() + 30
    log = jobs.get_record("training", "redos-2").log_path
    while not log.exists() or "loss=0.5" not in log.read_text():
        assert time.monotonic() < deadline, "the job never logged"
        time.sleep(0.05)
    started = time.monotonic()
    jobs.stop_training_job("redos-2")
    done = jobs.wait("training", "redos-2", timeout=30)
    assert done.status == "Stopped" and time.monotonic() - started < 15


SERVER = """
import http.server, os, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            socket.create_connection(("127.0.0.1", int(os.environ["HOST_PORT"])), timeout=2)
            body = b"reached the host"
        except OSError:
            body = b"isolated"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def test_isolated_server_answers_its_port_but_cannot_reach_the_host(
    make_image, listener, tmp_path
) -> None:
    """A network-isolated model server (transform jobs, endpoints) is still reachable on
    its port from the host, through a Unix socket, while it reaches nothing itself."""
    import http.client

    from stepline import images
    from stepline.jobs.runtimes import ProcessRuntime, RunSpec
    from stepline.serving.host import free_port

    make_image("isoserver", {"s.py": SERVER}, ["python3", "/opt/program/s.py"])
    port = free_port()
    spec = RunSpec(
        image=images.resolve("isoserver:latest"),
        log_path=tmp_path / "server.log",
        env={"PORT": str(port), "HOST_PORT": str(listener)},
        ports=[port],
        network=False,
    )
    handle = ProcessRuntime().start(spec)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                body = conn.getresponse().read()
                conn.close()
                break
            except (OSError, http.client.HTTPException):
                assert handle.poll() is None, spec.log_path.read_text()
                assert time.monotonic() < deadline, "the isolated server never answered"
                time.sleep(0.1)
        assert body == b"isolated"
    finally:
        handle.stop(1)
    assert handle.poll() is not None
    assert not handle.prepared.port_sockets[port].parent.exists()


MODEL_SERVER = """
import http.server, os, socket
class H(http.server.BaseHTTPRequestHandler):
    def _reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self._reply(b"")
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            socket.create_connection(("127.0.0.1", int(os.environ["HOST_PORT"])), timeout=2)
            self._reply(b"reached the host")
        except OSError:
            self._reply(b"isolated")
    def log_message(self, *args):
        pass
port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.mark.parametrize("isolated", [True, False])
def test_transform_job_network_isolation(store, make_image, listener, isolated) -> None:
    from stepline.serving import api, transform

    image = make_image("modelsrv", {"srv.py": MODEL_SERVER}, ["python3", "/opt/program/srv.py"])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz"):
        pass
    store.put_bytes("s3://bucket/model/model.tar.gz", buf.getvalue())
    store.put_bytes("s3://bucket/in/a.txt", b"x")
    api.create_model(
        {
            "ModelName": "iso",
            "PrimaryContainer": {
                "Image": image,
                "ModelDataUrl": "s3://bucket/model/model.tar.gz",
                "Environment": {"HOST_PORT": str(listener)},
            },
            "ExecutionRoleArn": ROLE,
            "EnableNetworkIsolation": isolated,
        }
    )
    name = f"iso-{isolated}".lower()
    transform.create_transform_job(
        {
            "TransformJobName": name,
            "ModelName": "iso",
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}
                },
                "ContentType": "text/plain",
            },
            "TransformOutput": {"S3OutputPath": f"s3://bucket/{name}"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        }
    )
    done = jobs.wait("transform", name, timeout=60)
    assert done.status == "Completed", (done.state.get("failure_reason"), done.log_path.read_text())
    expected = b"isolated" if isolated else b"reached the host"
    assert store.get_bytes(f"s3://bucket/{name}/a.txt.out") == expected
