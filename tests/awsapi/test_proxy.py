"""The HTTPS proxy of ``stepline env``: AWS URLs that clients build themselves land here.

The SageMaker SDK asks STS at ``https://sts.REGION.amazonaws.com`` (``get_execution_role()``,
``Session.account_id()``), which no ``AWS_*`` variable redirects.  ``stepline env`` names the
server as ``HTTPS_PROXY`` and this home's CA as ``AWS_CA_BUNDLE``; the server terminates TLS
for AWS names and relays every other host.
"""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

CLIENT_CODE = r"""
import json, os
import boto3, requests, sagemaker

out = {"role": sagemaker.get_execution_role(), "account": sagemaker.Session().account_id()}
sts = boto3.client("sts", endpoint_url="https://sts.us-east-1.amazonaws.com")
out["sts_https"] = sts.get_caller_identity()["Arn"]
out["sts_plain"] = boto3.client("sts").get_caller_identity()["Arn"]
# S3 at AWS's own address, virtual-hosted style (BUCKET.s3.amazonaws.com), over TLS: botocore
# sends aws-chunked bodies with a CRC32 trailer there.
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="https://s3.amazonaws.com",
                  config=Config(s3={"addressing_style": "virtual"}))
s3.create_bucket(Bucket="proxied-bucket")
s3.put_object(Bucket="proxied-bucket", Key="k.txt", Body=b"through tls", Metadata={"a": "b"})
got = s3.get_object(Bucket="proxied-bucket", Key="k.txt")
out["s3"] = [got["Body"].read().decode(), got["Metadata"]]
# The same object through the plain endpoint: one store.
plain = boto3.client("s3").get_object(Bucket="proxied-bucket", Key="k.txt")["Body"].read()
out["s3_plain"] = plain.decode()
# Every other service at its AWS address lands here too (the control planes, and
# InvokeEndpoint on the router's own path: a missing endpoint is the router's answer).
hosts = {"sagemaker": "api.sagemaker", "stepfunctions": "states", "logs": "logs"}
calls = {"sagemaker": ("list_training_jobs", {}),
         "stepfunctions": ("list_state_machines", {}),
         "logs": ("describe_log_streams", {"logGroupName": "/aws/sagemaker/TrainingJobs"})}
out["services"] = {}
for name, host in hosts.items():
    c = boto3.client(name, endpoint_url=f"https://{host}.us-east-1.amazonaws.com")
    op, kwargs = calls[name]
    out["services"][name] = getattr(c, op)(**kwargs)["ResponseMetadata"]["HTTPStatusCode"]
rt = boto3.client("sagemaker-runtime",
                  endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com")
try:
    rt.invoke_endpoint(EndpointName="nope", Body=b"1", ContentType="text/csv")
except rt.exceptions.ValidationError as err:
    out["runtime"] = err.response["Error"]["Message"]
# requests trusts the chain given the bundle (an unsigned call: the query-shaped 403).
r = requests.get("https://sts.us-east-1.amazonaws.com/", verify=os.environ["AWS_CA_BUNDLE"])
out["requests"] = [r.status_code, "MissingAuthenticationToken" in r.text]
try:
    requests.get("https://sts.us-east-1.amazonaws.com/", timeout=30)
    out["untrusted"] = "accepted"
except requests.exceptions.SSLError:
    out["untrusted"] = "refused"
print("RESULT " + json.dumps(out))
"""


