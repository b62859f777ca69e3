"""Durable executions: the SQLite store, resume after a crash, redrive, stop.

The engine depends on :mod:`stepline.asl` (the language) and on a task port it is given --
by default the one the composition root registered in :mod:`stepline.wiring` (the
integrations); it imports nothing above it, and the language knows nothing about it.
"""

from stepline.engine.engine import Engine, EngineError, execution_arn, state_machine_arn
from stepline.engine.store import Store

__all__ = ["Engine", "EngineError", "Store", "execution_arn", "state_machine_arn"]
