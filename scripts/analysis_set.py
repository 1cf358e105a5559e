#!/usr/bin/env python3
"""Renders the audio-analysis test set: tempo and beats, chords, keys (see tests/data/analysis/README.md).

    analysis_set.py [OUT_DIR]           render the set (needs numpy, music21==10.5.1, fluidsynth,
                                        the score corpus set and the key reference)
    analysis_set.py --check [OUT_DIR]   exit 0 when OUT_DIR holds a complete set of this
                                        generator version (standard library only)
    analysis_set.py --default-dir       print the default OUT_DIR

OUT_DIR defaults to $CODA_ANALYSIS_SET, else ${XDG_CACHE_HOME:-~/.cache}/coda-tests/
analysis-set-vN (N = GENERATOR_VERSION): outside the clone, so clones on one machine share it.

Every piece is a standard MIDI file (type 0, written by the small writer below; the chorales
are first written by music21 and read back), rendered by Debian fluidsynth with the FluidR3
GM soundfont (Debian fluid-soundfont-gm), `-ni -q -g 0.6 -r 22050 -T raw -O float`, reverb
and chorus on. Left and right are averaged to mono, cut or padded to the piece's length, scaled
so the peak is -1 dBFS and written as 16-bit PCM WAV at 22050 Hz. Everything random comes from
random.Random seeded with fixed strings, so a second run writes the same MIDI and the same audio.

  tempo/NAME.{wav,json}  40 pieces, 60-180 bpm (evenly spaced, seeded jitter of up to 1.2 bpm),
                         about 30 s each; 30 in 4/4 and 10 in 3/4 (waltz: bass on 1, chords on 2
                         and 3); 20 with GM drums on channel 10 (kick on 1 and 3, snare on 2 and
                         4, hi-hat eighths, fills every fourth bar, crashes, some syncopated
                         kicks), 20 without (piano, guitar, electric piano, strings, organ,
                         accordion comping over a bass line); about half with a melody. JSON:
                         {"tempo_bpm", "beats", "downbeats", "time_signature"}: the tempo is
                         the exact quarter-note tempo of the MIDI file (60e6 / its integer
                         microseconds per quarter); the music starts after a 0.5 s lead-in of
                         silence, so beats[0] = downbeats[0] = 0.5; every beat of every bar is
                         listed, and the last is the final chord's downbeat (a 2.5 s release
                         tail follows it).
  chords/NAME.{wav,lab}  30 progressions of 8-16 chords in random keys, 1-3 s each (2, 4 or 8
                         beats), labelled in Harte syntax (mir_eval): maj, min, 7, maj7, min7,
                         dim, aug, sus2, sus4, about 20 % inversions (/3, /b3, /5, /b7, ...),
                         N for the silent lead-in and for a few rests. Eight instruments (piano,
                         electric piano, nylon and steel guitar, strings, church and drawbar
                         organ, pad), four voicings (close, open, block, guitar) and five
                         patterns (sustain, each beat, syncopated, arpeggio, strum with 6-14 ms
                         between strings); half the pieces add a bass instrument on the chord's
                         bass note, in the others the chord's lowest note is its bass. The .lab
                         ends at the last chord's note-off; the 2 s release tail after it is not
                         labelled. Every label is checked against the notes written.
  keys/NAME.wav          80 Bach chorales (bach/*, four parts or more) of the music21 corpus whose
                         key the key reference (scripts/key_reference.py) decides: of the 335,
                         sorted by corpus path, the k*335//80-th for k = 0..79. music21 writes
                         each to MIDI (score.write('midi')); every part gets its own channel; all
                         parts play together, half on piano, a quarter on church organ, a quarter
                         on strings, at a seeded 84-108 bpm. The truth (tonic_pc, mode) is the
                         key reference's.
  manifest.json          written last: generator version, sample rate, the names, the keys'
                         truths, per-piece details and every file's size.
"""
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import wave

# Bump to invalidate every cached set (scripts/analysis_set.sh compares it).
GENERATOR_VERSION = 1
MUSIC21_VERSION = "10.5.1"

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RATE = 22050
FLUID_GAIN = "0.6"
PEAK = 10 ** (-1 / 20)    # every file's peak after its gain (-1 dBFS)
TPB = 960                 # MIDI ticks per quarter note (tempo and chord pieces)
PROCESSES = 2
N_TEMPO, N_CHORDS, N_KEYS = 40, 30, 80
TEMPO_LEAD_IN_S = 0.5     # silence before the first beat of a tempo piece
TEMPO_TARGET_S = 30.0
TEMPO_TAIL_S = 2.5        # after the final downbeat
CHORD_TAIL_S = 2.0        # after the last chord's note-off
KEY_TAIL_S = 2.0          # after the chorale's last MIDI event
DRUM_CH = 9

GM = {  # 0-based program numbers (the GM list's 1-based numbers minus one)
    0: "Acoustic Grand Piano", 4: "Electric Piano 1", 11: "Vibraphone", 16: "Drawbar Organ",
    19: "Church Organ", 21: "Accordion", 24: "Acoustic Guitar (nylon)",
    25: "Acoustic Guitar (steel)", 27: "Electric Guitar (clean)", 29: "Overdriven Guitar",
    32: "Acoustic Bass", 33: "Electric Bass (finger)", 34: "Electric Bass (pick)",
    43: "Contrabass", 45: "Pizzicato Strings", 48: "String Ensemble 1", 56: "Trumpet",
    65: "Alto Sax", 71: "Clarinet", 73: "Flute", 90: "Pad 3 (polysynth)", 91: "Pad 4 (choir)",
}

QUALITIES = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
}
BASS_DEGREE = {2: "2", 3: "b3", 4: "3", 5: "4", 6: "b5", 7: "5", 8: "#5", 10: "b7", 11: "7"}
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
FLAT_MAJOR_TONICS = {5, 10, 3, 8, 1, 6}  # F Bb Eb Ab Db Gb

KICK, SIDE, SNARE, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 42, 44, 46, 49, 51
TOMS = (50, 48, 47, 45, 43, 41)


# ---------------------------------------------------------------- paths and check

def default_dir():
    """Outside the clone, so a fresh clone on the same machine reuses it; keyed by the generator version."""
    env = os.environ.get("CODA_ANALYSIS_SET")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "coda-tests", f"analysis-set-v{GENERATOR_VERSION}")


def files_of(manifest):
    names = []
    for n in manifest["tempo"]:
        names += [f"tempo/{n}.wav", f"tempo/{n}.json"]
    for n in manifest["chords"]:
        names += [f"chords/{n}.wav", f"chords/{n}.lab"]
    names += [f"keys/{n}.wav" for n in manifest["keys"]]
    return names


def check(out):
    """Exit status 0 when OUT holds a complete set made by this generator version."""
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        if m.get("generator_version") != GENERATOR_VERSION or m.get("sample_rate") != RATE:
            return 1
        for name, size in m["files"].items():
            if os.path.getsize(os.path.join(out, name)) != size:
                return 1
        return 0 if m["files"] and set(m["files"]) == set(files_of(m)) else 1
    except (OSError, ValueError, KeyError, TypeError):
        return 1


# ---------------------------------------------------------------- standard MIDI files

