#!/usr/bin/env bash
# Times `coda analyze` (release build) on a 3-minute song, stage by stage, and librosa's
# counterparts on the same file in the same run: onset strength, beat_track (tempo and beats)
# and chroma_cqt (the chroma a chord or key estimate would read), with librosa 0.11 from .venv.
#
#   scripts/bench_analyze.sh [AUDIO] [RUNS]
#
# AUDIO defaults to the separation set's song-3min.wav (scripts/separation_set.sh makes it).
# Both sides are pinned to two cores (taskset) when taskset exists.
set -euo pipefail
cd "$(dirname "$0")/.."
SET=$(python3 scripts/separation_set.py --default-dir)
AUDIO=${1:-$SET/song-3min.wav}
RUNS=${2:-5}
[ -f "$AUDIO" ] || { echo "$AUDIO is missing: run scripts/separation_set.sh" >&2; exit 1; }
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c 0,1)

cargo build -q --release --bin coda
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "== coda analyze $(basename "$AUDIO") (release, $RUNS runs, 2 cores)"
for i in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  "${PIN[@]}" target/release/coda analyze "$AUDIO" --out "$OUT/run$i" --timings >/dev/null 2>"$OUT/t$i"
  end=$(date +%s.%N)
  printf 'run %d: %.3f s wall; stages: %s\n' "$i" "$(echo "$end - $start" | bc)" \
    "$(grep -v '^wrote' "$OUT/t$i" | awk '{printf "%s %s, ", $1, $2}')"
done

echo "== librosa $(.venv/bin/python -c 'import librosa; print(librosa.__version__)') on the same file (same cores)"
"${PIN[@]}" .venv/bin/python - "$AUDIO" "$RUNS" <<'PY'
import sys, time
import librosa
path, runs = sys.argv[1], int(sys.argv[2])
# One untimed pass loads numba's compiled code.
y, sr = librosa.load(path, sr=22050, mono=True, duration=10)
librosa.beat.beat_track(y=y, sr=sr); librosa.feature.chroma_cqt(y=y, sr=sr)
for i in range(runs):
    t0 = time.perf_counter(); y, sr = librosa.load(path, sr=22050, mono=True)
    t1 = time.perf_counter(); env = librosa.onset.onset_strength(y=y, sr=sr)
    t2 = time.perf_counter(); tempo, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr)
    t3 = time.perf_counter(); chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
    t4 = time.perf_counter()
    print(f"run {i + 1}: {t4 - t0:.3f} s; load+resample {t1 - t0:.3f}, onsets {t2 - t1:.3f}, "
          f"beats {t3 - t2:.3f} ({float(tempo[0] if hasattr(tempo, '__len__') else tempo):.1f} bpm), chroma_cqt {t4 - t3:.3f}")
PY
