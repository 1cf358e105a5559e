//! coda-tabs' one test binary: instruments, playability, the fingering against the greedy
//! lowest-fret baseline on Bach chorale melodies from the music21 corpus, and tab.txt.

use std::path::PathBuf;

use coda_tabs::*;
use coda_theory::TimedNote;

fn note(start_s: f64, end_s: f64, pitch_midi: u8) -> TimedNote {
    TimedNote {
        start_s,
        end_s,
        pitch_midi,
    }
}

/// Every note sounds its pitch, on a string of the instrument, within the neck; a chord's
/// notes are on distinct strings and within the hand's span.
fn assert_playable(tab: &Tab) {
    let inst = &tab.instrument;
    for n in &tab.notes {
        assert!((1..=inst.strings.len() as u8).contains(&n.string), "{n:?}");
        assert!(n.fret <= inst.top_fret(), "{n:?}");
        assert_eq!(
            inst.sounding(usize::from(n.string) - 1, n.fret),
            n.pitch_midi,
            "{n:?}"
        );
    }
    let mut i = 0;
    while i < tab.notes.len() {
        let start = tab.notes[i].start_s;
        let chord: Vec<&TabNote> = tab.notes[i..]
            .iter()
            .take_while(|n| n.start_s - start <= 0.02)
            .collect();
        i += chord.len();
        let mut strings: Vec<u8> = chord.iter().map(|n| n.string).collect();
        strings.sort();
        strings.dedup();
        assert_eq!(strings.len(), chord.len(), "one note a string: {chord:?}");
        let fretted: Vec<u8> = chord.iter().map(|n| n.fret).filter(|f| *f > 0).collect();
        if let (Some(lo), Some(hi)) = (fretted.iter().min(), fretted.iter().max()) {
            assert!(
                hi - lo <= MAX_SPAN,
                "no chord spans more than 4 frets: {chord:?}"
            );
        }
    }
}

#[test]
fn tunings_strings_frets_and_capo() {
    let g = Instrument::guitar();
    assert_eq!(g.strings, [64, 59, 55, 50, 45, 40], "string 1 is high E");
    assert_eq!(g.tuning_names(), ["E2", "A2", "D3", "G3", "B3", "E4"]);
    let d = Instrument::new("drop-d", None, 22, 0).unwrap();
    assert_eq!(d.strings[5], 38);
    assert_eq!(
        Instrument::new("DADGAD", None, 22, 0).unwrap().strings,
        [62, 57, 55, 50, 45, 38]
    );
    assert_eq!(
        Instrument::new("open_g", None, 22, 0).unwrap().strings[0],
        62
    );
    let bass = Instrument::new("standard", Some(4), 20, 0).unwrap();
    assert_eq!(bass.strings, [43, 38, 33, 28]);
    assert_eq!(
        Instrument::new("standard", Some(7), 24, 0).unwrap().strings[6],
        35
    );
    let custom = Instrument::new("C2, G2, D3, A3, E4, B4", None, 22, 0).unwrap();
    assert_eq!(custom.strings, [71, 64, 57, 50, 43, 36]);
    assert_eq!(
        Instrument::new("Eb2,Ab2,Db3,Gb3,Bb3,Eb4", None, 22, 0)
            .unwrap()
            .strings[5],
        39
    );
    for (tuning, strings, frets, capo, why) in [
        ("banjo-ish", None, 22, 0, "not a tuning"),
        ("drop-d", Some(7), 22, 0, "has 6 strings"),
        ("E2,A2,X3", None, 22, 0, "not a pitch"),
        ("standard", None, 0, 0, "1 to 36"),
        ("standard", None, 12, 12, "leaves no frets"),
    ] {
        let e = Instrument::new(tuning, strings, frets, capo).unwrap_err();
        assert!(e.to_string().contains(why), "{tuning}: {e}");
    }
}

#[test]
fn an_open_e_chord_is_played_open_and_every_note_is_playable() {
    // E major, low to high: E2 B2 E3 G#3 B3 E4.
    let chord: Vec<TimedNote> = [40, 47, 52, 56, 59, 64]
        .iter()
        .map(|&k| note(0.0, 1.0, k))
        .collect();
    let tab = fingering(&chord, &Instrument::guitar(), &Costs::default());
    assert_playable(&tab);
    let mut frets: Vec<(u8, u8)> = tab.notes.iter().map(|n| (n.string, n.fret)).collect();
    frets.sort();
    assert_eq!(frets, [(1, 0), (2, 0), (3, 1), (4, 2), (5, 2), (6, 0)]);
    assert!(tab.warnings.is_empty(), "{:?}", tab.warnings);
}

