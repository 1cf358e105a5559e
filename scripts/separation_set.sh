#!/usr/bin/env bash
# Renders the multitrack test set for stem separation (see tests/data/separation/README.md).
#
#   scripts/separation_set.sh [OUT_DIR]
#
# OUT_DIR defaults to $CODA_SEPARATION_SET, else ${XDG_CACHE_HOME:-~/.cache}/coda-tests/separation-set-vN
# (N = GENERATOR_VERSION): outside the clone, so fresh clones on one machine render it once.
#
# Five 4-part Bach chorales from the music21 corpus (PyPI), each voice rendered on its
# own with fluidsynth + the FluidR3 GM soundfont (Debian) into a ground-truth stem:
# OUT/<piece>/{vocals,drums,bass,other,mixture}.wav, OUT/song-3min.wav (>= 180 s, for
# the speed benchmark) and OUT/manifest.json. Safe to run again: nothing is done when
# OUT/manifest.json is from the same generator version (GENERATOR_VERSION in
# scripts/separation_set.py) and every file it lists is there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(python3 scripts/separation_set.py --default-dir)}
PY=.venv/bin/python

if python3 scripts/separation_set.py --check "$OUT"; then
  echo "separation set: $OUT is up to date"
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif need sudo; then sudo "$@"; else
    echo "separation set: needs the Debian packages fluidsynth and fluid-soundfont-gm" \
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
if ! have music21 10.5.1 || ! have mido 1.3.3; then
  echo "== installing music21 10.5.1 and mido 1.3.3 into .venv (PyPI)"
  "$PY" -m pip install --quiet --disable-pip-version-check music21==10.5.1 mido==1.3.3
fi

echo "== rendering the separation set into $OUT"
"$PY" scripts/separation_set.py "$OUT"
du -sh "$OUT" | sed 's/^/   /'
