"""The sandbox attack tests' private home: ``support.fixtures``'s, without sandbox settings.

Kept beside the tests (not in a conftest) so the other security tests in this folder are not
given a ``home`` they do not use.  ``store`` and ``make_image`` come from ``support.fixtures``
and use this ``home`` in the modules that bind it.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared private home, with no sandbox choice leaking in from outside: these tests
    are about the sandbox that ``auto`` picks."""
    for name in ("STEPLINE_SANDBOX", "STEPLINE_BWRAP"):
        monkeypatch.delenv(name, raising=False)
    return home
