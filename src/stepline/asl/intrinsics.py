"""ASL intrinsic functions (``States.Format(...)`` and friends) for JSONPath-mode templates.

An intrinsic is parsed once into a tree of closures; evaluating it walks that tree with the
state input, context object and variables.  Runtime failures raise
``StatesError(States.IntrinsicFailure, ...)``.  A path argument that selects nothing raises
:class:`~stepline.asl.paths.PathNotFound`, so the payload template that holds the intrinsic
can report it with the field name, exactly as it reports a plain missing path
(``States.Runtime`` on AWS).

Behaviour that AWS documents loosely was pinned to recorded AWS executions:
``MathAdd`` rounds each operand half-up (Java ``Math.round``) before adding; ``StringSplit``
splits on any of the delimiter characters and drops empty tokens (Java ``StringTokenizer``);
``Format`` renders objects and arrays the way Java's ``toString`` does (``{a=1, b=[]}``);
``ArrayRange`` includes its end value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from stepline.asl.errors import INTRINSIC_FAILURE, StatesError
from stepline.asl.limits import bounded_range
from stepline.asl.paths import compile_path, path_syntax_error, to_json

__all__ = [
    "FUNCTIONS",
    "IntrinsicSyntaxError",
    "compile_intrinsic",
    "intrinsic_syntax_error",
    "is_intrinsic",
]

Evaluator = Callable[[Any, Any, Mapping], Any]

#: Function name -> (minimum, maximum) argument count; None means unbounded.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "States.Format": (1, None),
    "States.StringToJson": (1, 1),
    "States.JsonToString": (1, 1),
    "States.Array": (0, None),
    "States.ArrayPartition": (2, 2),
    "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3),
    "States.ArrayGetItem": (2, 2),
    "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1),
    "States.Base64Encode": (1, 1),
    "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2),
    "States.JsonMerge": (3, 3),
    "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2),
    "States.UUID": (0, 0),
}

MAX_NESTING = 10
MAX_INPUT_CHARS = 10000
HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}

_NAME = re.compile(r"States\.[A-Za-z0-9]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_KEYWORD = re.compile(r"(?:null|true|false)(?![\w$.])")


class IntrinsicSyntaxError(ValueError):
    """The text of an intrinsic call is malformed."""


def is_intrinsic(s: Any) -> bool:
    """Whether a ``.$`` value is an intrinsic call rather than a path."""
    return isinstance(s, str) and s.lstrip().startswith("States.")


# --------------------------------------------------------------------------- parsing


class _Lit:
    __slots__ = ("value", "raw")

    def __init__(self, value: Any, raw: str | None = None) -> None:
        self.value = value
        #: The undecoded text of a string literal: Format needs to see ``\{``.
        self.raw = raw


class _PathArg:
    __slots__ = ("expr",)

    def __init__(self, expr: str) -> None:
        self.expr = expr


class _Call:
    __slots__ = ("name", "args")

    def __init__(self, name: str, args: list[Any]) -> None:
        self.name = name
        self.args = args


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, why: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"Invalid intrinsic function '{self.s}': {why}")

    def ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i].isspace():
            i += 1
        self.i = i

    def call(self, depth: int) -> _Call:
        if depth > MAX_NESTING:
            raise self.fail(f"more than {MAX_NESTING} nested intrinsic functions")
        m = _NAME.match(self.s, self.i)
        if not m:
            raise self.fail(f"expected a function name at position {self.i}")
        name = m.group(0)
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function '{name}'")
        self.i = m.end()
        self.ws()
        if self.i >= len(self.s) or self.s[self.i] != "(":
            raise self.fail(f"expected '(' after '{name}'")
        self.i += 1
        args: list[Any] = []
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == ")":
            self.i += 1
        else:
            while True:
                self.ws()
                args.append(self.arg(depth))
                self.ws()
                if self.i >= len(self.s):
                    raise self.fail(f"missing ')' to close '{name}('")
                c = self.s[self.i]
                self.i += 1
                if c == ")":
                    break
                if c != ",":
                    raise self.fail(f"unexpected '{c}' in the arguments of '{name}'")
        lo, hi = FUNCTIONS[name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = str(lo) if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
            raise self.fail(f"'{name}' takes {want} argument(s), got {len(args)}")
        return _Call(name, args)

    def arg(self, depth: int) -> Any:
        s, i = self.s, self.i
        if i >= len(s):
            raise self.fail("missing argument")
        c = s[i]
        if c == "'":
            return self.string()
        if c == "$":
            return self.path()
        if s.startswith("States.", i):
            return self.call(depth + 1)
        m = _NUMBER.match(s, i)
        if m:
            self.i = m.end()
            text = m.group(0)
            if any(ch in text for ch in ".eE"):
                return _Lit(float(text))
            return _Lit(int(text))
        m = _KEYWORD.match(s, i)
        if m:
            self.i = m.end()
            return _Lit({"null": None, "true": True, "false": False}[m.group(0)])
        raise self.fail(f"unexpected argument at position {i}")

    def string(self) -> _Lit:
        s = self.s
        i = self.i + 1
        out: list[str] = []
        start = i
        while i < len(s):
            c = s[i]
            if c == "\\" and i + 1 < len(s):
                out.append(s[i + 1])
                i += 2
                continue
            if c == "'":
                self.i = i + 1
                return _Lit("".join(out), raw=s[start:i])
            out.append(c)
            i += 1
        raise self.fail("unterminated string literal")

    def path(self) -> _PathArg:
        s = self.s
        i = self.i
        bracket = paren = 0
        quote: str | None = None
        while i < len(s):
            c = s[i]
            if quote:
                if c == "\\":
                    i += 2
                    continue
                if c == quote:
                    quote = None
            elif c in "'\"":
                quote = c
            elif c == "[":
                bracket += 1
            elif c == "]":
                bracket -= 1
            elif c == "(":
                paren += 1
            elif c == ")":
                if paren == 0 and bracket == 0:
                    break
                paren -= 1
            elif c == "," and paren == 0 and bracket == 0:
                break
            i += 1
        expr = s[self.i : i].rstrip()
        err = path_syntax_error(expr)
        if err:
            raise self.fail(err)
        self.i = i
        return _PathArg(expr)


@lru_cache(maxsize=2048)
def _parse(expr: str) -> _Call:
    p = _Parser(expr)
    p.ws()
    call = p.call(1)
    p.ws()
    if p.i != len(expr):
        raise p.fail(f"unexpected text after the call: '{expr[p.i :]}'")
    _static_checks(p, call)
    return call


def _static_checks(p: _Parser, call: _Call) -> None:
    for a in call.args:
        if isinstance(a, _Call):
            _static_checks(p, a)
    args = call.args
    if call.name == "States.Format":
        first = args[0]
        if isinstance(first, _Lit):
            if not isinstance(first.value, str):
                raise p.fail("the first argument of States.Format must be a string")
            n = len(_format_parts(first.raw or "")) - 1
            if n != len(args) - 1:
                raise p.fail(
                    f"the format string has {n} placeholder(s) but {len(args) - 1} "
                    "argument(s) were given"
                )
    elif call.name == "States.JsonMerge":
        third = args[2]
        if isinstance(third, _Lit) and third.value is not False:
            raise p.fail(
                "States.JsonMerge only supports a shallow merge: the third argument must be false"
            )
    elif call.name == "States.Hash":
        alg = args[1]
        if isinstance(alg, _Lit) and alg.value not in HASH_ALGORITHMS:
            raise p.fail(f"unsupported hash algorithm {to_json(alg.value)}")


def intrinsic_syntax_error(expr: str) -> str | None:
    """Why ``expr`` is not a valid intrinsic call (name, arity, literal types), or None."""
    if not isinstance(expr, str):
        return f"An intrinsic function must be a string, got {to_json(expr)}"
    try:
        _parse(expr)
    except IntrinsicSyntaxError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- evaluation


def _fail(cause: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, cause)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _integer(name: str, what: str, v: Any) -> int:
    """An integer argument; integral floats (``2.0``) are accepted as AWS does."""
    if _is_number(v) and math.isfinite(v) and float(v).is_integer():
        return int(v)
    raise _fail(f"The {what} argument of {name} must be an integer, got {to_json(v)}")


def _java_round(v: float) -> int:
    return math.floor(v + 0.5)


def _canonical(v: Any) -> Any:
    """A hashable form in which values are equal exactly when they are equal as JSON."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return (type(v).__name__, v)
    if _is_number(v):
        return ("n", int(v) if float(v).is_integer() else v)
    if isinstance(v, list):
        return ("l", tuple(_canonical(x) for x in v))
    if isinstance(v, dict):
        return ("d", frozenset((k, _canonical(x)) for k, x in v.items()))
    return ("o", repr(v))


