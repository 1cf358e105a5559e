#!/usr/bin/env bash
# Benchmarks of the local server (release build), printed as a small report:
#  1. GET /v1/jobs/{id}: requests/s and latency percentiles with wrk on loopback;
#  2. upload PUT -> probe job succeeded, for a 3-minute 44.1 kHz stereo WAV.
# Installs wrk with apt if it is missing. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
SUDO=${SUDO-$(need sudo && echo sudo || true)}
need wrk || { echo "installing wrk (apt)"; $SUDO apt-get install -y wrk >/dev/null; }
need curl || { echo "installing curl (apt)"; $SUDO apt-get install -y curl >/dev/null; }

cargo build --release --quiet --bin coda
CODA=./target/release/coda
WORK=$(mktemp -d)
# The load benchmark measures the server, not its quotas.
CODA_REQUESTS_PER_MINUTE=0 CODA_JOBS_PER_HOUR=0 CODA_JOBS_PER_HOUR_BY_KIND= "$CODA" serve --addr 127.0.0.1:0 --data "$WORK/data" >"$WORK/serve.out" 2>"$WORK/serve.log" &
PID=$!
trap 'kill -INT $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q "^token for user" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^coda listening on //p' "$WORK/serve.out")
TOKEN=$(sed -n "s/^token for user 'local': //p" "$WORK/serve.out")
AUTH="Authorization: Bearer $TOKEN"
json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

"$CODA" tone "$WORK/song.wav" --seconds 180 --rate 44100 --channels 2
SIZE=$(wc -c <"$WORK/song.wav")
echo "== upload PUT -> probe succeeded, 180 s 44.1 kHz stereo WAV ($SIZE bytes), 3 runs"
for run in 1 2 3; do
  UP=$(curl -sf -X POST -H "$AUTH" "$URL/v1/uploads" -d "{\"filename\":\"song.wav\",\"size\":$SIZE,\"jobs\":[\"probe\"]}")
  UID_=$(echo "$UP" | json upload_id); PUT=$(echo "$UP" | json put_url)
  T0=$(date +%s.%N)
  curl -sf -X PUT --data-binary @"$WORK/song.wav" "$PUT" >/dev/null
  T_PUT=$(date +%s.%N)
  JOB=""
  while [ -z "$JOB" ]; do JOB=$(curl -sf -H "$AUTH" "$URL/v1/uploads/$UID_" | sed -n 's/.*"job_ids":\["\([^"]*\)".*/\1/p'); done
  while :; do
    J=$(curl -sf -H "$AUTH" "$URL/v1/jobs/$JOB"); S=$(echo "$J" | json status)
    case "$S" in succeeded) break ;; failed|canceled) echo "job $S: $J"; exit 1 ;; esac
    sleep 0.005
  done
  T1=$(date +%s.%N)
  DONE=$(date -d "$(echo "$J" | json updated_at)" +%s.%N)
  awk -v r="$run" -v a="$T0" -v p="$T_PUT" -v b="$T1" -v d="$DONE" 'BEGIN {
    printf "run %d: PUT %.0f ms, PUT start -> succeeded seen %.0f ms (server timestamp %.0f ms)\n", r, (p-a)*1000, (b-a)*1000, (d-a)*1000 }'
done

echo "== GET /v1/jobs/{id}: wrk, 2 threads, 32 connections, 10 s"
wrk -t2 -c32 -d10s --latency -H "$AUTH" "$URL/v1/jobs/$JOB" | sed -n '/Latency Distribution/,/Transfer/p'
