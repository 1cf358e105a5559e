//! The MusicXML reader against hand-written fixtures and hostile inputs.

use coda_music::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Parsed {
    read_musicxml(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn q(n: i64, d: i64) -> Rational {
    Rational::new(n, d).unwrap()
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

fn midi(n: &Note) -> i32 {
    n.pitch.as_ref().expect("a pitched note").midi()
}

/// A one-part partwise document around the given measures.
fn doc(measures: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"/></part-list><part id="P1">{measures}</part></score-partwise>"#
    )
}

fn err(xml: &str) -> ScoreError {
    match read_musicxml(xml.as_bytes()) {
        Ok(p) => panic!("expected an error, got {:?}", p.score),
        Err(e) => e,
    }
}

fn assert_json_round_trip(score: &Score) {
    let json = serde_json::to_string(score).unwrap();
    let back: Score = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, score);
    // And the re-serialised text is byte-identical.
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
}

// --- fixtures ---------------------------------------------------------------

#[test]
fn melody_with_lyrics() {
    let p = parse("melody_lyrics.musicxml");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let s = &p.score;
    assert_eq!(s.title.as_deref(), Some("Hallelujah & Amen"));
    assert_eq!(s.composer.as_deref(), Some("J. Doe"));
    let part = &s.parts[0];
    assert_eq!(part.id, "P1");
    assert_eq!(part.name.as_deref(), Some("Voice"));
    assert_eq!(part.instrument.as_deref(), Some("Soprano"));
    assert_eq!(part.instruments[0].midi_program, Some(53));
    assert_eq!(part.instruments[0].midi_channel, Some(1));
    assert_eq!(part.staves, 1);
    assert_eq!(part.measures.len(), 3);

    let m1 = &part.measures[0];
    let attrs = m1.attributes.as_ref().unwrap();
    assert_eq!(attrs.divisions, Some(2));
    assert_eq!(
        attrs.key,
        Some(Key {
            fifths: -1,
            mode: Some("major".into())
        })
    );
    assert_eq!(
        attrs.time,
        Some(TimeSig {
            beats: "3".into(),
            beat_type: "4".into(),
            symbol: None
        })
    );
    assert_eq!(
        attrs.clefs,
        vec![Clef {
            sign: "G".into(),
            line: Some(2),
            staff: None,
            octave_change: None
        }]
    );

    // Directions: dynamics + words with a sound, then a metronome with a tempo.
    let Item::Direction(d0) = &m1.items[0] else {
        panic!("{:?}", m1.items[0])
    };
    assert_eq!(
        d0.kinds,
        vec![
            DirectionKind::Dynamics {
                marks: vec!["mf".into()]
            },
            DirectionKind::Words {
                text: "dolce".into()
            },
        ]
    );
    assert_eq!(d0.placement.as_deref(), Some("below"));
    assert_eq!(d0.staff, Some(1));
    assert_eq!(d0.sound.as_ref().unwrap().dynamics, Some(q(8889, 100)));
    let Item::Direction(d1) = &m1.items[1] else {
        panic!()
    };
    assert_eq!(
        d1.kinds,
        vec![DirectionKind::Metronome {
            beat_unit: "quarter".into(),
            dots: 0,
            per_minute: Some("96".into())
        }]
    );
    assert_eq!(
        d1.sound.as_ref().unwrap().tempo,
        Some(Rational::from_int(96))
    );
    let Item::Direction(wedge) = &m1.items[3] else {
        panic!()
    };
    assert_eq!(
        wedge.kinds,
        vec![DirectionKind::Wedge {
            wedge: WedgeType::Crescendo
        }]
    );
    assert_eq!(wedge.offset, Some(q(1, 2)));

    let n = notes(m1);
    assert_eq!(n.len(), 3);
    assert_eq!(
        n[0].pitch,
        Some(Pitch {
            step: Step::F,
            alter: 0,
            octave: 4
        })
    );
    assert_eq!(midi(n[0]), 65);
    assert_eq!(n[0].duration, Rational::ONE);
    assert_eq!(n[0].voice.as_deref(), Some("1"));
    assert_eq!(n[0].note_type.as_deref(), Some("quarter"));
    assert_eq!(
        n[0].lyrics,
        vec![
            Lyric {
                verse: "1".into(),
                text: "Hal".into(),
                syllabic: Some(Syllabic::Begin),
                extend: false
            },
            Lyric {
                verse: "2".into(),
                text: "Good".into(),
                syllabic: Some(Syllabic::Single),
                extend: false
            },
        ]
    );
    assert_eq!(n[1].lyrics[0].syllabic, Some(Syllabic::Middle));
    assert_eq!(n[1].lyrics[1].text, "night");
    // A lyric without `number` is verse 1.
    assert_eq!(n[2].lyrics[0].verse, "1");
    assert_eq!(n[2].articulations, vec!["accent", "staccato"]);

    let m2 = notes(&part.measures[1]);
    assert_eq!(
        m2[0].pitch,
        Some(Pitch {
            step: Step::B,
            alter: -1,
            octave: 4
        })
    );
    assert_eq!(midi(m2[0]), 70);
    assert_eq!(m2[0].duration, Rational::from_int(2));
    assert_eq!(m2[0].lyrics[0].syllabic, Some(Syllabic::End));
    assert!(m2[0].lyrics[0].extend);
    // <extend type="stop"/> ends the melisma; it does not start one.
    assert_eq!(
        m2[1].lyrics[0],
        Lyric {
            verse: "1".into(),
            text: String::new(),
            syllabic: None,
            extend: false
        }
    );

    let m3 = &part.measures[2];
    let n3 = notes(m3);
    assert!(n3[0].fermata);
    assert_eq!(n3[0].dynamics, vec!["sfz"]);
    assert_eq!(n3[0].lyrics[0].text, "A‿men");
    assert!(n3[1].rest && !n3[1].measure_rest);
    assert_eq!(n3[1].duration, Rational::ONE);
    assert_eq!(
        m3.barlines,
        vec![Barline {
            location: BarlineLocation::Right,
            style: Some("light-heavy".into()),
            ..Barline::default()
        }]
    );

    let st = stats(s);
    assert_eq!(
        st,
        ScoreStats {
            parts: 1,
            measures: 3,
            notes: 6,
            rests: 1,
            lyrics: 7,
            key_signature_fifths: Some(-1),
            title: Some("Hallelujah & Amen".into()),
        }
    );
    assert_json_round_trip(s);
}

#[test]
fn chords_ties_tuplets_and_grace_notes() {
    let p = parse("chords_ties_tuplets.musicxml");
    // The last chord member has no <duration>: repaired from the previous note, with a warning.
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("chord note without a duration"),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings[0].starts_with("part \"P1\" measure \"1\""),
        "{:?}",
        p.warnings
    );
    let s = &p.score;
    assert_eq!(s.title.as_deref(), Some("Chords, Ties and Tuplets"));
    let m = &s.parts[0].measures;
    assert_eq!(
        m[0].attributes
            .as_ref()
            .unwrap()
            .time
            .as_ref()
            .unwrap()
            .symbol
            .as_deref(),
        Some("common")
    );

    let n1 = notes(&m[0]);
    assert_eq!(
        n1.iter().map(|n| midi(n)).collect::<Vec<_>>(),
        vec![60, 64, 67, 74, 76, 78, 69]
    );
    assert_eq!(
        n1.iter().map(|n| n.chord).collect::<Vec<_>>(),
        vec![false, true, true, false, false, false, false]
    );
    assert!(n1[..3].iter().all(|n| n.duration == Rational::ONE));
    for t in &n1[3..6] {
        assert_eq!(t.duration, q(1, 3));
        assert_eq!(
            t.tuplet,
            Some(TimeModification {
                actual: 3,
                normal: 2
            })
        );
    }
    // Three triplet eighths add up to exactly one quarter.
    let sum = n1[3..6]
        .iter()
        .try_fold(Rational::ZERO, |a, n| a.checked_add(n.duration));
    assert_eq!(sum, Some(Rational::ONE));
    assert_eq!(n1[6].ties, vec![TieType::Start]);
    assert_eq!(n1[6].duration, Rational::from_int(2));

    let n2 = notes(&m[1]);
    assert_eq!(n2[0].ties, vec![TieType::Stop]);
    assert!(n2[0].is_tie_continuation());
    assert!(n2[1].grace);
    assert_eq!(n2[1].duration, Rational::ZERO);
    assert_eq!(midi(n2[1]), 71);
    assert_eq!(n2[2].duration, q(3, 2));
    assert_eq!(n2[2].dots, 1);
    assert_eq!(midi(n2[2]), 73);
    assert_eq!(n2[3].duration, q(1, 2));
    let total = n2
        .iter()
        .filter(|n| !n.chord)
        .try_fold(Rational::ZERO, |a, n| a.checked_add(n.duration));
    assert_eq!(total, Some(Rational::from_int(4)));

    let st = stats(s);
    // 3 chord members + 3 triplets + A4, then (tied A4 = 0) grace + C#5 + D5.
    assert_eq!(
        (st.notes, st.rests, st.key_signature_fifths),
        (10, 1, Some(2))
    );
    assert_json_round_trip(s);
}

#[test]
fn two_voices_backup_forward_key_time_change_and_pickup() {
    let p = parse("two_voices.musicxml");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let part = &p.score.parts[0];
    assert_eq!(part.staves, 2);
    let m = &part.measures;
    assert_eq!(
        m.iter().map(|m| m.number.as_str()).collect::<Vec<_>>(),
        vec!["0", "1", "2", "3"]
    );
    assert!(m[0].implicit);
    assert!(!m[1].implicit);
    let a0 = m[0].attributes.as_ref().unwrap();
    assert_eq!(a0.staves, Some(2));
    assert_eq!(
        a0.clefs[1],
        Clef {
            sign: "F".into(),
            line: Some(4),
            staff: Some(2),
            octave_change: None
        }
    );
    // The pickup holds one quarter.
    assert_eq!(notes(&m[0])[0].duration, Rational::ONE);

    assert_eq!(
        m[1].items[2],
        Item::Backup {
            duration: Rational::from_int(4)
        }
    );
    let n1 = notes(&m[1]);
    assert_eq!(
        (n1[2].voice.as_deref(), n1[2].staff, midi(n1[2])),
        (Some("2"), Some(2), 48)
    );
    assert_eq!(n1[2].duration, Rational::from_int(4));

    assert_eq!(
        m[2].items[2],
        Item::Forward {
            duration: Rational::from_int(2),
            voice: Some("2".into()),
            staff: Some(2)
        }
    );
    // A clef change after notes stays in place as an item.
    let Item::Attributes(mid) = &m[2].items[3] else {
        panic!("{:?}", m[2].items[3])
    };
    assert_eq!(
        mid.clefs,
        vec![Clef {
            sign: "G".into(),
            line: Some(2),
            staff: Some(2),
            octave_change: Some(-1)
        }]
    );
    assert!(m[2].attributes.is_none());

    // Divisions change from 4 to 8: 24 divisions are now 3 quarters.
    let a3 = m[3].attributes.as_ref().unwrap();
    assert_eq!(a3.divisions, Some(8));
    assert_eq!(
        a3.key,
        Some(Key {
            fifths: 1,
            mode: Some("major".into())
        })
    );
    assert_eq!(
        a3.time
            .as_ref()
            .map(|t| (t.beats.as_str(), t.beat_type.as_str())),
        Some(("3", "4"))
    );
    let n3 = notes(&m[3]);
    assert_eq!(n3[0].duration, Rational::from_int(3));
    assert_eq!(midi(n3[0]), 78);
    assert_eq!(
        m[3].items[1],
        Item::Backup {
            duration: Rational::from_int(3)
        }
    );
    assert!(n3[1].rest && n3[1].measure_rest);
    assert_eq!(n3[1].duration, Rational::from_int(3));

    let st = stats(&p.score);
    assert_eq!(
        (st.measures, st.notes, st.rests, st.key_signature_fifths),
        (4, 7, 1, Some(0))
    );
    assert_json_round_trip(&p.score);
}

