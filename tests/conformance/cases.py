"""Load and judge the AWS-recorded ASL conformance cases in ``tests/conformance/data/``.

The corpus is a copy, kept in the repository so a fresh clone runs it; its origin (AWS-recorded
snapshot files in LocalStack's repository, Apache-2.0) is in ``data/NOTICE``.

A case passes when the status matches and, for SUCCEEDED, the output is equal as JSON
(numbers by value; redacted placeholders match anything), or, for FAILED, the error name is
equal.  Used by the test suite and by ``benchmarks``-style reports alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).with_name("data") / "cases.jsonl"
KNOWN_FAILURES_FILE = Path(__file__).with_name("known_failures.json")

_PLACEHOLDER = re.compile(r"<[A-Za-z_:\-0-9]+>")


def load_cases() -> list[dict]:
    with CASES_FILE.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _redactions(case: dict) -> list[str]:
    return [str(r) for r in case.get("meta", {}).get("redactions", [])]


def _match_string(expected: str, actual: Any, redactions: list[str]) -> bool:
    if expected in redactions:
        return True
    tokens = [re.escape(r) for r in sorted(redactions, key=len, reverse=True) if r]
    pattern = _PLACEHOLDER.pattern
    if tokens:
        pattern = pattern + "|" + "|".join(tokens)
    if not re.search(pattern, expected):
        return expected == actual
    if not isinstance(actual, str):
        return False
    parts = re.split(f"({pattern})", expected)
    regex = "".join(".*?" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.fullmatch(regex, actual, re.DOTALL) is not None


def json_matches(expected: Any, actual: Any, redactions: list[str]) -> bool:
    """Equality as JSON with placeholders in expected strings matching anything."""
    if isinstance(expected, str):
        return _match_string(expected, actual, redactions)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual if isinstance(expected, bool) else False
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(expected) != set(actual):
            return False
        return all(json_matches(v, actual[k], redactions) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return False
        return all(json_matches(e, a, redactions) for e, a in zip(expected, actual, strict=True))
    return expected == actual


def judge(case: dict, result: Any) -> str | None:
    """None when the result conforms, else a one-line reason."""
    expected = case["expected"]
    if result.status != expected["status"]:
        detail = f"{result.error}: {result.cause}" if result.status == "FAILED" else result.output
        return f"status {result.status} != {expected['status']} ({str(detail)[:300]})"
    if expected["status"] == "SUCCEEDED":
        if not json_matches(expected.get("output"), result.output, _redactions(case)):
            return (
                f"output {json.dumps(result.output)[:300]} != "
                f"{json.dumps(expected.get('output'))[:300]}"
            )
    elif expected["status"] == "FAILED":
        if expected.get("error") != result.error:
            return f"error {result.error!r} != {expected.get('error')!r} ({result.cause})"
    return None


def known_failures() -> dict[str, str]:
    if not KNOWN_FAILURES_FILE.exists():
        return {}
    return json.loads(KNOWN_FAILURES_FILE.read_text())
