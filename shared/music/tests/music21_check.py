#!/usr/bin/env python3
"""Cross-check a MusicXML file against its rewrite with music21.

Usage: music21_check.py FILE_IN FILE_OUT

Reads both files with music21 (pip install music21==10.5.1) and prints one
JSON object comparing, in total and per part (in order):

- notes: sounding pitches; each chord member counts, a note tied from the
  previous one (tie "stop" or "continue") does not; grace notes count;
- unpitched: unpitched (percussion) notes, counted the same way;
- rests: rest objects (music21 may add hidden rests to fill voices, so both
  sides are read the same way and only compared with each other);
- lyrics: lyric syllables with non-empty text;
- measures: measures per part.

Chord symbols (music21 reads them as chords) are not counted. music21 splits a
part with several staves into one part per staff; both files are split the
same way. music21 cannot read score-timewise files (exit 2), and refuses bytes
that are not UTF-8 without a declaration saying so: such an input is read
again decoded as Windows-1252, as Coda's reader does, and the JSON says so.

Exit status: 0 when the counts agree, 1 when they differ, 2 when a file
cannot be read by music21 (the JSON says which and why).

FILE_OUT is typically produced by the Rust example:
    cargo run -p coda-music --example roundtrip -- FILE_IN FILE_OUT
"""

import json
import sys
import warnings


def _continues(tie):
    """Whether a tie makes the note a continuation (it does not sound again)."""
    return tie is not None and tie.type in ("stop", "continue")


def counts(path):
    from music21 import chord, converter, harmony, note, stream

    score = converter.parse(path, format="musicxml", forceSource=True)
    parts = list(score.parts) if len(getattr(score, "parts", [])) else [score]
    per_part = []
    for part in parts:
        c = {"notes": 0, "unpitched": 0, "rests": 0, "lyrics": 0, "measures": 0}
        c["measures"] = len(part.getElementsByClass(stream.Measure))
        for el in part.recurse().notesAndRests:
            if isinstance(el, harmony.Harmony):
                continue  # chord symbols are chords to music21, not notes
            if isinstance(el, note.Rest):
                c["rests"] += 1
            elif isinstance(el, chord.ChordBase):
                # Chords and percussion chords: each member counts on its own.
                for member in el.notes:
                    # The member's own tie: Chord.tie is the first tied member's, and
                    # would make untied members of a partly tied chord continuations.
                    tie = member.tie
                    if _continues(tie):
                        continue
                    key = "unpitched" if isinstance(member, note.Unpitched) else "notes"
                    c[key] += 1
            elif not _continues(el.tie):
                key = "unpitched" if isinstance(el, note.Unpitched) else "notes"
                c[key] += 1
            for lyr in getattr(el, "lyrics", None) or []:
                if (lyr.text or "").strip():
                    c["lyrics"] += 1
        per_part.append(c)
    total = {k: sum(p[k] for p in per_part) for k in ("notes", "unpitched", "rests", "lyrics")}
    total["parts"] = len(per_part)
    return {"total": total, "parts": per_part}


def _as_utf8_copy(path):
    """A temporary UTF-8 copy of a file that is not UTF-8 (decoded as Windows-1252)."""
    import re
    import tempfile

    with open(path, "rb") as f:
        raw = f.read()
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    text = raw.decode("cp1252", errors="replace")
    text = re.sub(r'(<\?xml[^>]*?)\s+encoding\s*=\s*["\'][^"\']*["\']', r"\1", text, count=1)
    tmp = tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".musicxml", delete=False)
    with tmp:
        tmp.write(text)
    return tmp.name


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    file_in, file_out = argv[1], argv[2]
    result = {"in": file_in, "out": file_out}
    read = {}
    for side, path in (("input", file_in), ("output", file_out)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read[side] = counts(path)
        except Exception as e:  # music21 raises many kinds of errors
            read[side] = None
            result[side + "_error"] = f"{type(e).__name__}: {e}"
            copy = _as_utf8_copy(path)
            if copy is not None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        read[side] = counts(copy)
                    del result[side + "_error"]
                    result[side + "_note"] = "not UTF-8: read as Windows-1252 (as Coda's reader does)"
                except Exception as e2:
                    result[side + "_error"] += f"; as Windows-1252: {type(e2).__name__}: {e2}"
                finally:
                    import os

                    os.unlink(copy)
    result["input"] = read.get("input")
    result["output"] = read.get("output")
    if read.get("input") is None or read.get("output") is None:
        result["same"] = None
        print(json.dumps(result, ensure_ascii=False))
        return 2
    diffs = []
    for key, a in read["input"]["total"].items():
        b = read["output"]["total"].get(key)
        if a != b:
            diffs.append(f"total {key}: {a} != {b}")
    for i, (pa, pb) in enumerate(zip(read["input"]["parts"], read["output"]["parts"])):
        for key, a in pa.items():
            if pb.get(key) != a:
                diffs.append(f"part {i + 1} {key}: {a} != {pb.get(key)}")
    result["same"] = not diffs
    result["differences"] = diffs
    print(json.dumps(result, ensure_ascii=False))
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
