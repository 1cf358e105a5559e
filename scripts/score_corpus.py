#!/usr/bin/env python3
"""Prepares the music21 corpus set that coda-music's corpus test reads (tests/music/corpus.rs).

    score_corpus.py [OUT_DIR]              copy the corpus files, count them with music21
                                           (needs music21==10.5.1), write OUT_DIR/manifest.json
    score_corpus.py --check [OUT_DIR]      exit 0 when OUT_DIR holds a complete set of this
                                           generator version (standard library only)
    score_corpus.py --default-dir          print the default OUT_DIR
    score_corpus.py --reread DIR [OUT_DIR] music21's counts of every MusicXML file in DIR (the
                                           files Coda wrote), printed as one JSON object by file
                                           name; cached by SHA-256 in OUT_DIR/reread/, so files
                                           that did not change cost nothing the next time

OUT_DIR defaults to $CODA_SCORE_CORPUS, else ${XDG_CACHE_HOME:-~/.cache}/coda-tests/
music21-corpus-vN (N = GENERATOR_VERSION): outside the clone, so clones on one machine share it.

Every *.mxl, *.xml and *.musicxml file of the music21 10.5.1 corpus (the installed package,
from the PyPI wheel; nothing else is fetched) is copied to OUT/files/<corpus path>.
manifest.json, written last, lists each with its size, its SHA-256 and music21's counts,
read with converter.parse(path, forceSource=True) and counted under coda_music::stats's rules:

  notes     sounding pitches: each chord member counts, a note tied from the previous one
            (tie "stop" or "continue" on a key whose tie an earlier note of the part started)
            counts 0, grace notes count; unpitched (percussion) notes and chord symbols count
            0, and so do cue notes (<cue/>: they do not sound)
  rests     rests
  lyrics    lyric syllables with non-empty text (on notes, chords and rests)
  measures  measures of the first part
  parts     parts

Where music21's own convention differs, the count compares like with like and music21's own
figure is kept beside it (CONVENTIONS, also written into the manifest). The hooks below only
note which objects music21 made from what; they do not change what music21 builds.
Work runs in 2 processes, largest files first.
"""
import hashlib
import json
import os
import shutil
import sys
import time
import warnings

# Bump to invalidate every cached set (the directory name and the Rust test's constant follow
# it), and so the reread cache, whenever counts() counts anything differently.
GENERATOR_VERSION = 1
MUSIC21_VERSION = "10.5.1"
EXTENSIONS = (".mxl", ".xml", ".musicxml")
PROCESSES = 2

RULES = {
    "notes": "sounding pitches: each chord member counts; a note tied from the previous one "
             "(tie stop or continue, when an earlier note of the part on the same MIDI key "
             "started a tie no stop has taken) counts 0; grace notes count; unpitched notes, "
             "chord symbols and cue notes count 0",
    "rests": "rests",
    "lyrics": "lyric syllables with non-empty text, on notes, chords and rests",
    "measures": "measures of the first part",
    "parts": "parts",
}

CONVENTIONS = {
    "music21_parts": "music21 splits a part with several staves into one PartStaff per staff; "
                     "'parts' counts the MusicXML parts (each PartStaff is grouped with the part "
                     "it was split from, noted in PartParser.separateOutPartStaves), "
                     "'music21_parts' is music21's own count. Measures are those of music21's "
                     "first part, which is the first part's first staff",
    "chord_symbols": "music21 reads <harmony> as a ChordSymbol, a Chord, so its own note count "
                     "would include their pitches; they are left out of 'notes' and counted here",
    "forward_rests": "in a file written by Finale, music21 makes every <forward> a hidden rest "
                     "(MeasureParser.xmlForward); they are not rests in the file, so 'rests' "
                     "leaves them out and they are counted here",
    "staff_copies": "in a part with several staves, music21 puts a deep copy of each note or rest "
                    "that has no <staff> into every staff after the first; the copies (the objects "
                    "in a PartStaff that were not in the part before the split) are counted here, "
                    "not in 'notes', 'rests' or 'lyrics'",
    "cue_notes": "music21 does not read <cue/> and counts cue notes as notes; they do not sound, "
                 "so 'notes' leaves them out (noted in MeasureParser.xmlToSimpleNote) and they "
                 "are counted here",
    "unpitched": "unpitched (percussion) notes, counted as notes are; not in 'notes'",
    "lone_tie_stops": "music21 takes every tie stop as a continuation; a stop with no tie open "
                      "on its key (a lone <tie type=stop>, or a notational <tied> that a writer "
                      "made a <tie>) sounds, as in coda_music::stats, and is counted in "
                      "'notes' and here",
}