#[test]
fn repeats_endings_and_chord_symbols() {
    let p = parse("repeats_harmony.musicxml");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let m = &p.score.parts[0].measures;
    assert_eq!(
        m[0].barlines,
        vec![Barline {
            location: BarlineLocation::Left,
            style: Some("heavy-light".into()),
            repeat: Some(RepeatDirection::Forward),
            ..Barline::default()
        }]
    );
    let Item::Direction(segno) = &m[0].items[0] else {
        panic!()
    };
    assert_eq!(segno.kinds, vec![DirectionKind::Segno]);
    assert_eq!(segno.sound.as_ref().unwrap().segno.as_deref(), Some("s1"));
    assert_eq!(
        m[0].items[1],
        Item::Harmony(Harmony {
            root_step: Some(Step::C),
            kind: "major".into(),
            ..Harmony::default()
        })
    );
    assert_eq!(
        m[1].items[0],
        Item::Harmony(Harmony {
            root_step: Some(Step::B),
            root_alter: -1,
            kind: "dominant".into(),
            bass_step: Some(Step::D),
            text: Some("7".into()),
            ..Harmony::default()
        })
    );
    assert_eq!(
        m[1].items[2],
        Item::Harmony(Harmony {
            kind: "none".into(),
            text: Some("N.C.".into()),
            offset: Some(Rational::ZERO),
            ..Harmony::default()
        })
    );
    assert_eq!(
        m[1].barlines,
        vec![
            Barline {
                location: BarlineLocation::Left,
                ending: Some(Ending {
                    number: "1".into(),
                    kind: EndingKind::Start,
                    text: Some("1.".into())
                }),
                ..Barline::default()
            },
            Barline {
                location: BarlineLocation::Right,
                style: Some("light-heavy".into()),
                repeat: Some(RepeatDirection::Backward),
                times: Some(2),
                ending: Some(Ending {
                    number: "1".into(),
                    kind: EndingKind::Stop,
                    text: None
                }),
            },
        ]
    );
    assert_eq!(m[2].barlines[1].location, BarlineLocation::Right);
    assert_eq!(
        m[2].barlines[1].ending.as_ref().unwrap().kind,
        EndingKind::Discontinue
    );
    let Item::Harmony(h) = &m[2].items[0] else {
        panic!()
    };
    assert_eq!(
        (h.root_step, h.root_alter, h.kind.as_str()),
        (Some(Step::F), 1, "half-diminished")
    );
    let Item::Direction(fine) = &m[2].items[2] else {
        panic!()
    };
    assert!(fine.sound.as_ref().unwrap().fine);
    assert_eq!(
        fine.kinds,
        vec![DirectionKind::Words {
            text: "Fine".into()
        }]
    );

    // Chord symbols are not notes.
    let st = stats(&p.score);
    assert_eq!((st.notes, st.rests, st.key_signature_fifths), (4, 0, None));
    assert_json_round_trip(&p.score);
}

#[test]
fn percussion_unpitched() {
    let p = parse("percussion.musicxml");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let part = &p.score.parts[0];
    assert_eq!(part.instrument.as_deref(), Some("Bass Drum"));
    assert_eq!(
        part.instruments[1],
        Instrument {
            id: "P1-I39".into(),
            name: Some("Snare Drum".into()),
            midi_channel: Some(10),
            midi_program: Some(1),
            midi_unpitched: Some(39),
        }
    );
    let n = notes(&part.measures[0]);
    assert_eq!(
        n[0].unpitched,
        Some(Unpitched {
            display_step: Some(Step::F),
            display_octave: Some(4),
            instrument: Some("P1-I36".into())
        })
    );
    assert!(n[0].pitch.is_none());
    assert!(n[1].chord);
    assert_eq!(
        n[1].unpitched.as_ref().unwrap().instrument.as_deref(),
        Some("P1-I39")
    );
    let st = stats(&p.score);
    assert_eq!((st.notes, st.rests), (0, 1));
    assert_json_round_trip(&p.score);
}

#[test]
fn timewise_is_regrouped_by_part() {
    let p = parse("timewise.musicxml");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let s = &p.score;
    assert_eq!(s.title.as_deref(), Some("Timewise Duet"));
    assert_eq!(
        s.parts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec!["P1", "P2"]
    );
    assert_eq!(s.parts[1].name.as_deref(), Some("Cello"));
    let flute = &s.parts[0].measures;
    let cello = &s.parts[1].measures;
    assert_eq!((flute.len(), cello.len()), (2, 2));
    assert_eq!(cello[1].number, "2");
    // Each part keeps its own divisions (2 for the flute, 1 for the cello) across measures.
    assert_eq!(notes(&flute[0])[0].duration, Rational::from_int(2));
    assert_eq!(notes(&flute[1])[0].duration, q(1, 2));
    assert_eq!(notes(&flute[1])[1].duration, q(3, 2));
    assert_eq!(
        notes(&cello[0]).iter().map(|n| midi(n)).collect::<Vec<_>>(),
        vec![48, 43]
    );
    assert_eq!(notes(&cello[1])[0].duration, Rational::from_int(2));
    let st = stats(s);
    assert_eq!((st.parts, st.measures, st.notes, st.rests), (2, 2, 5, 1));
    assert_json_round_trip(s);
}

#[test]
fn bom_doctype_and_wrong_encoding_parse_with_warnings() {
    let bytes = fixture("bom_doctype_wrong_encoding.musicxml");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let p = read_musicxml(&bytes).unwrap();
    assert_eq!(p.score.title.as_deref(), Some("Café Crème"));
    assert_eq!(p.score.parts[0].staves, 1);
    assert_eq!(
        p.score.parts[0].measures[0]
            .attributes
            .as_ref()
            .unwrap()
            .staves,
        Some(1)
    );
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("declared encoding \"ISO-8859-1\" was ignored"),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings[1].contains("staves 0 read as 1"),
        "{:?}",
        p.warnings
    );

    // Real Latin-1 bytes (not UTF-8) are read as Latin-1 with a warning.
    let latin = fixture("latin1_no_declaration.musicxml");
    assert!(std::str::from_utf8(&latin).is_err());
    let p = read_musicxml(&latin).unwrap();
    assert_eq!(p.score.title.as_deref(), Some("Café Crème"));
    assert!(
        p.warnings[0].contains("not valid UTF-8"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn schema_is_a_json_object_schema() {
    let schema = score_json_schema();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["title"], "Score");
    let text = serde_json::to_string(&schema).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
    assert_eq!(schema["$defs"]["Rational"]["type"], "string");
    // Items are tagged by "type"; the note variant's duration is a Rational string.
    let variants = schema["$defs"]["Item"]["oneOf"].as_array().unwrap();
    let note = variants
        .iter()
        .find(|v| v["properties"]["type"]["const"] == "note")
        .unwrap();
    assert_eq!(note["properties"]["duration"]["$ref"], "#/$defs/Rational");
    assert_eq!(note["additionalProperties"], false);
    assert_eq!(variants.len(), 6);
}

#[test]
fn json_rejects_bad_rationals_and_unknown_fields() {
    let ok = r#"{"parts":[{"id":"P1","measures":[{"number":"1","items":[{"type":"backup","duration":"3/2"}]}]}]}"#;
    let s: Score = serde_json::from_str(ok).unwrap();
    assert_eq!(s.parts[0].staves, 1);
    assert_eq!(
        s.parts[0].measures[0].items[0],
        Item::Backup { duration: q(3, 2) }
    );
    assert!(serde_json::from_str::<Score>(&ok.replace("3/2", "3/0")).is_err());
    assert!(serde_json::from_str::<Score>(&ok.replace("\"number\"", "\"numbr\"")).is_err());
}

// --- repairs ----------------------------------------------------------------

#[test]
fn missing_divisions_and_microtones_are_repaired_with_warnings() {
    let xml = doc(
        r#"<measure><note><pitch><step>c</step><alter>0.5</alter><octave>4</octave></pitch><duration>3</duration></note></measure>"#,
    );
    let p = read_musicxml(xml.as_bytes()).unwrap();
    let m = &p.score.parts[0].measures[0];
    assert_eq!(m.number, "1");
    let n = notes(m);
    assert_eq!(n[0].duration, Rational::from_int(3));
    assert_eq!(
        n[0].pitch,
        Some(Pitch {
            step: Step::C,
            alter: 1,
            octave: 4
        })
    );
    let all = p.warnings.join("\n");
    for expected in [
        "has no number",
        "upper case",
        "microtonal alter 0.5",
        "1 per quarter assumed",
    ] {
        assert!(all.contains(expected), "{expected}: {all}");
    }
}

#[test]
fn unknown_entity_reference_is_kept_as_written() {
    let xml = doc(
        r#"<measure number="1"><attributes><divisions>1</divisions></attributes><direction><direction-type><words>a&nbsp;b &#233;</words></direction-type></direction></measure>"#,
    );
    let p = read_musicxml(xml.as_bytes()).unwrap();
    let Item::Direction(d) = &p.score.parts[0].measures[0].items[0] else {
        panic!()
    };
    assert_eq!(
        d.kinds,
        vec![DirectionKind::Words {
            text: "a&nbsp;b é".into()
        }]
    );
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    let xml = doc(
        r#"<measure number="1"><attributes><divisions>1</divisions></attributes><direction><direction-type><words>&lt;b&gt; &#233;</words></direction-type></direction></measure>"#,
    );
    let p = read_musicxml(xml.as_bytes()).unwrap();
    let Item::Direction(d) = &p.score.parts[0].measures[0].items[0] else {
        panic!()
    };
    assert_eq!(
        d.kinds,
        vec![DirectionKind::Words {
            text: "<b> é".into()
        }]
    );
    assert!(p.warnings.is_empty());
}

// --- hostile input ----------------------------------------------------------

#[test]
fn billion_laughs_is_refused() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<score-partwise><work><work-title>&lol9;</work-title></work></score-partwise>"#;
    let e = err(xml);
    assert_eq!(e.code(), "SCORE_ENTITY");
    assert_eq!(e, ScoreError::Entity { line: 2, column: 1 });
}

