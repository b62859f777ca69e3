"""``stepline states`` cleans up (issue 10, rows 16-18): no NaN in or out, root problems at
``/``, and every output ends with a newline.  Real subprocesses, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def stepline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stepline", *args],
        env={**os.environ, "STEPLINE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


PASS = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": NaN, "End": true}}}',
         "/States/A/Result", "NaN"),
        ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": [1, -Infinity], '
         '"End": true}}}', "/States/A/Result/1", "-Infinity"),
    ],
)  # fmt: skip
def test_nan_and_infinity_in_a_definition_are_refused_with_their_path(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    path = write(tmp_path, "d.json", text)
    for command in ("validate", "run"):
        proc = stepline(tmp_path, "states", command, path)
        assert proc.returncode == 1
        assert f"{where}: {what} is not valid JSON" in proc.stdout + proc.stderr
        assert "NaN," not in proc.stdout


def test_nan_in_the_input_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "d.json", PASS)
    proc = stepline(tmp_path, "states", "run", path, "--input", '{"a": [0, NaN]}')
    assert proc.returncode == 1
    assert "NaN at /a/1" in proc.stderr
    assert proc.stderr.endswith("\n")
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1]", "/: a definition must be a JSON object"), ('{"StartAt": "A"', "/: invalid JSON")],
)
def test_root_problems_are_shown_at_slash(tmp_path: Path, text: str, message: str) -> None:
    proc = stepline(tmp_path, "states", "validate", write(tmp_path, "d.json", text))
    assert proc.returncode == 1
    assert proc.stdout.startswith(message)


@pytest.mark.parametrize(
    ("args", "rc"),
    [
        (("states", "validate", "GOOD"), 0),
        (("states", "validate", "BAD"), 1),
        (("states", "validate", "MISSING"), 1),
        (("states", "run", "GOOD"), 0),
        (("states", "run", "BAD"), 1),
        (("states", "run", "FAILS"), 1),
    ],
)
def test_every_output_ends_with_a_newline(tmp_path: Path, args: tuple, rc: int) -> None:
    files = {
        "GOOD": write(tmp_path, "good.json", PASS),
        "BAD": write(tmp_path, "bad.json", '{"StartAt": "A", "States": {}}'),
        "MISSING": str(tmp_path / "missing.json"),
        "FAILS": write(
            tmp_path, "fails.json", '{"StartAt": "F", "States": {"F": {"Type": "Fail"}}}'
        ),
    }
    proc = stepline(tmp_path, *[files.get(a, a) for a in args])
    assert proc.returncode == rc, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert stream == "" or stream.endswith("\n"), repr(stream[-80:])
    if args[1] == "run" and rc == 0:
        assert json.loads(proc.stdout)["status"] == "SUCCEEDED"
