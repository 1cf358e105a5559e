//! A loaded voicebank: its sessions and the runs, as OpenUtau makes them
//! (`DiffSingerRenderer.cs` for the acoustic model and vocoder,
//! `DiffSingerBasePhonemizer.cs` for the duration predictor,
//! `DiffSingerPitch.cs` and `DiffSingerVariance.cs` for the others).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use coda_model_runtime::{open_session, Device, ModelSource, RuntimeOptions};
use ort::session::Session;
use ort::value::{DynValue, PrimitiveTensorElementType, Tensor, TensorElementType, ValueType};

use super::config::DsConfig;
use super::config::{read_embedding, PhonemeTable, Speaker};
use super::error::{Predictor, VoicebankError};
use super::phrase::{DsPhrase, DsVariance, PhraseError};
use super::timing::{
    fill_rest_midi, fit_durations, frames_of, hz_to_midi, midi_to_hz, pad_curve, resample_curve,
    retime_phrase, round_even, speedup_for, DURATION_LEAD_MS, HEAD_MS, TAIL_MS,
};
use super::voicebank::{read_layout, Layout, UnitLayout, VarianceCurves, VoicebankInfo};

/// OpenUtau's default acoustic steps (`Preferences.DiffSingerSteps`).
const DEFAULT_STEPS: u32 = 20;
/// OpenUtau's default pitch predictor steps (`DiffSingerStepsPitch`).
const DEFAULT_PITCH_STEPS: u32 = 10;
/// OpenUtau's default variance predictor steps (`DiffSingerStepsVariance`).
const DEFAULT_VARIANCE_STEPS: u32 = 20;
/// OpenUtau's default depth (`DiffSingerDepth`).
const DEFAULT_DEPTH: f32 = 1.0;

/// The rank an input or output must have.
#[derive(Debug, Clone, Copy)]
enum Rank {
    /// Exactly this many dimensions.
    Is(usize),
    /// A scalar or a one-element vector (`speedup`, `depth`, `steps`).
    Scalar,
}

/// One tensor a model must take or give.
#[derive(Debug, Clone)]
struct Spec {
    name: &'static str,
    ty: TensorElementType,
    rank: Rank,
    /// The last dimension, when the model fixes it.
    last: Option<i64>,
    /// Why it is expected, for the error.
    why: String,
}

fn spec(name: &'static str, ty: TensorElementType, rank: Rank, why: impl Into<String>) -> Spec {
    Spec {
        name,
        ty,
        rank,
        last: None,
        why: why.into(),
    }
}

const F32: TensorElementType = TensorElementType::Float32;
const I64: TensorElementType = TensorElementType::Int64;
const BOOL: TensorElementType = TensorElementType::Bool;

/// A tensor a model gave back.
#[derive(Debug, Clone)]
enum OutData {
    F32(Vec<f32>),
    Bool(Vec<bool>),
}

#[derive(Debug, Clone)]
struct Output {
    shape: Vec<i64>,
    data: OutData,
}

impl Output {
    fn floats(&self, file: &Path, name: &str) -> Result<&[f32], VoicebankError> {
        match &self.data {
            OutData::F32(v) => Ok(v),
            OutData::Bool(_) => Err(VoicebankError::run(
                file,
                format!("{name} is not a float tensor"),
            )),
        }
    }
}

/// One ONNX session and the signature it declared.
#[derive(Debug)]
struct Model {
    path: PathBuf,
    session: Mutex<Session>,
    inputs: Vec<(String, ValueType)>,
    outputs: Vec<(String, ValueType)>,
    device: Device,
    /// Nanoseconds spent inside `Session::run`, for the benchmark's "outside the models" figure.
    busy_ns: std::sync::atomic::AtomicU64,
}

fn describe(ty: &ValueType) -> Option<(TensorElementType, Vec<i64>)> {
    match ty {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.to_vec())),
        _ => None,
    }
}

