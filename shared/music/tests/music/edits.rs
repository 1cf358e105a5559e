//! Score edits (`modify_score`): each operation on fixtures and built scores,
//! the JSON form and its field-path errors, and the undo/redo history.

use coda_music::*;
use serde_json::json;

fn fixture(name: &str) -> Score {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    read_musicxml(&bytes)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .score
}

fn q(n: i64, d: i64) -> Rational {
    Rational::new(n, d).unwrap()
}

fn edits(v: serde_json::Value) -> Vec<Edit> {
    parse_edits(&v).unwrap_or_else(|e| panic!("{}: {}", e.field, e.message))
}

fn apply(score: &Score, v: serde_json::Value) -> Score {
    apply_edits(score, &edits(v)).unwrap_or_else(|e| panic!("{}: {}", e.field, e.message))
}

/// The error an edit list gives on a score (parsing or applying).
fn refused(score: &Score, v: serde_json::Value) -> EditError {
    let e = match parse_edits(&v) {
        Err(e) => e,
        Ok(list) => match apply_edits(score, &list) {
            Ok(_) => panic!("expected INVALID_EDIT for {v}"),
            Err(e) => e,
        },
    };
    assert_eq!(e.code(), "INVALID_EDIT");
    e
}

fn notes(m: &Measure) -> Vec<&Note> {
    m.items
        .iter()
        .filter_map(|i| match i {
            Item::Note(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn all_notes(score: &Score) -> Vec<&Note> {
    score
        .parts
        .iter()
        .flat_map(|p| p.measures.iter())
        .flat_map(notes)
        .collect()
}

fn pitches(score: &Score) -> Vec<Pitch> {
    all_notes(score).iter().filter_map(|n| n.pitch).collect()
}

fn key_fifths(score: &Score) -> Vec<i8> {
    score
        .parts
        .iter()
        .flat_map(|p| p.measures.iter())
        .flat_map(|m| {
            m.attributes
                .iter()
                .chain(m.items.iter().filter_map(|i| match i {
                    Item::Attributes(a) => Some(a),
                    _ => None,
                }))
        })
        .filter_map(|a| a.key.as_ref().map(|k| k.fifths))
        .collect()
}

fn pitch(step: Step, alter: i8, octave: i8) -> Pitch {
    Pitch {
        step,
        alter,
        octave,
    }
}

fn note(p: Option<Pitch>, duration: Rational) -> Item {
    Item::Note(Note {
        pitch: p,
        rest: p.is_none(),
        duration,
        voice: Some("1".into()),
        ..Note::default()
    })
}

/// A one-part score in 4/4, C major, of the given measures' items.
fn built(measures: Vec<Vec<Item>>) -> Score {
    let measures = measures
        .into_iter()
        .enumerate()
        .map(|(i, items)| Measure {
            number: (i + 1).to_string(),
            implicit: false,
            attributes: (i == 0).then(|| Attributes {
                divisions: Some(1),
                key: Some(Key {
                    fifths: 0,
                    mode: None,
                }),
                time: Some(TimeSig {
                    beats: "4".into(),
                    beat_type: "4".into(),
                    symbol: None,
                }),
                ..Attributes::default()
            }),
            items,
            barlines: Vec::new(),
        })
        .collect();
    Score {
        title: Some("Built".into()),
        composer: None,
        parts: vec![Part {
            id: "P1".into(),
            name: Some("Piano".into()),
            instrument: None,
            instruments: Vec::new(),
            staves: 1,
            measures,
        }],
    }
}

/// Four quarter notes C D E F in each of `n` measures.
fn scale_measures(n: usize) -> Vec<Vec<Item>> {
    (0..n)
        .map(|_| {
            [Step::C, Step::D, Step::E, Step::F]
                .into_iter()
                .map(|s| note(Some(pitch(s, 0, 4)), Rational::ONE))
                .collect()
        })
        .collect()
}

fn dynamics_direction(mark: &str) -> Item {
    Item::Direction(Direction {
        kinds: vec![DirectionKind::Dynamics {
            marks: vec![mark.into()],
        }],
        ..Direction::default()
    })
}

/// The ladder marks of the directions in a measure, in order.
fn marks(m: &Measure) -> Vec<String> {
    m.items
        .iter()
        .filter_map(|i| match i {
            Item::Direction(d) => Some(d),
            _ => None,
        })
        .flat_map(|d| d.kinds.iter())
        .filter_map(|k| match k {
            DirectionKind::Dynamics { marks } => Some(marks.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The `sound dynamics` of the directions in a measure, in order.
fn sound_dynamics(m: &Measure) -> Vec<Rational> {
    m.items
        .iter()
        .filter_map(|i| match i {
            Item::Direction(d) => d.sound.as_ref().and_then(|s| s.dynamics),
            _ => None,
        })
        .collect()
}

/// The velocity of every sounding note as the MIDI file plays it (written, then read back).
fn velocities(score: &Score) -> Vec<Rational> {
    let bytes = write_midi(score).unwrap_or_else(|e| panic!("{e}"));
    let back = read_midi(&bytes).unwrap_or_else(|e| panic!("{e}")).score;
    // The reader writes a dynamics direction with the exact sound dynamics wherever the velocity changes.
    let mut out = Vec::new();
    let mut current = q(800, 9);
    for m in &back.parts[0].measures {
        for item in &m.items {
            match item {
                Item::Direction(d) => {
                    if let Some(v) = d.sound.as_ref().and_then(|s| s.dynamics) {
                        current = v;
                    }
                }
                Item::Note(n) if n.pitch.is_some() && !n.is_tie_continuation() => {
                    out.push(current.checked_mul(q(9, 10)).unwrap())
                }
                _ => {}
            }
        }
    }
    out
}

/// The score without its `divisions` (the MusicXML writer picks its own per span).
fn without_divisions(score: &Score) -> Score {
    let mut s = score.clone();
    for m in s.parts.iter_mut().flat_map(|p| p.measures.iter_mut()) {
        if let Some(a) = m.attributes.as_mut() {
            a.divisions = None;
        }
        for i in &mut m.items {
            if let Item::Attributes(a) = i {
                a.divisions = None;
            }
        }
    }
    s
}

/// The edited score writes as MusicXML and reads back equal (divisions aside).
fn assert_writes_back(score: &Score) {
    let xml = write_musicxml(score).unwrap_or_else(|e| panic!("{e}"));
    let back = read_musicxml(xml.as_bytes())
        .unwrap_or_else(|e| panic!("{e}\n{xml}"))
        .score;
    assert_eq!(without_divisions(&back), without_divisions(score), "{xml}");
}

const FIXTURES: [&str; 6] = [
    "melody_lyrics.musicxml",
    "chords_ties_tuplets.musicxml",
    "repeats_harmony.musicxml",
    "two_voices.musicxml",
    "percussion.musicxml",
    "timewise.musicxml",
];

// --- transpose --------------------------------------------------------------

#[test]
fn transposing_up_and_back_down_gives_the_exact_score() {
    for name in FIXTURES {
        let s = fixture(name);
        for k in [1, 2, 3, 5, 6, 7, 11, 12] {
            let up = apply(&s, json!([{"op": "transpose", "semitones": k}]));
            let back = apply(&up, json!([{"op": "transpose", "semitones": -k}]));
            assert_eq!(back, s, "{name} ±{k}");
            // In one request too.
            let both = apply(
                &s,
                json!([{"op": "transpose", "semitones": -k}, {"op": "transpose", "semitones": k}]),
            );
            assert_eq!(both, s, "{name} ∓{k}");
        }
        for iv in ["M2", "m3", "P5", "A4", "d5", "M9"] {
            let up = apply(&s, json!([{"op": "transpose", "interval": iv}]));
            let back = apply(
                &up,
                json!([{"op": "transpose", "interval": format!("-{iv}")}]),
            );
            assert_eq!(back, s, "{name} {iv}");
        }
    }
}

#[test]
fn f_major_up_a_major_second_is_g_major_spelled_by_step() {
    let s = fixture("melody_lyrics.musicxml");
    assert_eq!(key_fifths(&s), vec![-1]);
    let by_semitones = apply(&s, json!([{"op": "transpose", "semitones": 2}]));
    let by_interval = apply(&s, json!([{"op": "transpose", "interval": "M2"}]));
    assert_eq!(by_semitones, by_interval);
    assert_eq!(key_fifths(&by_interval), vec![1]);
    // F G A | B♭ A | C  →  G A B | C B | D: every letter up one step, no double sharps.
    let before = pitches(&s);
    let after = pitches(&by_interval);
    assert_eq!(before.len(), after.len());
    let letters = [
        Step::C,
        Step::D,
        Step::E,
        Step::F,
        Step::G,
        Step::A,
        Step::B,
    ];
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.midi(), b.midi() + 2, "{b:?} → {a:?}");
        let bi = letters.iter().position(|l| *l == b.step).unwrap();
        assert_eq!(a.step, letters[(bi + 1) % 7], "{b:?} → {a:?}");
        assert_eq!(a.alter, 0, "G major needs no accidental here: {a:?}");
    }
    assert_eq!(after[3], pitch(Step::C, 0, 5), "B♭4 → C5");
    // Everything else is untouched: lyrics, durations, directions.
    assert_eq!(all_notes(&s).len(), all_notes(&by_interval).len());
    for (b, a) in all_notes(&s).iter().zip(all_notes(&by_interval)) {
        assert_eq!((&b.lyrics, b.duration), (&a.lyrics, a.duration));
    }
    assert_writes_back(&by_interval);
}

#[test]
fn semitone_transposition_picks_the_key_with_fewest_accidentals() {
    let s = fixture("melody_lyrics.musicxml"); // F major
                                               // F + 1: G♭ (6 flats) or F♯ (6 sharps): the flats win the tie, spelled by a minor second.
    let up1 = apply(&s, json!([{"op": "transpose", "semitones": 1}]));
    assert_eq!(key_fifths(&up1), vec![-6]);
    assert_eq!(pitches(&up1)[0], pitch(Step::G, -1, 4));
    // F + 6: B major (5 sharps) rather than C♭ (7 flats).
    let up6 = apply(&s, json!([{"op": "transpose", "semitones": 6}]));
    assert_eq!(key_fifths(&up6), vec![5]);
    assert_eq!(pitches(&up6)[0], pitch(Step::B, 0, 4));
    // F - 1: E major (4 sharps), not F♭ (8 flats).
    let down1 = apply(&s, json!([{"op": "transpose", "semitones": -1}]));
    assert_eq!(key_fifths(&down1), vec![4]);
    assert_eq!(
        pitches(&down1)[3],
        pitch(Step::A, 0, 4),
        "B♭4 - 1 in E major is A4"
    );
    for t in [&up1, &up6, &down1] {
        for (b, a) in pitches(&s).iter().zip(pitches(t)) {
            assert!(a.alter.abs() <= 1, "{b:?} → {a:?}");
        }
    }
}

/// A chord symbol's root, root alter, bass, bass alter and kind.
type Chord = (Option<Step>, i8, Option<Step>, i8, String);

#[test]
fn key_changes_and_chord_symbols_follow() {
    let s = fixture("two_voices.musicxml"); // C major, then G major in the last measure
    let t = apply(&s, json!([{"op": "transpose", "interval": "M2"}]));
    assert_eq!(key_fifths(&s), vec![0, 1]);
    assert_eq!(key_fifths(&t), vec![2, 3]);
    let last = t.parts[0].measures.last().unwrap();
    assert_eq!(
        notes(last)[0].pitch,
        Some(pitch(Step::G, 1, 5)),
        "F♯5 → G♯5"
    );

    let lead = fixture("repeats_harmony.musicxml");
    let up = apply(&lead, json!([{"op": "transpose", "semitones": 2}]));
    let chords: Vec<Chord> = up.parts[0]
        .measures
        .iter()
        .flat_map(|m| m.items.iter())
        .filter_map(|i| match i {
            Item::Harmony(h) => Some((
                h.root_step,
                h.root_alter,
                h.bass_step,
                h.bass_alter,
                h.kind.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        chords,
        vec![
            (Some(Step::D), 0, None, 0, "major".to_owned()),
            (Some(Step::C), 0, Some(Step::E), 0, "dominant".to_owned()),
            (None, 0, None, 0, "none".to_owned()),
            (Some(Step::G), 1, None, 0, "half-diminished".to_owned()),
        ]
    );
    assert_writes_back(&t);
    assert_writes_back(&up);
}

#[test]
fn transposing_one_part_leaves_the_others_and_percussion_alone() {
    let mut s = fixture("melody_lyrics.musicxml");
    let mut drums = fixture("percussion.musicxml").parts.remove(0);
    drums.id = "P2".into();
    let mut second = s.parts[0].clone();
    second.id = "P3".into();
    s.parts.push(drums);
    s.parts.push(second);
    let t = apply(&s, json!([{"op": "transpose", "semitones": -3, "part": 2}]));
    assert_eq!(t.parts[0], s.parts[0]);
    assert_eq!(t.parts[1], s.parts[1]);
    assert_ne!(t.parts[2], s.parts[2]);
    // All parts: the drum part is still untouched.
    let all = apply(&s, json!([{"op": "transpose", "semitones": 4}]));
    assert_eq!(all.parts[1], s.parts[1]);
    assert_ne!(all.parts[0], s.parts[0]);
    let e = refused(&s, json!([{"op": "transpose", "semitones": 1, "part": 1}]));
    assert_eq!(e.field, "edits[0].part");
    let e = refused(&s, json!([{"op": "transpose", "semitones": 1, "part": 3}]));
    assert_eq!(e.field, "edits[0].part");
}

#[test]
fn transposition_out_of_range_is_refused() {
    let s = built(vec![vec![
        note(Some(pitch(Step::G, 0, 9)), q(2, 1)),
        note(Some(pitch(Step::C, 0, 0)), q(2, 1)),
    ]]);
    let e = refused(&s, json!([{"op": "transpose", "semitones": 1}]));
    assert_eq!(e.field, "edits[0].semitones");
    assert!(e.message.contains("G9"), "{}", e.message);
    let e = refused(&s, json!([{"op": "transpose", "interval": "-m2"}]));
    assert_eq!(e.field, "edits[0].interval");
    let e = refused(&s, json!([{"op": "octave", "part": 0, "by": 1}]));
    assert_eq!(e.field, "edits[0].by");
}

#[test]
fn octave_moves_a_part_by_twelve() {
    let s = fixture("two_voices.musicxml");
    let t = apply(&s, json!([{"op": "octave", "part": 0, "by": -1}]));
    let (b, a) = (pitches(&s), pitches(&t));
    for (b, a) in b.iter().zip(&a) {
        assert_eq!(
            (a.step, a.alter, a.midi()),
            (b.step, b.alter, b.midi() - 12)
        );
    }
    assert_eq!(key_fifths(&t), key_fifths(&s));
    let back = apply(&t, json!([{"op": "octave", "part": 0, "by": 1}]));
    assert_eq!(back, s);
}

// --- dynamics ---------------------------------------------------------------

#[test]
fn softer_on_an_unmarked_score_inserts_mp_at_the_range_start() {
    let s = built(scale_measures(3));
    assert_eq!(velocities(&s), vec![q(80, 1); 12], "unmarked plays at mf");
    let t = apply(&s, json!([{"op": "dynamics", "step": -1}]));
    let m1 = &t.parts[0].measures[0];
    assert!(matches!(&m1.items[0], Item::Direction(_)), "inserted first");
    assert_eq!(marks(m1), vec!["mp"]);
    assert_eq!(marks(&t.parts[0].measures[1]), Vec::<String>::new());
    assert_eq!(velocities(&t), vec![q(64, 1); 12]);
    assert_writes_back(&t);

    // Over measure 2 only: mp at its start, and mf again after it.
    let r = apply(
        &s,
        json!([{"op": "dynamics", "step": -1, "measures": {"from": 2, "to": 2}}]),
    );
    assert_eq!(marks(&r.parts[0].measures[0]), Vec::<String>::new());
    assert_eq!(marks(&r.parts[0].measures[1]), vec!["mp"]);
    assert_eq!(marks(&r.parts[0].measures[2]), vec!["mf"]);
    let v = velocities(&r);
    assert_eq!(&v[..4], &[q(80, 1); 4]);
    assert_eq!(&v[4..8], &[q(64, 1); 4]);
    assert_eq!(&v[8..], &[q(80, 1); 4]);
}

#[test]
fn softer_lowers_every_mark_one_rung() {
    let mut ms = scale_measures(3);
    ms[0].insert(0, dynamics_direction("ff"));
    ms[1].insert(2, dynamics_direction("p"));
    ms[2].insert(0, dynamics_direction("ppp"));
    let s = built(ms);
    let t = apply(&s, json!([{"op": "dynamics", "step": -1}]));
    assert_eq!(marks(&t.parts[0].measures[0]), vec!["f"]);
    assert_eq!(marks(&t.parts[0].measures[1]), vec!["pp"]);
    assert_eq!(marks(&t.parts[0].measures[2]), vec!["ppp"], "clamped");
    // Each changed mark carries the sound dynamics the MIDI writer plays it at.
    let f = DynamicLevel::F.sound_dynamics();
    assert_eq!(sound_dynamics(&t.parts[0].measures[0]), vec![f]);
    let louder = apply(&s, json!([{"op": "dynamics", "step": 2}]));
    assert_eq!(marks(&louder.parts[0].measures[0]), vec!["fff"]);
    assert_eq!(marks(&louder.parts[0].measures[1]), vec!["mf"]);

    // A mark with its own sound dynamics (the fixture's mf at 88.89) gets the new level's.
    let song = fixture("melody_lyrics.musicxml");
    let soft = apply(&song, json!([{"op": "dynamics", "step": -1}]));
    let m1 = &soft.parts[0].measures[0];
    assert_eq!(marks(m1), vec!["mp"]);
    assert_eq!(sound_dynamics(m1), vec![DynamicLevel::Mp.sound_dynamics()]);
    assert!(velocities(&soft).iter().all(|v| *v == q(64, 1)));
    // The note-attached sfz (an accent) is kept.
    assert_eq!(notes(&soft.parts[0].measures[2])[0].dynamics, vec!["sfz"]);
    assert_writes_back(&soft);
}

#[test]
fn setting_a_level_over_measures_keeps_what_follows() {
    let mut ms = scale_measures(4);
    ms[0].insert(0, dynamics_direction("f"));
    ms[1].insert(3, dynamics_direction("p"));
    let s = built(ms);
    let t = apply(
        &s,
        json!([{"op": "dynamics", "level": "pp", "measures": {"from": 2, "to": 3}}]),
    );
    let ms = &t.parts[0].measures;
    assert_eq!(marks(&ms[0]), vec!["f"]);
    assert_eq!(marks(&ms[1]), vec!["pp"], "the p inside the range is gone");
    assert_eq!(marks(&ms[2]), Vec::<String>::new());
    assert_eq!(
        marks(&ms[3]),
        vec!["p"],
        "what was in force after the range"
    );
    let v = velocities(&t);
    assert_eq!(&v[..4], &[q(96, 1); 4]);
    assert_eq!(&v[4..12], &[q(33, 1); 8]);
    assert_eq!(&v[12..], &[q(49, 1); 4]);
    let e = refused(&s, json!([{"op": "dynamics", "level": "loud"}]));
    assert_eq!(e.field, "edits[0].level");
    let e = refused(
        &s,
        json!([{"op": "dynamics", "step": -1, "measures": {"from": 2, "to": 9}}]),
    );
    assert_eq!(e.field, "edits[0].measures.to");
    let e = refused(&s, json!([{"op": "dynamics", "step": 1, "level": "p"}]));
    assert_eq!(e.field, "edits[0].step");
}

// --- tempo ------------------------------------------------------------------

#[test]
fn set_and_scale_tempo_keep_sound_and_metronome_together() {
    let song = fixture("melody_lyrics.musicxml"); // quarter = 96 at the start
    let t = apply(&song, json!([{"op": "set_tempo", "bpm": 120}]));
    assert_eq!(timing(&t).unwrap().tempos, vec![(Rational::ZERO, 120.0)]);
    let d = t.parts[0].measures[0]
        .items
        .iter()
        .find_map(|i| match i {
            Item::Direction(d) if d.sound.as_ref().is_some_and(|s| s.tempo.is_some()) => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(d.sound.as_ref().unwrap().tempo, Some(q(120, 1)));
    assert!(d.kinds.contains(&DirectionKind::Metronome {
        beat_unit: "quarter".into(),
        dots: 0,
        per_minute: Some("120".into())
    }));
    // A tempo change at measure 2, then everything 10% slower.
    let t = apply(
        &song,
        json!([{"op": "set_tempo", "bpm": "100", "measure": 2}, {"op": "scale_tempo", "factor": 0.9}]),
    );
    assert_eq!(
        timing(&t).unwrap().tempos,
        vec![(Rational::ZERO, 86.4), (Rational::from_int(3), 90.0)]
    );
    assert_writes_back(&t);
    // An unmarked score plays at 120: scaling writes 120 × factor at the start.
    let plain = built(scale_measures(2));
    let slow = apply(&plain, json!([{"op": "scale_tempo", "factor": "1/2"}]));
    assert_eq!(timing(&slow).unwrap().tempos, vec![(Rational::ZERO, 60.0)]);
    assert_eq!(
        refused(&plain, json!([{"op": "set_tempo", "bpm": 0}])).field,
        "edits[0].bpm"
    );
    assert_eq!(
        refused(
            &plain,
            json!([{"op": "set_tempo", "bpm": 90, "measure": 3}])
        )
        .field,
        "edits[0].measure"
    );
    assert_eq!(
        refused(&plain, json!([{"op": "scale_tempo", "factor": 20}])).field,
        "edits[0].factor"
    );
    let fast = apply(&plain, json!([{"op": "set_tempo", "bpm": 900}]));
    assert_eq!(
        refused(&fast, json!([{"op": "scale_tempo", "factor": 2}])).field,
        "edits[0].factor"
    );
}

// --- lyrics -----------------------------------------------------------------

#[test]
fn set_lyrics_gives_one_syllable_per_sounding_note() {
    let s = fixture("chords_ties_tuplets.musicxml");
    // Sounding notes: C4 (chord: E4, G4 skipped), D5, E5, F♯5, A4 (tied on: skipped), C♯5, D5 (grace skipped).
    let t = apply(
        &s,
        json!([{"op": "set_lyrics", "part": 0, "verse": 2, "text": "Hap-py birth-day to  you all"}]),
    );
    let got: Vec<(String, Option<Syllabic>)> = all_notes(&t)
        .iter()
        .flat_map(|n| n.lyrics.iter())
        .map(|l| (l.text.clone(), l.syllabic))
        .collect();
    let want = [
        ("Hap", Syllabic::Begin),
        ("py", Syllabic::End),
        ("birth", Syllabic::Begin),
        ("day", Syllabic::End),
        ("to", Syllabic::Single),
        ("you", Syllabic::Single),
        ("all", Syllabic::Single),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(t, s)| (t.to_string(), Some(*s)))
            .collect::<Vec<_>>()
    );
    for n in all_notes(&t) {
        let takes = !n.rest && !n.chord && !n.grace && !n.is_tie_continuation();
        assert_eq!(n.lyrics.len(), usize::from(takes), "{n:?}");
        assert!(n.lyrics.iter().all(|l| l.verse == "2"));
    }
    assert_writes_back(&t);

    // Too many syllables: an error on text, nothing changed.
    let e = refused(
        &s,
        json!([{"op": "set_lyrics", "part": 0, "text": "one two three four five six sev-en"}]),
    );
    assert_eq!(e.field, "edits[0].text");
    // Fewer: the rest of the range has no syllable in that verse.
    let short = apply(
        &s,
        json!([{"op": "set_lyrics", "part": 0, "text": "la_ _ la"}]),
    );
    let sung: Vec<&Note> = all_notes(&short)
        .into_iter()
        .filter(|n| !n.lyrics.is_empty())
        .collect();
    assert_eq!(sung.len(), 2);
    assert!(
        sung[0].lyrics[0].extend,
        "the held word gets an extend line"
    );
    assert_eq!(
        sung[1].pitch,
        Some(pitch(Step::F, 1, 5)),
        "two notes held, then the fourth"
    );
}

#[test]
fn set_lyrics_replaces_one_verse_in_a_range() {
    let s = fixture("melody_lyrics.musicxml");
    let t = apply(
        &s,
        json!([{"op": "set_lyrics", "part": 0, "verse": 1, "text": "Sing-ing", "measures": {"from": 1, "to": 1}, "notes": {"from": 2, "to": 3}}]),
    );
    let m1 = notes(&t.parts[0].measures[0]);
    let verse = |n: &Note, v: &str| {
        n.lyrics
            .iter()
            .find(|l| l.verse == v)
            .map(|l| l.text.clone())
    };
    assert_eq!(
        verse(m1[0], "1"),
        Some("Hal".into()),
        "before the notes range"
    );
    assert_eq!(verse(m1[1], "1"), Some("Sing".into()));
    assert_eq!(verse(m1[2], "1"), Some("ing".into()));
    assert_eq!(verse(m1[1], "2"), Some("night".into()), "other verses kept");
    assert_eq!(t.parts[0].measures[1..], s.parts[0].measures[1..]);
    let e = refused(
        &s,
        json!([{"op": "set_lyrics", "part": 0, "text": "x", "notes": {"from": 1, "to": 9}}]),
    );
    assert_eq!(e.field, "edits[0].notes.to");
}

#[test]
fn select_verse_keeps_one_verse_as_verse_one() {
    let s = fixture("melody_lyrics.musicxml");
    let t = apply(&s, json!([{"op": "select_verse", "verse": 2}]));
    let lyrics: Vec<(String, String)> = all_notes(&t)
        .iter()
        .flat_map(|n| n.lyrics.iter())
        .map(|l| (l.verse.clone(), l.text.clone()))
        .collect();
    assert_eq!(
        lyrics,
        vec![("1".into(), "Good".into()), ("1".into(), "night".into())]
    );
    let one = apply(&s, json!([{"op": "select_verse", "verse": 1}]));
    assert!(all_notes(&one)
        .iter()
        .flat_map(|n| n.lyrics.iter())
        .all(|l| l.verse == "1"));
    assert_eq!(
        all_notes(&one)
            .iter()
            .map(|n| n.lyrics.len())
            .sum::<usize>(),
        all_notes(&s)
            .iter()
            .flat_map(|n| n.lyrics.iter())
            .filter(|l| l.verse == "1")
            .count()
    );
    let e = refused(&s, json!([{"op": "select_verse", "verse": 3}]));
    assert_eq!(e.field, "edits[0].verse");
}

// --- parts and measures -----------------------------------------------------

#[test]
fn select_part_keeps_one_part_with_the_score_tempo() {
    let mut s = fixture("melody_lyrics.musicxml");
    let mut second = fixture("chords_ties_tuplets.musicxml").parts.remove(0);
    second.id = "P2".into();
    second.measures.push(second.measures[1].clone());
    s.parts.push(second.clone());
    let t = apply(&s, json!([{"op": "select_part", "part": 1}]));
    assert_eq!(t.parts.len(), 1);
    assert_eq!(t.parts[0].id, "P2");
    assert_eq!(
        all_notes(&t).len(),
        second
            .measures
            .iter()
            .map(|m| notes(m).len())
            .sum::<usize>()
    );
    // The tempo lived in the first part; it still plays.
    assert_eq!(timing(&t).unwrap().tempos, vec![(Rational::ZERO, 96.0)]);
    // Its dynamics did not come along.
    assert!(marks(&t.parts[0].measures[0]).is_empty());
    assert_eq!(
        refused(&s, json!([{"op": "select_part", "part": 2}])).field,
        "edits[0].part"
    );
    assert_eq!(
        apply(&s, json!([{"op": "select_part", "part": 0}])).parts,
        vec![s.parts[0].clone()]
    );
}

#[test]
fn deleting_the_first_measure_moves_its_attributes() {
    let s = fixture("two_voices.musicxml"); // pickup (attributes), 1, 2, 3 (3/4, G major)
    let t = apply(&s, json!([{"op": "delete_measures", "from": 1, "to": 1}]));
    assert_eq!(t.parts[0].measures.len(), s.parts[0].measures.len() - 1);
    let first = &t.parts[0].measures[0];
    assert_eq!(first.attributes, s.parts[0].measures[0].attributes);
    assert_eq!(notes(first), notes(&s.parts[0].measures[1]));
    // The pickup was implicit: numbers after it are unchanged.
    let numbers: Vec<&str> = t.parts[0]
        .measures
        .iter()
        .map(|m| m.number.as_str())
        .collect();
    assert_eq!(numbers, vec!["1", "2", "3"]);
    assert_writes_back(&t);
}

#[test]
fn deleting_measures_keeps_what_was_in_force_after_them() {
    let s = fixture("two_voices.musicxml");
    // Delete positions 2..3: the 4/4 measures, one of which changed staff 2's clef mid-measure.
    let t = apply(&s, json!([{"op": "delete_measures", "from": 2, "to": 3}]));
    let ms = &t.parts[0].measures;
    assert_eq!(ms.len(), 2);
    let a = ms[1].attributes.as_ref().unwrap();
    // Its own changes stay; the clef change it lost is written again.
    assert_eq!(a.key.as_ref().map(|k| k.fifths), Some(1));
    assert_eq!(a.time.as_ref().map(|t| t.beats.as_str()), Some("3"));
    assert_eq!(a.divisions, Some(8));
    let clef2 = a
        .clefs
        .iter()
        .find(|c| c.staff == Some(2))
        .expect("staff 2's clef");
    assert_eq!((clef2.sign.as_str(), clef2.octave_change), ("G", Some(-1)));
    assert!(
        a.clefs.iter().all(|c| c.staff != Some(1)),
        "staff 1's clef did not change"
    );
    assert_eq!(ms[1].number, "1", "3 shifts down by the 2 measures deleted");
    assert_writes_back(&t);
    // Deleting everything, or past the end, is refused.
    assert_eq!(
        refused(&s, json!([{"op": "delete_measures", "from": 1, "to": 4}])).field,
        "edits[0].to"
    );
    assert_eq!(
        refused(&s, json!([{"op": "delete_measures", "from": 2, "to": 5}])).field,
        "edits[0].to"
    );
    assert_eq!(
        refused(&s, json!([{"op": "delete_measures", "from": 3, "to": 2}])).field,
        "edits[0].to"
    );
}

#[test]
fn deleting_measures_keeps_tempo_dynamics_and_ties_right() {
    let mut ms = scale_measures(4);
    ms[0].insert(0, dynamics_direction("p"));
    ms[0].insert(
        0,
        Item::Direction(Direction {
            kinds: vec![DirectionKind::Metronome {
                beat_unit: "quarter".into(),
                dots: 0,
                per_minute: Some("72".into()),
            }],
            sound: Some(Sound {
                tempo: Some(q(72, 1)),
                ..Sound::default()
            }),
            ..Direction::default()
        }),
    );
    // Measure 2's last note is tied into measure 3.
    if let Item::Note(n) = &mut ms[1][3] {
        n.ties = vec![TieType::Start];
    }
    ms[2][0] = note(Some(pitch(Step::F, 0, 4)), Rational::ONE);
    if let Item::Note(n) = &mut ms[2][0] {
        n.ties = vec![TieType::Stop];
    }
    let s = built(ms);
    let t = apply(&s, json!([{"op": "delete_measures", "from": 1, "to": 1}]));
    assert_eq!(timing(&t).unwrap().tempos, vec![(Rational::ZERO, 72.0)]);
    // 12 notes, one of them tied on.
    assert_eq!(velocities(&t), vec![q(49, 1); 11]);
    let t = apply(&s, json!([{"op": "delete_measures", "from": 3, "to": 3}]));
    let tied: usize = all_notes(&t).iter().map(|n| n.ties.len()).sum();
    assert_eq!(tied, 0, "the tie into the deleted measure is gone");
    let numbers: Vec<&str> = t.parts[0]
        .measures
        .iter()
        .map(|m| m.number.as_str())
        .collect();
    assert_eq!(numbers, vec!["1", "2", "3"]);
}

#[test]
fn inserted_measures_hold_whole_measure_rests() {
    let s = fixture("two_voices.musicxml"); // 2 staves; 4/4 then 3/4 in the last measure
    let n = s.parts[0].measures.len();
    let t = apply(&s, json!([{"op": "insert_measures", "at": 3, "count": 2}]));
    let ms = &t.parts[0].measures;
    assert_eq!(ms.len(), n + 2);
    for m in &ms[2..4] {
        let rests = notes(m);
        assert_eq!(rests.len(), 2, "one per staff");
        for (k, r) in rests.iter().enumerate() {
            assert!(r.rest && r.measure_rest);
            assert_eq!(r.duration, q(4, 1));
            assert_eq!(r.staff, Some(k as u8 + 1));
        }
        assert_eq!(m.attributes, None);
    }
    let numbers: Vec<&str> = ms.iter().map(|m| m.number.as_str()).collect();
    assert_eq!(numbers, vec!["0", "1", "2", "3", "4", "5"]);
    assert_eq!(ms[4], s.parts[0].measures[2].clone().tap_number("4"));
    assert_writes_back(&t);

    // Appending after the 3/4 measure: 3-quarter rests.
    let end = apply(
        &s,
        json!([{"op": "insert_measures", "at": n + 1, "count": 1}]),
    );
    let last = end.parts[0].measures.last().unwrap();
    assert!(notes(last).iter().all(|r| r.duration == q(3, 1)));
    // At the start: the attributes move to the new first measure.
    let start = apply(&s, json!([{"op": "insert_measures", "at": 1, "count": 1}]));
    let ms = &start.parts[0].measures;
    assert_eq!(ms[0].attributes, s.parts[0].measures[0].attributes);
    assert_eq!(ms[1].attributes, None);
    assert_eq!(
        timing(&start).unwrap().quarters,
        timing(&s).unwrap().quarters.checked_add(q(4, 1)).unwrap()
    );
    assert_writes_back(&start);
    assert_eq!(
        refused(
            &s,
            json!([{"op": "insert_measures", "at": n + 2, "count": 1}])
        )
        .field,
        "edits[0].at"
    );
    assert_eq!(
        refused(&s, json!([{"op": "insert_measures", "at": 1, "count": 0}])).field,
        "edits[0].count"
    );
}

/// A measure with another written number.
trait TapNumber {
    fn tap_number(self, number: &str) -> Self;
}

impl TapNumber for Measure {
    fn tap_number(mut self, number: &str) -> Self {
        self.number = number.into();
        self
    }
}

#[test]
fn replace_notes_must_fill_the_measures_exactly() {
    let s = fixture("melody_lyrics.musicxml"); // 3/4
    let t = apply(
        &s,
        json!([{"op": "replace_notes", "part": 0, "measures": {"from": 1, "to": 2}, "notes": [
            {"pitch": "C#4", "duration": "1/2"},
            {"pitch": "D4", "duration": 0.5},
            {"pitch": null, "duration": 1},
            {"pitch": "Eb4", "duration": 2},
            {"pitch": "F4", "duration": "4/3"},
            {"pitch": "G4", "duration": "1/3"},
            {"pitch": "A4", "duration": "1/3"}
        ]}]),
    );
    let m1 = notes(&t.parts[0].measures[0]);
    let m2 = notes(&t.parts[0].measures[1]);
    let total = |ns: &[&Note]| {
        ns.iter()
            .fold(Rational::ZERO, |a, n| a.checked_add(n.duration).unwrap())
    };
    assert_eq!(total(&m1), q(3, 1));
    assert_eq!(total(&m2), q(3, 1));
    // E♭4 (2 quarters) starts on beat 3 of measure 1: split and tied over the barline.
    let eb: Vec<&Note> = m1
        .iter()
        .chain(&m2)
        .copied()
        .filter(|n| n.pitch.is_some_and(|p| p.step == Step::E))
        .collect();
    assert_eq!(eb.len(), 2);
    assert_eq!(
        (eb[0].duration, eb[1].duration),
        (Rational::ONE, Rational::ONE)
    );
    assert_eq!(eb[0].ties, vec![TieType::Start]);
    assert_eq!(eb[1].ties, vec![TieType::Stop]);
    assert_eq!(m1[0].pitch, Some(pitch(Step::C, 1, 4)));
    assert_eq!(m1[0].note_type.as_deref(), Some("eighth"));
    assert!(m1[2].rest);
    let triplet = m2.last().unwrap();
    assert_eq!(
        triplet.tuplet,
        Some(TimeModification {
            actual: 3,
            normal: 2
        })
    );
    // The directions of measure 1 (mf, tempo, crescendo) are still there, at their onsets.
    assert_eq!(marks(&t.parts[0].measures[0]), vec!["mf"]);
    assert_eq!(timing(&t).unwrap().tempos, timing(&s).unwrap().tempos);
    // Measure 3 is untouched.
    assert_eq!(t.parts[0].measures[2], s.parts[0].measures[2]);
    assert_writes_back(&t);

    let e = refused(
        &s,
        json!([{"op": "replace_notes", "part": 0, "measures": {"from": 3, "to": 3}, "notes": [
            {"pitch": "C4", "duration": 2}, {"pitch": "D4", "duration": "1/2"}
        ]}]),
    );
    assert_eq!(e.field, "edits[0].notes");
    assert!(
        e.message.contains("5/2") && e.message.contains('3'),
        "{}",
        e.message
    );
    let e = refused(
        &s,
        json!([{"op": "replace_notes", "part": 0, "measures": {"from": 3, "to": 3}, "notes": [
            {"pitch": "C4", "duration": 2}, {"pitch": "H4", "duration": 1}
        ]}]),
    );
    assert_eq!(e.field, "edits[0].notes[1].pitch");
    let e = refused(
        &s,
        json!([{"op": "replace_notes", "part": 0, "measures": {"from": 3, "to": 3}, "notes": [
            {"pitch": "C4", "duration": 0}
        ]}]),
    );
    assert_eq!(e.field, "edits[0].notes[0].duration");
}

#[test]
fn replace_notes_keeps_other_voices() {
    let s = fixture("two_voices.musicxml");
    let t = apply(
        &s,
        json!([{"op": "replace_notes", "part": 0, "measures": {"from": 2, "to": 2}, "notes": [
            {"pitch": "G5", "duration": 1}, {"pitch": "A5", "duration": 3}
        ]}]),
    );
    let m = &t.parts[0].measures[1];
    let v2: Vec<&Note> = notes(m)
        .into_iter()
        .filter(|n| n.voice.as_deref() == Some("2"))
        .collect();
    let was: Vec<&Note> = notes(&s.parts[0].measures[1])
        .into_iter()
        .filter(|n| n.voice.as_deref() == Some("2"))
        .collect();
    assert_eq!(v2, was);
    let v1: Vec<Option<Pitch>> = notes(m)
        .into_iter()
        .filter(|n| n.voice.as_deref() == Some("1"))
        .map(|n| n.pitch)
        .collect();
    assert_eq!(
        v1,
        vec![Some(pitch(Step::G, 0, 5)), Some(pitch(Step::A, 0, 5))]
    );
    assert_eq!(timing(&t).unwrap().quarters, timing(&s).unwrap().quarters);
    assert_writes_back(&t);
}

// --- JSON form --------------------------------------------------------------

fn one_of_each() -> serde_json::Value {
    json!([
        {"op": "transpose", "interval": "M2"},
        {"op": "transpose", "semitones": -3, "part": 0},
        {"op": "set_tempo", "bpm": 96, "measure": 2},
        {"op": "scale_tempo", "factor": 0.9},
        {"op": "dynamics", "step": -1, "measures": {"from": 1, "to": 2}},
        {"op": "dynamics", "level": "pp", "part": 0},
        {"op": "set_lyrics", "part": 0, "verse": 1, "text": "Hap-py birth-day"},
        {"op": "octave", "part": 0, "by": 1},
        {"op": "select_verse", "verse": 1},
        {"op": "insert_measures", "at": 2, "count": 2},
        {"op": "delete_measures", "from": 2, "to": 3},
        {"op": "replace_notes", "part": 0, "measures": {"from": 3, "to": 3}, "notes": [
            {"pitch": "C#4", "duration": "1/2", "tie": true}, {"pitch": "C#4", "duration": 1.5}, {"pitch": null, "duration": 1}
        ]},
        {"op": "select_part", "part": 0}
    ])
}

#[test]
fn the_json_form_round_trips_and_matches_serde() {
    let v = one_of_each();
    let parsed = edits(v.clone());
    let ops: Vec<&str> = parsed.iter().map(|e| e.op()).collect();
    for op in EDIT_OPS {
        assert!(ops.contains(&op), "{op} has an example");
    }
    let derived: Vec<Edit> = serde_json::from_value(v).unwrap();
    assert_eq!(parsed, derived);
    let again = serde_json::to_value(&parsed).unwrap();
    assert_eq!(edits(again.clone()), parsed);
    assert_eq!(serde_json::from_value::<Vec<Edit>>(again).unwrap(), parsed);
    // Whole numbers serialise as numbers, fractions as exact strings.
    let tempo = serde_json::to_value(&parsed[3]).unwrap();
    assert_eq!(tempo, json!({"op": "scale_tempo", "factor": "9/10"}));
    // And the whole list applies to a fixture.
    let out = apply_edits(&fixture("melody_lyrics.musicxml"), &parsed).unwrap();
    assert_writes_back(&out);
    let schema = edit_json_schema().to_string();
    for op in EDIT_OPS {
        assert!(schema.contains(&format!("\"{op}\"")), "{op} in the schema");
    }
}

#[test]
fn parse_errors_name_the_field() {
    let field = |v: serde_json::Value| parse_edits(&v).map(|_| ()).unwrap_err().field;
    let e =
        parse_edits(&json!([{"op": "transpose", "semitones": 1}, {"op": "reverse"}])).unwrap_err();
    assert_eq!(e.field, "edits[1].op");
    assert_eq!(e.code(), "INVALID_EDIT");
    for op in EDIT_OPS {
        assert!(e.message.contains(op), "{}", e.message);
    }
    assert_eq!(field(json!({"op": "transpose"})), "edits");
    assert_eq!(field(json!(["transpose"])), "edits[0]");
    assert_eq!(field(json!([{"semitones": 2}])), "edits[0].op");
    assert_eq!(
        field(
            json!([{"op": "octave", "part": 0, "by": 1}, {"op": "octave", "part": 0, "by": 1}, {"op": "transpose", "semitones": "two"}])
        ),
        "edits[2].semitones"
    );
    assert_eq!(
        field(json!([{"op": "transpose", "semitone": 2}])),
        "edits[0].semitone"
    );
    assert_eq!(field(json!([{"op": "transpose"}])), "edits[0].semitones");
    assert_eq!(
        field(json!([{"op": "transpose", "semitones": 2, "interval": "M2"}])),
        "edits[0].interval"
    );
    assert_eq!(
        field(json!([{"op": "transpose", "interval": "P3"}])),
        "edits[0].interval"
    );
    assert_eq!(
        field(json!([{"op": "transpose", "semitones": 1, "part": -1}])),
        "edits[0].part"
    );
    assert_eq!(field(json!([{"op": "set_tempo"}])), "edits[0].bpm");
    assert_eq!(
        field(json!([{"op": "set_tempo", "bpm": "fast"}])),
        "edits[0].bpm"
    );
    assert_eq!(
        field(json!([{"op": "dynamics", "step": 0}])),
        "edits[0].step"
    );
    assert_eq!(
        field(json!([{"op": "dynamics", "step": 1, "measures": {"from": 0, "to": 1}}])),
        "edits[0].measures.from"
    );
    assert_eq!(
        field(json!([{"op": "dynamics", "step": 1, "measures": {"from": 3, "to": 2}}])),
        "edits[0].measures.to"
    );
    assert_eq!(
        field(json!([{"op": "dynamics", "step": 1, "measures": {"from": 1, "until": 2}}])),
        "edits[0].measures.until"
    );
    assert_eq!(
        field(json!([{"op": "set_lyrics", "part": 0}])),
        "edits[0].text"
    );
    assert_eq!(
        field(json!([{"op": "set_lyrics", "part": 0, "text": "a", "verse": 0}])),
        "edits[0].verse"
    );
    assert_eq!(
        field(json!([{"op": "insert_measures", "at": 1}])),
        "edits[0].count"
    );
    assert_eq!(
        field(
            json!([{"op": "replace_notes", "part": 0, "measures": {"from": 1, "to": 1}, "notes": [{"pitch": "C4", "duration": 1}, {"pitch": "C4", "duration": "x"}]}])
        ),
        "edits[0].notes[1].duration"
    );
    assert_eq!(
        field(
            json!([{"op": "replace_notes", "part": 0, "measures": {"from": 1, "to": 1}, "notes": [{"pitch": "C4", "length": 1}]}])
        ),
        "edits[0].notes[0].length"
    );
    assert_eq!(
        field(json!([{"op": "replace_notes", "part": 0, "notes": []}])),
        "edits[0].measures"
    );
    // Serde's derived form refuses the same unknown field.
    assert!(serde_json::from_value::<Edit>(json!({"op": "transpose", "semitone": 2})).is_err());
}

#[test]
fn a_failing_edit_changes_nothing() {
    let s = fixture("melody_lyrics.musicxml");
    let list = edits(json!([
        {"op": "transpose", "semitones": 2},
        {"op": "delete_measures", "from": 1, "to": 1},
        {"op": "set_lyrics", "part": 0, "text": "a b c d e f g h i j"}
    ]));
    let e = apply_edits(&s, &list).unwrap_err();
    assert_eq!(
        e.field, "edits[2].text",
        "counted after the deletion: {}",
        e.message
    );
    // Positions count the score as the earlier edits left it.
    let e = refused(
        &s,
        json!([{"op": "delete_measures", "from": 1, "to": 1}, {"op": "dynamics", "step": 1, "measures": {"from": 3, "to": 3}}]),
    );
    assert_eq!(e.field, "edits[1].measures.from");
}

// --- history ----------------------------------------------------------------

#[test]
fn history_undoes_and_redoes_exact_snapshots() {
    let s = fixture("melody_lyrics.musicxml");
    let mut h = ScoreHistory::new(s.clone());
    assert_eq!((h.rev(), h.can_undo(), h.can_redo()), (0, false, false));
    let e1 = edits(json!([{"op": "transpose", "interval": "M2"}]));
    let e2 = edits(json!([{"op": "dynamics", "step": -1}, {"op": "set_tempo", "bpm": 60}]));
    assert_eq!(h.apply(&e1), Ok(1));
    let r1 = h.current().clone();
    assert_eq!(r1, apply_edits(&s, &e1).unwrap());
    assert_eq!(h.apply(&e2), Ok(2));
    let r2 = h.current().clone();
    assert_eq!(h.current_edits(), &e2[..]);
    // A refused edit leaves everything as it was.
    let bad = edits(json!([{"op": "select_part", "part": 4}]));
    assert_eq!(h.apply(&bad).unwrap_err().field, "edits[0].part");
    assert_eq!((h.rev(), h.current()), (2, &r2));

    assert_eq!(h.undo(), Some(1));
    assert_eq!(h.current(), &r1);
    assert_eq!(h.undo(), Some(0));
    assert_eq!(h.current(), &s);
    assert_eq!(h.undo(), None);
    assert_eq!(h.redo(), Some(1));
    assert_eq!(h.redo(), Some(2));
    assert_eq!(h.current(), &r2);
    assert_eq!(h.redo(), None);

    // A new edit after an undo drops the redo branch; numbers are never reused.
    h.undo();
    assert_eq!(h.head(), 2);
    let e3 = edits(json!([{"op": "octave", "part": 0, "by": -1}]));
    assert_eq!(h.apply(&e3), Ok(3));
    assert!(!h.can_redo());
    assert_eq!(
        h.revisions().iter().map(|r| r.rev).collect::<Vec<_>>(),
        vec![0, 1, 3]
    );
    assert_eq!(h.revision(3).unwrap().edits, e3);
    h.undo();
    assert_eq!((h.rev(), h.current()), (1, &r1));

    // A bounded history keeps the newest revisions.
    let mut small = ScoreHistory::with_limit(s.clone(), 3);
    for _ in 0..5 {
        small.apply(&e1).unwrap();
    }
    assert_eq!(small.revisions().len(), 3);
    assert_eq!(small.undo(), Some(4));
    assert_eq!(small.undo(), Some(3));
    assert_eq!(small.undo(), None);
}
