"""JSONata-mode field values (``"{% expr %}"``), evaluated with ``jsonata-python``.

Why this module wraps the library rather than calling it directly:

* **Thread safety.** ``jsonata-python`` keeps evaluation state on the expression object and on
  a per-thread copy of the *first* expression a thread evaluated; its ``$now()``/``$millis()``
  read the timestamp from that copy, so they go stale.  We compile one expression object per
  thread (Map iterations run on threads), always evaluate with a fresh binding frame, and
  register our own ``$now``/``$millis`` that read a per-evaluation timestamp.
* **null vs undefined.** The library reports both JSON null and "no result" as ``None`` unless
  null conversion is off; AWS fails a field whose expression returns nothing, so we keep the
  library's null marker and convert results to plain JSON ourselves.
* **AWS's extra functions**: ``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid`` and
  ``$parse`` are registered on every expression.
* **A budget.** Expressions come from definitions and act on inputs that may be hostile: a
  recursive function never ends, ``$range(0, 1e9)`` or doubling a string fills memory.  Every
  evaluation runs under an :class:`EvalBudget` (time, nesting depth, sizes checked *before*
  allocating, and a stop flag the program raises for StopExecution); past it the state fails
  with ``States.QueryEvaluationError``.

A string is a JSONata expression only when it starts with ``{%`` and ends with ``%}`` exactly;
surrounding whitespace makes it a plain literal (recorded AWS behaviour).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jsonata as _jsonata_lib
from jsonata.functions import Functions as _Functions
from jsonata.utils import Utils as _Utils

from stepline.asl.errors import DATA_LIMIT_EXCEEDED, QUERY_EVALUATION_ERROR, StatesError
from stepline.asl.limits import AWS_PAYLOAD_BYTES, bounded_range
from stepline.asl.paths import to_json

__all__ = [
    "EvalBudget",
    "EvaluationStopped",
    "JsonataTemplate",
    "budget",
    "compile_jsonata",
    "compile_jsonata_template",
    "evaluate_jsonata",
    "is_jsonata",
    "jsonata_syntax_error",
]

_NULL = _Utils.NULL_VALUE
_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def is_jsonata(value: Any) -> bool:
    """Whether a field value is a JSONata expression (``{% ... %}`` with nothing around it)."""
    return (
        isinstance(value, str)
        and len(value) >= 4
        and value.startswith("{%")
        and value.endswith("%}")
    )


def _inner(value: str) -> str:
    return value[2:-2].strip()


def jsonata_syntax_error(expr: str) -> str | None:
    """Why ``expr`` (the text between ``{%`` and ``%}``) does not parse, or None."""
    if not isinstance(expr, str) or not expr.strip():
        return "The JSONata expression is empty"
    try:
        _StepJsonata(expr)
    except Exception as exc:  # the library raises JException and assorted parse errors
        return f"The JSONata expression '{expr.strip()}' is not valid: {exc}"
    return None


# ----------------------------------------------------------------- the budget


@dataclass(frozen=True, slots=True)
class EvalBudget:
    """What one expression may use.  ``should_stop`` is polled while it runs."""

    timeout_ms: int = 5000
    max_depth: int = 200
    payload_bytes: int = AWS_PAYLOAD_BYTES
    should_stop: Callable[[], bool] | None = None

    @property
    def max_string_chars(self) -> int:
        # A string longer than the payload quota can never be part of a state's output;
        # four times that leaves room for intermediate values.
        return 4 * self.payload_bytes


class EvaluationStopped(BaseException):  # noqa: N818 - a control-flow signal, like GeneratorExit
    """The execution is being stopped while an expression runs.

    A ``BaseException`` so that no ``except Exception`` in the JSONata library (or in a state)
    can swallow it: it unwinds to the program loop, which then records the abort.
    """


class _OverBudget(BaseException):  # noqa: N818 - internal signal, turned into a StatesError
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_local = threading.local()
_DEFAULT_BUDGET = EvalBudget()


def _current_budget() -> EvalBudget:
    return getattr(_local, "budget", None) or _DEFAULT_BUDGET


@contextmanager
def budget(value: EvalBudget) -> Iterator[EvalBudget]:
    """Evaluate expressions on this thread under ``value`` until the block ends."""
    previous = getattr(_local, "budget", None)
    _local.budget = value
    try:
        yield value
    finally:
        _local.budget = previous


class _Guard:
    """Per-evaluation counters, called by the library on entry to and exit from every node."""

    __slots__ = ("depth", "max_depth", "deadline", "ticks", "should_stop", "timeout_ms")

    def __init__(self, b: EvalBudget) -> None:
        self.depth = 0
        self.max_depth = b.max_depth
        self.timeout_ms = b.timeout_ms
        self.deadline = time.monotonic() + b.timeout_ms / 1000.0
        self.ticks = 0
        self.should_stop = b.should_stop

    def entry(self, exp: Any, input: Any, env: Any) -> None:
        if env.is_parallel_call:
            return
        self.depth += 1
        if self.depth > self.max_depth:
            raise _OverBudget(f"it nests deeper than {self.max_depth} levels")
        self.ticks += 1
        if not self.ticks & 63:
            self.check()

    def exit(self, exp: Any, input: Any, env: Any, result: Any) -> None:
        if not env.is_parallel_call:
            self.depth -= 1

    def check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise EvaluationStopped
        if time.monotonic() > self.deadline:
            raise _OverBudget(f"it ran longer than {self.timeout_ms} ms")


def _bounded_concat(lhs: Any, rhs: Any) -> str:
    """The ``&`` operator, refusing a result longer than the budget allows before building it."""
    left = "" if lhs is None else _Functions.string(lhs, None)
    right = "" if rhs is None else _Functions.string(rhs, None)
    limit = _current_budget().max_string_chars
    if len(left) + len(right) > limit:
        raise _OverBudget(f"a string would be longer than {limit} characters")
    return left + right


# ----------------------------------------------------------------- AWS-added functions


def _timestamp_ms() -> int:
    ts = getattr(_local, "timestamp", None)
    return ts if ts is not None else int(time.time() * 1000)


def _fn_now(picture: Any = None, timezone: Any = None) -> Any:
    return _Functions.datetime_from_millis(_timestamp_ms(), picture, timezone)


def _fn_millis() -> int:
    return _timestamp_ms()


def _query_error(message: str) -> StatesError:
    return StatesError(QUERY_EVALUATION_ERROR, message)


def _int_arg(fn: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or not float(v).is_integer():
        raise _query_error(f"The function {fn} expects integer arguments, got {_to_text(v)}")
    return int(v)


def _fn_partition(array: Any, size: Any) -> list:
    if not isinstance(array, list):
        raise _query_error(
            f"The first argument of $partition must be an array, got {_to_text(array)}"
        )
    n = _int_arg("$partition", size)
    if n <= 0:
        raise _query_error("The chunk size of $partition must be greater than 0")
    items = list(array)
    return [items[i : i + n] for i in range(0, len(items), n)]


def _fn_range(start: Any, end: Any, step: Any) -> list[int]:
    s, e, st = _int_arg("$range", start), _int_arg("$range", end), _int_arg("$range", step)
    return bounded_range("$range", s, e, st, _query_error)


def _fn_pad(string: Any, width: Any, char: Any = None) -> Any:
    if isinstance(width, int | float) and not isinstance(width, bool) and math.isfinite(width):
        limit = _current_budget().max_string_chars
        if abs(int(width)) > limit:
            raise _OverBudget(f"$pad would make a string longer than {limit} characters")
    return _Functions.pad(string, width, char)


def _fn_hash(data: Any, algorithm: Any) -> str:
    text = data if isinstance(data, str) else to_json(_to_plain(data))
    if algorithm not in _HASH_ALGORITHMS:
        raise _query_error(
            f"The hash algorithm {_to_text(algorithm)} is not supported; use one of "
            + ", ".join(_HASH_ALGORITHMS)
        )
    return hashlib.new(_HASH_ALGORITHMS[algorithm], text.encode("utf-8")).hexdigest()


def _fn_random(seed: Any = None) -> float:
    if seed is None or seed is _NULL:
        return random.random()
    return random.Random(_int_arg("$random", seed)).random()


def _fn_uuid() -> str:
    return str(uuid.uuid4())


def _not_json(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN, Infinity: Python's json reads them


def _fn_parse(text: Any) -> Any:
    if not isinstance(text, str):
        raise _query_error(f"The argument of $parse must be a string, got {_to_text(text)}")
    try:
        value = json.loads(text, parse_constant=_not_json)
    except ValueError:
        raise _query_error(f"The argument of $parse is not valid JSON: {text}") from None
    return _NULL if value is None else value


_AWS_FUNCTIONS = {
    "now": _fn_now,
    "millis": _fn_millis,
    "partition": _fn_partition,
    "range": _fn_range,
    "hash": _fn_hash,
    "random": _fn_random,
    "uuid": _fn_uuid,
    "parse": _fn_parse,
    "pad": _fn_pad,
}


# ----------------------------------------------------------------- compile / evaluate


class _StepJsonata(_jsonata_lib.Jsonata):
    """The library's evaluator with stepline's settings as *class* behaviour.

    The library evaluates every expression through the first instance made on a thread
    (``Jsonata.get_per_thread_instance``), not the one it was called on; so a setting made
    on one instance (as the bounded ``&`` once was) silently did not apply whenever another
    instance -- a syntax check, say -- came first on that thread.  Every instance stepline
    makes is of this class, so whichever comes first carries both."""

    def __init__(self, expr: str) -> None:
        super().__init__(expr)
        self.set_output_convert_nulls(False)

    def evaluate_string_concat(self, lhs: Any, rhs: Any) -> str:
        return _bounded_concat(lhs, rhs)


def _compiled(expr: str) -> Any:
    """The calling thread's compiled copy of ``expr``."""
    cache = getattr(_local, "exprs", None)
    if cache is None:
        cache = _local.exprs = {}
    e = cache.get(expr)
    if e is None:
        e = _StepJsonata(expr)
        for name, fn in _AWS_FUNCTIONS.items():
            e.register_lambda(name, fn)
        cache[expr] = e
    return e