def _java_string(v: Any) -> str:
    """How AWS renders a value substituted into States.Format (Java ``toString``)."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_java_string(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_java_string(x) for x in v) + "]"
    return to_json(v)


def _format_parts(raw: str) -> list[str]:
    """Split an undecoded Format template at its ``{}`` placeholders, honouring escapes."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            cur.append(raw[i + 1])
            i += 2
            continue
        if c == "{" and raw.startswith("{}", i):
            parts.append("".join(cur))
            cur = []
            i += 2
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _string_arg(name: str, v: Any, what: str = "first") -> str:
    if not isinstance(v, str):
        raise _fail(f"The {what} argument of {name} must be a string, got {to_json(v)}")
    return v


def _array_arg(name: str, v: Any) -> list:
    if not isinstance(v, list):
        raise _fail(f"The first argument of {name} must be an array, got {to_json(v)}")
    return v


def _f_format(args: list[Any], template_raw: str | None) -> str:
    tmpl = args[0]
    parts = _format_parts(template_raw) if template_raw is not None else None
    if parts is None:
        _string_arg("States.Format", tmpl)
        parts = tmpl.split("{}")
    values = args[1:]
    if len(parts) - 1 != len(values):
        raise _fail(
            f"The number of arguments to States.Format ({len(values)}) does not match "
            f"the number of placeholders in the format string ({len(parts) - 1})"
        )
    out = [parts[0]]
    for value, part in zip(values, parts[1:], strict=True):
        out.append(_java_string(value))
        out.append(part)
    return "".join(out)