#[test]
fn notes_out_of_range_move_by_octaves_and_say_so() {
    let notes = [note(0.0, 0.5, 28), note(0.5, 1.0, 100), note(1.0, 1.5, 64)];
    let tab = fingering(&notes, &Instrument::guitar(), &Costs::default());
    assert_playable(&tab);
    let keys: Vec<u8> = tab.notes.iter().map(|n| n.pitch_midi).collect();
    assert_eq!(
        keys,
        [40, 76, 64],
        "E1 up to E2; E7 down two octaves to E5 (the top is D6)"
    );
    assert!(
        tab.warnings
            .iter()
            .any(|w| w.contains("2 notes outside") && w.contains("octaves")),
        "{:?}",
        tab.warnings
    );
}

#[test]
fn a_chord_no_hand_can_hold_loses_inner_notes_and_says_so() {
    // Seven notes on six strings, and a cluster.
    let chord: Vec<TimedNote> = [40, 45, 50, 55, 59, 64, 69]
        .iter()
        .map(|&k| note(0.0, 1.0, k))
        .collect();
    let tab = fingering(&chord, &Instrument::guitar(), &Costs::default());
    assert_playable(&tab);
    assert_eq!(tab.notes.len(), 6);
    assert!(
        tab.notes.iter().any(|n| n.pitch_midi == 69)
            && tab.notes.iter().any(|n| n.pitch_midi == 40),
        "the outer notes stay"
    );
    assert!(
        tab.warnings.iter().any(|w| w.contains("left out")),
        "{:?}",
        tab.warnings
    );
}

#[test]
fn a_capo_counts_frets_from_itself() {
    let inst = Instrument::new("standard", None, 22, 2).unwrap();
    let tab = fingering(
        &[note(0.0, 1.0, 42), note(1.0, 2.0, 66)],
        &inst,
        &Costs::default(),
    );
    assert_playable(&tab);
    assert_eq!(
        (tab.notes[0].string, tab.notes[0].fret),
        (6, 0),
        "F#2 is the capoed low string"
    );
    assert_eq!(tab.notes[1].fret, 0, "F#4 is the capoed high string");
    let bass = Instrument::new("standard", Some(4), 20, 0).unwrap();
    let tab = fingering(
        &[note(0.0, 1.0, 28), note(1.0, 2.0, 33)],
        &bass,
        &Costs::default(),
    );
    assert_eq!(
        tab.notes
            .iter()
            .map(|n| (n.string, n.fret))
            .collect::<Vec<_>>(),
        [(4, 0), (3, 0)]
    );
}

fn corpus_dir() -> PathBuf {
    let env = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    if let Some(d) = env("CODA_SCORE_CORPUS") {
        return d.into();
    }
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("coda-tests/music21-corpus-v1")
}

/// The first `n` Bach chorales' parts, by corpus file name.
fn chorales(n: usize) -> Vec<(String, coda_music::Score)> {
    let dir = corpus_dir().join("files/bach");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run scripts/score_corpus.sh (scripts/test.sh does)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mxl"))
        .collect();
    names.sort();
    names
        .into_iter()
        .take(n)
        .map(|p| {
            let parsed = coda_music::read_score(&std::fs::read(&p).unwrap()).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                parsed.score,
            )
        })
        .collect()
}

