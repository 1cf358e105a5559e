#!/usr/bin/env bash
# Chat round-trip latency for a cpu edit with the built-in planner (release build): the local
# server in process on loopback, a corpus chorale in a session, N (200) chat messages
# alternating "make it softer" / "make it louder" (each a modify_score edit plus the reply),
# beside Chat::send in process, the score-edits route and a direct Scores::edit (what the
# chat adds over the edit itself). Prints p50, p99, mean and max in ms; the goal is a chat
# round trip under 5 ms (no synthesis runs). It runs twice: with the data folder on disk
# (TMPDIR, default /tmp) and on tmpfs (/dev/shm), where no sync waits for the disk. Needs the score corpus set
# (scripts/score_corpus.sh). Usage: scripts/bench_chat.sh [CHORALE] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${CODA_SCORE_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/coda-tests/music21-corpus-v1}"
CHORALE="${1:-$CORPUS/files/bach/bwv10.7.mxl}"
N="${2:-200}"
test -f "$CHORALE" || { echo "missing $CHORALE: run scripts/score_corpus.sh"; exit 1; }
echo "== bench_chat (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', uncommitted changes'); $(nproc) cores)"
cargo build -q --release --example bench_chat
echo "-- data on disk ($(df --output=source,fstype "${TMPDIR:-/tmp}" | tail -1 | tr -s ' '))"
target/release/examples/bench_chat "$CHORALE" "$N"
# The same on tmpfs, where the stores' syncs cost nothing: what the code itself costs.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  echo
  echo "-- data on tmpfs (/dev/shm)"
  TMPDIR=/dev/shm target/release/examples/bench_chat "$CHORALE" "$N"
fi