#[test]
fn deep_nesting_is_refused() {
    let depth = 10_000;
    let xml = format!(
        "<score-partwise>{}{}</score-partwise>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let e = err(&xml);
    assert_eq!(e.code(), "SCORE_TOO_DEEP");
    // The 65th element starts after the root (16 bytes) and 63 "<a>" tags.
    assert_eq!(
        e,
        ScoreError::TooDeep {
            limit: 64,
            line: 1,
            column: 16 + 63 * 3 + 1
        }
    );
}

#[test]
fn element_count_and_size_limits() {
    let xml = doc(&r#"<measure number="1"/>"#.repeat(50));
    let limits = ReadLimits {
        max_elements: 40,
        ..ReadLimits::default()
    };
    let e = read_musicxml_with_limits(xml.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        e,
        ScoreError::TooLarge {
            what: "elements",
            limit: 40
        }
    );
    assert_eq!(e.code(), "SCORE_TOO_LARGE");
    let limits = ReadLimits {
        max_bytes: 100,
        ..ReadLimits::default()
    };
    let e = read_musicxml_with_limits(xml.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        e,
        ScoreError::TooLarge {
            what: "bytes",
            limit: 100
        }
    );
    let big = doc(&format!(
        "<measure number=\"1\">{}</measure>",
        "<print/>".repeat(30)
    ));
    let limits = ReadLimits {
        max_measure_elements: 30,
        ..ReadLimits::default()
    };
    let e = read_musicxml_with_limits(big.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        e,
        ScoreError::TooLarge {
            what: "elements in one measure",
            limit: 30
        }
    );
    let limits = ReadLimits {
        max_measure_elements: 31,
        ..ReadLimits::default()
    };
    assert!(read_musicxml_with_limits(big.as_bytes(), &limits).is_ok());
    // Under the default limits the same document reads: 50 empty measures.
    assert_eq!(
        read_musicxml(xml.as_bytes()).unwrap().score.parts[0]
            .measures
            .len(),
        50
    );
}

#[test]
fn zero_divisions_is_refused_with_part_and_measure() {
    let xml =
        doc("<measure number=\"7\">\n<attributes><divisions>0</divisions></attributes></measure>");
    let e = err(&xml);
    assert_eq!(e.code(), "INVALID_SCORE");
    let ScoreError::Invalid { message, at } = &e else {
        panic!("{e:?}")
    };
    assert!(message.contains("divisions \"0\""), "{message}");
    assert_eq!(at.part.as_deref(), Some("P1"));
    assert_eq!(at.measure.as_deref(), Some("7"));
    assert_eq!((at.line, at.column), (Some(2), Some(13)));
    assert!(
        e.to_string().contains("in part \"P1\" measure \"7\""),
        "{e}"
    );
    assert_eq!(
        err(&doc(
            "<measure number=\"1\"><attributes><divisions>-4</divisions></attributes></measure>"
        ))
        .code(),
        "INVALID_SCORE"
    );
    assert_eq!(
        err(&doc(
            "<measure number=\"1\"><attributes><divisions>1.5</divisions></attributes></measure>"
        ))
        .code(),
        "INVALID_SCORE"
    );
}

#[test]
fn absurd_values_are_refused() {
    let note = |pitch: &str, duration: &str| {
        doc(&format!(
            "<measure number=\"1\"><attributes><divisions>1</divisions></attributes><note>{pitch}<duration>{duration}</duration></note></measure>"
        ))
    };
    let c4 = "<pitch><step>C</step><octave>4</octave></pitch>";
    let cases = [
        (note(c4, "1000000000"), "over the limit"),
        (note(c4, "-1"), "negative"),
        (note(c4, "x"), "not a number"),
        (
            note("<pitch><step>C</step><octave>99</octave></pitch>", "1"),
            "octave \"99\"",
        ),
        (
            note("<pitch><step>C</step><octave>-1</octave></pitch>", "1"),
            "octave",
        ),
        (
            note(
                "<pitch><step>C</step><alter>5</alter><octave>4</octave></pitch>",
                "1",
            ),
            "alter \"5\"",
        ),
        (
            note("<pitch><step>H</step><octave>4</octave></pitch>", "1"),
            "step \"H\"",
        ),
        (
            note("<pitch><octave>4</octave></pitch>", "1"),
            "has no <step>",
        ),
        (note("", "1"), "no pitch, unpitched or rest"),
    ];
    for (xml, expected) in cases {
        let e = err(&xml);
        assert_eq!(e.code(), "INVALID_SCORE", "{xml}");
        assert!(e.to_string().contains(expected), "{expected}: {e}");
        assert!(e.to_string().contains("measure \"1\""), "{e}");
    }
    // The limit itself is accepted.
    let p = read_musicxml(note(c4, "1000000").as_bytes()).unwrap();
    assert_eq!(
        notes(&p.score.parts[0].measures[0])[0].duration,
        Rational::from_int(MAX_QUARTERS)
    );
}

#[test]
fn truncated_xml_reports_line_and_column() {
    let full = String::from_utf8(fixture("melody_lyrics.musicxml")).unwrap();
    // Cut inside an element's content: the reader sees the end of input with elements open.
    let cut = full.find("<text>lu").unwrap() + "<text>l".len();
    let e = err(&full[..cut]);
    let ScoreError::Xml {
        message,
        line,
        column,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(e.code(), "INVALID_SCORE");
    assert!(message.contains("ends inside <text>"), "{message}");
    let last_line = full[..cut].lines().count() as u64;
    assert_eq!(*line, last_line);
    assert_eq!(
        *column,
        full[..cut].lines().last().unwrap().chars().count() as u64 + 1
    );
    // Cut inside a tag: quick-xml's own syntax error, still with a position.
    let cut = full.find("<syllabic>middle").unwrap() + "<sylla".len();
    let e = err(&full[..cut]);
    assert_eq!(e.code(), "INVALID_SCORE");
    let ScoreError::Xml { line, .. } = e else {
        panic!()
    };
    assert_eq!(line, full[..cut].lines().count() as u64);
}

#[test]
fn mismatched_tags_and_other_roots() {
    let e = err("<score-partwise>\n  <part id=\"P1\"></measure></part></score-partwise>");
    assert_eq!(e.code(), "INVALID_SCORE");
    let ScoreError::Xml { line, .. } = e else {
        panic!()
    };
    assert_eq!(line, 2);
    assert_eq!(err("<html><body/></html>").code(), "INVALID_SCORE");
    assert_eq!(err("").code(), "INVALID_SCORE");
    assert_eq!(err("<opus/>").code(), "SCORE_UNSUPPORTED");
    assert_eq!(
        read_musicxml(b"PK\x03\x04rest-of-zip").unwrap_err().code(),
        "SCORE_UNSUPPORTED"
    );
    assert_eq!(
        err("<score-partwise/><score-partwise/>").code(),
        "INVALID_SCORE"
    );
    let dup = "<score-partwise><part id=\"P1\"/><part id=\"P1\"/></score-partwise>";
    assert_eq!(err(dup).code(), "INVALID_SCORE");
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: every prefix of a fixture and some byte flips.
    let full = fixture("two_voices.musicxml");
    for cut in (0..full.len()).step_by(7) {
        let _ = read_musicxml(&full[..cut]);
    }
    let mut x: u32 = 12345;
    for _ in 0..300 {
        let mut bytes = full.clone();
        for _ in 0..4 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = (x as usize >> 8) % bytes.len();
            bytes[i] = (x >> 16) as u8;
        }
        let _ = read_musicxml(&bytes);
    }
}

// --- the writer -------------------------------------------------------------

fn write(score: &Score) -> String {
    write_musicxml(score).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes, reads back and returns the text and what was read.
fn write_and_read(score: &Score) -> (String, Parsed) {
    let xml = write(score);
    let back = read_musicxml(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    (xml, back)
}

/// The key property: the score reads back equal, without warnings, and writes the same bytes again.
fn assert_round_trip(score: &Score) -> String {
    let (xml, back) = write_and_read(score);
    assert!(back.warnings.is_empty(), "{:?}\n{xml}", back.warnings);
    assert_eq!(back.score, *score, "{xml}");
    assert_eq!(write(&back.score), xml);
    check_schema_order(&xml);
    xml
}

/// Child order the MusicXML 4.0 schema requires (only the children the writer uses).
const ORDER: &[(&str, &[&str])] = &[
    (
        "score-partwise",
        &["work", "identification", "part-list", "part"],
    ),
    ("identification", &["creator", "encoding"]),
    (
        "score-part",
        &["part-name", "score-instrument", "midi-instrument"],
    ),
    (
        "midi-instrument",
        &["midi-channel", "midi-program", "midi-unpitched"],
    ),
    (
        "note",
        &[
            "grace",
            "cue",
            "chord",
            "pitch",
            "unpitched",
            "rest",
            "duration",
            "tie",
            "instrument",
            "voice",
            "type",
            "dot",
            "time-modification",
            "staff",
            "notations",
            "lyric",
        ],
    ),
    ("pitch", &["step", "alter", "octave"]),
    ("unpitched", &["display-step", "display-octave"]),
    (
        "attributes",
        &["divisions", "key", "time", "staves", "clef", "transpose"],
    ),
    ("key", &["fifths", "mode"]),
    ("time", &["beats", "beat-type"]),
    ("clef", &["sign", "line", "clef-octave-change"]),
    ("transpose", &["diatonic", "chromatic", "octave-change"]),
    ("time-modification", &["actual-notes", "normal-notes"]),
    ("lyric", &["syllabic", "text", "extend"]),
    ("forward", &["duration", "voice", "staff"]),
    ("backup", &["duration"]),
    (
        "direction",
        &["direction-type", "offset", "voice", "staff", "sound"],
    ),
    ("metronome", &["beat-unit", "beat-unit-dot", "per-minute"]),
    ("harmony", &["root", "kind", "bass", "offset", "staff"]),
    ("root", &["root-step", "root-alter"]),
    ("bass", &["bass-step", "bass-alter"]),
    ("barline", &["bar-style", "ending", "repeat"]),
];

/// Checks every element's children against [`ORDER`], and two note rules:
/// a grace note has no duration and a cue note no `<tie>`.
fn check_schema_order(xml: &str) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<(String, Vec<String>)> = Vec::new();
    let check = |name: &str, children: &[String]| {
        if let Some((_, order)) = ORDER.iter().find(|(n, _)| *n == name) {
            let ranks: Vec<usize> = children
                .iter()
                .map(|c| {
                    order
                        .iter()
                        .position(|o| o == c)
                        .unwrap_or_else(|| panic!("<{c}> is not expected in <{name}>"))
                })
                .collect();
            assert!(
                ranks.windows(2).all(|w| w[0] <= w[1]),
                "<{name}> children out of schema order: {children:?}"
            );
        }
        if name == "note" {
            let has = |c: &str| children.iter().any(|x| x == c);
            assert!(!(has("grace") && has("duration")), "{children:?}");
            assert!(!(has("cue") && has("tie")), "{children:?}");
        }
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                if let Some((_, children)) = stack.last_mut() {
                    children.push(name.clone());
                }
                stack.push((name, Vec::new()));
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                if let Some((_, children)) = stack.last_mut() {
                    children.push(name.clone());
                }
                check(&name, &[]);
            }
            Event::End(_) => {
                let (name, children) = stack.pop().unwrap();
                check(&name, &children);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
}

#[test]
fn writer_round_trips_every_fixture() {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".musicxml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
    for name in &names {
        let first = parse(name).score;
        let xml = assert_round_trip(&first);
        assert!(
            xml.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<score-partwise version=\"4.0\">\n"
            ),
            "{name}: {xml}"
        );
        assert!(!xml.contains("<!DOCTYPE"), "{name}");
        // The fixtures' own divisions are kept (they hold every duration exactly).
        let divisions = |s: &Score| -> Vec<Option<u32>> {
            s.parts
                .iter()
                .flat_map(|p| &p.measures)
                .map(|m| m.attributes.as_ref().and_then(|a| a.divisions))
                .collect()
        };
        let back = read_musicxml(xml.as_bytes()).unwrap().score;
        assert_eq!(divisions(&back), divisions(&first), "{name}");
    }
    // Spot checks of the written text.
    let xml = write(&parse("two_voices.musicxml").score);
    assert!(xml.contains("<measure number=\"0\" implicit=\"yes\">"));
    assert!(xml.contains("<divisions>8</divisions>"));
    assert!(xml.contains("<backup>\n        <duration>24</duration>\n      </backup>"));
    let xml = write(&parse("melody_lyrics.musicxml").score);
    assert!(xml.contains("<work-title>Hallelujah &amp; Amen</work-title>"));
    assert!(xml.contains("<creator type=\"composer\">J. Doe</creator>"));
    assert!(xml.contains("<text>A‿men</text>"));
    assert!(xml.contains("<sound dynamics=\"88.89\"/>"));
    let xml = write(&parse("latin1_no_declaration.musicxml").score);
    assert!(xml.contains("<work-title>Café Crème</work-title>"));
    let xml = write(&parse("chords_ties_tuplets.musicxml").score);
    // The repaired chord member gets its duration written.
    assert_eq!(xml.matches("<duration>6</duration>").count(), 5, "{xml}");
}

fn n(step: Step, alter: i8, octave: i8, duration: Rational, note_type: &str) -> Note {
    Note {
        pitch: Some(Pitch {
            step,
            alter,
            octave,
        }),
        duration,
        voice: Some("1".into()),
        note_type: Some(note_type.into()),
        ..Note::default()
    }
}

fn rest(duration: Rational, note_type: &str) -> Note {
    Note {
        rest: true,
        duration,
        voice: Some("1".into()),
        note_type: Some(note_type.into()),
        ..Note::default()
    }
}

fn lyric(verse: &str, text: &str, syllabic: Option<Syllabic>, extend: bool) -> Lyric {
    Lyric {
        verse: verse.into(),
        text: text.into(),
        syllabic,
        extend,
    }
}

fn measure(number: &str, attributes: Option<Attributes>, items: Vec<Item>) -> Measure {
    Measure {
        number: number.into(),
        implicit: false,
        attributes,
        items,
        barlines: Vec::new(),
    }
}

fn direction(kinds: Vec<DirectionKind>) -> Direction {
    Direction {
        kinds,
        ..Direction::default()
    }
}

fn clef(sign: &str, line: Option<i8>, staff: Option<u8>, octave_change: Option<i8>) -> Clef {
    Clef {
        sign: sign.into(),
        line,
        staff,
        octave_change,
    }
}

fn int(n: i64) -> Rational {
    Rational::from_int(n)
}

/// A score in the reader's normal form that uses everything the model holds.
fn everything_score() -> Score {
    let mut pickup = measure(
        "0",
        Some(Attributes {
            divisions: Some(12),
            key: Some(Key {
                fifths: -3,
                mode: Some("minor".into()),
            }),
            time: Some(TimeSig {
                beats: "3".into(),
                beat_type: "4".into(),
                symbol: None,
            }),
            clefs: vec![
                clef("G", Some(2), Some(1), None),
                clef("F", Some(4), Some(2), None),
            ],
            staves: Some(2),
            transpose: None,
        }),
        vec![
            Item::Direction(Direction {
                kinds: vec![DirectionKind::Metronome {
                    beat_unit: "quarter".into(),
                    dots: 1,
                    per_minute: Some("c. 60".into()),
                }],
                placement: Some("above".into()),
                sound: Some(Sound {
                    tempo: Some(int(90)),
                    ..Sound::default()
                }),
                ..Direction::default()
            }),
            Item::Direction(direction(vec![
                DirectionKind::Rehearsal { text: "A".into() },
                DirectionKind::Words {
                    text: " Allegro & <vivace> \"con\" 'brio'\r\n\tmolto ".into(),
                },
            ])),
            Item::Note(Note {
                staff: Some(1),
                lyrics: vec![
                    lyric("1", "Ky", Some(Syllabic::Begin), false),
                    lyric("2", "  Glo  ", Some(Syllabic::Begin), false),
                ],
                ..n(Step::E, -1, 5, int(1), "quarter")
            }),
        ],
    );
    pickup.implicit = true;
    pickup.barlines = vec![Barline {
        location: BarlineLocation::Left,
        style: Some("heavy-light".into()),
        repeat: Some(RepeatDirection::Forward),
        ..Barline::default()
    }];
    let third = q(1, 3);
    let triplet = |step, alter| Note {
        staff: Some(1),
        tuplet: Some(TimeModification {
            actual: 3,
            normal: 2,
        }),
        ..n(step, alter, 5, third, "eighth")
    };
    let m1 = measure(
        "1",
        None,
        vec![
            Item::Harmony(Harmony {
                root_step: Some(Step::C),
                kind: "major-seventh".into(),
                bass_step: Some(Step::E),
                bass_alter: -1,
                text: Some("maj7".into()),
                staff: Some(1),
                ..Harmony::default()
            }),
            Item::Note(Note {
                staff: Some(1),
                articulations: vec!["staccato".into(), "accent".into()],
                fermata: true,
                dynamics: vec!["sfz".into(), "poco f".into()],
                ..n(Step::C, 0, 4, int(2), "half")
            }),
            Item::Note(Note {
                chord: true,
                staff: Some(1),
                ..n(Step::E, -1, 4, int(2), "half")
            }),
            Item::Note(Note {
                chord: true,
                staff: Some(1),
                ..n(Step::G, 0, 4, int(2), "half")
            }),
            Item::Note(triplet(Step::D, 0)),
            Item::Note(triplet(Step::E, 0)),
            Item::Note(triplet(Step::F, 1)),
            Item::Backup { duration: int(3) },
            Item::Note(Note {
                voice: Some("2".into()),
                staff: Some(2),
                dots: 1,
                ties: vec![TieType::Start],
                ..n(Step::C, 0, 3, int(3), "half")
            }),
            Item::Direction(Direction {
                kinds: vec![DirectionKind::Wedge {
                    wedge: WedgeType::Crescendo,
                }],
                placement: Some("below".into()),
                staff: Some(2),
                voice: Some("2".into()),
                offset: Some(q(1, 2)),
                sound: None,
            }),
            Item::Direction(Direction {
                kinds: vec![DirectionKind::Words {
                    text: "early".into(),
                }],
                offset: Some(q(-1, 4)),
                ..Direction::default()
            }),
            // A clef change after the first timed item stays mid-measure.
            Item::Attributes(Attributes {
                clefs: vec![clef("G", Some(2), Some(2), Some(-1))],
                ..Attributes::default()
            }),
        ],
    );
    let m2 = measure(
        "2",
        None,
        vec![
            Item::Note(Note {
                grace: true,
                duration: Rational::ZERO,
                staff: Some(1),
                ties: vec![TieType::Start],
                ..n(Step::G, 0, 5, Rational::ZERO, "16th")
            }),
            Item::Note(Note {
                cue: true,
                staff: Some(1),
                ties: vec![TieType::Start],
                ..n(Step::G, 0, 5, q(1, 4), "16th")
            }),
            Item::Note(Note {
                grace: true,
                cue: true,
                staff: Some(1),
                ..n(Step::A, 0, 5, Rational::ZERO, "32nd")
            }),
            Item::Note(Note {
                staff: Some(1),
                ties: vec![TieType::Stop, TieType::Start],
                dots: 2,
                ..n(Step::A, 0, 4, q(7, 4), "half")
            }),
            Item::Note(Note {
                staff: Some(1),
                ties: vec![TieType::Stop],
                ..n(Step::A, 0, 4, int(1), "quarter")
            }),
            Item::Backup { duration: int(3) },
            Item::Forward {
                duration: int(1),
                voice: Some("2".into()),
                staff: Some(2),
            },
            Item::Direction(Direction {
                kinds: vec![
                    DirectionKind::Dynamics {
                        marks: vec!["pp".into(), "sfzp".into(), "più p".into()],
                    },
                    DirectionKind::Words {
                        text: "dolce".into(),
                    },
                ],
                placement: Some("below".into()),
                staff: Some(2),
                sound: Some(Sound {
                    dynamics: Some(q(5444, 100)),
                    ..Sound::default()
                }),
                ..Direction::default()
            }),
            Item::Note(Note {
                voice: Some("2".into()),
                staff: Some(2),
                ties: vec![TieType::Stop],
                ..n(Step::C, 0, 3, int(2), "half")
            }),
            Item::Direction(direction(vec![DirectionKind::Wedge {
                wedge: WedgeType::Stop,
            }])),
        ],
    );
    let mut m3 = measure(
        "3",
        Some(Attributes {
            key: Some(Key {
                fifths: 2,
                mode: None,
            }),
            time: Some(TimeSig {
                beats: "3+3".into(),
                beat_type: "8".into(),
                symbol: Some("normal".into()),
            }),
            ..Attributes::default()
        }),
        vec![
            Item::Note(Note {
                measure_rest: true,
                note_type: None,
                staff: Some(1),
                ..rest(int(3), "")
            }),
            Item::Backup { duration: int(3) },
            Item::Note(Note {
                voice: Some("2".into()),
                staff: Some(2),
                ..rest(int(3), "half")
            }),
        ],
    );
    m3.barlines = vec![
        Barline {
            location: BarlineLocation::Left,
            ending: Some(Ending {
                number: "1".into(),
                kind: EndingKind::Start,
                text: Some("1.".into()),
            }),
            ..Barline::default()
        },
        Barline {
            location: BarlineLocation::Middle,
            style: Some("dashed".into()),
            ..Barline::default()
        },
        Barline {
            location: BarlineLocation::Right,
            style: Some("light-heavy".into()),
            repeat: Some(RepeatDirection::Backward),
            times: Some(2),
            ending: Some(Ending {
                number: "1".into(),
                kind: EndingKind::Stop,
                text: None,
            }),
        },
    ];
    let eighth = q(1, 8);
    let mut m4 = measure(
        "4",
        Some(Attributes {
            divisions: Some(24),
            ..Attributes::default()
        }),
        vec![
            Item::Direction(Direction {
                kinds: vec![DirectionKind::Segno],
                sound: Some(Sound {
                    segno: Some("s1".into()),
                    ..Sound::default()
                }),
                ..Direction::default()
            }),
            Item::Note(Note {
                staff: Some(1),
                ..n(Step::B, 0, 4, eighth, "32nd")
            }),
            Item::Note(Note {
                staff: Some(1),
                ..n(Step::C, 1, 5, q(23, 8), "half")
            }),
            Item::Direction(Direction {
                kinds: vec![
                    DirectionKind::Coda,
                    DirectionKind::Other {
                        name: "pedal".into(),
                    },
                ],
                sound: Some(Sound {
                    tocoda: Some("c1".into()),
                    dalsegno: Some("s1".into()),
                    ..Sound::default()
                }),
                ..Direction::default()
            }),
            // A bare playback change (a measure-level <sound>).
            Item::Direction(Direction {
                sound: Some(Sound {
                    dacapo: true,
                    fine: true,
                    coda: Some("c1".into()),
                    tempo: Some(q(1205, 10)),
                    ..Sound::default()
                }),
                ..Direction::default()
            }),
        ],
    );
    m4.barlines = vec![
        Barline {
            location: BarlineLocation::Left,
            ending: Some(Ending {
                number: "2".into(),
                kind: EndingKind::Start,
                text: None,
            }),
            ..Barline::default()
        },
        Barline {
            location: BarlineLocation::Right,
            ending: Some(Ending {
                number: "2".into(),
                kind: EndingKind::Discontinue,
                text: None,
            }),
            ..Barline::default()
        },
    ];
    let piano = Part {
        id: "P1".into(),
        name: Some("Piano \"grand\" & <voice>".into()),
        instrument: Some("Piano".into()),
        instruments: vec![Instrument {
            id: "P1-I1".into(),
            name: Some("Piano".into()),
            midi_channel: Some(1),
            midi_program: Some(1),
            midi_unpitched: None,
        }],
        staves: 2,
        measures: vec![pickup, m1, m2, m3, m4],
    };

    let drum = |display: Option<(Step, i8)>, instrument: &str, chord: bool| Note {
        unpitched: Some(Unpitched {
            display_step: display.map(|d| d.0),
            display_octave: display.map(|d| d.1),
            instrument: Some(instrument.into()),
        }),
        chord,
        duration: int(1),
        voice: Some("1".into()),
        note_type: Some("quarter".into()),
        ..Note::default()
    };
    let drums = Part {
        id: "P2".into(),
        name: Some("Drum Set".into()),
        instrument: Some("Bass Drum".into()),
        instruments: vec![
            Instrument {
                id: "P2-I36".into(),
                name: Some("Bass Drum".into()),
                midi_channel: Some(10),
                midi_program: Some(1),
                midi_unpitched: Some(36),
            },
            Instrument {
                id: "P2-I39".into(),
                name: None,
                midi_channel: Some(10),
                midi_program: None,
                midi_unpitched: Some(39),
            },
        ],
        staves: 1,
        measures: vec![measure(
            "1",
            Some(Attributes {
                divisions: Some(1),
                time: Some(TimeSig {
                    beats: "3".into(),
                    beat_type: "4".into(),
                    symbol: None,
                }),
                clefs: vec![clef("percussion", None, None, None)],
                ..Attributes::default()
            }),
            vec![
                Item::Note(drum(Some((Step::F, 4)), "P2-I36", false)),
                Item::Note(Note {
                    articulations: vec!["accent".into()],
                    ..drum(Some((Step::C, 5)), "P2-I39", true)
                }),
                Item::Note(drum(None, "P2-I39", false)),
                Item::Note(rest(int(1), "quarter")),
            ],
        )],
    };

    let clarinet = Part {
        id: "P3".into(),
        name: Some("Clarinet in B♭".into()),
        instrument: Some("B♭ Clarinet".into()),
        instruments: vec![Instrument {
            id: "P3-I1".into(),
            name: Some("B♭ Clarinet".into()),
            midi_channel: Some(2),
            midi_program: Some(72),
            midi_unpitched: None,
        }],
        staves: 1,
        measures: vec![
            measure(
                "X1",
                Some(Attributes {
                    divisions: Some(2),
                    clefs: vec![clef("G", Some(2), None, None)],
                    transpose: Some(Transpose {
                        diatonic: -1,
                        chromatic: -2,
                        octave_change: 0,
                    }),
                    ..Attributes::default()
                }),
                vec![
                    Item::Harmony(Harmony {
                        kind: "none".into(),
                        text: Some("N.C.".into()),
                        offset: Some(Rational::ZERO),
                        ..Harmony::default()
                    }),
                    Item::Note(Note {
                        lyrics: vec![lyric("1", "A‿men", Some(Syllabic::Single), true)],
                        ..n(Step::F, 1, 4, q(3, 2), "quarter")
                    }),
                    Item::Note(Note {
                        dots: 0,
                        lyrics: vec![lyric("1", "", None, true)],
                        ..n(Step::G, 0, 4, q(1, 2), "eighth")
                    }),
                    Item::Note(Note {
                        lyrics: vec![
                            lyric("1", "", None, false),
                            lyric("chorus", "la", Some(Syllabic::Middle), false),
                            lyric("3", "end", Some(Syllabic::End), false),
                        ],
                        ..n(Step::A, 0, 4, int(1), "quarter")
                    }),
                    // Divisions change mid-measure, after a timed item.
                    Item::Attributes(Attributes {
                        divisions: Some(4),
                        ..Attributes::default()
                    }),
                    Item::Note(n(Step::B, -2, 4, q(1, 4), "16th")),
                    Item::Note(n(Step::C, 2, 5, q(3, 4), "eighth")),
                ],
            ),
            Measure {
                implicit: true,
                ..measure(
                    "X2",
                    Some(Attributes {
                        transpose: Some(Transpose {
                            diatonic: 0,
                            chromatic: 0,
                            octave_change: -1,
                        }),
                        ..Attributes::default()
                    }),
                    vec![Item::Note(rest(int(3), "half"))],
                )
            },
            measure("3", None, Vec::new()),
        ],
    };

    Score {
        title: Some("Tom & Jerry <\"Duet\"> 'live'".into()),
        composer: Some("Ana Ñ & Co.".into()),
        parts: vec![piano, drums, clarinet],
    }
}

#[test]
fn writer_round_trips_everything_the_model_holds() {
    let score = everything_score();
    let xml = assert_round_trip(&score);
    // For cross-checks with other tools (tests/music21_check.py).
    if let Some(dir) = std::env::var_os("CODA_MUSIC_SAMPLES") {
        let path = std::path::Path::new(&dir).join("everything.musicxml");
        std::fs::write(&path, &xml).unwrap();
    }
    for expected in [
        "<work-title>Tom &amp; Jerry &lt;\"Duet\"&gt; 'live'</work-title>",
        "<part-name>Piano \"grand\" &amp; &lt;voice&gt;</part-name>",
        "<words> Allegro &amp; &lt;vivace&gt; \"con\" 'brio'&#13;\n\tmolto </words>",
        "<divisions>12</divisions>",
        "<divisions>24</divisions>",
        "<duration>4</duration>",
        "<offset>-3</offset>",
        "<tie type=\"stop\"/>",
        "<tied type=\"start\"/>",
        "<other-dynamics>poco f</other-dynamics>",
        "<sfzp/>",
        "<rest measure=\"yes\"/>",
        "<instrument id=\"P2-I39\"/>",
        "<unpitched/>",
        "<midi-unpitched>36</midi-unpitched>",
        "<transpose>\n          <diatonic>-1</diatonic>\n          <chromatic>-2</chromatic>\n        </transpose>",
        "<sound tempo=\"120.5\" dacapo=\"yes\" coda=\"c1\" fine=\"yes\"/>",
        "<time symbol=\"normal\">",
        "<beat-unit-dot/>",
        "<per-minute>c. 60</per-minute>",
        "<extend/>",
        "<lyric number=\"chorus\">",
        "<pedal/>",
        "<measure number=\"X2\" implicit=\"yes\">",
    ] {
        assert!(xml.contains(expected), "{expected}\n{xml}");
    }
    // The cue note's tie is only notated (<tied>); the grace note has no duration.
    let cue = xml.find("<cue/>").unwrap();
    let cue_note = &xml[cue..cue + xml[cue..].find("</note>").unwrap()];
    assert!(!cue_note.contains("<tie "), "{cue_note}");
    assert!(cue_note.contains("<tied type=\"start\"/>"), "{cue_note}");
    // Left barlines lead the measure; the others follow its content, in order.
    let m3 = &xml[xml.find("<measure number=\"3\">").unwrap()..];
    let m3 = &m3[..m3.find("</measure>").unwrap()];
    let left = m3.find("location=\"left\"").unwrap();
    let middle = m3.find("location=\"middle\"").unwrap();
    let right = m3.find("location=\"right\"").unwrap();
    assert!(left < m3.find("<attributes>").unwrap());
    assert!(m3.find("<note>").unwrap() < middle && middle < right);
    // Statistics survive too.
    let back = read_musicxml(xml.as_bytes()).unwrap().score;
    assert_eq!(stats(&back), stats(&score));
    assert_json_round_trip(&back);
}

#[test]
fn writer_chooses_divisions_when_the_model_has_none() {
    let mut score = Score {
        parts: vec![Part {
            id: "P1".into(),
            name: None,
            instrument: None,
            instruments: Vec::new(),
            staves: 1,
            measures: vec![
                measure(
                    "1",
                    None,
                    vec![
                        Item::Note(n(Step::C, 0, 4, q(1, 3), "eighth")),
                        Item::Note(n(Step::D, 0, 4, q(2, 3), "quarter")),
                        Item::Note(n(Step::E, 0, 4, q(3, 4), "eighth")),
                        Item::Note(n(Step::F, 0, 4, q(1, 4), "16th")),
                    ],
                ),
                measure(
                    "2",
                    Some(Attributes::default()),
                    vec![
                        Item::Note(n(Step::G, 0, 4, q(3, 2), "quarter")),
                        Item::Backup { duration: q(3, 2) },
                        Item::Forward {
                            duration: q(1, 6),
                            voice: None,
                            staff: None,
                        },
                    ],
                ),
            ],
        }],
        ..Score::default()
    };
    let (xml, back) = write_and_read(&score);
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    // LCM(3, 3, 4, 4, 2, 2, 6) = 12, written once in the first measure.
    assert_eq!(xml.matches("<divisions>").count(), 1, "{xml}");
    assert!(xml.contains("<divisions>12</divisions>"));
    for d in ["4", "8", "9", "3", "18", "2"] {
        assert!(xml.contains(&format!("<duration>{d}</duration>")), "{d}");
    }
    // Equal to the model once the chosen divisions are in the first measure's attributes.
    score.parts[0].measures[0].attributes = Some(Attributes {
        divisions: Some(12),
        ..Attributes::default()
    });
    assert_eq!(back.score, score);
    // A part with no durations (only a grace note) needs no divisions.
    let grace_only = Score {
        parts: vec![Part {
            measures: vec![measure(
                "1",
                None,
                vec![Item::Note(Note {
                    grace: true,
                    ..n(Step::C, 0, 5, Rational::ZERO, "eighth")
                })],
            )],
            ..score.parts[0].clone()
        }],
        ..Score::default()
    };
    let xml = assert_round_trip(&grace_only);
    assert!(!xml.contains("<divisions>") && !xml.contains("<duration>"));
}

#[test]
fn writer_keeps_or_widens_declared_divisions() {
    let with = |divisions: u32, durations: &[Rational]| Score {
        parts: vec![Part {
            id: "P1".into(),
            name: None,
            instrument: None,
            instruments: Vec::new(),
            staves: 1,
            measures: vec![measure(
                "1",
                Some(Attributes {
                    divisions: Some(divisions),
                    ..Attributes::default()
                }),
                durations
                    .iter()
                    .map(|&d| Item::Note(n(Step::C, 0, 4, d, "quarter")))
                    .collect(),
            )],
        }],
        ..Score::default()
    };
    // 480 holds triplets and sixteenths: kept although 12 would do.
    let s = with(480, &[q(1, 3), q(1, 4)]);
    let xml = assert_round_trip(&s);
    assert!(xml.contains("<duration>160</duration>") && xml.contains("<duration>120</duration>"));
    // 2 cannot hold a triplet: widened to lcm(2, 3) = 6, and only that field changes.
    let s = with(2, &[q(1, 3), q(1, 2)]);
    let (xml, back) = write_and_read(&s);
    assert!(back.warnings.is_empty());
    assert!(xml.contains("<divisions>6</divisions>"), "{xml}");
    let mut expected = s.clone();
    expected.parts[0].measures[0].attributes = Some(Attributes {
        divisions: Some(6),
        ..Attributes::default()
    });
    assert_eq!(back.score, expected);
    // Zero (which the reader refuses) is rewritten too.
    let (xml, _) = write_and_read(&with(0, &[q(1, 2)]));
    assert!(xml.contains("<divisions>2</divisions>"), "{xml}");
    // Each part has its own divisions.
    let mut two = with(1, &[int(1)]);
    let mut other = with(3, &[q(1, 3)]).parts.remove(0);
    other.id = "P2".into();
    two.parts.push(other);
    let xml = assert_round_trip(&two);
    let p2 = &xml[xml.find("<part id=\"P2\">").unwrap()..];
    assert!(p2.contains("<divisions>3</divisions>") && p2.contains("<duration>1</duration>"));
}

#[test]
fn writer_falls_back_to_exact_decimals_over_the_cap_and_refuses_what_cannot_be_exact() {
    let tiny = q(1, 1 << 21);
    let score = Score {
        parts: vec![Part {
            id: "P1".into(),
            name: None,
            instrument: None,
            instruments: Vec::new(),
            staves: 1,
            measures: vec![measure(
                "1",
                None,
                vec![
                    Item::Note(n(Step::C, 0, 4, tiny, "1024th")),
                    Item::Note(n(Step::D, 0, 4, q(1, 3), "eighth")),
                ],
            )],
        }],
        ..Score::default()
    };
    let (xml, back) = write_and_read(&score);
    // 3 * 2^21 is over 10^6: 3 * 2^18 is kept and the tiny note is an exact decimal.
    assert!(xml.contains("<divisions>786432</divisions>"), "{xml}");
    assert!(xml.contains("<duration>0.375</duration>"), "{xml}");
    assert!(xml.contains("<duration>262144</duration>"), "{xml}");
    assert!(back.warnings.is_empty());
    let got: Vec<Rational> = notes(&back.score.parts[0].measures[0])
        .iter()
        .map(|n| n.duration)
        .collect();
    assert_eq!(got, vec![tiny, q(1, 3)]);

    // 2^-62 quarters needs 43 decimal places even at 2^19 divisions: more than the reader parses.
    let mut deep = score.clone();
    deep.parts[0].measures[0].items = vec![Item::Note(n(Step::C, 0, 4, q(1, 1 << 62), "1024th"))];
    let e = write_musicxml(&deep).unwrap_err();
    assert_eq!(e.code(), "SCORE_UNWRITABLE_DURATION");
    assert!(e.to_string().contains("divisions 524288"), "{e}");

    // 1009 and 1013 are primes: no divisions up to 10^6 holds both exactly.
    let mut bad = score.clone();
    bad.parts[0].measures[0].items = vec![
        Item::Note(n(Step::C, 0, 4, q(1, 1009), "eighth")),
        Item::Note(n(Step::C, 0, 4, q(1, 1013), "eighth")),
    ];
    bad.parts[0].measures[0].number = "7".into();
    let e = write_musicxml(&bad).unwrap_err();
    assert_eq!(e.code(), "SCORE_UNWRITABLE_DURATION");
    let WriteError::Duration { message, at } = &e else {
        panic!("{e:?}")
    };
    assert!(
        message.contains("1/1013") && message.contains("1022117"),
        "{message}"
    );
    assert_eq!(
        (at.part.as_deref(), at.measure.as_deref()),
        (Some("P1"), Some("7"))
    );
    assert!(
        e.to_string().contains("in part \"P1\" measure \"7\""),
        "{e}"
    );

    // What the reader refuses is refused here: negative lengths and lengths over the limit.
    let with_item = |item: Item| {
        let mut s = score.clone();
        s.parts[0].measures[0].items = vec![item];
        write_musicxml(&s)
    };
    for item in [
        Item::Note(n(Step::C, 0, 4, int(-1), "quarter")),
        Item::Backup { duration: q(-1, 2) },
        Item::Note(n(Step::C, 0, 4, int(MAX_QUARTERS + 1), "quarter")),
        Item::Forward {
            duration: int(i64::MAX),
            voice: None,
            staff: None,
        },
        Item::Direction(Direction {
            offset: Some(int(i64::MIN)),
            ..Direction::default()
        }),
        Item::Harmony(Harmony {
            kind: "major".into(),
            offset: Some(int(-MAX_QUARTERS - 1)),
            ..Harmony::default()
        }),
    ] {
        let e = with_item(item.clone()).unwrap_err();
        assert_eq!(e.code(), "SCORE_UNWRITABLE_DURATION", "{item:?}");
    }
    // The limits themselves (and negative offsets) are fine.
    assert!(with_item(Item::Note(n(Step::C, 0, 4, int(MAX_QUARTERS), "quarter"))).is_ok());
    assert!(with_item(Item::Direction(Direction {
        offset: Some(int(-MAX_QUARTERS)),
        ..Direction::default()
    }))
    .is_ok());
}

#[test]
fn writer_escapes_text_and_drops_forbidden_characters() {
    let mut score = everything_score();
    score.title = Some("a\u{0}b\u{B}c\u{FFFE}d\u{1F600} & é".into());
    score.parts[0].id = "P\"1'<&>\t\n".into();
    score.parts[0].measures[1].number = "1 & \"2\"".into();
    let Item::Direction(d) = &mut score.parts[0].measures[0].items[1] else {
        panic!()
    };
    d.kinds[1] = DirectionKind::Words {
        text: "x\u{7}y\r\nz]]>".into(),
    };
    let (xml, back) = write_and_read(&score);
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert!(
        xml.chars()
            .all(|c| c == '\t' || c == '\n' || !(c.is_control() && (c as u32) < 0x20) || c == '\r'),
        "a control character was written"
    );
    assert!(!xml.contains('\u{FFFE}') && !xml.contains('\r'));
    assert!(xml.contains("<part id=\"P&quot;1&apos;&lt;&amp;&gt;&#9;&#10;\">"));
    assert!(xml.contains("<words>xy&#13;\nz]]&gt;</words>"), "{xml}");
    // Everything comes back as written, less the forbidden characters.
    let mut expected = score.clone();
    expected.title = Some("abcd\u{1F600} & é".into());
    let Item::Direction(d) = &mut expected.parts[0].measures[0].items[1] else {
        panic!()
    };
    d.kinds[1] = DirectionKind::Words {
        text: "xy\r\nz]]>".into(),
    };
    assert_eq!(back.score, expected);
}

#[test]
fn writer_refuses_what_the_reader_would_refuse() {
    let base = everything_score();
    let change = |f: &dyn Fn(&mut Score)| {
        let mut s = base.clone();
        f(&mut s);
        write_musicxml(&s).unwrap_err()
    };
    fn first_note(s: &mut Score) -> &mut Note {
        match &mut s.parts[0].measures[0].items[2] {
            Item::Note(n) => n,
            other => panic!("{other:?}"),
        }
    }
    let cases: Vec<(WriteError, &str)> = vec![
        (
            change(&|s| s.parts[1].id = "P1".into()),
            "the part id appears twice",
        ),
        (change(&|s| s.parts[2].id = "  ".into()), "blank"),
        (
            change(&|s| {
                let n = first_note(s);
                n.pitch = None;
                n.rest = false;
            }),
            "no pitch, unpitched or rest",
        ),
        (
            change(&|s| first_note(s).pitch.as_mut().unwrap().octave = 10),
            "octave 10",
        ),
        (
            change(&|s| first_note(s).pitch.as_mut().unwrap().alter = -4),
            "alter -4",
        ),
        (
            change(&|s| first_note(s).articulations = vec!["not a name".into()]),
            "\"not a name\" is not an XML element name",
        ),
        (
            change(&|s| {
                s.parts[0].measures[0].items[1] =
                    Item::Direction(direction(vec![DirectionKind::Other { name: "x:y".into() }]))
            }),
            "\"x:y\"",
        ),
        (
            change(&|s| {
                s.parts[0].measures[0].items[1] = Item::Harmony(Harmony {
                    root_step: Some(Step::C),
                    root_alter: 5,
                    kind: "major".into(),
                    ..Harmony::default()
                })
            }),
            "alter 5",
        ),
    ];
    for (e, expected) in cases {
        assert_eq!(e.code(), "SCORE_UNWRITABLE", "{e}");
        assert!(e.to_string().contains(expected), "{expected}: {e}");
        assert!(e.to_string().contains("in part"), "{e}");
    }
    let e = change(&|s| first_note(s).pitch.as_mut().unwrap().octave = -1);
    let WriteError::Invalid { at, .. } = e else {
        panic!()
    };
    assert_eq!(
        (at.part.as_deref(), at.measure.as_deref()),
        (Some("P1"), Some("0"))
    );
}

#[test]
fn writer_writes_the_readers_normal_form() {
    let mut s = Score {
        title: Some("  ".into()),
        composer: None,
        parts: vec![Part {
            id: "P1".into(),
            name: None,
            // A name without instruments becomes one instrument.
            instrument: Some("Oboe".into()),
            instruments: Vec::new(),
            // More staves than the attributes declare: the first measure declares them.
            staves: 2,
            measures: vec![measure(
                " ",
                Some(Attributes {
                    key: Some(Key {
                        fifths: 9,
                        mode: None,
                    }),
                    time: Some(TimeSig {
                        beats: " ".into(),
                        beat_type: "4".into(),
                        symbol: None,
                    }),
                    clefs: vec![
                        clef("", Some(2), None, None),
                        clef("C", Some(3), Some(0), None),
                    ],
                    ..Attributes::default()
                }),
                vec![
                    Item::Direction(direction(vec![DirectionKind::Other {
                        name: "metronome".into(),
                    }])),
                    // Before any timed item: merges into the measure's attributes.
                    Item::Attributes(Attributes {
                        clefs: vec![clef("G", Some(2), Some(2), None)],
                        ..Attributes::default()
                    }),
                    Item::Note(Note {
                        grace: true,
                        duration: int(5),
                        ties: vec![TieType::Start, TieType::Start],
                        staff: Some(0),
                        tuplet: Some(TimeModification {
                            actual: 0,
                            normal: 2,
                        }),
                        voice: Some(" ".into()),
                        ..n(Step::C, 0, 4, int(5), "eighth")
                    }),
                    Item::Note(Note {
                        rest: true,
                        measure_rest: true,
                        unpitched: Some(Unpitched {
                            display_step: None,
                            display_octave: None,
                            instrument: None,
                        }),
                        ..n(Step::D, 0, 4, q(1, 2), "eighth")
                    }),
                    Item::Direction(Direction {
                        kinds: vec![DirectionKind::Metronome {
                            beat_unit: "".into(),
                            dots: 0,
                            per_minute: None,
                        }],
                        sound: Some(Sound {
                            tempo: Some(q(200, 3)),
                            dynamics: Some(q(-1, 1)),
                            ..Sound::default()
                        }),
                        ..Direction::default()
                    }),
                    Item::Harmony(Harmony {
                        root_alter: 1,
                        kind: "".into(),
                        staff: Some(0),
                        ..Harmony::default()
                    }),
                ],
            )],
        }],
    };
    s.parts[0].measures[0].barlines = vec![
        Barline {
            location: BarlineLocation::Right,
            times: Some(3),
            style: Some("".into()),
            ..Barline::default()
        },
        Barline {
            location: BarlineLocation::Left,
            ..Barline::default()
        },
    ];
    let (xml, back) = write_and_read(&s);
    assert!(back.warnings.is_empty(), "{:?}\n{xml}", back.warnings);
    assert!(xml.contains("<score-instrument id=\"P1-I1\">"), "{xml}");
    assert!(xml.contains("<sound tempo=\"66.666667\"/>"), "{xml}");
    let p = &back.score.parts[0];
    assert_eq!(back.score.title, None);
    assert_eq!(p.instrument.as_deref(), Some("Oboe"));
    assert_eq!(
        p.instruments,
        vec![Instrument {
            id: "P1-I1".into(),
            name: Some("Oboe".into()),
            midi_channel: None,
            midi_program: None,
            midi_unpitched: None,
        }]
    );
    assert_eq!(p.staves, 2);
    let m = &p.measures[0];
    assert_eq!(m.number, "1");
    assert_eq!(
        m.attributes,
        Some(Attributes {
            divisions: Some(2),
            staves: Some(2),
            clefs: vec![
                clef("C", Some(3), None, None),
                clef("G", Some(2), Some(2), None)
            ],
            ..Attributes::default()
        })
    );
    let items = &m.items;
    assert_eq!(items.len(), 5, "{items:?}");
    assert_eq!(items[0], Item::Direction(Direction::default()));
    let Item::Note(grace) = &items[1] else {
        panic!()
    };
    assert_eq!(
        (
            grace.duration,
            &grace.ties,
            grace.staff,
            grace.tuplet,
            &grace.voice
        ),
        (Rational::ZERO, &vec![TieType::Start], None, None, &None)
    );
    let Item::Note(d) = &items[2] else { panic!() };
    assert!(d.pitch.is_some() && d.unpitched.is_none() && !d.rest && !d.measure_rest);
    // The metronome mark without a beat unit is left out; its sound stays, rounded.
    assert_eq!(
        items[3],
        Item::Direction(Direction {
            sound: Some(Sound {
                tempo: Some(q(66_666_667, 1_000_000)),
                ..Sound::default()
            }),
            ..Direction::default()
        })
    );
    assert_eq!(
        items[4],
        Item::Harmony(Harmony {
            kind: "none".into(),
            ..Harmony::default()
        })
    );
    // The bare sound dropped its negative dynamics and kept the rounded tempo.
    assert!(!xml.contains("dynamics=\""), "{xml}");
    let xml2 = write(&back.score);
    let again = read_musicxml(xml2.as_bytes()).unwrap();
    assert_eq!(again.score, back.score, "the normal form is a fixed point");
    assert_eq!(
        m.barlines,
        vec![
            Barline::default(),
            Barline {
                location: BarlineLocation::Left,
                ..Barline::default()
            },
        ]
    );
}

#[test]
fn writer_declares_part_staves_the_way_the_reader_merged_them() {
    // Two <attributes> before the first note: the reader keeps the later staves (1) in the
    // measure but the part's count is the largest it saw (2).
    let xml = doc(concat!(
        "<measure number=\"1\"><attributes><divisions>1</divisions><staves>2</staves></attributes>",
        "<attributes><staves>1</staves></attributes>",
        "<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration><staff>2</staff></note></measure>",
        "<measure number=\"2\"><attributes><staves>1</staves></attributes></measure>",
    ));
    let read = read_musicxml(xml.as_bytes()).unwrap().score;
    let part = &read.parts[0];
    assert_eq!(part.staves, 2);
    assert_eq!(
        part.measures[0].attributes.as_ref().unwrap().staves,
        Some(1)
    );
    // The writer reproduces that: a separate <attributes> declares 2 just before the measure's.
    let written = assert_round_trip(&read);
    assert!(
        written.contains(
            "<attributes>\n        <staves>2</staves>\n      </attributes>\n      <attributes>\n        <divisions>1</divisions>\n        <staves>1</staves>"
        ),
        "{written}"
    );
    assert_eq!(written.matches("<staves>2</staves>").count(), 1);
}

#[test]
fn writer_splits_divisions_the_way_the_reader_merged_them() {
    // The reader merges both <attributes> before the note and keeps divisions 2, but the
    // direction between them was read with divisions 3 (offset 1/3).
    let xml = doc(concat!(
        "<measure number=\"1\"><attributes><divisions>3</divisions></attributes>",
        "<direction><direction-type><words>x</words></direction-type><offset>1</offset></direction>",
        "<attributes><divisions>2</divisions></attributes>",
        "<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note></measure>",
        "<measure number=\"2\"><note><rest/><duration>3</duration></note></measure>",
    ));
    let read = read_musicxml(xml.as_bytes()).unwrap().score;
    let m = &read.parts[0].measures[0];
    assert_eq!(m.attributes.as_ref().unwrap().divisions, Some(2));
    let Item::Direction(d) = &m.items[0] else {
        panic!()
    };
    assert_eq!(d.offset, Some(q(1, 3)));
    let written = assert_round_trip(&read);
    let first = written.find("<divisions>3</divisions>").unwrap();
    let offset = written.find("<offset>1</offset>").unwrap();
    let second = written.find("<divisions>2</divisions>").unwrap();
    let note = written.find("<note>").unwrap();
    assert!(
        first < offset && offset < second && second < note,
        "{written}"
    );
    // When the declared value holds the early offsets too, one <attributes> is enough.
    let mut simple = read.clone();
    let Item::Direction(d) = &mut simple.parts[0].measures[0].items[0] else {
        panic!()
    };
    d.offset = Some(q(1, 2));
    let written = assert_round_trip(&simple);
    assert_eq!(written.matches("<divisions>").count(), 1, "{written}");
}

/// A tiny deterministic generator for the no-panic test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 0
    }
}

/// `Some(value)` half the time (the value is only built when used).
macro_rules! maybe {
    ($g:ident, $e:expr) => {
        if $g.coin() {
            Some($e)
        } else {
            None
        }
    };
}

fn random_score(g: &mut Lcg) -> Score {
    let texts = [
        "",
        " ",
        "1",
        "2",
        "a&b",
        "x<y>",
        "q\"'",
        "\u{1}\u{FFFF}",
        "é‿x",
        " pad ",
        "\r\n",
        "staccato",
        "1bad",
        "a:b",
        "wedge",
        "words",
        "P1",
    ];
    let lengths = [
        Rational::ZERO,
        q(1, 3),
        q(1, 2),
        q(3, 7),
        q(5, 1),
        q(-1, 2),
        q(1, 1 << 22),
        q(1, 1009),
        q(1, 1013),
        int(MAX_QUARTERS + 1),
        q(i64::MAX, 3),
    ];
    let steps = [
        Step::C,
        Step::D,
        Step::E,
        Step::F,
        Step::G,
        Step::A,
        Step::B,
    ];
    let text = |g: &mut Lcg| g.pick(&texts).to_owned();
    let mut parts = Vec::new();
    for _ in 0..g.below(3) {
        let mut measures = Vec::new();
        for _ in 0..g.below(4) {
            let mut items = Vec::new();
            for _ in 0..g.below(8) {
                let item = match g.below(8) {
                    0..=2 => Item::Note(Note {
                        pitch: maybe!(
                            g,
                            Pitch {
                                step: g.pick(&steps),
                                alter: g.below(9) as i8 - 4,
                                octave: g.below(12) as i8 - 1,
                            }
                        ),
                        unpitched: maybe!(
                            g,
                            Unpitched {
                                display_step: maybe!(g, Step::E),
                                display_octave: maybe!(g, g.below(11) as i8),
                                instrument: maybe!(g, text(g)),
                            }
                        ),
                        rest: g.coin(),
                        measure_rest: g.coin(),
                        duration: g.pick(&lengths),
                        chord: g.coin(),
                        grace: g.below(4) == 0,
                        cue: g.below(4) == 0,
                        voice: maybe!(g, text(g)),
                        staff: maybe!(g, g.below(3) as u8),
                        note_type: maybe!(g, text(g)),
                        dots: g.below(3) as u8,
                        ties: (0..g.below(3))
                            .map(|_| g.pick(&[TieType::Start, TieType::Stop]))
                            .collect(),
                        tuplet: maybe!(
                            g,
                            TimeModification {
                                actual: g.below(4) as u32,
                                normal: g.below(3) as u32,
                            }
                        ),
                        lyrics: (0..g.below(3))
                            .map(|_| Lyric {
                                verse: text(g),
                                text: text(g),
                                syllabic: maybe!(g, Syllabic::Middle),
                                extend: g.coin(),
                            })
                            .collect(),
                        articulations: (0..g.below(2)).map(|_| text(g)).collect(),
                        fermata: g.coin(),
                        dynamics: (0..g.below(3))
                            .map(|_| g.pick(&["p", "sfz", " f", "x"]).to_owned())
                            .collect(),
                    }),
                    3 => Item::Backup {
                        duration: g.pick(&lengths),
                    },
                    4 => Item::Forward {
                        duration: g.pick(&lengths),
                        voice: maybe!(g, text(g)),
                        staff: maybe!(g, g.below(3) as u8),
                    },
                    5 => Item::Direction(Direction {
                        kinds: (0..g.below(3))
                            .map(|_| match g.below(9) {
                                0 => DirectionKind::Words { text: text(g) },
                                1 => DirectionKind::Other { name: text(g) },
                                5 => DirectionKind::Other {
                                    name: "metronome".into(),
                                },
                                6 => DirectionKind::Rehearsal { text: text(g) },
                                7 => DirectionKind::Wedge {
                                    wedge: WedgeType::Continue,
                                },
                                2 => DirectionKind::Metronome {
                                    beat_unit: text(g),
                                    dots: g.below(2) as u8,
                                    per_minute: maybe!(g, text(g)),
                                },
                                3 => DirectionKind::Dynamics {
                                    marks: vec![text(g)],
                                },
                                _ => DirectionKind::Segno,
                            })
                            .collect(),
                        placement: maybe!(g, text(g)),
                        staff: maybe!(g, g.below(3) as u8),
                        voice: maybe!(g, text(g)),
                        offset: maybe!(g, g.pick(&lengths)),
                        sound: maybe!(
                            g,
                            Sound {
                                tempo: maybe!(g, g.pick(&lengths)),
                                dynamics: maybe!(g, g.pick(&lengths)),
                                segno: maybe!(g, text(g)),
                                ..Sound::default()
                            }
                        ),
                    }),
                    6 => Item::Harmony(Harmony {
                        root_step: maybe!(g, g.pick(&steps)),
                        root_alter: g.below(9) as i8 - 4,
                        kind: text(g),
                        bass_step: maybe!(g, g.pick(&steps)),
                        bass_alter: g.below(3) as i8 - 1,
                        text: maybe!(g, text(g)),
                        staff: maybe!(g, g.below(3) as u8),
                        offset: maybe!(g, g.pick(&lengths)),
                    }),
                    _ => Item::Attributes(Attributes {
                        divisions: maybe!(g, g.pick(&[0, 1, 3, 480, u32::MAX])),
                        key: maybe!(
                            g,
                            Key {
                                fifths: g.below(20) as i8 - 10,
                                mode: maybe!(g, text(g)),
                            }
                        ),
                        time: maybe!(
                            g,
                            TimeSig {
                                beats: text(g),
                                beat_type: text(g),
                                symbol: maybe!(g, text(g)),
                            }
                        ),
                        clefs: (0..g.below(2))
                            .map(|_| {
                                clef(&text(g), maybe!(g, 2), maybe!(g, g.below(3) as u8), None)
                            })
                            .collect(),
                        staves: maybe!(g, g.below(4) as u8),
                        transpose: maybe!(g, Transpose::default()),
                    }),
                };
                items.push(item);
            }
            measures.push(Measure {
                number: text(g),
                implicit: g.coin(),
                attributes: maybe!(
                    g,
                    Attributes {
                        divisions: maybe!(g, g.pick(&[0, 2, 7])),
                        staves: maybe!(g, g.below(3) as u8),
                        ..Attributes::default()
                    }
                ),
                items,
                barlines: (0..g.below(3))
                    .map(|_| Barline {
                        location: g.pick(&[
                            BarlineLocation::Left,
                            BarlineLocation::Right,
                            BarlineLocation::Middle,
                        ]),
                        style: maybe!(g, text(g)),
                        repeat: maybe!(g, RepeatDirection::Backward),
                        times: maybe!(g, 2),
                        ending: maybe!(
                            g,
                            Ending {
                                number: text(g),
                                kind: EndingKind::Stop,
                                text: maybe!(g, text(g)),
                            }
                        ),
                    })
                    .collect(),
            });
        }
        parts.push(Part {
            id: text(g),
            name: maybe!(g, text(g)),
            instrument: maybe!(g, text(g)),
            instruments: (0..g.below(3))
                .map(|_| Instrument {
                    id: text(g),
                    name: maybe!(g, text(g)),
                    midi_channel: maybe!(g, g.below(20) as u8),
                    midi_program: maybe!(g, g.below(200) as u8),
                    midi_unpitched: maybe!(g, 0),
                })
                .collect(),
            staves: g.below(4) as u8,
            measures,
        });
    }
    Score {
        title: maybe!(g, text(g)),
        composer: maybe!(g, text(g)),
        parts,
    }
}

#[test]
fn writer_never_panics_and_its_output_always_reads_back() {
    let mut g = Lcg(2024);
    let (mut written, mut refused) = (0, 0);
    for _ in 0..5000 {
        let score = random_score(&mut g);
        let Ok(xml) = write_musicxml(&score) else {
            refused += 1;
            continue;
        };
        written += 1;
        let first = read_musicxml(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(first.warnings.is_empty(), "{:?}\n{xml}", first.warnings);
        check_schema_order(&xml);
        // What the reader gives back is a fixed point: it writes and reads back unchanged.
        let xml2 = write_musicxml(&first.score).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let second = read_musicxml(xml2.as_bytes()).unwrap();
        assert!(second.warnings.is_empty(), "{:?}", second.warnings);
        assert_eq!(second.score, first.score, "{xml}\n{xml2}");
        assert_eq!(write_musicxml(&second.score).unwrap(), xml2);
    }
    // Both paths are exercised.
    assert!(
        written > 300 && refused > 300,
        "{written} written, {refused} refused"
    );
}

// ---------------------------------------------------------------------------
// Compressed MusicXML (.mxl)

/// One hand-built ZIP entry: what the headers declare and the bytes stored.
#[derive(Clone)]
struct RawEntry {
    name: String,
    stored: Vec<u8>,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u32,
    uncompressed: u32,
    extra: Vec<u8>,
}

impl RawEntry {
    /// A correct deflated entry.
    fn deflated(name: &str, data: &[u8]) -> RawEntry {
        let stored = miniz_oxide::deflate::compress_to_vec(data, 6);
        RawEntry {
            name: name.into(),
            compressed: stored.len() as u32,
            stored,
            method: 8,
            flags: 0,
            crc: crc32(data),
            uncompressed: data.len() as u32,
            extra: Vec::new(),
        }
    }

    /// A correct stored entry.
    fn stored(name: &str, data: &[u8]) -> RawEntry {
        RawEntry {
            name: name.into(),
            stored: data.to_vec(),
            method: 0,
            flags: 0,
            crc: crc32(data),
            compressed: data.len() as u32,
            uncompressed: data.len() as u32,
            extra: Vec::new(),
        }
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A ZIP archive of the given entries, headers exactly as declared.
fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        for v in [20u16, e.flags, e.method, 0, 0x21] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [e.crc, e.compressed, e.uncompressed] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&e.stored);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for v in [20u16, 20, e.flags, e.method, 0, 0x21] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [e.crc, e.compressed, e.uncompressed] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [e.name.len() as u16, e.extra.len() as u16, 0, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
        central.extend_from_slice(&e.extra);
    }
    let cd_offset = out.len() as u32;
    let n = entries.len() as u16;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn container(path: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><container><rootfiles><rootfile full-path="{path}" media-type="application/vnd.recordare.musicxml+xml"/></rootfiles></container>"#
    )
}

fn mxl_code(bytes: &[u8]) -> &'static str {
    match read_mxl(bytes) {
        Ok(p) => panic!("expected an error, got {:?}", p.score.title),
        Err(e) => e.code(),
    }
}

fn fixture_names() -> Vec<String> {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".musicxml"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    names
}

#[test]
fn mxl_round_trip_every_fixture() {
    for name in fixture_names() {
        let score = parse(&name).score;
        let mxl = write_mxl(&score).unwrap_or_else(|e| panic!("{name}: {e}"));
        // mimetype first, stored, uncompressed and unpadded.
        assert_eq!(&mxl[..4], b"PK\x03\x04", "{name}");
        assert_eq!(&mxl[8..10], &[0, 0], "{name}: mimetype is stored");
        assert_eq!(&mxl[30..38], b"mimetype", "{name}");
        assert_eq!(&mxl[38..38 + MXL_MIMETYPE.len()], MXL_MIMETYPE.as_bytes());
        let expected = read_musicxml(write_musicxml(&score).unwrap().as_bytes()).unwrap();
        let got = read_mxl(&mxl).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected, "{name}");
        assert_eq!(read_score(&mxl).unwrap(), expected, "{name}");
        // Deterministic output.
        assert_eq!(write_mxl(&score).unwrap(), mxl, "{name}");
    }
}