#[test]
fn chorale_melodies_move_the_hand_less_than_the_lowest_frets_do() {
    let guitar = Instrument::guitar();
    let (mut ours, mut baseline, mut pieces, mut notes_total) = (0, 0, 0, 0);
    let mut worse = vec![];
    for (name, score) in chorales(60) {
        // Each voice as a melody, and the whole chorale as chords.
        for part in 0..score.parts.len() {
            let mut one = score.clone();
            one.parts = vec![score.parts[part].clone()];
            let notes = coda_theory::notes_of_score(&one).unwrap();
            let tab = fingering(&notes, &guitar, &Costs::default());
            assert_playable(&tab);
            assert_eq!(
                tab.notes.len(),
                notes.len(),
                "{name} part {part}: every note of a line is played"
            );
            let greedy = greedy(&notes, &guitar);
            assert_playable(&greedy);
            let (a, b) = (position_shifts(&tab), position_shifts(&greedy));
            if a > b {
                worse.push(format!("{name}/{part}: {a} > {b}"));
            }
            ours += a;
            baseline += b;
            pieces += 1;
            notes_total += notes.len();
        }
        let all = coda_theory::notes_of_score(&score).unwrap();
        assert_playable(&fingering(&all, &guitar, &Costs::default()));
    }
    println!(
        "position shifts on {pieces} chorale voices ({notes_total} notes): fingering {ours}, greedy lowest-fret {baseline}; voices where it moved more: {}",
        worse.len()
    );
    assert!(pieces >= 200, "{pieces} voices");
    assert!(
        ours < baseline,
        "fingering {ours} shifts, greedy {baseline}"
    );
}

#[test]
fn tab_txt_has_a_line_per_string_and_bars() {
    let notes: Vec<TimedNote> = [64, 66, 68, 69, 71, 73, 75, 76]
        .iter()
        .enumerate()
        .map(|(i, &k)| note(i as f64 * 0.5, i as f64 * 0.5 + 0.5, k))
        .collect();
    let tab = fingering(&notes, &Instrument::guitar(), &Costs::default());
    let text = ascii_tab(&tab, Some(2.0));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Tuning: E2 A2 D3 G3 B3 E4"), "{text}");
    let labels: Vec<char> = lines[1..7]
        .iter()
        .map(|l| l.chars().next().unwrap())
        .collect();
    assert_eq!(labels, ['e', 'B', 'G', 'D', 'A', 'E'], "{text}");
    assert!(
        lines[1..7].iter().all(|l| l.len() == lines[1].len()),
        "aligned: {text}"
    );
    // Two bars of four notes: one bar line between them, one at the end.
    assert_eq!(lines[1].matches('|').count(), 3, "{text}");
    let frets: usize = lines[1..7]
        .iter()
        .map(|l| {
            l[2..]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .count()
        })
        .sum();
    assert_eq!(frets, 8, "{text}");
    let json = serde_json::to_value(&tab).unwrap();
    assert_eq!(json["notes"][0]["string"], tab.notes[0].string);
    for k in ["start_s", "end_s", "pitch_midi", "string", "fret"] {
        assert!(json["notes"][0].get(k).is_some(), "{k}");
    }
}

/// The workspace's virtual environment's Python (scripts/test.sh makes it, with music21).
fn python() -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root")
        .to_path_buf();
    let py = root.join(".venv/bin/python");
    assert!(
        py.exists(),
        "{}: missing: run scripts/test.sh (it makes .venv with music21)",
        py.display()
    );
    py
}

