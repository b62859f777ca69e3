"""The node side of a job on Ray: one SageMaker instance, run by one Ray actor.

Why an actor: an instance has a life (staging, running, uploading) and the engine's supervisor
talks to it throughout (logs, exit code, stop).  The actor stages the instance's data from the
S3 server into a folder on its node, pulls the image (:mod:`.ray_images`), runs the job with
the same local runtime as on one machine (the bubblewrap sandbox, or podman), under the same
``/opt/ml`` contract, and uploads outputs from the node.  Nothing here touches the engine's
database: the supervisor (:mod:`.ray`) writes the record.

Files on the node: ``$STEPLINE_HOME/ray-jobs/<kind>/<name>/algo-<i>/`` (removed when the job
ends), images in ``$STEPLINE_HOME/images/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stepline import config
from stepline.jobs import contract, kinds, staging
from stepline.jobs.runtimes import ray_images
from stepline.jobs.runtimes.base import Mount, Resources, RunSpec
from stepline.jobs.supervisor import Supervisor
from stepline.storage import ObjectStore, parse_s3_uri
from stepline.storage.base import safe_local_path, stage_relative_path
from stepline.storage.settings import StoreSettings, get_store

#: Bytes of log returned per poll (the rest comes with the next).
LOG_CHUNK = 1 << 20


class ShardedStore:
    """An object store whose ``stage`` of the sharded prefixes stages this instance's share.

    ``S3DataDistributionType: ShardedByS3Key``: the keys under the prefix, sorted, dealt out
    round-robin, so each object goes to exactly one instance.
    """

    def __init__(self, store: ObjectStore, sharded: set[str], index: int, count: int) -> None:
        self._store, self._sharded, self._index, self._count = store, sharded, index, count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def stage(self, prefix_uri: str, dest_dir: Any) -> list[Path]:
        if prefix_uri.rstrip("/") not in self._sharded:
            return self._store.stage(prefix_uri, dest_dir)
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        _, prefix = parse_s3_uri(prefix_uri, allow_prefix=True)
        objects = sorted(self._store.list(prefix_uri), key=lambda o: o.key)
        out = []
        for obj in objects[self._index :: self._count]:
            target = safe_local_path(dest, stage_relative_path(prefix, obj.key), obj.key)
            out.append(self._store.download_file(obj.uri, target))
        return out


class _InstanceFiles(Supervisor):
    """The supervisor's staging code (``prepare_files``), without a job record."""

    def __init__(self, kind: str, name: str, request: dict, arn: str, folder: Path, store: Any):
        self.kind, self.name, self.request = kind, name, request
        self.spec = kinds.get(kind)
        self.folder, self.ml, self.scratch = folder, folder / "ml", folder / "scratch"
        self.pending: dict[str, Any] = {}
        self.store = store
        self.record = types.SimpleNamespace(arn=arn, log_path=folder / "log", state={})


def _inside(folder: Path, path: Path) -> Path:
    """``path`` if it really lies in ``folder``: the job may have made it a symlink to a
    host file, which must never be uploaded or read back into the record."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    if real != root and not real.startswith(root + os.sep):
        raise PermissionError(f"{path} points outside the job's folder; not read")
    return path


def interface_for(ip: str) -> str:
    """The network interface that carries ``ip`` on this node (``network_interface_name``:
    the toolkit points ``NCCL_SOCKET_IFNAME`` at it), else ``eth0`` as on SageMaker."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            except OSError:  # SIOCGIFADDR: no IPv4 address on it
                continue
            if socket.inet_ntoa(packed[20:24]) == ip:
                return name
    return contract.NETWORK_INTERFACE


def _hosts(count: int) -> list[str]:
    return [f"algo-{i + 1}" for i in range(count)]


