//! DiffSinger voicebanks through the real ONNX Runtime, with the generated
//! test voicebanks of `diffsinger::testing`, whose models compute known
//! functions of their inputs: every expected tensor is computed here from
//! those formulas and compared within 1e-4.

use std::path::{Path, PathBuf};

use coda_model_runtime::{locate_runtime, RuntimeOptions};
use coda_singing::diffsinger::testing::{
    coef, phoneme_index, speaker_embedding, write_test_voicebank, TestAcceleration, TestBreakage,
    TestVoicebankOptions,
};
use coda_singing::diffsinger::{
    inspect, list_voicebanks, Acceleration, DsExpression, DsNote, DsPhrase, DsVariance,
    PhraseError, Predictor, VarianceCurves, Voicebank, VoicebankError, VoicebankStatus,
};

fn runtime() -> PathBuf {
    let dir = coda_model_runtime::default_models_dir();
    locate_runtime(&dir).unwrap_or_else(|e| {
        panic!(
            "ONNX Runtime is not installed in {}: {e}\nrun `coda models install` (`cargo run -- models install`) or scripts/test.sh",
            dir.display()
        )
    })
}

fn options() -> RuntimeOptions {
    RuntimeOptions {
        intra_threads: 1,
        cuda: false,
    }
}

fn write(o: &TestVoicebankOptions) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bank");
    write_test_voicebank(&dir, o).unwrap();
    (tmp, dir)
}

fn load(o: &TestVoicebankOptions) -> (tempfile::TempDir, Voicebank) {
    let (tmp, dir) = write(o);
    let vb = Voicebank::load(&dir, &runtime(), &options()).unwrap();
    (tmp, vb)
}

/// A phrase from (phoneme, frames, note) triples, notes (midi, frames, rest) and words (phonemes, frames); f0 is a ramp.
fn phrase(
    phones: &[(&str, u32, usize)],
    notes: &[(f32, u32, bool)],
    words: &[(u32, u32)],
) -> DsPhrase {
    let frames: u32 = phones.iter().map(|p| p.1).sum();
    DsPhrase {
        phonemes: phones.iter().map(|p| p.0.to_string()).collect(),
        ph_dur: phones.iter().map(|p| p.1).collect(),
        ph_note: phones.iter().map(|p| p.2).collect(),
        word_div: words.iter().map(|w| w.0).collect(),
        word_dur: words.iter().map(|w| w.1).collect(),
        notes: notes
            .iter()
            .map(|&(midi, frames, rest)| DsNote { midi, frames, rest })
            .collect(),
        f0: (0..frames).map(|t| 180.0 + 0.7 * t as f32).collect(),
        variance: DsVariance::default(),
        expression: DsExpression::default(),
    }
}

fn one_phoneme() -> DsPhrase {
    phrase(&[("aa", 20, 0)], &[(60.0, 20, false)], &[(0, 0), (1, 20)])
}

/// "hello cat": a lead-in (SP hh) on a rest note, then three notes.
fn many_phonemes() -> DsPhrase {
    phrase(
        &[
            ("SP", 10, 0),
            ("hh", 5, 0),
            ("ah", 20, 1),
            ("l", 6, 1),
            ("ow", 25, 2),
            ("k", 4, 2),
            ("ae", 22, 3),
            ("t", 8, 3),
        ],
        &[
            (60.0, 15, true),
            (62.0, 26, false),
            (64.0, 29, false),
            (60.0, 30, false),
        ],
        &[(2, 15), (2, 26), (2, 29), (2, 30)],
    )
}

/// 61 phonemes, 2440 frames (28 s).
fn long_phrase() -> DsPhrase {
    let mut phones = vec![("SP", 40, 0)];
    let mut notes = vec![(60.0, 40, true)];
    let mut words = vec![(1, 40)];
    for k in 0..30 {
        phones.push(("l", 20, k + 1));
        phones.push((if k % 2 == 0 { "aa" } else { "iy" }, 60, k + 1));
        notes.push((55.0 + (k % 12) as f32, 80, false));
        words.push((2, 80));
    }
    phrase(&phones, &notes, &words)
}

fn frame_ms(o: &TestVoicebankOptions) -> f64 {
    1000.0 * f64::from(o.hop_size) / f64::from(o.sample_rate)
}

/// OpenUtau's 100 ms of padding: 9 frames at 44.1 kHz / 512.
fn pad_frames(o: &TestVoicebankOptions) -> usize {
    (100.0 / frame_ms(o)).round_ties_even().max(1.0) as usize
}

fn pad(curve: &[f32], head: usize, tail: usize) -> Vec<f64> {
    let mut out = vec![f64::from(curve[0]); head];
    out.extend(curve.iter().map(|&x| f64::from(x)));
    out.extend(std::iter::repeat_n(f64::from(*curve.last().unwrap()), tail));
    out
}

/// Token id + 1 per padded frame (SP on the padding).
fn frame_tokens(p: &DsPhrase, head: usize, tail: usize) -> Vec<f64> {
    let sp = (phoneme_index("SP").unwrap() + 1) as f64;
    let mut out = vec![sp; head];
    for (ph, &d) in p.phonemes.iter().zip(&p.ph_dur) {
        let id = (phoneme_index(ph).unwrap() + 1) as f64;
        out.extend(std::iter::repeat_n(id, d as usize));
    }
    out.extend(std::iter::repeat_n(sp, tail));
    out
}

/// The acoustic model's per-frame value (without the bin term) and the vocoder's output, trimmed.
struct Acoustic {
    /// Per padded frame.
    value: Vec<f64>,
}

