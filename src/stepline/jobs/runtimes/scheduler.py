"""A FIFO resource scheduler so jobs wait instead of overcommitting the machine.

The state is one JSON file, ``$STEPLINE_HOME/run/resources.json``, read and rewritten under
an ``fcntl`` lock, so every process sharing a stepline home (engine, CLI, tests) queues in
the same line.  Entries carry the owner's pid and its kernel start time; entries of dead
processes are dropped, so a crashed engine does not hold resources forever.

Ordering is strict FIFO: a job waits while an earlier job waits, even if it would fit now,
so a big job is never starved by a stream of small ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepline import config, detached
from stepline.jobs.runtimes.base import Resources
from stepline.jobs.runtimes.instances import machine


class QueueTimeout(TimeoutError):
    """``acquire`` gave up waiting."""


@dataclass
class Lease:
    """Granted resources (``resources.gpu_ids`` are the GPUs to hand over)."""

    id: str
    resources: Resources
    scheduler: ResourceScheduler = field(repr=False)

    def release(self) -> None:
        """Give the resources back."""
        self.scheduler.release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ResourceScheduler:
    """``acquire(resources) -> Lease`` / ``release(lease)``, FIFO across processes."""

    def __init__(self, capacity: Resources | None = None, path: Path | None = None) -> None:
        self.capacity = capacity or machine()
        self.path = path or config.home() / "run" / "resources.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._me = detached.Lease.current()

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    state = json.loads(self.path.read_text() or "{}")
                except FileNotFoundError:
                    state = {}
                state.setdefault("queue", [])
                state.setdefault("held", [])
                for key in ("queue", "held"):
                    state[key] = [e for e in state[key] if self._alive(e)]
                yield state
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _alive(entry: dict[str, Any]) -> bool:
        lease = detached.Lease.from_record(entry)
        return lease is not None and lease.alive()

    def _free(self, held: list[dict[str, Any]]) -> tuple[float, int, list[int]]:
        cpus = self.capacity.cpus - sum(e["cpus"] for e in held)
        memory = self.capacity.memory_bytes - sum(e["memory"] for e in held)
        used = {g for e in held for g in e["gpu_ids"]}
        gpus = [g for g in (self.capacity.gpu_ids or range(self.capacity.gpus)) if g not in used]
        return cpus, memory, gpus

    def acquire(self, request: Resources, timeout: float | None = None) -> Lease:
        """Wait (FIFO) until ``request`` fits, then hold it.

        A request larger than the whole machine raises ``ValueError`` at once (cap it with
        :func:`~stepline.jobs.runtimes.instances.resources_for` first).
        """
        cap = self.capacity
        if (
            request.cpus > cap.cpus
            or request.memory_bytes > cap.memory_bytes
            or request.gpus > cap.gpus
        ):
            raise ValueError(f"{request} can never fit this machine ({cap})")
        ticket = uuid.uuid4().hex
        entry = {
            "id": ticket,
            **self._me.record(),
            "cpus": request.cpus,
            "memory": request.memory_bytes,
            "gpus": request.gpus,
            "gpu_ids": [],
        }
        with self._state() as state:
            state["queue"].append(entry)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            with self._state() as state:
                queue = state["queue"]
                if queue and queue[0]["id"] == ticket:
                    cpus, memory, gpus = self._free(state["held"])
                    if (
                        request.cpus <= cpus + 1e-9
                        and request.memory_bytes <= memory
                        and request.gpus <= len(gpus)
                    ):
                        queue.pop(0)
                        entry["gpu_ids"] = gpus[: request.gpus]
                        state["held"].append(entry)
                        granted = Resources(
                            request.cpus,
                            request.memory_bytes,
                            request.gpus,
                            tuple(entry["gpu_ids"]),
                        )
                        return Lease(ticket, granted, self)
                expired = deadline is not None and time.monotonic() >= deadline
                if expired:
                    state["queue"] = [e for e in queue if e["id"] != ticket]
            if expired:
                raise QueueTimeout(f"waited {timeout}s for {request}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def release(self, lease: Lease) -> None:
        """Return a lease's resources (a second release is harmless)."""
        with self._state() as state:
            state["held"] = [e for e in state["held"] if e["id"] != lease.id]

    def snapshot(self) -> dict[str, Any]:
        """The queue and the held leases (for status displays and tests)."""
        with self._state() as state:
            return json.loads(json.dumps(state))
