//! Small, valid DiffSinger voicebanks whose models compute known functions of
//! their inputs, so the code feeding real voicebanks can be tested exactly
//! through ONNX Runtime (and a CLI can be shown a voicebank) without weights.
//!
//! [`write_test_voicebank`] writes `dsconfig.yaml`, `phonemes.txt` ([`PHONEMES`]:
//! `AP`, `SP` and the 39 ARPAbet phones, ids in that order), `dsdict.yaml`,
//! `character.yaml`, `acoustic.onnx`, `dsvocoder/` (vocoder.yaml, vocoder.onnx)
//! and, as asked, speaker embeddings, `languages.json` and the `dsdur/`,
//! `dspitch/`, `dsvariance/` predictors. The graphs (opset 17, built with
//! `coda_model_runtime::onnx_build`) compute, with the constants of [`coef`]
//! and per frame `t` of the padded phrase (`tok[t]` is the token id of the
//! phoneme covering frame `t` plus one, `0` where no phoneme covers it):
//!
//! - acoustic: `mel[0,t,b] = TOKEN·tok[t] + F0·f0[t] + ENERGY·energy[t] + BREATHINESS·breathiness[t] +
//!   VOICING·voicing[t] + TENSION·tension[t] + GENDER·gender[t] + VELOCITY·velocity[t] +
//!   SPEAKER·Σ_h spk_embed[t,h] + LANGUAGE·lang[t] + SPEEDUP·speedup + DEPTH·depth + STEPS·steps + BIN·b`
//!   (each term only when the input exists);
//! - vocoder: `waveform[0, t·hop + j] = VOC_MEL·mean_b mel[t,b] + VOC_F0·f0[t] + VOC_RAMP·j`;
//! - linguistic encoder: `encoder_out[0,i] = [token_i + 1, LING_DUR·d_i, lang_i, 0, …]` where `d_i`
//!   is the `word_dur` of phoneme `i`'s word (word mode) or its `ph_dur` (phoneme mode);
//!   `x_masks = tokens ≥ 0`;
//! - duration: `ph_dur_pred[i] = DUR_BASE + DUR_TOKEN·enc[i,0] + DUR_WORD·enc[i,1] +
//!   DUR_MIDI·(ph_midi[i] − 60) + DUR_SPEAKER·Σ_h spk_embed[i,h]`, 0 where `x_masks` is false;
//! - pitch: `pitch_pred[t] = note_midi[note of t] + PITCH_TOKEN·enc0[t] + (pitch[t] − 60) +
//!   RETAKE·(1 − retake[t]) + PITCH_ACCEL·(speedup or steps) + PITCH_EXPR·expr[t] +
//!   PITCH_REST·note_rest[note of t] + PITCH_SPEAKER·Σ_h spk_embed[t,h]`, with `enc0[t]` the
//!   encoder's channel 0 of the phoneme covering `t` (by `ph_dur`), notes by `note_dur`;
//! - variance: `base[t] = VAR_PITCH·pitch[t] + VAR_TOKEN·enc0[t] + VAR_ACCEL·(speedup or steps) +
//!   RETAKE·(curves − Σ_c retake[t,c]) + VAR_SPEAKER·Σ_h spk_embed[t,h]` and
//!   `C_pred[t] = base[t] + offset(C) + C[t]` for each predicted curve `C`
//!   (offsets [`coef::ENERGY_OFFSET`] …).
//!
//! The speaker `k`'s embedding is [`speaker_embedding`]`(k, hidden_size)`. The
//! graphs cost O(frames × phonemes): they are for short test phrases.

use std::io;
use std::path::Path;

use coda_model_runtime::onnx_build::{Attr, Dim, ElemType, Graph};

/// The phoneme list, ids in this order.
pub const PHONEMES: [&str; 41] = [
    "AP", "SP", "aa", "ae", "ah", "ao", "aw", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f",
    "g", "hh", "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t",
    "th", "uh", "uw", "v", "w", "y", "z", "zh",
];

/// The phonemes the dictionary calls vowels.
pub const VOWELS: [&str; 15] = [
    "aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw",
];

/// The id of `symbol` in [`PHONEMES`] (the languages variant prefixes the ARPAbet phones with `en/`).
pub fn phoneme_index(symbol: &str) -> Option<i64> {
    let bare = symbol.strip_prefix("en/").unwrap_or(symbol);
    PHONEMES.iter().position(|p| *p == bare).map(|i| i as i64)
}

