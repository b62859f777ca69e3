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


__all__ = ["TaskPortFactory", "default_task_port", "register_task_port_factory"]