impl Acoustic {
    fn new(o: &TestVoicebankOptions, p: &DsPhrase) -> Acoustic {
        let head = pad_frames(o);
        let f0 = pad(&p.f0, head, head);
        let tok = frame_tokens(p, head, head);
        let value = tok
            .iter()
            .zip(&f0)
            .map(|(t, f)| f64::from(coef::TOKEN) * t + f64::from(coef::F0) * f)
            .collect();
        Acoustic { value }
    }

    fn add_curve(&mut self, coefficient: f32, curve: &[f64]) {
        assert_eq!(curve.len(), self.value.len());
        for (v, c) in self.value.iter_mut().zip(curve) {
            *v += f64::from(coefficient) * c;
        }
    }

    fn add(&mut self, constant: f64) {
        for v in self.value.iter_mut() {
            *v += constant;
        }
    }

    /// The waveform of the phrase's frames, with the mel values multiplied by `factor` before the vocoder.
    fn waveform(&self, o: &TestVoicebankOptions, p: &DsPhrase, factor: f64) -> Vec<f32> {
        let head = pad_frames(o);
        let f0 = pad(&p.f0, head, head);
        let bins = f64::from(o.mel_bins);
        let bin_mean = f64::from(coef::BIN) * (bins - 1.0) / 2.0;
        let hop = o.hop_size as usize;
        let mut out = Vec::with_capacity(p.frames() * hop);
        let frames = head..head + p.frames();
        for (value, f0) in self.value[frames.clone()].iter().zip(&f0[frames]) {
            let mel_mean = factor * (value + bin_mean);
            for j in 0..hop {
                let w = f64::from(coef::VOC_MEL) * mel_mean
                    + f64::from(coef::VOC_F0) * f0
                    + f64::from(coef::VOC_RAMP) * j as f64;
                out.push(w as f32);
            }
        }
        out
    }
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tolerance = 1e-4 * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tolerance,
            "{what}[{i}]: got {g}, expected {w} (of {})",
            want.len()
        );
    }
}

/// The speedup term for OpenUtau's default 20 steps: speedup 50.
const DEFAULT_SPEEDUP: f64 = 50.0 * coef::SPEEDUP as f64;

#[test]
fn a_plain_voicebank_sings_exactly_what_its_graphs_define() {
    let o = TestVoicebankOptions::default();
    let (_tmp, vb) = load(&o);
    assert_eq!(vb.device(), coda_model_runtime::Device::Cpu);
    assert_eq!(vb.frame_rate(), 44_100.0 / 512.0);
    assert_eq!(vb.sample_rate(), 44_100);
    for (name, p) in [
        ("one phoneme", one_phoneme()),
        ("many phonemes", many_phonemes()),
        ("a long phrase", long_phrase()),
    ] {
        let got = vb.synthesize(&p).unwrap();
        // Exactly the phrase's frames: the head and tail padding are trimmed.
        assert_eq!(got.len(), p.frames() * 512, "{name}");
        let mut want = Acoustic::new(&o, &p);
        want.add(DEFAULT_SPEEDUP);
        assert_close(&got, &want.waveform(&o, &p, 1.0), name);
    }
}

#[test]
fn padding_is_100_ms_of_sp_and_is_trimmed() {
    let o = TestVoicebankOptions::default();
    let (_tmp, vb) = load(&o);
    let p = one_phoneme();
    let got = vb.synthesize(&p).unwrap();
    assert_eq!(pad_frames(&o), 9);
    // The first sample is the phoneme's own frame (aa, id 2), not the SP padding (id 1).
    let aa = (phoneme_index("aa").unwrap() + 1) as f64;
    let mean_bin = f64::from(coef::BIN) * 7.5;
    let first = f64::from(coef::VOC_MEL)
        * (aa + f64::from(coef::F0) * 180.0 + DEFAULT_SPEEDUP + mean_bin)
        + f64::from(coef::VOC_F0) * 180.0;
    assert!(
        (f64::from(got[0]) - first).abs() < 1e-4,
        "{} vs {first}",
        got[0]
    );
    // Each frame's samples ramp by VOC_RAMP per sample.
    assert!((got[511] - got[0] - 511.0 * coef::VOC_RAMP).abs() < 1e-4);
}

#[test]
fn each_optional_input_is_fed_exactly_when_enabled() {
    let p = {
        let mut p = many_phonemes();
        let frames = p.frames();
        let curve = |a: f32, b: f32| (0..frames).map(|t| a + b * t as f32).collect::<Vec<_>>();
        p.variance = DsVariance {
            energy: Some(curve(-3.0, 0.01)),
            breathiness: Some(curve(-2.0, -0.02)),
            voicing: Some(curve(-1.0, 0.005)),
            tension: Some(curve(0.5, -0.01)),
        };
        p.expression.gender = 0.4;
        p.expression.velocity = 1.25;
        p
    };
    let head = 9;
    type Flag = fn(&mut TestVoicebankOptions);
    let flags: [(&str, Flag); 6] = [
        ("energy", |o| o.energy = true),
        ("breathiness", |o| o.breathiness = true),
        ("voicing", |o| o.voicing = true),
        ("tension", |o| o.tension = true),
        ("gender", |o| o.gender = true),
        ("velocity", |o| o.velocity = true),
    ];
    for (name, set) in flags {
        let mut o = TestVoicebankOptions::default();
        set(&mut o);
        let (_tmp, vb) = load(&o);
        let mut want = Acoustic::new(&o, &p);
        want.add(DEFAULT_SPEEDUP);
        match name {
            "energy" => want.add_curve(
                coef::ENERGY,
                &pad(p.variance.energy.as_ref().unwrap(), head, head),
            ),
            "breathiness" => want.add_curve(
                coef::BREATHINESS,
                &pad(p.variance.breathiness.as_ref().unwrap(), head, head),
            ),
            "voicing" => want.add_curve(
                coef::VOICING,
                &pad(p.variance.voicing.as_ref().unwrap(), head, head),
            ),
            "tension" => want.add_curve(
                coef::TENSION,
                &pad(p.variance.tension.as_ref().unwrap(), head, head),
            ),
            "gender" => want.add(f64::from(coef::GENDER) * 0.4),
            _ => want.add(f64::from(coef::VELOCITY) * 1.25),
        }
        // The other curves of the phrase are not fed (the model would refuse an unknown input).
        assert_close(
            &vb.synthesize(&p).unwrap(),
            &want.waveform(&o, &p, 1.0),
            name,
        );
    }
}