/// The constants of the stand-in models' formulas (see the module documentation).
pub mod coef {
    /// Acoustic: per token id + 1.
    pub const TOKEN: f32 = 1.0;
    /// Acoustic: per Hz of f0.
    pub const F0: f32 = 0.01;
    /// Acoustic: per unit of energy.
    pub const ENERGY: f32 = 0.1;
    /// Acoustic: per unit of breathiness.
    pub const BREATHINESS: f32 = 0.2;
    /// Acoustic: per unit of voicing.
    pub const VOICING: f32 = 0.3;
    /// Acoustic: per unit of tension.
    pub const TENSION: f32 = 0.4;
    /// Acoustic: per unit of gender.
    pub const GENDER: f32 = 0.5;
    /// Acoustic: per unit of velocity.
    pub const VELOCITY: f32 = 0.6;
    /// Acoustic: per unit of the speaker embedding's sum.
    pub const SPEAKER: f32 = 0.7;
    /// Acoustic: per language id.
    pub const LANGUAGE: f32 = 0.8;
    /// Acoustic: per unit of speedup.
    pub const SPEEDUP: f32 = 0.001;
    /// Acoustic: per unit of depth.
    pub const DEPTH: f32 = 0.002;
    /// Acoustic: per step.
    pub const STEPS: f32 = 0.003;
    /// Acoustic: per mel bin index.
    pub const BIN: f32 = 0.05;
    /// Vocoder: per unit of the frame's mean mel value.
    pub const VOC_MEL: f32 = 0.5;
    /// Vocoder: per Hz of f0.
    pub const VOC_F0: f32 = 0.001;
    /// Vocoder: per sample index within the frame.
    pub const VOC_RAMP: f32 = 1e-4;
    /// Linguistic encoder: channel 1 per frame of duration.
    pub const LING_DUR: f32 = 0.01;
    /// Duration: constant.
    pub const DUR_BASE: f32 = 2.0;
    /// Duration: per unit of encoder channel 0 (token id + 1).
    pub const DUR_TOKEN: f32 = 0.25;
    /// Duration: per unit of encoder channel 1.
    pub const DUR_WORD: f32 = 0.5;
    /// Duration: per semitone above 60.
    pub const DUR_MIDI: f32 = 0.05;
    /// Duration: per unit of the speaker embedding's sum.
    pub const DUR_SPEAKER: f32 = 0.1;
    /// Pitch: per unit of encoder channel 0.
    pub const PITCH_TOKEN: f32 = 0.01;
    /// Pitch: per unit of speedup or steps.
    pub const PITCH_ACCEL: f32 = 0.001;
    /// Pitch: per unit of expressiveness.
    pub const PITCH_EXPR: f32 = 0.1;
    /// Pitch: on rest notes.
    pub const PITCH_REST: f32 = 0.5;
    /// Pitch: per unit of the speaker embedding's sum.
    pub const PITCH_SPEAKER: f32 = 0.01;
    /// Pitch and variance: per frame whose `retake` is false.
    pub const RETAKE: f32 = 100.0;
    /// Variance: per semitone of pitch.
    pub const VAR_PITCH: f32 = 0.01;
    /// Variance: per unit of encoder channel 0.
    pub const VAR_TOKEN: f32 = 0.001;
    /// Variance: per unit of speedup or steps.
    pub const VAR_ACCEL: f32 = 0.0001;
    /// Variance: per unit of the speaker embedding's sum.
    pub const VAR_SPEAKER: f32 = 0.01;
    /// Variance: energy's offset.
    pub const ENERGY_OFFSET: f32 = -1.0;
    /// Variance: breathiness's offset (positive predictions follow, which the renderer caps at 0).
    pub const BREATHINESS_OFFSET: f32 = -0.5;
    /// Variance: voicing's offset.
    pub const VOICING_OFFSET: f32 = -0.8;
    /// Variance: tension's offset.
    pub const TENSION_OFFSET: f32 = -0.55;
}

/// The embedding of the `index`-th speaker: `0.1·(index + 1) + 0.01·h`.
pub fn speaker_embedding(index: usize, hidden: usize) -> Vec<f32> {
    (0..hidden)
        .map(|h| 0.1 * (index + 1) as f32 + 0.01 * h as f32)
        .collect()
}

/// How the acoustic model takes its sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestAcceleration {
    /// `speedup` only.
    Speedup,
    /// `depth` (int64) and `speedup` (`use_variable_depth`).
    DepthAndSpeedup,
    /// `steps` only (`use_continuous_acceleration`).
    Steps,
    /// `depth` (float) and `steps`.
    DepthAndSteps,
}

/// A way to write a broken voicebank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBreakage {
    /// `dsvocoder/vocoder.onnx` is not written.
    MissingVocoderModel,
    /// vocoder.yaml's `hop_size` is twice the acoustic model's.
    MelMismatch,
    /// dsconfig.yaml is not YAML.
    BrokenYaml,
    /// The acoustic graph has no `f0` input.
    AcousticWithoutF0,
    /// `phonemes.txt` is not written.
    MissingPhonemes,
}