def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def read_vlq(b, i):
    n = 0
    while True:
        c = b[i]
        i += 1
        n = (n << 7) | (c & 0x7F)
        if not c & 0x80:
            return n, i


def read_smf(path):
    """-> (ticks per quarter, [(track, tick, bytes)]) for every track's meta and channel events."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"MThd":
        raise ValueError(f"{path}: not a standard MIDI file")
    hlen = int.from_bytes(data[4:8], "big")
    _fmt, _ntrk, div = struct.unpack(">HHH", data[8:14])
    if div & 0x8000:
        raise ValueError(f"{path}: SMPTE time division")
    pos, events, track = 8 + hlen, [], -1
    while pos + 8 <= len(data):
        cid, ln = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        chunk = data[pos + 8:pos + 8 + ln]
        pos += 8 + ln
        if cid != b"MTrk":
            continue
        track += 1
        i, t, running = 0, 0, None
        while i < len(chunk):
            delta, i = read_vlq(chunk, i)
            t += delta
            st = chunk[i]
            if st & 0x80:
                i += 1
            elif running is None:
                raise ValueError(f"{path}: data byte without a status")
            else:
                st = running
            if st == 0xFF:
                typ = chunk[i]
                n, j = read_vlq(chunk, i + 1)
                events.append((track, t, bytes([0xFF, typ]) + vlq(n) + chunk[j:j + n]))
                i = j + n
            elif st in (0xF0, 0xF7):
                n, j = read_vlq(chunk, i)
                i = j + n
            else:
                running = st
                n = 1 if st & 0xF0 in (0xC0, 0xD0) else 2
                events.append((track, t, bytes([st]) + chunk[i:i + n]))
                i += n
    return div, events


class Midi:
    """A type-0 standard MIDI file built from absolute-tick events, with a tempo map."""

    def __init__(self, tempos, tpb=TPB):
        self.tpb = tpb
        self.tempos = sorted(tempos)  # [(tick, microseconds per quarter)], the first at tick 0
        self.ev = []                  # (tick, order, bytes): note-offs, then metas, then controls, then note-ons
        self.notes = []               # (channel, key, velocity, on, off) for the label checks
        for t, us in self.tempos:
            self.ev.append((t, 1, b"\xff\x51\x03" + us.to_bytes(3, "big")))

    def sec(self, tick):
        s, (t0, us) = 0.0, self.tempos[0]
        for t1, us1 in self.tempos[1:]:
            if tick <= t1:
                break
            s += (t1 - t0) * us / (self.tpb * 1e6)
            t0, us = t1, us1
        return s + (tick - t0) * us / (self.tpb * 1e6)

    def ticks_of(self, seconds, at):
        """Ticks spanning `seconds` from tick `at` (tempo at `at`)."""
        us = [u for t, u in self.tempos if t <= at][-1]
        return int(round(seconds * self.tpb * 1e6 / us))

    def meta(self, tick, typ, data):
        self.ev.append((tick, 1, bytes([0xFF, typ]) + vlq(len(data)) + data))

    def program(self, ch, prog, tick=0):
        self.ev.append((tick, 2, bytes([0xC0 | ch, prog])))

    def cc(self, ch, num, val, tick=0):
        self.ev.append((tick, 2, bytes([0xB0 | ch, num, val])))

    def note(self, ch, key, vel, on, off):
        if not 0 <= key <= 127:
            raise ValueError(f"MIDI key {key}")
        vel = max(1, min(127, int(vel)))
        if off <= on:
            off = on + 1
        self.notes.append([ch, key, vel, on, off])

    def raw(self, tick, msg):
        self.ev.append((tick, 3 if msg[0] & 0xF0 == 0x90 and msg[2] else (0 if msg[0] & 0xF0 in (0x80, 0x90) else 2), msg))

    def end_tick(self):
        return max([n[4] for n in self.notes] + [e[0] for e in self.ev])

    def fix_overlaps(self):
        """A key struck again on its channel while it sounds: the earlier note ends there."""
        by = {}
        for n in self.notes:
            by.setdefault((n[0], n[1]), []).append(n)
        for ns in by.values():
            ns.sort(key=lambda n: (n[3], -n[4]))
            keep = []
            for n in ns:
                if keep and keep[-1][3] == n[3]:  # same key, same onset: one note
                    keep[-1][4] = max(keep[-1][4], n[4])
                    continue
                if keep and keep[-1][4] > n[3]:
                    keep[-1][4] = n[3]
                keep.append(n)
            ns[:] = keep
        self.notes = [n for ns in by.values() for n in ns]

    def save(self, path):
        self.fix_overlaps()
        ev = list(self.ev)
        for ch, key, vel, on, off in self.notes:
            ev.append((on, 3, bytes([0x90 | ch, key, vel])))
            ev.append((off, 0, bytes([0x80 | ch, key, 0])))
        ev.sort(key=lambda e: (e[0], e[1]))
        body, now = bytearray(), 0
        for t, _o, b in ev:
            body += vlq(t - now) + b
            now = t
        body += vlq(0) + b"\xff\x2f\x00"
        with open(path, "wb") as f:
            f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, self.tpb))
            f.write(b"MTrk" + struct.pack(">I", len(body)) + bytes(body))


# ---------------------------------------------------------------- harmony helpers

def spelling(tonic, mode):
    major = tonic if mode == "major" else (tonic + 3) % 12
    return FLAT_NAMES if major in FLAT_MAJOR_TONICS else SHARP_NAMES


def chord_pcs(root, quality):
    return [(root + i) % 12 for i in QUALITIES[quality]]


def label(chord, names):
    root, quality, inv = chord
    return f"{names[root]}:{quality}" + (f"/{BASS_DEGREE[inv]}" if inv else "")


def at_or_above(pc, low):
    return low + ((pc - low) % 12)


def upper_order(root, quality, bass_pc):
    """The chord's pitch classes in stacking order, starting after the bass."""
    pcs = chord_pcs(root, quality)
    k = pcs.index(bass_pc)
    return pcs[k + 1:] + pcs[:k]


def voice_close(chord, low):
    root, quality, inv = chord
    b = (root + inv) % 12
    notes = [at_or_above(b, low)]
    for pc in upper_order(root, quality, b):
        notes.append(at_or_above(pc, notes[-1] + 1))
    return notes


def voice_open(chord, low):
    """Bass low, then a drop-2 voicing of all chord tones at least a fifth above it."""
    root, quality, inv = chord
    b = (root + inv) % 12
    bass = at_or_above(b, low)
    pcs = chord_pcs(root, quality)
    if len(pcs) == 3:
        pcs = pcs + [root]
    close = [at_or_above(pcs[0], bass + 12)]
    for pc in pcs[1:]:
        close.append(at_or_above(pc, close[-1] + 1))
    close[-2] -= 12
    close.sort()
    while close[0] < bass + 7:
        close = [c + 12 for c in close]
    return [bass] + close


def voice_block(chord, low):
    """Left hand: the bass and its octave; right hand: the chord in close position above."""
    root, quality, inv = chord
    b = (root + inv) % 12
    bass = at_or_above(b, low)
    rh = [at_or_above(root, bass + 13)]
    for pc in chord_pcs(root, quality)[1:]:
        rh.append(at_or_above(pc, rh[-1] + 1))
    return [bass, bass + 12] + rh