def multi_host_env(
    env: dict[str, str],
    index: int,
    hosts: list[str],
    master_port: int,
    master: str,
    interface: str = contract.NETWORK_INTERFACE,
) -> dict[str, str]:
    """The multi-host part of SageMaker's contract, over a one-host environment."""
    current = hosts[index]
    env = dict(env)
    env.update(
        {
            "CURRENT_HOST": current,
            "SM_CURRENT_HOST": current,
            "SM_HOSTS": json.dumps(hosts),
            "MASTER_ADDR": master,
            "MASTER_PORT": str(master_port),
            "WORLD_SIZE": str(len(hosts)),
            "RANK": str(index),
            "NODE_RANK": str(index),
            "LOCAL_RANK": "0",
        }
    )
    if "SM_TRAINING_ENV" in env:  # the training toolkit's variables
        env["SM_CURRENT_INSTANCE_GROUP_HOSTS"] = json.dumps(hosts)
        env["SM_NETWORK_INTERFACE_NAME"] = interface
        for key in ("SM_RESOURCE_CONFIG", "SM_TRAINING_ENV", "SM_INSTANCE_GROUPS_DICT"):
            if key not in env:
                continue
            doc = json.loads(env[key])
            _set_hosts(doc, hosts, current, interface)
            env[key] = json.dumps(doc)
    return env