#[test]
fn mxl_from_other_writers_and_fallback_without_container() {
    let xml = fixture("melody_lyrics.musicxml");
    let expected = read_musicxml(&xml).unwrap();
    // A rootfile in a folder, a second rootfile ignored, extra entries, stored score.
    let c = r#"<container><rootfiles><rootfile full-path="lg/Song.xml"/><rootfile full-path="nope.xml"/></rootfiles></container>"#;
    let zip = raw_zip(&[
        RawEntry::stored("mimetype", MXL_MIMETYPE.as_bytes()),
        RawEntry::deflated("META-INF/container.xml", c.as_bytes()),
        RawEntry::deflated("lg/cover.png", b"\x89PNG"),
        RawEntry::stored("lg/Song.xml", &xml),
    ]);
    assert_eq!(read_mxl(&zip).unwrap(), expected);
    // No container: the first .xml/.musicxml outside META-INF, with a warning.
    let zip = raw_zip(&[
        RawEntry::deflated("META-INF/other.xml", b"<x/>"),
        RawEntry::deflated("readme.txt", b"hi"),
        RawEntry::deflated("Song.MusicXML", &xml),
    ]);
    let got = read_mxl(&zip).unwrap();
    assert_eq!(got.score, expected.score);
    assert!(
        got.warnings[0].contains("container.xml"),
        "{:?}",
        got.warnings
    );
    assert_eq!(&got.warnings[1..], &expected.warnings[..]);
    // Neither a container nor a score entry.
    let zip = raw_zip(&[RawEntry::deflated("readme.txt", b"hi")]);
    assert_eq!(mxl_code(&zip), "INVALID_MXL");
    // A container without rootfile, or naming an absent entry.
    let zip = raw_zip(&[RawEntry::deflated(
        "META-INF/container.xml",
        b"<container><rootfiles/></container>",
    )]);
    assert_eq!(mxl_code(&zip), "INVALID_MXL");
    let zip = raw_zip(&[RawEntry::deflated(
        "META-INF/container.xml",
        container("missing.xml").as_bytes(),
    )]);
    assert_eq!(mxl_code(&zip), "INVALID_MXL");
    // The plain reader points at read_mxl; read_score dispatches.
    let mxl = write_mxl(&expected.score).unwrap();
    let e = read_musicxml(&mxl).unwrap_err();
    assert_eq!(e.code(), "SCORE_UNSUPPORTED");
    assert!(e.to_string().contains("read_score"), "{e}");
    assert_eq!(ScoreFormat::detect(&mxl), ScoreFormat::Mxl);
    assert_eq!(ScoreFormat::detect(&xml), ScoreFormat::MusicXml);
    assert_eq!(read_score(&xml).unwrap(), expected);
    let midi = write_midi(&expected.score).unwrap();
    assert_eq!(ScoreFormat::detect(&midi), ScoreFormat::Midi);
    assert_eq!(read_score(&midi).unwrap(), read_midi(&midi).unwrap());
    assert_eq!(read_score(b"MThd").unwrap_err().code(), "INVALID_MIDI");
    assert_eq!(read_score(b"PK\x03\x04").unwrap_err().code(), "INVALID_MXL");
}

