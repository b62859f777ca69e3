"""The per-job supervisor: a detached process that runs one job from start to end.

Why a process of its own: a job must outlive whatever started it.  The engine (or a CLI, or a
test) creates the record and spawns ``python -m stepline.jobs.supervisor KIND NAME`` in a new
session; the supervisor stages inputs, starts the runtime, watches the run (metrics from the
log, ``MaxRuntimeInSeconds``, stop requests), uploads outputs and writes every status change
to SQLite.  If the engine dies, the job does not notice; the restarted engine reads the
record and waits on it.  If the supervisor itself dies, the next waiter starts a new one,
which reattaches through the runtime identifier kept in the record instead of starting the
job again.  A sandboxed job does not outlive its supervisor (``bwrap --die-with-parent``: no
job runs unwatched, past its MaxRuntime or a stop); the new supervisor finds it ended and
records how (a container job keeps running and is watched again).
"""

from __future__ import annotations

import collections
import math
import os
import posixpath
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import regex

from stepline import wiring
from stepline.detached import Lease, exit_notifier, wait_readable
from stepline.images import frameworks
from stepline.jobs import contract, kinds, records, staging
from stepline.jobs.runtimes import (
    Mount,
    QueueTimeout,
    ResourceScheduler,
    RunSpec,
    get_runtime,
    resources_for,
)
from stepline.jobs.runtimes.process import SandboxUnavailable, runtime_for

POLL = 0.01
STOP_CHECK = 0.1
CHECKPOINT_SYNC = 1.0
FAILURE_LIMIT = kinds.FAILURE_LIMIT
#: Metric regexes: characters of a log line they see, seconds one match may take, and
#: seconds one poll of the log may spend on them.
METRIC_LINE_LIMIT = 4096
METRIC_TIMEOUT = 0.25
METRIC_BUDGET = 0.05


def _now() -> float:
    return time.time()


def _read_text(path: Path, limit: int = FAILURE_LIMIT) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data.decode("utf-8", "replace")[:limit]


