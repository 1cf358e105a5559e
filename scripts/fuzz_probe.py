#!/usr/bin/env python3
"""Mutation fuzz of the `coda probe` process under an address-space cap.

Mutates WAV, FLAC, MP3, OGG, M4A and AIFF seeds (libFuzzer's classic moves:
bit flips, interesting 8/32-bit values in length fields, inserts, deletes,
copies, splices, truncation) and runs `prlimit --as=CAP coda probe FILE` on
each. A run fails when the process dies of a signal (an abort, such as a
failed huge allocation), prints a panic (even a caught one), or outlives the
time limit. Failing inputs are kept in --keep. Prints one JSON summary.

    scripts/fuzz_probe.py --runs 20000 --jobs 2 --coda target/debug/coda
"""
import argparse
import concurrent.futures as cf
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = {
    "wav": ROOT / "shared/fuzz/corpus/audio_decode/tone.wav",
    "flac": ROOT / "shared/audio/tests/data/tone440.flac",
    "mp3": ROOT / "shared/audio/tests/data/tone440.mp3",
    "ogg": ROOT / "shared/audio/tests/data/tone440.ogg",
    "m4a": ROOT / "shared/audio/tests/data/tone440.m4a",
    "aiff": ROOT / "shared/audio/tests/data/tone440.aiff",
}
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def mutate(seed: bytes, others: list, rng: random.Random) -> bytes:
    out = bytearray(seed)
    for _ in range(1 + rng.randrange(8)):
        n = len(out)
        op = rng.randrange(9)
        if op == 0 and n:
            out[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            out[rng.randrange(n)] = rng.choice(INTERESTING) & 0xFF
        elif op == 2 and n >= 4:
            i = rng.randrange(n - 3)
            fmt = rng.choice([">I", "<I"])
            out[i:i + 4] = struct.pack(fmt, rng.choice(INTERESTING))
        elif op == 3 and n:
            at = rng.randrange(n)
            del out[at:at + 1 + rng.randrange(min(64, n - at))]
        elif op == 4:
            at = rng.randrange(n + 1)
            out[at:at] = bytes(rng.randrange(256) for _ in range(1 + rng.randrange(16)))
        elif op == 5 and n:
            start = rng.randrange(n)
            chunk = out[start:start + 1 + rng.randrange(min(256, n - start))]
            at = rng.randrange(n + 1)
            out[at:at] = chunk
        elif op == 6:
            other = rng.choice(others)
            start = rng.randrange(len(other))
            at = rng.randrange(n + 1)
            out[at:at] = other[start:start + 1 + rng.randrange(min(512, len(other) - start))]
        elif op == 7 and n:
            del out[rng.randrange(n):]
        elif n:
            out[rng.randrange(n)] = rng.randrange(256)
    return bytes(out)


def run_one(coda: str, cap: int, timeout: float, path: Path):
    cmd = ["prlimit", f"--as={cap}", "--", coda, "probe", str(path)]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                           env={**os.environ, "RUST_LOG": "warn", "RUST_BACKTRACE": "0"})
    except subprocess.TimeoutExpired:
        return "timeout", ""
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode < 0 or p.returncode > 128:
        return "signal", err[-400:]
    if "panic" in err.lower():
        return "panic", err[-400:]
    return ("decoded" if p.returncode == 0 else "refused"), ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--coda", default=str(ROOT / "target/debug/coda"))
    ap.add_argument("--cap", type=int, default=3 << 30, help="address-space cap in bytes (3 GiB)")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--keep", default=str(ROOT / "target/fuzz-probe-failures"))
    args = ap.parse_args()
    if not shutil.which("prlimit"):
        print("prlimit not found (util-linux)", file=sys.stderr)
        return 2
    seeds = {fmt: p.read_bytes() for fmt, p in SEEDS.items()}
    others = list(seeds.values())
    work = Path(tempfile.mkdtemp(prefix="coda-fuzz-probe-"))
    keep = Path(args.keep)
    rng = random.Random(args.seed)
    inputs = []
    for i in range(args.runs):
        fmt = list(seeds)[i % len(seeds)]
        inputs.append((i, fmt, mutate(seeds[fmt], others, rng)))
    counts = {fmt: {} for fmt in seeds}
    failures = []
    started = time.time()

    def task(item):
        i, fmt, data = item
        path = work / f"{i}.{fmt}"
        path.write_bytes(data)
        outcome, detail = run_one(args.coda, args.cap, args.timeout, path)
        if outcome in ("signal", "panic", "timeout"):
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, keep / path.name)
        path.unlink()
        return fmt, outcome, detail, path.name

    with cf.ThreadPoolExecutor(args.jobs) as pool:
        for done, (fmt, outcome, detail, name) in enumerate(pool.map(task, inputs), 1):
            counts[fmt][outcome] = counts[fmt].get(outcome, 0) + 1
            if outcome in ("signal", "panic", "timeout"):
                failures.append({"input": name, "outcome": outcome, "stderr": detail})
            if done % 2000 == 0:
                print(f"{done}/{args.runs} runs, {len(failures)} failures, "
                      f"{time.time() - started:.0f} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    summary = {
        "runs": args.runs,
        "seconds": round(time.time() - started, 1),
        "cap_bytes": args.cap,
        "binary": args.coda,
        "by_format": counts,
        "failures": failures[:20],
        "failure_count": len(failures),
    }
    print(json.dumps(summary, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