#[test]
fn music21_reads_tab_musicxml_back_with_every_string_and_fret() {
    let dir = tempfile_dir();
    let mut cases: Vec<(String, Tab)> = vec![];
    for (name, score) in chorales(4) {
        let notes = coda_theory::notes_of_score(&score).unwrap();
        cases.push((
            format!("{name} on guitar"),
            fingering(&notes, &Instrument::guitar(), &Costs::default()),
        ));
        let mut bass_line = score.clone();
        bass_line.parts = vec![score.parts[score.parts.len() - 1].clone()];
        let notes = coda_theory::notes_of_score(&bass_line).unwrap();
        let bass = Instrument::new("standard", Some(4), 20, 0).unwrap();
        cases.push((
            format!("{name} bass on bass"),
            fingering(&notes, &bass, &Costs::default()),
        ));
    }
    let capoed = Instrument::new("dadgad", None, 22, 3).unwrap();
    let notes: Vec<TimedNote> = (0..24)
        .map(|i| {
            note(
                i as f64 * 0.37,
                i as f64 * 0.37 + 0.6,
                50 + (i * 5 % 19) as u8,
            )
        })
        .collect();
    cases.push((
        "an off-grid line, DADGAD, capo 3".into(),
        fingering(&notes, &capoed, &Costs::default()),
    ));
    for (i, (what, tab)) in cases.iter().enumerate() {
        let xml = tab_musicxml(
            tab,
            Meter {
                tempo_bpm: 96.0,
                beats: if i % 2 == 0 { 4 } else { 3 },
            },
            "Guitar",
        );
        assert!(
            xml.contains("<sign>TAB</sign>") && xml.contains("<staff-tuning line=\"1\">"),
            "{what}"
        );
        assert_eq!(
            xml.contains("<capo>3</capo>"),
            tab.instrument.capo == 3,
            "{what}"
        );
        let path = dir.join(format!("tab{i}.musicxml"));
        std::fs::write(&path, &xml).unwrap();
        let out = std::process::Command::new(python())
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tabs/read_tab.py"))
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<(u64, u64, u64)> = read["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                assert!(
                    n.get("missing").is_none(),
                    "{what}: a note without string or fret: {n}"
                );
                (
                    n["string"].as_u64().unwrap(),
                    n["fret"].as_u64().unwrap(),
                    n["pitch_midi"].as_u64().unwrap(),
                )
            })
            .collect();
        // The tab's notes in the order the file writes them: by onset, chords lowest pitch first.
        let mut want: Vec<(u64, u64, u64)> = vec![];
        let mut k = 0;
        while k < tab.notes.len() {
            let start = tab.notes[k].start_s;
            let chord: Vec<&TabNote> = tab.notes[k..]
                .iter()
                .take_while(|n| n.start_s - start <= 0.02)
                .collect();
            k += chord.len();
            let mut chord = chord;
            chord.sort_by_key(|n| n.pitch_midi);
            want.extend(chord.iter().map(|n| {
                (
                    u64::from(n.string),
                    u64::from(n.fret),
                    u64::from(n.pitch_midi),
                )
            }));
        }
        assert_eq!(got.len(), want.len(), "{what}: every note is read back");
        assert_eq!(got, want, "{what}");
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coda-tabs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tab_alphatex_writes_the_same_bars_strings_and_frets() {
    let inst = Instrument::new("drop-d", None, 22, 2).unwrap();
    // A bar of 4/4 at 60 bpm: a dotted quarter chord, an eighth, a half; then a quarter.
    let notes = vec![
        note(0.0, 1.5, 40),
        note(0.0, 1.5, 47),
        note(1.5, 2.0, 52),
        note(2.0, 4.0, 54),
        note(4.0, 5.0, 59),
    ];
    let tab = fingering(&notes, &inst, &Costs::default());
    assert_playable(&tab);
    let tex = tab_alphatex(
        &tab,
        Meter {
            tempo_bpm: 60.0,
            beats: 4,
        },
        "Guitar \"1\"",
    );
    assert!(tex.contains("\\title \"Guitar \\\"1\\\"\""), "{tex}");
    assert!(
        tex.contains("\\tuning (E4 B3 G3 D3 A2 D2)"),
        "string 1 first: {tex}"
    );
    assert!(
        tex.contains("\\capo 2") && tex.contains("\\ts 4 4") && tex.contains("\\tempo 60"),
        "{tex}"
    );
    let body: Vec<&str> = tex.lines().filter(|l| !l.starts_with('\\')).collect();
    assert_eq!(body.len(), 2, "two bars: {tex}");
    assert!(body[0].ends_with(" |"), "{tex}");
    let first: Vec<&str> = body[0].trim_end_matches(" |").split(' ').collect();
    // (chord).4 {d}, note.8, note.2
    assert!(first[0].starts_with('(') && first[2] == "{d}", "{tex}");
    assert!(
        first[3].ends_with(".8") && first[4].ends_with(".2"),
        "{tex}"
    );
    // Every fret.string pair is the tab's, in order.
    let pairs: Vec<(u8, u8)> = tex
        .lines()
        .filter(|l| !l.starts_with('\\'))
        .flat_map(|l| l.split([' ', '(', ')']))
        .filter_map(|t| {
            let mut p = t.split('.');
            let (f, s) = (p.next()?.parse().ok()?, p.next()?.parse().ok()?);
            Some((f, s))
        })
        .collect();
    let want: Vec<(u8, u8)> = tab.notes.iter().map(|n| (n.fret, n.string)).collect();
    assert_eq!(pairs, want, "{tex}");
    assert!(
        body[1].starts_with(&format!("{}.{}.4", tab.notes[4].fret, tab.notes[4].string)),
        "{tex}"
    );
    assert!(
        body[1].contains("r."),
        "the rest of the last bar is rests: {tex}"
    );
}