class MetricTail:
    """Reads the log as it grows and records every ``MetricDefinitions`` match.

    The regexes are the user's, so they are treated as hostile: a pattern such as ``(a|aa)+$``
    can take exponential time.  They run with the ``regex`` package's timeout, lines are cut
    at :data:`METRIC_LINE_LIMIT` characters, and one :meth:`poll` spends at most
    :data:`METRIC_BUDGET` seconds (the rest waits for the next poll), so the supervisor keeps
    enforcing ``MaxRuntimeInSeconds`` and stop requests.  A rule that runs out of time is
    dropped, with a note in :attr:`warnings` (kept in the job record).
    """

    def __init__(self, kind: str, name: str, log: Path, definitions: list[dict[str, str]]):
        self.kind, self.name, self.log = kind, name, log
        self.rules: list[tuple[str, Any]] = []
        self.warnings: list[str] = []
        for d in definitions:
            try:
                self.rules.append((d["Name"], regex.compile(d["Regex"])))
            except (regex.error, KeyError, TypeError):
                continue
        self.offset = 0
        self.partial = b""
        self.backlog: collections.deque[tuple[str, float]] = collections.deque()

    def poll(self, final: bool = False) -> None:
        if not self.rules:
            return
        try:
            with open(self.log, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = b"" if final else lines.pop()
        stamp = _now()
        for raw in lines:
            self.backlog.append((raw[: METRIC_LINE_LIMIT * 4].decode("utf-8", "replace"), stamp))
        # The final poll drains everything (the job has ended), still one line at a time
        # under each rule's timeout.
        deadline = None if final else time.monotonic() + METRIC_BUDGET
        while self.backlog and self.rules:
            if deadline is not None and time.monotonic() >= deadline:
                return
            line, when = self.backlog.popleft()
            line = line[:METRIC_LINE_LIMIT]
            for metric, rule in list(self.rules):
                try:
                    matches = list(rule.finditer(line, timeout=METRIC_TIMEOUT))
                except TimeoutError:
                    self.rules.remove((metric, rule))
                    self.warnings.append(
                        f"MetricDefinitions {metric!r}: the regex took over {METRIC_TIMEOUT}s "
                        "on one log line and was dropped"
                    )
                    continue
                for match in matches:
                    text = match.group(1) if rule.groups else match.group(0)
                    try:
                        value = float(text)
                    except (TypeError, ValueError):
                        continue
                    if math.isfinite(value):
                        records.add_metric(self.kind, self.name, metric, value, when)


class Supervisor:
    """Runs the job ``(kind, name)``; see the module docstring."""

    def __init__(self, kind: str, name: str, store: Any = None) -> None:
        """``store``: the object store to use, when the caller already has one (the Ray
        driver shares one client among its jobs); else the configured one is made."""
        self.kind, self.name = kind, name
        self.spec = kinds.get(kind)
        record = records.get(kind, name)
        if record is None:
            raise SystemExit(f"no {kind} job {name!r}")
        self.record = record
        self.request = record.request
        self.folder = record.folder
        self.ml = self.folder / "ml"
        self.scratch = self.folder / "scratch"
        self.grace = float(record.state.get("stop_grace_seconds", 120))
        #: State gathered while preparing, written with the next transition (fewer writes
        #: before the user's code starts).
        self.pending: dict[str, Any] = {}
        if store is None:
            from stepline.storage import get_store

            store = get_store()
        self.store = store

    # -- helpers -------------------------------------------------------------------------

    def update(self, **kwargs: Any) -> records.JobRecord:
        self.record = records.update(self.kind, self.name, **kwargs)
        return self.record

    def transition(self, secondary: str, message: str | None = None, **kwargs: Any) -> None:
        if self.spec.status_transitions:
            self.update(transition=(secondary, message), **kwargs)
        else:
            self.update(secondary_status=secondary, **kwargs)

    def host(self, container_path: str) -> Path:
        """Host path of a path under ``/opt/ml`` (or a checkpoint path mounted elsewhere).

        Requests are checked (no ``..``) and normalised when created; this checks again,
        because the supervisor runs outside the sandbox, and refuses any path that resolves
        outside the job folder (a symlink the job planted included).
        """
        if ".." in container_path.split("/") or not container_path.startswith("/"):
            raise ValueError(f"container path {container_path!r} is not allowed")
        container_path = posixpath.normpath(container_path)
        if container_path == contract.ML or container_path.startswith(contract.ML + "/"):
            path = self.ml / container_path[len(contract.ML) :].lstrip("/")
        else:
            path = self.folder / "mounts" / container_path.strip("/").replace("/", "__")
        return staging.inside(self.folder, path)

    @property
    def max_runtime(self) -> float:
        return float(self.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400))

    # -- phases --------------------------------------------------------------------------

    def run(self) -> None:
        self.me = Lease.current().record()
        if self.record.terminal:
            return
        try:
            if self.record.run_identifier:
                self.update(supervisor=self.me)
                handle = self.reattach()
            else:
                handle = self.start()  # its first write names this supervisor
            if handle is None:
                return
            code, reason = self.watch(handle)
            self.finish(code, reason)
        except Exception as exc:  # noqa: BLE001 - every failure must end up in the record
            traceback.print_exc()
            self.fail(f"InternalServerError: {type(exc).__name__}: {exc}")

    def fail(self, reason: str, **state: Any) -> None:
        now = _now()
        secondary = "Failed"
        state["failure_reason"] = reason[:FAILURE_LIMIT]
        self.transition(secondary, reason[:FAILURE_LIMIT], state=state)
        self.update(status="Failed", ended=now)
        self.release()

    def release(self) -> None:
        lease = getattr(self, "lease", None)
        if lease is not None:
            lease.release()
            self.lease = None

    def image_and_resources(self) -> tuple[Any, Any, list[str]]:
        image_uri = self._image_uri()
        instance_type = self.spec.resources(self.request)["InstanceType"]
        # An AWS framework image is built on first use, before the job's clock starts
        # (``started`` is set at Downloading), so the build never counts against
        # MaxRuntimeInSeconds; the secondary status says what the wait is.
        image = frameworks.ensure(
            image_uri,
            on_build=lambda fw: self.transition(
                "Starting", f"Preparing the framework image {fw.local_ref} (first use)"
            ),
        )
        self.toolkit = image.labels.get("com.stepline.toolkit") == "sagemaker-training"
        wanted, notes = resources_for(instance_type)
        return image, wanted, notes

    def start(self) -> Any:
        """Wait for resources, stage the container's files and start the run; its handle, or
        None when the job ended first (a bad image or input, a stop request)."""
        try:
            image, wanted, notes = self.image_and_resources()
        except Exception as exc:  # noqa: BLE001
            self.fail(f"ClientError: {exc}")
            return None
        image_state = {
            "image": {"uri": self._image_uri(), "ref": image.ref, "digest": image.digest},
            "runtime": image.runtime,
            "resource_notes": notes,
        }
        res = self.acquire(wanted, image_state)
        try:
            self.runtime, image = runtime_for(image)
        except SandboxUnavailable as exc:
            # Before anything is staged or started: the job never ran.
            self.fail(f"ClientError: {exc}")
            return None
        if image.ref != image_state["image"]["ref"] or image.runtime != image_state["runtime"]:
            self.pending["image_rebuilt"] = {"runtime": image.runtime, "digest": image.digest}
        self.pending["runtime_name"] = self.runtime.name
        spec = self.stage(image, res)
        if spec is None:
            return None
        if self.record.stop_requested:
            self.update(state=self.pending)
            self.finish(None, "stopped")
            return None
        handle = self.runtime.start(spec)
        self.record_running(handle, spec)
        return handle

    def acquire(self, wanted: Any, image_state: dict[str, Any]) -> Any:
        """Hold the job's share of the machine (queueing FIFO behind other jobs); then the
        Downloading transition."""
        scheduler = ResourceScheduler()
        try:
            self.lease = scheduler.acquire(wanted, timeout=0)
        except QueueTimeout:
            self.update(state=image_state, supervisor=self.me)  # what it queues to run
            self.lease = scheduler.acquire(wanted)
        res = self.lease.resources
        # One write for image, resources and the Downloading transition: every write before
        # the user's code starts is on the job's start latency.
        self.transition(
            "Downloading",
            "Downloading input data",
            started=_now(),
            supervisor=self.me,
            state={
                **image_state,
                "resources": {
                    "cpus": res.cpus,
                    "memory_bytes": res.memory_bytes,
                    "gpus": res.gpus,
                    "gpu_ids": list(res.gpu_ids),
                },
            },
        )
        return res

    def stage(self, image: Any, res: Any) -> RunSpec | None:
        """A fresh ``/opt/ml`` with the job's inputs; the run to start, or None after failing
        the job (an input that cannot be fetched is the user's error)."""
        if self.ml.exists():
            shutil.rmtree(self.ml)
        self.ml.mkdir(parents=True)
        self.scratch.mkdir(parents=True, exist_ok=True)
        try:
            mounts, env, entrypoint, command = self.prepare_files(res)
        except Exception as exc:  # noqa: BLE001 - a bad input is the user's error
            self.fail(f"ClientError: Data download failed: {exc}")
            return None
        scratch: Path | None = self.scratch
        if self.runtime.name == "process" and not self.runtime.overlays():
            # Unsandboxed, the runtime maps every host path under /tmp to the scratch folder
            # (which breaks a STEPLINE_HOME under /tmp); point TMPDIR at it instead.
            scratch = None
            env.setdefault("TMPDIR", str(self.scratch))
        return RunSpec(
            image=image,
            log_path=self.record.log_path,
            command=command,
            entrypoint=entrypoint,
            env=env,
            mounts=mounts,
            resources=res,
            network=not self.network_isolation(),
            scratch=scratch,
            name=f"stepline-{self.kind}-{self.name}",
            overlay_dir=self.folder / "overlay",
        )

    def record_running(self, handle: Any, spec: RunSpec) -> None:
        """The kind's running phase, with what was started (command line, sandbox, notes)."""
        prepared = handle.prepared
        self.transition(
            self.spec.phase or "InProgress",
            self.spec.phase_message,
            run_identifier=handle.identifier,
            state={
                **self.pending,
                "run_started": _now(),
                "argv": prepared.argv if prepared else None,
                "entrypoint": spec.entrypoint,
                "arguments": spec.command,
                "environment": spec.env,
                "sandboxed": prepared.sandboxed if prepared else None,
                "sandbox": self.sandbox_note(prepared),
                "runtime_warnings": prepared.warnings if prepared else [],
                "runtime_notes": prepared.notes if prepared else [],
                "runtime_name": self.runtime.name,
            },
        )
        self.paths = prepared.paths if prepared else {}

    def network_isolation(self) -> bool:
        """``EnableNetworkIsolation`` (training) or ``NetworkConfig.EnableNetworkIsolation``."""
        if self.request.get("EnableNetworkIsolation"):
            return True
        return bool((self.request.get("NetworkConfig") or {}).get("EnableNetworkIsolation"))

    def sandbox_note(self, prepared: Any) -> str:
        """What the job record says about the sandbox the job ran in."""
        if self.runtime.name == "container":
            return "container runtime"
        if prepared is not None and not prepared.sandboxed:
            return (
                "none (STEPLINE_SANDBOX=none): unsandboxed; container paths such as /opt/ml "
                "did not exist for the job"
            )
        return "bubblewrap (user, PID and IPC namespaces, no capabilities)"

    def input_mount(self, host: Path, target: str, files: list[Path]) -> Mount | None:
        """An overlay mount for staged inputs, or None after making them private copies.

        Staged files are hard links to stored objects: the job may write its input copy (as
        on SageMaker) but must never change an object.  The sandbox layers a writable upper
        folder over them; a runtime that cannot gets clones or copies, noted in the record.
        """
        if self.runtime.overlays():
            return Mount(host, target, overlay=True)
        how = staging.make_private(files)
        if how != "none":
            notes = self.pending.setdefault("input_staging", [])
            notes.append(f"{target}: {how} (the {self.runtime.name} runtime has no overlays)")
        return None

    def _image_uri(self) -> str:
        uri = self.spec.image(self.request)
        if uri is None:
            raise ValueError(f"the {self.kind} job's request names no image")
        return uri

    def reattach(self) -> Any:
        self.runtime = get_runtime(self.record.state.get("runtime_name", "process"))
        return self.runtime.reattach(self.record.run_identifier)

    def prepare_files(self, res: Any) -> tuple[list[Mount], dict[str, str], Any, Any]:
        """The container's files (the kind's config files, staged inputs, output folders);
        the mounts, environment, entrypoint and arguments of its run."""
        mounts = [Mount(self.ml, contract.ML), self._hosts_file()]
        inputs: list[dict[str, Any]] = []
        if self.spec.prepare is None:
            raise ValueError(f"{self.kind} jobs run no container of their own")
        env, entrypoint, command = self.spec.prepare(self, res, mounts, inputs)
        self.pending["inputs"] = inputs  # written with the transition after the run starts
        return mounts, env, entrypoint, command

    def stage_input(
        self, name: str, s3: dict[str, Any], dest: Path, target: str, mounts: list[Mount]
    ) -> dict[str, Any]:
        """Stage one S3 input at ``dest`` (``target`` in the container), adding its mount (if
        the runtime layers one) to ``mounts``; the record of the input."""
        files = staging.stage_input(self.store, s3["S3Uri"], s3["S3DataType"], dest)
        mount = self.input_mount(dest, target, files)
        if mount is not None:
            mounts.append(mount)
        return {"name": name, "uri": s3["S3Uri"], "local_path": target, "files": len(files)}

    def _hosts_file(self) -> Mount:
        """``/etc/hosts`` with this instance's SageMaker host name, ``algo-1``.

        AWS's training toolkit resolves every host of ``resourceconfig.json`` before it runs
        the user's script, and waits for ever while one does not resolve."""
        path = self.folder / "hosts"
        path.write_text("127.0.0.1\tlocalhost algo-1\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        return Mount(path, "/etc/hosts", read_only=True)

    # -- watching ------------------------------------------------------------------------

    def watch(self, handle: Any) -> tuple[int | None, str | None]:
        spec = self.request.get("AlgorithmSpecification", {})
        tail = MetricTail(
            self.kind,
            self.name,
            self.record.log_path,
            spec.get("MetricDefinitions")
            or frameworks.algorithm_metric_definitions(
                spec.get("TrainingImage") or "", self.request.get("HyperParameters")
            ),
        )
        checkpoint_host = self.record.state.get("checkpoint_host")
        checkpoint_uri = (self.request.get("CheckpointConfig") or {}).get("S3Uri")
        ck_state = staging.file_state(Path(checkpoint_host)) if checkpoint_host else {}
        deadline = (self.record.started or _now()) + self.max_runtime
        reason: str | None = None
        stopper: threading.Thread | None = None
        next_stop_check = next_ck = 0.0
        exited = exit_notifier(getattr(handle, "pid", None))
        while True:
            code = handle.poll()
            tail.poll()
            if code is not None:
                break
            now = time.monotonic()
            if stopper is None:
                if _now() >= deadline:
                    reason = "timeout"
                elif now >= next_stop_check:
                    next_stop_check = now + STOP_CHECK
                    current = records.get(self.kind, self.name)
                    if current is not None and current.stop_requested:
                        reason = "stopped"
                if reason is not None:
                    self.transition("Stopping", "Stopping the job", status="Stopping")
                    stopper = threading.Thread(target=handle.stop, args=(self.grace,), daemon=True)
                    stopper.start()
            if checkpoint_host and checkpoint_uri and now >= next_ck:
                next_ck = now + CHECKPOINT_SYNC
                ck_state = self.sync_checkpoints(Path(checkpoint_host), checkpoint_uri, ck_state)
            if exited is not None:
                if wait_readable(exited, POLL):
                    os.close(exited)  # it stays readable; handle.poll() sees the exit now
                    exited = None
            else:
                time.sleep(POLL)
        if exited is not None:
            os.close(exited)
        tail.poll(final=True)
        self.metric_warnings = tail.warnings
        if checkpoint_host and checkpoint_uri:
            self.sync_checkpoints(Path(checkpoint_host), checkpoint_uri, ck_state)
        if reason is None and self.record.stop_requested:
            reason = "stopped"
        return code, reason

    def sync_checkpoints(self, root: Path, uri: str, last: dict) -> dict:
        """Mirror the checkpoint folder, unless the job made it lead out of the job folder."""
        try:
            staging.inside(self.folder, root)
        except ValueError:
            return last
        return staging.sync_dir(self.store, root, uri, last)

    # -- finishing -----------------------------------------------------------------------

    def finish(self, code: int | None, reason: str | None) -> None:
        stopped = reason is not None
        ok = code == 0 and not stopped
        state: dict[str, Any] = {"exit_code": code, "run_ended": _now()}
        if getattr(self, "metric_warnings", None):
            state["metric_warnings"] = self.metric_warnings
        # The job's writes over its inputs (overlay upper layers) die with the job, as an
        # instance's disk does; the staged inputs themselves are hard links, no bytes.
        shutil.rmtree(self.folder / "overlay", ignore_errors=True)
        from stepline.storage import StorageError

        try:
            assert self.spec.finish is not None  # a kind that prepares a run finishes it
            self.spec.finish(self, ok, stopped, reason, code, state)
        except (StorageError, ValueError) as exc:
            self.fail(f"ClientError: Could not upload the job's output: {exc}", **state)
        self.release()

    def failure_reason(self, code: int | None) -> str:
        """A failed run's FailureReason: what the container wrote, else the kind's default,
        else the user's command in script mode, else the exit code."""
        text = staging.read_text_inside(self.folder, self.ml / "output" / "failure", FAILURE_LIMIT)
        if text:
            # What the container wrote, as AWS reports it: behind "AlgorithmError: ".
            prefix = "" if text.startswith("AlgorithmError: ") else "AlgorithmError: "
            return f"{prefix}{text}"[:FAILURE_LIMIT]
        if self.spec.failure_default is not None:
            return self.spec.failure_default
        if contract.script_mode(self.request) and code is not None:
            last = self._last_log_line()
            text = (
                f'ExecuteUserScriptError:\nExitCode {code}\nErrorMessage "{last}"\n'
                f'Command "{contract.user_command(self.request)}"'
            )
            staging.write_text_inside(self.folder, self.ml / "output" / "failure", text)
            return f"AlgorithmError: {text}"[:FAILURE_LIMIT]
        return f"AlgorithmError: , exit code: {code}"

    def _last_log_line(self) -> str:
        try:
            with open(self.record.log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.record.log_path) - 4096))
                lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines() if ln]
        except OSError:
            return ""
        return lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> None:
    """``python -m stepline.jobs.supervisor KIND NAME``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m stepline.jobs.supervisor KIND NAME")
    from stepline.jobs.runtimes.ray import run_if_selected

    if run_if_selected(args[0], args[1]):  # STEPLINE_RUNTIME=ray: on a Ray cluster
        return
    spec = kinds.KINDS.get(args[0])
    if spec is not None and spec.external_runner:
        # Batch transform runs the model's server and feeds it records: the serving layer
        # does that work, registered in stepline.wiring by the composition root.
        _check, run = wiring.job_runner(args[0])
        run(args[1])
        return
    Supervisor(args[0], args[1]).run()


if __name__ == "__main__":
    main()