/// What [`write_test_voicebank`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct TestVoicebankOptions {
    /// `name` of character.yaml.
    pub name: String,
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Samples per frame.
    pub hop_size: u32,
    /// Mel bins.
    pub mel_bins: u32,
    /// `hidden_size` (speaker embeddings, encoder channels); at least 3.
    pub hidden_size: u32,
    /// `use_energy_embed`.
    pub energy: bool,
    /// `use_breathiness_embed`.
    pub breathiness: bool,
    /// `use_voicing_embed`.
    pub voicing: bool,
    /// `use_tension_embed`.
    pub tension: bool,
    /// `use_key_shift_embed` (`gender`).
    pub gender: bool,
    /// `use_speed_embed` (`velocity`).
    pub velocity: bool,
    /// The acoustic model's acceleration inputs.
    pub acceleration: TestAcceleration,
    /// `max_depth`, 0 to 1 (written in thousandths without continuous acceleration).
    pub max_depth: f32,
    /// Speaker names (embeddings `NAME.emb`); empty for a single-speaker voicebank.
    pub speakers: Vec<String>,
    /// `use_lang_id` with `languages.json` (`en` 1, `ja` 2); the ARPAbet phones become `en/…`.
    pub languages: bool,
    /// Writes `dsdur/`.
    pub duration: bool,
    /// Writes `dspitch/` (word-mode encoder, `speedup`).
    pub pitch: bool,
    /// Writes `dsvariance/` (phoneme-mode encoder, `steps`) predicting these curves.
    pub variance: Option<super::VarianceCurves>,
    /// The pitch predictor's `use_expr`.
    pub pitch_expr: bool,
    /// The pitch predictor's `use_note_rest`.
    pub pitch_note_rest: bool,
    /// The pitch predictor's frame length in samples, when it differs from `hop_size`.
    pub pitch_hop_size: Option<u32>,
    /// The acoustic model's `mel_base` ("10" or "e").
    pub acoustic_mel_base: String,
    /// The vocoder's `mel_base`.
    pub vocoder_mel_base: String,
    /// Also writes `dsdict-en.yaml`.
    pub english_dictionary: bool,
    /// Breaks the voicebank this way.
    pub breakage: Option<TestBreakage>,
}

impl Default for TestVoicebankOptions {
    fn default() -> Self {
        TestVoicebankOptions {
            name: "Test Singer".into(),
            sample_rate: 44_100,
            hop_size: 512,
            mel_bins: 16,
            hidden_size: 8,
            energy: false,
            breathiness: false,
            voicing: false,
            tension: false,
            gender: false,
            velocity: false,
            acceleration: TestAcceleration::Speedup,
            max_depth: 0.6,
            speakers: Vec::new(),
            languages: false,
            duration: false,
            pitch: false,
            variance: None,
            pitch_expr: true,
            pitch_note_rest: true,
            pitch_hop_size: None,
            acoustic_mel_base: "10".into(),
            vocoder_mel_base: "10".into(),
            english_dictionary: false,
            breakage: None,
        }
    }
}

