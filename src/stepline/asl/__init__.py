"""The Amazon States Language: parse, validate and evaluate -- pure, no I/O, no SageMaker.

``execute`` runs a definition in memory, for tests and notebooks (:mod:`._execute`); the
durable engine in :mod:`stepline.engine` runs the same :class:`~stepline.asl.program.Program`
with a checkpoint sink.
"""

from __future__ import annotations

from stepline.asl._execute import ExecutionResult, execute
from stepline.asl.definition import Definition, parse
from stepline.asl.errors import DefinitionError, StatesError
from stepline.asl.limits import Limits
from stepline.asl.program import TaskPort, TaskRequest
from stepline.asl.validate import Problem, validate

__all__ = [
    "Definition",
    "DefinitionError",
    "ExecutionResult",
    "Limits",
    "Problem",
    "StatesError",
    "TaskPort",
    "TaskRequest",
    "execute",
    "parse",
    "validate",
]
