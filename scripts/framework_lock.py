"""Regenerate ``src/stepline/images/framework_image/lock.json``: the exact versions each
framework recipe installs.

Why: a recipe asks for ranges (``scikit-learn==1.2.*``, ``numpy<2``, ``sagemaker-training>=5``)
and pip would resolve them against whatever the package index holds on the day of the build,
so two builds of one URI could differ.  The lock pins every package of every recipe variant
(one variant per distinct set of requirements: ``sklearn-1.2``, ``xgboost-1.7``, ``pytorch``,
``huggingface-4.48.0``, ...) and the recipe installs with it as a pip constraints file.

The resolution prefers the versions in ``requirements/lock.txt`` (what the host venv holds):
a pin equal to the host's means the image reuses the host's package through its
``--system-site-packages`` venv and installs nothing.  torch is left out, as in
``scripts/lock.sh``: images reuse the host's torch (``torch==2.13.0``, the CPU build); so is
pip, the host's tool that runs every ``RUN pip install``.

Run after ``aws_frameworks.json`` or a recipe's requirements change, or with ``--upgrade``
to move every pin to the newest allowed version:

    python scripts/framework_lock.py
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepline.images import frameworks  # noqa: E402

OUT = ROOT / "src/stepline/images/framework_image/lock.json"
HOST_LOCK = ROOT / "requirements/lock.txt"
PYTHON = "3.11"  # what CI runs, as in scripts/lock.sh
LEFT_OUT = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")


def variants() -> dict[str, list[str]]:
    """Each recipe variant and its requirements, over every URI in the table."""
    found: dict[str, list[str]] = {}
    for ref in frameworks._table()["tags"]:
        made = frameworks.recipe(frameworks.lookup(ref))
        reqs = list(made.requirements)
        if found.setdefault(made.variant, reqs) != reqs:
            raise SystemExit(f"variant {made.variant}: {ref} asks for {reqs}, not {found}")
    return found


def resolve(reqs: list[str], upgrade: bool) -> dict[str, str]:
    """``uv pip compile`` of ``reqs`` for CPython 3.11 on x86-64 Linux, as name -> version."""
    uv = [shutil.which("uv")] if shutil.which("uv") else [sys.executable, "-m", "uv"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in.txt").write_text("\n".join(reqs) + "\n")
        out = work / "out.txt"
        if HOST_LOCK.exists() and not upgrade:
            shutil.copy(HOST_LOCK, out)  # the host's pins are preferences
        torch = next((r for r in reqs if r.startswith("torch==")), "torch==2.13.0")
        (work / "torch.txt").write_text(torch.split("+")[0] + "\n")
        args = [
            *uv,
            "pip",
            "compile",
            str(work / "in.txt"),
            "-o",
            str(out),
            "-c",
            str(work / "torch.txt"),
            "--python-version",
            PYTHON,
            "--python-platform",
            "x86_64-unknown-linux-gnu",
            "--no-header",
            "--no-annotate",
            "--quiet",
            # pip is the builder's own tool (the host's runs every RUN pip), not the image's.
            "--no-emit-package",
            "pip",
        ]
        for binary in frameworks.ONLY_BINARY:
            args += ["--only-binary", binary]
        if Path("/opt/wheels").is_dir():
            args += ["--find-links", "/opt/wheels"]
        if upgrade:
            args.append("--upgrade")
        # The torch requirement names the host's local build (+cpu); resolve the release.
        (work / "in.txt").write_text(
            "\n".join(r.split("+")[0] if r.startswith("torch==") else r for r in reqs) + "\n"
        )
        subprocess.run(args, check=True)
        pins: dict[str, str] = {}
        for line in out.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
            if m and not LEFT_OUT.match(m.group(1).lower()):
                pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
        return dict(sorted(pins.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="ignore the host's pins")
    args = parser.parse_args()
    lock = {
        "generated_by": "scripts/framework_lock.py",
        "python": PYTHON,
        "variants": {},
    }
    for variant, reqs in sorted(variants().items()):
        print(f"{variant}: {' '.join(reqs)}", file=sys.stderr)
        lock["variants"][variant] = resolve(reqs, args.upgrade)
    OUT.write_text(json.dumps(lock, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(lock['variants'])} variants)", file=sys.stderr)


if __name__ == "__main__":
    main()