impl TestVoicebankOptions {
    /// Every optional input and every predictor: four curves, gender, velocity, two speakers.
    pub fn full() -> Self {
        TestVoicebankOptions {
            energy: true,
            breathiness: true,
            voicing: true,
            tension: true,
            gender: true,
            velocity: true,
            speakers: vec!["alto".into(), "tenor".into()],
            duration: true,
            pitch: true,
            variance: Some(super::VarianceCurves {
                energy: true,
                breathiness: true,
                voicing: true,
                tension: true,
            }),
            ..TestVoicebankOptions::default()
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Writes a valid voicebank (unless `options.breakage` breaks it) into `dir`, creating it.
pub fn write_test_voicebank(dir: &Path, options: &TestVoicebankOptions) -> io::Result<()> {
    let o = options;
    if o.hidden_size < 3 || o.mel_bins == 0 || o.hop_size == 0 || o.sample_rate == 0 {
        return Err(invalid(format!(
            "hidden_size {} (at least 3), mel_bins {}, hop_size {} and sample_rate {} (above 0)",
            o.hidden_size, o.mel_bins, o.hop_size, o.sample_rate
        )));
    }
    std::fs::create_dir_all(dir.join("dsvocoder"))?;
    let broken = |b: TestBreakage| o.breakage == Some(b);

    std::fs::write(
        dir.join("character.yaml"),
        format!("name: {}\n", yaml_str(&o.name)),
    )?;
    if !broken(TestBreakage::MissingPhonemes) {
        std::fs::write(dir.join("phonemes.txt"), phoneme_list(o.languages))?;
    }
    std::fs::write(dir.join("dsdict.yaml"), dictionary())?;
    if o.english_dictionary {
        std::fs::write(dir.join("dsdict-en.yaml"), dictionary())?;
    }
    if o.languages {
        std::fs::write(dir.join("languages.json"), "{\"en\": 1, \"ja\": 2}\n")?;
    }
    for (k, name) in o.speakers.iter().enumerate() {
        let bytes: Vec<u8> = speaker_embedding(k, o.hidden_size as usize)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(dir.join(format!("{name}.emb")), bytes)?;
    }

    let continuous = matches!(
        o.acceleration,
        TestAcceleration::Steps | TestAcceleration::DepthAndSteps
    );
    let depth = matches!(
        o.acceleration,
        TestAcceleration::DepthAndSpeedup | TestAcceleration::DepthAndSteps
    );
    let mut config =
        String::from("phonemes: phonemes.txt\nacoustic: acoustic.onnx\nvocoder: test_vocoder\n");
    config += &timing_yaml(o, o.hop_size);
    config += &format!(
        "win_size: 2048\nfft_size: 2048\nnum_mel_bins: {}\nmel_fmin: 40\nmel_fmax: 16000\nmel_base: {}\nmel_scale: slaney\n",
        o.mel_bins, o.acoustic_mel_base
    );
    for (key, on) in [
        ("use_energy_embed", o.energy),
        ("use_breathiness_embed", o.breathiness),
        ("use_voicing_embed", o.voicing),
        ("use_tension_embed", o.tension),
        ("use_key_shift_embed", o.gender),
        ("use_speed_embed", o.velocity),
        ("use_continuous_acceleration", continuous),
        ("use_variable_depth", depth),
    ] {
        config += &format!("{key}: {on}\n");
    }
    if depth {
        let max = if continuous {
            f64::from(o.max_depth)
        } else {
            (f64::from(o.max_depth) * 1000.0).round()
        };
        config += &format!("max_depth: {max}\n");
    }
    if o.gender {
        config += "augmentation_args:\n  random_pitch_shifting:\n    range: [-5.0, 5.0]\n";
    }
    config += &speakers_yaml(&o.speakers, "");
    config += &languages_yaml(o.languages, "");
    if broken(TestBreakage::BrokenYaml) {
        config = "acoustic: [acoustic.onnx\nphonemes: {: :\n".into();
    }
    std::fs::write(dir.join("dsconfig.yaml"), config)?;
    std::fs::write(dir.join("acoustic.onnx"), acoustic_model(o))?;

    let vocoder_hop = if broken(TestBreakage::MelMismatch) {
        o.hop_size * 2
    } else {
        o.hop_size
    };
    std::fs::write(
        dir.join("dsvocoder/vocoder.yaml"),
        format!(
            "name: test_vocoder\nmodel: vocoder.onnx\nsample_rate: {}\nhop_size: {vocoder_hop}\nwin_size: 2048\nfft_size: 2048\nnum_mel_bins: {}\nmel_fmin: 40\nmel_fmax: 16000\nmel_base: '{}'\nmel_scale: slaney\n",
            o.sample_rate, o.mel_bins, o.vocoder_mel_base
        ),
    )?;
    if !broken(TestBreakage::MissingVocoderModel) {
        std::fs::write(
            dir.join("dsvocoder/vocoder.onnx"),
            vocoder_model(o.mel_bins, o.hop_size),
        )?;
    }

    let speakers = !o.speakers.is_empty();
    if o.duration {
        let sub = dir.join("dsdur");
        std::fs::create_dir_all(&sub)?;
        let mut c = String::from("phonemes: ../phonemes.txt\nlinguistic: linguistic.onnx\ndur: dur.onnx\npredict_dur: true\n");
        c += &timing_yaml(o, o.hop_size);
        c += &speakers_yaml(&o.speakers, "../");
        c += &languages_yaml(o.languages, "../");
        std::fs::write(sub.join("dsconfig.yaml"), c)?;
        std::fs::write(
            sub.join("linguistic.onnx"),
            linguistic_model(true, o.languages, o.hidden_size),
        )?;
        std::fs::write(sub.join("dur.onnx"), duration_model(speakers))?;
    }
    if o.pitch {
        let sub = dir.join("dspitch");
        std::fs::create_dir_all(&sub)?;
        let mut c = String::from("phonemes: ../phonemes.txt\nlinguistic: linguistic.onnx\npitch: pitch.onnx\npredict_dur: true\nuse_continuous_acceleration: false\n");
        c += &timing_yaml(o, o.pitch_hop_size.unwrap_or(o.hop_size));
        c += &format!(
            "use_expr: {}\nuse_note_rest: {}\n",
            o.pitch_expr, o.pitch_note_rest
        );
        c += &speakers_yaml(&o.speakers, "../");
        c += &languages_yaml(o.languages, "../");
        std::fs::write(sub.join("dsconfig.yaml"), c)?;
        std::fs::write(
            sub.join("linguistic.onnx"),
            linguistic_model(true, o.languages, o.hidden_size),
        )?;
        std::fs::write(
            sub.join("pitch.onnx"),
            pitch_model(o.pitch_expr, o.pitch_note_rest, speakers, false),
        )?;
    }
    if let Some(curves) = o.variance {
        let sub = dir.join("dsvariance");
        std::fs::create_dir_all(&sub)?;
        let mut c = String::from("phonemes: ../phonemes.txt\nlinguistic: linguistic.onnx\nvariance: variance.onnx\npredict_dur: false\nuse_continuous_acceleration: true\n");
        c += &timing_yaml(o, o.hop_size);
        c += &format!(
            "predict_energy: {}\npredict_breathiness: {}\npredict_voicing: {}\npredict_tension: {}\n",
            curves.energy, curves.breathiness, curves.voicing, curves.tension
        );
        c += &speakers_yaml(&o.speakers, "../");
        c += &languages_yaml(o.languages, "../");
        std::fs::write(sub.join("dsconfig.yaml"), c)?;
        std::fs::write(
            sub.join("linguistic.onnx"),
            linguistic_model(false, o.languages, o.hidden_size),
        )?;
        std::fs::write(
            sub.join("variance.onnx"),
            variance_model(curves, speakers, true),
        )?;
    }
    Ok(())
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn timing_yaml(o: &TestVoicebankOptions, hop: u32) -> String {
    format!(
        "hidden_size: {}\nsample_rate: {}\nhop_size: {hop}\n",
        o.hidden_size, o.sample_rate
    )
}

fn speakers_yaml(speakers: &[String], prefix: &str) -> String {
    if speakers.is_empty() {
        return String::new();
    }
    let list: Vec<String> = speakers
        .iter()
        .map(|s| yaml_str(&format!("{prefix}{s}")))
        .collect();
    format!("speakers: [{}]\n", list.join(", "))
}

fn languages_yaml(on: bool, prefix: &str) -> String {
    if on {
        format!("use_lang_id: true\nlanguages: {prefix}languages.json\n")
    } else {
        String::new()
    }
}

fn phoneme_list(languages: bool) -> String {
    PHONEMES
        .iter()
        .map(|p| {
            if languages && !matches!(*p, "AP" | "SP") {
                format!("en/{p}\n")
            } else {
                format!("{p}\n")
            }
        })
        .collect()
}

/// A dsdict.yaml in OpenUtau's format: symbol types and a few words.
fn dictionary() -> String {
    let mut out = String::from("symbols:\n");
    for p in PHONEMES.iter().skip(2) {
        let kind = if VOWELS.contains(p) {
            "vowel"
        } else {
            match *p {
                "w" | "y" => "semivowel",
                "l" | "r" => "liquid",
                "m" | "n" | "ng" => "nasal",
                "b" | "d" | "g" | "k" | "p" | "t" => "stop",
                "ch" | "jh" => "affricate",
                "hh" => "aspirate",
                _ => "fricative",
            }
        };
        out += &format!("  - {{symbol: {p}, type: {kind}}}\n");
    }
    out += "entries:\n";
    for (word, phones) in [
        ("cat", "[k, ae, t]"),
        ("hello", "[hh, ah, l, ow]"),
        ("sing", "[s, ih, ng]"),
        ("la", "[l, aa]"),
    ] {
        out += &format!("  - {{grapheme: {word}, phonemes: {phones}}}\n");
    }
    out
}

// ---- graph pieces -------------------------------------------------------

fn frames_dims(name: &str) -> [Dim; 2] {
    [Dim::fixed(1), Dim::named(name)]
}

/// `[1, n]` (or any shape) → `[n]`.
fn flat(g: &mut Graph, x: &str) -> String {
    let shape = g.vec_i64(&[-1]);
    g.op("Reshape", &[x, &shape], &[])
}

fn to_float(g: &mut Graph, x: &str) -> String {
    g.op("Cast", &[x], &[("to", Attr::Int(ElemType::Float.code()))])
}

fn scale(g: &mut Graph, x: &str, c: f32) -> String {
    let c = g.scalar_f32(c);
    g.op("Mul", &[x, &c], &[])
}

fn add_const(g: &mut Graph, x: &str, c: f32) -> String {
    let c = g.scalar_f32(c);
    g.op("Add", &[x, &c], &[])
}

fn sum(g: &mut Graph, terms: &[String]) -> String {
    let mut acc = terms[0].clone();
    for t in &terms[1..] {
        acc = g.op("Add", &[&acc, t], &[]);
    }
    acc
}

fn unsqueeze(g: &mut Graph, x: &str, axes: &[i64]) -> String {
    let axes = g.vec_i64(axes);
    g.op("Unsqueeze", &[x, &axes], &[])
}

/// `x[axis]`'s length as a 0-D int64.
fn length_of(g: &mut Graph, x: &str, axis: i64) -> String {
    let shape = g.op("Shape", &[x], &[]);
    let index = g.scalar_i64(axis);
    g.op("Gather", &[&shape, &index], &[("axis", Attr::Int(0))])
}

/// Sum over the last axis of `[1, m, h]` → `[m]`.
fn sum_last(g: &mut Graph, x: &str) -> String {
    let axes = g.vec_i64(&[2]);
    let s = g.op("ReduceSum", &[x, &axes], &[("keepdims", Attr::Int(0))]);
    flat(g, &s)
}

/// Channel `c` of a `[1, m, h]` tensor → `[m]`.
fn channel(g: &mut Graph, x: &str, c: i64) -> String {
    let index = g.scalar_i64(c);
    let picked = g.op("Gather", &[x, &index], &[("axis", Attr::Int(2))]);
    flat(g, &picked)
}

/// `values` `[n]` (float) repeated `counts` `[n]` (int64) times each, over `length` (0-D) frames: `[length]`, 0 past the end.
fn expand(g: &mut Graph, values: &str, counts: &str, length: &str) -> String {
    let axis = g.scalar_i64(0);
    let ends = g.op("CumSum", &[counts, &axis], &[]);
    let starts = g.op("Sub", &[&ends, counts], &[]);
    let zero = g.scalar_i64(0);
    let one = g.scalar_i64(1);
    let t = g.op("Range", &[&zero, length, &one], &[]);
    let t2 = unsqueeze(g, &t, &[1]);
    let s2 = unsqueeze(g, &starts, &[0]);
    let e2 = unsqueeze(g, &ends, &[0]);
    let ge = g.op("GreaterOrEqual", &[&t2, &s2], &[]);
    let lt = g.op("Less", &[&t2, &e2], &[]);
    let inside = g.op("And", &[&ge, &lt], &[]);
    let mask = to_float(g, &inside);
    let column = unsqueeze(g, values, &[1]);
    let product = g.op("MatMul", &[&mask, &column], &[]);
    flat(g, &product)
}

fn scalar_input(g: &mut Graph, name: &str, ty: ElemType) -> String {
    g.input(name, ty, &[Dim::fixed(1)])
}

/// The acoustic model (see the module documentation).
pub fn acoustic_model(o: &TestVoicebankOptions) -> Vec<u8> {
    use coef::*;
    let mut g = Graph::new("test_acoustic");
    let tokens = g.input("tokens", ElemType::Int64, &frames_dims("n_tokens"));
    let durations = g.input("durations", ElemType::Int64, &frames_dims("n_tokens"));
    let dur_flat = flat(&mut g, &durations);
    let axes = g.vec_i64(&[0]);
    let frames = g.op(
        "ReduceSum",
        &[&dur_flat, &axes],
        &[("keepdims", Attr::Int(0))],
    );
    let tok_flat = flat(&mut g, &tokens);
    let tok_f = to_float(&mut g, &tok_flat);
    let tok_1 = add_const(&mut g, &tok_f, 1.0);
    let tok_frames = expand(&mut g, &tok_1, &dur_flat, &frames);
    let mut terms = vec![scale(&mut g, &tok_frames, TOKEN)];
    let per_frame = |g: &mut Graph, terms: &mut Vec<String>, name: &str, c: f32| {
        let x = g.input(name, ElemType::Float, &frames_dims("n_frames"));
        let x = flat(g, &x);
        terms.push(scale(g, &x, c));
    };
    if o.breakage != Some(TestBreakage::AcousticWithoutF0) {
        per_frame(&mut g, &mut terms, "f0", F0);
    }
    for (on, name, c) in [
        (o.energy, "energy", ENERGY),
        (o.breathiness, "breathiness", BREATHINESS),
        (o.voicing, "voicing", VOICING),
        (o.tension, "tension", TENSION),
        (o.gender, "gender", GENDER),
        (o.velocity, "velocity", VELOCITY),
    ] {
        if on {
            per_frame(&mut g, &mut terms, name, c);
        }
    }
    if !o.speakers.is_empty() {
        let h = u64::from(o.hidden_size);
        let spk = g.input(
            "spk_embed",
            ElemType::Float,
            &[Dim::fixed(1), Dim::named("n_frames"), Dim::fixed(h)],
        );
        let s = sum_last(&mut g, &spk);
        terms.push(scale(&mut g, &s, SPEAKER));
    }
    if o.languages {
        let langs = g.input("languages", ElemType::Int64, &frames_dims("n_tokens"));
        let l = flat(&mut g, &langs);
        let l = to_float(&mut g, &l);
        let l = expand(&mut g, &l, &dur_flat, &frames);
        terms.push(scale(&mut g, &l, LANGUAGE));
    }
    let accel = |g: &mut Graph, terms: &mut Vec<String>, name: &str, ty: ElemType, c: f32| {
        let x = scalar_input(g, name, ty);
        let x = if ty == ElemType::Float {
            x
        } else {
            to_float(g, &x)
        };
        terms.push(scale(g, &x, c));
    };
    match o.acceleration {
        TestAcceleration::Speedup => accel(&mut g, &mut terms, "speedup", ElemType::Int64, SPEEDUP),
        TestAcceleration::DepthAndSpeedup => {
            accel(&mut g, &mut terms, "depth", ElemType::Int64, DEPTH);
            accel(&mut g, &mut terms, "speedup", ElemType::Int64, SPEEDUP);
        }
        TestAcceleration::Steps => accel(&mut g, &mut terms, "steps", ElemType::Int64, STEPS),
        TestAcceleration::DepthAndSteps => {
            accel(&mut g, &mut terms, "depth", ElemType::Float, DEPTH);
            accel(&mut g, &mut terms, "steps", ElemType::Int64, STEPS);
        }
    }
    let value = sum(&mut g, &terms);
    let value = unsqueeze(&mut g, &value, &[0, 2]);
    let bins = o.mel_bins as usize;
    let ramp: Vec<f32> = (0..bins).map(|b| BIN * b as f32).collect();
    let ramp = g.floats(&[1, 1, bins as i64], &ramp);
    let mel = g.op("Add", &[&value, &ramp], &[]);
    g.output_from(
        &mel,
        "mel",
        ElemType::Float,
        &[
            Dim::fixed(1),
            Dim::named("n_frames"),
            Dim::fixed(bins as u64),
        ],
    );
    g.to_model()
}

/// The vocoder (see the module documentation).
pub fn vocoder_model(mel_bins: u32, hop_size: u32) -> Vec<u8> {
    use coef::*;
    let mut g = Graph::new("test_vocoder");
    let mel = g.input(
        "mel",
        ElemType::Float,
        &[
            Dim::fixed(1),
            Dim::named("n_frames"),
            Dim::fixed(u64::from(mel_bins)),
        ],
    );
    let f0 = g.input("f0", ElemType::Float, &frames_dims("n_frames"));
    let axes = g.vec_i64(&[2]);
    let s = g.op("ReduceSum", &[&mel, &axes], &[("keepdims", Attr::Int(0))]);
    let m = scale(&mut g, &s, VOC_MEL / mel_bins as f32);
    let f = scale(&mut g, &f0, VOC_F0);
    let v = g.op("Add", &[&m, &f], &[]);
    let v = unsqueeze(&mut g, &v, &[2]);
    let hop = hop_size as usize;
    let ramp: Vec<f32> = (0..hop).map(|j| VOC_RAMP * j as f32).collect();
    let ramp = g.floats(&[1, 1, hop as i64], &ramp);
    let w = g.op("Add", &[&v, &ramp], &[]);
    let shape = g.vec_i64(&[1, -1]);
    let w = g.op("Reshape", &[&w, &shape], &[]);
    g.output_from(&w, "waveform", ElemType::Float, &frames_dims("n_samples"));
    g.to_model()
}

/// A linguistic encoder in word mode (`word_div`, `word_dur`) or phoneme mode (`ph_dur`).
pub fn linguistic_model(word_mode: bool, languages: bool, hidden: u32) -> Vec<u8> {
    use coef::*;
    let mut g = Graph::new("test_linguistic");
    let tokens = g.input("tokens", ElemType::Int64, &frames_dims("n_tokens"));
    let n = length_of(&mut g, &tokens, 1);
    let tok_flat = flat(&mut g, &tokens);
    let tok = to_float(&mut g, &tok_flat);
    let c0 = add_const(&mut g, &tok, 1.0);
    let durations = if word_mode {
        let div = g.input("word_div", ElemType::Int64, &frames_dims("n_words"));
        let dur = g.input("word_dur", ElemType::Int64, &frames_dims("n_words"));
        let div = flat(&mut g, &div);
        let dur = flat(&mut g, &dur);
        let dur = to_float(&mut g, &dur);
        expand(&mut g, &dur, &div, &n)
    } else {
        let ph_dur = g.input("ph_dur", ElemType::Int64, &frames_dims("n_tokens"));
        let ph_dur = flat(&mut g, &ph_dur);
        to_float(&mut g, &ph_dur)
    };
    let c1 = scale(&mut g, &durations, LING_DUR);
    let h = hidden as usize;
    let basis = |g: &mut Graph, k: usize| {
        let mut v = vec![0f32; h];
        v[k] = 1.0;
        g.floats(&[1, h as i64], &v)
    };
    let mut channels = vec![(c0, 0), (c1, 1)];
    if languages {
        let langs = g.input("languages", ElemType::Int64, &frames_dims("n_tokens"));
        let l = flat(&mut g, &langs);
        channels.push((to_float(&mut g, &l), 2));
    }
    let mut terms = Vec::new();
    for (c, k) in channels {
        let column = unsqueeze(&mut g, &c, &[1]);
        let e = basis(&mut g, k);
        terms.push(g.op("Mul", &[&column, &e], &[]));
    }
    let enc = sum(&mut g, &terms);
    let enc = unsqueeze(&mut g, &enc, &[0]);
    g.output_from(
        &enc,
        "encoder_out",
        ElemType::Float,
        &[Dim::fixed(1), Dim::named("n_tokens"), Dim::fixed(h as u64)],
    );
    let zero = g.scalar_i64(0);
    let masks = g.op("GreaterOrEqual", &[&tokens, &zero], &[]);
    g.output_from(&masks, "x_masks", ElemType::Bool, &frames_dims("n_tokens"));
    g.to_model()
}

fn encoder_input(g: &mut Graph) -> String {
    g.input(
        "encoder_out",
        ElemType::Float,
        &[Dim::fixed(1), Dim::named("n_tokens"), Dim::named("hidden")],
    )
}

fn speaker_input(g: &mut Graph, length: &str) -> String {
    g.input(
        "spk_embed",
        ElemType::Float,
        &[Dim::fixed(1), Dim::named(length), Dim::named("hidden")],
    )
}

/// The duration predictor (see the module documentation).
pub fn duration_model(speakers: bool) -> Vec<u8> {
    use coef::*;
    let mut g = Graph::new("test_duration");
    let enc = encoder_input(&mut g);
    let masks = g.input("x_masks", ElemType::Bool, &frames_dims("n_tokens"));
    let midi = g.input("ph_midi", ElemType::Int64, &frames_dims("n_tokens"));
    let c0 = channel(&mut g, &enc, 0);
    let c1 = channel(&mut g, &enc, 1);
    let midi = flat(&mut g, &midi);
    let midi = to_float(&mut g, &midi);
    let midi = add_const(&mut g, &midi, -60.0);
    let mut terms = vec![
        scale(&mut g, &c0, DUR_TOKEN),
        scale(&mut g, &c1, DUR_WORD),
        scale(&mut g, &midi, DUR_MIDI),
    ];
    if speakers {
        let spk = speaker_input(&mut g, "n_tokens");
        let s = sum_last(&mut g, &spk);
        terms.push(scale(&mut g, &s, DUR_SPEAKER));
    }
    let pred = sum(&mut g, &terms);
    let pred = add_const(&mut g, &pred, DUR_BASE);
    let pred = unsqueeze(&mut g, &pred, &[0]);
    let zero = g.scalar_f32(0.0);
    let out = g.op("Where", &[&masks, &pred, &zero], &[]);
    g.output_from(
        &out,
        "ph_dur_pred",
        ElemType::Float,
        &frames_dims("n_tokens"),
    );
    g.to_model()
}

fn accel_input(g: &mut Graph, continuous: bool) -> String {
    let x = scalar_input(
        g,
        if continuous { "steps" } else { "speedup" },
        ElemType::Int64,
    );
    to_float(g, &x)
}

/// The pitch predictor (see the module documentation); `continuous` takes `steps` instead of `speedup`.
pub fn pitch_model(expr: bool, note_rest: bool, speakers: bool, continuous: bool) -> Vec<u8> {
    use coef::*;
    let mut g = Graph::new("test_pitch");
    let enc = encoder_input(&mut g);
    let note_midi = g.input("note_midi", ElemType::Float, &frames_dims("n_notes"));
    let note_dur = g.input("note_dur", ElemType::Int64, &frames_dims("n_notes"));
    let ph_dur = g.input("ph_dur", ElemType::Int64, &frames_dims("n_tokens"));
    let pitch = g.input("pitch", ElemType::Float, &frames_dims("n_frames"));
    let retake = g.input("retake", ElemType::Bool, &frames_dims("n_frames"));
    let frames = length_of(&mut g, &pitch, 1);
    let note_dur = flat(&mut g, &note_dur);
    let ph_dur = flat(&mut g, &ph_dur);
    let midi = flat(&mut g, &note_midi);
    let midi = expand(&mut g, &midi, &note_dur, &frames);
    let c0 = channel(&mut g, &enc, 0);
    let tok = expand(&mut g, &c0, &ph_dur, &frames);
    let p = flat(&mut g, &pitch);
    let p = add_const(&mut g, &p, -60.0);
    let r = flat(&mut g, &retake);
    let r = to_float(&mut g, &r);
    let r = scale(&mut g, &r, -RETAKE);
    let r = add_const(&mut g, &r, RETAKE);
    let a = accel_input(&mut g, continuous);
    let mut terms = vec![
        midi,
        scale(&mut g, &tok, PITCH_TOKEN),
        p,
        r,
        scale(&mut g, &a, PITCH_ACCEL),
    ];
    if expr {
        let e = g.input("expr", ElemType::Float, &frames_dims("n_frames"));
        let e = flat(&mut g, &e);
        terms.push(scale(&mut g, &e, PITCH_EXPR));
    }
    if note_rest {
        let rest = g.input("note_rest", ElemType::Bool, &frames_dims("n_notes"));
        let rest = flat(&mut g, &rest);
        let rest = to_float(&mut g, &rest);
        let rest = expand(&mut g, &rest, &note_dur, &frames);
        terms.push(scale(&mut g, &rest, PITCH_REST));
    }
    if speakers {
        let spk = speaker_input(&mut g, "n_frames");
        let s = sum_last(&mut g, &spk);
        terms.push(scale(&mut g, &s, PITCH_SPEAKER));
    }
    let out = sum(&mut g, &terms);
    let out = unsqueeze(&mut g, &out, &[0]);
    g.output_from(
        &out,
        "pitch_pred",
        ElemType::Float,
        &frames_dims("n_frames"),
    );
    g.to_model()
}

/// The variance predictor (see the module documentation).
pub fn variance_model(curves: super::VarianceCurves, speakers: bool, continuous: bool) -> Vec<u8> {
    use coef::*;
    let mut g = Graph::new("test_variance");
    let enc = encoder_input(&mut g);
    let ph_dur = g.input("ph_dur", ElemType::Int64, &frames_dims("n_tokens"));
    let pitch = g.input("pitch", ElemType::Float, &frames_dims("n_frames"));
    let names = curves.names();
    let mut inputs = Vec::new();
    for name in &names {
        inputs.push(g.input(name, ElemType::Float, &frames_dims("n_frames")));
    }
    let retake = g.input(
        "retake",
        ElemType::Bool,
        &[
            Dim::fixed(1),
            Dim::named("n_frames"),
            Dim::fixed(names.len() as u64),
        ],
    );
    let frames = length_of(&mut g, &pitch, 1);
    let ph_dur = flat(&mut g, &ph_dur);
    let c0 = channel(&mut g, &enc, 0);
    let tok = expand(&mut g, &c0, &ph_dur, &frames);
    let p = flat(&mut g, &pitch);
    let r = to_float(&mut g, &retake);
    let r = sum_last(&mut g, &r);
    let r = scale(&mut g, &r, -RETAKE);
    let r = add_const(&mut g, &r, RETAKE * names.len() as f32);
    let a = accel_input(&mut g, continuous);
    let mut terms = vec![
        scale(&mut g, &p, VAR_PITCH),
        scale(&mut g, &tok, VAR_TOKEN),
        r,
        scale(&mut g, &a, VAR_ACCEL),
    ];
    if speakers {
        let spk = speaker_input(&mut g, "n_frames");
        let s = sum_last(&mut g, &spk);
        terms.push(scale(&mut g, &s, VAR_SPEAKER));
    }
    let base = sum(&mut g, &terms);
    for (name, input) in names.iter().zip(&inputs) {
        let offset = match *name {
            "energy" => ENERGY_OFFSET,
            "breathiness" => BREATHINESS_OFFSET,
            "voicing" => VOICING_OFFSET,
            _ => TENSION_OFFSET,
        };
        let x = flat(&mut g, input);
        let v = g.op("Add", &[&base, &x], &[]);
        let v = add_const(&mut g, &v, offset);
        let v = unsqueeze(&mut g, &v, &[0]);
        g.output_from(
            &v,
            &format!("{name}_pred"),
            ElemType::Float,
            &frames_dims("n_frames"),
        );
    }
    g.to_model()
}
