"""How much one execution may use: AWS's quotas by default, plus the expression budget.

Why a module of its own: the interpreter, the states and the engine all enforce these, and
people who want more locally raise them in one place (``$STEPLINE_HOME/config.toml`` section
``[limits]`` or the environment, which wins):

========================  ===================================  =========  ==================
key                       environment variable                 default    AWS
========================  ===================================  =========  ==================
``payload_bytes``         ``STEPLINE_MAX_PAYLOAD_BYTES``       262144     256 KiB payloads
``history_events``        ``STEPLINE_MAX_HISTORY_EVENTS``      25000      25,000 events
``eval_timeout_ms``       ``STEPLINE_EVAL_TIMEOUT_MS``         5000       (no AWS figure)
``eval_max_depth``        ``STEPLINE_EVAL_MAX_DEPTH``          200        (no AWS figure)
========================  ===================================  =========  ==================

``eval_*`` bound one JSONata expression: its run time and how deeply it nests (a recursive
function); past either the state fails with ``States.QueryEvaluationError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stepline import config

#: AWS's payload quota for state input/output, task results and execution input (UTF-8 bytes).
AWS_PAYLOAD_BYTES = 256 * 1024
#: AWS's hard quota of events in one execution's history.
AWS_HISTORY_EVENTS = 25_000
#: Most items ``States.ArrayRange`` and JSONata's ``$range`` may return, as AWS documents.
MAX_RANGE_ITEMS = 1000


def bounded_range(
    name: str, start: int, end: int, step: int, fail: Callable[[str], Exception]
) -> list[int]:
    """``start`` to ``end`` inclusive by ``step``, as ``States.ArrayRange`` and ``$range``
    (``name``) both count; ``fail(message)`` is raised, in the caller's error, for a zero
    step or more than :data:`MAX_RANGE_ITEMS` items."""
    if step == 0:
        raise fail(f"The step of {name} cannot be 0")
    # A range object's length costs nothing: the size is checked before any list exists.
    steps = range(start, end + (1 if step > 0 else -1), step)
    if len(steps) > MAX_RANGE_ITEMS:
        raise fail(
            f"{name} would produce {len(steps)} items; at most {MAX_RANGE_ITEMS} are allowed"
        )
    return list(steps)


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one program runs under (see the module docstring for the settings)."""

    payload_bytes: int = AWS_PAYLOAD_BYTES
    history_events: int = AWS_HISTORY_EVENTS
    eval_timeout_ms: int = 5000
    eval_max_depth: int = 200

    @classmethod
    def from_config(cls) -> Limits:
        """The configured limits: environment, then ``[limits]`` in config.toml, then AWS's."""
        return cls(
            payload_bytes=_positive(
                "payload_bytes", "STEPLINE_MAX_PAYLOAD_BYTES", AWS_PAYLOAD_BYTES
            ),
            history_events=_positive(
                "history_events", "STEPLINE_MAX_HISTORY_EVENTS", AWS_HISTORY_EVENTS
            ),
            eval_timeout_ms=_positive("eval_timeout_ms", "STEPLINE_EVAL_TIMEOUT_MS", 5000),
            eval_max_depth=_positive("eval_max_depth", "STEPLINE_EVAL_MAX_DEPTH", 200),
        )


def _positive(key: str, env: str, default: int) -> int:
    raw = config.setting("limits", key, env, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise config.ConfigError(f"limits.{key} / {env}: {raw!r} is not an integer") from None
    if value <= 0:
        raise config.ConfigError(f"limits.{key} / {env}: {raw!r} must be positive")
    return value


__all__ = ["AWS_HISTORY_EVENTS", "AWS_PAYLOAD_BYTES", "Limits"]
