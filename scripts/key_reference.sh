#!/usr/bin/env bash
# Prepares the key reference that coda-theory's key test reads (shared/theory/tests/theory/keys.rs):
# music21 10.5.1 (PyPI)'s analyze('key'), key signature, final bass note and pitch-class
# histogram for every file of the score corpus set (scripts/score_corpus.sh, run first), in
# ${XDG_CACHE_HOME:-~/.cache}/coda-tests/key-reference-v1 (or $CODA_KEY_REFERENCE). Safe to
# run again: nothing is done when the reference is of this generator version and covers the
# corpus set as it is (about 5 minutes on 2 cores the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=$(python3 scripts/score_corpus.py --default-dir)
OUT=${1:-$(python3 scripts/key_reference.py --default-dir)}
PY=.venv/bin/python

if python3 scripts/key_reference.py --check "$CORPUS" "$OUT"; then
  echo "key reference: $OUT is up to date"
  exit 0
fi

./scripts/venv.sh >/dev/null
have() { "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1; }
if ! have music21 10.5.1; then
  echo "== installing music21 10.5.1 into .venv (PyPI)"
  "$PY" -m pip install --quiet --disable-pip-version-check music21==10.5.1
fi

echo "== preparing the key reference in $OUT (music21's keys of the score corpus, 2 processes)"
"$PY" scripts/key_reference.py "$CORPUS" "$OUT"
