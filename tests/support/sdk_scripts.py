"""Running a user's SDK script (boto3, the SageMaker SDK, the Data Science SDK) as a user
would: a separate Python process that only knows the environment it is given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_sdk_script(
    tmp_path: Path, text: str, *args: str, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Write ``text`` to ``tmp_path/user.py``, run it with ``args`` and return the JSON of its
    last ``RESULT {...}`` line.  The SDK's v2 banner is switched off; a script that fails or
    prints no result fails the test with the ends of its output."""
    script = tmp_path / "user.py"
    script.write_text(text)
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env={**env, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(lines[-1][len("RESULT ") :])
