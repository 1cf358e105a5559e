//! Tests of coda-music: repeats.
//!
//! Most scores are short MusicXML texts read by the real reader: measure `i`
//! holds one whole note whose step and octave tell the measures apart.

use coda_music::*;

const STEPS: [&str; 7] = ["C", "D", "E", "F", "G", "A", "B"];

/// A measure's content: a whole note naming it (up to measure 42), plus extra XML (barlines, directions).
fn bar(i: usize, extra: &str) -> String {
    let (step, octave) = (STEPS[i % 7], 3 + (i / 7) % 6);
    format!(
        "<measure number=\"{}\">{extra}<note><pitch><step>{step}</step><octave>{octave}</octave></pitch>\
         <duration>4</duration><type>whole</type></note></measure>",
        i + 1
    )
}

/// A one-part score of measures given as extra XML each (the first declares divisions, key and time).
fn score(extras: &[&str]) -> Score {
    let mut body = String::new();
    for (i, extra) in extras.iter().enumerate() {
        let extra = if i == 0 {
            format!("<attributes><divisions>1</divisions><key><fifths>0</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time></attributes>{extra}")
        } else {
            extra.to_string()
        };
        body.push_str(&bar(i, &extra));
    }
    read(&body)
}

fn read(measures: &str) -> Score {
    let xml = format!(
        r#"<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"/></part-list><part id="P1">{measures}</part></score-partwise>"#
    );
    let p = read_musicxml(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    p.score
}

fn fixture(name: &str) -> Score {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    read_musicxml(&bytes).unwrap().score
}

const FWD: &str = r#"<barline location="left"><repeat direction="forward"/></barline>"#;
const BACK: &str = r#"<barline location="right"><repeat direction="backward"/></barline>"#;

fn back_times(times: u32) -> String {
    format!(r#"<barline location="right"><repeat direction="backward" times="{times}"/></barline>"#)
}

fn ending_start(number: &str) -> String {
    format!(r#"<barline location="left"><ending number="{number}" type="start"/></barline>"#)
}

fn ending_stop(number: &str, kind: &str) -> String {
    format!(r#"<barline location="right"><ending number="{number}" type="{kind}"/></barline>"#)
}

fn words(text: &str, sound: &str) -> String {
    format!("<direction><direction-type><words>{text}</words></direction-type>{sound}</direction>")
}

fn order(s: &Score) -> Vec<usize> {
    play_order(s).unwrap_or_else(|e| panic!("{e}"))
}

fn expand(s: &Score) -> Score {
    expand_repeats(s).unwrap_or_else(|e| panic!("{e}"))
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

/// The measures a played-out part holds, by the index its whole note names.
fn played(part: &Part) -> Vec<usize> {
    part.measures
        .iter()
        .map(|m| {
            let n = notes(m).into_iter().find(|n| n.pitch.is_some()).unwrap();
            let p = n.pitch.unwrap();
            let step = STEPS
                .iter()
                .position(|s| *s == format!("{:?}", p.step))
                .unwrap();
            (p.octave as usize - 3) * 7 + step
        })
        .collect()
}

/// No repeat barline, ending or jump is left, numbers run from `first`, and the score writes and reads back.
fn assert_played_out(s: &Score, first: usize) {
    for part in &s.parts {
        for (k, m) in part.measures.iter().enumerate() {
            assert_eq!(m.number, (k + first).to_string());
            for b in &m.barlines {
                assert!(b.repeat.is_none() && b.ending.is_none() && b.times.is_none());
            }
            for item in &m.items {
                if let Item::Direction(d) = item {
                    if let Some(snd) = &d.sound {
                        assert!(!snd.dacapo && !snd.fine, "{snd:?}");
                        assert!(snd.segno.is_none() && snd.dalsegno.is_none(), "{snd:?}");
                        assert!(snd.coda.is_none() && snd.tocoda.is_none(), "{snd:?}");
                    }
                    assert!(!d
                        .kinds
                        .iter()
                        .any(|k| matches!(k, DirectionKind::Segno | DirectionKind::Coda)));
                }
            }
        }
    }
    let xml = write_musicxml(s).unwrap();
    let back = read_musicxml(xml.as_bytes()).unwrap();
    assert_eq!(back.score, *s, "{xml}");
    // Expanding again changes nothing.
    assert_eq!(expand(s), *s);
}

#[test]
fn simple_repeat() {
    let s = score(&[FWD, BACK, ""]);
    assert_eq!(order(&s), [0, 1, 0, 1, 2]);
    let e = expand(&s);
    assert_eq!(played(&e.parts[0]), [0, 1, 0, 1, 2]);
    assert_played_out(&e, 1);
    // Key and time, declared in the first measure, are restated nowhere else: nothing changed.
    assert!(e.parts[0].measures[2].attributes.is_some());
    assert!(e.parts[0].measures[1].attributes.is_none());
    assert!(e.parts[0].measures[3].attributes.is_none());
    // A right-barline forward repeat starts at the next measure.
    let right_fwd = r#"<barline location="right"><repeat direction="forward"/></barline>"#;
    let s = score(&[right_fwd, BACK, ""]);
    assert_eq!(order(&s), [0, 1, 1, 2]);
}

#[test]
fn repeat_three_times_and_times_one() {
    let s = score(&["", FWD, &back_times(3), ""]);
    assert_eq!(order(&s), [0, 1, 2, 1, 2, 1, 2, 3]);
    assert_played_out(&expand(&s), 1);
    for once in [0, 1] {
        let s = score(&[FWD, &back_times(once), ""]);
        assert_eq!(order(&s), [0, 1, 2], "times={once}");
    }
}

#[test]
fn first_and_second_endings() {
    let s = fixture("repeats_harmony.musicxml");
    // |: 1 [1. 2 :|] [2. 3 (Fine, no jump: ignored)]
    assert_eq!(order(&s), [0, 1, 0, 2]);
    let e = expand(&s);
    assert_eq!(e.parts[0].measures.len(), 4);
    assert_played_out(&e, 1);
    // The Fine words and sound, and the segno, are gone; the chord symbols stay.
    let m = &e.parts[0].measures;
    assert!(!m[3].items.iter().any(|i| matches!(i, Item::Direction(_))));
    assert!(m[3].items.iter().any(|i| matches!(i, Item::Harmony(_))));
    assert!(!m[0].items.iter().any(|i| matches!(i, Item::Direction(_))));
    // The ending's light-heavy final barline stays (it had no repeat sign).
    assert_eq!(m[3].barlines.len(), 1);
    assert_eq!(m[3].barlines[0].style.as_deref(), Some("light-heavy"));
    // Measure 1 is played twice with the same attributes, written once.
    assert!(m[2].attributes.is_some());
}

#[test]
fn ending_numbers_lists_and_ranges() {
    // [1, 2 :|] [3]: three passes without `times`.
    let s = score(&[
        FWD,
        &format!(
            "{}{}{BACK}",
            ending_start("1, 2"),
            ending_stop("1, 2", "stop")
        ),
        &format!("{}{}", ending_start("3"), ending_stop("3", "discontinue")),
        "",
    ]);
    assert_eq!(order(&s), [0, 1, 0, 1, 0, 2, 3]);
    // A range, and endings over two measures each.
    let s = score(&[
        FWD,
        &ending_start("1-3"),
        &format!("{}{BACK}", ending_stop("1-3", "stop")),
        &ending_start("4."),
        &ending_stop("4.", "discontinue"),
    ]);
    assert_eq!(order(&s), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 3, 4]);
    assert_played_out(&expand(&s), 1);
    // [1 :|] [2 :|] [3]
    let s = score(&[
        FWD,
        &format!("{}{}{BACK}", ending_start("1"), ending_stop("1", "stop")),
        &format!("{}{}{BACK}", ending_start("2"), ending_stop("2", "stop")),
        &format!("{}{}", ending_start("3"), ending_stop("3", "discontinue")),
    ]);
    assert_eq!(order(&s), [0, 1, 0, 2, 0, 3]);
    // A number that names no pass.
    let s = score(&[FWD, &format!("{}{BACK}", ending_start("first"))]);
    let e = play_order(&s).unwrap_err();
    assert_eq!(e.code(), "INVALID_REPEATS");
    assert!(e.to_string().contains("\"first\""), "{e}");
}

#[test]
fn da_capo_al_fine() {
    // From words only: A B(Fine) C(D.C. al Fine).
    let s = score(&["", &words("Fine", ""), &words("D.C. al Fine", "")]);
    assert_eq!(order(&s), [0, 1, 2, 0, 1]);
    let e = expand(&s);
    assert_played_out(&e, 1);
    // The jump words are removed; nothing else was in those directions.
    assert!(e.parts[0].measures.iter().all(|m| m.items.len() == 1));
    // From sound attributes, as MuseScore writes them; repeats are not taken after the jump.
    let s = score(&[
        &format!("{FWD}{BACK}"),
        &words("Fine", r#"<sound fine="yes"/>"#),
        &words("D.C. al Fine", r#"<sound dacapo="yes"/>"#),
    ]);
    assert_eq!(order(&s), [0, 0, 1, 2, 0, 1]);
    assert_played_out(&expand(&s), 1);
    // A plain D.C. with no Fine plays to the end; a D.C. under a repeat sign is taken on the last pass.
    let s = score(&[FWD, &format!("{}{BACK}", words("Da Capo", "")), ""]);
    assert_eq!(order(&s), [0, 1, 0, 1, 0, 1, 2]);
    // Text that only looks like a jump is not one.
    let s = score(&["", &words("fine tuning", ""), &words("D.C. senza rep.", "")]);
    assert_eq!(order(&s), [0, 1, 2]);
}

#[test]
fn dal_segno_al_coda() {
    // A, B (segno), C (To Coda), D (D.S. al Coda), E (coda): MuseScore's sound attributes.
    let segno =
        r#"<direction><direction-type><segno/></direction-type><sound segno="segno"/></direction>"#;
    let to_coda = words("To Coda", r#"<sound tocoda="coda"/>"#);
    let ds = words("D.S. al Coda", r#"<sound dalsegno="segno"/>"#);
    let coda =
        r#"<direction><direction-type><coda/></direction-type><sound coda="coda"/></direction>"#;
    let s = score(&["", segno, &to_coda, &ds, coda]);
    assert_eq!(order(&s), [0, 1, 2, 3, 1, 2, 4]);
    let e = expand(&s);
    assert_played_out(&e, 1);
    assert_eq!(played(&e.parts[0]), [0, 1, 2, 3, 1, 2, 4]);
    // Words and signs only: two bare coda signs are the To Coda point and the coda.
    let sign = r#"<direction><direction-type><segno/></direction-type></direction>"#;
    let bare_coda = r#"<direction><direction-type><coda/></direction-type></direction>"#;
    let s = score(&["", sign, bare_coda, &words("D.S. al Coda", ""), bare_coda]);
    assert_eq!(order(&s), [0, 1, 2, 3, 1, 2, 4]);
    // "Coda" words as the target, and a D.S. al Fine that ignores the To Coda.
    let s = score(&[
        sign,
        &words("To Coda", ""),
        &words("Fine", ""),
        &words("D.S. al Fine", ""),
        &words("Coda", ""),
    ]);
    assert_eq!(order(&s), [0, 1, 2, 3, 0, 1, 2]);
    // Named segni: the D.S. goes to its own.
    let named = |n: &str| {
        format!(
            r#"<direction><direction-type><segno/></direction-type><sound segno="{n}"/></direction>"#
        )
    };
    let s = score(&[
        &named("a"),
        &named("b"),
        &words("D.S.", r#"<sound dalsegno="a"/>"#),
    ]);
    assert_eq!(order(&s), [0, 1, 2, 0, 1, 2]);
    // Missing targets are refused.
    let s = score(&["", &words("D.S.", "")]);
    assert_eq!(play_order(&s).unwrap_err().code(), "INVALID_REPEATS");
    let s = score(&[&words("To Coda", ""), &words("D.C. al Coda", "")]);
    assert_eq!(play_order(&s).unwrap_err().code(), "INVALID_REPEATS");
}

#[test]
fn unbalanced_backward_repeat_has_an_implied_start() {
    // No forward repeat: back to the beginning.
    let s = score(&["", BACK, ""]);
    assert_eq!(order(&s), [0, 1, 0, 1, 2]);
    // After a repeated section: back to just after it.
    let s = score(&[FWD, BACK, "", BACK, ""]);
    assert_eq!(order(&s), [0, 1, 0, 1, 2, 3, 2, 3, 4]);
    // After a group of endings: back to just after the last ending.
    let s = score(&[
        FWD,
        &format!("{}{}{BACK}", ending_start("1"), ending_stop("1", "stop")),
        &format!("{}{}", ending_start("2"), ending_stop("2", "discontinue")),
        "",
        BACK,
    ]);
    assert_eq!(order(&s), [0, 1, 0, 2, 3, 4, 3, 4]);
    // A backward repeat on a left barline ends the measure before.
    let left_back = r#"<barline location="left"><repeat direction="backward"/></barline>"#;
    let s = score(&["", "", left_back]);
    assert_eq!(order(&s), [0, 1, 0, 1, 2]);
}

#[test]
fn pickup_measure() {
    let pickup = r#"<measure number="0" implicit="yes"><attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes><note><pitch><step>C</step><octave>3</octave></pitch><duration>1</duration><type>quarter</type></note></measure>"#;
    // The pickup is played again when the repeat goes back to the beginning.
    let s = read(&format!("{pickup}{}{}", bar(1, ""), bar(2, BACK)));
    assert_eq!(order(&s), [0, 1, 2, 0, 1, 2]);
    let e = expand(&s);
    assert_played_out(&e, 0);
    let m = &e.parts[0].measures;
    assert!(m[0].implicit && m[3].implicit && !m[1].implicit);
    assert_eq!(m[0].number, "0");
    assert_eq!(m[5].number, "5");
    // Not when the repeat starts after it.
    let s = read(&format!("{pickup}{}{}", bar(1, FWD), bar(2, BACK)));
    assert_eq!(order(&s), [0, 1, 2, 1, 2]);
}

#[test]
fn key_time_and_tempo_are_restated_at_a_jump_target() {
    let segno =
        r#"<direction><direction-type><segno/></direction-type><sound segno="s"/></direction>"#;
    let tempo = |bpm: u32| {
        format!(
            r#"<direction><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>{bpm}</per-minute></metronome></direction-type><sound tempo="{bpm}"/></direction>"#
        )
    };
    let change = r#"<attributes><key><fifths>2</fifths></key><time><beats>3</beats><beat-type>4</beat-type></time><clef><sign>F</sign><line>4</line></clef></attributes>"#;
    let s = score(&[
        &format!(
            r#"<attributes><clef><sign>G</sign><line>2</line></clef></attributes>{}"#,
            tempo(100)
        ),
        segno,
        &format!(
            "{change}{}{}",
            tempo(60),
            words("D.S.", r#"<sound dalsegno="s"/>"#)
        ),
    ]);
    assert_eq!(order(&s), [0, 1, 2, 1, 2]);
    let e = expand(&s);
    let m = &e.parts[0].measures;
    let a = m[3].attributes.as_ref().expect("restated attributes");
    assert_eq!(a.key.as_ref().unwrap().fifths, 0);
    assert_eq!(a.time.as_ref().unwrap().beats, "4");
    assert_eq!(a.clefs.len(), 1);
    assert_eq!(a.clefs[0].sign, "G");
    // Divisions did not change, so they are not restated.
    assert_eq!(a.divisions, None);
    // The tempo in force at the segno (100) is restated before the first note.
    match &m[3].items[0] {
        Item::Direction(d) => {
            assert_eq!(
                d.sound.as_ref().unwrap().tempo,
                Some(Rational::from_int(100))
            )
        }
        other => panic!("{other:?}"),
    }
    // The first pass through measure 2 follows measure 1: nothing added.
    assert!(m[1].attributes.is_none());
    assert_eq!(m[1].items.len(), 1);
    // The change comes again with measure 3.
    assert_eq!(
        m[4].attributes
            .as_ref()
            .unwrap()
            .key
            .as_ref()
            .unwrap()
            .fifths,
        2
    );
    assert_played_out(&e, 1);
}

#[test]
fn ties_at_joins() {
    let tied = |step: &str, ties: &[&str]| {
        let t: String = ties
            .iter()
            .map(|t| format!(r#"<tie type="{t}"/>"#))
            .collect();
        let n: String = ties
            .iter()
            .map(|t| format!(r#"<tied type="{t}"/>"#))
            .collect();
        format!("<note><pitch><step>{step}</step><octave>5</octave></pitch><duration>2</duration>{t}<type>half</type><notations>{n}</notations></note>")
    };
    // |: 1 (A5 tied on) [1. 2 (A5 tied from) :|] [2. 3 (A5 tied from)]: both ties are real.
    let s = score(&[
        &format!("{FWD}{}", tied("A", &["start"])),
        &format!(
            "{}{}{}{BACK}",
            ending_start("1"),
            tied("A", &["stop"]),
            ending_stop("1", "stop")
        ),
        &format!(
            "{}{}{}",
            ending_start("2"),
            tied("A", &["stop"]),
            ending_stop("2", "discontinue")
        ),
    ]);
    let e = expand(&s);
    let ties = |k: usize| -> Vec<Vec<TieType>> {
        notes(&e.parts[0].measures[k])
            .iter()
            .filter(|n| n.pitch.is_some_and(|p| p.octave == 5))
            .map(|n| n.ties.clone())
            .collect()
    };
    assert_eq!(ties(0), [vec![TieType::Start]]);
    assert_eq!(ties(1), [vec![TieType::Stop]]);
    assert_eq!(ties(2), [vec![TieType::Start]]);
    assert_eq!(ties(3), [vec![TieType::Stop]]);
    // |: 1 (B5 tied on) :| 2 (B5 tied from): the tie does not cross the jump back.
    let s = score(&[
        &format!("{FWD}{}{BACK}", tied("B", &["start"])),
        &tied("B", &["stop"]),
    ]);
    let e = expand(&s);
    let b5 = |k: usize| -> Vec<TieType> {
        notes(&e.parts[0].measures[k])
            .into_iter()
            .find(|n| n.pitch.is_some_and(|p| p.octave == 5))
            .unwrap()
            .ties
            .clone()
    };
    assert_eq!(b5(0), Vec::<TieType>::new());
    assert_eq!(b5(1), [TieType::Start]);
    assert_eq!(b5(2), [TieType::Stop]);
    // A tie stop at a D.C. target that nothing ties into is dropped: the note sounds.
    let s = score(&[&tied("C", &["stop"]), &words("D.C.", "")]);
    let e = expand(&s);
    assert_eq!(
        notes(&e.parts[0].measures[2])
            .into_iter()
            .find(|n| n.pitch.is_some_and(|p| p.octave == 5))
            .unwrap()
            .ties,
        []
    );
}

#[test]
fn all_parts_expand_as_the_first() {
    let two = r#"<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"/><score-part id="P2"/></part-list>
        <part id="P1"><measure number="1"><attributes><divisions>1</divisions></attributes><note><rest/><duration>4</duration></note>
        <barline><repeat direction="backward"/></barline></measure><measure number="2"><note><rest/><duration>4</duration></note></measure></part>
        <part id="P2"><measure number="1"><attributes><divisions>1</divisions></attributes><note><pitch><step>C</step><octave>4</octave></pitch><duration>4</duration></note></measure>
        <measure number="2"><note><pitch><step>D</step><octave>4</octave></pitch><duration>4</duration></note><barline><repeat direction="backward" times="5"/></barline></measure></part></score-partwise>"#;
    let s = read_musicxml(two.as_bytes()).unwrap().score;
    // The second part's own repeat sign is ignored (and removed).
    assert_eq!(order(&s), [0, 0, 1]);
    let e = expand(&s);
    let steps: Vec<Step> = e.parts[1]
        .measures
        .iter()
        .map(|m| notes(m)[0].pitch.unwrap().step)
        .collect();
    assert_eq!(steps, [Step::C, Step::C, Step::D]);
    assert_played_out(&e, 1);
    // Parts of different lengths cannot expand together.
    let mut uneven = s.clone();
    uneven.parts[1].measures.pop();
    let err = expand_repeats(&uneven).unwrap_err();
    assert_eq!(err.code(), "INVALID_REPEATS");
    assert!(err.to_string().contains("\"P2\""), "{err}");
    // No parts, no measures: nothing to do.
    assert_eq!(expand(&Score::default()), Score::default());
}

#[test]
fn repeat_bombs_are_refused() {
    // One section played four billion times.
    let s = score(&[FWD, &back_times(u32::MAX)]);
    let e = play_order(&s).unwrap_err();
    assert_eq!(e.code(), "SCORE_TOO_LARGE");
    assert_eq!(
        e,
        RepeatError::TooLarge {
            what: "measures",
            limit: 256
        }
    );
    // Many sections of modest counts, multiplied by D.C.s: still bounded by 16x the measures.
    let mut extras: Vec<String> = Vec::new();
    for _ in 0..100 {
        extras.push(FWD.to_string());
        extras.push(back_times(20));
    }
    extras.push(words("D.C.", ""));
    let refs: Vec<&str> = extras.iter().map(String::as_str).collect();
    let s = score(&refs);
    let e = play_order(&s).unwrap_err();
    assert_eq!(
        e,
        RepeatError::TooLarge {
            what: "measures",
            limit: 201 * 16
        }
    );
    // A large measure repeated is bounded by items too.
    let big: String = (0..40_000)
        .map(|_| "<forward><duration>0</duration></forward>")
        .collect();
    let s = score(&[FWD, &format!("{big}{}", back_times(100))]);
    let e = play_order(&s).unwrap_err();
    assert_eq!(e.code(), "SCORE_TOO_LARGE");
    assert!(e.to_string().contains("items"), "{e}");
    // The hard cap holds for long scores: 10,000 measures repeated 11 times.
    let mut long = Score {
        parts: vec![Part {
            id: "P1".into(),
            name: None,
            instrument: None,
            instruments: Vec::new(),
            staves: 1,
            measures: Vec::new(),
        }],
        ..Score::default()
    };
    for i in 0..10_000 {
        long.parts[0].measures.push(Measure {
            number: (i + 1).to_string(),
            implicit: false,
            attributes: None,
            items: Vec::new(),
            barlines: Vec::new(),
        });
    }
    long.parts[0].measures[9_999].barlines.push(Barline {
        repeat: Some(RepeatDirection::Backward),
        times: Some(11),
        ..Barline::default()
    });
    let e = play_order(&long).unwrap_err();
    assert_eq!(
        e,
        RepeatError::TooLarge {
            what: "measures",
            limit: MAX_EXPANDED_MEASURES as u64
        }
    );
    long.parts[0].measures[9_999].barlines[0].times = Some(10);
    assert_eq!(play_order(&long).unwrap().len(), 100_000);
}