def _not_json(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e400": a JSON number, but no double holds it
        raise ValueError(f"{text} is out of range")
    return value


def _f_string_to_json(args: list[Any]) -> Any:
    """Parse JSON text.  Only JSON: Python's ``NaN``/``Infinity`` and numbers no double can
    hold are refused, so the result can always be written back as JSON."""
    s = _string_arg("States.StringToJson", args[0])
    try:
        return json.loads(s, parse_constant=_not_json, parse_float=_finite_float)
    except ValueError:
        raise _fail(f"The argument of States.StringToJson is not valid JSON: {s}") from None


def _f_json_to_string(args: list[Any]) -> str:
    return to_json(args[0])


def _f_array_partition(args: list[Any]) -> list:
    arr = _array_arg("States.ArrayPartition", args[0])
    size = _integer("States.ArrayPartition", "second", args[1])
    if size <= 0:
        raise _fail(f"The chunk size of States.ArrayPartition must be positive, got {size}")
    return [arr[i : i + size] for i in range(0, len(arr), size)]


def _f_array_contains(args: list[Any]) -> bool:
    arr = _array_arg("States.ArrayContains", args[0])
    needle = _canonical(args[1])
    return any(_canonical(x) == needle for x in arr)


def _f_array_range(args: list[Any]) -> list[int]:
    name = "States.ArrayRange"
    start = _integer(name, "first", args[0])
    end = _integer(name, "second", args[1])
    step = _integer(name, "third", args[2])
    return bounded_range(name, start, end, step, _fail)


def _f_array_get_item(args: list[Any]) -> Any:
    arr = _array_arg("States.ArrayGetItem", args[0])
    index = _integer("States.ArrayGetItem", "second", args[1])
    if not 0 <= index < len(arr):
        raise _fail(
            f"The index {index} is out of bounds for an array of length {len(arr)} "
            "in States.ArrayGetItem"
        )
    return arr[index]


def _f_array_length(args: list[Any]) -> int:
    return len(_array_arg("States.ArrayLength", args[0]))


def _f_array_unique(args: list[Any]) -> list:
    arr = _array_arg("States.ArrayUnique", args[0])
    seen: set[Any] = set()
    out = []
    for x in arr:
        key = _canonical(x)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


def _limited_string(name: str, v: Any) -> str:
    s = _string_arg(name, v)
    if len(s) > MAX_INPUT_CHARS:
        raise _fail(f"The input of {name} exceeds the limit of {MAX_INPUT_CHARS} characters")
    return s


def _f_base64_encode(args: list[Any]) -> str:
    s = _limited_string("States.Base64Encode", args[0])
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def _f_base64_decode(args: list[Any]) -> str:
    s = _limited_string("States.Base64Decode", args[0])
    try:
        return base64.b64decode(s.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise _fail(f"The argument of States.Base64Decode is not valid base64: {s}") from None


def _f_hash(args: list[Any]) -> str:
    data = args[0] if isinstance(args[0], str) else to_json(args[0])
    if len(data) > MAX_INPUT_CHARS:
        raise _fail(f"The input of States.Hash exceeds the limit of {MAX_INPUT_CHARS} characters")
    alg = args[1]
    if not isinstance(alg, str) or alg not in HASH_ALGORITHMS:
        raise _fail(
            f"The hash algorithm {to_json(alg)} is not supported; use one of "
            + ", ".join(HASH_ALGORITHMS)
        )
    return hashlib.new(HASH_ALGORITHMS[alg], data.encode("utf-8")).hexdigest()


def _f_json_merge(args: list[Any]) -> dict:
    a, b, deep = args
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise _fail("The first two arguments of States.JsonMerge must be JSON objects")
    if deep is not False:
        raise _fail(
            "States.JsonMerge supports only a shallow merge; the third argument must be false"
        )
    merged = dict(a)
    merged.update(b)
    return merged


def _number_arg(name: str, what: str, v: Any) -> float:
    if not _is_number(v):
        raise _fail(f"The {what} argument of {name} must be a number, got {to_json(v)}")
    return v


def _f_math_random(args: list[Any]) -> int:
    name = "States.MathRandom"
    start = _java_round(_number_arg(name, "first", args[0]))
    end = _java_round(_number_arg(name, "second", args[1]))
    if end <= start:
        raise _fail(f"The end of {name} ({end}) must be greater than its start ({start})")
    rng: Any = random
    if len(args) == 3:
        rng = random.Random(_java_round(_number_arg(name, "third", args[2])))
    return rng.randrange(start, end)


def _f_math_add(args: list[Any]) -> int:
    a = _number_arg("States.MathAdd", "first", args[0])
    b = _number_arg("States.MathAdd", "second", args[1])
    return _java_round(a) + _java_round(b)


def _f_string_split(args: list[Any]) -> list[str]:
    s = _string_arg("States.StringSplit", args[0])
    delims = _string_arg("States.StringSplit", args[1], "second")
    if not delims:
        return [s] if s else []
    pattern = "[" + re.escape(delims) + "]+"
    return [t for t in re.split(pattern, s) if t]


def _f_uuid(args: list[Any]) -> str:
    return str(uuid.uuid4())


_IMPL: dict[str, Callable[[list[Any]], Any]] = {
    "States.StringToJson": _f_string_to_json,
    "States.JsonToString": _f_json_to_string,
    "States.Array": list,
    "States.ArrayPartition": _f_array_partition,
    "States.ArrayContains": _f_array_contains,
    "States.ArrayRange": _f_array_range,
    "States.ArrayGetItem": _f_array_get_item,
    "States.ArrayLength": _f_array_length,
    "States.ArrayUnique": _f_array_unique,
    "States.Base64Encode": _f_base64_encode,
    "States.Base64Decode": _f_base64_decode,
    "States.Hash": _f_hash,
    "States.JsonMerge": _f_json_merge,
    "States.MathRandom": _f_math_random,
    "States.MathAdd": _f_math_add,
    "States.StringSplit": _f_string_split,
    "States.UUID": _f_uuid,
}


def _build(node: Any) -> Evaluator:
    if isinstance(node, _Lit):
        value = node.value
        return lambda i, c, v: value
    if isinstance(node, _PathArg):
        return compile_path(node.expr).get
    arg_fns = [_build(a) for a in node.args]
    if node.name == "States.Format":
        first = node.args[0]
        raw = first.raw if isinstance(first, _Lit) else None

        def run_format(i: Any, c: Any, v: Mapping) -> Any:
            args = [f(i, c, v) for f in arg_fns]
            return _guarded("States.Format", lambda: _f_format(args, raw))

        return run_format
    impl = _IMPL[node.name]
    name = node.name

    def run(i: Any, c: Any, v: Mapping) -> Any:
        args = [f(i, c, v) for f in arg_fns]
        return _guarded(name, lambda: impl(args))

    return run


def _guarded(name: str, call: Callable[[], Any]) -> Any:
    """Any argument a function did not expect fails as ``States.IntrinsicFailure``.

    The functions check the arguments AWS documents; this is the net under them (a list
    where a string was expected, say), so no Python error escapes an intrinsic.
    """
    try:
        return call()
    except StatesError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise _fail(f"Invalid arguments in {name}: {type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=2048)
def compile_intrinsic(expr: str) -> Evaluator:
    """Compile (and cache) an intrinsic call; the result is called as ``fn(input, context,
    variables)``.  Raises ``IntrinsicSyntaxError`` (a ``ValueError``) for invalid text."""
    return _build(_parse(expr))
