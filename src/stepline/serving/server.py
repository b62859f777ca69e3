"""The stepline server: hosts endpoints (model servers + the front router) in the background.

Why a server: an endpoint must outlive the command that created it, and every endpoint needs
one stable address.  ``stepline server`` (or :func:`ensure_server`, which starts it on demand
as a daemon) binds the router to 127.0.0.1, records ``{pid, port}`` in
``$STEPLINE_HOME/server.json`` and reconciles the endpoint records in SQLite with what runs:

* ``Creating``: fetch and extract the model, start ``InitialInstanceCount`` model servers per
  variant, wait for ``/ping``, route, ``InService`` (or ``Failed`` with FailureReason);
* ``Updating``: blue/green -- start the new config's servers, wait until healthy, swap the
  route atomically, let in-flight requests on the old servers finish, then stop them; a
  failed update leaves the old deployment serving (``InService`` with a FailureReason);
* ``Deleting``: unroute, stop, remove the record;
* ``InService`` without a deployment (the server restarted, e.g. after a reboot): deploy again
  (``SystemUpdating`` meanwhile), stopping model servers a dead server left behind;
* a model server that exits or stops answering ``/ping`` is restarted; after
  ``MAX_RESTARTS`` failed restarts in a row the endpoint is ``Failed``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline import config, detached, images, wiring
from stepline.detached import Lease
from stepline.serving import api, db
from stepline.serving.artifacts import fetch_model
from stepline.serving.host import (
    DEFAULT_STARTUP_TIMEOUT,
    InstanceSpec,
    ModelInstance,
    answers_ok,
    ping,
    stop_orphan,
)
from stepline.serving.router import Backend, EndpointRoute, EndpointRouter, VariantRoute

MAX_RESTARTS = 3
TICK = 0.5
HEALTH_EVERY = 5.0
DRAIN_TIMEOUT = 75.0
STOP_GRACE = float(os.environ.get("STEPLINE_SERVING_STOP_GRACE", "30"))


#: The port ``stepline server`` and ``stepline env`` use unless told otherwise
#: (``[server] port`` in config.toml, or STEPLINE_SERVER_PORT).
DEFAULT_PORT = 8787


def configured_port() -> int:
    """The port the server is meant to use: STEPLINE_SERVER_PORT, ``[server] port``, 8787."""
    value = config.setting("server", "port", "STEPLINE_SERVER_PORT", DEFAULT_PORT)
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise config.ConfigError(
            f"server.port / STEPLINE_SERVER_PORT: {value!r} is not a port"
        ) from None
    if not 0 <= port <= 65535:
        raise config.ConfigError(f"server.port / STEPLINE_SERVER_PORT: {port} is out of range")
    return port


def _state_path() -> Path:
    return config.home() / "server.json"


def _log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")
    sys.stderr.flush()


@dataclass(eq=False)
class VariantDeployment:
    """The running instances of one production variant."""

    name: str
    model_name: str
    image_ref: str
    image_digest: str
    weight: float
    instance_type: str
    instances: list[ModelInstance]
    backends: list[Backend] = field(default_factory=list)
    resolved_at: float = field(default_factory=time.time)


@dataclass(eq=False)
class Deployment:
    """One endpoint config running for one endpoint."""

    endpoint: str
    config_name: str
    variants: list[VariantDeployment]

    def route(self) -> EndpointRoute:
        return EndpointRoute(
            self.endpoint,
            [VariantRoute(v.name, v.weight, list(v.backends)) for v in self.variants],
        )

    def summary(self) -> list[dict[str, Any]]:
        """``ProductionVariants`` of DescribeEndpoint, plus private restart facts."""
        out = []
        for v in self.variants:
            live = sum(1 for b in v.backends if b.healthy)
            out.append(
                {
                    "VariantName": v.name,
                    "DeployedImages": [
                        {
                            "SpecifiedImage": v.image_ref,
                            "ResolvedImage": v.image_digest,
                            "ResolutionTime": v.resolved_at,
                        }
                    ],
                    "CurrentWeight": v.weight,
                    "DesiredWeight": v.weight,
                    "CurrentInstanceCount": live,
                    "DesiredInstanceCount": len(v.instances),
                    "_instances": [
                        {
                            "port": i.port,
                            "identifier": i.identifier,
                            "runtime": i.image.runtime,
                            "log": str(i.log_path),
                            "restarts": i.restarts,
                        }
                        for i in v.instances
                    ],
                }
            )
        return out

    def stop(self, grace: float = STOP_GRACE) -> None:
        threads = [
            threading.Thread(target=i.stop, args=(grace,), daemon=True)
            for v in self.variants
            for i in v.instances
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class Server:
    """Router + reconciler; ``start()`` returns the port, ``stop()`` ends model servers too."""

    def __init__(self, aws_api: bool = True) -> None:
        # The AWS-compatible API shares the router's port: it gets every request that is not
        # an invocation, a ping or a control call (see stepline.awsapi.gateway).
        # (stepline.wiring: the composition root registers the AWS API's gateway.)
        self.gateway = wiring.make_gateway() if aws_api else None
        self.router = EndpointRouter(
            on_control=self._control,
            fallback=self.gateway.serve if self.gateway is not None else None,
        )
        self.deployments: dict[str, Deployment] = {}
        self.busy: set[str] = set()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workers: list[threading.Thread] = []
        self._last_health = 0.0
        self._last_seen: dict[str, tuple[str, float]] = {}

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, port: int = 0) -> int:
        # Endpoints recorded InService have no model servers yet: say so before anyone can
        # reach this server, so nobody mistakes the old record for a live endpoint.
        for row in api.all_endpoints():
            if row["status"] == "InService":
                api.set_endpoint(row["name"], status="SystemUpdating")
        port = self.router.start("127.0.0.1", port)
        for target, name in ((self._reconcile_loop, "reconcile"), (self._stats_loop, "stats")):
            t = threading.Thread(target=target, name=f"stepline-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self.wake.set()
        return port

    @property
    def port(self) -> int:
        return self.router.port

    def stop(self) -> None:
        """Stop routing and every model server (records stay: endpoints return on start)."""
        self.stopping.set()
        self.wake.set()
        for t in self._threads:
            t.join(5)
        # A create, update or delete in flight owns model servers the deployments table may no
        # longer list (a delete has already unrouted its endpoint): let it finish, or its
        # servers would outlive this process.
        with self.lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(60)
        self.router.stop()
        if self.gateway is not None:
            self.gateway.close()
        with self.lock:
            deployments = list(self.deployments.values())
            self.deployments.clear()
        for dep in deployments:
            dep.stop(grace=5)
        self._flush_stats()

    def _control(self, command: str) -> Any:
        if command == "reconcile":
            self.wake.set()
            return {"ok": True}
        return {"pid": os.getpid(), "port": self.port}

    # -- loops ------------------------------------------------------------------------------

    def _reconcile_loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(TICK)
            self.wake.clear()
            if self.stopping.is_set():
                return
            try:
                self.reconcile()
            except Exception as exc:  # noqa: BLE001 - keep serving; the next tick retries
                _log(f"reconcile error: {exc!r}")

    def _stats_loop(self) -> None:
        while not self.stopping.wait(1.0):
            self._flush_stats()

    def _flush_stats(self) -> None:
        try:
            db.add_stats(self.router.take_stats())
        except Exception as exc:  # noqa: BLE001
            _log(f"stats flush error: {exc!r}")

    def _spawn(self, name: str, fn: Any, *args: Any) -> None:
        with self.lock:
            if name in self.busy:
                return
            self.busy.add(name)

        def run() -> None:
            try:
                fn(name, *args)
            except Exception as exc:  # noqa: BLE001 - recorded on the endpoint
                _log(f"{fn.__name__}({name}) failed: {exc!r}")
                try:
                    db.event(name, f"internal error: {exc!r}")
                except Exception:  # noqa: BLE001
                    pass
            finally:
                with self.lock:
                    self.busy.discard(name)
                self.wake.set()

        worker = threading.Thread(target=run, name=f"stepline-ep-{name}", daemon=True)
        with self.lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def reconcile(self) -> None:
        rows = {row["name"]: row for row in api.all_endpoints()}
        for name, row in rows.items():
            status = row["status"]
            if name in self.busy:
                continue
            if status == "Creating":
                self._spawn(name, self._create)
            elif status == "Updating":
                self._spawn(name, self._update)
            elif status == "Deleting":
                self._spawn(name, self._delete)
            elif status in ("InService", "SystemUpdating") and name not in self.deployments:
                self._spawn(name, self._restore)
        for name in list(self.deployments):
            if name not in rows and name not in self.busy:
                self._spawn(name, self._teardown)
        now = time.monotonic()
        check_health = now - self._last_health >= HEALTH_EVERY
        if check_health:
            self._last_health = now
        for name, dep in list(self.deployments.items()):
            if name in self.busy:
                continue
            if any(
                not inst.alive() or (check_health and not ping(inst.port))
                for v in dep.variants
                for inst in v.instances
            ):
                self._spawn(name, self._repair)

    # -- deploying --------------------------------------------------------------------------

    def _deploy(self, endpoint: str, config_name: str) -> Deployment:
        """Start every instance of every variant and wait until all answer /ping."""
        cfg = api.endpoint_config(config_name)
        folder = config.home() / "serving" / "endpoints" / endpoint
        variants: list[VariantDeployment] = []
        dep = Deployment(endpoint, config_name, variants)
        try:
            for pv in cfg["ProductionVariants"]:
                model = api.model_request(pv["ModelName"])
                container = api.primary_container(model)
                image = images.ensure(container["Image"])  # builds AWS framework images
                model_dir = fetch_model(pv["ModelName"], container)
                env = dict(container.get("Environment", {}))
                spec = InstanceSpec(
                    endpoint=endpoint,
                    variant=pv["VariantName"],
                    model_name=pv["ModelName"],
                    image_ref=container["Image"],
                    model_dir=model_dir,
                    environment=env,
                    instance_type=pv.get("InstanceType", "local"),
                    folder=folder,
                    network=not model.get("EnableNetworkIsolation", False),
                    startup_timeout=float(
                        pv.get("ContainerStartupHealthCheckTimeoutInSeconds")
                        or DEFAULT_STARTUP_TIMEOUT
                    ),
                )
                count = int(pv.get("InitialInstanceCount", 1))
                instances = [ModelInstance(spec, i + 1) for i in range(count)]
                variants.append(
                    VariantDeployment(
                        name=pv["VariantName"],
                        model_name=pv["ModelName"],
                        image_ref=container["Image"],
                        image_digest=image.digest,
                        weight=float(pv.get("InitialVariantWeight", 1.0)),
                        instance_type=spec.instance_type,
                        instances=instances,
                    )
                )
                for inst in instances:
                    inst.start()
            for v in variants:
                for inst in v.instances:
                    problem = inst.wait_healthy(self.stopping)
                    if problem is not None:
                        tail = inst.last_log()
                        raise RuntimeError(
                            f"ClientError: variant {v.name}: {problem}"
                            + (f". Last log lines: {tail}" if tail else "")
                        )
                    v.backends.append(Backend(inst.port))
        except BaseException:
            dep.stop(grace=2)
            raise
        return dep

    def _create(self, name: str) -> None:
        row = api.endpoint_row(name)
        if row is None or row["status"] != "Creating":
            return
        try:
            dep = self._deploy(name, row["config_name"])
        except Exception as exc:  # noqa: BLE001 - becomes FailureReason
            reason = str(exc)[:1024]
            api.set_endpoint(name, status="Failed", failure_reason=reason)
            db.event(name, f"Failed: {reason}")
            return
        self._activate(dep)
        api.set_endpoint(name, status="InService", variants=dep.summary(), failure_reason=None)
        db.event(name, "InService")

    def _activate(self, dep: Deployment) -> Deployment | None:
        with self.lock:
            old = self.deployments.get(dep.endpoint)
            self.deployments[dep.endpoint] = dep
        self.router.set_route(dep.route())
        return old

    def _restore(self, name: str) -> None:
        row = api.endpoint_row(name)
        if row is None or row["status"] not in ("InService", "SystemUpdating"):
            return
        for variant in row["variants"]:
            for inst in variant.get("_instances", []):
                if inst.get("identifier"):
                    stop_orphan(inst.get("runtime", "process"), inst["identifier"])
        api.set_endpoint(name, status="SystemUpdating")
        db.event(name, "Server started: restoring the endpoint")
        try:
            dep = self._deploy(name, row["config_name"])
        except Exception as exc:  # noqa: BLE001
            reason = str(exc)[:1024]
            api.set_endpoint(name, status="Failed", failure_reason=reason)
            db.event(name, f"Failed: {reason}")
            return
        self._activate(dep)
        api.set_endpoint(name, status="InService", variants=dep.summary())
        db.event(name, "InService")

    def _update(self, name: str) -> None:
        row = api.endpoint_row(name)
        if row is None or row["status"] != "Updating":
            return
        new_config = row["pending_config"]
        try:
            dep = self._deploy(name, new_config)
        except Exception as exc:  # noqa: BLE001 - the old deployment keeps serving
            reason = f"Update to {new_config} failed: {exc}"[:1024]
            had = name in self.deployments
            api.set_endpoint(
                name,
                status="InService" if had else "Failed",
                pending_config=None,
                failure_reason=reason,
            )
            db.event(name, reason)
            return
        old = self._activate(dep)
        api.set_endpoint(
            name,
            status="InService",
            config_name=new_config,
            pending_config=None,
            variants=dep.summary(),
            failure_reason=None,
        )
        db.event(name, f"InService with configuration {new_config} (traffic moved)")
        if old is not None:
            self._retire(old)

    def _retire(self, old: Deployment) -> None:
        """Wait for in-flight requests on ``old`` to finish, then stop its servers."""
        backends = [b for v in old.variants for b in v.backends]
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline and any(b.inflight for b in backends):
            time.sleep(0.01)
        if self.router.loop is not None:
            self.router.call(lambda: [b.flush() for b in backends])
        old.stop()

    def _delete(self, name: str) -> None:
        self._teardown(name)
        api.remove_endpoint(name)
        db.event(name, "Deleted")

    def _teardown(self, name: str) -> None:
        with self.lock:
            dep = self.deployments.pop(name, None)
        self.router.remove_route(name)
        if dep is not None:
            self._retire(dep)

    def _repair(self, name: str) -> None:
        """Restart model servers that exited or stopped answering /ping."""
        dep = self.deployments.get(name)
        if dep is None:
            return
        for v in dep.variants:
            for inst, backend in zip(v.instances, v.backends, strict=False):
                if inst.alive() and ping(inst.port):
                    continue
                backend.healthy = False
                code = inst.handle.poll() if inst.handle is not None else None
                why = f"exited with code {code}" if code is not None else "stopped answering /ping"
                db.event(name, f"variant {v.name} instance {inst.index} {why}; restarting")
                failures = 0
                while True:
                    inst.stop(grace=2)
                    inst.restarts += 1
                    try:
                        inst.start()
                        problem = inst.wait_healthy(self.stopping)
                    except Exception as exc:  # noqa: BLE001
                        problem = str(exc)
                    if problem is None:
                        old_port = backend.port

                        def move(b: Backend = backend, port: int = inst.port) -> None:
                            b.port = port
                            b.flush()
                            b.healthy = True

                        self.router.call(move)
                        db.event(
                            name,
                            f"variant {v.name} instance {inst.index} back in service "
                            f"(port {old_port} -> {inst.port})",
                        )
                        break
                    failures += 1
                    if failures >= MAX_RESTARTS or self.stopping.is_set():
                        reason = (
                            f"ClientError: variant {v.name} instance {inst.index} could not be "
                            f"restarted after {failures} attempts: {problem}"
                        )[:1024]
                        with self.lock:
                            self.deployments.pop(name, None)
                        self.router.remove_route(name)
                        dep.stop(grace=2)
                        api.set_endpoint(name, status="Failed", failure_reason=reason)
                        db.event(name, f"Failed: {reason}")
                        return
        api.set_endpoint(name, variants=dep.summary())


# -- daemon management ------------------------------------------------------------------------


def server_info() -> dict[str, Any] | None:
    """``{pid, port, start}`` of the running server, or None."""
    return detached.read_record(_state_path())


def server_url() -> str | None:
    """``http://127.0.0.1:PORT`` of the running server, or None."""
    info = server_info()
    return None if info is None else f"http://127.0.0.1:{info['port']}"


