//! Sustained vowels of the built-in voice, measured by Praat.

use coda_singing::formant::tables::VOWEL_TABLE;
use coda_singing::formant::{BuiltinVoice, Performance};
use coda_vocal::align::{AlignedNote, AlignedPhoneme, Alignment, FRAME_RATE};
use coda_vocal::curves::{Dynamics, Expression};
use coda_vocal::phones::{class_of, PhoneClass};
use serde_json::json;

use crate::measure::{measure, median, write_wav};

/// A sustained `phone` at `midi` for `seconds`, between short silences.
fn sustained(phone: &str, midi: i32, seconds: f64) -> Alignment {
    let lead = 10u32;
    let len = (seconds * FRAME_RATE) as u32;
    let ph = |p: &str, class, start, end, note| AlignedPhoneme {
        phone: p.into(),
        class,
        start,
        end,
        start_s: f64::from(start) / FRAME_RATE,
        end_s: f64::from(end) / FRAME_RATE,
        note_index: note,
        word_index: None,
        on_note: note == 1,
    };
    let note = |start, end, midi, first| AlignedNote {
        start,
        end,
        midi,
        velocity: 80,
        first_phoneme: first,
        slur: false,
        measure: 0,
    };
    Alignment {
        frame_rate: FRAME_RATE,
        offset_frames: 0,
        phonemes: vec![
            ph("SP", PhoneClass::Silence, 0, lead, 0),
            ph(phone, class_of(phone).unwrap(), lead, lead + len, 1),
            ph("SP", PhoneClass::Silence, lead + len, 2 * lead + len, 2),
        ],
        notes: vec![
            note(0, lead, None, 0),
            note(lead, lead + len, Some(midi), 1),
            note(lead + len, 2 * lead + len, None, 2),
        ],
        words: Vec::new(),
        frames: 2 * lead + len,
        warnings: Vec::new(),
    }
}

fn render(a: &Alignment, hz: f32) -> Vec<f32> {
    let frames = a.frames as usize;
    let f0 = vec![hz; frames];
    let dynamics = Dynamics {
        energy: vec![0.8; frames],
        breathiness: vec![0.2; frames],
    };
    let perf = Performance {
        alignment: a,
        f0: &f0,
        dynamics: &dynamics,
        expression: Expression::default(),
        seed: 7,
    };
    BuiltinVoice::new()
        .render(&perf, 2, &|_, _| {}, &|| false)
        .unwrap()
}

#[test]
fn sustained_vowels_have_the_formants_of_the_table_at_three_pitches() {
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("CODA_KEEP_WAVS").map(std::path::PathBuf::from);
    let dir_path = keep.clone().unwrap_or_else(|| dir.path().to_path_buf());
    // /i/, /a/, /u/, /e/, /o/ in ARPAbet, at D#3, G3 and B3 (156, 196, 247 Hz).
    let vowels = ["iy", "aa", "uw", "ey", "ow"];
    let pitches = [51, 55, 59];
    let mut requests = Vec::new();
    let mut cases = Vec::new();
    for v in vowels {
        for m in pitches {
            let hz = 440.0 * 2f32.powf((m as f32 - 69.0) / 12.0);
            let a = sustained(v, m, 1.0);
            let samples = render(&a, hz);
            let path = dir_path.join(format!("{v}-{m}.wav"));
            write_wav(&path, &samples);
            let start = 10.0 / FRAME_RATE + 0.2;
            requests
                .push(json!({"op": "formants", "wav": path, "start": start, "end": start + 0.6}));
            cases.push((v, m));
        }
    }
    let answers = measure(&json!(requests));
    let mut failures = Vec::new();
    for ((v, m), ans) in cases.iter().zip(&answers) {
        let f1: Vec<f64> = serde_json::from_value(ans["f1"].clone()).unwrap();
        let f2: Vec<f64> = serde_json::from_value(ans["f2"].clone()).unwrap();
        let (f1m, f2m) = (median(&f1), median(&f2));
        let table = VOWEL_TABLE.iter().find(|t| t.0 == *v).unwrap().1;
        let e1 = (f1m - f64::from(table[0])).abs() / f64::from(table[0]);
        let e2 = (f2m - f64::from(table[1])).abs() / f64::from(table[1]);
        println!(
            "{v} at {m}: F1 {f1m:.0} ({:.0}, {:.1} %), F2 {f2m:.0} ({:.0}, {:.1} %)",
            table[0],
            100.0 * e1,
            table[1],
            100.0 * e2
        );
        if e1 > 0.15 || e2 > 0.15 {
            failures.push(format!(
                "{v} at {m}: F1 {f1m:.0} vs {}, F2 {f2m:.0} vs {}",
                table[0], table[1]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");

    // Distinguishable: the 5th–95th percentile boxes of any two vowels' frames do not overlap.
    let boxes: Vec<(&str, [f64; 4])> = vowels
        .iter()
        .map(|v| {
            let (mut f1, mut f2) = (Vec::new(), Vec::new());
            for ((cv, _), ans) in cases.iter().zip(&answers) {
                if cv == v {
                    f1.extend(
                        ans["f1"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter_map(|x| x.as_f64()),
                    );
                    f2.extend(
                        ans["f2"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter_map(|x| x.as_f64()),
                    );
                }
            }
            (
                *v,
                [
                    percentile(&f1, 5.0),
                    percentile(&f1, 95.0),
                    percentile(&f2, 5.0),
                    percentile(&f2, 95.0),
                ],
            )
        })
        .collect();
    for (i, (a, ba)) in boxes.iter().enumerate() {
        for (b, bb) in &boxes[i + 1..] {
            let f1_apart = ba[1] < bb[0] || bb[1] < ba[0];
            let f2_apart = ba[3] < bb[2] || bb[3] < ba[2];
            assert!(
                f1_apart || f2_apart,
                "{a} {ba:?} and {b} {bb:?} overlap in F1–F2"
            );
        }
    }
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((p / 100.0) * (v.len().saturating_sub(1)) as f64).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}
