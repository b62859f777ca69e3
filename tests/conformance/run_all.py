"""Run every conformance case and print the failures (a developer's tool, not a test)."""

from __future__ import annotations

import sys
import time

from cases import judge, load_cases

from stepline.asl import execute


def main() -> None:
    cases = load_cases()
    failed = []
    start = time.perf_counter()
    for case in cases:
        try:
            result = execute(case["definition"], case["input"], virtual_time=True)
            reason = judge(case, result)
        except Exception as exc:  # report, keep going
            reason = f"crash {type(exc).__name__}: {exc}"
        if reason:
            failed.append((case["id"], reason))
    for cid, reason in failed:
        print(f"{cid}\n    {reason}")
    took = time.perf_counter() - start
    print(f"{len(cases) - len(failed)}/{len(cases)} passed in {took:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
