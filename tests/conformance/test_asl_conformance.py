"""Every case recorded on AWS Step Functions runs here (virtual time: no real waits).

The engine must pass at least 98% of them; each case it fails must be listed in
``known_failures.json`` with the reason, and a listed case that now passes must be removed.
"""

from __future__ import annotations

import pytest
from cases import judge, known_failures, load_cases

from stepline.asl import execute

CASES = load_cases()
KNOWN = known_failures()


def _run(case: dict) -> str | None:
    try:
        result = execute(case["definition"], case["input"], virtual_time=True)
    except Exception as exc:  # a crash is a failure with a reason, not an error
        return f"crash {type(exc).__name__}: {exc}"
    return judge(case, result)


@pytest.mark.parametrize("case", CASES, ids=[c["id"].split("::", 1)[-1] for c in CASES])
def test_case(case: dict) -> None:
    reason = _run(case)
    if case["id"] in KNOWN:
        assert reason is not None, "listed in known_failures.json but passes now: remove it"
        return
    assert reason is None, reason


def test_pass_rate_and_failures_listed() -> None:
    assert len(CASES) >= 500, "the conformance corpus is missing or truncated"
    failures = {c["id"]: r for c in CASES if (r := _run(c)) is not None}
    unlisted = sorted(set(failures) - set(KNOWN))
    assert not unlisted, f"failing cases not listed with a reason: {unlisted[:5]}"
    rate = 1 - len(failures) / len(CASES)
    assert rate >= 0.98, f"pass rate {rate:.1%}"
    assert all(reason.strip() for reason in KNOWN.values())