def default_dir():
    """Outside the clone, so a fresh clone on the same machine reuses it; keyed by the generator version."""
    env = os.environ.get("CODA_SCORE_CORPUS")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "coda-tests", f"music21-corpus-v{GENERATOR_VERSION}")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def check(out):
    """Exit status 0 when OUT holds a complete set made by this generator version."""
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        if m.get("generator_version") != GENERATOR_VERSION:
            return 1
        if m.get("music21_version") != MUSIC21_VERSION or not m["files"]:
            return 1
        for name, entry in m["files"].items():
            path = os.path.join(out, "files", name)
            if os.path.getsize(path) != entry["size"] or sha256(path) != entry["sha256"]:
                return 1
            if "music21" not in entry:
                return 1
        return 0
    except (OSError, ValueError, KeyError, TypeError):
        return 1


# ---------------------------------------------------------------- counting with music21

def _continues(tie):
    """Whether a tie makes the note a continuation (it does not sound again)."""
    return tie is not None and tie.type in ("stop", "continue")


def counts(path):
    """music21's counts of one MusicXML or MXL file, under the rules and conventions above."""
    from music21 import chord, converter, harmony, note, stream
    from music21.musicxml import xmlToM21 as x

    # ids of what music21 made from what; `keep` holds the objects, so no id is reused.
    forward, cue, copies, split_from, keep = set(), set(), set(), {}, []
    mp, pp = x.MeasureParser, x.PartParser
    orig_forward, orig_simple, orig_split = mp.xmlForward, mp.xmlToSimpleNote, pp.separateOutPartStaves

    def xml_forward(self, mx):
        before = self.lastForwardTagCreatedByFinale
        orig_forward(self, mx)
        made = self.lastForwardTagCreatedByFinale
        if made is not None and made is not before:
            forward.add(id(made))
            keep.append(made)

    def xml_to_simple_note(self, mx, *a, **k):
        n = orig_simple(self, mx, *a, **k)
        if mx.find("cue") is not None:
            cue.add(id(n))
            keep.append(n)
        return n

    def separate_out_part_staves(self):
        originals = {id(e) for e in self.stream.recurse().notesAndRests}
        staves = orig_split(self)
        for s in staves:
            split_from[id(s)] = self.partId
            # What is in a staff but not in the part before the split is a copy made by it.
            copies.update(id(e) for e in s.recurse().notesAndRests if id(e) not in originals)
        keep.extend(staves)
        return staves

    mp.xmlForward, mp.xmlToSimpleNote = xml_forward, xml_to_simple_note
    pp.separateOutPartStaves = separate_out_part_staves
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(path, forceSource=True)
    finally:
        mp.xmlForward, mp.xmlToSimpleNote = orig_forward, orig_simple
        pp.separateOutPartStaves = orig_split

    c = {k: 0 for k in ("notes", "rests", "lyrics", "chord_symbols", "forward_rests",
                        "staff_copies", "cue_notes", "unpitched", "lone_tie_stops")}
    parts = list(score.parts)
    sources = []
    open_ties = {}  # per source part: MIDI key -> ties started and not yet stopped
    for p in parts:
        key = split_from.get(id(p), id(p))
        if key not in sources:
            sources.append(key)
        open_here = open_ties.setdefault(key, {})
        for el in p.recurse().notesAndRests:
            if id(el) in copies:
                c["staff_copies"] += 1
                continue
            if isinstance(el, harmony.Harmony):
                c["chord_symbols"] += 1
                continue
            if isinstance(el, note.Rest):
                c["forward_rests" if id(el) in forward else "rests"] += 1
            # A chord's ties are its members' (Chord.tie is only the first tied member's).
            members = [] if isinstance(el, note.Rest) else (
                el.notes if isinstance(el, chord.ChordBase) else [el])
            for n in members:
                # A tie stop continues a sound only when an earlier note on its key started
                # a tie not yet stopped (music21 does not check; coda_music::stats does).
                k = n.pitch.midi if hasattr(n, "pitch") else None
                continues = _continues(n.tie) and open_here.get(k, 0) > 0
                if continues:
                    open_here[k] -= 1
                elif _continues(n.tie):
                    c["lone_tie_stops"] += 1
                if n.tie is not None and n.tie.type in ("start", "continue"):
                    open_here[k] = open_here.get(k, 0) + 1
                if continues:
                    continue
                if id(n) in cue or id(el) in cue:
                    c["cue_notes"] += 1
                elif isinstance(n, note.Unpitched):
                    c["unpitched"] += 1
                else:
                    c["notes"] += 1
            for lyr in getattr(el, "lyrics", None) or []:
                if (lyr.text or "").strip():
                    c["lyrics"] += 1
    c["parts"] = len(sources)
    c["music21_parts"] = len(parts)
    c["measures"] = len(parts[0].getElementsByClass(stream.Measure)) if parts else 0
    return c


def _work(job):
    name, path = job
    try:
        return name, counts(path), None
    except Exception as e:  # music21 raises many kinds of errors
        return name, None, f"{type(e).__name__}: {e}"