class _Unsupported(Exception):
    pass


class _TooLarge(Exception):
    pass


def _to_plain(v: Any, max_items: int | None = None) -> Any:
    """Convert a jsonata-python result into plain JSON (dict/list/str/number/bool/None).

    ``max_items`` refuses, before copying, an array too long to fit the payload quota
    (a JSON array of n items takes at least 2n bytes); ranges are lazy until copied here.
    """
    if max_items is not None and isinstance(v, list) and len(v) > max_items:
        raise _TooLarge
    if v is None or v is _NULL:
        return None
    t = type(v)
    if t is str or t is bool or t is int:
        return v
    if t is float:
        if not math.isfinite(v):
            raise _Unsupported
        if v.is_integer() and abs(v) < 2**53:
            return int(v)
        return v
    if isinstance(v, dict):
        return {str(k): _to_plain(x, max_items) for k, x in v.items()}
    if isinstance(v, list):
        return [_to_plain(x, max_items) for x in v]
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int | float):
        return _to_plain(int(v) if isinstance(v, int) else float(v))
    raise _Unsupported


def _to_text(v: Any) -> str:
    try:
        return to_json(_to_plain(v))
    except _Unsupported:
        return str(v)


def _bind_value(v: Any) -> Any:
    return _NULL if v is None else v


