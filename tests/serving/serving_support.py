"""Helpers for serving tests and the endpoint benchmark: the stdlib model server, models."""

from __future__ import annotations

import io
import json
import tarfile
import time

from stepline.serving import api
from stepline.storage import get_store

#: A SageMaker-style model server written with the standard library only.
SERVE = r"""
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

assert sys.argv[1:] == ["serve"], sys.argv
MODEL = json.load(open("/opt/ml/model/model.json"))
PORT = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
NAME = os.environ.get("MODEL_LABEL", "m")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one segment (flushed per request)
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype="application/json", extra=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/ping":
            self._send(200, b"")
        elif self.path == "/execution-parameters":
            self._send(200, json.dumps(MODEL.get("execution_parameters", {})))
        else:
            self._send(404, "no")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        if self.path != "/invocations":
            return self._send(404, "no")
        if body.startswith("sleep:"):
            time.sleep(float(body[6:]))
            body = "0"
        if body.strip() == "fail":
            return self._send(500, "model exploded")
        if body == "headers":
            seen = {k.lower(): v for k, v in self.headers.items()}
            return self._send(200, json.dumps(seen))
        ctype = self.headers.get("Content-Type", "")
        w, b = MODEL["w"], MODEL["b"]
        if ctype == "text/csv":
            out = []
            for line in body.splitlines():
                if line.strip():
                    xs = [float(v) for v in line.split(",")]
                    out.append(str(round(w * sum(xs) + b, 6)))
            return self._send(200, "\n".join(out), "text/csv")
        if ctype == "application/jsonlines":
            out = []
            for line in body.splitlines():
                if line.strip():
                    rec = json.loads(line)
                    x = rec["x"] if isinstance(rec, dict) else rec
                    out.append(json.dumps({"y": round(w * x + b, 6)}))
            return self._send(200, "\n".join(out), "application/jsonlines")
        attrs = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        extra = [("X-Amzn-SageMaker-Custom-Attributes", "echo:" + attrs)] if attrs else []
        x = json.loads(body or "0")
        self._send(200, json.dumps({"y": round(w * x + b, 6), "model": NAME}), extra=extra)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.allow_reuse_address = True
print(f"serving {NAME} on {PORT}", flush=True)
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
"""


def model_tarball(params: dict, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        files = {"model.json": json.dumps(params).encode(), **(extra or {})}
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_model(uri: str, params: dict) -> str:
    store = get_store()
    bucket = uri[5:].split("/", 1)[0]
    if bucket not in store.list_buckets():
        store.create_bucket(bucket)
    store.put_bytes(uri, model_tarball(params))
    return uri


def make_model(name: str, image: str, data_url: str, label: str = "m") -> None:
    api.create_model(
        {
            "ModelName": name,
            "PrimaryContainer": {
                "Image": image,
                "ModelDataUrl": data_url,
                "Environment": {"MODEL_LABEL": label},
            },
            "ExecutionRoleArn": "arn:aws:iam::000000000000:role/sm",
        }
    )


def make_config(name: str, variants: list[tuple[str, str, float]], count: int = 1) -> None:
    api.create_endpoint_config(
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": vname,
                    "ModelName": model,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": weight,
                    "ContainerStartupHealthCheckTimeoutInSeconds": 60,
                }
                for vname, model, weight in variants
            ],
        }
    )


def wait_status(name: str, wanted: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = api.describe_endpoint(name)
        if desc["EndpointStatus"] == wanted:
            return desc
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint {name} is {desc['EndpointStatus']}: {desc}")
        time.sleep(0.05)