#[test]
fn speakers_feed_the_chosen_embedding_on_every_frame() {
    let o = TestVoicebankOptions {
        speakers: vec!["alto".into(), "tenor".into()],
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&o);
    assert_eq!(vb.info().speakers, ["alto", "tenor"]);
    let mut p = one_phoneme();
    for (speaker, index) in [(None, 0), (Some("alto"), 0), (Some("tenor"), 1)] {
        p.expression.speaker = speaker.map(str::to_string);
        let sum: f64 = speaker_embedding(index, 8)
            .iter()
            .map(|&v| f64::from(v))
            .sum();
        let mut want = Acoustic::new(&o, &p);
        want.add(DEFAULT_SPEEDUP + f64::from(coef::SPEAKER) * sum);
        assert_close(
            &vb.synthesize(&p).unwrap(),
            &want.waveform(&o, &p, 1.0),
            "speaker",
        );
    }
    p.expression.speaker = Some("bass".into());
    let err = vb.synthesize(&p).unwrap_err();
    assert!(
        matches!(err, VoicebankError::UnknownSpeaker { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("bass") && err.to_string().contains("tenor"),
        "{err}"
    );
}

#[test]
fn acceleration_inputs_follow_openutau() {
    let p = one_phoneme();
    let cases = [
        // 20 steps: speedup 50.
        (
            TestAcceleration::Speedup,
            None,
            None,
            50.0 * coef::SPEEDUP as f64,
        ),
        // 10 steps: speedup 100; 3 steps: the largest factor of 1000 below 333 is 250.
        (
            TestAcceleration::Speedup,
            Some(10),
            None,
            100.0 * coef::SPEEDUP as f64,
        ),
        (
            TestAcceleration::Speedup,
            Some(3),
            None,
            250.0 * coef::SPEEDUP as f64,
        ),
        // depth min(1, max_depth 0.6) = 600 thousandths; speedup 600 / 20 = 30.
        (
            TestAcceleration::DepthAndSpeedup,
            None,
            None,
            600.0 * coef::DEPTH as f64 + 30.0 * coef::SPEEDUP as f64,
        ),
        // depth 0.35 → 350; speedup 350 / 20 = 17; depth 350 / 17 * 17 = 340.
        (
            TestAcceleration::DepthAndSpeedup,
            None,
            Some(0.35),
            340.0 * coef::DEPTH as f64 + 17.0 * coef::SPEEDUP as f64,
        ),
        (
            TestAcceleration::Steps,
            None,
            None,
            20.0 * coef::STEPS as f64,
        ),
        (
            TestAcceleration::Steps,
            Some(7),
            None,
            7.0 * coef::STEPS as f64,
        ),
        (
            TestAcceleration::DepthAndSteps,
            None,
            None,
            0.6 * coef::DEPTH as f64 + 20.0 * coef::STEPS as f64,
        ),
        (
            TestAcceleration::DepthAndSteps,
            Some(50),
            Some(0.25),
            0.25 * coef::DEPTH as f64 + 50.0 * coef::STEPS as f64,
        ),
    ];
    for (acceleration, steps, depth, term) in cases {
        let o = TestVoicebankOptions {
            acceleration,
            ..TestVoicebankOptions::default()
        };
        let (_tmp, vb) = load(&o);
        let expected = match acceleration {
            TestAcceleration::Speedup => Acceleration::Speedup,
            TestAcceleration::DepthAndSpeedup => Acceleration::DepthAndSpeedup,
            TestAcceleration::Steps => Acceleration::Steps,
            TestAcceleration::DepthAndSteps => Acceleration::DepthAndSteps,
        };
        assert_eq!(vb.info().inputs.acceleration, expected);
        let mut p = p.clone();
        p.expression.steps = steps;
        p.expression.depth = depth;
        let mut want = Acoustic::new(&o, &p);
        want.add(term);
        let what = format!("{acceleration:?} steps {steps:?} depth {depth:?}");
        assert_close(
            &vb.synthesize(&p).unwrap(),
            &want.waveform(&o, &p, 1.0),
            &what,
        );
    }
}

#[test]
#[allow(clippy::approx_constant)] // OpenUtau's own rounded factors
fn a_mel_base_difference_is_converted_before_the_vocoder() {
    for (acoustic, vocoder, factor) in [("10", "e", 2.30259), ("e", "10", 0.434294)] {
        let o = TestVoicebankOptions {
            acoustic_mel_base: acoustic.into(),
            vocoder_mel_base: vocoder.into(),
            ..TestVoicebankOptions::default()
        };
        let (_tmp, vb) = load(&o);
        let conversion = vb.info().mel_base_conversion.clone().unwrap();
        assert_eq!(
            (conversion.acoustic.as_str(), conversion.vocoder.as_str()),
            (acoustic, vocoder)
        );
        assert_eq!(conversion.factor, factor as f32);
        let p = many_phonemes();
        let mut want = Acoustic::new(&o, &p);
        want.add(DEFAULT_SPEEDUP);
        assert_close(
            &vb.synthesize(&p).unwrap(),
            &want.waveform(&o, &p, factor),
            acoustic,
        );
    }
    let (_tmp, dir) = write(&TestVoicebankOptions::default());
    assert_eq!(inspect(&dir).unwrap().mel_base_conversion, None);
}

/// Reference of the duration fitting: proportional, boundaries rounded, a rest lead-in keeps its consonants.
fn reference_fit(pred: &[f64], p: &DsPhrase) -> Vec<u32> {
    let stretch = |w: &[f64], target: u32| -> Vec<u32> {
        let total: f64 = w.iter().sum();
        let mut out = Vec::new();
        let (mut cum, mut prev) = (0.0, 0i64);
        for &x in w {
            cum += x;
            let b = (f64::from(target) * cum / total).round_ties_even() as i64;
            out.push((b - prev) as u32);
            prev = b;
        }
        out
    };
    let mut out = Vec::new();
    let mut start = 0;
    for (k, (&div, &dur)) in p.word_div.iter().zip(&p.word_dur).enumerate() {
        let w = &pred[start..start + div as usize];
        if k == 0 && div >= 2 && p.phonemes[0] == "SP" {
            let kept: Vec<u32> = w[1..].iter().map(|x| x.round_ties_even() as u32).collect();
            out.push(dur - kept.iter().sum::<u32>());
            out.extend(kept);
        } else {
            out.extend(stretch(w, dur));
        }
        start += div as usize;
    }
    out
}

#[test]
fn the_duration_predictor_fills_each_word_with_its_predictions() {
    let o = TestVoicebankOptions {
        duration: true,
        speakers: vec!["alto".into(), "tenor".into()],
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&o);
    let mut p = many_phonemes();
    p.expression.speaker = Some("tenor".into());
    let got = vb.predict_durations(&p).unwrap();
    // The model's inputs: SP + phonemes; words [1 + 2, 2, 2, 2] with the lead-in given 500 ms (43 frames).
    let word_dur = [43.0, 26.0, 29.0, 30.0];
    let word_of = [0, 0, 0, 1, 1, 2, 2, 3, 3];
    let mut tokens = vec!["SP"];
    tokens.extend(p.phonemes.iter().map(String::as_str));
    // ph_midi: the lead-in (and the padding SP) take the first onset's note (62); rests take neighbours'.
    let midi = [62.0, 62.0, 62.0, 62.0, 62.0, 64.0, 64.0, 60.0, 60.0];
    let spk: f64 = speaker_embedding(1, 8).iter().map(|&v| f64::from(v)).sum();
    let pred: Vec<f64> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let c0 = (phoneme_index(t).unwrap() + 1) as f64;
            let c1 = f64::from(coef::LING_DUR) * word_dur[word_of[i]];
            f64::from(coef::DUR_BASE)
                + f64::from(coef::DUR_TOKEN) * c0
                + f64::from(coef::DUR_WORD) * c1
                + f64::from(coef::DUR_MIDI) * (midi[i] - 60.0)
                + f64::from(coef::DUR_SPEAKER) * spk
        })
        .collect();
    let want = reference_fit(&pred[1..], &p);
    assert_eq!(got, want);
    assert_eq!(got.iter().sum::<u32>(), 100);
    for (k, &(start, len, frames)) in [(0usize, 2usize, 15u32), (2, 2, 26), (4, 2, 29), (6, 2, 30)]
        .iter()
        .enumerate()
    {
        assert_eq!(
            got[start..start + len].iter().sum::<u32>(),
            frames,
            "word {k}"
        );
    }
    // The lead-in's consonant keeps its predicted length; the SP takes the rest.
    assert_eq!(got[1], pred[2].round() as u32);

    // One phoneme fills its word.
    assert_eq!(vb.predict_durations(&one_phoneme()).unwrap(), [20]);
    let long = long_phrase();
    let d = vb.predict_durations(&long).unwrap();
    assert_eq!(d.len(), 61);
    assert_eq!(d.iter().sum::<u32>(), 2440);
    assert!(d.iter().all(|&x| x >= 1));
}

