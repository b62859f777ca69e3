"""``stepline s3`` against both backends (selected the way users select them: environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from typer.testing import CliRunner

from stepline.cli.s3 import app
from stepline.storage import get_store


@pytest.fixture(params=["local", "s3"])
def backend(request, home, monkeypatch) -> str:
    if request.param == "s3":
        seaweed = request.getfixturevalue("seaweed")
        monkeypatch.setenv("STEPLINE_S3_ENDPOINT_URL", seaweed.endpoint_url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
    return request.param


@pytest.fixture
def bkt(backend) -> str:
    name = f"cli-{uuid.uuid4().hex[:12]}"
    result = CliRunner().invoke(app, ["mb", f"s3://{name}"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"make_bucket: {name}\n"
    return name


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cp_file_roundtrip(bkt, tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights" * 1000)
    out = run("cp", str(src), f"s3://{bkt}/models/")
    assert out.stdout == f"upload: {src} to s3://{bkt}/models/model.bin\n"
    dest = tmp_path / "back"
    dest.mkdir()
    out = run("cp", f"s3://{bkt}/models/model.bin", str(dest))
    assert (dest / "model.bin").read_bytes() == src.read_bytes()
    run("cp", f"s3://{bkt}/models/model.bin", f"s3://{bkt}/copy/renamed.bin")
    assert get_store().get_bytes(f"s3://{bkt}/copy/renamed.bin") == src.read_bytes()


def test_cp_recursive_both_ways(bkt, tmp_path):
    src = tmp_path / "data"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("a")
    (src / "sub" / "b.csv").write_text("b")
    out = run("cp", "-r", str(src), f"s3://{bkt}/ds")
    assert out.stdout.count("upload:") == 2
    keys = [o.key for o in get_store().list(f"s3://{bkt}/")]
    assert keys == ["ds/a.csv", "ds/sub/b.csv"]
    dest = tmp_path / "down"
    run("cp", "--recursive", f"s3://{bkt}/ds", str(dest))
    assert (dest / "sub" / "b.csv").read_text() == "b"
    run("cp", "-r", f"s3://{bkt}/ds/", f"s3://{bkt}/ds2")
    assert [o.key for o in get_store().list(f"s3://{bkt}/ds2/")] == ["ds2/a.csv", "ds2/sub/b.csv"]


def test_ls_text_and_json(bkt):
    store = get_store()
    store.put_bytes(f"s3://{bkt}/top.txt", b"12345")
    store.put_bytes(f"s3://{bkt}/dir/inner.txt", b"x")
    lines = run("ls", f"s3://{bkt}/").stdout.splitlines()
    assert lines[0].split() == ["PRE", "dir/"]
    assert lines[1].split()[-2:] == ["5", "top.txt"]
    rec = run("ls", "-r", f"s3://{bkt}").stdout.splitlines()
    assert [line.split()[-1] for line in rec] == ["dir/inner.txt", "top.txt"]
    data = json.loads(run("ls", "--json", f"s3://{bkt}/top").stdout)
    assert data[0]["key"] == "top.txt" and data[0]["size"] == 5 and len(data[0]["etag"]) == 32
    assert bkt in json.loads(run("ls", "--json").stdout)


def test_rm(bkt):
    store = get_store()
    for key in ("keep-me", "logs/1", "logs/2", "logs-other"):
        store.put_bytes(f"s3://{bkt}/{key}", b"x")
    run("rm", f"s3://{bkt}/keep-me")
    out = run("rm", "-r", f"s3://{bkt}/logs")
    assert out.stdout.count("delete:") == 2
    assert [o.key for o in store.list(f"s3://{bkt}/")] == ["logs-other"]


def test_errors_name_the_uri(bkt, tmp_path):
    result = CliRunner().invoke(app, ["cp", f"s3://{bkt}/missing", str(tmp_path / "x")])
    assert result.exit_code != 0 and "missing" in str(result.exception)
    result = CliRunner().invoke(app, ["cp", f"s3://{bkt}/../x", str(tmp_path / "x")])
    assert "'../x'" in str(result.exception)


def test_subprocess_stdin_stdout_and_clean_output(bkt, tmp_path):
    """A real process: data through ``-`` pipes, nothing but data on stdout, no bar on a pipe."""
    code = "import sys; from stepline.cli.s3 import app; sys.argv[0] = 'stepline s3'; app()"
    payload = os.urandom(9 * 1024 * 1024)  # above the progress-bar threshold
    env = dict(os.environ)
    put = subprocess.run(
        [sys.executable, "-c", code, "cp", "-", f"s3://{bkt}/blob"],
        input=payload,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert put.returncode == 0, put.stderr
    assert put.stderr == b""
    got = subprocess.run(
        [sys.executable, "-c", code, "cp", f"s3://{bkt}/blob", "-"],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout == payload and got.stderr == b""


def test_progress_bar_only_on_a_terminal(home, tmp_path):
    """With stderr on a pty a large upload draws a bar there; stdout stays one line."""
    import pty

    from stepline.storage.local import LocalStore

    LocalStore(home / "objects").create_bucket("bar-test")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(16 * 1024 * 1024))
    code = "import sys; from stepline.cli.s3 import app; sys.argv[0] = 'stepline s3'; app()"
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, "cp", str(big), "s3://bar-test/big.bin"],
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=60,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert proc.stdout == f"upload: {big} to s3://bar-test/big.bin\n".encode()
    assert b"big.bin" in drawn and b"\x1b[" in drawn  # rich drew (and cleared) a bar


def test_stepline_console_script(home, tmp_path):
    """The installed ``stepline`` command: s3 group registered, errors as one line."""
    src = tmp_path / "f.txt"
    src.write_text("hi")
    env = dict(os.environ)

    def stepline(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["stepline", "s3", *args], capture_output=True, text=True, env=env, timeout=60
        )

    assert stepline("mb", "s3://console-test").returncode == 0
    assert stepline("cp", str(src), "s3://console-test/f.txt").returncode == 0
    listed = json.loads(stepline("ls", "--json", "s3://console-test/").stdout)
    assert [e["key"] for e in listed] == ["f.txt"]
    bad = stepline("cp", "s3://console-test/../x", str(tmp_path / "y"))
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("stepline: error: invalid key '../x'")
