#!/usr/bin/env bash
# Regenerate requirements/lock.txt: the exact versions CI tests, as a pip constraints file for
# the runtime dependencies and every extra (example, test, ray, ...).  Used as
#
#     pip install torch==2.13.0 && pip install -c requirements/lock.txt -e '.[test]'
#
# torch is NOT in the lock: it stays the pinned first install (torch==2.13.0), because a locked
# torch from PyPI drags in several GB of CUDA packages.  The resolver is told torch==2.13.0 so
# everything that depends on torch (sentence-transformers, ...) is locked to versions that
# accept it; torch and its CUDA-only dependencies (nvidia-*, triton, cuda-*) are then left out.
#
# Deterministic and quick: pins already in the lock are kept (uv prefers them), so rerunning
# after adding a dependency to pyproject.toml changes only what the new dependency needs.
# `scripts/lock.sh --upgrade` re-resolves everything to the newest allowed versions.
# Resolves for CPython 3.11 on x86-64 Linux, what CI runs; on another platform the pins
# still apply to the packages they name (a constraints file never installs anything itself).
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=requirements/lock.txt
TORCH="torch==2.13.0"

uv=(uv)
if ! command -v uv >/dev/null 2>&1; then
  if ! python -m uv --version >/dev/null 2>&1; then
    python -m pip install -q "uv>=0.5,<1"
  fi
  uv=(python -m uv)
fi

mkdir -p requirements
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$TORCH" >"$work/torch.txt"

args=(
  pyproject.toml --all-extras
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
  -c "$work/torch.txt"
  --custom-compile-command "scripts/lock.sh"
  --quiet
)
# A local CPU torch wheel (this project's machines keep one in /opt/wheels) resolves faster and
# without CUDA; without it the PyPI torch is used for resolution only, and filtered out below.
wheels=${STEPLINE_WHEELS:-/opt/wheels}
[ -d "$wheels" ] && args+=(--find-links "$wheels")
[ -f "$LOCK" ] && cp "$LOCK" "$work/lock.txt"  # existing pins are preferences
"${uv[@]}" pip compile "${args[@]}" "$@" -o "$work/lock.txt"

# Drop torch and the CUDA stack (each a "name==version" line plus its "# via" comment lines).
awk '
  /^[A-Za-z0-9]/ { skip = ($0 ~ /^(torch|triton|nvidia-[^=]*|cuda-[^=]*)==/) }
  !skip { print }
' "$work/lock.txt" >"$work/filtered.txt"
if grep -Eq '^(torch|nvidia-|triton)' "$work/filtered.txt"; then
  echo "lock.sh: torch or CUDA packages left in the lock" >&2
  exit 1
fi
mv "$work/filtered.txt" "$LOCK"
echo "wrote $LOCK ($(grep -c '^[A-Za-z0-9]' "$LOCK") packages; torch excluded: install $TORCH first)"