fn midi_to_hz(m: f64) -> f64 {
    440.0 * 2f64.powf((m - 69.0) / 12.0)
}

#[test]
fn the_pitch_predictor_gives_its_formula_in_hz() {
    let o = TestVoicebankOptions {
        pitch: true,
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&o);
    let mut p = many_phonemes();
    p.f0.clear(); // not needed
    p.expression.expressiveness = 0.7;
    let got = vb.predict_pitch(&p).unwrap();
    assert_eq!(got.len(), 100);
    let head = 9;
    // note_midi: [pad(rest), rest, 62, 64, 60] → rests take the next note's pitch: 62.
    // note_dur: [9, 15, 26, 29, 30 + 9]; note_rest: [true, true, false, false, false].
    let notes = [
        (62.0, 9, true),
        (62.0, 15, true),
        (62.0, 26, false),
        (64.0, 29, false),
        (60.0, 39, false),
    ];
    let mut note_frames = Vec::new();
    for (m, d, r) in notes {
        note_frames.extend(std::iter::repeat_n((m, r), d));
    }
    let tokens = frame_tokens(&p, head, head);
    // Speedup from OpenUtau's 10 pitch steps: 100.
    let want: Vec<f32> = (head..head + 100)
        .map(|t| {
            let (m, rest) = note_frames[t];
            let midi = m
                + f64::from(coef::PITCH_TOKEN) * tokens[t]
                + f64::from(coef::PITCH_ACCEL) * 100.0
                + f64::from(coef::PITCH_EXPR) * 0.7
                + if rest {
                    f64::from(coef::PITCH_REST)
                } else {
                    0.0
                };
            midi_to_hz(midi) as f32
        })
        .collect();
    assert_close(&got, &want, "pitch");

    let long = vb.predict_pitch(&long_phrase()).unwrap();
    assert_eq!(long.len(), 2440);
}