def count_all(jobs, progress=None):
    """{name: counts or {"error": ...}} for (name, path) jobs, in PROCESSES processes, largest first."""
    from multiprocessing import get_context

    jobs = sorted(jobs, key=lambda j: -os.path.getsize(j[1]))
    out = {}
    if not jobs:
        return out
    # fork: the workers start with music21 imported once; a fresh worker every 25 files
    # keeps music21's caches from growing without bound.
    ctx = get_context("fork")
    with ctx.Pool(min(PROCESSES, len(jobs)), maxtasksperchild=25) as pool:
        for i, (name, c, err) in enumerate(pool.imap_unordered(_work, jobs, chunksize=1), 1):
            out[name] = c if c is not None else {"error": err}
            if progress and (i % 50 == 0 or i == len(jobs)):
                progress(i, len(jobs))
    return out


# ---------------------------------------------------------------- the set

def corpus_files():
    """(corpus path, absolute path) of every MusicXML/MXL file in the installed music21 corpus."""
    import importlib.metadata as md

    import music21

    version = md.version("music21")
    if version != MUSIC21_VERSION:
        raise SystemExit(f"music21 {version} is installed; the set needs music21=={MUSIC21_VERSION}")
    root = os.path.join(os.path.dirname(music21.__file__), "corpus")
    found = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            if f.lower().endswith(EXTENSIONS):
                full = os.path.join(d, f)
                found.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
    return root, found


def main(out):
    t0 = time.time()
    import music21  # noqa: F401  (fail before touching OUT when music21 is missing)

    root, found = corpus_files()
    if not found:
        raise SystemExit(f"no MusicXML or MXL files under {root}")
    os.makedirs(out, exist_ok=True)
    try:
        os.remove(os.path.join(out, "manifest.json"))
    except FileNotFoundError:
        pass
    files_dir = os.path.join(out, "files")
    shutil.rmtree(files_dir, ignore_errors=True)
    entries = {}
    for name, full in found:
        dst = os.path.join(files_dir, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(full, dst)
        entries[name] = {"size": os.path.getsize(dst), "sha256": sha256(dst)}
    print(f"  {len(found)} files copied from {root}; counting with music21 in {PROCESSES} processes",
          flush=True)

    def progress(i, n):
        print(f"  {i}/{n} counted ({time.time() - t0:.0f} s)", flush=True)

    counted = count_all([(n, os.path.join(files_dir, n)) for n in entries], progress)
    failed = sorted(n for n, c in counted.items() if "error" in c)
    if failed:
        raise SystemExit("music21 could not read: " + "; ".join(f"{n}: {counted[n]['error']}" for n in failed))
    for name in entries:
        entries[name]["music21"] = counted[name]
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "music21_version": MUSIC21_VERSION,
        "source": f"the corpus of the music21=={MUSIC21_VERSION} package (PyPI wheel): every "
                  + ", ".join("*" + e for e in EXTENSIONS) + " file",
        "counted_with": "music21.converter.parse(path, forceSource=True)",
        "rules": RULES,
        "conventions": CONVENTIONS,
        "files": entries,
        "generation_s": round(time.time() - t0, 1),
    }
    tmp = os.path.join(out, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "manifest.json"))
    total = {k: sum(e["music21"][k] for e in entries.values())
             for k in ("parts", "measures", "notes", "rests", "lyrics")}
    print(f"  {len(entries)} files, " + ", ".join(f"{v} {k}" for k, v in total.items())
          + f"; {time.time() - t0:.1f} s in all")


def reread(directory, out):
    """Prints music21's counts of every MusicXML file in DIRECTORY, cached by SHA-256 under OUT/reread."""
    cache = os.path.join(out, "reread")
    os.makedirs(cache, exist_ok=True)
    result, todo = {}, []
    for f in sorted(os.listdir(directory)):
        path = os.path.join(directory, f)
        if not (os.path.isfile(path) and f.lower().endswith(EXTENSIONS)):
            continue
        digest = sha256(path)
        hit = os.path.join(cache, digest + ".json")
        try:
            with open(hit) as fh:
                result[f] = json.load(fh)
            continue
        except (OSError, ValueError):
            pass
        todo.append((f, path, digest))
    if todo:
        counted = count_all([(f, path) for f, path, _ in todo])
        for f, _path, digest in todo:
            result[f] = counted[f]
            tmp = os.path.join(cache, f"{digest}.json.{os.getpid()}")
            with open(tmp, "w") as fh:
                json.dump(counted[f], fh)
            os.replace(tmp, os.path.join(cache, digest + ".json"))
    print(f"music21 re-read {len(result)} files: {len(result) - len(todo)} cached, {len(todo)} counted",
          file=sys.stderr)
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "--default-dir":
        print(default_dir())
        sys.exit(0)
    if a and a[0] == "--check":
        sys.exit(check(a[1] if len(a) > 1 else default_dir()))
    if a and a[0] == "--reread" and len(a) in (2, 3):
        reread(a[1], a[2] if len(a) > 2 else default_dir())
        sys.exit(0)
    if len(a) > 1 or (a and a[0].startswith("-")):
        sys.exit(__doc__)
    main(a[0] if a else default_dir())
