#!/usr/bin/env bash
# The README's first command the way a newcomer runs it, timed: a fresh clone of this
# repository's committed HEAD, a fresh venv and a fresh $STEPLINE_HOME, all in a temporary
# folder.  Prints the machine state, the install time, the time to first result (the command
# exits once the endpoint is InService) and the time of a rerun with nothing changed.
#
#   benchmarks/newcomer.sh                 # the README's example run
#   benchmarks/newcomer.sh --bare          # ... with bwrap, podman, docker and chromium hidden
#   benchmarks/newcomer.sh -- python examples/ner_bert/pipeline.py --train-cards 40 \
#       --test-cards 10 --max-length 32 --hp max_steps=3 --f1-threshold 0   # a smoke run
#
# --bare runs everything on a PATH that holds every program of the normal PATH except those
# (symlinks in a temporary folder), to see what a machine without them does.  --keep leaves
# the temporary folder.  The endpoint server the run starts is stopped at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bare=0 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bare) bare=1; shift ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [--bare] [--keep] [-- RUN COMMAND...]" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || set -- stepline run examples/ner_bert/pipeline.py

work=$(mktemp -d "${TMPDIR:-/tmp}/stepline-newcomer.XXXXXX")
export STEPLINE_HOME="$work/home"
cleanup() {
  if [ -x "$work/venv/bin/stepline" ]; then
    "$work/venv/bin/stepline" server --stop >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

python=$("$(command -v python3.11 || command -v python3)" -c "import sys; print(sys.executable)")
if [ "$bare" = 1 ]; then
  mkdir -p "$work/bin"
  IFS=: read -ra dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    for prog in "$dir"/*; do
      name=${prog##*/}
      case "$name" in bwrap | podman | docker | chromium | chromium-browser) continue ;; esac
      [ -x "$prog" ] && [ ! -e "$work/bin/$name" ] && ln -s "$prog" "$work/bin/$name"
    done
  done
  export PATH="$work/bin"
fi

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }
has() { command -v "$1" >/dev/null 2>&1 && echo yes || echo no; }

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); $("$python" --version)"
echo "on PATH: bwrap $(has bwrap), podman $(has podman), docker $(has docker)," \
  "chromium $(has chromium); HEAD $(git -C "$repo" rev-parse --short HEAD)"

git clone -q "$repo" "$work/stepline"
cd "$work/stepline"
"$python" -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
export PIP_DISABLE_PIP_VERSION_CHECK=1

t0=$(now)
pip install -q torch==2.13.0 && pip install -q -c requirements/lock.txt -e '.[example]'
t1=$(now)
"$@" >"$work/first.log" 2>&1 || { tail -30 "$work/first.log"; echo "first run FAILED" >&2; exit 1; }
t2=$(now)
"$@" >"$work/rerun.log" 2>&1 || { tail -30 "$work/rerun.log"; echo "rerun FAILED" >&2; exit 1; }
t3=$(now)

echo "install (torch, then the lock's example extra): $(secs "$t0" "$t1")"
echo "first run to result: $(secs "$t1" "$t2")   ($*)"
echo "rerun, nothing changed: $(secs "$t2" "$t3")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
