"""Prints how many cases the fuzzing campaign generated (see ``fuzz_support.py``)."""

from __future__ import annotations

from fuzz_support import COUNTS


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's hook
    if not COUNTS:
        return
    terminalreporter.section("fuzz campaign")
    generated = 0
    for name, count in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{name}: {count}")
        if not name.startswith("("):
            generated += count
    terminalreporter.write_line(f"total: {generated} generated definitions and inputs")
