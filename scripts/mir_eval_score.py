#!/usr/bin/env python3
"""Scores tempo, beat and chord estimates against the analysis set (scripts/analysis_set.sh) with mir_eval.

    mir_eval_score.py beats REF_DIR EST_DIR     e.g. REF_DIR = <set>/tempo
    mir_eval_score.py chords REF_DIR EST_DIR    e.g. REF_DIR = <set>/chords

Needs mir_eval==0.8.2 (PyPI; scripts/test.sh installs it into .venv). Prints one JSON object
on stdout; warnings and errors go to stderr. Exit status 1 on an error (a missing directory,
no estimates, an estimate without its reference, an unreadable file or label), else 0 --
never because of a low score.

beats: every EST_DIR/NAME.json ({"tempo_bpm": float, "beats": [seconds, ...]}) against
  REF_DIR/NAME.json. Beat F-measure: mir_eval.beat.f_measure (+-70 ms window) after
  mir_eval.beat.trim_beats on both lists (beats before 5 s are left out, as is standard).
  Tempo: right when |est - ref| <= 4 % of the reference tempo (no octave allowance).
    {"items": {NAME: {"f_measure", "tempo_est", "tempo_ref", "tempo_ok"}},
     "mean_f_measure", "tempo_ok_fraction", "n"}

chords: every EST_DIR/NAME.lab (lines "start end label", Harte syntax, N for no chord)
  against REF_DIR/NAME.lab, as mir_eval.chord.evaluate does: the estimate is cut or padded
  with N to the reference's span (mir_eval.util.adjust_intervals), both are split on the
  union of their boundaries (mir_eval.util.merge_labeled_intervals), and each comparison
  (majmin, root, thirds, mirex) is mir_eval.chord.weighted_accuracy with the segments'
  durations as weights. majmin leaves out reference chords that are neither major nor minor
  triads at heart (dim, aug, sus2, sus4); 7, maj7 and min7 count as maj or min. Totals weight
  each item by its duration that the comparison counts.
    {"items": {NAME: {"majmin", "root", "thirds", "mirex", "duration"}},
     "majmin", "root", "thirds", "mirex", "duration", "n"}
"""
import json
import os
import sys

MIR_EVAL_VERSION = "0.8.2"
TEMPO_TOLERANCE = 0.04
CHORD_METRICS = ("majmin", "root", "thirds", "mirex")


def die(msg):
    print(f"mir_eval_score: {msg}", file=sys.stderr)
    sys.exit(1)


def need_mir_eval():
    try:
        import mir_eval  # noqa: F401
    except ImportError:
        die(f"mir_eval is not installed in this Python ({sys.executable}); run scripts/test.sh "
            f"(it installs mir_eval=={MIR_EVAL_VERSION} into .venv), or use .venv/bin/python")
    return mir_eval


def estimates(ref_dir, est_dir, ext):
    for d in (ref_dir, est_dir):
        if not os.path.isdir(d):
            die(f"no such directory: {d}")
    names = sorted(f[: -len(ext)] for f in os.listdir(est_dir) if f.endswith(ext))
    if not names:
        die(f"no *{ext} estimates in {est_dir}")
    missing = [n for n in names if not os.path.isfile(os.path.join(ref_dir, n + ext))]
    if missing:
        die(f"no reference in {ref_dir} for {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return names


def load_beats(path, need_tempo):
    import numpy as np
    try:
        with open(path) as f:
            d = json.load(f)
        beats = np.asarray([float(b) for b in d["beats"]], dtype=float)
        tempo = d.get("tempo_bpm")
        tempo = None if tempo is None else float(tempo)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        die(f"{path}: unreadable ({type(e).__name__}: {e}); want {{\"tempo_bpm\": float, \"beats\": [s, ...]}}")
    if need_tempo and (tempo is None or not tempo > 0):
        die(f"{path}: no positive tempo_bpm")
    if beats.size and (not np.all(np.isfinite(beats)) or np.any(np.diff(beats) <= 0) or beats[0] < 0):
        die(f"{path}: beats must be finite, non-negative and strictly increasing")
    return tempo, beats


def score_beats(ref_dir, est_dir):
    mir_eval = need_mir_eval()
    items = {}
    for n in estimates(ref_dir, est_dir, ".json"):
        t_ref, b_ref = load_beats(os.path.join(ref_dir, n + ".json"), True)
        t_est, b_est = load_beats(os.path.join(est_dir, n + ".json"), False)
        f = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(b_ref), mir_eval.beat.trim_beats(b_est))
        ok = t_est is not None and abs(t_est - t_ref) <= TEMPO_TOLERANCE * t_ref
        items[n] = {"f_measure": round(float(f), 6), "tempo_est": t_est, "tempo_ref": t_ref,
                    "tempo_ok": bool(ok)}
    k = len(items)
    return {
        "items": items,
        "mean_f_measure": round(sum(i["f_measure"] for i in items.values()) / k, 6),
        "tempo_ok_fraction": round(sum(i["tempo_ok"] for i in items.values()) / k, 6),
        "n": k,
    }


def load_lab(mir_eval, path):
    try:
        intervals, labels = mir_eval.io.load_labeled_intervals(path)
        mir_eval.util.validate_intervals(intervals)
        mir_eval.chord.validate(labels, labels)
    except (OSError, ValueError, IndexError, mir_eval.chord.InvalidChordException) as e:
        die(f"{path}: unreadable ({type(e).__name__}: {e})")
    if len(labels) == 0:
        die(f"{path}: no segments")
    return intervals, labels


def score_chords(ref_dir, est_dir):
    mir_eval = need_mir_eval()
    import numpy as np
    ch, util = mir_eval.chord, mir_eval.util
    compare = {"majmin": ch.majmin, "root": ch.root, "thirds": ch.thirds, "mirex": ch.mirex}
    items, num, den = {}, dict.fromkeys(CHORD_METRICS, 0.0), dict.fromkeys(CHORD_METRICS, 0.0)
    total = 0.0
    for n in estimates(ref_dir, est_dir, ".lab"):
        ref_i, ref_l = load_lab(mir_eval, os.path.join(ref_dir, n + ".lab"))
        est_i, est_l = load_lab(mir_eval, os.path.join(est_dir, n + ".lab"))
        est_i, est_l = util.adjust_intervals(est_i, est_l, ref_i.min(), ref_i.max(),
                                             ch.NO_CHORD, ch.NO_CHORD)
        intervals, r_l, e_l = util.merge_labeled_intervals(ref_i, ref_l, est_i, est_l)
        durations = util.intervals_to_durations(intervals)
        item = {}
        for metric in CHORD_METRICS:
            c = np.asarray(compare[metric](r_l, e_l), dtype=float)
            item[metric] = round(float(ch.weighted_accuracy(c, durations)), 6)
            valid = c >= 0
            num[metric] += float(np.sum(durations[valid] * c[valid]))
            den[metric] += float(np.sum(durations[valid]))
        item["duration"] = round(float(np.sum(durations)), 6)
        total += float(np.sum(durations))
        items[n] = item
    out = {"items": items}
    for metric in CHORD_METRICS:
        out[metric] = round(num[metric] / den[metric], 6) if den[metric] > 0 else 0.0
    out["duration"] = round(total, 6)
    out["n"] = len(items)
    return out


def main(argv):
    if len(argv) != 3 or argv[0] not in ("beats", "chords"):
        print(__doc__, file=sys.stderr)
        return 1
    mode, ref_dir, est_dir = argv
    result = score_beats(ref_dir, est_dir) if mode == "beats" else score_chords(ref_dir, est_dir)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
