#!/usr/bin/env bash
# Side-by-side benchmark of `coda transcribe` against upstream Basic Pitch
# (Python, `basic-pitch ... --model-serialization onnx`) on the same recording.
#
#   scripts/bench_transcribe.sh [AUDIO] [RUNS]
#
# AUDIO defaults to the vocadito fixture tiled to 200 s (written to .bench/).
# Upstream is installed into .bench/upstream-venv as the fixture README shows
# (PyPI only). Reports wall time and peak RSS per run, coda's model-only time
# from `--timings`, and the ratios the transcription issue sets goals for.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=.bench
AUDIO=${1:-}
RUNS=${2:-3}
mkdir -p "$BENCH"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }

VENV="$BENCH/upstream-venv"
if ! [ -x "$VENV/bin/basic-pitch" ]; then
  echo "== installing upstream basic-pitch 0.4.0 into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    onnxruntime==1.31.1 librosa scipy pretty_midi mir_eval resampy
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps basic-pitch==0.4.0
fi

if [ -z "$AUDIO" ]; then
  AUDIO="$BENCH/vocadito_x22.wav"
  [ -f "$AUDIO" ] || "$VENV/bin/python" - "$AUDIO" <<'EOF'
import sys, numpy as np, scipy.io.wavfile as w
sr, x = w.read("models/transcription/tests/data/basic-pitch/vocadito_10.wav")
w.write(sys.argv[1], sr, np.tile(x, 22))
EOF
fi

echo "== building coda (release)"
cargo build --quiet --release --bin coda
./target/release/coda models install --python "$VENV/bin/python" >/dev/null

DUR=$("$VENV/bin/python" -c "import soundfile as s,sys; print(f'{s.info(sys.argv[1]).duration:.1f}')" "$AUDIO")
echo "== $AUDIO: $DUR s; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

measure() { # label, command...: prints "label wall_s rss_mb", keeps stderr in $BENCH/last.err
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$BENCH/time.out" "$@" >/dev/null 2>"$BENCH/last.err"
  read -r wall rss <"$BENCH/time.out"
  echo "$label $wall $((rss / 1024))"
}

printf '%-8s %-4s %9s %9s %s\n' tool run wall_s rss_MB notes
for i in $(seq "$RUNS"); do
  rm -rf "$BENCH/out-coda" "$BENCH/out-up"; mkdir -p "$BENCH/out-up"
  read -r _ c_wall c_rss < <(measure coda ./target/release/coda transcribe "$AUDIO" --out "$BENCH/out-coda" --timings)
  timings=$(grep '^timings:' "$BENCH/last.err" || true)
  read -r _ u_wall u_rss < <(measure upstream "$VENV/bin/basic-pitch" "$BENCH/out-up" "$AUDIO" --model-serialization onnx)
  model=$(sed -n 's/.*model calls \([0-9.]*\) s.*/\1/p' <<<"$timings")
  c_notes=$("$VENV/bin/python" -c "import json; print(len(json.load(open('$BENCH/out-coda/notes.json'))))")
  u_notes=$("$VENV/bin/python" -c "
import pretty_midi, glob
m = pretty_midi.PrettyMIDI(glob.glob('$BENCH/out-up/*.mid')[0])
print(sum(len(i.notes) for i in m.instruments))" 2>/dev/null)
  printf '%-8s %-4s %9s %9s %s\n' coda "$i" "$c_wall" "$c_rss" "$c_notes"
  printf '%-8s %-4s %9s %9s %s\n' upstream "$i" "$u_wall" "$u_rss" "$u_notes"
  echo "  coda $timings"
  awk -v c="$c_wall" -v u="$u_wall" -v m="$model" -v d="$DUR" 'BEGIN {
    printf "  coda/upstream wall %.3f (goal <= 0.4); coda whole/model-only %.3f (goal <= 1.2); coda RTF %.4f, upstream RTF %.4f\n", c/u, c/m, c/d, u/d }'
done