#[test]
fn mxl_declared_size_over_the_limit_is_refused_before_inflating() {
    // Three entries declaring 3.4 GB each (10.2 GB), with no data behind them:
    // inflating anything would fail as INVALID_MXL, so MXL_TOO_LARGE proves nothing was.
    let huge = |name: &str| RawEntry {
        name: name.into(),
        stored: Vec::new(),
        method: 8,
        flags: 0,
        crc: 0,
        compressed: 0,
        uncompressed: 3_400_000_000,
        extra: Vec::new(),
    };
    let zip = raw_zip(&[
        RawEntry::deflated("META-INF/container.xml", container("a.xml").as_bytes()),
        huge("a.xml"),
        huge("b.xml"),
        huge("c.xml"),
    ]);
    assert_eq!(mxl_code(&zip), "MXL_TOO_LARGE");
    // One entry declaring 10 GB through a ZIP64 extra field.
    let mut extra = vec![1, 0, 16, 0];
    extra.extend_from_slice(&10_000_000_000u64.to_le_bytes());
    extra.extend_from_slice(&0u64.to_le_bytes());
    let zip = raw_zip(&[RawEntry {
        uncompressed: u32::MAX,
        extra,
        ..huge("a.xml")
    }]);
    assert_eq!(mxl_code(&zip), "MXL_TOO_LARGE");
    // Just over 64 MiB in total.
    let zip = raw_zip(&[
        RawEntry {
            uncompressed: 32 * 1024 * 1024,
            ..huge("a.xml")
        },
        RawEntry {
            uncompressed: 32 * 1024 * 1024 + 1,
            ..huge("b.xml")
        },
    ]);
    assert_eq!(mxl_code(&zip), "MXL_TOO_LARGE");
    // Under a smaller custom limit, even a real score is too large.
    let mxl = write_mxl(&parse("melody_lyrics.musicxml").score).unwrap();
    let limits = ReadLimits {
        max_bytes: 100,
        ..ReadLimits::default()
    };
    assert_eq!(
        read_mxl_with_limits(&mxl, &limits).unwrap_err().code(),
        "MXL_TOO_LARGE"
    );
}