impl Model {
    fn open(
        path: &Path,
        runtime: &Path,
        options: &RuntimeOptions,
    ) -> Result<Model, VoicebankError> {
        let (session, device) = open_session(runtime, ModelSource::File(path), options)?;
        let inputs = session
            .inputs()
            .iter()
            .map(|i| (i.name().to_string(), i.dtype().clone()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| (o.name().to_string(), o.dtype().clone()))
            .collect();
        Ok(Model {
            path: path.to_path_buf(),
            session: Mutex::new(session),
            inputs,
            outputs,
            device,
            busy_ns: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn check_one(
        &self,
        declared: &ValueType,
        want: &Spec,
        kind: &str,
    ) -> Result<(), VoicebankError> {
        let fail = |problem: String| Err(VoicebankError::signature(&self.path, want.name, problem));
        let Some((ty, shape)) = describe(declared) else {
            return fail(format!("the {kind} is {declared:?}, not a tensor"));
        };
        if ty != want.ty {
            return fail(format!(
                "the {kind} holds {ty:?}; OpenUtau's DiffSinger layout has {:?}",
                want.ty
            ));
        }
        let rank_ok = match want.rank {
            Rank::Is(r) => shape.len() == r,
            Rank::Scalar => shape.len() <= 1 && shape.iter().all(|&d| d < 0 || d == 1),
        };
        if !rank_ok {
            let expected = match want.rank {
                Rank::Is(r) => format!("{r} dimensions"),
                Rank::Scalar => "a scalar or one value".into(),
            };
            return fail(format!(
                "the {kind} has shape {shape:?}; expected {expected}"
            ));
        }
        if let (Some(last), Some(&got)) = (want.last, shape.last()) {
            if got >= 0 && got != last {
                return fail(format!(
                    "the {kind}'s last dimension is {got}, but the configuration says {last}"
                ));
            }
        }
        Ok(())
    }

    /// OpenUtau's `VerifyInputNames` (no input missing, none unexpected) plus types and ranks; each output must exist.
    fn check(
        &self,
        inputs: &[Spec],
        outputs: &[Spec],
        config: &Path,
    ) -> Result<(), VoicebankError> {
        for want in inputs {
            match self.inputs.iter().find(|(name, _)| name == want.name) {
                Some((_, declared)) => self.check_one(declared, want, "input")?,
                None => {
                    return Err(VoicebankError::signature(
                        &self.path,
                        want.name,
                        format!("the model has no such input, but {}", want.why),
                    ))
                }
            }
        }
        for (name, _) in &self.inputs {
            if !inputs.iter().any(|w| w.name == name) {
                let fed: Vec<&str> = inputs.iter().map(|w| w.name).collect();
                return Err(VoicebankError::signature(
                    &self.path,
                    name,
                    format!(
                        "the model takes this input, which {} does not enable (it enables {fed:?})",
                        config.display()
                    ),
                ));
            }
        }
        for want in outputs {
            match self.outputs.iter().find(|(name, _)| name == want.name) {
                Some((_, declared)) => self.check_one(declared, want, "output")?,
                None => {
                    let have: Vec<&str> = self.outputs.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(VoicebankError::signature(
                        &self.path,
                        want.name,
                        format!(
                            "the model has no such output (outputs: {have:?}); {}",
                            want.why
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The shape to feed a [`Rank::Scalar`] input with: as the model declares it.
    fn scalar_shape(&self, name: &str) -> Vec<i64> {
        match self
            .inputs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, t)| describe(t))
        {
            Some((_, shape)) if shape.is_empty() => Vec::new(),
            _ => vec![1],
        }
    }

    fn tensor<T: PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static>(
        &self,
        name: &str,
        shape: Vec<i64>,
        data: Vec<T>,
    ) -> Result<(String, DynValue), VoicebankError> {
        let value = Tensor::from_array((shape, data))
            .map_err(|e| VoicebankError::run(&self.path, format!("input {name}: {e}")))?;
        Ok((name.to_string(), value.into_dyn()))
    }

    /// Runs the session and copies out the wanted outputs.
    fn run(
        &self,
        inputs: Vec<(String, DynValue)>,
        wanted: &[&str],
    ) -> Result<Vec<Output>, VoicebankError> {
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let started = std::time::Instant::now();
        let outputs = session
            .run(inputs)
            .map_err(|e| VoicebankError::run(&self.path, format!("run: {e}")))?;
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy_ns
            .fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
        let mut out = Vec::with_capacity(wanted.len());
        for &name in wanted {
            let value = outputs.get(name).ok_or_else(|| {
                VoicebankError::run(&self.path, format!("no output named {name}"))
            })?;
            let declared = self
                .outputs
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, t)| describe(t))
                .map(|(t, _)| t);
            let extracted = if declared == Some(BOOL) {
                value
                    .try_extract_tensor::<bool>()
                    .map(|(s, d)| (s.to_vec(), OutData::Bool(d.to_vec())))
            } else {
                value
                    .try_extract_tensor::<f32>()
                    .map(|(s, d)| (s.to_vec(), OutData::F32(d.to_vec())))
            };
            let (shape, data) = extracted
                .map_err(|e| VoicebankError::run(&self.path, format!("output {name}: {e}")))?;
            out.push(Output { shape, data });
        }
        Ok(out)
    }

    /// The frame values of a `[1, frames]` output, which must have `frames` of them.
    fn curve(&self, out: &Output, name: &str, frames: usize) -> Result<Vec<f32>, VoicebankError> {
        let data = out.floats(&self.path, name)?;
        if out.shape.len() != 2 || data.len() != frames {
            return Err(VoicebankError::run(
                &self.path,
                format!("{name} has shape {:?}; expected [1, {frames}]", out.shape),
            ));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(VoicebankError::run(
                &self.path,
                format!("{name} holds non-finite values"),
            ));
        }
        Ok(data.to_vec())
    }
}

/// The sampling-acceleration inputs of a predictor (OpenUtau: `steps` with continuous acceleration, else `speedup`).
fn predictor_acceleration(config: &DsConfig, why: &str) -> Spec {
    if config.use_continuous_acceleration {
        spec(
            "steps",
            I64,
            Rank::Scalar,
            format!("{why} sets use_continuous_acceleration"),
        )
    } else {
        spec(
            "speedup",
            I64,
            Rank::Scalar,
            format!("{why} does not set use_continuous_acceleration"),
        )
    }
}

fn speaker_spec(config: &DsConfig, why: &str) -> Spec {
    Spec {
        last: Some(i64::from(config.hidden_size)),
        ..spec(
            "spk_embed",
            F32,
            Rank::Is(3),
            format!("{why} lists speakers"),
        )
    }
}

fn read_speakers(
    list: &[Speaker],
    hidden: u32,
) -> Result<Vec<(Speaker, Vec<f32>)>, VoicebankError> {
    list.iter()
        .map(|s| Ok((s.clone(), read_embedding(&s.path, hidden as usize)?)))
        .collect()
}

/// A predictor's sessions: its linguistic encoder and its model.
#[derive(Debug)]
struct Unit {
    layout: UnitLayout,
    linguistic: Model,
    model: Model,
    speakers: Vec<(Speaker, Vec<f32>)>,
}

impl Unit {
    fn open(
        layout: &UnitLayout,
        runtime: &Path,
        options: &RuntimeOptions,
    ) -> Result<Unit, VoicebankError> {
        let c = &layout.config;
        let cfg = layout.config_path.display().to_string();
        let linguistic = Model::open(&layout.linguistic, runtime, options)?;
        // The duration predictor's encoder always runs in word mode (OpenUtau's phonemizer).
        let word_mode = layout.kind == Predictor::Duration || c.predict_dur;
        let mut inputs = vec![spec(
            "tokens",
            I64,
            Rank::Is(2),
            "every linguistic encoder takes it",
        )];
        if word_mode {
            let why = if layout.kind == Predictor::Duration {
                "the duration predictor's encoder runs in word mode".to_string()
            } else {
                format!("{cfg} sets predict_dur (word mode)")
            };
            inputs.push(spec("word_div", I64, Rank::Is(2), why.clone()));
            inputs.push(spec("word_dur", I64, Rank::Is(2), why));
        } else {
            inputs.push(spec(
                "ph_dur",
                I64,
                Rank::Is(2),
                format!("{cfg} sets predict_dur: false (phoneme mode)"),
            ));
        }
        if c.use_lang_id {
            inputs.push(spec(
                "languages",
                I64,
                Rank::Is(2),
                format!("{cfg} sets use_lang_id"),
            ));
        }
        let mut outputs = vec![spec(
            "encoder_out",
            F32,
            Rank::Is(3),
            "the predictor takes it",
        )];
        if layout.kind != Predictor::Variance {
            outputs.push(spec("x_masks", BOOL, Rank::Is(2), "OpenUtau reads it"));
        }
        linguistic.check(&inputs, &outputs, &layout.config_path)?;

        let model = Model::open(&layout.model, runtime, options)?;
        let encoder = spec(
            "encoder_out",
            F32,
            Rank::Is(3),
            "the linguistic encoder's output feeds it",
        );
        let (inputs, outputs) = match layout.kind {
            Predictor::Duration => {
                let mut inputs = vec![
                    encoder,
                    spec(
                        "x_masks",
                        BOOL,
                        Rank::Is(2),
                        "the duration predictor takes it",
                    ),
                    spec(
                        "ph_midi",
                        I64,
                        Rank::Is(2),
                        "the duration predictor takes it",
                    ),
                ];
                if c.speakers.is_some() {
                    inputs.push(speaker_spec(c, &cfg));
                }
                (
                    inputs,
                    vec![spec(
                        "ph_dur_pred",
                        F32,
                        Rank::Is(2),
                        "it is the prediction",
                    )],
                )
            }
            Predictor::Pitch => {
                let mut inputs = vec![
                    encoder,
                    spec(
                        "note_midi",
                        F32,
                        Rank::Is(2),
                        "the pitch predictor takes it",
                    ),
                    spec("note_dur", I64, Rank::Is(2), "the pitch predictor takes it"),
                    spec("ph_dur", I64, Rank::Is(2), "the pitch predictor takes it"),
                    spec("pitch", F32, Rank::Is(2), "the pitch predictor takes it"),
                    spec("retake", BOOL, Rank::Is(2), "the pitch predictor takes it"),
                    predictor_acceleration(c, &cfg),
                ];
                if c.use_expr {
                    inputs.push(spec(
                        "expr",
                        F32,
                        Rank::Is(2),
                        format!("{cfg} sets use_expr"),
                    ));
                }
                if c.use_note_rest {
                    inputs.push(spec(
                        "note_rest",
                        BOOL,
                        Rank::Is(2),
                        format!("{cfg} sets use_note_rest"),
                    ));
                }
                if c.speakers.is_some() {
                    inputs.push(speaker_spec(c, &cfg));
                }
                (
                    inputs,
                    vec![spec("pitch_pred", F32, Rank::Is(2), "it is the prediction")],
                )
            }
            Predictor::Variance => {
                let mut inputs = vec![
                    encoder,
                    spec(
                        "ph_dur",
                        I64,
                        Rank::Is(2),
                        "the variance predictor takes it",
                    ),
                    spec("pitch", F32, Rank::Is(2), "the variance predictor takes it"),
                    spec(
                        "retake",
                        BOOL,
                        Rank::Is(3),
                        "the variance predictor takes it",
                    ),
                    predictor_acceleration(c, &cfg),
                ];
                let mut outputs = Vec::new();
                for (name, pred) in variance_names() {
                    if VarianceCurves::from_config(c).names().contains(&name) {
                        inputs.push(spec(
                            name,
                            F32,
                            Rank::Is(2),
                            format!("{cfg} sets predict_{name}"),
                        ));
                        outputs.push(spec(
                            pred,
                            F32,
                            Rank::Is(2),
                            format!("{cfg} sets predict_{name}"),
                        ));
                    }
                }
                if c.speakers.is_some() {
                    inputs.push(speaker_spec(c, &cfg));
                }
                (inputs, outputs)
            }
        };
        model.check(&inputs, &outputs, &layout.config_path)?;
        Ok(Unit {
            speakers: read_speakers(&layout.speakers, c.hidden_size)?,
            layout: layout.clone(),
            linguistic,
            model,
        })
    }

    fn frame_ms(&self) -> f64 {
        self.layout.config.frame_ms()
    }

    fn table(&self) -> &PhonemeTable {
        &self.layout.phonemes
    }
}

fn variance_names() -> [(&'static str, &'static str); 4] {
    [
        ("energy", "energy_pred"),
        ("breathiness", "breathiness_pred"),
        ("voicing", "voicing_pred"),
        ("tension", "tension_pred"),
    ]
}

/// The speaker's embedding: the named one, else the first. An unknown name is an error when `strict`,
/// else the first speaker is used (OpenUtau's `getSpeakerIndexBySuffix`).
fn pick_speaker<'a>(
    speakers: &'a [(Speaker, Vec<f32>)],
    wanted: Option<&str>,
    strict: bool,
) -> Result<Option<&'a [f32]>, VoicebankError> {
    let Some(first) = speakers.first() else {
        return Ok(None);
    };
    let Some(wanted) = wanted else {
        return Ok(Some(&first.1));
    };
    match speakers.iter().find(|(s, _)| s.is(wanted)) {
        Some((_, emb)) => Ok(Some(emb)),
        None if strict => Err(VoicebankError::UnknownSpeaker {
            speaker: wanted.to_string(),
            known: speakers.iter().map(|(s, _)| s.name.clone()).collect(),
        }),
        None => Ok(Some(&first.1)),
    }
}

fn repeat(embedding: &[f32], count: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(embedding.len() * count);
    for _ in 0..count {
        out.extend_from_slice(embedding);
    }
    out
}

/// Tokens and language ids of `phonemes` in `table`, with `SP` before (and after, when `tail`).
fn tokenize(
    table: &PhonemeTable,
    phonemes: &[String],
    tail: bool,
) -> Result<(Vec<i64>, Vec<i64>), VoicebankError> {
    let (sp, _) = table.token("SP")?;
    let mut tokens = vec![sp];
    let mut langs = vec![0];
    for p in phonemes {
        let (t, l) = table.token(p)?;
        tokens.push(t);
        langs.push(l);
    }
    if tail {
        tokens.push(sp);
        langs.push(0);
    }
    Ok((tokens, langs))
}

/// A phrase at a model's frame rate, padded as OpenUtau pads it.
struct Padded {
    phrase: DsPhrase,
    head: usize,
    tail: usize,
    /// `[head] + ph_dur + [tail]`.
    ph_dur: Vec<i64>,
    total: usize,
}

impl Padded {
    fn new(phrase: &DsPhrase, phrase_ms: f64, model_ms: f64) -> Padded {
        let phrase = if (phrase_ms - model_ms).abs() > 1e-9 {
            retime_phrase(phrase, phrase_ms, model_ms)
        } else {
            phrase.clone()
        };
        let head = frames_of(HEAD_MS, model_ms);
        let tail = frames_of(TAIL_MS, model_ms);
        let mut ph_dur = vec![head as i64];
        ph_dur.extend(phrase.ph_dur.iter().map(|&d| i64::from(d)));
        ph_dur.push(tail as i64);
        let total = ph_dur.iter().sum::<i64>() as usize;
        Padded {
            phrase,
            head,
            tail,
            ph_dur,
            total,
        }
    }

    fn frames(&self) -> usize {
        self.total - self.head - self.tail
    }

    /// `word_div`, `word_dur` with the head `SP` in the first word and the tail `SP` in the last (DsPitch, DsVariance).
    fn words(&self) -> (Vec<i64>, Vec<i64>) {
        let mut div: Vec<i64> = self.phrase.word_div.iter().map(|&d| i64::from(d)).collect();
        let mut dur: Vec<i64> = self.phrase.word_dur.iter().map(|&d| i64::from(d)).collect();
        div[0] += 1;
        dur[0] += self.head as i64;
        if let (Some(d), Some(f)) = (div.last_mut(), dur.last_mut()) {
            *d += 1;
            *f += self.tail as i64;
        }
        (div, dur)
    }
}

/// A DiffSinger voicebank with its sessions open: acoustic model, vocoder and the predictors present.
///
/// Sessions sit behind mutexes (`Session::run` needs `&mut`): calls on one
/// voicebank from several threads run one model at a time each.
#[derive(Debug)]
pub struct Voicebank {
    layout: Layout,
    acoustic: Model,
    vocoder: Model,
    speakers: Vec<(Speaker, Vec<f32>)>,
    duration: Option<Unit>,
    pitch: Option<Unit>,
    variance: Option<Unit>,
}

impl Voicebank {
    /// Inspects `dir` (see [`super::inspect`]), opens every model with ONNX Runtime from
    /// `runtime_library` (CUDA when `options.cuda` asks and it registers, else the CPU), and checks
    /// that each model's inputs and outputs are the ones its configuration enables.
    pub fn load(
        dir: &Path,
        runtime_library: &Path,
        options: &RuntimeOptions,
    ) -> Result<Voicebank, VoicebankError> {
        let layout = read_layout(dir)?;
        let c = &layout.config;
        let cfg = layout.config_path.display().to_string();
        let acoustic = Model::open(&layout.acoustic, runtime_library, options)?;
        let every = "every DiffSinger acoustic model takes it";
        let mut inputs = vec![
            spec("tokens", I64, Rank::Is(2), every),
            spec("durations", I64, Rank::Is(2), every),
            spec("f0", F32, Rank::Is(2), every),
        ];
        match (c.use_continuous_acceleration, c.variable_depth()) {
            (true, depth) => {
                inputs.push(spec(
                    "steps",
                    I64,
                    Rank::Scalar,
                    format!("{cfg} sets use_continuous_acceleration"),
                ));
                if depth {
                    inputs.push(spec(
                        "depth",
                        F32,
                        Rank::Scalar,
                        format!("{cfg} sets use_variable_depth with continuous acceleration"),
                    ));
                }
            }
            (false, depth) => {
                inputs.push(spec(
                    "speedup",
                    I64,
                    Rank::Scalar,
                    format!("{cfg} does not set use_continuous_acceleration"),
                ));
                if depth {
                    inputs.push(spec(
                        "depth",
                        I64,
                        Rank::Scalar,
                        format!("{cfg} sets use_variable_depth"),
                    ));
                }
            }
        }
        if c.use_lang_id {
            inputs.push(spec(
                "languages",
                I64,
                Rank::Is(2),
                format!("{cfg} sets use_lang_id"),
            ));
        }
        if c.speakers.is_some() {
            inputs.push(speaker_spec(c, &cfg));
        }
        if c.use_key_shift_embed {
            inputs.push(spec(
                "gender",
                F32,
                Rank::Is(2),
                format!("{cfg} sets use_key_shift_embed"),
            ));
        }
        if c.use_speed_embed {
            inputs.push(spec(
                "velocity",
                F32,
                Rank::Is(2),
                format!("{cfg} sets use_speed_embed"),
            ));
        }
        for (on, name) in acoustic_curves(c) {
            if on {
                inputs.push(spec(
                    name,
                    F32,
                    Rank::Is(2),
                    format!("{cfg} sets use_{name}_embed"),
                ));
            }
        }
        let mel = Spec {
            last: Some(i64::from(c.num_mel_bins)),
            ..spec("mel", F32, Rank::Is(3), "it is the acoustic model's output")
        };
        acoustic.check(&inputs, std::slice::from_ref(&mel), &layout.config_path)?;

        let vocoder = Model::open(&layout.vocoder.model, runtime_library, options)?;
        let voc = "every DiffSinger vocoder takes it";
        let voc_inputs = [
            Spec {
                last: Some(i64::from(layout.vocoder.config.num_mel_bins)),
                ..spec("mel", F32, Rank::Is(3), voc)
            },
            spec("f0", F32, Rank::Is(2), voc),
        ];
        let waveform = spec("waveform", F32, Rank::Is(2), "it is the vocoder's output");
        vocoder.check(&voc_inputs, &[waveform], &layout.vocoder.config_path)?;

        let open = |unit: &Option<UnitLayout>| -> Result<Option<Unit>, VoicebankError> {
            unit.as_ref()
                .map(|u| Unit::open(u, runtime_library, options))
                .transpose()
        };
        let duration = open(&layout.duration)?;
        let pitch = open(&layout.pitch)?;
        let variance = open(&layout.variance)?;
        let speakers = read_speakers(&layout.speakers, c.hidden_size)?;
        Ok(Voicebank {
            layout,
            acoustic,
            vocoder,
            speakers,
            duration,
            pitch,
            variance,
        })
    }

    /// Seconds spent inside ONNX Runtime's `run` by every model of this voicebank so far.
    pub fn model_seconds(&self) -> f64 {
        let ns = |m: &Model| m.busy_ns.load(std::sync::atomic::Ordering::Relaxed);
        let mut total = ns(&self.acoustic) + ns(&self.vocoder);
        for unit in [&self.duration, &self.pitch, &self.variance]
            .into_iter()
            .flatten()
        {
            total += ns(&unit.linguistic) + ns(&unit.model);
        }
        total as f64 / 1e9
    }

    /// What [`super::inspect`] read.
    pub fn info(&self) -> &VoicebankInfo {
        &self.layout.info
    }

    /// The execution provider the acoustic model runs on.
    pub fn device(&self) -> Device {
        self.acoustic.device
    }

    /// Frames per second: `sample_rate / hop_size`.
    pub fn frame_rate(&self) -> f64 {
        f64::from(self.layout.config.sample_rate) / f64::from(self.layout.config.hop_size)
    }

    /// Audio sample rate of [`Voicebank::synthesize`]'s output, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.layout.config.sample_rate
    }

    /// Samples per frame.
    pub fn hop_size(&self) -> u32 {
        self.layout.config.hop_size
    }

    fn frame_ms(&self) -> f64 {
        self.layout.config.frame_ms()
    }

    /// The acoustic model's token id of `symbol`: the symbol itself, else, for a model with language
    /// ids, `LANG/symbol` with the default language (`en` when present, else the lowest id).
    pub fn phoneme_id(&self, symbol: &str) -> Option<i64> {
        self.phoneme_id_in(symbol, None)
    }

    /// As [`Voicebank::phoneme_id`], preferring `language`'s prefixed symbol (`language/symbol`) when given.
    pub fn phoneme_id_in(&self, symbol: &str, language: Option<&str>) -> Option<i64> {
        let table = &self.layout.phonemes;
        table.resolve(symbol, language).map(|s| table.ids[s])
    }

    /// The symbol as the acoustic model's phoneme list holds it (language prefix added when needed).
    pub fn resolve_phoneme(&self, symbol: &str, language: Option<&str>) -> Option<&str> {
        self.layout.phonemes.resolve(symbol, language)
    }

    /// The dictionary a phonemizer reads: `dsdict-en.yaml` before `dsdict.yaml` (OpenUtau's order),
    /// in the duration predictor's folder, then the voicebank's.
    pub fn dictionary_path(&self) -> Option<&Path> {
        self.layout.info.dictionary.as_deref()
    }

    fn unit(&self, kind: Predictor) -> Result<&Unit, VoicebankError> {
        match kind {
            Predictor::Duration => self.duration.as_ref(),
            Predictor::Pitch => self.pitch.as_ref(),
            Predictor::Variance => self.variance.as_ref(),
        }
        .ok_or(VoicebankError::NoPredictor(kind))
    }

    /// Runs a unit's linguistic encoder: `encoder_out` (and `x_masks` when `masks`).
    fn encode(
        &self,
        unit: &Unit,
        tokens: Vec<i64>,
        langs: Vec<i64>,
        mode: Encoding,
        masks: bool,
    ) -> Result<Vec<Output>, VoicebankError> {
        let m = &unit.linguistic;
        let n = tokens.len() as i64;
        let mut inputs = vec![m.tensor("tokens", vec![1, n], tokens)?];
        match mode {
            Encoding::Words(div, dur) => {
                inputs.push(m.tensor("word_div", vec![1, div.len() as i64], div)?);
                inputs.push(m.tensor("word_dur", vec![1, dur.len() as i64], dur)?);
            }
            Encoding::Phonemes(ph_dur) => {
                inputs.push(m.tensor("ph_dur", vec![1, ph_dur.len() as i64], ph_dur)?);
            }
        }
        if unit.layout.config.use_lang_id {
            inputs.push(m.tensor("languages", vec![1, n], langs)?);
        }
        let wanted: &[&str] = if masks {
            &["encoder_out", "x_masks"]
        } else {
            &["encoder_out"]
        };
        let out = m.run(inputs, wanted)?;
        let enc = &out[0];
        if enc.shape.len() != 3 || enc.shape[1] != n {
            return Err(VoicebankError::run(
                &m.path,
                format!(
                    "encoder_out has shape {:?}; expected [1, {n}, hidden]",
                    enc.shape
                ),
            ));
        }
        if masks && (out[1].shape.len() != 2 || out[1].shape[1] != n) {
            return Err(VoicebankError::run(
                &m.path,
                format!("x_masks has shape {:?}; expected [1, {n}]", out[1].shape),
            ));
        }
        Ok(out)
    }

    fn encoder_input(
        model: &Model,
        out: &Output,
        name: &str,
    ) -> Result<(String, DynValue), VoicebankError> {
        match &out.data {
            OutData::F32(v) => model.tensor(name, out.shape.clone(), v.clone()),
            OutData::Bool(v) => model.tensor(name, out.shape.clone(), v.clone()),
        }
    }

    fn acceleration_input(
        model: &Model,
        config: &DsConfig,
        steps: u32,
    ) -> Result<(String, DynValue), VoicebankError> {
        if config.use_continuous_acceleration {
            model.tensor("steps", model.scalar_shape("steps"), vec![i64::from(steps)])
        } else {
            model.tensor(
                "speedup",
                model.scalar_shape("speedup"),
                vec![speedup_for(steps)],
            )
        }
    }

    /// Predicts each phoneme's frames with the duration predictor (`dsdur`), as OpenUtau's DiffSinger phonemizers do.
    ///
    /// The encoder sees `SP` and the phrase's phonemes in word mode (the lead-in word holds the `SP`,
    /// given 500 ms as OpenUtau gives it, or the lead-in's frames when longer); the predictor gets each
    /// phoneme's note pitch (`ph_midi`; rests take their neighbours' pitch, the lead-in the first
    /// onset's). The predictions are then fitted into the words: each word's phonemes fill its
    /// `word_dur` in proportion to their predicted lengths, except that a lead-in starting with `SP` or
    /// `AP` keeps its consonants' predicted lengths, ending at the first onset, when they fit (see
    /// [`DsPhrase`]). The result sums to the phrase's frames, every phoneme keeping at least one.
    pub fn predict_durations(&self, phrase: &DsPhrase) -> Result<Vec<u32>, VoicebankError> {
        phrase.check()?;
        let unit = self.unit(Predictor::Duration)?;
        let unit_ms = unit.frame_ms();
        let padded = Padded::new(phrase, self.frame_ms(), unit_ms);
        let p = &padded.phrase;
        let n = p.phonemes.len();
        let (tokens, langs) = tokenize(unit.table(), &p.phonemes, false)?;
        let lead = frames_of(DURATION_LEAD_MS, unit_ms) as i64;
        let mut div: Vec<i64> = p.word_div.iter().map(|&d| i64::from(d)).collect();
        let mut dur: Vec<i64> = p.word_dur.iter().map(|&d| i64::from(d)).collect();
        div[0] += 1;
        dur[0] = lead.max(dur[0] + 1);
        let enc = self.encode(unit, tokens, langs, Encoding::Words(div, dur), true)?;

        let mut midi: Vec<f32> = p.notes.iter().map(|n| n.midi).collect();
        let rest: Vec<bool> = p.notes.iter().map(|n| n.rest).collect();
        fill_rest_midi(&mut midi, &rest);
        let first_onset = match p.word_div.as_slice() {
            [lead_in, _, ..] if (*lead_in as usize) < n => *lead_in as usize,
            _ => 0,
        };
        let onset_midi = midi[p.ph_note[first_onset]];
        let mut ph_midi = vec![round_even(f64::from(onset_midi))];
        for (i, &note) in p.ph_note.iter().enumerate() {
            let m = if i < first_onset {
                onset_midi
            } else {
                midi[note]
            };
            ph_midi.push(round_even(f64::from(m)));
        }

        let m = &unit.model;
        let count = n as i64 + 1;
        let mut inputs = vec![
            Self::encoder_input(m, &enc[0], "encoder_out")?,
            Self::encoder_input(m, &enc[1], "x_masks")?,
            m.tensor("ph_midi", vec![1, count], ph_midi)?,
        ];
        if let Some(emb) = pick_speaker(&unit.speakers, p.expression.speaker.as_deref(), false)? {
            let h = emb.len() as i64;
            inputs.push(m.tensor("spk_embed", vec![1, count, h], repeat(emb, n + 1))?);
        }
        let out = m.run(inputs, &["ph_dur_pred"])?;
        let pred = m.curve(&out[0], "ph_dur_pred", n + 1)?;
        // In the phrase's frames.
        let scale = unit_ms / self.frame_ms();
        let predicted: Vec<f64> = pred[1..].iter().map(|&x| f64::from(x) * scale).collect();
        Ok(fit_durations(&predicted, phrase))
    }

    /// Runs the pitch or variance unit's encoder on the padded phrase (word mode when its config predicts durations).
    fn encode_padded(&self, unit: &Unit, padded: &Padded) -> Result<Output, VoicebankError> {
        let (tokens, langs) = tokenize(unit.table(), &padded.phrase.phonemes, true)?;
        let mode = if unit.layout.config.predict_dur {
            let (div, dur) = padded.words();
            Encoding::Words(div, dur)
        } else {
            Encoding::Phonemes(padded.ph_dur.clone())
        };
        let mut out = self.encode(unit, tokens, langs, mode, false)?;
        Ok(out.remove(0))
    }

    /// Predicts f0 (Hz per frame of the phrase) with the pitch predictor (`dspitch`), as OpenUtau's `DsPitch`.
    ///
    /// `note_midi` has the head padding as a first rest note, rests take their neighbours' pitch;
    /// `note_dur` gives the head padding to that first note and the tail padding to the last;
    /// `pitch` is 60 everywhere with `retake` all true, so the whole curve is predicted. `f0` of the
    /// phrase is not used (it may be empty).
    pub fn predict_pitch(&self, phrase: &DsPhrase) -> Result<Vec<f32>, VoicebankError> {
        phrase.check()?;
        let unit = self.unit(Predictor::Pitch)?;
        let padded = Padded::new(phrase, self.frame_ms(), unit.frame_ms());
        let p = &padded.phrase;
        let enc = self.encode_padded(unit, &padded)?;
        let c = &unit.layout.config;
        let total = padded.total;

        let mut note_rest = vec![true];
        note_rest.extend(p.notes.iter().map(|n| n.rest));
        let mut note_midi = vec![p.notes[0].midi];
        note_midi.extend(p.notes.iter().map(|n| n.midi));
        fill_rest_midi(&mut note_midi, &note_rest);
        let mut note_dur = vec![padded.head as i64];
        note_dur.extend(p.notes.iter().map(|n| i64::from(n.frames)));
        if let Some(last) = note_dur.last_mut() {
            *last += padded.tail as i64;
        }
        let notes = note_midi.len() as i64;
        let t = total as i64;

        let m = &unit.model;
        let mut inputs = vec![
            Self::encoder_input(m, &enc, "encoder_out")?,
            m.tensor("note_midi", vec![1, notes], note_midi)?,
            m.tensor("note_dur", vec![1, notes], note_dur)?,
            m.tensor(
                "ph_dur",
                vec![1, padded.ph_dur.len() as i64],
                padded.ph_dur.clone(),
            )?,
            m.tensor("pitch", vec![1, t], vec![60f32; total])?,
            m.tensor("retake", vec![1, t], vec![true; total])?,
            Self::acceleration_input(
                m,
                c,
                p.expression.pitch_steps.unwrap_or(DEFAULT_PITCH_STEPS),
            )?,
        ];
        if c.use_expr {
            inputs.push(m.tensor("expr", vec![1, t], vec![p.expression.expressiveness; total])?);
        }
        if c.use_note_rest {
            inputs.push(m.tensor("note_rest", vec![1, notes], note_rest)?);
        }
        if let Some(emb) = pick_speaker(&unit.speakers, p.expression.speaker.as_deref(), false)? {
            let h = emb.len() as i64;
            inputs.push(m.tensor("spk_embed", vec![1, t, h], repeat(emb, total))?);
        }
        let out = m.run(inputs, &["pitch_pred"])?;
        let pred = m.curve(&out[0], "pitch_pred", total)?;
        let trimmed = &pred[padded.head..padded.head + padded.frames()];
        Ok(resample_curve(trimmed, phrase.frames())
            .into_iter()
            .map(midi_to_hz)
            .collect())
    }

    /// The variance predictor's curves over the padded phrase, in its frames, as the acoustic model takes them.
    fn variance_padded(&self, phrase: &DsPhrase) -> Result<(Padded, Curves), VoicebankError> {
        let unit = self.unit(Predictor::Variance)?;
        if phrase.f0.is_empty() {
            return Err(PhraseError::Setting {
                field: "f0",
                message:
                    "is empty; the variance predictor needs the pitch (predict_pitch makes one)"
                        .into(),
            }
            .into());
        }
        let padded = Padded::new(phrase, self.frame_ms(), unit.frame_ms());
        let p = &padded.phrase;
        let enc = self.encode_padded(unit, &padded)?;
        let c = &unit.layout.config;
        let total = padded.total;
        let t = total as i64;
        let midi: Vec<f32> = p.f0.iter().map(|&f| hz_to_midi(f)).collect();
        let pitch = pad_curve(&midi, padded.head, padded.tail);
        let names = VarianceCurves::from_config(c).names();

        let m = &unit.model;
        let mut inputs = vec![
            Self::encoder_input(m, &enc, "encoder_out")?,
            m.tensor(
                "ph_dur",
                vec![1, padded.ph_dur.len() as i64],
                padded.ph_dur.clone(),
            )?,
            m.tensor("pitch", vec![1, t], pitch)?,
        ];
        for name in &names {
            inputs.push(m.tensor(name, vec![1, t], vec![0f32; total])?);
        }
        inputs.push(m.tensor(
            "retake",
            vec![1, t, names.len() as i64],
            vec![true; total * names.len()],
        )?);
        inputs.push(Self::acceleration_input(
            m,
            c,
            p.expression
                .variance_steps
                .unwrap_or(DEFAULT_VARIANCE_STEPS),
        )?);
        if let Some(emb) = pick_speaker(&unit.speakers, p.expression.speaker.as_deref(), false)? {
            let h = emb.len() as i64;
            inputs.push(m.tensor("spk_embed", vec![1, t, h], repeat(emb, total))?);
        }
        let wanted: Vec<&str> = variance_names()
            .into_iter()
            .filter(|(n, _)| names.contains(n))
            .map(|(_, pred)| pred)
            .collect();
        let out = m.run(inputs, &wanted)?;
        let mut curves = Vec::with_capacity(names.len());
        for ((name, output), pred) in names.iter().zip(&out).zip(&wanted) {
            let mut curve = m.curve(output, pred, total)?;
            // The renderer feeds min(prediction + user offset, 0) for these three; tension as is.
            if *name != "tension" {
                for v in curve.iter_mut() {
                    *v = v.min(0.0);
                }
            }
            curves.push((*name, curve));
        }
        Ok((padded, curves))
    }

    /// Predicts the variance curves the variance predictor (`dsvariance`) makes, per frame of the phrase, as OpenUtau's `DsVariance`.
    ///
    /// The predictor sees the phrase's f0 as MIDI (`pitch`, padded with its first and last values), zero
    /// curves with `retake` all true. The curves are returned as the acoustic model takes them: energy,
    /// breathiness and voicing capped at 0 as OpenUtau's renderer caps them, tension as predicted.
    pub fn predict_variance(&self, phrase: &DsPhrase) -> Result<DsVariance, VoicebankError> {
        phrase.check()?;
        let (padded, curves) = self.variance_padded(phrase)?;
        let mut out = DsVariance::default();
        for (name, curve) in curves {
            let trimmed = &curve[padded.head..padded.head + padded.frames()];
            out.set(name, resample_curve(trimmed, phrase.frames()));
        }
        Ok(out)
    }

    /// Sings the phrase: the acoustic model, the mel_base conversion when the vocoder's differs, then
    /// the vocoder. Returns exactly `frames × hop_size` samples at [`Voicebank::sample_rate`]: the head and
    /// tail padding are trimmed.
    ///
    /// The acoustic model gets `SP` + phonemes + `SP` (`tokens`, `durations` with 100 ms of padding each
    /// side), f0 padded with its first and last values, the acceleration inputs (`speedup` from the
    /// steps, or `depth` and `steps`, OpenUtau's rules and defaults: 20 steps, depth 1 capped at
    /// `max_depth`), `languages`, `spk_embed` (the speaker's embedding on every frame), `gender` and
    /// `velocity` as constant curves, and the variance curves it takes: the phrase's, padded with their
    /// end values, or, when the phrase lacks one, the variance predictor's over the padded phrase.
    pub fn synthesize(&self, phrase: &DsPhrase) -> Result<Vec<f32>, VoicebankError> {
        phrase.check()?;
        if phrase.f0.is_empty() {
            return Err(PhraseError::Setting {
                field: "f0",
                message: "is empty; the acoustic model needs the pitch (predict_pitch makes one)"
                    .into(),
            }
            .into());
        }
        let c = &self.layout.config;
        let padded = Padded::new(phrase, self.frame_ms(), self.frame_ms());
        let (head, tail, total) = (padded.head, padded.tail, padded.total);
        let t = total as i64;
        let (tokens, langs) = tokenize(&self.layout.phonemes, &phrase.phonemes, true)?;
        let n = tokens.len() as i64;
        let f0 = pad_curve(&phrase.f0, head, tail);
        let e = &phrase.expression;
        let steps = e.steps.unwrap_or(DEFAULT_STEPS);

        let m = &self.acoustic;
        let mut inputs = vec![
            m.tensor("tokens", vec![1, n], tokens)?,
            m.tensor("durations", vec![1, n], padded.ph_dur.clone())?,
            m.tensor("f0", vec![1, t], f0.clone())?,
        ];
        let depth = if c.variable_depth() {
            let max = c.max_depth().unwrap_or(0.0);
            f64::from(e.depth.unwrap_or(DEFAULT_DEPTH)).min(max)
        } else {
            1.0
        };
        if c.use_continuous_acceleration {
            if c.variable_depth() {
                inputs.push(m.tensor("depth", m.scalar_shape("depth"), vec![depth as f32])?);
            }
            inputs.push(m.tensor("steps", m.scalar_shape("steps"), vec![i64::from(steps)])?);
        } else {
            let speedup = if c.variable_depth() {
                let thousandths = round_even(depth * 1000.0);
                let speedup = (thousandths / i64::from(steps)).max(1);
                let depth = thousandths / speedup * speedup;
                inputs.push(m.tensor("depth", m.scalar_shape("depth"), vec![depth])?);
                speedup
            } else {
                speedup_for(steps)
            };
            inputs.push(m.tensor("speedup", m.scalar_shape("speedup"), vec![speedup])?);
        }
        if c.use_lang_id {
            inputs.push(m.tensor("languages", vec![1, n], langs)?);
        }
        if let Some(emb) = pick_speaker(&self.speakers, e.speaker.as_deref(), true)? {
            let h = emb.len() as i64;
            inputs.push(m.tensor("spk_embed", vec![1, t, h], repeat(emb, total))?);
        }
        if c.use_key_shift_embed {
            inputs.push(m.tensor("gender", vec![1, t], vec![e.gender; total])?);
        }
        if c.use_speed_embed {
            inputs.push(m.tensor("velocity", vec![1, t], vec![e.velocity; total])?);
        }

        let wanted: Vec<&'static str> = acoustic_curves(c)
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        let missing: Vec<&'static str> = wanted
            .iter()
            .copied()
            .filter(|name| phrase.variance.get(name).is_none())
            .collect();
        let mut predicted = Vec::new();
        if !missing.is_empty() {
            let predicts = self
                .variance
                .as_ref()
                .map(|u| VarianceCurves::from_config(&u.layout.config).names())
                .unwrap_or_default();
            if let Some(curve) = missing.iter().find(|name| !predicts.contains(name)) {
                return Err(VoicebankError::MissingCurve { curve });
            }
            predicted = self.variance_padded(phrase)?.1;
        }
        for name in wanted {
            let curve = match phrase.variance.get(name) {
                Some(curve) => pad_curve(curve, head, tail),
                None => predicted
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, curve)| resample_curve(curve, total))
                    .ok_or(VoicebankError::MissingCurve { curve: name })?,
            };
            inputs.push(m.tensor(name, vec![1, t], curve)?);
        }

        let out = m.run(inputs, &["mel"])?;
        let bins = c.num_mel_bins as usize;
        let mel_shape = out[0].shape.clone();
        if mel_shape.len() != 3 || mel_shape[1] != t || mel_shape[2] != bins as i64 {
            return Err(VoicebankError::run(
                &m.path,
                format!("mel has shape {mel_shape:?}; expected [1, {total}, {bins}]"),
            ));
        }
        let mut mel = out[0].floats(&m.path, "mel")?.to_vec();
        if let Some(conversion) = &self.layout.info.mel_base_conversion {
            for v in mel.iter_mut() {
                *v *= conversion.factor;
            }
        }

        let v = &self.vocoder;
        let inputs = vec![
            v.tensor("mel", mel_shape, mel)?,
            v.tensor("f0", vec![1, t], f0)?,
        ];
        let out = v.run(inputs, &["waveform"])?;
        let samples = out[0].floats(&v.path, "waveform")?;
        let hop = c.hop_size as usize;
        let start = head * hop;
        let end = start + phrase.frames() * hop;
        if out[0].shape.len() != 2 || samples.len() < end {
            return Err(VoicebankError::run(
                &v.path,
                format!(
                    "waveform has shape {:?}; expected [1, {}] ({total} frames of {hop} samples)",
                    out[0].shape,
                    total * hop
                ),
            ));
        }
        Ok(samples[start..end].to_vec())
    }
}

/// Named per-frame curves.
type Curves = Vec<(&'static str, Vec<f32>)>;

/// How a linguistic encoder is fed.
enum Encoding {
    /// Word mode: `word_div`, `word_dur`.
    Words(Vec<i64>, Vec<i64>),
    /// Phoneme mode: `ph_dur`.
    Phonemes(Vec<i64>),
}

/// The variance curves the acoustic model may take, with their switches.
fn acoustic_curves(c: &DsConfig) -> [(bool, &'static str); 4] {
    [
        (c.use_energy_embed, "energy"),
        (c.use_breathiness_embed, "breathiness"),
        (c.use_voicing_embed, "voicing"),
        (c.use_tension_embed, "tension"),
    ]
}
