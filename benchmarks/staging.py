"""Benchmark: stage 1 GiB (16 x 64 MiB objects) into a job folder.

From the embedded store (hard links, no bytes copied) and from a local SeaweedFS server
(boto3 transfer manager, parallel downloads), plus the uploads that fill them.  Prints the
figures; run with ``python benchmarks/staging.py [--size-mib 1024] [--files 16]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from stepline.storage.local import LocalStore
from stepline.storage.s3 import S3Store
from stepline.storage.seaweed import SeaweedServer


def _timed(label: str, nbytes: int, fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    rate = nbytes / elapsed / 2**20 if elapsed else float("inf")
    print(f"  {label:<34} {elapsed:8.3f} s  {rate:10.0f} MiB/s")
    return elapsed


def run(store, label: str, src: Path, work: Path, nbytes: int, files: int) -> None:  # noqa: ANN001
    print(f"{label}: {nbytes / 2**30:.2f} GiB in {files} files")
    store.create_bucket("bench")
    _timed("upload_dir", nbytes, lambda: store.upload_dir(src, "s3://bench/data/"))
    for attempt in (1, 2):
        dest = work / f"{label}-stage-{attempt}"
        _timed(f"stage (run {attempt})", nbytes, lambda d=dest: store.stage("s3://bench/data/", d))
        total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        assert total == nbytes, (total, nbytes)
        shutil.rmtree(dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=16)
    args = parser.parse_args()
    per_file = args.size_mib * 2**20 // args.files
    nbytes = per_file * args.files
    with tempfile.TemporaryDirectory(prefix="stepline-bench-") as tmp:
        work = Path(tmp)
        src = work / "src"
        src.mkdir()
        block = os.urandom(per_file)
        for i in range(args.files):
            (src / f"part-{i:03d}.bin").write_bytes(block[i:] + block[:i])

        local = LocalStore(work / "home" / "objects")
        run(local, "local", src, work, nbytes, args.files)
        staged = work / "check"
        local.stage("s3://bench/data/part-000.bin", staged)
        linked = (staged / "part-000.bin").stat().st_nlink
        print(f"  staged file link count: {linked} (hard link: {linked > 1})")

        with SeaweedServer(work / "seaweed") as server:
            run(S3Store(server.client()), "seaweedfs", src, work, nbytes, args.files)


if __name__ == "__main__":
    main()