#[test]
fn mxl_zip_bomb_is_stopped_at_the_declared_size() {
    // 100 MB of one byte, deflated to about 100 KB.
    let bomb = RawEntry::deflated("score.xml", &vec![b' '; 100_000_000]);
    assert!(bomb.stored.len() < 1_000_000, "{}", bomb.stored.len());
    let c = || RawEntry::deflated("META-INF/container.xml", container("score.xml").as_bytes());
    // Honest: over the limit by declaration.
    assert_eq!(mxl_code(&raw_zip(&[c(), bomb.clone()])), "MXL_TOO_LARGE");
    // Lying: claims 1,000 bytes, or 60 MiB (under the limit); inflating stops just past the claim.
    for claim in [1_000u32, 60 * 1024 * 1024] {
        let liar = RawEntry {
            uncompressed: claim,
            ..bomb.clone()
        };
        assert_eq!(
            mxl_code(&raw_zip(&[c(), liar])),
            "MXL_TOO_LARGE",
            "claim {claim}"
        );
    }
}

#[test]
fn mxl_too_many_entries() {
    let mut entries = vec![RawEntry::deflated(
        "META-INF/container.xml",
        container("score.xml").as_bytes(),
    )];
    entries.push(RawEntry::deflated(
        "score.xml",
        &fixture("melody_lyrics.musicxml"),
    ));
    for i in 0..1_998 {
        entries.push(RawEntry::stored(&format!("junk/{i}.txt"), b"x"));
    }
    assert_eq!(entries.len(), 2_000);
    assert_eq!(mxl_code(&raw_zip(&entries)), "MXL_TOO_LARGE");
    entries.truncate(MAX_MXL_ENTRIES);
    assert!(read_mxl(&raw_zip(&entries)).is_ok());
}

