"""Task resources by ARN.

An integration is a small object with ``matches(resource)`` and ``invoke(request)``;
``INTEGRATIONS`` is the plain list the :class:`Router` consults in order.  The language
(:mod:`stepline.asl`) knows nothing of them: it hands every Task to a task port, and the
router is that port (:mod:`._port`).
"""

from __future__ import annotations

from stepline.integrations._port import INTEGRATIONS, Integration, Router, default_task_port
from stepline.integrations.lambda_ import function, register_function
from stepline.integrations.states import register_state_machine

__all__ = [
    "INTEGRATIONS",
    "Integration",
    "Router",
    "default_task_port",
    "function",
    "register_function",
    "register_state_machine",
]