def _only_env(aws_env: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """A process environment holding nothing but what ``stepline env`` printed."""
    env = {k: str(v) for k, v in aws_env.items() if k.isupper() or k.endswith("_proxy")}
    env.update(
        PATH=os.environ["PATH"],
        HOME=str(tmp_path),
        SAGEMAKER_SUPPRESS_V2_WARNING="1",
    )
    return env


def test_env_names_the_proxy_and_ca(aws_env) -> None:
    port = aws_env["port"]
    assert aws_env["HTTPS_PROXY"] == aws_env["https_proxy"] == f"http://127.0.0.1:{port}"
    assert aws_env["NO_PROXY"] == aws_env["no_proxy"] == "127.0.0.1,localhost,::1"
    home = Path(aws_env["STEPLINE_HOME"])
    assert Path(aws_env["AWS_CA_BUNDLE"]) == home / "aws-proxy-ca.pem"
    key = home / "secrets" / "aws-proxy-ca-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    from cryptography import x509

    ca = x509.load_pem_x509_certificate(Path(aws_env["AWS_CA_BUNDLE"]).read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert {n.value for n in constraints.value.permitted_subtrees} == {"amazonaws.com", "api.aws"}


def test_unmodified_sdk_calls_to_aws_hosts_land_here(aws_env, tmp_path) -> None:
    import json

    res = subprocess.run(
        [sys.executable, "-c", CLIENT_CODE],
        env=_only_env(aws_env, tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
    assert res.returncode == 0 and lines, res.stderr[-3000:]
    out = json.loads(lines[-1][7:])
    assert out["role"] == "arn:aws:iam::000000000000:role/StepLineExecutionRole"
    assert out["account"] == "000000000000"
    arn = "arn:aws:sts::000000000000:assumed-role/StepLineExecutionRole/stepline"
    assert out["sts_https"] == out["sts_plain"] == arn
    assert out["s3"] == ["through tls", {"a": "b"}]
    assert out["s3_plain"] == "through tls"
    assert out["services"] == {"sagemaker": 200, "stepfunctions": 200, "logs": 200}
    assert out["runtime"] == "Endpoint nope of account 000000000000 not found."
    assert out["requests"] == [403, True]
    assert out["untrusted"] == "refused"  # only clients given the bundle trust this CA


def test_aws_cli_through_the_proxy(aws_env, tmp_path) -> None:
    env = _only_env(aws_env, tmp_path)
    aws = [sys.executable, "-m", "awscli"]
    for extra in ([], ["--endpoint-url", "https://sts.us-west-2.amazonaws.com"]):
        res = subprocess.run(
            [*aws, "sts", "get-caller-identity", "--output", "json", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        assert '"Account": "000000000000"' in res.stdout


def _proxy(aws_env: dict[str, Any]) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", aws_env["port"], timeout=10)


def _connect(aws_env: dict[str, Any], target: str, headers: str = "") -> bytes:
    with socket.create_connection(("127.0.0.1", aws_env["port"]), timeout=10) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{headers}\r\n".encode())
        return sock.makefile("rb").read()


def test_connect_refusals(aws_env) -> None:
    answer = _connect(aws_env, "sts.amazonaws.com:443", "Origin: http://evil.example\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ") and b"web page" in answer
    answer = _connect(aws_env, "sts.amazonaws.com:80")
    assert answer.startswith(b"HTTP/1.1 403 ") and b"port 443 only" in answer
    for bad in ("no-port", "bad_host!:443", "host:99999", "*.amazonaws.com:443"):
        assert _connect(aws_env, bad).startswith(b"HTTP/1.1 400 "), bad


def test_tunnel_is_for_its_own_host_and_needs_the_ca(aws_env) -> None:
    trusting = ssl.create_default_context(cafile=aws_env["AWS_CA_BUNDLE"])
    conn = http.client.HTTPSConnection("127.0.0.1", aws_env["port"], timeout=10, context=trusting)
    conn.set_tunnel("sts.us-east-1.amazonaws.com", 443)
    conn.request("GET", "/", headers={"Host": "evil.example"})
    resp = conn.getresponse()
    assert resp.status == 403 and b"not this tunnel's" in resp.read()
    conn.close()
    conn = http.client.HTTPSConnection("127.0.0.1", aws_env["port"], timeout=10, context=trusting)
    conn.set_tunnel("sts.us-east-1.amazonaws.com", 443)
    conn.request("CONNECT", "example.com:443")  # a tunnel in the tunnel
    resp = conn.getresponse()
    assert resp.status == 400 and b"inside a tunnel" in resp.read()
    conn.close()
    default = ssl.create_default_context()  # the system's roots: our certificate is refused
    conn = http.client.HTTPSConnection("127.0.0.1", aws_env["port"], timeout=10, context=default)
    conn.set_tunnel("sts.us-east-1.amazonaws.com", 443)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/")
    conn.close()


def test_other_hosts_are_relayed(aws_env) -> None:
    """pip, git or downloads in a shell that ran ``stepline env`` keep working: a host that
    is not AWS's is relayed byte for byte (here a local HTTP server, named as a DNS host)."""

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = b"relayed " + self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = _proxy(aws_env)
        conn.set_tunnel("localhost", server.server_address[1])
        for path in ("/one", "/two"):  # a kept-alive connection through the relay
            conn.request("GET", path)
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"relayed " + path.encode())
        conn.close()
        closed = _connect(aws_env, f"localhost:{_closed_port()}")
        assert closed.startswith(b"HTTP/1.1 502 ") and b"cannot reach" in closed
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