#[test]
fn a_predictor_at_another_frame_rate_is_retimed() {
    let o = TestVoicebankOptions {
        pitch: true,
        pitch_hop_size: Some(256),
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&o);
    let p = many_phonemes();
    let got = vb.predict_pitch(&p).unwrap();
    assert_eq!(got.len(), 100);
    // Away from the note boundaries the curve sits on its note (plus the formula's small terms).
    for (t, note) in [(30, 62.0), (55, 64.0), (85, 60.0)] {
        let semitones = 12.0 * (f64::from(got[t]) / midi_to_hz(note)).log2();
        assert!((0.0..0.7).contains(&semitones), "frame {t}: {semitones}");
    }
}

/// The variance predictor's formula over the padded phrase, capped as the renderer caps it.
fn variance_reference(p: &DsPhrase, head: usize) -> [(f64, Vec<f64>); 4] {
    let midi: Vec<f32> =
        p.f0.iter()
            .map(|&f| (69.0 + 12.0 * (f64::from(f) / 440.0).log2()) as f32)
            .collect();
    let pitch = pad(&midi, head, head);
    let tokens = frame_tokens(p, head, head);
    // steps (continuous acceleration) from OpenUtau's 20 variance steps.
    let base: Vec<f64> = pitch
        .iter()
        .zip(&tokens)
        .map(|(m, t)| {
            f64::from(coef::VAR_PITCH) * m
                + f64::from(coef::VAR_TOKEN) * t
                + f64::from(coef::VAR_ACCEL) * 20.0
        })
        .collect();
    let curve = |offset: f32, cap: bool| -> Vec<f64> {
        base.iter()
            .map(|b| {
                let v = b + f64::from(offset);
                if cap {
                    v.min(0.0)
                } else {
                    v
                }
            })
            .collect()
    };
    [
        (f64::from(coef::ENERGY), curve(coef::ENERGY_OFFSET, true)),
        (
            f64::from(coef::BREATHINESS),
            curve(coef::BREATHINESS_OFFSET, true),
        ),
        (f64::from(coef::VOICING), curve(coef::VOICING_OFFSET, true)),
        (f64::from(coef::TENSION), curve(coef::TENSION_OFFSET, false)),
    ]
}

fn all_curves() -> Option<VarianceCurves> {
    Some(VarianceCurves {
        energy: true,
        breathiness: true,
        voicing: true,
        tension: true,
    })
}

#[test]
fn the_variance_predictor_gives_its_curves_capped_as_the_renderer_caps_them() {
    let o = TestVoicebankOptions {
        variance: all_curves(),
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&o);
    let p = many_phonemes();
    let got = vb.predict_variance(&p).unwrap();
    let reference = variance_reference(&p, 9);
    let trim = |c: &[f64]| c[9..109].iter().map(|&v| v as f32).collect::<Vec<_>>();
    assert_close(
        got.energy.as_ref().unwrap(),
        &trim(&reference[0].1),
        "energy",
    );
    assert_close(
        got.breathiness.as_ref().unwrap(),
        &trim(&reference[1].1),
        "breathiness",
    );
    assert_close(
        got.voicing.as_ref().unwrap(),
        &trim(&reference[2].1),
        "voicing",
    );
    assert_close(
        got.tension.as_ref().unwrap(),
        &trim(&reference[3].1),
        "tension",
    );
    // Breathiness is predicted above 0 here, and capped.
    assert!(got.breathiness.as_ref().unwrap().iter().all(|&v| v == 0.0));
    // Tension is not capped: it is predicted above 0 on the higher frames.
    assert!(got.tension.as_ref().unwrap().iter().any(|&v| v > 0.0));

    let only = TestVoicebankOptions {
        variance: Some(VarianceCurves {
            energy: true,
            tension: true,
            ..VarianceCurves::default()
        }),
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&only);
    let got = vb.predict_variance(&p).unwrap();
    assert!(got.energy.is_some() && got.tension.is_some());
    assert!(got.breathiness.is_none() && got.voicing.is_none());

    let mut no_f0 = p.clone();
    no_f0.f0.clear();
    let err = vb.predict_variance(&no_f0).unwrap_err();
    assert!(err.to_string().contains("f0"), "{err}");
}

#[test]
fn curves_the_phrase_lacks_are_predicted_over_the_padded_phrase() {
    let o = TestVoicebankOptions::full();
    let (_tmp, vb) = load(&o);
    let mut p = many_phonemes();
    p.expression.speaker = Some("alto".into());
    // Energy is given; the other three come from the variance predictor, padding included.
    let energy: Vec<f32> = (0..p.frames()).map(|t| -2.0 + 0.01 * t as f32).collect();
    p.variance.energy = Some(energy.clone());
    let got = vb.synthesize(&p).unwrap();

    let spk: f64 = speaker_embedding(0, 8).iter().map(|&v| f64::from(v)).sum();
    // The speaker term of the variance model: VAR_SPEAKER · Σ embedding on every predicted curve, before the cap.
    let with_speaker = |offset: f32, cap: bool| -> Vec<f64> {
        let midi: Vec<f32> =
            p.f0.iter()
                .map(|&f| (69.0 + 12.0 * (f64::from(f) / 440.0).log2()) as f32)
                .collect();
        let pitch = pad(&midi, 9, 9);
        let tokens = frame_tokens(&p, 9, 9);
        pitch
            .iter()
            .zip(&tokens)
            .map(|(m, t)| {
                let v = f64::from(coef::VAR_PITCH) * m
                    + f64::from(coef::VAR_TOKEN) * t
                    + f64::from(coef::VAR_ACCEL) * 20.0
                    + f64::from(coef::VAR_SPEAKER) * spk
                    + f64::from(offset);
                if cap {
                    v.min(0.0)
                } else {
                    v
                }
            })
            .collect()
    };
    let mut want = Acoustic::new(&o, &p);
    want.add(DEFAULT_SPEEDUP + f64::from(coef::VELOCITY) + f64::from(coef::SPEAKER) * spk);
    want.add_curve(coef::ENERGY, &pad(&energy, 9, 9));
    want.add_curve(
        coef::BREATHINESS,
        &with_speaker(coef::BREATHINESS_OFFSET, true),
    );
    want.add_curve(coef::VOICING, &with_speaker(coef::VOICING_OFFSET, true));
    want.add_curve(coef::TENSION, &with_speaker(coef::TENSION_OFFSET, false));
    assert_close(&got, &want.waveform(&o, &p, 1.0), "predicted curves");

    // predict_variance gives the same curves on the phrase's frames (fed back, they are padded with their end values).
    let predicted = vb.predict_variance(&p).unwrap();
    let tension = with_speaker(coef::TENSION_OFFSET, false);
    let trimmed: Vec<f32> = tension[9..9 + p.frames()]
        .iter()
        .map(|&v| v as f32)
        .collect();
    assert_close(
        predicted.tension.as_ref().unwrap(),
        &trimmed,
        "predicted tension",
    );
}

