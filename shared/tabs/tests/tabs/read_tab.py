"""music21 reads a tab.musicxml back: prints, as one JSON object, every sounding note's
string, fret and MIDI key in document order (a chord's members in order), and a
{"missing": keys} entry where a note or chord lacks them. Usage: read_tab.py FILE"""
import json
import sys
import warnings

from music21 import articulations, converter

warnings.simplefilter("ignore")
s = converter.parse(sys.argv[1], forceSource=True)
notes = []
for n in s.flatten().notes:
    keys = [p.midi for p in n.pitches]
    strings = [a.number for a in n.articulations if isinstance(a, articulations.StringIndication)]
    frets = [a.number for a in n.articulations if isinstance(a, articulations.FretIndication)]
    for k, st, fr in zip(keys, strings, frets):
        notes.append({"pitch_midi": k, "string": st, "fret": fr})
    if len(strings) != len(keys) or len(frets) != len(keys):
        notes.append({"missing": keys})
print(json.dumps({"notes": notes, "parts": len(s.parts)}))
