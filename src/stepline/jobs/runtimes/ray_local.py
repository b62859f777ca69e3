"""A throwaway Ray cluster on this machine: a head without CPUs and worker nodes.

For tests and benchmarks of the ``ray`` runtime (as :mod:`stepline.storage.seaweed` is for
S3): every node is a ``ray start --block`` in its own process group, so one node can be
killed (``kill_worker``) the way a machine dies, and ``stop`` leaves no process behind.  Each
worker gets its own ``STEPLINE_HOME`` (its "disk"), a resource label (``worker1``...), a few
CPUs and a capped object store.  Not for production: see the README's cluster section.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OBJECT_STORE_BYTES = 80 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRayCluster:
    """``LocalRayCluster(folder, workers=2)``: ``.address``, ``.kill_worker(i)``, ``.stop()``."""

    def __init__(self, folder: Path, workers: int = 2, cpus_per_worker: int = 1) -> None:
        try:
            import ray  # noqa: F401 - the CLI below is ray's own
        except ImportError:
            raise RuntimeError("Ray is missing: pip install 'stepline[ray]'") from None
        # The `ray` command of this interpreter's Ray (PATH may lack its scripts folder).
        self.ray = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        # Ray's socket paths must stay short: its temp folder lives directly under /tmp.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="slray-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # A dead node is noticed within seconds (Ray's default is tens of seconds).
        self.env = dict(
            os.environ,
            RAY_USAGE_STATS_ENABLED="0",
            RAY_health_check_period_ms="1000",
            RAY_health_check_timeout_ms="1000",
            RAY_health_check_failure_threshold="3",
        )
        self.env.pop("RAY_ADDRESS", None)
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen | None] = []
        self.homes: list[Path] = []
        try:
            self._start(
                "head",
                [
                    "--head",
                    f"--port={self.port}",
                    "--num-cpus=0",
                    f"--temp-dir={self.temp_dir}",
                    "--include-dashboard=false",
                ],
                self.env,
            )
            self._wait_nodes(1)
            for _ in range(workers):
                self.add_worker(cpus_per_worker)
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                [
                    *self.ray,
                    "start",
                    "--block",
                    "--node-ip-address=127.0.0.1",
                    f"--object-store-memory={OBJECT_STORE_BYTES}",
                    "--disable-usage-stats",
                    *args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def add_worker(self, cpus: int = 1) -> int:
        """Start one more worker node; its index (resource label ``worker<index+1>``)."""
        index = len(self.workers)
        home = self.folder / f"node{index + 1}"
        home.mkdir(parents=True, exist_ok=True)
        env = dict(self.env, STEPLINE_HOME=str(home))
        proc = self._start(
            f"worker{index + 1}",
            [
                f"--address={self.address}",
                f"--num-cpus={cpus}",
                f'--resources={{"worker{index + 1}": 1}}',
            ],
            env,
        )
        self.workers.append(proc)
        self.homes.append(home)
        self._wait_nodes(1 + sum(1 for w in self.workers if w is not None))
        return index

    def _wait_nodes(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in [*self.procs[:1], *(w for w in self.workers if w is not None)]:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"a Ray node exited ({proc.returncode}); see {self.folder}/*.log"
                    )
            try:
                if self.alive_nodes() >= count:
                    return
            except Exception:  # noqa: BLE001 - the GCS is still starting
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the local Ray cluster did not reach {count} nodes in {timeout}s")

    def alive_nodes(self) -> int:
        """How many nodes the cluster's GCS counts as alive."""
        from ray._raylet import GcsClient

        client = GcsClient(address=self.address)
        return sum(1 for n in client.get_all_node_info(timeout=5).values() if n.state == 0)

    def node_id(self, index: int) -> str:
        """Ray's node id (hex) of worker ``index`` (found by its resource label)."""
        from ray._raylet import GcsClient

        label = f"worker{index + 1}"
        for info in GcsClient(address=self.address).get_all_node_info(timeout=5).values():
            if label in info.resources_total and info.state == 0:
                return info.node_id.hex()
        raise LookupError(f"no alive node labelled {label}")

    def kill_worker(self, index: int) -> None:
        """Kill worker node ``index`` and everything it runs at once (SIGKILL), like a crash."""
        proc = self.workers[index]
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        self.workers[index] = None

    def stop(self) -> None:
        """Stop every node (workers first), then remove Ray's temp folder."""
        for proc in [*self.procs[1:], *self.procs[:1]]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group
            except (ProcessLookupError, PermissionError):
                pass
            if proc.poll() is None:
                proc.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
