#!/usr/bin/env python3
"""Benchmark of `coda separate` on the rendered multitrack set (scripts/separation_set.sh).

    bench_separate.py [--set DIR] [--coda PATH] [--runs N] [--work DIR]
                      [--no-coda | --truth-as-coda] [-- EXTRA CODA ARGS]

Speed: `coda separate SET/song-3min.wav --out WORK/speed-<i>` N times: wall time, real-time
factor (audio seconds / wall seconds) and peak RSS (/usr/bin/time, else getrusage);
librosa HPSS on the same file once, for reference.
Quality: for every piece, plain SDR per stem, 10*log10(sum s^2 / sum (s - s_hat)^2) over
both channels (no scale or filter allowance, unlike BSSEval), for
  coda        the four stems of `coda separate SET/<piece>/mixture.wav`
  mixture/4   the trivial baseline: each stem estimated as a quarter of the mixture
  librosa     librosa.decompose.hpss (kernel 31) on each channel's STFT (n_fft 2048,
              hop 512) and librosa.istft back: percussive vs drums, harmonic vs
              vocals+bass+other (its only two outputs)
and coda's drums and vocals+bass+other against the same two references.
Prints markdown tables. Exits non-zero only on a real failure (a missing file, coda
failing or writing no stem), never on a low SDR.

--no-coda leaves coda out (the librosa and baseline columns only); --truth-as-coda puts
the ground truth in coda's column, which checks the SDR code (every figure is inf).
"""
import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

STEMS = ("vocals", "drums", "bass", "other")
N_FFT, HOP, KERNEL = 2048, 512, 31


