#!/usr/bin/env bash
# Renders the audio-analysis test set (see tests/data/analysis/README.md): tempo and beats,
# chords and keys, with their references, for the tempo, beat, chord and key tests.
#
#   scripts/analysis_set.sh [OUT_DIR]
#
# OUT_DIR defaults to $CODA_ANALYSIS_SET, else ${XDG_CACHE_HOME:-~/.cache}/coda-tests/analysis-set-vN
# (N = GENERATOR_VERSION): outside the clone, so fresh clones on one machine render it once.
#
# 40 tempo pieces and 30 chord progressions written as MIDI files by scripts/analysis_set.py,
# and 80 Bach chorales of the music21 corpus (PyPI) whose key the key reference decides, all
# rendered with fluidsynth + the FluidR3 GM soundfont (Debian) to 22050 Hz mono 16-bit WAV:
# OUT/tempo/<name>.{wav,json}, OUT/chords/<name>.{wav,lab}, OUT/keys/<name>.wav and
# OUT/manifest.json. Needs the score corpus set and the key reference (scripts/score_corpus.sh,
# scripts/key_reference.sh). Safe to run again: nothing is done when OUT/manifest.json is from
# the same generator version (GENERATOR_VERSION in scripts/analysis_set.py) and every file it
# lists is there with its size.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(python3 scripts/analysis_set.py --default-dir)}
PY=.venv/bin/python

if python3 scripts/analysis_set.py --check "$OUT"; then
  echo "analysis set: $OUT is up to date"
  exit 0
fi

CORPUS=$(python3 scripts/score_corpus.py --default-dir)
KEYREF=$(python3 scripts/key_reference.py --default-dir)
if ! python3 scripts/key_reference.py --check "$CORPUS" "$KEYREF"; then
  echo "analysis set: the key reference $KEYREF is missing or out of date;" \
       "run scripts/score_corpus.sh and then scripts/key_reference.sh first" >&2
  exit 1
fi

need() { command -v "$1" >/dev/null 2>&1; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif need sudo; then sudo "$@"; else
    echo "analysis set: needs the Debian packages fluidsynth and fluid-soundfont-gm" \
         "(apt-get install fluidsynth fluid-soundfont-gm), and no root or sudo to install them" >&2
    exit 1
  fi
}
if ! need fluidsynth || ! [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
  echo "== installing fluidsynth and fluid-soundfont-gm (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    fluidsynth fluid-soundfont-gm >/dev/null
fi

./scripts/venv.sh >/dev/null
have() { "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1; }
if ! have music21 10.5.1 || ! "$PY" -c "import numpy" >/dev/null 2>&1; then
  echo "== installing music21 10.5.1 into .venv (PyPI; numpy comes with it)"
  "$PY" -m pip install --quiet --disable-pip-version-check music21==10.5.1
fi

echo "== rendering the analysis set into $OUT (2 processes)"
"$PY" scripts/analysis_set.py "$OUT"
du -sh "$OUT" | sed 's/^/   /'