def _post(port: int, path: str, timeout: float = 2.0) -> bool:
    return answers_ok("POST", port, path, timeout, body=b"")


def ensure_server(timeout: float = 20.0, port: int | None = None) -> int:
    """The running server's port; starts a daemon (``stepline server``) if none runs."""
    info = server_info()
    if info is not None and ping(int(info["port"])):
        return int(info["port"])
    home = config.home()
    argv = [sys.executable, "-m", "stepline.serving.server"]
    if port is not None:
        argv += ["--port", str(port)]
    detached.spawn(argv, log=home / "server.log", env={**os.environ, "STEPLINE_HOME": str(home)})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = server_info()
        if info is not None and ping(int(info["port"])):
            return int(info["port"])
        time.sleep(0.05)
    raise RuntimeError(f"the stepline server did not start; see {home / 'server.log'}")


def notify(start: bool = True) -> int | None:
    """Tell the server to reconcile now (starting it when ``start``); its port or None."""
    info = server_info()
    if info is None:
        if not start:
            return None
        return ensure_server()
    port = int(info["port"])
    if not _post(port, "/_stepline/reconcile") and start:
        return ensure_server()
    return port


def stop_server(timeout: float = 30.0) -> bool:
    """SIGTERM the running server and wait for it; False if none ran."""
    lease = Lease.from_record(server_info())
    if lease is None or not lease.signal(signal.SIGTERM):
        return False
    lease.wait(timeout)
    return True