#[test]
fn a_curve_nobody_provides_is_an_error() {
    let o = TestVoicebankOptions {
        energy: true,
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&o);
    let err = vb.synthesize(&one_phoneme()).unwrap_err();
    assert!(
        matches!(err, VoicebankError::MissingCurve { curve: "energy" }),
        "{err}"
    );
    let err = vb.predict_pitch(&one_phoneme()).unwrap_err();
    assert!(
        matches!(err, VoicebankError::NoPredictor(Predictor::Pitch)),
        "{err}"
    );
    assert!(err.to_string().contains("dspitch"), "{err}");
    assert!(matches!(
        vb.predict_durations(&one_phoneme()),
        Err(VoicebankError::NoPredictor(Predictor::Duration))
    ));
    assert!(matches!(
        vb.predict_variance(&one_phoneme()),
        Err(VoicebankError::NoPredictor(Predictor::Variance))
    ));
}

#[test]
fn language_ids_and_prefixed_phonemes() {
    let o = TestVoicebankOptions {
        languages: true,
        duration: true,
        ..TestVoicebankOptions::default()
    };
    let (_tmp, vb) = load(&o);
    assert_eq!(vb.info().languages, ["en", "ja"]);
    assert_eq!(vb.phoneme_id("aa"), Some(2));
    assert_eq!(vb.phoneme_id("en/aa"), Some(2));
    assert_eq!(vb.phoneme_id("SP"), Some(1));
    assert_eq!(
        vb.phoneme_id_in("aa", Some("ja")),
        Some(2),
        "no ja/aa: the bare lookup falls back"
    );
    assert_eq!(vb.resolve_phoneme("aa", None), Some("en/aa"));
    assert_eq!(vb.phoneme_id("zz"), None);
    let p = many_phonemes();
    let got = vb.synthesize(&p).unwrap();
    let mut want = Acoustic::new(&o, &p);
    want.add(DEFAULT_SPEEDUP);
    // Language 1 (en) on the phonemes' frames except SP, 0 on SP and the padding.
    let mut lang = vec![0.0; 9];
    for (ph, &d) in p.phonemes.iter().zip(&p.ph_dur) {
        lang.extend(std::iter::repeat_n(
            if ph == "SP" { 0.0 } else { 1.0 },
            d as usize,
        ));
    }
    lang.extend([0.0; 9]);
    want.add_curve(coef::LANGUAGE, &lang);
    assert_close(&got, &want.waveform(&o, &p, 1.0), "languages");
    assert_eq!(vb.predict_durations(&p).unwrap().iter().sum::<u32>(), 100);
}