def log(msg):
    print(f"bench_separate: {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"bench_separate: {msg}", file=sys.stderr)
    sys.exit(1)


def read(path, want_sr=None, want_frames=None, notes=None):
    """-> (frames, channels) float64; pads/trims to want_frames (noted) when given."""
    import numpy as np
    import soundfile as sf
    if not os.path.isfile(path):
        die(f"missing {path}")
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    if want_sr is not None and sr != want_sr:
        die(f"{path}: {sr} Hz, expected {want_sr} Hz (the source's rate)")
    if want_frames is not None and len(x) != want_frames:
        if notes is not None:
            notes.append(f"{path}: {len(x)} frames, truth has {want_frames} (padded/trimmed)")
        y = np.zeros((want_frames, x.shape[1]))
        n = min(want_frames, len(x))
        y[:n] = x[:n]
        x = y
    return x


def sdr(ref, est):
    import numpy as np
    if ref.shape != est.shape:
        die(f"shape mismatch {ref.shape} vs {est.shape} (channels differ from the source?)")
    num = float(np.sum(ref * ref))
    den = float(np.sum((ref - est) ** 2))
    if den == 0.0:
        return math.inf
    if num == 0.0:
        return -math.inf
    return 10 * math.log10(num / den)


def hpss(x):
    """(frames, channels) -> (harmonic, percussive), each the same shape."""
    import numpy as np
    import librosa
    h = np.zeros_like(x)
    p = np.zeros_like(x)
    for c in range(x.shape[1]):
        S = librosa.stft(x[:, c], n_fft=N_FFT, hop_length=HOP)
        H, P = librosa.decompose.hpss(S, kernel_size=KERNEL)
        h[:, c] = librosa.istft(H, hop_length=HOP, n_fft=N_FFT, length=len(x))
        p[:, c] = librosa.istft(P, hop_length=HOP, n_fft=N_FFT, length=len(x))
    return h, p


def run_coda(coda, wav, out, extra, time_bin):
    """-> (wall_s, peak_rss_mb or None); dies on failure or on a missing stem."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [coda, "separate", wav, "--out", out] + extra
    rss = None
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [time_bin, "-f", "%M", "-o", tf.name] + cmd if time_bin else cmd
        t = time.perf_counter()
        r = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t
        if time_bin:
            lines = [l for l in open(tf.name).read().split("\n") if l.strip().isdigit()]
            rss = int(lines[-1]) / 1024 if lines else None
        else:  # the largest child so far; coda is the only child this script starts
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if r.returncode != 0:
        die(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-3000:]}")
    for s in STEMS:
        if not os.path.isfile(os.path.join(out, f"{s}.wav")):
            die(f"{' '.join(cmd)} wrote no {s}.wav in {out}")
    return wall, rss


def fmt(v):
    if v is None:
        return "—"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.2f}"


def mean(vs):
    vs = [v for v in vs if v is not None]
    return sum(vs) / len(vs) if vs else None


def table(title, cols, rows):
    """rows: [(piece, [value per col])]; appends the mean row."""
    print(f"\n#### {title}\n")
    print("| piece | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, vals in rows:
        print(f"| {name} | " + " | ".join(fmt(v) for v in vals) + " |")
    means = [mean([r[1][i] for r in rows]) for i in range(len(cols))]
    print("| **mean** | " + " | ".join(f"**{fmt(m)}**" if m is not None else "—" for m in means) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default=subprocess.run([sys.executable, "scripts/separation_set.py", "--default-dir"], capture_output=True, text=True, check=True).stdout.strip())
    ap.add_argument("--coda", default="target/release/coda")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=".bench/separate")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--no-coda", action="store_true")
    g.add_argument("--truth-as-coda", action="store_true")
    ap.add_argument("extra", nargs="*", help="after --: extra arguments for coda separate")
    a = ap.parse_args()

    import numpy as np
    import librosa
    import importlib.metadata as md

    mpath = os.path.join(a.set, "manifest.json")
    if not os.path.isfile(mpath):
        die(f"missing {mpath}: run scripts/separation_set.sh {a.set}")
    manifest = json.load(open(mpath))
    for f in manifest["files"]:
        if not os.path.isfile(os.path.join(a.set, f)):
            die(f"missing {os.path.join(a.set, f)}: run scripts/separation_set.sh {a.set}")
    use_coda = not a.no_coda and not a.truth_as_coda
    if use_coda and not os.access(a.coda, os.X_OK):
        die(f"missing {a.coda}: cargo build --release --bin coda")
    time_bin = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    os.makedirs(a.work, exist_ok=True)
    rate = manifest["sample_rate"]
    notes = []
    label = "coda" if use_coda else ("truth (sanity check)" if a.truth_as_coda else None)
    extra = " ".join(a.extra)

    print(f"### Stem separation benchmark\n")
    print(f"- set: `{a.set}` (generator v{manifest['generator_version']}, "
          f"{len(manifest['pieces'])} pieces of {manifest['pieces'][0]['duration_s']:.1f} s, "
          f"{rate} Hz stereo float32; music21 {manifest['music21_version']}, {manifest['fluidsynth']})")
    print(f"- machine: {os.cpu_count()} cores, {platform.machine()}, load average "
          f"{' '.join(f'{l:.2f}' for l in os.getloadavg())}; librosa {librosa.__version__}, "
          f"numpy {np.__version__}, soundfile {md.version('soundfile')}")
    if use_coda:
        print(f"- coda: `{a.coda} separate IN --out DIR{(' ' + extra) if extra else ''}`")
        if "--format" in a.extra:
            die("the benchmark scores the WAV stems; run it without --format")

    # ---------------------------------------------------------------- speed
    song = os.path.join(a.set, "song-3min.wav")
    song_x = read(song, want_sr=rate)
    song_s = len(song_x) / rate
    speed = []
    if use_coda:
        for i in range(1, a.runs + 1):
            log(f"coda separate song-3min.wav, run {i}/{a.runs}")
            wall, rss = run_coda(a.coda, song, os.path.join(a.work, f"speed-{i}"), a.extra, time_bin)
            speed.append((i, wall, rss))
        est = read(os.path.join(a.work, f"speed-{a.runs}", "vocals.wav"), want_sr=rate)
        if est.shape[1] != song_x.shape[1]:
            die(f"coda wrote {est.shape[1]} channels for a {song_x.shape[1]}-channel source")
        if len(est) != len(song_x):
            notes.append(f"song-3min: coda stems have {len(est)} frames, the source {len(song_x)}")
        del est
    del song_x

    # ---------------------------------------------------------------- quality
    rows = {s: [] for s in STEMS + ("harmonic",)}
    timing = []
    for p in manifest["pieces"]:
        name = p["name"]
        d = os.path.join(a.set, name)
        truth = {s: read(os.path.join(d, f"{s}.wav"), want_sr=rate) for s in STEMS}
        mix = read(os.path.join(d, "mixture.wav"), want_sr=rate)
        n = len(mix)
        harm_truth = truth["vocals"] + truth["bass"] + truth["other"]
        c_wall = None
        if use_coda:
            out = os.path.join(a.work, name)
            c_wall, _ = run_coda(a.coda, os.path.join(d, "mixture.wav"), out, a.extra, time_bin)
            est = {s: read(os.path.join(out, f"{s}.wav"), rate, n, notes) for s in STEMS}
        elif a.truth_as_coda:
            est = {s: truth[s].copy() for s in STEMS}
        else:
            est = None
        log(f"{name}: " + ("coda separate, " if use_coda else "") + "librosa HPSS, SDR")
        t = time.perf_counter()
        lh, lp = hpss(mix)
        l_wall = time.perf_counter() - t
        timing.append((name, c_wall, l_wall))
        for s in STEMS:
            vals = [sdr(truth[s], est[s])] if est else []
            vals.append(sdr(truth[s], mix / 4))
            if s == "drums":
                vals.append(sdr(truth[s], lp))
            rows[s].append((name, vals))
        vals = [sdr(harm_truth, est["vocals"] + est["bass"] + est["other"])] if est else []
        vals += [sdr(harm_truth, mix * 0.75), sdr(harm_truth, lh)]
        rows["harmonic"].append((name, vals))

    print(f"\n#### Speed: `song-3min.wav`, {song_s:.1f} s\n")
    print("| tool | run | wall s | RTF (audio s / wall s) | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for i, wall, rss in speed:
        print(f"| coda separate | {i} | {wall:.2f} | {song_s / wall:.1f} | "
              f"{'—' if rss is None else f'{rss:.0f}'} |")
    l_total = sum(l for _n, _c, l in timing)
    l_audio = sum(p["frames"] for p in manifest["pieces"]) / rate
    print(f"| librosa HPSS, 2 stems (reference: the {len(timing)} pieces, {l_audio:.1f} s, in-process) "
          f"| 1 | {l_total:.2f} | {l_audio / l_total:.1f} | — |")

    base = ([label] if label else []) + ["mixture/4"]
    print("\n### SDR per stem (dB, higher is better; plain SDR over both channels)")
    for s in STEMS:
        table(f"{s}", base + (["librosa HPSS percussive"] if s == "drums" else []), rows[s])
    table("vocals+bass+other (the harmonic part)",
          ([f"{label} vocals+bass+other"] if label else []) + ["mixture·3/4", "librosa HPSS harmonic"],
          rows["harmonic"])
    allv = [v for s in STEMS for _n, vals in rows[s] for v in vals[:1]] if label else []
    if allv:
        print(f"\n{label}: mean SDR over the four stems and {len(rows['vocals'])} pieces: "
              f"**{fmt(mean(allv))} dB** (mixture/4: "
              f"{fmt(mean([vals[1] for s in STEMS for _n, vals in rows[s]]))} dB)")

    print("\n#### Time per piece (s)\n")
    print("| piece | " + ("coda separate | " if use_coda else "") + "librosa HPSS |")
    print("|---|" + ("---:|" if use_coda else "") + "---:|")
    for name, c, l in timing:
        print(f"| {name} | " + (f"{c:.2f} | " if use_coda else "") + f"{l:.2f} |")
    if notes:
        print("\nNotes:\n" + "\n".join(f"- {x}" for x in notes))
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump({"set": a.set, "coda_column": label, "coda_args": a.extra,
                   "speed": [{"run": i, "wall_s": w, "rss_mb": r, "audio_s": song_s} for i, w, r in speed],
                   "sdr_db": {s: {n: [v if math.isfinite(v) else str(v) for v in vals]
                                  for n, vals in rows[s]} for s in rows},
                   "time_s": [{"piece": n, "coda": c, "librosa_hpss": l} for n, c, l in timing],
                   "notes": notes}, f, indent=1)


if __name__ == "__main__":
    main()
