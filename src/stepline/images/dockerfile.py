"""A small Dockerfile parser.

Only the syntax is handled here (comments, line continuations, ``ARG`` substitution, exec and
shell forms); which instructions a runtime can honour is decided by the builders.  Each
instruction keeps the line number it starts on so errors can point at the Dockerfile line,
the way ``docker build`` does.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from stepline.images.errors import DockerfileError

#: Instructions whose arguments undergo ``$VAR`` substitution (Dockerfile reference).
_SUBSTITUTED = {
    "ADD",
    "COPY",
    "ENV",
    "EXPOSE",
    "FROM",
    "LABEL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
    "ONBUILD",
}

_VAR = re.compile(
    r"\\\$|\$(?:\{(?P<b>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[-+])(?P<w>[^}]*))?\}|(?P<n>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass
class Instruction:
    """One Dockerfile instruction: ``keyword`` upper-cased, ``value`` the raw argument text."""

    keyword: str
    value: str
    line: int
    flags: dict[str, str] = field(default_factory=dict)

    def exec_form(self) -> list[str] | None:
        """The JSON-array (exec) form of the arguments, or None when written in shell form."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return None
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return parsed
        return None


def substitute(text: str, variables: dict[str, str]) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${VAR:+alt}`` in ``text``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "\\$":
            return "$"
        name = m.group("b") or m.group("n")
        value = variables.get(name, "")
        op = m.group("op")
        if op == "-":
            return value if value else m.group("w")
        if op == "+":
            return m.group("w") if value else ""
        return value

    return _VAR.sub(repl, text)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines and drop comments; return ``(first line number, text)`` pairs."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if not buf:
            start = number
        if raw.rstrip().endswith("\\"):
            buf.append(raw.rstrip()[:-1])
            continue
        buf.append(raw)
        out.append((start, " ".join(part.strip() for part in buf).strip()))
        buf = []
    if buf:
        out.append((start, " ".join(part.strip() for part in buf).strip()))
    return out


def parse(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions (without substitution)."""
    result: list[Instruction] = []
    for line, body in logical_lines(text):
        keyword, _, rest = body.partition(" ")
        if not re.fullmatch(r"[A-Za-z]+", keyword):
            raise DockerfileError(f"line {line}: cannot parse instruction {keyword!r}")
        instr = Instruction(keyword.upper(), rest.strip(), line)
        # Leading --flag=value options (COPY --chown, FROM --platform, ADD --chmod ...).
        while instr.value.startswith("--"):
            flag, _, remainder = instr.value.partition(" ")
            name, _, value = flag[2:].partition("=")
            instr.flags[name] = value
            instr.value = remainder.strip()
        result.append(instr)
    if not result:
        raise DockerfileError("the Dockerfile has no instructions")
    return result


def split_words(text: str) -> list[str]:
    """Split shell-form arguments the way the Dockerfile does for COPY/ADD (quotes honoured)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise DockerfileError(str(exc)) from None


def parse_pairs(instr: Instruction) -> dict[str, str]:
    """Parse ``ENV``/``LABEL`` arguments: ``k=v k2="v 2"`` or the legacy ``ENV k v`` form."""
    words = split_words(instr.value)
    if not words:
        raise DockerfileError(f"line {instr.line}: {instr.keyword} needs at least one argument")
    if "=" not in words[0]:
        if instr.keyword != "ENV" or len(words) < 2:
            raise DockerfileError(f"line {instr.line}: {instr.keyword} expects key=value")
        key, _, value = instr.value.partition(" ")
        return {key: value.strip()}
    pairs: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise DockerfileError(f"line {instr.line}: {instr.keyword} expects key=value")
        pairs[key] = value
    return pairs


def command_form(instr: Instruction) -> list[str]:
    """ENTRYPOINT/CMD arguments: exec form as is, shell form wrapped in ``/bin/sh -c``."""
    form = instr.exec_form()
    if form is not None:
        return form
    if not instr.value:
        return []
    return ["/bin/sh", "-c", instr.value]


def substituted(instr: Instruction, variables: dict[str, str]) -> Instruction:
    """A copy of ``instr`` with variables expanded where the Dockerfile reference says so."""
    if instr.keyword not in _SUBSTITUTED:
        return instr
    return Instruction(
        instr.keyword,
        substitute(instr.value, variables),
        instr.line,
        {k: substitute(v, variables) for k, v in instr.flags.items()},
    )
