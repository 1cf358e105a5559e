//! Key finding's behaviour on histograms and timed notes built here.

use coda_theory::*;

/// A histogram of `degrees` (semitones above `tonic`) weighted by `weights`.
fn histogram(tonic: u8, degrees: &[(u8, f64)]) -> [f64; 12] {
    let mut h = [0.0; 12];
    for &(d, w) in degrees {
        h[usize::from((tonic + d) % 12)] += w;
    }
    h
}

/// A major scale with tonic and dominant stressed.
const MAJOR: &[(u8, f64)] = &[
    (0, 4.0),
    (2, 1.5),
    (4, 2.5),
    (5, 1.5),
    (7, 3.5),
    (9, 1.5),
    (11, 1.0),
];
/// A harmonic minor scale with tonic and dominant stressed.
const MINOR: &[(u8, f64)] = &[
    (0, 4.0),
    (2, 1.5),
    (3, 2.5),
    (5, 1.5),
    (7, 3.5),
    (8, 1.5),
    (11, 1.0),
];

#[test]
fn every_profile_finds_every_major_and_minor_key() {
    for profile in KeyProfile::ALL {
        for tonic in 0..12u8 {
            for (degrees, mode) in [(MAJOR, Mode::Major), (MINOR, Mode::Minor)] {
                let e = estimate_key(&histogram(tonic, degrees), profile, None).unwrap();
                assert_eq!(
                    (e.key.tonic_pc, e.key.mode),
                    (tonic, mode),
                    "{} on {tonic} {mode:?}: {e:?}",
                    profile.name()
                );
                assert_eq!(e.profile, profile);
                assert!(e.correlation > 0.7, "{e:?}");
                assert!(e.confidence > 0.0 && e.confidence <= 1.0, "{e:?}");
                assert_eq!(e.alternatives.len(), 4);
                let rs: Vec<f64> = std::iter::once(e.correlation)
                    .chain(e.alternatives.iter().map(|a| a.correlation))
                    .collect();
                assert!(rs.windows(2).all(|w| w[0] >= w[1]), "best first: {rs:?}");
            }
        }
    }
}

#[test]
fn the_relative_and_dominant_keys_are_the_runners_up() {
    let e = estimate_key(
        &histogram(0, MAJOR),
        KeyProfile::AlbrechtShanahanAarden,
        None,
    )
    .unwrap();
    let near: Vec<String> = e.alternatives[..3].iter().map(|a| a.key.name()).collect();
    assert!(
        near.iter()
            .any(|k| k == "A minor" || k == "G major" || k == "F major"),
        "{near:?}"
    );
}

#[test]
fn a_clear_key_is_surer_than_an_ambiguous_one() {
    let clear = estimate_key(&histogram(0, MAJOR), KeyProfile::default(), None).unwrap();
    // C major and A minor's shared notes only, evenly.
    let mut h = [0.0; 12];
    for pc in [0, 2, 4, 5, 7, 9, 11] {
        h[pc] = 1.0;
    }
    let vague = estimate_key(&h, KeyProfile::default(), None).unwrap();
    assert!(
        clear.confidence > vague.confidence,
        "{clear:?} vs {vague:?}"
    );
}

#[test]
fn nothing_to_go_on_gives_no_key() {
    for profile in KeyProfile::ALL {
        assert_eq!(estimate_key(&[0.0; 12], profile, None), None);
        assert_eq!(estimate_key(&[1.0; 12], profile, None), None, "flat");
        assert_eq!(
            estimate_key(&[f64::NAN; 12], profile, None),
            None,
            "not a number"
        );
        let mut negative = histogram(0, MAJOR);
        negative[1] = -1.0;
        assert_eq!(estimate_key(&negative, profile, None), None);
    }
}

#[test]
fn tonics_are_spelled_as_the_signature_spells_them() {
    assert_eq!(Key::new(6, Mode::Major, Some(-6)).tonic, "Gb");
    assert_eq!(Key::new(6, Mode::Major, Some(6)).tonic, "F#");
    assert_eq!(Key::new(6, Mode::Major, None).tonic, "F#");
    assert_eq!(Key::new(3, Mode::Minor, Some(6)).tonic, "D#");
    assert_eq!(Key::new(3, Mode::Minor, None).tonic, "Eb");
    // A signature that is not this key's does not spell it.
    assert_eq!(Key::new(1, Mode::Major, Some(2)).tonic, "Db");
    assert_eq!(Key::of_signature(-2, Mode::Minor).name(), "G minor");
    assert_eq!(Key::of_signature(3, Mode::Major).name(), "A major");
    assert_eq!(Key::of_signature(-7, Mode::Major).tonic_pc, 11, "Cb");
    assert!(Key::new(6, Mode::Major, Some(-6)).same_as(&Key::new(6, Mode::Major, Some(6))));
}

#[test]
fn profiles_parse_by_name_and_serialize_the_same() {
    for p in KeyProfile::ALL {
        assert_eq!(KeyProfile::parse(p.name()), Some(p));
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            serde_json::Value::String(p.name().into())
        );
    }
    assert_eq!(
        KeyProfile::parse("Aarden_Essen"),
        Some(KeyProfile::AardenEssen)
    );
    assert_eq!(KeyProfile::parse("shazam"), None);
    assert_eq!(KeyProfile::default(), KeyProfile::AlbrechtShanahan);
}

