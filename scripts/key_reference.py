#!/usr/bin/env python3
"""Prepares the key reference that coda-theory's key test reads (shared/theory/tests/theory/keys.rs).

    key_reference.py CORPUS_DIR [OUT_DIR]   read every file of the score corpus set
                                            (scripts/score_corpus.sh) with music21==10.5.1 and
                                            write OUT_DIR/keys.json
    key_reference.py --check CORPUS_DIR [OUT_DIR]
                                            exit 0 when OUT_DIR/keys.json is of this generator
                                            version and covers the set's manifest (standard
                                            library only)
    key_reference.py --default-dir          print the default OUT_DIR

OUT_DIR defaults to $CODA_KEY_REFERENCE, else ${XDG_CACHE_HOME:-~/.cache}/coda-tests/
key-reference-vN (N = GENERATOR_VERSION): outside the clone, so clones on one machine share it.

For each file, read with converter.parse(path, forceSource=True):

  fifths      the first key signature's sharps (negative: flats); null when the score has none
  final_bass  the pitch class (0 = C) of the lowest pitch sounding at the score's last onset
              (held notes included)
  truth       the key the score decides, or null: the major key of the signature when the
              final bass note is its tonic, the relative minor when it is that one's tonic
              (the acceptance rule of the analysis issue); null without a signature
  music21     music21's own analyze('key') (Aarden-Essen weights, music21's default for 'key'):
              tonic pitch class, name and mode
  pcs         music21's duration-weighted pitch-class histogram (quarter lengths; every note of
              s.flatten().notes, each chord member at the chord's length), so the Rust test can
              tell a histogram difference from a key-finding difference

Work runs in 2 processes, largest files first; a file music21 cannot read is recorded with
its error and left out of the comparison.
"""
import json
import os
import sys
import time
import warnings

GENERATOR_VERSION = 1
MUSIC21_VERSION = "10.5.1"
PROCESSES = 2

MAJOR_TONIC = {f: (7 * f) % 12 for f in range(-7, 8)}  # C = 0; G (1 sharp) = 7; F (1 flat) = 5


def default_dir():
    env = os.environ.get("CODA_KEY_REFERENCE")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "coda-tests", f"key-reference-v{GENERATOR_VERSION}")


def corpus_files(corpus):
    with open(os.path.join(corpus, "manifest.json")) as f:
        m = json.load(f)
    return m["files"]


def check(corpus, out):
    try:
        with open(os.path.join(out, "keys.json")) as f:
            k = json.load(f)
        if k.get("generator_version") != GENERATOR_VERSION:
            return 1
        if k.get("music21_version") != MUSIC21_VERSION:
            return 1
        files = corpus_files(corpus)
        if set(k["files"]) != set(files):
            return 1
        if any(k["files"][n].get("sha256") != e["sha256"] for n, e in files.items()):
            return 1
        return 0
    except (OSError, ValueError, KeyError, TypeError):
        return 1


def decide(fifths, bass):
    if fifths is None or bass is None:
        return None
    major = MAJOR_TONIC[max(-7, min(7, fifths))]
    minor = (major + 9) % 12
    if bass == major:
        return {"tonic_pc": major, "mode": "major"}
    if bass == minor:
        return {"tonic_pc": minor, "mode": "minor"}
    return None


def analyse(path):
    from music21 import converter, harmony, key

    s = converter.parse(path, forceSource=True)
    flat = s.flatten()
    sigs = list(flat.getElementsByClass(key.KeySignature))
    fifths = int(sigs[0].sharps) if sigs else None
    # Chord symbols are chords to music21 but do not sound: like coda_music, leave them out.
    notes = [n for n in flat.notes if not isinstance(n, harmony.ChordSymbol)]
    pcs = [0.0] * 12
    for n in notes:
        for p in n.pitches:
            pcs[p.pitchClass] += float(n.quarterLength)
    bass = None
    if notes:
        # What sounds at the last onset, held notes included (a cello's long final note).
        last = max(float(n.offset) for n in notes)
        sounding = [
            p
            for n in notes
            if float(n.offset) <= last < float(n.offset) + max(float(n.quarterLength), 1e-9)
            for p in n.pitches
        ]
        if sounding:
            bass = min(sounding, key=lambda p: p.ps).pitchClass
    k = s.analyze("key")
    return {
        "fifths": fifths,
        "final_bass": bass,
        "truth": decide(fifths, bass),
        "music21": {"tonic_pc": k.tonic.pitchClass, "name": k.tonic.name, "mode": k.mode},
        "pcs": pcs,
    }


def work(item):
    name, path, digest = item
    warnings.simplefilter("ignore")
    started = time.time()
    try:
        entry = analyse(path)
    except Exception as e:  # noqa: BLE001 -- any reader failure is data, not a crash
        entry = {"error": f"{type(e).__name__}: {e}"}
    entry["sha256"] = digest
    entry["seconds"] = round(time.time() - started, 3)
    return name, entry


def build(corpus, out):
    import music21
    from multiprocessing import Pool

    if music21.__version__ != MUSIC21_VERSION:
        sys.exit(f"music21 {music21.__version__} is installed; this set needs {MUSIC21_VERSION}")
    files = corpus_files(corpus)
    items = sorted(
        ((n, os.path.join(corpus, "files", n), e["sha256"]) for n, e in files.items()),
        key=lambda i: -files[i[0]]["size"],
    )
    started = time.time()
    with Pool(PROCESSES) as pool:
        results = dict(pool.imap_unordered(work, items))
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, "keys.json.tmp")
    with open(tmp, "w") as f:
        json.dump(
            {
                "generator_version": GENERATOR_VERSION,
                "music21_version": MUSIC21_VERSION,
                "files": dict(sorted(results.items())),
            },
            f,
            indent=1,
        )
    os.replace(tmp, os.path.join(out, "keys.json"))
    decided = sum(1 for e in results.values() if e.get("truth"))
    right = sum(
        1
        for e in results.values()
        if e.get("truth")
        and (e["music21"]["tonic_pc"], e["music21"]["mode"])
        == (e["truth"]["tonic_pc"], e["truth"]["mode"])
    )
    failed = sum(1 for e in results.values() if "error" in e)
    print(
        f"key reference: {len(results)} files in {time.time() - started:.0f} s, {decided} decided "
        f"by signature and final bass, music21 right on {right} ({100 * right / max(decided, 1):.1f} %), "
        f"{failed} unreadable by music21"
    )


def main(argv):
    if argv[:1] == ["--default-dir"]:
        print(default_dir())
        return 0
    if argv[:1] == ["--check"]:
        if len(argv) < 2:
            sys.exit("usage: key_reference.py --check CORPUS_DIR [OUT_DIR]")
        return check(argv[1], argv[2] if len(argv) > 2 else default_dir())
    if not argv:
        sys.exit(__doc__)
    build(argv[0], argv[1] if len(argv) > 1 else default_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
