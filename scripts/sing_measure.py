#!/usr/bin/env python3
"""Measures sung audio with tools nobody at Coda wrote: Praat (parselmouth) and librosa.

Reads a JSON list of requests on stdin, writes a JSON list of answers on stdout:
  {"op": "formants", "wav": PATH, "start": S, "end": E, "max_formant": 5500}
      -> {"f1": [...], "f2": [...]} every 10 ms between S and E (Praat Burg, 5 formants)
  {"op": "pitch", "wav": PATH, "floor": 75, "ceiling": 1000}
      -> {"times": [...], "f0": [...]} every 10 ms (Praat autocorrelation; 0 = unvoiced)
  {"op": "pyin", "wav": PATH, "fmin": 65, "fmax": 1000}
      -> {"times": [...], "f0": [...]} (librosa pYIN, frame 2048, hop 256; 0 = unvoiced)
  {"op": "rms", "wav": PATH, "hop": 220}
      -> {"times": [...], "rms": [...]} (librosa RMS, frame 882 = 20 ms)
"""
import json
import sys

import numpy as np
import parselmouth


def formants(req):
    snd = parselmouth.Sound(req["wav"])
    part = snd.extract_part(from_time=req["start"], to_time=req["end"])
    f = part.to_formant_burg(time_step=0.01, max_number_of_formants=5,
                             maximum_formant=req.get("max_formant", 5500.0), window_length=0.025)
    f1, f2 = [], []
    for t in f.ts():
        a, b = f.get_value_at_time(1, t), f.get_value_at_time(2, t)
        if np.isfinite(a) and np.isfinite(b):
            f1.append(a)
            f2.append(b)
    return {"f1": f1, "f2": f2}


def pitch(req):
    snd = parselmouth.Sound(req["wav"])
    p = snd.to_pitch_ac(time_step=0.01, pitch_floor=req.get("floor", 75.0),
                        pitch_ceiling=req.get("ceiling", 1000.0))
    f0 = p.selected_array["frequency"]
    return {"times": list(map(float, p.xs())), "f0": list(map(float, f0))}


def pyin(req):
    import librosa
    y, sr = librosa.load(req["wav"], sr=None, mono=True)
    f0, voiced, _ = librosa.pyin(y, fmin=req.get("fmin", 65.0), fmax=req.get("fmax", 1000.0), sr=sr,
                                 frame_length=2048, hop_length=256)
    times = librosa.times_like(f0, sr=sr, hop_length=256)
    f0 = np.where(voiced, f0, 0.0)
    return {"times": list(map(float, times)), "f0": list(map(float, np.nan_to_num(f0)))}


def rms(req):
    import librosa
    y, sr = librosa.load(req["wav"], sr=None, mono=True)
    hop = req.get("hop", 220)
    r = librosa.feature.rms(y=y, frame_length=882, hop_length=hop, center=True)[0]
    times = librosa.frames_to_time(np.arange(len(r)), sr=sr, hop_length=hop)
    return {"times": list(map(float, times)), "rms": list(map(float, r))}


OPS = {"formants": formants, "pitch": pitch, "pyin": pyin, "rms": rms}

if __name__ == "__main__":
    requests = json.load(sys.stdin)
    json.dump([OPS[r["op"]](r) for r in requests], sys.stdout)
