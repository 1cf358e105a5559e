#!/usr/bin/env bash
# Benchmark of the built-in stem separator, `coda separate`, on the rendered multitrack
# set (scripts/separation_set.sh), side by side with the mixture/4 baseline and librosa's
# HPSS.
#
#   scripts/bench_separate.sh [SET_DIR] [RUNS] [-- EXTRA CODA ARGS, e.g. --model dsp]
#
# SET_DIR defaults to the test set's cache folder (see scripts/separation_set.sh; rendered first when missing); RUNS (3) is
# how many times coda separates song-3min.wav for the speed figures. librosa goes into
# .bench/separate-venv (PyPI only). Prints markdown tables (speed: wall, real-time
# factor, peak RSS; quality: plain SDR per stem and piece, with means), so the output
# can be pasted into a note as it is; outputs go to .bench/separate/.
set -euo pipefail
cd "$(dirname "$0")/.."
SET=$(python3 scripts/separation_set.py --default-dir)
RUNS=3
[ $# -gt 0 ] && [ "$1" != "--" ] && { SET=$1; shift; }
[ $# -gt 0 ] && [ "$1" != "--" ] && { RUNS=$1; shift; }
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
BENCH=.bench
VENV="$BENCH/separate-venv"
mkdir -p "$BENCH"
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (https://rustup.rs)"; exit 1; }

./scripts/separation_set.sh "$SET"

if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import librosa' >/dev/null 2>&1 ||
   [ "$("$VENV/bin/python" -c 'import librosa; print(librosa.__version__)')" != 0.11.0 ]; then
  echo "== installing librosa 0.11.0 and numpy 2.4.6 into $VENV (PyPI)"
  # venv.sh installs Debian's python3-venv when the interpreter lacks it.
  ./scripts/venv.sh >/dev/null
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check librosa==0.11.0 numpy==2.4.6
fi

echo "== building coda (release)"
cargo build --quiet --release --bin coda

echo "== benchmark (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', uncommitted changes'))"
echo
"$VENV/bin/python" scripts/bench_separate.py --set "$SET" --runs "$RUNS" -- "$@"
