#!/usr/bin/env python3
"""Renders the multitrack test set for stem separation (ground-truth stems + mixtures).

    separation_set.py OUT_DIR           render the set (needs music21, mido, numpy, fluidsynth)
    separation_set.py --check OUT_DIR   exit 0 when OUT_DIR holds a complete set of this
                                        generator version (standard library only)

Five 4-part Bach chorales from the music21 corpus (PyPI music21==10.5.1) are cut to
their first 32 quarter notes, played at 100 bpm (19.2 s, plus a 1.5 s release tail), and
each voice is rendered on its own with fluidsynth and the FluidR3 GM soundfont
(Debian fluid-soundfont-gm). Voice -> stem:

    soprano -> vocals  program 53 (Voice Oohs), centre
    alto    -> other   program 48 (String Ensemble 1, a sustained pad-like part), pan
                       CC10 = 30 (left of centre). Not Pad 2 warm (89): FluidR3's
                       sample carries a DC offset, ~60 % of that stem's energy < 20 Hz
    bass    -> bass    program 33 (Electric Bass finger), an octave down when the
                       part's mean pitch is above A2, centre
    tenor   -> drums   MIDI channel 10 (GM percussion, standard kit): every tenor note
                       onset is a closed hi-hat (42), plus a kick (36) on beats 1 and 3
                       or a snare (38) on beats 2 and 4, centre, volume CC7 = 127

Program numbers are the 0-based values of the MIDI program-change message (the GM
list's 1-based names: 54 Voice Oohs, 49 String Ensemble 1, 34 Fingered Bass). fluidsynth's reverb
and chorus stay on (they are linear per voice). Each stem is converted to float32; all
four stems of a piece are scaled by one gain so the mixture peaks at -1 dBFS, and
mixture.wav is the float sum of the four stems (exact up to float32 rounding).

Output (44.1 kHz stereo float32 WAV, WAVE_FORMAT_IEEE_FLOAT):
    OUT/<piece>/{vocals,drums,bass,other,mixture}.wav
    OUT/song-3min.wav     the mixtures concatenated, cycling, until >= 180 s
    OUT/manifest.json     written last; its presence marks a complete set
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

# Bump to invalidate every cached set (scripts/separation_set.sh compares it).
GENERATOR_VERSION = 1

PIECES = [  # music21 corpus paths, fixed order; each has Soprano/Alto/Tenor/Bass in 4/4
    "bach/bwv10.7",
    "bach/bwv244.62",
    "bach/bwv267",
    "bach/bwv347",
    "bach/bwv40.8",
]
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RATE = 44100
TEMPO_BPM = 100
EXCERPT_QL = 32.0        # quarter notes from the start of the score (pickup included)
TAIL_S = 1.5             # release / reverb tail rendered after the last note-off
PEAK = 10 ** (-1 / 20)   # mixture peak after the per-piece gain (-1 dBFS)
SONG_MIN_S = 180.0
FLUID_GAIN = "0.5"
TPB = 480                # MIDI ticks per quarter note
STEMS = ("vocals", "drums", "bass", "other")

ROLES = {  # stem -> (voice, channel 0-based, program, pan CC10, volume CC7, velocity)
    "vocals": ("soprano", 0, 53, 64, 100, 96),
    "other": ("alto", 1, 48, 30, 100, 100),
    "bass": ("bass", 2, 33, 64, 100, 100),
    "drums": ("tenor", 9, 0, 64, 127, None),
}
PROGRAM_NAMES = {53: "Voice Oohs", 48: "String Ensemble 1", 33: "Electric Bass (finger)"}
KICK, SNARE, HAT = 36, 38, 42
DRUM_VEL = {KICK: 127, SNARE: 112, HAT: 80}
DRUM_LEN_QL = 0.25


def piece_name(path):
    return path.split("/")[-1].replace(".", "_")


def files_of(manifest):
    names = ["song-3min.wav"]
    for p in manifest["pieces"]:
        names += [f"{p['name']}/{s}.wav" for s in STEMS + ("mixture",)]
    return names


def check(out):
    """Exit status 0 when OUT holds a complete set made by this generator version."""
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        if m.get("generator_version") != GENERATOR_VERSION:
            return 1
        for name, size in m["files"].items():
            if os.path.getsize(os.path.join(out, name)) != size:
                return 1
        return 0 if set(m["files"]) == set(files_of(m)) else 1
    except (OSError, ValueError, KeyError, TypeError):
        return 1


# ---------------------------------------------------------------- WAV I/O (float32)

def write_wav_f32(path, x, rate=RATE):
    """x: (frames, channels) float32. IEEE float WAV with the fact chunk the spec asks for."""
    import numpy as np
    x = np.ascontiguousarray(x, dtype="<f4")
    frames, ch = x.shape
    data = x.tobytes()
    fmt = struct.pack("<HHIIHHH", 3, ch, rate, rate * ch * 4, ch * 4, 32, 0)
    fact = struct.pack("<I", frames)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"fact" + struct.pack("<I", 4) + fact
            + b"data" + struct.pack("<I", len(data)))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body)
        f.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------- score -> MIDI

def load_voices(path):
    """corpus path -> {voice: [(onset_ql, dur_ql, [midi], beat)]}, cut to EXCERPT_QL."""
    from music21 import corpus
    score = corpus.parse(path)
    parts = list(score.parts)
    if len(parts) < 4:
        raise SystemExit(f"{path}: {len(parts)} parts, need >= 4")
    by_name = {(p.partName or "").strip().lower(): p for p in parts}
    voices = {}
    for i, v in enumerate(("soprano", "alto", "tenor", "bass")):
        # by name; otherwise score order with the bass as the lowest (last) part
        p = by_name.get(v) or (parts[-1] if v == "bass" else parts[i])
        notes = []
        for n in p.stripTies().flatten().notes:
            on = float(n.offset)
            if on >= EXCERPT_QL:
                continue
            dur = min(float(n.quarterLength), EXCERPT_QL - on)
            if dur <= 0:
                continue
            notes.append((on, dur, [pp.midi for pp in n.pitches], float(n.beat)))
        if not notes:
            raise SystemExit(f"{path}: no notes in {v}")
        voices[v] = notes
    return voices


def midi_events(stem, notes):
    """-> (list of (tick, order, mido.Message), info dict)."""
    import mido
    voice, ch, program, pan, vol, vel = ROLES[stem]
    ev = []
    info = {"voice": voice, "channel": ch + 1, "pan_cc10": pan, "volume_cc7": vol}
    tick = lambda ql: int(round(ql * TPB))
    if stem == "drums":
        info["program"] = "GM percussion (channel 10)"
        info["notes"] = {"kick": KICK, "snare": SNARE, "closed_hihat": HAT}
        hits = 0
        for on, _dur, _pitches, beat in notes:
            keys = [HAT]
            b = int(beat + 1e-6)
            if abs(beat - b) < 1e-6:  # on the beat
                if b in (1, 3):
                    keys.append(KICK)
                elif b in (2, 4):
                    keys.append(SNARE)
            for k in keys:
                ev.append((tick(on), 1, mido.Message("note_on", channel=ch, note=k, velocity=DRUM_VEL[k])))
                ev.append((tick(on + DRUM_LEN_QL), 0, mido.Message("note_off", channel=ch, note=k, velocity=0)))
                hits += 1
        info["hits"] = hits
        return ev, info
    shift = 0
    if stem == "bass":
        allp = [m for n in notes for m in n[2]]
        if sum(allp) / len(allp) > 45:  # above A2: down an octave, into electric-bass range
            shift = -12
    info.update(program=program, program_name=PROGRAM_NAMES[program], transpose=shift, velocity=vel)
    for on, dur, pitches, _beat in notes:
        for m in pitches:
            ev.append((tick(on), 1, mido.Message("note_on", channel=ch, note=m + shift, velocity=vel)))
            ev.append((tick(on + dur), 0, mido.Message("note_off", channel=ch, note=m + shift, velocity=0)))
    return ev, info


def write_midi(path, stem, notes):
    import mido
    voice, ch, program, pan, vol, _vel = ROLES[stem]
    ev, info = midi_events(stem, notes)
    head = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(TEMPO_BPM), time=0)]
    if ch != 9:
        head.append(mido.Message("program_change", channel=ch, program=program, time=0))
    head.append(mido.Message("control_change", channel=ch, control=7, value=vol, time=0))
    head.append(mido.Message("control_change", channel=ch, control=10, value=pan, time=0))
    # A no-op controller at the end keeps fluidsynth rendering through the release tail.
    end = int(round((EXCERPT_QL + TAIL_S * TEMPO_BPM / 60) * TPB))
    ev.append((end, 2, mido.Message("control_change", channel=ch, control=10, value=pan)))
    ev.sort(key=lambda e: (e[0], e[1]))
    mf = mido.MidiFile(type=0, ticks_per_beat=TPB)
    tr = mido.MidiTrack(head)
    now = 0
    for t, _o, msg in ev:
        tr.append(msg.copy(time=t - now))
        now = t
    tr.append(mido.MetaMessage("end_of_track", time=0))
    mf.tracks.append(tr)
    mf.save(path)
    return info


def render(mid, raw):
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", FLUID_GAIN, "-r", str(RATE),
         "-T", "raw", "-O", "float", "-E", "little", "-F", raw, SOUNDFONT, mid],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def main(out):
    import numpy as np
    import importlib.metadata as md
    t0 = time.time()
    if not os.path.isfile(SOUNDFONT):
        raise SystemExit(f"soundfont not found: {SOUNDFONT} (Debian package fluid-soundfont-gm)")
    os.makedirs(out, exist_ok=True)
    try:
        os.remove(os.path.join(out, "manifest.json"))
    except FileNotFoundError:
        pass
    frames = int(round((EXCERPT_QL * 60 / TEMPO_BPM + TAIL_S) * RATE))
    fluid_ver = subprocess.run(["fluidsynth", "-V"], capture_output=True, text=True).stdout.split("\n")[0]
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "music21_version": md.version("music21"),
        "mido_version": md.version("mido"),
        "fluidsynth": fluid_ver.strip(),
        "soundfont": {"path": SOUNDFONT, "sha256": sha256(SOUNDFONT)},
        "fluidsynth_args": f"-ni -q -g {FLUID_GAIN} -r {RATE} -T raw -O float (reverb and chorus on)",
        "sample_rate": RATE, "channels": 2, "format": "WAV IEEE float32",
        "tempo_bpm": TEMPO_BPM, "excerpt_quarters": EXCERPT_QL, "tail_s": TAIL_S,
        "mixture": "float sum of vocals+drums+bass+other; all stems of a piece share one gain "
                   "(mixture peak -1 dBFS)",
        "pieces": [], "files": {},
    }
    mixes = []
    with tempfile.TemporaryDirectory(prefix="sepset-") as tmp, ThreadPoolExecutor(2) as pool:
        jobs = []
        for path in PIECES:
            name = piece_name(path)
            voices = load_voices(path)
            infos = {}
            for stem in STEMS:
                mid = os.path.join(tmp, f"{name}-{stem}.mid")
                infos[stem] = write_midi(mid, stem, voices[ROLES[stem][0]])
                raw = os.path.join(tmp, f"{name}-{stem}.raw")
                jobs.append(pool.submit(render, mid, raw))
            manifest["pieces"].append({"name": name, "corpus_path": path, "stems": infos})
        for j in jobs:
            try:
                j.result()
            except subprocess.CalledProcessError as e:
                raise SystemExit(f"fluidsynth failed: {e.stderr.decode(errors='replace')}")
        for piece in manifest["pieces"]:
            name = piece["name"]
            stems = {}
            for stem in STEMS:
                x = np.fromfile(os.path.join(tmp, f"{name}-{stem}.raw"), dtype="<f4").reshape(-1, 2)
                y = np.zeros((frames, 2), np.float32)
                n = min(frames, len(x))
                y[:n] = x[:n]
                stems[stem] = y
            peak = float(np.abs(sum(s.astype(np.float64) for s in stems.values())).max())
            gain = PEAK / peak
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            rms = {}
            for stem in STEMS:
                stems[stem] = (stems[stem] * gain).astype(np.float32)
                r = float(np.sqrt(np.mean(stems[stem].astype(np.float64) ** 2)))
                rms[stem] = round(float(20 * np.log10(max(r, 1e-12))), 2)
                if r < 1e-4:
                    raise SystemExit(f"{name}/{stem}: silent (RMS {r:g})")
                spec = np.abs(np.fft.rfft(stems[stem].mean(axis=1))) ** 2
                sub = spec[: int(20 * frames / RATE) + 1].sum() / spec.sum()
                if sub > 0.05:  # a DC offset or rumble would not be a fair ground truth
                    raise SystemExit(f"{name}/{stem}: {100 * sub:.0f} % of the energy below 20 Hz")
                write_wav_f32(os.path.join(d, f"{stem}.wav"), stems[stem])
            mix = sum(stems[s].astype(np.float64) for s in STEMS).astype(np.float32)
            write_wav_f32(os.path.join(d, "mixture.wav"), mix)
            mixes.append(mix)
            piece.update(duration_s=round(frames / RATE, 4), frames=frames,
                         gain=round(gain, 6), rms_dbfs=rms,
                         mixture_peak_dbfs=round(float(20 * np.log10(np.abs(mix).max())), 2))
            print(f"  {name:<10} {piece['corpus_path']:<16} {frames / RATE:.1f} s gain {gain:.3f} "
                  + " ".join(f"{s} {rms[s]:.1f}" for s in STEMS) + " dBFS RMS", flush=True)
    song, total, i = [], 0, 0
    while total < SONG_MIN_S * RATE:
        song.append(mixes[i % len(mixes)])
        total += len(mixes[i % len(mixes)])
        i += 1
    write_wav_f32(os.path.join(out, "song-3min.wav"), np.concatenate(song))
    manifest["song_3min"] = {"duration_s": round(total / RATE, 4), "frames": total,
                             "pieces": [manifest["pieces"][k % len(mixes)]["name"] for k in range(i)]}
    for f in files_of(manifest):
        manifest["files"][f] = os.path.getsize(os.path.join(out, f))
    manifest["generation_s"] = round(time.time() - t0, 1)
    tmpm = os.path.join(out, "manifest.json.tmp")
    with open(tmpm, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.replace(tmpm, os.path.join(out, "manifest.json"))
    print(f"  song-3min.wav {total / RATE:.1f} s ({i} excerpts); {time.time() - t0:.1f} s in all")


def default_dir():
    """Outside the clone, so a fresh clone on the same machine reuses it; keyed by the generator version."""
    env = os.environ.get("CODA_SEPARATION_SET")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "coda-tests", f"separation-set-v{GENERATOR_VERSION}")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "--default-dir":
        print(default_dir())
        sys.exit(0)
    if a and a[0] == "--check":
        sys.exit(check(a[1] if len(a) > 1 else default_dir()))
    if len(a) > 1 or (a and a[0].startswith("-")):
        sys.exit(__doc__)
    main(a[0] if a else default_dir())