/// `bars` bars of 2 s: the scale degrees of `degrees` in turn, a quarter-second each, from `at`.
fn passage(tonic: u8, degrees: &[(u8, f64)], at: f64, seconds: f64) -> Vec<TimedNote> {
    let mut notes = vec![];
    let mut t = at;
    let cycle: Vec<u8> = degrees
        .iter()
        .flat_map(|&(d, w)| std::iter::repeat_n(d, w.round() as usize))
        .collect();
    let mut i = 0;
    while t < at + seconds - 1e-9 {
        let d = cycle[i % cycle.len()];
        notes.push(TimedNote {
            start_s: t,
            end_s: t + 0.25,
            pitch_midi: 60 + tonic + d,
        });
        // A bass note on the tonic every bar.
        if i % 8 == 0 {
            notes.push(TimedNote {
                start_s: t,
                end_s: t + 2.0,
                pitch_midi: 36 + tonic,
            });
        }
        t += 0.25;
        i += 1;
    }
    notes
}

#[test]
fn a_modulation_is_a_new_segment_and_a_short_excursion_is_not() {
    // 40 s of C major, 40 s of E-flat major.
    let mut notes = passage(0, MAJOR, 0.0, 40.0);
    notes.extend(passage(3, MAJOR, 40.0, 40.0));
    let segs = key_segments(
        &notes,
        KeyProfile::default(),
        SegmentOptions::default(),
        Some(0),
    );
    let names: Vec<String> = segs.iter().map(|s| s.key.name()).collect();
    assert_eq!(names, ["C major", "Eb major"], "{segs:?}");
    assert!((segs[0].start_s - 0.0).abs() < 1e-9);
    assert!((segs[1].end_s - 80.0).abs() < 1e-6);
    assert!(
        (segs[0].end_s - 40.0).abs() <= 4.0,
        "the change is found within two steps: {segs:?}"
    );
    assert_eq!(segs[0].end_s, segs[1].start_s);
    assert!(segs.iter().all(|s| s.correlation > 0.7), "{segs:?}");

    // 6 s of A major inside 60 s of C major is shorter than a segment: it joins C.
    let mut notes = passage(0, MAJOR, 0.0, 30.0);
    notes.extend(passage(9, MAJOR, 30.0, 6.0));
    notes.extend(passage(0, MAJOR, 36.0, 30.0));
    let segs = key_segments(
        &notes,
        KeyProfile::default(),
        SegmentOptions::default(),
        None,
    );
    let names: Vec<String> = segs.iter().map(|s| s.key.name()).collect();
    assert_eq!(names, ["C major"], "{segs:?}");
    // With short segments allowed and no cost to change, it is its own segment.
    let segs = key_segments(
        &notes,
        KeyProfile::default(),
        SegmentOptions {
            window_s: 4.0,
            min_segment_s: 2.0,
            switch_penalty: 0.0,
            ..SegmentOptions::default()
        },
        None,
    );
    assert!(segs.iter().any(|s| s.key.name() == "A major"), "{segs:?}");
}

#[test]
fn no_notes_no_segments() {
    assert!(key_segments(&[], KeyProfile::default(), SegmentOptions::default(), None).is_empty());
    // Degenerate options do not hang or panic.
    let notes = passage(0, MAJOR, 0.0, 10.0);
    let segs = key_segments(
        &notes,
        KeyProfile::default(),
        SegmentOptions {
            window_s: f64::NAN,
            hop_s: 0.0,
            min_segment_s: f64::INFINITY,
            switch_penalty: -1.0,
        },
        None,
    );
    assert_eq!(segs.len(), 1, "{segs:?}");
}

#[test]
fn a_scores_notes_are_timed_by_its_tempo() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>S</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><key><fifths>0</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
<direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>60</per-minute></metronome></direction-type><sound tempo="60"/></direction>
<note><pitch><step>C</step><octave>4</octave></pitch><duration>2</duration><type>half</type></note>
<note><pitch><step>E</step><octave>4</octave></pitch><duration>1</duration><tie type="start"/><type>quarter</type></note>
<note><pitch><step>E</step><octave>4</octave></pitch><duration>1</duration><tie type="stop"/><type>quarter</type></note>
</measure></part></score-partwise>"#;
    let parsed = coda_music::read_score(xml.as_bytes()).unwrap();
    let notes = notes_of_score(&parsed.score).unwrap();
    assert_eq!(notes.len(), 2, "the tie is one note: {notes:?}");
    assert_eq!(notes[0].pitch_midi, 60);
    assert!(
        (notes[0].end_s - 2.0).abs() < 1e-9,
        "a half at 60 bpm: {notes:?}"
    );
    assert!((notes[1].start_s - 2.0).abs() < 1e-9 && (notes[1].end_s - 4.0).abs() < 1e-9);
    let h = pitch_class_histogram(&notes, None);
    assert_eq!((h[0], h[4]), (2.0, 2.0));
    let h = pitch_class_histogram(&notes, Some((1.0, 3.0)));
    assert_eq!((h[0], h[4]), (1.0, 1.0), "clipped to the span");
}