def evaluate_jsonata(expr: str, states: Mapping, variables: Mapping, field: str) -> Any:
    """Evaluate the text of one expression; errors name ``field`` as AWS's causes do.

    Runs under the thread's :func:`budget`; raises :class:`EvaluationStopped` when the
    budget's stop flag is raised meanwhile.
    """
    b = _current_budget()
    guard = _Guard(b)
    bindings: dict[str, Any] = {name: _bind_value(v) for name, v in variables.items()}
    bindings["states"] = states
    bindings["__evaluate_entry"] = guard.entry
    bindings["__evaluate_exit"] = guard.exit
    e = _compiled(expr)
    previous = getattr(_local, "timestamp", None)
    _local.timestamp = int(time.time() * 1000)
    try:
        result = e.evaluate(None, bindings)
    except StatesError:
        raise
    except _OverBudget as over:
        raise _query_error(
            f"The JSONata expression '{expr}' specified for the field '{field}' exceeded its "
            f"evaluation budget: {over.reason}"
        ) from None
    except RecursionError:
        raise _query_error(
            f"The JSONata expression '{expr}' specified for the field '{field}' exceeded its "
            "evaluation budget: it nests too deeply"
        ) from None
    except MemoryError:
        raise _query_error(
            f"The JSONata expression '{expr}' specified for the field '{field}' exceeded its "
            "evaluation budget: out of memory"
        ) from None
    except Exception as exc:
        raise _query_error(
            f"The JSONata expression '{expr}' specified for the field '{field}' threw an error "
            f"during evaluation: {exc}"
        ) from None
    finally:
        _local.timestamp = previous
    if result is None:
        raise _query_error(
            f"The JSONata expression '{expr}' specified for the field '{field}' returned "
            "nothing (undefined)."
        )
    try:
        return _to_plain(result, b.payload_bytes // 2)
    except _Unsupported:
        raise _query_error(
            f"The JSONata expression '{expr}' specified for the field '{field}' returned an "
            "unsupported result type."
        ) from None
    except _TooLarge:
        raise StatesError(
            DATA_LIMIT_EXCEEDED,
            f"The JSONata expression '{expr}' specified for the field '{field}' returned a "
            f"value larger than the payload quota of {b.payload_bytes} bytes.",
        ) from None


def compile_jsonata(value: str) -> str:
    """Validate a ``{% ... %}`` string and return its expression text."""
    if not is_jsonata(value):
        raise ValueError(f"Not a JSONata expression: {value!r}")
    expr = _inner(value)
    err = jsonata_syntax_error(expr)
    if err:
        raise ValueError(err)
    return expr


class JsonataTemplate:
    """A JSONata-mode field value: literals with ``{% %}`` strings anywhere inside.

    ``render`` returns fresh containers for every object/array holding an expression and
    shares the literal parts, which is safe because JSON values are never mutated in place.
    """

    __slots__ = ("field", "_node", "_static")

    def __init__(self, value: Any, field: str) -> None:
        self.field = field
        self._node = self._compile(value, field)
        self._static = not self._has_expr(self._node)

    @staticmethod
    def _compile(value: Any, path: str) -> Any:
        if isinstance(value, str):
            if is_jsonata(value):
                return _Expr(compile_jsonata(value), path)
            return value
        if isinstance(value, dict):
            return {k: JsonataTemplate._compile(v, f"{path}/{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [JsonataTemplate._compile(v, f"{path}/{i}") for i, v in enumerate(value)]
        return value

    @staticmethod
    def _has_expr(node: Any) -> bool:
        if isinstance(node, _Expr):
            return True
        if isinstance(node, dict):
            return any(JsonataTemplate._has_expr(v) for v in node.values())
        if isinstance(node, list):
            return any(JsonataTemplate._has_expr(v) for v in node)
        return False

    def render(self, states: Mapping, variables: Mapping) -> Any:
        if self._static:
            return self._node
        return self._render(self._node, states, variables)

    def _render(self, node: Any, states: Mapping, variables: Mapping) -> Any:
        if isinstance(node, _Expr):
            return evaluate_jsonata(node.expr, states, variables, node.field)
        if isinstance(node, dict):
            return {k: self._render(v, states, variables) for k, v in node.items()}
        if isinstance(node, list):
            return [self._render(v, states, variables) for v in node]
        return node

    def __repr__(self) -> str:
        return f"JsonataTemplate(field={self.field!r})"


class _Expr:
    __slots__ = ("expr", "field")

    def __init__(self, expr: str, field: str) -> None:
        self.expr = expr
        self.field = field


def compile_jsonata_template(value: Any, field: str) -> JsonataTemplate:
    """Compile a JSONata-mode field (Output, Arguments, Assign, Items, ...) once."""
    return JsonataTemplate(value, field)
