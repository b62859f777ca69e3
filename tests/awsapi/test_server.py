"""``stepline server`` / ``stepline env`` and the gateway's checks, with real clients."""

from __future__ import annotations

import http.client
import shlex
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest
from awsapi_support import stepline_env


def test_env_prints_quoted_exports(aws_env, client_env) -> None:
    out = stepline_env(client_env)
    names = []
    for line in out.splitlines():
        assert line.startswith("export ")
        name, _, value = line[7:].partition("=")
        names.append(name)
        assert shlex.split(value) == [str(aws_env[name])]
    assert names == [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "SAGEMAKER_USER_CONFIG_OVERRIDE",
        "AWS_DISABLE_HOST_PREFIX_INJECTION",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "AWS_CA_BUNDLE",
    ]
    assert aws_env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{aws_env['port']}"
    secret_file = Path(aws_env["STEPLINE_HOME"]) / "secrets" / "aws-credentials.json"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert secret_file.parent.stat().st_mode & 0o777 == 0o700
    # --port names another server; the SageMaker SDK config names the default bucket.
    out = subprocess.run(
        [sys.executable, "-m", "stepline", "env", "--port", "9"],
        env=client_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:9\n" in out


def test_sagemaker_sdk_reads_the_config(aws_env, client_env) -> None:
    code = (
        "from sagemaker.config import load_sagemaker_config\n"
        "c = load_sagemaker_config()['SageMaker']['PythonSDK']['Modules']\n"
        "print(c['Session']['DefaultS3Bucket'], c['TelemetryOptOut'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=client_env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-1].split() == ["sagemaker-us-east-1-000000000000", "True"]


def test_server_status_and_second_server(aws_env, client_env) -> None:
    def stepline(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "stepline", "server", *args],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    status = stepline("--status")
    assert status.returncode == 0 and status.stdout.startswith("ready")
    assert f"http://127.0.0.1:{aws_env['port']}" in status.stdout
    same = stepline("--port", str(aws_env["port"]))
    assert same.returncode == 0 and "already running" in same.stdout
    other = stepline("--port", str(aws_env["port"] + 1))
    assert other.returncode != 0 and "already running" in other.stderr


def test_status_when_not_running(tmp_path) -> None:
    from awsapi_support import server_environment

    res = subprocess.run(
        [sys.executable, "-m", "stepline", "server", "--status"],
        env=server_environment(tmp_path),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1 and res.stdout.startswith("not running")


def test_sts_and_iam(boto3_client) -> None:
    ident = boto3_client("sts").get_caller_identity()
    assert ident["Account"] == "000000000000"
    assert ident["Arn"] == "arn:aws:sts::000000000000:assumed-role/StepLineExecutionRole/stepline"
    role = boto3_client("iam").get_role(RoleName="StepLineExecutionRole")["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/StepLineExecutionRole"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        boto3_client("iam").get_role(RoleName="bad name")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Type"] == "Sender"


def test_wrong_credentials_are_refused(aws_env) -> None:
    import boto3

    for key, secret, code in [
        (aws_env["AWS_ACCESS_KEY_ID"], "x" * 40, "SignatureDoesNotMatch"),
        ("AKIAOTHERKEY", aws_env["AWS_SECRET_ACCESS_KEY"], "InvalidClientTokenId"),
    ]:
        sts = boto3.client(
            "sts",
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )
        with pytest.raises(botocore.exceptions.ClientError) as err:
            sts.get_caller_identity()
        assert err.value.response["Error"]["Code"] == code
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _raw(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_unsigned_foreign_host_and_origin_are_refused(aws_env) -> None:
    port = aws_env["port"]
    status, body = _raw(port, "GET", "/", {})
    assert status == 403 and b"MissingAuthenticationToken" in body
    status, body = _raw(port, "GET", "/", {"Host": "evil.example:80"})
    assert status == 403 and b"not allowed" in body
    for origin in ("http://evil.example", "http://localhost:3000", "null"):
        status, body = _raw(port, "GET", "/", {"Origin": origin})
        assert status == 403 and b"Cross-origin" in body, origin
    same = {"Origin": f"http://127.0.0.1:{port}"}  # same origin: on to the signature check
    status, body = _raw(port, "GET", "/", same)
    assert status == 403 and b"MissingAuthenticationToken" in body
    form = b"Action=GetCallerIdentity&Version=2011-06-15"
    status, out = _raw(
        port, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, form
    )
    assert status == 403 and b"MissingAuthenticationToken" in out


def test_store_settings_ignore_an_endpoint_that_is_stepline_itself(tmp_path, monkeypatch) -> None:
    """``eval "$(stepline env)"`` sets AWS_ENDPOINT_URL to this server: not an external S3."""
    from stepline.awsapi import credentials
    from stepline.storage import load_settings

    monkeypatch.setenv("STEPLINE_HOME", str(tmp_path))
    for name in ("STEPLINE_STORE", "STEPLINE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("STEPLINE_SERVER_PORT", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8787")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASOMEONEELSE")
    assert load_settings().backend == "local"
    (tmp_path / "server.json").write_text('{"port": 40123}')
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:40123")
    assert load_settings().backend == "local"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")  # e.g. MinIO
    assert load_settings().backend == "s3"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials()[0])  # this home's key: stepline
    assert load_settings().backend == "local"


def test_port_taken_explicit_fails_configured_falls_back(tmp_path) -> None:
    import socket

    from awsapi_support import server_environment

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    env = server_environment(tmp_path / "home")
    try:

        def stepline(*args: str, extra: dict | None = None) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", "stepline", "server", *args],
                env={**env, **(extra or {})},
                capture_output=True,
                text=True,
                timeout=60,
            )

        explicit = stepline("--port", str(port), "--no-resume")
        assert explicit.returncode != 0 and f"cannot listen on 127.0.0.1:{port}" in explicit.stderr
        started = stepline("--background", extra={"STEPLINE_SERVER_PORT": str(port)})
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(f":{port}")
        status = stepline("--status")
        assert status.returncode == 0 and url in status.stdout
        printed = stepline_env(env)
        assert f"export AWS_ENDPOINT_URL={url}\n" in printed
    finally:
        subprocess.run([sys.executable, "-m", "stepline", "server", "--stop"], env=env, timeout=60)
        busy.close()


def test_large_unsigned_bodies_are_refused_before_they_are_read(aws_env) -> None:
    """Without this home's access key a request is refused on its head: no 100 Continue,
    nothing buffered."""
    import socket

    port = aws_env["port"]
    for auth in (
        "",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAOTHER/20260101/us-east-1/s3/"
        "aws4_request, SignedHeaders=host, Signature=" + "0" * 64 + "\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                (
                    f"PUT /bucket/big HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
                    "Content-Length: 4000000000\r\nExpect: 100-continue\r\n\r\n"
                ).encode()
            )
            answer = b""
            while chunk := sock.recv(4096):  # the server closes after its answer
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 403 "), answer
        assert b"MissingAuthenticationToken" in answer or b"InvalidAccessKeyId" in answer