#[test]
fn unknown_phonemes_are_errors() {
    let (_tmp, vb) = load(&TestVoicebankOptions::default());
    let mut p = one_phoneme();
    p.phonemes[0] = "q".into();
    let err = vb.synthesize(&p).unwrap_err();
    assert!(
        matches!(err, VoicebankError::UnknownPhoneme { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("\"q\"") && err.to_string().contains("phonemes.txt"),
        "{err}"
    );
    assert_eq!(vb.phoneme_id("aa"), Some(2));
    assert_eq!(vb.phoneme_id("q"), None);
}

#[test]
fn inspect_reports_what_the_folder_holds() {
    let o = TestVoicebankOptions {
        english_dictionary: true,
        ..TestVoicebankOptions::full()
    };
    let (_tmp, dir) = write(&o);
    let info = inspect(&dir).unwrap();
    assert_eq!(info.name, "Test Singer");
    assert_eq!(info.dir, dir);
    assert_eq!(
        (info.sample_rate, info.hop_size, info.mel_bins),
        (44_100, 512, 16)
    );
    assert_eq!(info.phonemes, 41);
    let i = info.inputs;
    assert!(
        i.energy && i.breathiness && i.voicing && i.tension && i.gender && i.velocity && i.speakers
    );
    assert!(!i.languages);
    assert_eq!(i.acceleration, Acceleration::Speedup);
    assert_eq!(info.speakers, ["alto", "tenor"]);
    assert!(info.predictors.duration && info.predictors.pitch);
    assert_eq!(info.predictors.variance, all_curves());
    assert_eq!(info.vocoder, "test_vocoder");
    // dsdict-en.yaml before dsdict.yaml.
    assert_eq!(info.dictionary, Some(dir.join("dsdict-en.yaml")));
    let (_tmp2, vb) = load(&o);
    assert_eq!(
        vb.dictionary_path().unwrap().file_name().unwrap(),
        "dsdict-en.yaml"
    );

    let (_tmp3, plain) = write(&TestVoicebankOptions::default());
    let info = inspect(&plain).unwrap();
    assert_eq!(info.dictionary, Some(plain.join("dsdict.yaml")));
    assert_eq!(info.predictors.variance, None);
    assert!(!info.predictors.duration && !info.predictors.pitch);
    assert!(info.speakers.is_empty());

    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["inputs"]["acceleration"], "speedup");
    assert_eq!(json["sample_rate"], 44_100);
}

#[test]
fn list_voicebanks_gives_each_folder_with_its_reason() {
    let voices = tempfile::tempdir().unwrap();
    let root = voices.path();
    let bank = |name: &str, breakage: Option<TestBreakage>| {
        let o = TestVoicebankOptions {
            name: format!("Singer {name}"),
            breakage,
            ..TestVoicebankOptions::default()
        };
        write_test_voicebank(&root.join(name), &o).unwrap();
    };
    bank("a-valid", None);
    bank(
        "b-no-vocoder-model",
        Some(TestBreakage::MissingVocoderModel),
    );
    bank("c-mel-mismatch", Some(TestBreakage::MelMismatch));
    std::fs::create_dir(root.join("d-empty")).unwrap();
    bank("e-broken-yaml", Some(TestBreakage::BrokenYaml));
    bank("f-no-phonemes", Some(TestBreakage::MissingPhonemes));
    std::fs::write(root.join("g-a-file.txt"), "not a voicebank").unwrap();

    let entries = list_voicebanks(root);
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a-valid",
            "b-no-vocoder-model",
            "c-mel-mismatch",
            "d-empty",
            "e-broken-yaml",
            "f-no-phonemes"
        ]
    );
    let reason = |i: usize| match &entries[i].status {
        VoicebankStatus::Invalid { reason } => reason.clone(),
        VoicebankStatus::Valid(info) => panic!("{} is valid: {info:?}", entries[i].name),
    };
    match &entries[0].status {
        VoicebankStatus::Valid(info) => assert_eq!(info.name, "Singer a-valid"),
        other => panic!("{other:?}"),
    }
    let r = reason(1);
    assert!(
        r.contains("vocoder.onnx") && r.contains("is missing") && r.contains("vocoder.yaml"),
        "{r}"
    );
    let r = reason(2);
    assert!(
        r.contains("hop_size") && r.contains("512") && r.contains("1024"),
        "{r}"
    );
    assert_eq!(reason(3), "no dsconfig.yaml");
    let r = reason(4);
    assert!(r.contains("dsconfig.yaml"), "{r}");
    let r = reason(5);
    assert!(
        r.contains("phonemes.txt") && r.contains("`phonemes`"),
        "{r}"
    );

    // The error types behind the reasons.
    assert!(matches!(
        inspect(&root.join("c-mel-mismatch")),
        Err(VoicebankError::MelMismatch {
            field: "hop_size",
            ..
        })
    ));
    assert!(matches!(
        inspect(&root.join("e-broken-yaml")),
        Err(VoicebankError::Parse { .. })
    ));
    assert!(matches!(
        inspect(&root.join("b-no-vocoder-model")),
        Err(VoicebankError::MissingFile { .. })
    ));

    let json = serde_json::to_value(&entries).unwrap();
    assert_eq!(json[0]["valid"], true);
    assert_eq!(json[0]["name"], "a-valid");
    assert!(json[0]["info"].is_object() && json[0].get("reason").is_none());
    assert_eq!(json[3]["valid"], false);
    assert_eq!(json[3]["reason"], "no dsconfig.yaml");
    assert!(json[3].get("info").is_none());

    assert!(list_voicebanks(&root.join("missing")).is_empty());
}

#[test]
fn a_vocoder_can_be_named_by_path() {
    let voices = tempfile::tempdir().unwrap();
    let dir = voices.path().join("bank");
    write_test_voicebank(&dir, &TestVoicebankOptions::default()).unwrap();
    // Move the vocoder package beside the voicebank and point `vocoder:` at it.
    std::fs::rename(dir.join("dsvocoder"), voices.path().join("shared_vocoder")).unwrap();
    let config = std::fs::read_to_string(dir.join("dsconfig.yaml")).unwrap();
    std::fs::write(
        dir.join("dsconfig.yaml"),
        config.replace("vocoder: test_vocoder", "vocoder: ../shared_vocoder"),
    )
    .unwrap();
    assert_eq!(inspect(&dir).unwrap().vocoder, "test_vocoder");
    // Without it: a clear error.
    std::fs::write(dir.join("dsconfig.yaml"), config).unwrap();
    let err = inspect(&dir).unwrap_err();
    assert!(matches!(err, VoicebankError::NoVocoder { .. }), "{err}");
    assert!(err.to_string().contains("dsvocoder/vocoder.yaml"), "{err}");
}