#[test]
fn mxl_unsafe_or_corrupt_archives_are_invalid() {
    let xml = fixture("melody_lyrics.musicxml");
    // A rootfile that climbs out.
    for path in [
        "../evil.xml",
        "/etc/evil.xml",
        "a/../../evil.xml",
        "C:\\evil.xml",
    ] {
        let zip = raw_zip(&[
            RawEntry::deflated("META-INF/container.xml", container(path).as_bytes()),
            RawEntry::deflated("score.xml", &xml),
        ]);
        assert_eq!(mxl_code(&zip), "INVALID_MXL", "{path}");
    }
    // An entry name that climbs out.
    let zip = raw_zip(&[
        RawEntry::deflated("META-INF/container.xml", container("score.xml").as_bytes()),
        RawEntry::deflated("score.xml", &xml),
        RawEntry::deflated("../evil.xml", b"<x/>"),
    ]);
    assert_eq!(mxl_code(&zip), "INVALID_MXL");
    let good = || {
        vec![
            RawEntry::deflated("META-INF/container.xml", container("score.xml").as_bytes()),
            RawEntry::deflated("score.xml", &xml),
        ]
    };
    assert!(read_mxl(&raw_zip(&good())).is_ok());
    // Encrypted, unsupported method, bad CRC, short data.
    let mut e = good();
    e[1].flags = 1;
    assert_eq!(mxl_code(&raw_zip(&e)), "INVALID_MXL");
    let mut e = good();
    e[1].method = 12;
    assert_eq!(mxl_code(&raw_zip(&e)), "INVALID_MXL");
    let mut e = good();
    e[1].crc ^= 1;
    assert_eq!(mxl_code(&raw_zip(&e)), "INVALID_MXL");
    let mut e = good();
    e[1].uncompressed += 10;
    assert_eq!(mxl_code(&raw_zip(&e)), "INVALID_MXL");
    let mut e = good();
    e[1].stored = vec![0xFF; 50];
    e[1].compressed = 50;
    assert_eq!(mxl_code(&raw_zip(&e)), "INVALID_MXL");
    // Truncated at every length.
    let mxl = write_mxl(&parse("melody_lyrics.musicxml").score).unwrap();
    for len in 0..mxl.len() {
        assert_eq!(mxl_code(&mxl[..len]), "INVALID_MXL", "truncated to {len}");
    }
    assert_eq!(mxl_code(b""), "INVALID_MXL");
    assert_eq!(mxl_code(b"PK\x03\x04"), "INVALID_MXL");
}

#[test]
fn mxl_random_mutations_never_panic() {
    let mxl = write_mxl(&parse("chords_ties_tuplets.musicxml").score).unwrap();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..3_000 {
        let mut m = mxl.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % m.len() as u64) as usize;
            m[at] = next() as u8;
        }
        if next() % 8 == 0 {
            m.truncate((next() % m.len() as u64) as usize);
        }
        match read_score(&m) {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
        let _ = read_mxl(&m);
    }
    assert!(refused > 100, "{ok} read, {refused} refused");
}
