"""SageMaker Runtime InvokeEndpoint through boto3's ``sagemaker-runtime`` client, on the same
port as the rest of the AWS API; the model arrives through the S3 API."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
import uuid
from pathlib import Path

import botocore.exceptions
import pytest

from stepline.serving import api
from support.images import build_image

SERVE = r"""
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = json.load(open("/opt/ml/model/model.json"))
LABEL = os.environ["LABEL"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, ctype, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(200, b"", "text/plain")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if body == b"fail":
            return self._send(500, b"model exploded", "text/plain")
        seen = {
            "x": json.loads(body) * MODEL["w"],
            "label": LABEL,
            "content_type": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"),
        }
        attrs = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        extra = [("X-Amzn-SageMaker-Custom-Attributes", "echo:" + attrs)] if attrs else []
        self._send(200, json.dumps(seen).encode(), "application/json", extra)


print("serving", LABEL, flush=True)
PORT = int(os.environ["SAGEMAKER_BIND_TO_PORT"])
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
"""


def _tarball(params: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = json.dumps(params).encode()
        info = tarfile.TarInfo("model.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_invoke_endpoint_with_boto3(aws_env, boto3_client, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STEPLINE_HOME", aws_env["STEPLINE_HOME"])
    monkeypatch.setenv("STEPLINE_STORE", "local")
    s3 = boto3_client("s3")
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=_tarball({"w": 3}))
    build_image(
        tmp_path / "ctx", "rt-serve:1", {"serve.py": SERVE}, ["python", "/opt/program/serve.py"]
    )
    name = f"rt-{uuid.uuid4().hex[:8]}"
    for label in ("a", "b"):
        api.create_model(
            {
                "ModelName": f"{name}-{label}",
                "PrimaryContainer": {
                    "Image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/rt-serve:1",
                    "ModelDataUrl": f"s3://{bucket}/m/model.tar.gz",
                    "Environment": {"LABEL": label},
                },
                "ExecutionRoleArn": "arn:aws:iam::000000000000:role/StepLineExecutionRole",
            }
        )
    api.create_endpoint_config(
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": f"V{label}",
                    "ModelName": f"{name}-{label}",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 1.0 if label == "a" else 0.0,
                }
                for label in ("a", "b")
            ],
        }
    )
    api.create_endpoint({"EndpointName": name, "EndpointConfigName": name})
    try:
        deadline = time.monotonic() + 90
        while (row := api.endpoint_row(name))["status"] != "InService":
            assert row["status"] in ("Creating", "SystemUpdating"), row
            assert time.monotonic() < deadline, row
            time.sleep(0.2)
        runtime = boto3_client("sagemaker-runtime")
        out = runtime.invoke_endpoint(
            EndpointName=name,
            Body=b"2",
            ContentType="application/json",
            Accept="application/json",
            CustomAttributes="trace=1",
        )
        assert json.loads(out["Body"].read()) == {
            "x": 6,
            "label": "a",
            "content_type": "application/json",
            "accept": "application/json",
        }
        assert out["InvokedProductionVariant"] == "Va"
        assert out["CustomAttributes"] == "echo:trace=1"
        # curl (and other clients) send Expect: 100-continue with larger bodies.
        with socket.create_connection(("127.0.0.1", aws_env["port"]), timeout=5) as sock:
            sock.sendall(
                f"POST /endpoints/{name}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: 1\r\n"
                "Expect: 100-continue\r\n\r\n".encode()
            )
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            sock.sendall(b"4")
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200 ") and b'"x": 12' in answer
        targeted = runtime.invoke_endpoint(
            EndpointName=name, Body=b"1", ContentType="application/json", TargetVariant="Vb"
        )
        assert json.loads(targeted["Body"].read())["label"] == "b"
        assert targeted["InvokedProductionVariant"] == "Vb"
        with pytest.raises(botocore.exceptions.ClientError) as err:
            runtime.invoke_endpoint(EndpointName=name, Body=b"fail")
        assert err.value.response["Error"]["Code"] == "ModelError"
        assert err.value.response["OriginalStatusCode"] == 500
        with pytest.raises(botocore.exceptions.ClientError) as err:
            runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1")
        assert err.value.response["Error"]["Code"] == "ValidationError"
        assert "000000000000" in err.value.response["Error"]["Message"]
        # The logs of the endpoint, as the SageMaker SDK reads them.
        logs = boto3_client("logs")
        group = f"/aws/sagemaker/Endpoints/{name}"
        streams = [
            s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
        ]
        assert sorted(s.split("/")[0] for s in streams) == ["Va", "Vb"]
        text = [
            e["message"]
            for s in streams
            for e in logs.get_log_events(logGroupName=group, logStreamName=s, startFromHead=True)[
                "events"
            ]
        ]
        assert "serving a" in text and "serving b" in text
    finally:
        api.delete_endpoint(name)