def _set_hosts(doc: Any, hosts: list[str], current: str, interface: str) -> None:
    """Rewrite every ``hosts``/``current_host``/``network_interface_name`` in a resource or
    training-env document."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("hosts", "current_instance_group_hosts") and isinstance(value, list):
                doc[key] = list(hosts)
            elif key == "current_host":
                doc[key] = current
            elif key == "network_interface_name":
                doc[key] = interface
            else:
                _set_hosts(value, hosts, current, interface)
    elif isinstance(doc, list):
        for item in doc:
            _set_hosts(item, hosts, current, interface)


class InstanceRunner:
    """One instance of a job on this node.  Created by :mod:`.ray` as a Ray actor.

    It hosts one instance at a time.  The engine's driver may keep it warm after its job
    (:meth:`reset`) and hand it the next instance of the same shape: a new actor is a new
    Ray worker process that imports Ray, boto3 and stepline, over a second of CPU per job.
    ``idle_limit``: a warm actor that is given no job for that long ends itself (its driver
    may have died without killing it); None for an actor that serves one job only."""

    def __init__(
        self, store_settings: dict[str, Any], env: dict[str, str], idle_limit: float | None = None
    ) -> None:
        os.environ.update(env)  # STEPLINE_SANDBOX and the store's credentials, as the engine's
        self.store = get_store(StoreSettings(**store_settings))
        self.lock = threading.Lock()
        self.sync_lock = threading.Lock()
        self._clear()
        #: The job (``kind/name``) this actor serves now; None while it waits for one.
        self.owner: str | None = None
        #: When the engine last gave it work (an assignment, a start, a reset), and whether
        #: an instance is being started (staging may take long).
        self.last_work = time.monotonic()
        self.starting = False
        if idle_limit is not None:
            threading.Thread(
                target=self._expire, args=(idle_limit,), daemon=True, name="idle"
            ).start()

    def _clear(self) -> None:
        self.handle: Any = None
        self.folder: Path | None = None
        self.stopping = False
        self.checkpoint: Path | None = None
        self.files: _InstanceFiles | None = None
        self.checkpoint_state: dict[str, Any] = {}

    def _expire(self, limit: float) -> None:
        import ray

        while True:
            time.sleep(min(1.0, limit))
            with self.lock:
                idle = (
                    self.handle is None
                    and not self.starting
                    and time.monotonic() - self.last_work > limit
                )
            if idle:
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return

    # -- where ---------------------------------------------------------------------------

    def where(self, owner: str | None = None) -> dict[str, Any]:
        """This node: Ray's node id, its address, and a free port (MASTER_PORT on algo-1).
        ``owner`` (``kind/name``): the job this actor serves from now on."""
        import ray

        if owner is not None:
            with self.lock:
                self.owner = owner
                self.last_work = time.monotonic()
        ip = ray.util.get_node_ip_address()
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "ip": ip,
            "hostname": socket.gethostname(),
            "port": port,
            "pid": os.getpid(),
        }

    # -- a kind's own steps ----------------------------------------------------------------

    def call(self, step: Callable[..., Any], *args: Any) -> Any:
        """Run one of a job kind's node-side steps (:mod:`stepline.jobs.kinds`) with this
        instance: ``step(self, *args)``.

        Why: what a kind does on the node beyond running its container (training's model
        upload, processing's outputs, a transform's whole run) lives in the kind's module,
        so a new kind adds no method here.  The supervisor passes the function; Ray sends
        it by reference (module and name), and the node imports it from stepline."""
        return step(self, *args)

    def inside(self, path: Path) -> Path:
        """``path`` if it really lies in this instance's folder (see :func:`_inside`)."""
        assert self.folder is not None
        return _inside(self.folder, path)

    # -- start ---------------------------------------------------------------------------

    def start(self, job: dict[str, Any]) -> dict[str, Any]:
        """Stage, pull the image, start the run.  ``job`` is built by the supervisor."""
        with self.lock:
            self.starting = True
        try:
            return self._start(job)
        finally:
            with self.lock:
                self.starting = False
                self.last_work = time.monotonic()

    def _start(self, job: dict[str, Any]) -> dict[str, Any]:
        from stepline.jobs.runtimes.process import runtime_for

        hosts = _hosts(job["count"])
        index = job["index"]
        self._new_folder(job, hosts[index])
        try:
            image, downloaded = ray_images.pull(self.store, job["image_uri"], job["image_digest"])
            runtime, image = runtime_for(image)
        except Exception as exc:  # noqa: BLE001 - e.g. no sandbox or no podman on this node
            return {"error": f"ClientError: {exc}"}
        files = self._files(job, runtime)
        res = self._resources(job)
        try:
            mounts, env, entrypoint, command = files.prepare_files(res)
        except Exception as exc:  # noqa: BLE001 - a bad input is the user's error
            return {"error": f"ClientError: Data download failed: {exc}"}
        self._watch_checkpoints(files)
        interface = interface_for(job["ips"][index])
        self._write_host_config(job["kind"], index, hosts, interface)
        spec = RunSpec(
            image=image,
            log_path=self.log_path,
            command=command,
            entrypoint=entrypoint,
            env=env,
            mounts=mounts,
            resources=res,
            network=not files.network_isolation(),
            scratch=self.folder / "scratch",
            name=f"stepline-{job['kind']}-{job['name']}-{hosts[index]}",
            overlay_dir=self.folder / "overlay",
        )
        master = self._resolve_hosts(spec, runtime, job, hosts)
        spec.env = multi_host_env(env, index, hosts, job["master_port"], master, interface)
        with self.lock:
            if self.stopping:
                return {"stopped": True}
            self.handle = runtime.start(spec)
        return self._started(runtime, spec, files, downloaded)

    def _new_folder(self, job: dict[str, Any], host: str) -> None:
        """This instance's empty folder on the node."""
        self.folder = config.home() / "ray-jobs" / job["kind"] / job["name"] / host
        shutil.rmtree(self.folder, ignore_errors=True)
        (self.folder / "scratch").mkdir(parents=True)
        (self.folder / "ml").mkdir()
        self.log_path = self.folder / "log"
        self.log_path.touch()

    def _resources(self, job: dict[str, Any]) -> Resources:
        """What Ray gave this instance (its GPUs by id)."""
        import ray

        gpu_ids = tuple(int(g) for g in ray.get_gpu_ids())
        return Resources(job["cpus"], job["memory_bytes"], len(gpu_ids), gpu_ids)

    def _files(self, job: dict[str, Any], runtime: Any) -> _InstanceFiles:
        """The supervisor's staging code for this instance: its share of sharded inputs."""
        sharded = set(job.get("sharded", []))
        count = job["count"]
        store = ShardedStore(self.store, sharded, job["index"], count) if sharded else self.store
        assert self.folder is not None
        files = _InstanceFiles(
            job["kind"], job["name"], job["request"], job["arn"], self.folder, store
        )
        files.runtime = runtime
        return files

    def _watch_checkpoints(self, files: _InstanceFiles) -> None:
        """CheckpointConfig: what was restored into the checkpoint folder is not uploaded
        again (the same bookkeeping as on one machine)."""
        self.files = files
        host = files.pending.get("checkpoint_host")
        self.checkpoint = Path(host) if host else None
        self.checkpoint_state = staging.file_state(self.checkpoint) if self.checkpoint else {}

    def _resolve_hosts(
        self, spec: RunSpec, runtime: Any, job: dict[str, Any], hosts: list[str]
    ) -> str:
        """Make ``algo-1``..``algo-N`` resolve inside the sandbox to the nodes that run them;
        the address the instances use for the master (``algo-1``, or its node's IP address
        when there is no sandbox and so no private ``/etc/hosts``)."""
        if not runtime.prepare(spec).sandboxed:
            return job["ips"][0]
        assert self.folder is not None
        index = job["index"]
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
        lines += [f"{ip} {host}" for host, ip in zip(hosts, job["ips"], strict=True)]
        # The node's own name (gloo and others look it up to find their address).
        lines.append(f"{job['ips'][index]} {socket.gethostname()}")
        hosts_file = self.folder / "hosts"
        hosts_file.write_text("\n".join(lines) + "\n")
        spec.mounts = [
            *(m for m in spec.mounts if m.target != "/etc/hosts"),
            Mount(hosts_file, "/etc/hosts", read_only=True),
        ]
        return "algo-1"

    def _started(
        self, runtime: Any, spec: RunSpec, files: _InstanceFiles, downloaded: bool
    ) -> dict[str, Any]:
        """What the supervisor records of the run."""
        prepared = self.handle.prepared
        return {
            "argv": prepared.argv if prepared else None,
            "sandboxed": prepared.sandboxed if prepared else None,
            "warnings": prepared.warnings if prepared else [],
            "notes": prepared.notes if prepared else [],
            "runtime": runtime.name,
            "environment": spec.env,
            "entrypoint": spec.entrypoint,
            "arguments": spec.command,
            "inputs": files.pending.get("inputs", []),
            "image_downloaded": downloaded,
        }

    def _write_host_config(self, kind: str, index: int, hosts: list[str], interface: str) -> None:
        """``resourceconfig.json`` with the job's hosts, wherever the kind keeps it (a
        training job's ``input/config``, a processing job's ``config``)."""
        assert self.folder is not None
        rel = kinds.get(kind).resource_config
        path = self.folder / "ml" / rel if rel else None
        if path is not None and path.is_file():
            doc = json.loads(path.read_text())
            _set_hosts(doc, hosts, hosts[index], interface)
            path.write_text(json.dumps(doc))

    # -- running -------------------------------------------------------------------------

    def poll(self, offset: int) -> tuple[int | None, bytes]:
        """(exit code or None, the log from ``offset`` on)."""
        code = self.handle.poll() if self.handle is not None else None
        data = b""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                data = fh.read(LOG_CHUNK)
        except (OSError, AttributeError):
            pass
        if code is not None and len(data) == LOG_CHUNK:
            code = None  # report the exit once the whole log is read
        return code, data

    def stop(self, grace: float, owner: str | None = None) -> None:
        """SIGTERM the instance, SIGKILL after ``grace`` seconds.  A stop meant for another
        job (``owner``: one this actor served before) is ignored."""
        with self.lock:
            if owner is not None and owner != self.owner:
                return
            self.stopping = True
            handle = self.handle
        if handle is not None:
            handle.stop(grace)

    def sync_checkpoints(self, uri: str) -> None:
        """Mirror the checkpoint folder to ``uri`` (CheckpointConfig), from this node: the
        supervisor's own sync, which refuses a folder the job turned into a symlink."""
        with self.sync_lock:
            if self.checkpoint is None or self.files is None:
                return  # none configured, or the job has been reset
            self.checkpoint_state = self.files.sync_checkpoints(
                self.checkpoint, uri, self.checkpoint_state
            )

    # -- finishing -----------------------------------------------------------------------

    def failure(self) -> str | None:
        """The instance's failure file (``/opt/ml/output/failure``), if it wrote one."""
        assert self.folder is not None
        if hasattr(self.handle, "failure_reason"):  # a kind's own run (transform's) says it
            return self.handle.failure_reason
        path = self.folder / "ml" / "output" / "failure"
        try:
            return _inside(self.folder, path).read_bytes().decode("utf-8", "replace")[:1024]
        except OSError:
            return None

    def last_log_line(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.log_path) - 4096))
                lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines() if ln]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def cleanup(self) -> None:
        """Remove the instance's folder on this node (and the job's, once it is empty: a
        warm actor serves many jobs)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # another instance of the job still runs here
                self.folder.parent.rmdir()

    def reset(self, owner: str) -> bool:
        """After ``owner``'s job: remove its folder and forget it, so that the next job's
        instance can run here; whether this actor can serve again (not while its run still
        has a process, nor for another job's call)."""
        with self.lock:
            if owner != self.owner:
                return False
            if self.handle is not None and self.handle.poll() is None:
                return False
        with self.sync_lock:  # a checkpoint sync of the job may still be running
            self.cleanup()
            with self.lock:
                self._clear()
                self.owner = None
                self.last_work = time.monotonic()
        return True