def voice_guitar(chord, low):
    """Up to six 'strings': the bass, then chord tones 3-7 semitones apart, top <= 76."""
    root, quality, inv = chord
    b = (root + inv) % 12
    pcs = set(chord_pcs(root, quality))
    notes = [at_or_above(b, low)]
    while len(notes) < 6:
        cands = [p for p in range(notes[-1] + 3, notes[-1] + 8)
                 if p % 12 in pcs and p % 12 != notes[-1] % 12]
        missing = [p for p in cands if p % 12 not in {n % 12 for n in notes}]
        nxt = (missing or cands or [None])[0]
        if nxt is None or nxt > 76:
            break
        notes.append(nxt)
    if {n % 12 for n in notes} != pcs:
        return voice_close(chord, low)
    return notes


VOICINGS = {"close": voice_close, "open": voice_open, "block": voice_block, "guitar": voice_guitar}


# ---------------------------------------------------------------- tempo pieces

PROGS_MAJOR = [  # (semitones above the tonic, quality), one chord a bar
    [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
    [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")],
    [(2, "min7"), (7, "7"), (0, "maj7"), (0, "maj7")],
    [(0, "maj"), (5, "maj"), (0, "maj"), (7, "7")],
    [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")],
    [(0, "maj7"), (9, "min7"), (2, "min7"), (7, "7")],
    [(0, "7"), (5, "7"), (0, "7"), (0, "7"), (5, "7"), (5, "7"), (0, "7"), (0, "7"),
     (7, "7"), (5, "7"), (0, "7"), (7, "7")],
    [(0, "maj"), (4, "min"), (5, "maj"), (7, "maj")],
    [(0, "maj"), (2, "min"), (5, "maj"), (7, "sus4"), (0, "maj"), (9, "min"), (2, "min7"), (7, "7")],
]
PROGS_MINOR = [
    [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
    [(0, "min"), (5, "min"), (7, "7"), (0, "min")],
    [(0, "min7"), (5, "min7"), (10, "7"), (3, "maj7")],
    [(0, "min"), (10, "maj"), (8, "maj"), (7, "maj")],
    [(0, "min"), (0, "min"), (5, "min"), (7, "7")],
]

STYLES_44_DRUMS = ["drums-piano", "drums-ep", "drums-guitar", "drums-rock", "drums-organ"]
STYLES_44_PLAIN = ["piano-comp", "piano-sync", "guitar-strum", "guitar-pick", "strings", "organ",
                   "ep-sync"]
STYLES_34_DRUMS = ["waltz-drums-piano", "waltz-drums-guitar"]
STYLES_34_PLAIN = ["waltz-piano", "waltz-guitar", "waltz-accordion", "waltz-strings"]


def tempo_specs():
    rng = random.Random("coda analysis set: tempo v1")
    meters = [3] * 10 + [4] * 30
    drums = [True] * 20 + [False] * 20
    rng.shuffle(meters)
    rng.shuffle(drums)
    counters = {}
    specs = []
    for i in range(N_TEMPO):
        bpm = 60 + 120 * i / (N_TEMPO - 1) + rng.uniform(-1.2, 1.2)
        bpm = max(60.0, min(180.0, bpm))
        us = int(round(60e6 / bpm))
        m, d = meters[i], drums[i]
        pool = {(4, True): STYLES_44_DRUMS, (4, False): STYLES_44_PLAIN,
                (3, True): STYLES_34_DRUMS, (3, False): STYLES_34_PLAIN}[(m, d)]
        k = counters.get((m, d), 0)
        counters[(m, d)] = k + 1
        style = pool[k % len(pool)]
        mode = "minor" if rng.random() < 0.35 else "major"
        specs.append({
            "index": i, "us": us, "beats_per_bar": m, "drums": d, "style": style,
            "tonic": rng.randrange(12), "mode": mode,
            "progression": rng.choice(PROGS_MINOR if mode == "minor" else PROGS_MAJOR),
            "melody": rng.random() < 0.5 and style not in ("drums-rock",),
            "seed": rng.randrange(1 << 30),
        })
    for s in specs:
        bpm = 60e6 / s["us"]
        style = s["style"].replace("drums-", "d").replace("waltz-", "w")
        s["name"] = f"t{s['index']:02d}_{int(round(bpm)):03d}bpm_{s['beats_per_bar']}-4_{style}"
    return specs


def build_tempo(spec, mid_path):
    """Writes the MIDI file; returns the annotation and details."""
    rng = random.Random(spec["seed"])
    lead = TPB  # one quarter at 120 bpm = 0.5 s
    m = Midi([(0, 500000), (lead, spec["us"])])
    assert abs(m.sec(lead) - TEMPO_LEAD_IN_S) < 1e-12
    bpb, style = spec["beats_per_bar"], spec["style"]
    period = spec["us"] / 1e6
    bars = max(4, int(round((TEMPO_TARGET_S - TEMPO_LEAD_IN_S - TEMPO_TAIL_S) / (bpb * period))))
    m.meta(0, 0x58, bytes([bpb, 2, 24, 8]))
    tonic, prog = spec["tonic"], spec["progression"]
    chords = [((tonic + r) % 12, q, 0) for r, q in prog]
    bar_tick = lambda b: lead + b * bpb * TPB
    q = TPB  # a quarter
    e = TPB // 2
    s16 = TPB // 4

    CH_CHORD, CH_BASS, CH_MEL, CH_CHORD2 = 0, 1, 2, 3
    programs = {}

    def setup(ch, prog, vol=100, pan=64):
        programs[ch] = prog
        m.program(ch, prog)
        m.cc(ch, 7, vol)
        m.cc(ch, 10, pan)

    jit = lambda v, r=6: v + rng.randint(-r, r)

    # -- instrument choice by style
    chord_prog = {"drums-piano": 0, "drums-ep": 4, "drums-guitar": 27, "drums-rock": 29,
                  "drums-organ": 16, "piano-comp": 0, "piano-sync": 0, "guitar-strum": 25,
                  "guitar-pick": 24, "strings": 48, "organ": 19, "ep-sync": 4,
                  "waltz-drums-piano": 0, "waltz-drums-guitar": 24, "waltz-piano": 0,
                  "waltz-guitar": 24, "waltz-accordion": 21, "waltz-strings": 48}[style]
    bass_prog = {"drums-rock": 34, "strings": 43, "waltz-strings": 45, "organ": 19,
                 "piano-comp": 0, "piano-sync": 0, "waltz-piano": 0, "waltz-drums-piano": 0,
                 "guitar-strum": 32, "guitar-pick": 32, "waltz-guitar": 32,
                 "waltz-accordion": 32}.get(style, 33)
    setup(CH_CHORD, chord_prog, 92)
    setup(CH_BASS, bass_prog, 100)

    voicing = "guitar" if chord_prog in (24, 25, 27) else ("open" if chord_prog in (48, 19) else "close")
    strum_ms = rng.uniform(7, 14) / 1000

    def chord_notes(c, low=None):
        if voicing == "guitar":
            return voice_guitar(c, 40 if low is None else low)
        if voicing == "open":
            return voice_open(c, 48 if low is None else low)[1:]
        return voice_close(c, 55 if low is None else low)

    def strike(c, on, off, vel, up=False, notes=None, ch=CH_CHORD):
        ns = notes or chord_notes(c)
        if chord_prog in (24, 25, 27):
            order = list(reversed(ns[-4:])) if up else ns
            step = m.ticks_of(strum_ms, on)
            for k, p in enumerate(order):
                m.note(ch, p, jit(vel - (10 if up else 0) - 2 * k, 3), on + k * step, off)
        else:
            for p in ns:
                m.note(ch, p, jit(vel, 4), on, off)

    def bass_note(c, b, beat, dur_ticks, vel, offset=0):
        root = c[0]
        low = 28 if bass_prog in (32, 33, 34, 43, 45) else 36
        p = at_or_above((root + offset) % 12, low)
        on = bar_tick(b) + int(beat * q)
        m.note(CH_BASS, p, jit(vel, 4), on, on + dur_ticks)

    # -- per bar
    fills = set()
    mel_prev = 72
    for b in range(bars):
        c = chords[b % len(chords)]
        nxt = chords[(b + 1) % len(chords)]
        B = bar_tick(b)
        acc = 18  # downbeat accent
        base = 78
        if bpb == 3:
            # waltz: bass on 1 (accented), chords on 2 and 3
            bass_note(c, b, 0, int(q * 0.95), base + acc + 10, 0 if b % 2 == 0 else 7)
            for beat in (1, 2):
                on = B + beat * q
                strike(c, on, on + int(q * (0.55 if "piano" in style else 0.9)), base - 4 + (3 if beat == 1 else 0))
            if style == "waltz-accordion" and b % 4 == 3:
                bass_note(c, b, 2, int(q * 0.9), base, 4 if c[1] in ("maj", "7") else 3)
        elif style in ("piano-comp",):
            bass_note(c, b, 0, 2 * q - 20, base + acc + 8)
            bass_note(c, b, 2, 2 * q - 20, base + 6, 7)
            for beat in range(4):
                on = B + beat * q
                strike(c, on, on + q - 30, base - 6 + (acc if beat == 0 else 0))
        elif style in ("piano-sync", "ep-sync"):
            bass_note(c, b, 0, int(1.5 * q), base + acc + 8)
            bass_note(c, b, 1.5, e, base)
            bass_note(c, b, 2, int(1.5 * q), base + 6, 7)
            bass_note(c, b, 3.5, e, base, 12)
            pattern = [(0, 1.5), (1.5, 1), (2.5, 1), (3.5, 0.5)] if b % 2 == 0 else \
                [(0, 1), (1, 0.5), (1.5, 1), (3, 1)]
            for beat, dur in pattern:
                on = B + int(beat * q)
                strike(c, on, on + int(dur * q) - 20, base - 8 + (acc if beat == 0 else 0))
        elif style == "guitar-strum":
            bass_note(c, b, 0, 2 * q - 20, base + acc + 4)
            bass_note(c, b, 2, 2 * q - 20, base + 2, 7)
            cells = [(0, False), (1, False), (1.5, True), (2.5, True), (3, False), (3.5, True)]
            for k, (beat, up) in enumerate(cells):
                on = B + int(beat * q)
                end = B + int(cells[k + 1][0] * q) if k + 1 < len(cells) else B + 4 * q
                strike(c, on, end, base + (acc if beat == 0 else 0), up=up)
        elif style == "guitar-pick":
            bass_note(c, b, 0, 2 * q - 20, base + acc + 4)
            bass_note(c, b, 2, 2 * q - 20, base + 2, 7)
            ns = chord_notes(c)
            thumb = [ns[0], ns[0], ns[1] if len(ns) > 1 else ns[0], ns[0]]
            top = ns[2:] or ns[-1:]
            for beat in range(4):
                on = B + beat * q
                m.note(CH_CHORD, thumb[beat], jit(base + (acc if beat == 0 else 4)), on, on + q)
                for k in range(2):
                    m.note(CH_CHORD, top[(beat + k) % len(top)], jit(base - 14), on + e, on + q)
        elif style == "strings":
            bass_note(c, b, 0, q - 10, base + acc + 6)
            bass_note(c, b, 1, q - 10, base, 7)
            bass_note(c, b, 2, q - 10, base + 6)
            bass_note(c, b, 3, q - 10, base, 7 if b % 2 else 12)
            for k in range(8):
                on = B + k * e
                strike(c, on, on + e - 30, base - 14 + (acc if k == 0 else (6 if k % 2 == 0 else 0)))
        elif style == "organ":
            walk = [0, 4 if c[1] in ("maj", "7", "maj7") else 3, 7, 12]
            for beat in range(4):
                bass_note(c, b, beat, q - 40, base + (acc if beat == 0 else 0), walk[beat])
            strike(c, B, B + 2 * q - 40, base + acc)
            strike(c, B + 2 * q, B + 4 * q - 40, base)
        elif style.startswith("drums-"):
            if style == "drums-rock":
                # power chords in eighths, bass eighths on the root
                pw = [at_or_above(c[0], 40), at_or_above(c[0], 40) + 7, at_or_above(c[0], 40) + 12]
                for k in range(8):
                    on = B + k * e
                    for p in pw:
                        m.note(CH_CHORD, p, jit(base - 4 + (acc if k == 0 else (8 if k % 2 == 0 else 0))), on, on + e - 40)
                    bass_note(c, b, k / 2, e - 40, base + (acc if k == 0 else 0))
            else:
                bass_pat = [(0, 1.5, 0), (1.5, 0.5, 0), (2, 1, 7), (3, 0.5, 0), (3.5, 0.5, 12)] if spec["seed"] % 2 \
                    else [(0, 0.5, 0), (0.5, 0.5, 0), (1.5, 0.5, 0), (2, 0.5, 7), (2.5, 0.5, 7), (3, 1, 0)]
                for beat, dur, off in bass_pat:
                    bass_note(c, b, beat, int(dur * q) - 30, base + (acc if beat == 0 else 0), off)
                if style == "drums-organ":
                    strike(c, B, B + 4 * q - 30, base - 10 + acc // 2)
                elif style == "drums-guitar":
                    for beat in (1, 3):
                        on = B + beat * q
                        strike(c, on, on + q // 2, base - 4)
                    strike(c, B + int(2.5 * q), B + int(2.5 * q) + e, base - 10, up=True)
                else:
                    cells = [(0, 1.5), (1.5, 1), (2.5, 1.5)] if b % 2 == 0 else [(0, 1), (1, 1), (2, 0.5), (2.5, 1.5)]
                    for beat, dur in cells:
                        on = B + int(beat * q)
                        strike(c, on, on + int(dur * q) - 30, base - 6 + (acc if beat == 0 else 0))

        # -- drums
        if spec["drums"]:
            fill = b % 4 == 3 and b != bars - 1
            if fill:
                fills.add(b)
            ride = spec["seed"] % 5 == 0
            sixteenth_hats = 60e6 / spec["us"] < 80 and spec["seed"] % 3 == 0
            if bpb == 4:
                kick = [0, 2] + ([2.5] if spec["seed"] % 3 == 1 and b % 2 else []) + \
                    ([1.5] if spec["seed"] % 4 == 2 and b % 4 == 1 else []) + \
                    ([0.5] if style == "drums-rock" and b % 2 else [])
                snare = [1, 3]
            else:
                kick, snare = [0], []
            last = bpb - 1 if fill else bpb
            for beat in kick:
                if beat < last:
                    m.note(DRUM_CH, KICK, jit(112 if beat == 0 else 98, 5), B + int(beat * q), B + int(beat * q) + s16)
            for beat in snare:
                if beat < last:
                    m.note(DRUM_CH, SNARE, jit(104, 6), B + beat * q, B + beat * q + s16)
            if bpb == 3:
                for beat in (1, 2):
                    if beat < last:
                        m.note(DRUM_CH, SIDE, jit(70, 6), B + beat * q, B + beat * q + s16)
            step = s16 if sixteenth_hats else e
            for k in range(last * q // step):
                on = B + k * step
                accent = (k * step) % q == 0
                key = RIDE if ride else HAT
                if not ride and bpb == 4 and k * step == int(3.5 * q) and b % 2 == 1 and not fill:
                    key = OPEN_HAT
                m.note(DRUM_CH, key, jit(88 if accent else 62, 6), on, on + s16)
            if (b % 4 == 0) or (b - 1 in fills):
                m.note(DRUM_CH, CRASH, jit(100, 5), B, B + q)
            if fill:
                F = B + (bpb - 1) * q
                toms = [SNARE, SNARE, TOMS[1], TOMS[3]] if b % 8 == 3 else [SNARE, TOMS[0], TOMS[2], TOMS[4]]
                for k, key in enumerate(toms):
                    m.note(DRUM_CH, key, jit(96 + 4 * k, 5), F + k * s16, F + (k + 1) * s16)

        # -- melody
        if spec["melody"]:
            if b == 0:
                mel_prog = rng.choice([73, 65, 11, 56, 71, 4 if chord_prog != 4 else 0])
                setup(CH_MEL, mel_prog, 82, 64)
            scale = [(tonic + i) % 12 for i in ((0, 2, 4, 5, 7, 9, 11) if spec["mode"] == "major" else (0, 2, 3, 5, 7, 8, 10))]
            tones = chord_pcs(c[0], c[1])
            pos, prev = 0.0, mel_prev
            cells = [[1], [0.5, 0.5], [1.5, 0.5], [2], [-1], [0.5, 1, 0.5]]
            while pos < bpb - 1e-9:
                cell = rng.choice(cells)
                if pos + sum(abs(x) for x in cell) > bpb + 1e-9:
                    cell = [bpb - pos]
                for dur in cell:
                    if dur < 0:
                        pos += -dur
                        continue
                    pcs = tones if abs(pos - round(pos)) < 1e-9 else scale
                    cands = [p for p in range(prev - 5, prev + 6) if p % 12 in pcs and 64 <= p <= 86]
                    prev = rng.choice(cands) if cands else at_or_above(tones[0], 67)
                    on = B + int(pos * q)
                    m.note(CH_MEL, prev, jit(84 if pos == 0 else 72, 5), on, on + int(dur * q) - 20)
                    pos += dur
            mel_prev = prev

    # -- final chord on the downbeat after the last bar
    F = bar_tick(bars)
    c = chords[0]
    ns = chord_notes(c) if style != "drums-rock" else [at_or_above(c[0], 40) + k for k in (0, 7, 12)]
    ring = int(1.5 * q)
    strike(c, F, F + ring, 100, notes=ns)
    bass_note(c, bars, 0, ring, 104)
    if spec["drums"]:
        m.note(DRUM_CH, KICK, 115, F, F + s16)
        m.note(DRUM_CH, CRASH, 110, F, F + q)
    if spec["melody"]:
        m.note(CH_MEL, at_or_above(c[0], 67), 84, F, F + ring)
    if spec["drums"]:
        m.cc(DRUM_CH, 7, 100)
    m.save(mid_path)

    beats = [m.sec(lead + k * TPB) for k in range(bars * bpb + 1)]
    ann = {
        "tempo_bpm": round(60e6 / spec["us"], 6),
        "beats": [round(t, 6) for t in beats],
        "downbeats": [round(t, 6) for t in beats[::bpb]],
        "time_signature": f"{bpb}/4",
    }
    frames = int(round((beats[-1] + TEMPO_TAIL_S) * RATE))
    names = spelling(spec["tonic"], spec["mode"])
    info = {
        "tempo_bpm": ann["tempo_bpm"], "us_per_quarter": spec["us"], "time_signature": ann["time_signature"],
        "bars": bars, "style": style, "drums": spec["drums"], "melody": bool(spec["melody"]),
        "programs": {str(ch + 1): GM[p] for ch, p in sorted(programs.items())},
        "key": f"{names[spec['tonic']]} {spec['mode']}",
        "progression": [label(ch, names) for ch in chords],
        "drum_fill_bars": sorted(fills),
        "first_beat_s": beats[0], "last_beat_s": round(beats[-1], 6),
        "duration_s": round(frames / RATE, 4), "frames": frames,
    }
    return ann, info, frames


# ---------------------------------------------------------------- chord pieces

MAJOR_DEG = {"I": (0, "maj"), "ii": (2, "min"), "iii": (4, "min"), "IV": (5, "maj"),
             "V": (7, "maj"), "vi": (9, "min"), "vii": (11, "dim")}
MINOR_DEG = {"i": (0, "min"), "ii": (2, "dim"), "III": (3, "maj"), "iv": (5, "min"),
             "V": (7, "maj"), "VI": (8, "maj"), "VII": (10, "maj"), "vii": (11, "dim")}
MAJOR_NEXT = {"I": {"IV": 3, "V": 3, "vi": 3, "ii": 2, "iii": 1},
              "ii": {"V": 5, "vii": 1, "IV": 1},
              "iii": {"vi": 3, "IV": 2},
              "IV": {"V": 3, "I": 2, "ii": 2, "vii": 1},
              "V": {"I": 5, "vi": 2, "IV": 1},
              "vi": {"ii": 3, "IV": 3, "V": 2, "iii": 1},
              "vii": {"I": 3, "iii": 1}}
MINOR_NEXT = {"i": {"iv": 3, "V": 2, "VI": 3, "III": 2, "VII": 2, "ii": 1},
              "ii": {"V": 4},
              "III": {"VI": 3, "iv": 2, "VII": 1},
              "iv": {"V": 3, "i": 1, "VII": 2, "ii": 1},
              "V": {"i": 5, "VI": 2},
              "VI": {"iv": 2, "ii": 2, "V": 2, "III": 1, "VII": 2},
              "VII": {"III": 3, "i": 2},
              "vii": {"i": 3}}
FORCED = ["dim", "aug", "sus2", "sus4", "maj7", "min7"]  # one per piece, in turn, when absent
FORCED_CHORD = {  # (mode, quality) -> (semitones above the tonic, quality)
    ("major", "dim"): (11, "dim"), ("minor", "dim"): (2, "dim"),
    ("major", "aug"): (7, "aug"), ("minor", "aug"): (3, "aug"),
    ("major", "sus2"): (0, "sus2"), ("minor", "sus2"): (10, "sus2"),
    ("major", "sus4"): (7, "sus4"), ("minor", "sus4"): (7, "sus4"),
    ("major", "maj7"): (5, "maj7"), ("minor", "maj7"): (8, "maj7"),
    ("major", "min7"): (2, "min7"), ("minor", "min7"): (5, "min7"),
}
CHORD_COMBOS = [  # (program, voicing, pattern)
    (0, "close", "sustain"), (0, "open", "beats"), (0, "block", "beats"), (0, "open", "arp"),
    (4, "close", "sync"), (4, "open", "sustain"), (24, "guitar", "arp"), (24, "guitar", "strum"),
    (25, "guitar", "strum"), (25, "guitar", "arp"), (48, "open", "sustain"), (48, "close", "beats"),
    (19, "close", "sustain"), (16, "open", "sync"), (90, "open", "sustain"),
]


def weighted(rng, d):
    keys = sorted(d)
    return rng.choices(keys, [d[k] for k in keys])[0]


def progression(rng, n, mode):
    deg, nxt = (MAJOR_DEG, MAJOR_NEXT) if mode == "major" else (MINOR_DEG, MINOR_NEXT)
    tonic = "I" if mode == "major" else "i"
    seq = [tonic]
    while len(seq) < n - 2:
        seq.append(weighted(rng, nxt[seq[-1]]))
    seq += ["V", tonic]
    out = []
    for k, d in enumerate(seq):
        r, q = deg[d]
        x = rng.random()
        if d == "V":
            q = "7" if x < 0.35 else "sus4" if x < 0.43 else "aug" if x < 0.48 else "maj"
            if k == len(seq) - 2 and q in ("sus4", "aug"):
                q = "7"
        elif d in ("I",):
            q = "maj7" if x < 0.12 else "sus2" if x < 0.17 else "sus4" if x < 0.19 else "aug" if x < 0.21 else "maj"
        elif d == "IV":
            q = "maj7" if x < 0.15 else "sus2" if x < 0.2 else "maj"
        elif d == "VI":
            q = "maj7" if x < 0.18 else "maj"
        elif d == "VII":
            q = "7" if x < 0.25 else "sus2" if x < 0.3 else "maj"
        elif d == "III":
            q = "aug" if x < 0.12 else "maj7" if x < 0.22 else "maj"
        elif q == "min":
            q = "min7" if x < 0.25 else "min"
        if k == len(seq) - 1:
            q = "maj" if mode == "major" else "min"
        out.append([r, q])
    # secondary dominants (V7 of the next chord) now and then
    for k in range(1, len(out) - 2):
        target = out[k + 1]
        if target[0] != 0 and target[1] in ("maj", "min", "min7", "maj7") and rng.random() < 0.1:
            out[k] = [(target[0] + 7) % 12, "7" if rng.random() < 0.7 else "maj"]
    return out


def chord_specs():
    rng = random.Random("coda analysis set: chords v1")
    specs = []
    for i in range(N_CHORDS):
        mode = "minor" if rng.random() < 0.35 else "major"
        tonic = rng.randrange(12)
        n = rng.randint(8, 16)
        prog = progression(rng, n, mode)
        want = FORCED[i % len(FORCED)]
        if all(q != want for _r, q in prog):
            k = rng.randrange(1, n - 2)
            prog[k] = list(FORCED_CHORD[(mode, want)])
        chords = []
        for r, q in prog:
            root = (tonic + r) % 12
            inv = 0
            if rng.random() < 0.2:
                ivs = [iv for iv in QUALITIES[q][1:]]
                w = [1 if iv == 10 or iv == 11 else 3 for iv in ivs]
                inv = rng.choices(ivs, w)[0]
            chords.append((root, q, inv))
        prog_, voicing, pattern = CHORD_COMBOS[i % len(CHORD_COMBOS)]
        bpm = rng.uniform(90, 190)
        us = int(round(60e6 / bpm))
        period = us / 1e6
        lens = [b for b in (2, 4, 8) if 1.0 <= b * period <= 3.0]
        w = {2: 1, 4: 3, 8: 2}
        durs = [rng.choices(lens, [w[b] for b in lens])[0] for _ in chords]
        gaps = {}
        if i % 5 == 3:  # a rest (N) between two chords
            gaps[rng.randrange(2, n - 1)] = rng.choice(lens)
        specs.append({
            "index": i, "mode": mode, "tonic": tonic, "chords": chords, "durs": durs,
            "gaps": gaps, "us": us, "program": prog_, "voicing": voicing, "pattern": pattern,
            "bass": i % 2 == 1, "bass_program": [33, 32, 34, 43][(i // 2) % 4],
            "bass_pattern": ["hold", "beats", "octaves"][(i // 2) % 3],
            "lead_beats": rng.choice([1, 2]), "seed": rng.randrange(1 << 30),
        })
    for s in specs:
        inst = {0: "piano", 4: "epiano", 24: "nylon", 25: "steel", 48: "strings", 19: "church-organ",
                16: "drawbar-organ", 90: "pad"}[s["program"]]
        s["name"] = f"c{s['index']:02d}_{inst}_{s['voicing']}-{s['pattern']}" + ("_bass" if s["bass"] else "")
    return specs


def build_chords(spec, mid_path):
    rng = random.Random(spec["seed"])
    m = Midi([(0, spec["us"])])
    m.meta(0, 0x58, bytes([4, 2, 24, 8]))
    q = TPB
    CH, BASS = 0, 1
    m.program(CH, spec["program"])
    m.cc(CH, 7, 96)
    m.cc(CH, 10, 64)
    if spec["bass"]:
        m.program(BASS, spec["bass_program"])
        m.cc(BASS, 7, 100)
        m.cc(BASS, 10, 64)
    names = spelling(spec["tonic"], spec["mode"])
    low = {"close": 48, "open": 38, "block": 36, "guitar": 40}[spec["voicing"]]
    if spec["bass"]:
        low += 4
    strum_ms = rng.uniform(6, 14) / 1000
    segs = []  # (on tick, off tick, label, chord)
    t = spec["lead_beats"] * q
    segs.append((0, t, "N", None))
    for k, (c, beats) in enumerate(zip(spec["chords"], spec["durs"])):
        if k in spec["gaps"]:
            g = spec["gaps"][k] * q
            segs.append((t, t + g, "N", None))
            t += g
        segs.append((t, t + beats * q, label(c, names), c))
        t += beats * q
    for on, off, _lab, c in segs:
        if c is None:
            continue
        ns = VOICINGS[spec["voicing"]](c, low)
        vel = 78 + rng.randint(-6, 6)
        pat = spec["pattern"]
        beats = (off - on) // q
        if pat == "sustain":
            for p in ns:
                m.note(CH, p, vel + rng.randint(-3, 3), on, off)
        elif pat == "beats":
            for b in range(beats):
                for p in ns:
                    m.note(CH, p, vel + (12 if b % 4 == 0 else 0) + rng.randint(-3, 3), on + b * q, on + (b + 1) * q)
        elif pat == "sync":
            cells = [0, 1.5, 2.5, 3.5, 4, 5.5, 6.5, 7.5]
            hits = [on + int(x * q) for x in cells if x < beats]
            for j, h in enumerate(hits):
                end = hits[j + 1] if j + 1 < len(hits) else off
                for p in ns:
                    m.note(CH, p, vel + (10 if j == 0 else 0) + rng.randint(-3, 3), h, end)
        elif pat == "arp":
            step = q // 2 if 60e6 / spec["us"] >= 110 else q // 4
            order = ns + ns[-2:0:-1] if len(ns) > 2 else ns
            k = 0
            for h in range(on, off, step):
                p = order[k % len(order)]
                m.note(CH, p, vel - 6 + (10 if h == on else 0) + rng.randint(-3, 3), h, off)
                k += 1
        elif pat == "strum":
            cells = [(0, False), (1, False), (1.5, True), (2.5, True), (3, False), (3.5, True)]
            step = m.ticks_of(strum_ms, on)
            strums = [(on + int((bar + x) * q), up) for bar in range(0, beats, 4) for x, up in cells
                      if bar + x < beats]
            for h, up in strums:
                order = list(reversed(ns[-4:])) if up else ns
                for j, p in enumerate(order):
                    m.note(CH, p, vel - (12 if up else 0) + (8 if h == on else 0) - 2 * j + rng.randint(-2, 2),
                           h + j * step, off)
        else:
            raise ValueError(pat)
        if spec["bass"]:
            bp = ns[0] - 12 if ns[0] - 12 >= 28 else ns[0]
            bp = bp - 12 if bp >= 52 else bp
            bpat = spec["bass_pattern"]
            if bpat == "hold":
                m.note(BASS, bp, 96, on, off)
            else:
                for b in range(beats):
                    p = bp + 12 if bpat == "octaves" and b % 2 == 1 and bp + 12 <= min(ns) else bp
                    m.note(BASS, p, 92 + (10 if b == 0 else 0), on + b * q, on + (b + 1) * q - 30)
    m.save(mid_path)
    # The labels are what sounds: every note in a segment belongs to its chord, the lowest
    # note of the segment is the chord's bass, every chord tone sounds, no note crosses a boundary.
    for on, off, lab, c in segs:
        inside = [n for n in m.notes if n[3] < off and n[4] > on]
        if c is None:
            assert not inside, (spec["name"], lab, on)
            continue
        assert all(on <= n[3] and n[4] <= off for n in inside), (spec["name"], lab)
        pcs = {n[1] % 12 for n in inside}
        assert pcs == set(chord_pcs(c[0], c[1])), (spec["name"], lab, pcs)
        assert min(n[1] for n in inside) % 12 == (c[0] + c[2]) % 12, (spec["name"], lab)
    lab_end = segs[-1][1]
    frames = int(round((m.sec(lab_end) + CHORD_TAIL_S) * RATE))
    lines = [f"{m.sec(on):.6f} {m.sec(off):.6f} {lab}" for on, off, lab, _c in segs]
    info = {
        "tempo_bpm": round(60e6 / spec["us"], 6), "key": f"{names[spec['tonic']]} {spec['mode']}",
        "program": GM[spec["program"]], "voicing": spec["voicing"], "pattern": spec["pattern"],
        "bass": GM[spec["bass_program"]] + f" ({spec['bass_pattern']})" if spec["bass"] else None,
        "chords": len(spec["chords"]), "rests": len(spec["gaps"]),
        "labelled_s": round(m.sec(lab_end), 6), "duration_s": round(frames / RATE, 4), "frames": frames,
    }
    return "\n".join(lines) + "\n", info, frames, [(lab, m.sec(off) - m.sec(on)) for on, off, lab, _c in segs]


# ---------------------------------------------------------------- key pieces (chorales)

def key_specs(keyref, corpus):
    with open(os.path.join(keyref, "keys.json")) as f:
        ref = json.load(f)["files"]
    with open(os.path.join(corpus, "manifest.json")) as f:
        counts = json.load(f)["files"]
    # Chorales: four parts or more (the one Bach file with fewer, bwv846, is the C major prelude).
    decided = sorted(n for n, e in ref.items() if n.startswith("bach/") and e.get("truth")
                     and counts.get(n, {}).get("music21", {}).get("parts", 0) >= 4)
    if len(decided) < N_KEYS:
        raise SystemExit(f"only {len(decided)} decided Bach chorales in {keyref}/keys.json; need {N_KEYS}")
    rng = random.Random("coda analysis set: keys v1")
    picked = [decided[(k * len(decided)) // N_KEYS] for k in range(N_KEYS)]
    specs = []
    for k, path in enumerate(picked):
        name = path.split("/")[-1].rsplit(".", 1)[0].replace(".", "_")
        program = 0 if k % 2 == 0 else (19 if k % 4 == 1 else 48)
        src = os.path.join(corpus, "files", path)
        if not os.path.isfile(src):
            raise SystemExit(f"{src} missing: run scripts/score_corpus.sh")
        specs.append({"name": name, "corpus_file": path, "src": src, "program": program,
                      "bpm": rng.randint(84, 108), "truth": ref[path]["truth"]})
    if len({s["name"] for s in specs}) != len(specs):
        raise SystemExit("two chorales map to one name")
    return specs


def build_chorale(spec, mid_path):
    import warnings
    from music21 import converter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse(spec["src"], forceSource=True)
        tmp = mid_path + ".music21.mid"
        score.write("midi", fp=tmp)
    tpb, events = read_smf(tmp)
    os.remove(tmp)
    us = int(round(60e6 / spec["bpm"]))
    m = Midi([(0, us)], tpb=tpb)
    # music21 gives parts with the same instrument one MIDI channel, where a unison of two
    # voices would cut itself short: each (track, channel) gets a channel of its own here.
    free = [c for c in range(16) if c != DRUM_CH]
    chan = {}
    for tr, t, b in events:
        st = b[0]
        if st == 0xFF or st & 0xF0 == 0xC0:  # metas (tempo, names, end) and programs: ours instead
            continue
        key = (tr, st & 0x0F)
        if key not in chan:
            if len(chan) == len(free):
                raise SystemExit(f"{spec['corpus_file']}: more than {len(free)} MIDI channels")
            chan[key] = free[len(chan)]
        m.raw(t, bytes([(st & 0xF0) | chan[key]]) + b[1:])
    channels = set(chan.values())
    for ch in sorted(channels):
        m.program(ch, spec["program"])
        m.cc(ch, 7, 100)
        m.cc(ch, 10, 64)
    m.save(mid_path)
    end = m.end_tick()
    frames = int(round((m.sec(end) + KEY_TAIL_S) * RATE))
    info = {"program": GM[spec["program"]], "tempo_bpm": round(60e6 / us, 6), "parts": len(score.parts),
            "midi_channels": len(channels), "duration_s": round(frames / RATE, 4), "frames": frames}
    return info, frames


# ---------------------------------------------------------------- rendering

def render(mid, wav, frames):
    """fluidsynth -> float stereo raw -> mono, cut or padded to `frames`, peak -1 dBFS, 16-bit WAV."""
    import numpy as np
    raw = wav + ".raw"
    try:
        p = subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", FLUID_GAIN, "-r", str(RATE),
             "-T", "raw", "-O", "float", "-E", "little", "-F", raw, SOUNDFONT, mid],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError(f"fluidsynth failed on {mid}: {p.stderr.decode(errors='replace')}")
        x = np.fromfile(raw, dtype="<f4").reshape(-1, 2).astype(np.float64).mean(axis=1)
    finally:
        if os.path.exists(raw):
            os.remove(raw)
    y = np.zeros(frames)
    n = min(frames, len(x))
    y[:n] = x[:n]
    peak = float(np.abs(y).max())
    if peak < 1e-4:
        raise RuntimeError(f"{wav}: silent render")
    gain = PEAK / peak
    pcm = np.round(y * gain * 32767).astype("<i2")
    rms = float(np.sqrt(np.mean((pcm / 32768.0) ** 2)))
    tmp = wav + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, wav)
    return {"gain": round(gain, 6), "rms_dbfs": round(20 * np.log10(max(rms, 1e-12)), 2),
            "rendered_s": round(len(x) / RATE, 3)}


def job(item):
    kind, name, spec, mid, wav, frames = item
    t0 = time.time()
    info = {}
    if kind == "keys":
        info, frames = build_chorale(spec, mid)
    r = render(mid, wav, frames)
    info.update(r)
    if r["rms_dbfs"] < -45:
        raise RuntimeError(f"{wav}: nearly silent ({r['rms_dbfs']} dBFS RMS)")
    return kind, name, info, round(time.time() - t0, 2)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def main(out):
    import importlib.metadata as md
    from multiprocessing import Pool
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import key_reference
    import score_corpus

    t0 = time.time()
    if not os.path.isfile(SOUNDFONT):
        raise SystemExit(f"soundfont not found: {SOUNDFONT} (Debian package fluid-soundfont-gm)")
    if md.version("music21") != MUSIC21_VERSION:
        raise SystemExit(f"music21 {md.version('music21')} is installed; this set needs {MUSIC21_VERSION}")
    corpus, keyref = score_corpus.default_dir(), key_reference.default_dir()
    if key_reference.check(corpus, keyref) != 0:
        raise SystemExit(f"the key reference {keyref} is missing or out of date: "
                         "run scripts/score_corpus.sh and scripts/key_reference.sh first")
    for d in ("tempo", "chords", "keys"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    try:
        os.remove(os.path.join(out, "manifest.json"))
    except FileNotFoundError:
        pass
    fluid_ver = subprocess.run(["fluidsynth", "-V"], capture_output=True, text=True).stdout.split("\n")[0]
    manifest = {
        "generator_version": GENERATOR_VERSION, "sample_rate": RATE,
        "tempo": [], "chords": [], "keys": {}, "files": {},
        "format": "WAV PCM 16-bit mono, peak -1 dBFS",
        "music21_version": md.version("music21"), "fluidsynth": fluid_ver.strip(),
        "soundfont": {"path": SOUNDFONT, "sha256": sha256(SOUNDFONT)},
        "fluidsynth_args": f"-ni -q -g {FLUID_GAIN} -r {RATE} -T raw -O float (reverb and chorus on)",
        "notes": {
            "tempo": f"beats[0] = downbeats[0] = {TEMPO_LEAD_IN_S} s (silent lead-in); the last beat is "
                     f"the final chord's downbeat, {TEMPO_TAIL_S} s before the end; tempo_bpm is the "
                     "quarter-note tempo (every beat is a quarter, 3/4 and 4/4)",
            "chords": "Harte labels (mir_eval); N for silence; the .lab ends at the last chord's "
                      f"note-off, {CHORD_TAIL_S} s before the end of the audio",
            "keys": "tonic_pc: 0 = C; the truth is the key reference's (key signature + final bass)",
            "onsets": "fluidsynth starts a note 3-10 ms after its MIDI time (64-sample blocks plus "
                      "the sample's attack); the annotations are the MIDI times",
        },
        "details": {"tempo": {}, "chords": {}, "keys": {}},
    }
    items = []
    with tempfile.TemporaryDirectory(prefix="analysis-set-") as tmp:
        for s in tempo_specs():
            mid = os.path.join(tmp, s["name"] + ".mid")
            ann, info, frames = build_tempo(s, mid)
            with open(os.path.join(out, "tempo", s["name"] + ".json"), "w") as f:
                json.dump(ann, f)
                f.write("\n")
            manifest["tempo"].append(s["name"])
            manifest["details"]["tempo"][s["name"]] = info
            items.append(("tempo", s["name"], None, mid, os.path.join(out, "tempo", s["name"] + ".wav"), frames))
        qual, inv, total = {}, 0, 0
        for s in chord_specs():
            mid = os.path.join(tmp, s["name"] + ".mid")
            lab, info, frames, segs = build_chords(s, mid)
            with open(os.path.join(out, "chords", s["name"] + ".lab"), "w") as f:
                f.write(lab)
            for lb, _d in segs:
                if lb == "N":
                    qual["N"] = qual.get("N", 0) + 1
                    continue
                qq = lb.split(":")[1].split("/")[0]
                qual[qq] = qual.get(qq, 0) + 1
                inv += "/" in lb
                total += 1
            manifest["chords"].append(s["name"])
            manifest["details"]["chords"][s["name"]] = info
            items.append(("chords", s["name"], None, mid, os.path.join(out, "chords", s["name"] + ".wav"), frames))
        manifest["details"]["chord_counts"] = dict(sorted(qual.items()), inversions=inv, chords=total)
        for q in QUALITIES:
            if qual.get(q, 0) < 5:
                raise SystemExit(f"chord quality {q} only {qual.get(q, 0)} times")
        ks = key_specs(keyref, corpus)
        for s in ks:
            manifest["keys"][s["name"]] = {"corpus_file": s["corpus_file"], "tonic_pc": s["truth"]["tonic_pc"],
                                           "mode": s["truth"]["mode"]}
            items.append(("keys", s["name"], s, os.path.join(tmp, s["name"] + ".mid"),
                          os.path.join(out, "keys", s["name"] + ".wav"), None))
        # chorales first (the longest jobs), then the rest
        items.sort(key=lambda it: it[0] != "keys")
        print(f"  {len(manifest['tempo'])} tempo, {len(manifest['chords'])} chord and {len(ks)} key pieces: "
              f"rendering with {PROCESSES} processes", flush=True)
        done = {}
        with Pool(PROCESSES) as pool:
            for kind, name, info, secs in pool.imap_unordered(job, items):
                d = manifest["details"][kind].setdefault(name, {})
                d.update(info)
                done[kind] = done.get(kind, 0) + 1
        manifest["details"]["keys"] = {s["name"]: manifest["details"]["keys"].get(s["name"], {}) for s in ks}
        for kind in ("tempo", "chords", "keys"):
            for name, d in manifest["details"][kind].items():
                if "gain" not in d:
                    raise SystemExit(f"{kind}/{name}: not rendered")
    for f in files_of(manifest):
        manifest["files"][f] = os.path.getsize(os.path.join(out, f))
    manifest["generation_s"] = round(time.time() - t0, 1)
    tmpm = os.path.join(out, "manifest.json.tmp")
    with open(tmpm, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.replace(tmpm, os.path.join(out, "manifest.json"))
    dur = {k: sum(d["duration_s"] for d in manifest["details"][k].values()) for k in ("tempo", "chords", "keys")}
    counts = manifest["details"]["chord_counts"]
    print("  audio: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in dur.items())
          + f"; chords: {counts['chords']} ({counts['inversions']} inverted), "
          + " ".join(f"{q} {counts.get(q, 0)}" for q in list(QUALITIES) + ["N"]))
    print(f"  {len(manifest['files'])} files, {sum(manifest['files'].values()) / 1e6:.0f} MB, "
          f"{time.time() - t0:.1f} s in all")


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
