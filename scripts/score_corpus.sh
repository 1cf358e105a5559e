#!/usr/bin/env bash
# Prepares the music21 corpus set that coda-music's corpus test reads (shared/music/tests/music/corpus.rs).
#
#   scripts/score_corpus.sh [OUT_DIR]
#
# OUT_DIR defaults to $CODA_SCORE_CORPUS, else ${XDG_CACHE_HOME:-~/.cache}/coda-tests/music21-corpus-vN
# (N = GENERATOR_VERSION in scripts/score_corpus.py): outside the clone, so fresh clones on one
# machine prepare it once.
#
# Every MusicXML and MXL file of the music21 10.5.1 corpus (PyPI), copied to OUT/files/, and
# OUT/manifest.json: each file's size, SHA-256 and music21's own counts (parts, measures,
# notes, rests, lyrics) under coda_music::stats's rules, like with like where music21's
# convention differs (see scripts/score_corpus.py). Safe to run again: nothing is done when
# the manifest is from the same generator version and every file it lists is there unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(python3 scripts/score_corpus.py --default-dir)}
PY=.venv/bin/python

if python3 scripts/score_corpus.py --check "$OUT"; then
  echo "score corpus: $OUT is up to date"
  exit 0
fi

./scripts/venv.sh >/dev/null
have() { "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1; }
if ! have music21 10.5.1; then
  echo "== installing music21 10.5.1 into .venv (PyPI)"
  "$PY" -m pip install --quiet --disable-pip-version-check music21==10.5.1
fi

echo "== preparing the music21 corpus set in $OUT (counted with music21, 2 processes)"
"$PY" scripts/score_corpus.py "$OUT"
du -sh "$OUT" | sed 's/^/   /'
