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
    assert_eq!(e.code(), "SCORE_XML");
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
    assert_eq!(e.code(), "SCORE_XML");
    let ScoreError::Xml { line, .. } = e else {
        panic!()
    };
    assert_eq!(line, full[..cut].lines().count() as u64);
}

#[test]
fn mismatched_tags_and_other_roots() {
    let e = err("<score-partwise>\n  <part id=\"P1\"></measure></part></score-partwise>");
    assert_eq!(e.code(), "SCORE_XML");
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
        "SCORE_XML"
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
