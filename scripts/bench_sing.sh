#!/usr/bin/env bash
# The built-in voice's speed on a whole chorale and on a 3-minute score (release build):
# seconds of audio per second of wall time; then the DiffSinger path on the stand-in voicebank,
# with the time spent outside the models. Needs the score corpus set and the models
# (./scripts/test.sh prepares both). Usage: scripts/bench_sing.sh [CHORALE] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${CODA_SCORE_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/coda-tests/music21-corpus-v1}"
CHORALE="${1:-$CORPUS/files/bach/bwv10.7.mxl}"
RUNS="${2:-3}"
MODELS="${CODA_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/coda/models}"
test -f "$CHORALE" || { echo "missing $CHORALE: run scripts/score_corpus.sh"; exit 1; }
test -f "$MODELS/cmudict.dict" || { echo "missing $MODELS/cmudict.dict: run coda models install"; exit 1; }
cargo run -q --release -p coda-singing --example bench_sing -- "$CHORALE" "$MODELS/cmudict.dict" "$RUNS" \
  "$MODELS/libonnxruntime.so.1.31.1"
