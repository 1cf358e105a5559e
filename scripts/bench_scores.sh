#!/usr/bin/env bash
# Benchmark of coda-music's score reader against music21, side by side in one run, on the
# music21 10.5.1 corpus (every MusicXML and MXL file; scripts/score_corpus.sh prepares it).
#
#   scripts/bench_scores.sh [SET_DIR] [RUNS]
#
# SET_DIR defaults to the corpus set's cache folder (prepared first when missing). Coda: the
# release example shared/music/examples/parse_corpus.rs reads and parses every file with
# read_score, RUNS times (3; the median is reported). music21: converter.parse(path,
# forceSource=True) on the same files in the same order, once, in one process (.venv).
# Both run single-threaded, each in its own process; the time counted is reading and
# parsing the files, not starting the process or importing music21 (reported apart).
# Peak RSS is each process's own ru_maxrss (os.wait4). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
SET=$(python3 scripts/score_corpus.py --default-dir)
RUNS=3
[ $# -gt 0 ] && { SET=$1; shift; }
[ $# -gt 0 ] && { RUNS=$1; shift; }
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (https://rustup.rs)"; exit 1; }

./scripts/score_corpus.sh "$SET"

echo "== building the parse_corpus example (release)"
cargo build --quiet --release -p coda-music --example parse_corpus
BIN="${CARGO_TARGET_DIR:-target}/release/examples/parse_corpus"

echo "== benchmark (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', uncommitted changes'); $(nproc) cores)"
echo
.venv/bin/python - "$SET" "$BIN" "$RUNS" <<'PY'
import json, os, statistics, subprocess, sys, tempfile, time

set_dir, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(set_dir, "manifest.json")) as f:
    manifest = json.load(f)
paths = [os.path.join(set_dir, "files", name) for name in sorted(manifest["files"])]
size = sum(os.path.getsize(p) for p in paths)

MUSIC21 = r'''
import json, sys, time, warnings
t0 = time.perf_counter()
from music21 import converter
imported = time.perf_counter() - t0
paths = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
failed = 0
start = time.perf_counter()
for p in paths:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converter.parse(p, forceSource=True)
    except Exception as e:
        failed += 1
        print(f"{p}: {type(e).__name__}: {e}", file=sys.stderr)
seconds = time.perf_counter() - start
print(json.dumps({"files": len(paths), "failed": failed, "seconds": seconds, "import_s": imported}))
'''


def run(cmd):
    """(last JSON line of stdout, wall seconds, peak RSS in MiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} exited with {p.returncode}")
    return json.loads(out.strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024


with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as lst:
    lst.write("\n".join(paths) + "\n")
try:
    coda = [run([binary, "--list", lst.name]) for _ in range(runs)]
    m21, m21_wall, m21_rss = run([sys.executable, "-c", MUSIC21, lst.name])
finally:
    os.unlink(lst.name)

coda_s = statistics.median(r[0]["seconds"] for r in coda)
coda_rss = max(r[2] for r in coda)
n = len(paths)
print(f"{n} files ({size / 1e6:.1f} MB as stored; .mxl compressed), music21 {manifest['music21_version']} corpus")
print()
print("| reader | parse s | files/s | peak RSS MiB | notes |")
print("|---|---|---|---|---|")
print(f"| coda read_score (release) | {coda_s:.3f} | {n / coda_s:.0f} | {coda_rss:.0f} | median of {runs} runs: "
      + ", ".join(f"{r[0]['seconds']:.3f}" for r in coda) + " s |")
print(f"| music21 converter.parse | {m21['seconds']:.1f} | {n / m21['seconds']:.2f} | {m21_rss:.0f} | "
      f"import {m21['import_s']:.2f} s not counted; {m21['failed']} failed |")
print()
print(f"coda is {m21['seconds'] / coda_s:.0f}x faster than music21 (goal: at least 50x); "
      f"peak RSS {coda_rss:.0f} MiB vs {m21_rss:.0f} MiB")
PY