#[test]
fn a_signature_that_differs_from_the_config_is_a_load_error() {
    let load_err = |o: &TestVoicebankOptions, patch: &dyn Fn(&Path)| {
        let (_tmp, dir) = write(o);
        patch(&dir);
        Voicebank::load(&dir, &runtime(), &options()).unwrap_err()
    };
    let no_f0 = TestVoicebankOptions {
        breakage: Some(TestBreakage::AcousticWithoutF0),
        ..TestVoicebankOptions::default()
    };
    let err = load_err(&no_f0, &|_| {});
    match &err {
        VoicebankError::Signature { file, tensor, .. } => {
            assert_eq!(file.file_name().unwrap(), "acoustic.onnx");
            assert_eq!(tensor, "f0");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("no such input"), "{err}");

    // The config enables energy, the graph does not take it.
    let energy = TestVoicebankOptions {
        energy: true,
        ..TestVoicebankOptions::default()
    };
    let plain_graph =
        coda_singing::diffsinger::testing::acoustic_model(&TestVoicebankOptions::default());
    let err = load_err(&energy, &|dir| {
        std::fs::write(dir.join("acoustic.onnx"), &plain_graph).unwrap()
    });
    assert!(
        matches!(&err, VoicebankError::Signature { tensor, .. } if tensor == "energy"),
        "{err}"
    );
    assert!(err.to_string().contains("use_energy_embed"), "{err}");

    // The graph takes energy, the config does not enable it.
    let energy_graph = coda_singing::diffsinger::testing::acoustic_model(&energy);
    let err = load_err(&TestVoicebankOptions::default(), &|dir| {
        std::fs::write(dir.join("acoustic.onnx"), &energy_graph).unwrap()
    });
    assert!(
        matches!(&err, VoicebankError::Signature { tensor, .. } if tensor == "energy"),
        "{err}"
    );
    assert!(err.to_string().contains("does not enable"), "{err}");

    // Speedup expected, steps found.
    let steps_graph = coda_singing::diffsinger::testing::acoustic_model(&TestVoicebankOptions {
        acceleration: TestAcceleration::Steps,
        ..TestVoicebankOptions::default()
    });
    let err = load_err(&TestVoicebankOptions::default(), &|dir| {
        std::fs::write(dir.join("acoustic.onnx"), &steps_graph).unwrap()
    });
    assert!(
        matches!(&err, VoicebankError::Signature { tensor, .. } if tensor == "speedup"),
        "{err}"
    );

    // A predictor without its mask output.
    let pitch = TestVoicebankOptions {
        pitch: true,
        ..TestVoicebankOptions::default()
    };
    let vocoder_graph = coda_singing::diffsinger::testing::vocoder_model(16, 512);
    let err = load_err(&pitch, &|dir| {
        std::fs::write(dir.join("dspitch/linguistic.onnx"), &vocoder_graph).unwrap()
    });
    assert!(
        matches!(&err, VoicebankError::Signature { file, .. } if file.ends_with("dspitch/linguistic.onnx")),
        "{err}"
    );

    // Not an ONNX file at all.
    let err = load_err(&TestVoicebankOptions::default(), &|dir| {
        std::fs::write(dir.join("dsvocoder/vocoder.onnx"), b"not onnx").unwrap()
    });
    assert!(err.to_string().contains("vocoder.onnx"), "{err}");
}

#[test]
fn phrase_checks_name_the_problem_and_nothing_panics() {
    let good = many_phonemes();
    good.check().unwrap();
    type Edit = fn(&mut DsPhrase);
    let cases: [(Edit, &str); 16] = [
        (|p| p.phonemes.clear(), "phonemes"),
        (|p| p.ph_dur.pop().map(drop).unwrap_or(()), "ph_dur"),
        (|p| p.ph_dur[2] = 0, "ph_dur[2]"),
        (|p| p.ph_note[3] = 9, "ph_note[3]"),
        (|p| p.ph_note[4] = 0, "ph_note[4]"),
        (|p| p.notes[1].frames += 1, "notes"),
        (|p| p.notes[2].midi = f32::NAN, "notes[2]"),
        (|p| p.word_div[1] = 0, "word_div[1]"),
        (|p| p.word_div[1] = 3, "word_div"),
        (|p| p.word_dur[3] += 1, "word_dur"),
        (|p| p.f0[7] = f32::INFINITY, "f0[7]"),
        (|p| p.f0.truncate(50), "f0"),
        (
            |p| p.variance.energy = Some(vec![0.0; 3]),
            "variance.energy",
        ),
        (|p| p.expression.gender = 1.5, "expression.gender"),
        (|p| p.expression.steps = Some(0), "expression.steps"),
        (|p| p.phonemes[1] = "a b".into(), "phonemes[1]"),
    ];
    for (edit, field) in cases {
        let mut p = good.clone();
        edit(&mut p);
        let err = p.check().unwrap_err();
        assert!(
            err.to_string().starts_with(field) || err.to_string().contains(field),
            "{field}: {err}"
        );
    }
    let mut long = one_phoneme();
    long.ph_dur[0] = 30_001;
    long.notes[0].frames = 30_001;
    long.word_dur[1] = 30_001;
    long.f0 = vec![100.0; 30_001];
    assert!(matches!(long.check(), Err(PhraseError::TooLarge { .. })));

    // Every run checks first.
    let (_tmp, vb) = load(&TestVoicebankOptions::full());
    let mut bad = good.clone();
    bad.ph_dur[0] = 0;
    assert!(matches!(
        vb.synthesize(&bad),
        Err(VoicebankError::Phrase(_))
    ));
    assert!(matches!(
        vb.predict_durations(&bad),
        Err(VoicebankError::Phrase(_))
    ));
    assert!(matches!(
        vb.predict_pitch(&bad),
        Err(VoicebankError::Phrase(_))
    ));
    assert!(matches!(
        vb.predict_variance(&bad),
        Err(VoicebankError::Phrase(_))
    ));
    let mut no_f0 = good.clone();
    no_f0.f0.clear();
    no_f0.check().unwrap();
    let err = vb.synthesize(&no_f0).unwrap_err();
    assert!(err.to_string().contains("f0"), "{err}");
}

#[test]
fn a_full_voicebank_runs_every_model() {
    let o = TestVoicebankOptions::full();
    let (_tmp, vb) = load(&o);
    let mut p = long_phrase();
    let durations = vb.predict_durations(&p).unwrap();
    p.ph_dur = durations;
    p.f0 = vb.predict_pitch(&p).unwrap();
    p.variance = vb.predict_variance(&p).unwrap();
    p.expression.speaker = Some("tenor".into());
    let audio = vb.synthesize(&p).unwrap();
    assert_eq!(audio.len(), 2440 * 512);
    assert!(audio.iter().all(|v| v.is_finite()));
}
