"""The AWS CLI v1 (``aws s3 cp/ls/sync``, ``aws sts``) against ``stepline server``, configured
only by what ``stepline env`` prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

MiB = 1024 * 1024


def _aws(env: dict[str, str], *args: str) -> str:
    # `python -m awscli` is the CLI the test extra installs, whatever `aws` is on PATH.
    res = subprocess.run(
        [sys.executable, "-m", "awscli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, f"aws {' '.join(args)}: {res.stderr}"
    return res.stdout


def test_aws_s3_cp_ls_sync_multipart(client_env, boto3_client, tmp_path: Path) -> None:
    bucket = f"cli-{uuid.uuid4().hex[:10]}"
    _aws(client_env, "s3", "mb", f"s3://{bucket}")
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    big = os.urandom(20 * MiB + 7)
    (src / "big.bin").write_bytes(big)
    (src / "nested" / "small.txt").write_text("small")
    _aws(client_env, "s3", "cp", str(src / "big.bin"), f"s3://{bucket}/one/big.bin")
    head = boto3_client("s3").head_object(Bucket=bucket, Key="one/big.bin")
    assert head["ContentLength"] == len(big)
    listing = _aws(client_env, "s3", "ls", f"s3://{bucket}/one/")
    assert "big.bin" in listing and str(len(big)) in listing
    _aws(client_env, "s3", "cp", f"s3://{bucket}/one/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big
    out = _aws(client_env, "s3", "sync", str(src), f"s3://{bucket}/synced")
    assert out.count("upload:") == 2
    assert "upload:" not in _aws(client_env, "s3", "sync", str(src), f"s3://{bucket}/synced")
    dest = tmp_path / "dest"
    _aws(client_env, "s3", "sync", f"s3://{bucket}/synced", str(dest))
    assert (dest / "big.bin").read_bytes() == big
    assert (dest / "nested" / "small.txt").read_text() == "small"
    recursive = _aws(client_env, "s3", "ls", "--recursive", f"s3://{bucket}/")
    assert sorted(line.split()[-1] for line in recursive.splitlines()) == [
        "one/big.bin",
        "synced/big.bin",
        "synced/nested/small.txt",
    ]
    _aws(client_env, "s3", "rm", "--recursive", f"s3://{bucket}/")
    _aws(client_env, "s3", "rb", f"s3://{bucket}")
    assert bucket not in _aws(client_env, "s3", "ls")


def test_aws_sts_and_iam(client_env) -> None:
    ident = json.loads(_aws(client_env, "sts", "get-caller-identity"))
    assert ident["Account"] == "000000000000"
    role = json.loads(_aws(client_env, "iam", "get-role", "--role-name", "StepLineExecutionRole"))
    assert role["Role"]["Arn"] == "arn:aws:iam::000000000000:role/StepLineExecutionRole"