def _resume_executions() -> None:
    """The server is where the engine lives on: continue executions whose process died."""
    from stepline.engine import Engine

    try:
        for arn in Engine().resume(wait=False):
            _log(f"resumed execution {arn}")
    except Exception as exc:  # noqa: BLE001 - serving endpoints must not depend on it
        _log(f"resume error: {exc!r}")


def serve_forever(port: int | None = None, *, resume_executions: bool = False) -> None:
    """Run the server in this process until SIGTERM/SIGINT (``stepline server``).

    ``resume_executions``: also continue every execution left running by a dead process
    (what ``stepline server`` does when started by hand; an on-demand start for an endpoint
    does not, so deploying a model never revives unrelated work).
    """
    home = config.home()
    lock = open(home / "server.lock", "w")  # noqa: SIM115 - held for the process lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = server_info()
        where = f" on port {info['port']}" if info else ""
        lock.close()
        if port is not None and info is not None and int(info["port"]) != port:
            raise SystemExit(
                f"stepline server: already running for {home}{where}, not on port {port}"
            ) from None
        print(f"stepline server: already running for {home}{where}", file=sys.stderr)
        return
    # The handlers come first: a stop that arrives while the server starts is kept, and acted
    # on once it has started (nothing is half-started when the process leaves).
    done = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    explicit = port is not None
    if port is None:
        port = configured_port()
    server = Server()
    try:
        bound = server.start(port)
    except OSError as exc:
        if explicit:
            raise SystemExit(f"stepline server: cannot listen on 127.0.0.1:{port}: {exc}") from None
        # The configured port is taken (often another home's server): any free port will
        # do, since server.json records it and `stepline env` reads it from there.
        _log(f"port {port} is in use ({exc}); listening on a free port instead")
        if server.gateway is not None:
            server.gateway.close()
        server = Server()
        bound = server.start(0)
    detached.write_record(_state_path(), Lease.current(), port=bound)
    _log(f"stepline server listening on http://127.0.0.1:{bound} (home {home})")
    if resume_executions:
        threading.Thread(target=_resume_executions, name="resume", daemon=True).start()
    # Wait in short steps: Python runs a signal handler only when the main thread gets back
    # to its interpreter loop, and a SIGTERM the kernel hands to another of the server's
    # threads does not wake a main thread blocked in an endless ``Event.wait()``, so the stop
    # was lost (seen: a server SIGTERMed by ``stop_server`` waited on forever).
    while not done.wait(0.5):
        pass
    _log("stopping")
    server.stop()
    try:
        if json.loads(_state_path().read_text()).get("pid") == os.getpid():
            _state_path().unlink()
    except (OSError, ValueError):
        pass
    _exit_soon()


#: Seconds the process may take to exit once the server has stopped (exit hooks, threads).
EXIT_GRACE = 30.0


def _exit_soon() -> None:
    """Leave after :data:`EXIT_GRACE` seconds even if the interpreter's exit hangs.

    Why: everything the server owns is stopped and its record is gone, but a library's exit
    hook or non-daemon thread (a thread pool joined at exit, a client's atexit handler) can
    hang the interpreter's exit.  Observed in tests: a server stopped by SIGTERM, its record
    gone, still alive half an hour later and still holding ``server.lock``, so the next
    ``stepline server`` for that home said it was already running.  A daemon timer ends the
    process if the normal exit has not within the grace.
    """
    timer = threading.Timer(EXIT_GRACE, _hard_exit)
    timer.daemon = True
    timer.start()


def _hard_exit() -> None:
    _log(f"exit took more than {EXIT_GRACE:.0f} s after stopping; leaving now")
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """``python -m stepline.serving.server [--port N]``."""
    parser = argparse.ArgumentParser(prog="stepline server")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    serve_forever(args.port)


if __name__ == "__main__":
    main()
