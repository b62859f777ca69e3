"""Defaults the composition root (:mod:`stepline`'s ``__init__``) plugs into lower layers.

Why: the language (:mod:`stepline.asl`) and the engine must not import the integrations
above them, yet ``stepline.asl.execute(definition)`` and ``Engine()`` should run Task states
against the registered integrations by default.  So they ask this registry, which imports
nothing, and ``stepline/__init__.py`` -- imported by Python before any ``stepline.*``
module -- registers the real factory there.  Tests and embedders can register their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Builds the default task port; called with keyword options such as ``virtual_time``.
TaskPortFactory = Callable[..., Any]

_task_port_factory: TaskPortFactory | None = None


def register_task_port_factory(factory: TaskPortFactory | None) -> None:
    """Set (or clear, with None) what :func:`default_task_port` builds."""
    global _task_port_factory
    _task_port_factory = factory


def default_task_port(**options: Any) -> Any | None:
    """The registered default task port, or None when nothing is registered."""
    if _task_port_factory is None:
        return None
    return _task_port_factory(**options)


#: Job kinds whose work a layer above the jobs layer does (batch transform: the serving
#: layer's model server fed with records), by kind: (check a request, run a job by name).
_job_runners: dict[str, tuple[Callable[[dict[str, Any]], None], Callable[[str], None]]] = {}


def register_job_runner(
    kind: str, check: Callable[[dict[str, Any]], None], run: Callable[[str], None]
) -> None:
    """Let ``kind``'s requests be checked and its jobs run by code the jobs layer can't
    import (the supervisor hands the job over; CreateTransformJob checks the request)."""
    _job_runners[kind] = (check, run)


def job_runner(kind: str) -> tuple[Callable[[dict[str, Any]], None], Callable[[str], None]]:
    """(check, run) registered for ``kind``; a clear error when none is."""
    try:
        return _job_runners[kind]
    except KeyError:
        raise LookupError(f"no runner registered for {kind} jobs (import stepline first)") from None


#: Environment for job code beyond SageMaker's contract: the AWS-compatible API's endpoint
#: and credentials, as a SageMaker job gets its execution role's.
_job_environment: Callable[[], dict[str, str]] | None = None


def register_job_environment(provider: Callable[[], dict[str, str]] | None) -> None:
    """Set (or clear) what :func:`job_environment` returns."""
    global _job_environment
    _job_environment = provider


def job_environment() -> dict[str, str]:
    """The registered extra job environment (``{}`` when nothing is registered)."""
    return dict(_job_environment()) if _job_environment is not None else {}


#: Builds what serves the requests ``stepline server`` gets that are not invocations (the
#: AWS-compatible API); ``None``: the server answers those with 404.
_gateway_factory: Callable[[], Any] | None = None


def register_gateway_factory(factory: Callable[[], Any] | None) -> None:
    """Set (or clear) what :func:`make_gateway` builds."""
    global _gateway_factory
    _gateway_factory = factory


def make_gateway() -> Any | None:
    """A new gateway from the registered factory, or None when none is registered."""
    return _gateway_factory() if _gateway_factory is not None else None


#: Named services an upper layer provides to a lower one, built on first use (for example
#: ``"transform"``: the serving layer's model lookup and record-feeding run, which the Ray
#: runtime needs on its nodes).
_providers: dict[str, Callable[[], Any]] = {}


def register_provider(name: str, factory: Callable[[], Any]) -> None:
    """Make ``provider(name)`` return ``factory()``."""
    _providers[name] = factory


def provider(name: str) -> Any:
    """What the composition root registered under ``name``; a clear error when nothing is."""
    try:
        factory = _providers[name]
    except KeyError:
        raise LookupError(f"nothing provides {name!r} (import stepline first)") from None
    return factory()


__all__ = [
    "TaskPortFactory",
    "provider",
    "register_provider",
    "make_gateway",
    "register_gateway_factory",
    "default_task_port",
    "job_environment",
    "job_runner",
    "register_job_environment",
    "register_job_runner",
    "register_task_port_factory",
]
