"""The ``ray`` runtime: training and processing jobs on a Ray cluster, one actor per instance.

Selecting it (the environment wins over ``$STEPLINE_HOME/config.toml``)::

    STEPLINE_RUNTIME=ray          [runtime] backend = "ray"      # "local" is the default
    RAY_ADDRESS=host:6379         [runtime] address = "host:6379"  # else "auto": this node's

With Ray, the object store must be an S3 server (workers share no disk); anything else is
refused when a job starts, with a message saying so.  The engine, its database and the API
server stay where they run.  Each job's supervisor process (:mod:`stepline.jobs.supervisor`)
hands the job to the engine's one shared Ray driver (:mod:`.ray_driver`: joining a cluster
costs seconds, so it is done once, not per job), where a :class:`RaySupervisor` thread:

* sizes one instance from the instance table, scaled down to the largest node when it is
  bigger (the same policy as on one machine, with a note in the record);
* places ``InstanceCount`` actors with a placement group (``SPREAD``: on different nodes when
  it can; a single instance's actor asks for its resources itself), each on the node Ray
  picks, and records each node's id and address;
* publishes the image to the object store once (:mod:`.ray_images`); each node pulls it once;
* starts every instance (:mod:`.ray_node`) with SageMaker's multi-host contract: hosts
  ``algo-1``..``algo-N`` that resolve inside the sandbox to the nodes, ``resourceconfig.json``,
  ``SM_HOSTS``/``SM_CURRENT_HOST``, and ``MASTER_ADDR``/``MASTER_PORT``/``WORLD_SIZE``/
  ``RANK`` for ``torch.distributed``; ``ShardedByS3Key`` inputs are dealt out by key;
* streams the logs into the job's log while it runs (lines prefixed ``[algo-N]`` when there
  are several instances), reads metrics from them, and stops the instances on StopTrainingJob
  or MaxRuntimeInSeconds;
* uploads the model from ``algo-1``'s ``/opt/ml/model`` (the other hosts' copies are not
  uploaded: the usual convention is that only the leader saves), and processing outputs from
  every instance;
* fails the job with a FailureReason naming the node when a node dies; the other instances
  are stopped, and nothing is uploaded.

The actors are detached and named, and the record names each instance's actor, so a
restarted supervisor finds them again.  A one-instance job's actor is not thrown away at the
end: the driver keeps it warm for ``STEPLINE_RAY_ACTOR_IDLE`` seconds (default 5; 0: never)
and hands it the next instance of the same shape (:class:`ActorPool`), which saves a new Ray
worker process (over a second of CPU) per job.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from typing import Any

from stepline import config, wiring
from stepline.detached import Lease
from stepline.jobs import records
from stepline.jobs.runtimes.base import Resources
from stepline.jobs.runtimes.instances import resources_for
from stepline.jobs.supervisor import FAILURE_LIMIT, MetricTail, Supervisor

NAMESPACE = "stepline"
POLL_INTERVAL = 0.2
#: How long a failed instance waits for the cluster to report its node dead.
NODE_DEATH_WAIT = 10.0
#: Environment passed to every instance actor (what the engine's sandbox settings are).
FORWARDED_ENV = (
    "STEPLINE_SANDBOX",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


class RayUnavailable(RuntimeError):
    """The Ray runtime is selected but cannot be used; the message says why."""


def backend() -> str:
    """``local`` or ``ray``: ``STEPLINE_RUNTIME``, else ``[runtime] backend``."""
    value = str(config.setting("runtime", "backend", "STEPLINE_RUNTIME", "local")).lower()
    if value not in ("local", "ray"):
        raise config.ConfigError(
            f"STEPLINE_RUNTIME / [runtime] backend: {value!r} is not 'local' or 'ray'"
        )
    return value


def address() -> str:
    """The cluster: ``RAY_ADDRESS``, else ``[runtime] address``, else ``auto``."""
    return str(config.setting("runtime", "address", "RAY_ADDRESS", "auto"))


def check_store() -> Any:
    """The store settings, or :class:`RayUnavailable` when the store is not an S3 server."""
    from stepline.storage.settings import load_settings

    settings = load_settings()
    if settings.backend != "s3":
        raise RayUnavailable(
            "the ray runtime needs an S3 object store (Ray's nodes share no disk): set "
            'STEPLINE_STORE=s3 and STEPLINE_S3_ENDPOINT_URL (or [storage] backend = "s3" '
            "in config.toml); the embedded store cannot be reached from other nodes"
        )
    return settings


_stores: dict[Any, Any] = {}
_stores_lock = threading.Lock()


def shared_store(settings: Any) -> Any:
    """This process's client of the store that ``settings`` names, made once.

    Why: a boto3 client loads its JSON models when it is made (0.1 s of CPU, several times
    that on a busy machine), and the shared driver made one per job, one at a time; boto3's
    clients are thread-safe, so one serves every job of the driver."""
    from stepline.storage import get_store

    with _stores_lock:
        store = _stores.get(settings)
        if store is None:
            store = _stores[settings] = get_store(settings)
        return store


_connect_lock = threading.Lock()


def connect() -> None:
    """Join the cluster as a driver (once per process, whichever thread asks first)."""
    import ray

    with _connect_lock:
        _connect(ray)


def _connect(ray: Any) -> None:
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(
            address=address(),
            namespace=NAMESPACE,
            log_to_driver=False,
            logging_level="WARNING",
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError) as exc:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address()!r}: {exc}") from None


def largest_node(gpus_wanted: bool = False) -> Resources:
    """The alive node with the most CPUs (GPUs first when the instance has GPUs)."""
    import ray

    nodes = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        res = node.get("Resources", {})
        cpus = res.get("CPU", 0.0)
        if cpus <= 0:
            continue  # the head started with --num-cpus 0 runs no instances
        nodes.append(Resources(cpus, int(res.get("memory", 0)), int(res.get("GPU", 0))))
    if not nodes:
        raise RayUnavailable(f"the Ray cluster at {address()!r} has no node with CPUs")
    if gpus_wanted:
        return max(nodes, key=lambda r: (r.gpus, r.cpus, r.memory_bytes))
    return max(nodes, key=lambda r: (r.cpus, r.memory_bytes, r.gpus))


def cluster_slots(instance_type: str, count: int = 1) -> int:
    """How many jobs of ``count`` instances of ``instance_type`` the cluster runs at once.

    What bounds tuning's parallel trials (and any fan-out of jobs) on Ray: the cluster's
    nodes, not the engine machine's cores.  At least 1.
    """
    import ray

    connect()
    res, _ = instance_resources(instance_type)
    slots = 0
    for node in ray.nodes():
        have = node.get("Resources", {}) if node.get("Alive") else {}
        if have.get("CPU", 0.0) <= 0:
            continue
        fits = int(have["CPU"] // max(res.cpus, 1e-9))
        if res.gpus:
            fits = min(fits, int(have.get("GPU", 0) // res.gpus))
        if res.memory_bytes:
            fits = min(fits, int(have.get("memory", 0) // res.memory_bytes))
        slots += fits
    return max(1, slots // max(1, count))


def instance_resources(instance_type: str) -> tuple[Resources, list[str]]:
    """One instance's resources on the cluster, scaled down to the largest node."""
    from stepline.jobs.runtimes.instances import INSTANCE_TYPES

    wants_gpus = INSTANCE_TYPES.get(instance_type, (0, 0, 0))[2] > 0
    return resources_for(instance_type, largest_node(wants_gpus), where="the largest Ray node")


