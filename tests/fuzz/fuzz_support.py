"""Settings and counts for the fuzzing campaign (``tests/fuzz``), shared by its tests.

``STEPLINE_FUZZ_EXAMPLES`` scales the campaign: unset, CI runs the fixed, derandomised
budget the tests declare (10,820 generated definitions and inputs in all, 820 of them state
machines run end to end; measured at 42 s of CPU for the whole folder, 124 s of wall time on
a 2-core machine at load 7-12), so a run that passes here passes there.
Set it to run that many examples *per test* with fresh randomness, e.g.
``STEPLINE_FUZZ_EXAMPLES=20000 pytest tests/fuzz`` for a long local campaign.  The number
of generated cases each test ran is printed at the end.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

COUNTS: Counter[str] = Counter()

_override = os.environ.get("STEPLINE_FUZZ_EXAMPLES")


def fuzz_settings(default_examples: int) -> settings:
    """Hypothesis settings for one fuzz test: ``default_examples`` in CI, else the override."""
    return settings(
        max_examples=int(_override) if _override else default_examples,
        derandomize=not _override,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