@functools.cache
def _actor_class() -> Any:
    """The instance actor class, exported to the cluster once per driver."""
    import ray
    from stepline.jobs.runtimes.ray_node import InstanceRunner

    return ray.remote(InstanceRunner)


#: Seconds a finished instance's actor is kept warm for the next instance of its shape.
ACTOR_IDLE_ENV = "STEPLINE_RAY_ACTOR_IDLE"
DEFAULT_ACTOR_IDLE = 5.0
#: How much longer than the pool's idle time an unused actor waits before it ends itself
#: (its driver died, say).  Should the driver hand it out just then, the job takes another.
ACTOR_SELF_EXPIRY = 5.0


def actor_idle() -> float:
    """``STEPLINE_RAY_ACTOR_IDLE`` seconds (0 keeps no actor warm)."""
    raw = os.environ.get(ACTOR_IDLE_ENV) or str(DEFAULT_ACTOR_IDLE)
    try:
        value = float(raw)
    except ValueError:
        raise config.ConfigError(f"{ACTOR_IDLE_ENV}: {raw!r} is not a number of seconds") from None
    if value < 0:
        raise config.ConfigError(f"{ACTOR_IDLE_ENV}: {raw!r} is negative")
    return value


class _Wait:
    """A placement that waits for room: handed an actor of its shape when one is free."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.got: tuple[Any, str] | None = None
        self.error: BaseException | None = None
        self.event = threading.Event()


class ActorPool:
    """Instance actors kept warm between one-instance jobs of the same shape.

    Why: a new actor is a new Ray worker process, which imports Ray, boto3 and stepline (over
    a second of CPU) before the instance can start; on a busy cluster that start was most of
    a short job's cost.  An actor still hosts one instance at a time (one instance is one Ray
    actor); it is only not thrown away between instances.  The shape (``key``) is the
    instance's resources and the settings the actor was made with.

    A job that finds no warm actor of its shape waits, and adds one new actor to the pool's
    *pending* ones (which wait in Ray's queue for room).  Whichever comes first serves the
    job that has waited longest: a warm actor freed by a job that ended, or a pending one
    that Ray placed.  So an actor Ray is starting is never thrown away because its job got a
    warm one first; pending actors beyond the number of waiting jobs are cancelled, the
    newest first (Ray places the oldest first).

    Room for other shapes: a freed actor whose longest waiter has another shape (or is a
    multi-instance job's placement group) is killed instead, so that Ray can place that
    waiter; a placement that starts waiting kills the warm actors of other shapes.  Warm
    actors are killed after ``idle`` seconds unused, and when the driver leaves."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.lock = threading.Condition()
        self.free: list[tuple[Any, Any, str, float]] = []  # (key, actor, name, since)
        self.waits: list[_Wait] = []
        self.pending: list[tuple[Any, Any, str, Any]] = []  # (key, actor, name, ready ref)
        threading.Thread(target=self._expire, daemon=True, name="actor-pool-idle").start()
        threading.Thread(target=self._place, daemon=True, name="actor-pool-place").start()

    def wait(self, key: Any) -> _Wait:
        """Register a placement of shape ``key`` (None: a placement group); a warm actor of
        that shape is handed to it at once when there is one."""
        entry = _Wait(key)
        with self.lock:
            for i, (k, actor, name, _) in enumerate(self.free):
                if key is not None and k == key:
                    del self.free[i]
                    entry.got = (actor, name)
                    entry.event.set()
                    return entry
            doomed, self.free = self.free, []
            self.waits.append(entry)
        _kill([actor for _, actor, _, _ in doomed])
        return entry

    def add_pending(self, key: Any, actor: Any, name: str, ready: Any) -> None:
        """A new actor of shape ``key`` that Ray has yet to place (``ready``: a call that
        returns once it runs)."""
        with self.lock:
            self.pending.append((key, actor, name, ready))
            self.lock.notify_all()

    def done(self, entry: _Wait) -> tuple[Any, str] | None:
        """The placement waits no more; the actor it was handed, if any.  Pending actors
        that no placement waits for any longer are cancelled."""
        with self.lock:
            if entry in self.waits:
                self.waits.remove(entry)
            got = entry.got
            surplus: list[Any] = []
            if entry.key is not None:
                waiting = sum(1 for w in self.waits if w.key == entry.key)
                mine = [p for p in self.pending if p[0] == entry.key]
                for item in mine[waiting:]:
                    self.pending.remove(item)
                    surplus.append(item[1])
        _kill(surplus)
        return got

    def give(self, key: Any, actor: Any, name: str) -> None:
        """A free actor of shape ``key``: to the longest-waiting placement, kept, or killed."""
        with self.lock:
            if not self.waits:
                self.free.append((key, actor, name, time.monotonic()))
                return
            first = self.waits[0]
            if first.key == key:
                del self.waits[0]
                first.got = (actor, name)
                first.event.set()
                return
        _kill([actor])

    def _fail(self, key: Any, error: BaseException) -> None:
        """A pending actor of shape ``key`` could not start: its longest waiter fails."""
        with self.lock:
            for entry in self.waits:
                if entry.key == key:
                    self.waits.remove(entry)
                    entry.error = error
                    entry.event.set()
                    return

    def _place(self) -> None:
        """Hand each pending actor on once Ray has placed and started it."""
        while True:
            with self.lock:
                while not self.pending:
                    self.lock.wait()
                refs = [p[3] for p in self.pending]
            import ray

            try:
                ready, _ = ray.wait(refs, num_returns=1, timeout=0.2)
            except Exception as exc:  # noqa: BLE001 - e.g. the cluster is gone: the waiting
                # jobs fail with it rather than wait forever
                with self.lock:
                    lost, self.pending = self.pending, []
                for key, _, _, _ in lost:
                    self._fail(key, exc)
                _kill([actor for _, actor, _, _ in lost])
                continue
            for ref in ready:
                with self.lock:
                    item = next((p for p in self.pending if p[3] == ref), None)
                    if item is None:
                        continue  # cancelled meanwhile
                    self.pending.remove(item)
                key, actor, name, _ = item
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as exc:
                    self._fail(key, exc)
                    _kill([actor])
                    continue
                self.give(key, actor, name)

    def _expire(self) -> None:
        while True:
            time.sleep(min(0.5, self.idle))
            now = time.monotonic()
            with self.lock:
                old = [e for e in self.free if now - e[3] > self.idle]
                self.free = [e for e in self.free if now - e[3] <= self.idle]
            _kill([actor for _, actor, _, _ in old])

    def drain(self) -> None:
        """Kill every warm and pending actor (the driver leaves)."""
        with self.lock:
            doomed = [a for _, a, _, _ in self.free] + [a for _, a, _, _ in self.pending]
            self.free, self.pending = [], []
        _kill(doomed)


def _kill(actors: list[Any]) -> None:
    if not actors:
        return
    import ray

    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)


#: The driver's pool (:mod:`.ray_driver` sets it); None where a supervisor runs its own job.
_pool: ActorPool | None = None


def enable_pool() -> None:
    """Keep finished instances' actors warm in this process (the engine's shared driver)."""
    global _pool
    idle = actor_idle()
    if idle > 0 and _pool is None:
        _pool = ActorPool(idle)


def drain_pool() -> None:
    """Kill this process's warm actors."""
    if _pool is not None:
        _pool.drain()


class RaySupervisor(Supervisor):
    """A job's supervisor when the runtime is Ray: the driver of the job's instance actors.

    Runs in a thread of the engine's shared driver (:mod:`.ray_driver`), or in the job's own
    supervisor process when no driver can be reached.  ``me`` is the supervisor process the
    engine watches; the driver sets it to the process that handed the job over."""

    def __init__(self, kind: str, name: str) -> None:
        from stepline.storage.settings import load_settings

        super().__init__(kind, name, store=shared_store(load_settings()))
        self.actors: list[Any] = []
        self.nodes: list[dict[str, Any]] = []
        self.pg: Any = None
        self.checkpoint_sync: Any = None
        self.me = Lease.current().record()
        #: The Ray names of the instances' actors (a warm actor keeps the name it was made
        #: with), and the shape under which they go back to the pool; None: not pooled.
        self.actor_names: list[str] = []
        self.pool_key: Any = None

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> None:
        if self.record.terminal:
            return
        try:
            settings = check_store()
            connect()
            if self.record.run_identifier:
                self.update(supervisor=self.me)
                self.find_actors()
            elif not self.start_instances(settings):
                return
            outcome = self.watch_instances()
            self.finish_instances(*outcome)
        except RayUnavailable as exc:
            self.fail(f"ClientError: {exc}")
        except Exception as exc:  # noqa: BLE001 - every failure must end up in the record
            import traceback

            traceback.print_exc()
            self.fail(f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            self.cleanup()

    @property
    def count(self) -> int:
        return int(self.spec.resources(self.request).get("InstanceCount", 1))

    @property
    def instance_type(self) -> str:
        return self.spec.resources(self.request)["InstanceType"]

    def model(self) -> dict[str, Any]:
        """The job's model (its CreateModel request; the serving layer's, see
        :mod:`stepline.wiring`), for a kind whose image comes from a model."""
        return wiring.provider("transform").model_request(self.request["ModelName"])

    def _image_uri(self) -> str:
        named = self.spec.image(self.request)
        if named is not None:
            return named
        return wiring.provider("transform").primary_container(self.model())["Image"]

    def transition(self, secondary: str, message: str | None = None, **kwargs: Any) -> None:
        if self.spec.phase is None:  # the job says InProgress until it ends
            final = secondary in ("Completed", "Failed", "Stopped")
            self.update(secondary_status=secondary if final else "InProgress", **kwargs)
            return
        super().transition(secondary, message, **kwargs)

    def actor_name(self, index: int) -> str:
        return f"{self.kind}/{self.name}/algo-{index + 1}"

    def sharded_uris(self) -> list[str]:
        """The input prefixes whose objects are dealt out among the instances."""
        out = [
            holder["S3Uri"].rstrip("/")
            for _, holder in self.spec.input_sources(self.request)
            if holder.get("S3DataDistributionType") == "ShardedByS3Key"
        ]
        # stage_prefix stages a "folder" prefix as PREFIX/: shard both spellings.
        return out + [u + "/" for u in out]

    def _stop_requested(self) -> bool:
        current = records.get(self.kind, self.name)
        return current is not None and current.stop_requested

    def _stopped_before_start(self) -> None:
        self.update(status="Stopped", secondary_status="Stopped", ended=time.time())

    # -- starting ------------------------------------------------------------------------

    def start_instances(self, settings: Any) -> bool:
        """Place the job's instances and start them; False when the job has already ended
        (failed or stopped on the way)."""
        prepared = self._prepare_image()
        if prepared is None:
            return False
        image, res, notes, image_uri = prepared
        image_state = {
            "image": {"uri": self._image_uri(), "ref": image.ref, "digest": image.digest},
            "runtime": image.runtime,
            "runtime_backend": "ray",
            "ray_address": address(),
            "resource_notes": notes,
            "instance_count": self.count,
        }
        self.update(state=image_state, supervisor=self.me)  # what it waits for
        self._drop_leftovers(self.count)
        if not self._place(res) or not self._create_actors(res, settings):
            return False
        instances = self._record_placement(res)
        started = self._start_runs(self._job_spec(image, image_uri, res))
        if started is None:
            return False
        self._record_running(instances, started)
        return True

    def _prepare_image(self) -> tuple[Any, Resources, list[str], str] | None:
        """(image, one instance's resources, sizing notes, the image's object URI); None
        when the job failed (a missing image, say)."""
        from stepline.images import resolve
        from stepline.jobs.runtimes import ray_images

        try:
            image = resolve(self._image_uri())
            res, notes = instance_resources(self.instance_type)
            image_uri = ray_images.publish(self.store, image, self.folder / "scratch")
        except RayUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            self.fail(f"ClientError: {exc}")
            return None
        return image, res, notes, image_uri

    def _place(self, res: Resources) -> bool:
        """Reserve the instances' resources with a placement group (``SPREAD``: on
        different nodes when it can); False when the job was stopped while it waited.

        One instance needs no group: its actor asks for the resources itself and waits in
        Ray's queue, which places it sooner (no two-phase reservation) and lets a node start
        the actor's worker process while the job before it still runs."""
        from ray.util.placement_group import placement_group

        if self.count == 1:
            return True

        bundle = {"CPU": res.cpus}
        if res.memory_bytes:
            bundle["memory"] = float(res.memory_bytes)
        if res.gpus:
            bundle["GPU"] = float(res.gpus)
        # Detached, like the actors: a supervisor that dies leaves the job running for the
        # next one to find; cleanup() removes both.
        self.pg = placement_group(
            [dict(bundle)] * self.count, strategy="SPREAD", name=self.pg_name, lifetime="detached"
        )
        return self._wait_for_room(self.pg.ready())

    @property
    def owner(self) -> str:
        """What the instances' actors know this job by (``kind/name``)."""
        return f"{self.kind}/{self.name}"

    def _new_actor(
        self,
        name: str,
        res: Resources,
        args: tuple[dict[str, Any], dict[str, str]],
        strategy: Any = "DEFAULT",
        idle_limit: float | None = None,
    ) -> Any:
        """A detached, named instance actor with ``res`` (its creation may wait for room)."""
        return (
            _actor_class()
            .options(
                name=name,
                namespace=NAMESPACE,
                lifetime="detached",
                max_restarts=0,
                max_concurrency=8,
                num_cpus=res.cpus,
                num_gpus=res.gpus,
                memory=res.memory_bytes or None,
                scheduling_strategy=strategy,
            )
            .remote(*args, idle_limit)
        )

    def _create_actors(self, res: Resources, settings: Any) -> bool:
        """One detached, named actor per instance, each in its bundle; where each runs.
        False when the job was stopped while they waited for room."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        import ray

        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        args = (dict(settings.__dict__), env)
        if _pool is not None and self.count == 1 and self.spec.ray_start is None:
            return self._pooled_actor(res, args)
        for i in range(self.count):
            strategy = (
                "DEFAULT"
                if self.pg is None
                else PlacementGroupSchedulingStrategy(
                    placement_group=self.pg, placement_group_bundle_index=i
                )
            )
            self.actor_names.append(self.actor_name(i))
            self.actors.append(self._new_actor(self.actor_name(i), res, args, strategy))
        where = [a.where.remote(self.owner) for a in self.actors]
        if not self._wait_for_room(where):
            return False
        self.nodes = ray.get(where)
        return True

    def _pooled_actor(self, res: Resources, args: tuple[dict[str, Any], dict[str, str]]) -> bool:
        """The one instance's actor, from the driver's pool (:class:`ActorPool`): a warm one
        of its shape, else the first of its shape that is freed or placed.  False when the
        job was stopped while it waited."""
        import ray

        assert _pool is not None
        digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()
        key = (res.cpus, res.memory_bytes, res.gpus, digest)
        while True:
            waiting = _pool.wait(key)
            stopped = False
            try:
                if not waiting.event.is_set():
                    name = f"instance-{uuid.uuid4().hex[:16]}"
                    limit = _pool.idle + ACTOR_SELF_EXPIRY
                    actor = self._new_actor(name, res, args, idle_limit=limit)
                    _pool.add_pending(key, actor, name, actor.where.remote())
                    while not waiting.event.wait(0.5):
                        if self._stop_requested():
                            stopped = True
                            break
            finally:
                got = _pool.done(waiting)
            if waiting.error is not None:
                raise waiting.error
            if stopped or got is None:
                if got is not None:
                    _pool.give(key, *got)
                self._stopped_before_start()
                return False
            actor, name = got
            try:
                node = ray.get(actor.where.remote(self.owner), timeout=60)
            except ray.exceptions.RayError:
                _kill([actor])  # it died (its node, say): wait for another
                continue
            break
        self.actors, self.actor_names, self.nodes = [actor], [name], [node]
        self.pool_key = key
        return True

    def _record_placement(self, res: Resources) -> list[dict[str, Any]]:
        """Write where each instance runs (Ray's node id and address); the instances."""
        instances = [
            {"host": f"algo-{i + 1}", "node_id": n["node_id"], "node_ip": n["ip"], "actor": a}
            for i, (n, a) in enumerate(zip(self.nodes, self.actor_names, strict=True))
        ]
        resources = {
            "cpus": res.cpus,
            "memory_bytes": res.memory_bytes,
            "gpus": res.gpus,
            "gpu_ids": [],
        }
        self.transition(
            "Downloading",
            "Downloading input data",
            started=time.time(),
            state={"resources": resources, "instances": instances},
        )
        return instances

    def _job_spec(self, image: Any, image_uri: str, res: Resources) -> dict[str, Any]:
        """What every instance is told (its own ``index`` is added per instance)."""
        job = {
            "kind": self.kind,
            "name": self.name,
            "arn": self.record.arn,
            "request": self.request,
            "count": self.count,
            "ips": [n["ip"] for n in self.nodes],
            "master_port": self.nodes[0]["port"],
            "image_uri": image_uri,
            "image_digest": image.digest,
            "cpus": res.cpus,
            "memory_bytes": res.memory_bytes,
            "sharded": self.sharded_uris(),
        }
        if self.spec.image_field is None:  # the image comes from a model: the node needs it
            job.update(model=self.model(), image_ref=self._image_uri())
        return job

    def _start_runs(self, job: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Start every instance (staging, image pull, run); what each reports, or None when
        the job failed or was stopped before it ran."""
        import ray

        step = self.spec.ray_start  # None: the node runs the kind's container
        refs = [
            actor.start.remote({**job, "index": i})
            if step is None
            else actor.call.remote(step, {**job, "index": i})
            for i, actor in enumerate(self.actors)
        ]
        try:
            while not self._wait_ready(refs):
                if self._stop_requested():
                    self.stop_all(0)
            started = ray.get(refs)
        except ray.exceptions.RayActorError as exc:
            self.fail(self.node_failure(exc))
            return None
        for info in started:
            if info.get("error"):
                self.fail(info["error"])
                return None
            if info.get("stopped"):
                self._stopped_before_start()
                return None
        return started

    def _record_running(self, instances: list[dict[str, Any]], started: list[dict]) -> None:
        """The job runs: what the first instance ran, and each instance's image pull."""
        first = started[0]
        self.transition(
            self.spec.phase or "InProgress",
            self.spec.phase_message,
            run_identifier=f"ray:{NAMESPACE}/{self.kind}/{self.name}",
            state={
                "inputs": first["inputs"],
                "run_started": time.time(),
                "argv": first["argv"],
                "entrypoint": first["entrypoint"],
                "arguments": first["arguments"],
                "environment": first["environment"],
                "sandboxed": first["sandboxed"],
                "runtime_warnings": first["warnings"],
                "runtime_notes": first["notes"],
                "runtime_name": first["runtime"],
                "instances": [
                    {**inst, "image_downloaded": info["image_downloaded"]}
                    for inst, info in zip(instances, started, strict=True)
                ],
            },
        )

    @property
    def pg_name(self) -> str:
        return f"stepline/{self.kind}/{self.name}"

    def _wait_for_room(self, refs: Any) -> bool:
        """Wait until ``refs`` (a placement group's readiness, the actors' placement) are
        ready; False, with the job recorded as stopped, when it is stopped first.  While it
        waits, the driver's pool knows a job wants room, so warm actors give theirs up."""
        waiting = _pool.wait(None) if _pool is not None else None
        try:
            while not self._wait_ready(refs):
                if self._stop_requested():
                    self._stopped_before_start()
                    return False
        finally:
            if waiting is not None:
                assert _pool is not None
                _pool.done(waiting)
        return True

    def _wait_ready(self, refs: Any, timeout: float = 0.5) -> bool:
        import ray

        refs = refs if isinstance(refs, list) else [refs]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        return len(ready) == len(refs)

    def _drop_leftovers(self, count: int) -> None:
        """Kill the actors of an earlier supervisor that died before the job started."""
        import ray

        names = {self.actor_name(i) for i in range(count)}
        names.update(
            str(i["actor"]) for i in self.record.state.get("instances", []) if i.get("actor")
        )
        for name in sorted(names):
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE))
            except ValueError:
                continue  # none by that name
        with contextlib.suppress(Exception):
            from ray.util import get_placement_group, remove_placement_group

            remove_placement_group(get_placement_group(self.pg_name))

    def find_actors(self) -> None:
        """Reattach: the instances of a job whose earlier supervisor died."""
        import ray

        self.nodes = [
            {"node_id": i.get("node_id"), "ip": i.get("node_ip")}
            for i in self.record.state.get("instances", [])
        ]
        recorded = self.record.state.get("instances", [])
        for i in range(self.count):
            name = (recorded[i].get("actor") if i < len(recorded) else None) or self.actor_name(i)
            self.actor_names.append(name)
            self.actors.append(ray.get_actor(name, namespace=NAMESPACE))
        with contextlib.suppress(Exception):
            from ray.util import get_placement_group

            self.pg = get_placement_group(self.pg_name)

    # -- watching ------------------------------------------------------------------------

    def node_failure(self, exc: BaseException) -> str:
        """A FailureReason for a lost instance, naming its node.

        The cluster may learn that a node died a moment after its actors' calls fail: wait a
        few seconds for it; if no node is reported dead, the instances' own worker processes
        died, and every instance's node is named.
        """
        import ray

        lost: list[str] = []
        deadline = time.monotonic() + NODE_DEATH_WAIT
        while not lost:
            alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
            lost = [
                f"algo-{i + 1} on Ray node {n['node_id']} ({n['ip']})"
                for i, n in enumerate(self.nodes)
                if n.get("node_id") not in alive
            ]
            if lost or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if lost:
            return (
                f"InternalServerError: the node running the job died: {'; '.join(lost)} ({first})"
            )
        where = "; ".join(
            f"algo-{i + 1} on Ray node {n['node_id']} ({n['ip']})" for i, n in enumerate(self.nodes)
        )
        return f"InternalServerError: an instance's Ray worker died: {where} ({first})"

    def watch_instances(self) -> tuple[list[int | None], str | None, str | None]:
        """Poll until every instance exits: (exit codes, stop reason, node failure)."""
        import ray

        spec = self.request.get("AlgorithmSpecification", {})
        tail = MetricTail(
            self.kind, self.name, self.record.log_path, spec.get("MetricDefinitions", [])
        )
        count = len(self.actors)
        offsets, partial = [0] * count, [b""] * count
        codes: list[int | None] = [None] * count
        reason: str | None = None
        stopping = False
        self.record.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The instances' logs are read from the start (after a reattach too: the log is then
        # written again whole, rather than with a gap or twice).
        with open(self.record.log_path, "wb") as log:
            while any(c is None for c in codes):
                pending = [i for i in range(count) if codes[i] is None]
                try:
                    polled = ray.get([self.actors[i].poll.remote(offsets[i]) for i in pending])
                except ray.exceptions.RayActorError as exc:
                    self.stop_all(0)
                    return codes, reason, self.node_failure(exc)
                for i, (code, data) in zip(pending, polled, strict=True):
                    offsets[i] += len(data)
                    self._write_log(log, i, count, partial, data)
                    if code is not None:
                        self._write_log(log, i, count, partial, b"", final=True)
                        codes[i] = code
                tail.poll()
                if any(c not in (None, 0) for c in codes) and not stopping:
                    self.stop_all(0)  # one instance failed: the job fails, the others stop
                    stopping = True
                if reason is None:
                    reason = self._stop_reason()
                    if reason is not None and self.spec.ray_stop_by_removal:
                        self.cleanup()  # its model servers go with the actors
                        return [137 if c is None else c for c in codes], reason, None
                self._sync_checkpoints()
                time.sleep(POLL_INTERVAL)
        tail.poll(final=True)
        self._sync_checkpoints(final=True)
        return codes, reason, None

    def _stop_reason(self) -> str | None:
        """``timeout`` past MaxRuntimeInSeconds, ``stopped`` on a Stop; the instances are
        then asked to stop (SIGTERM, SIGKILL after the grace)."""
        deadline = (self.record.started or time.time()) + self.max_runtime
        if time.time() >= deadline:
            reason = "timeout"
        elif self._stop_requested():
            reason = "stopped"
        else:
            return None
        self.transition("Stopping", "Stopping the job", status="Stopping")
        self.stop_all(self.grace)
        return reason

    def _sync_checkpoints(self, final: bool = False) -> None:
        """CheckpointConfig: algo-1 mirrors its checkpoint folder to S3 from its node, in
        the background while the job runs (one sync at a time) and once more at the end."""
        import ray

        uri = (self.request.get("CheckpointConfig") or {}).get("S3Uri")
        if not uri or not self.actors:
            return
        running = self.checkpoint_sync
        if running is not None:
            ready, _ = ray.wait([running], timeout=None if final else 0)
            if not ready:
                return
            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(running)
        self.checkpoint_sync = self.actors[0].sync_checkpoints.remote(uri)
        if final:
            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(self.checkpoint_sync)
            self.checkpoint_sync = None

    @staticmethod
    def _write_log(
        log: Any, i: int, count: int, partial: list[bytes], data: bytes, final: bool = False
    ) -> None:
        if count == 1:
            if data:
                log.write(data)
                log.flush()
            return
        buf = partial[i] + data
        lines = buf.split(b"\n")
        partial[i] = b"" if final else lines.pop()
        if final and lines and lines[-1] == b"":
            lines.pop()
        prefix = f"[algo-{i + 1}] ".encode()
        if lines:
            log.write(b"".join(prefix + line + b"\n" for line in lines))
            log.flush()

    def stop_all(self, grace: float) -> None:
        """Ask every instance to stop (in the background: stop() waits out the grace)."""
        for actor in self.actors:
            with contextlib.suppress(Exception):
                actor.stop.remote(grace, self.owner)

    # -- finishing -----------------------------------------------------------------------

    def finish_instances(
        self, codes: list[int | None], reason: str | None, node_failure: str | None
    ) -> None:
        """Record the job's end: a failure, or the kind's uploads and final status."""
        import ray
        from stepline.storage import StorageError

        state: dict[str, Any] = {
            "exit_code": codes[0],
            "exit_codes": codes,
            "run_ended": time.time(),
        }
        if node_failure:
            self.fail(node_failure, **state)
            return
        failed = [i for i, c in enumerate(codes) if c != 0]
        if failed and reason is None:
            i = failed[0]
            state["exit_code"] = codes[i]
            state["failure_reason"] = self._instance_failure(i, codes[i])
            self.transition(
                "Failed", state["failure_reason"], status="Failed", ended=time.time(), state=state
            )
            return
        try:
            self.spec.ray_finish(self, state, reason)
        except ray.exceptions.RayActorError as exc:
            self.fail(self.node_failure(exc), **state)
        except ray.exceptions.RayTaskError as exc:  # raised on the node, e.g. a symlinked dir
            cause = getattr(exc, "cause", None) or exc
            self.fail(f"ClientError: Could not upload the job's output: {cause}", **state)
        except StorageError as exc:
            self.fail(f"ClientError: Could not upload the job's output: {exc}", **state)

    def _instance_failure(self, index: int, code: int | None) -> str:
        import ray
        from stepline.jobs import contract

        try:
            text = ray.get(self.actors[index].failure.remote())
        except ray.exceptions.RayError:
            text = None
        if text:
            return text[:FAILURE_LIMIT]
        if self.spec.failure_default is not None:
            return self.spec.failure_default
        if contract.script_mode(self.request) and code is not None:
            try:
                last = ray.get(self.actors[index].last_log_line.remote())
            except ray.exceptions.RayError:
                last = ""
            text = (
                f'ExecuteUserScriptError:\nExitCode {code}\nErrorMessage "{last}"\n'
                f'Command "{" ".join(self.record.state.get("argv") or [])}"'
            )
            return f"AlgorithmError: {text}"[:FAILURE_LIMIT]
        return f"AlgorithmError: , exit code: {code}"

    def cleanup(self) -> None:
        """Kill the actors (their processes with them) and free the placement group."""
        import ray

        if not ray.is_initialized():
            return
        if self.pool_key is not None and _pool is not None and len(self.actors) == 1:
            actor, name = self.actors[0], self.actor_names[0]
            try:
                reusable = ray.get(actor.reset.remote(self.owner), timeout=10)
            except Exception:  # noqa: BLE001 - a dead or stuck actor is killed below
                reusable = False
            if reusable:
                self.actors = []
                _pool.give(self.pool_key, actor, name)
                return
        done = [a.cleanup.remote() for a in self.actors]
        with contextlib.suppress(Exception):
            ray.wait(done, num_returns=len(done), timeout=10)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        if self.pg is not None:
            from ray.util import remove_placement_group

            with contextlib.suppress(Exception):
                remove_placement_group(self.pg)


def run_if_selected(kind: str, name: str) -> bool:
    """Run job ``(kind, name)`` on Ray when Ray is selected; whether it was handled.

    For the supervisor's ``main``.  A malformed runtime setting fails the job saying so
    (rather than leaving it waiting for a supervisor that cannot start)."""
    try:
        chosen = backend()
    except config.ConfigError as exc:
        Supervisor(kind, name).fail(f"ClientError: {exc}")
        return True
    if chosen != "ray":
        return False
    try:
        check_store()  # before a driver is started for nothing
        actor_idle()
    except (RayUnavailable, config.ConfigError) as exc:
        Supervisor(kind, name).fail(f"ClientError: {exc}")
        return True
    from stepline.jobs.runtimes import ray_driver

    me = Lease.current().record()
    try:
        ray_driver.hand_over(kind, name, me)
    except ray_driver.DriverUnavailable as exc:
        print(f"stepline: supervising {kind}/{name} in this process: {exc}", file=sys.stderr)
        RaySupervisor(kind, name).run()
    return True
