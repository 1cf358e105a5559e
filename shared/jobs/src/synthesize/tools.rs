//! S0's singing tools, each a function from a typed request to a typed response with a JSON
//! Schema, and [`call_tool`], which runs one by name on JSON (what the chat router and the
//! MCP server will call). The CPU tools come from `coda_vocal::tools`; these add the ones that
//! need a voice: the predictors, the renderers, `save_audio` and the voicebank listings.

use base64::Engine as _;
use coda_core::params::invalid_param;
use coda_core::{CodaError, Result};
use coda_music::Score;
use coda_singing::diffsinger::{DsExpression, DsVariance};
use coda_singing::formant::{BuiltinVoice, Performance, RenderError};
use coda_singing::sing::{phrase_of, run_voicebank, Curves, Predict, VoiceError, VoicebankRun};
use coda_vocal::align::{Alignment, HOP, SAMPLE_RATE};
use coda_vocal::curves::{dynamics_curves, f0_curve, Dynamics};
use coda_vocal::phonemize::{phonemize, Lexicon, PhonemizeRequest};
use coda_vocal::tools::{
    align_phonemes_to_notes, modify_score, parse_score, AlignRequest, ModifyScoreRequest,
    ParseScoreRequest, ToolError,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::run::{list_voices, SharedSinging, VoiceList, VoiceListing, BUILTIN_VOICE};
use super::{SynthesizeParams, VibratoParams};

fn builtin() -> String {
    BUILTIN_VOICE.into()
}

/// Mono samples in JSON: 32-bit float little-endian, base64.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Waveform {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples, f32 little-endian, base64 (standard alphabet).
    pub samples_base64: String,
    /// Length in seconds.
    pub seconds: f64,
}

impl Waveform {
    /// Packs `samples`.
    pub fn from_samples(samples: &[f32], sample_rate: u32) -> Waveform {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        Waveform {
            sample_rate,
            samples_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            seconds: samples.len() as f64 / f64::from(sample_rate.max(1)),
        }
    }

    /// Unpacks the samples.
    pub fn samples(&self) -> Result<Vec<f32>> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.samples_base64.as_bytes())
            .map_err(|e| invalid_param("waveform.samples_base64", format!("not base64: {e}")))?;
        if bytes.len() % 4 != 0 {
            return Err(invalid_param(
                "waveform.samples_base64",
                "not whole 32-bit samples",
            ));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// Expression values shared by several tools (each optional, with `synthesize`'s defaults).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpressionArgs {
    /// −1 (legato) to 1 (detached).
    #[schemars(range(min = -1.0, max = 1.0))]
    pub articulation: Option<f64>,
    /// 0 to 1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub airiness: Option<f64>,
    /// 0 to 1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub intensity: Option<f64>,
    /// 0 to 1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub clarity: Option<f64>,
    /// Vibrato rate, depth and delay.
    pub vibrato: Option<VibratoParams>,
}

impl ExpressionArgs {
    fn params(&self, voice: &str) -> SynthesizeParams {
        SynthesizeParams {
            voice: Some(voice.to_string()),
            articulation: self.articulation,
            airiness: self.airiness,
            intensity: self.intensity,
            clarity: self.clarity,
            vibrato: self.vibrato,
            ..Default::default()
        }
    }
}

/// `get_voicebank_info {voicebank}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoicebankRequest {
    /// `builtin` or a voicebank folder name.
    #[serde(default = "builtin")]
    pub voicebank: String,
}

/// `predict_durations {alignment, voicebank}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictDurationsRequest {
    /// What `align_phonemes_to_notes` answered (its `alignment`).
    pub alignment: Alignment,
    /// `builtin` or a voicebank folder name.
    #[serde(default = "builtin")]
    pub voicebank: String,
}

/// Frames per phoneme, and the alignment retimed to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PredictDurationsResponse {
    /// The alignment with the phonemes moved (vowels stay on their notes).
    pub alignment: Alignment,
    /// Frames per phoneme, in order.
    pub durations: Vec<u32>,
    /// `rules` (consonant lengths by class) or `voicebank` (its duration model).
    pub predicted_by: String,
}

/// `predict_pitch {alignment, voicebank, vibrato?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictPitchRequest {
    /// The alignment.
    pub alignment: Alignment,
    /// `builtin` or a voicebank folder name.
    #[serde(default = "builtin")]
    pub voicebank: String,
    /// Vibrato for the rule-based curve.
    #[serde(default)]
    pub vibrato: Option<VibratoParams>,
}

/// An f0 curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PredictPitchResponse {
    /// Hz per frame.
    pub f0: Vec<f32>,
    /// Frames per second (44100 / 512).
    pub frame_rate: f64,
    /// `rules` or `voicebank`.
    pub predicted_by: String,
}

/// `predict_variance {alignment, voicebank, f0?, expression…}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictVarianceRequest {
    /// The alignment.
    pub alignment: Alignment,
    /// `builtin` or a voicebank folder name.
    #[serde(default = "builtin")]
    pub voicebank: String,
    /// f0 per frame (default: the rule-based curve).
    #[serde(default)]
    pub f0: Option<Vec<f32>>,
    /// Expression values.
    #[serde(default, flatten)]
    pub expression: ExpressionArgs,
}

/// Variance curves per frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PredictVarianceResponse {
    /// Energy: 0..1.5 from the rules, dB from a voicebank.
    pub energy: Vec<f32>,
    /// Breathiness: 0..1 from the rules, dB from a voicebank.
    pub breathiness: Vec<f32>,
    /// Voicing (dB), when the voicebank predicts it.
    pub voicing: Option<Vec<f32>>,
    /// Tension, when the voicebank predicts it.
    pub tension: Option<Vec<f32>>,
    /// `rules` or `voicebank`.
    pub predicted_by: String,
}

/// `synthesize_audio {alignment, f0, energy?, breathiness?, voicebank, expression…}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthesizeAudioRequest {
    /// Phonemes and their durations (the alignment).
    pub alignment: Alignment,
    /// f0 in Hz per frame.
    pub f0: Vec<f32>,
    /// Energy per frame (0..1.5; default from the velocities).
    #[serde(default)]
    pub energy: Option<Vec<f32>>,
    /// Breathiness per frame (0..1; default from the velocities and airiness).
    #[serde(default)]
    pub breathiness: Option<Vec<f32>>,
    /// `builtin` or a voicebank folder name.
    #[serde(default = "builtin")]
    pub voicebank: String,
    /// Expression values.
    #[serde(default, flatten)]
    pub expression: ExpressionArgs,
}

/// A rendered waveform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SynthesizeAudioResponse {
    /// The samples.
    pub waveform: Waveform,
}

/// `synthesize {score, voicebank, part_index, verse, articulation, airiness, intensity, clarity}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthesizeRequest {
    /// The score in its JSON form.
    pub score: Score,
    /// `builtin` or a voicebank folder name.
    #[serde(default = "builtin")]
    pub voicebank: String,
    /// The part (from 0).
    #[serde(default)]
    pub part_index: usize,
    /// The verse (default: 1, else the part's first).
    #[serde(default)]
    pub verse: Option<String>,
    /// Expression values.
    #[serde(default, flatten)]
    pub expression: ExpressionArgs,
}

/// The whole chain's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SynthesizeResponse {
    /// The samples.
    pub waveform: Waveform,
    /// The alignment that was sung (`alignment.json`'s content).
    pub alignment: Value,
    /// What the user should know.
    pub warnings: Vec<String>,
}

/// How `save_audio` encodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AudioFormat {
    /// 16-bit PCM WAV (default).
    #[default]
    Wav,
    /// 32-bit float WAV.
    WavFloat,
    /// 24-bit FLAC.
    Flac,
}

/// `save_audio {waveform, format}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveAudioRequest {
    /// The samples.
    pub waveform: Waveform,
    /// `wav` (default), `wav_float` or `flac`.
    #[serde(default)]
    pub format: AudioFormat,
}

/// An encoded file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SaveAudioResponse {
    /// File extension.
    pub extension: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub bytes: usize,
    /// The file, base64.
    pub data_base64: String,
}

fn tool_error(e: ToolError) -> CodaError {
    CodaError::Unprocessable {
        code: e.code,
        message: e.message,
        details: json!({ "field": e.field }),
    }
}

fn voice_error(voice: &str, e: VoiceError) -> CodaError {
    match e {
        VoiceError::Canceled => CodaError::canceled(),
        other => CodaError::Unprocessable {
            code: "INVALID_VOICEBANK",
            message: other.to_string(),
            details: json!({ "field": "voicebank", "voice": voice }),
        },
    }
}

fn check_curve(name: &str, curve: &[f32], frames: u32) -> Result<()> {
    if curve.len() != frames as usize {
        return Err(invalid_param(
            name,
            format!(
                "{name} has {} frames; the alignment has {frames}",
                curve.len()
            ),
        ));
    }
    if curve.iter().any(|v| !v.is_finite()) {
        return Err(invalid_param(
            name,
            format!("{name} holds a non-finite value"),
        ));
    }
    Ok(())
}

/// Checks an alignment given by a caller: frames contiguous from 0, notes in range.
fn check_alignment(a: &Alignment) -> Result<()> {
    let bad = |m: String| invalid_param("alignment", m);
    if a.frames as u64 > coda_vocal::align::MAX_FRAMES {
        return Err(bad(format!(
            "{} frames is more than {}",
            a.frames,
            coda_vocal::align::MAX_FRAMES
        )));
    }
    let mut t = 0;
    for (i, p) in a.phonemes.iter().enumerate() {
        if p.start != t || p.end <= p.start {
            return Err(bad(format!(
                "phoneme {i} ({}) does not follow the previous one",
                p.phone
            )));
        }
        if p.note_index >= a.notes.len().max(1) {
            return Err(bad(format!(
                "phoneme {i} names note {} of {}",
                p.note_index,
                a.notes.len()
            )));
        }
        t = p.end;
    }
    if t != a.frames {
        return Err(bad(format!(
            "the phonemes cover {t} frames, not {}",
            a.frames
        )));
    }
    for (i, n) in a.notes.iter().enumerate() {
        if n.end < n.start || n.end > a.frames || n.midi.is_some_and(|m| !(0..=127).contains(&m)) {
            return Err(bad(format!("note {i} is out of range")));
        }
    }
    Ok(())
}

fn by(voicebank: bool) -> String {
    if voicebank { "voicebank" } else { "rules" }.into()
}

/// `predict_durations`.
pub fn predict_durations(
    req: PredictDurationsRequest,
    singing: &SharedSinging,
) -> Result<PredictDurationsResponse> {
    check_alignment(&req.alignment)?;
    let mut alignment = req.alignment;
    let mut predicted = false;
    if req.voicebank != BUILTIN_VOICE {
        let loaded = singing.voicebank(&req.voicebank)?;
        predicted = loaded.voicebank.info().predictors.duration;
        let mut f0 = f0_curve(&alignment, &Default::default());
        let dynamics = dynamics_curves(&alignment, &Default::default());
        let run = VoicebankRun {
            voicebank: &loaded.voicebank,
            expression: DsExpression::default(),
            predict: Predict {
                durations: true,
                pitch: false,
                audio: false,
            },
        };
        run_voicebank(
            &mut alignment,
            &mut f0,
            &dynamics,
            &run,
            &|_, _| {},
            &|| false,
        )
        .map_err(|e| voice_error(&req.voicebank, e))?;
    }
    let durations = alignment.phonemes.iter().map(|p| p.end - p.start).collect();
    Ok(PredictDurationsResponse {
        alignment,
        durations,
        predicted_by: by(predicted),
    })
}

/// `predict_pitch`.
pub fn predict_pitch(
    req: PredictPitchRequest,
    singing: &SharedSinging,
) -> Result<PredictPitchResponse> {
    check_alignment(&req.alignment)?;
    let params = SynthesizeParams {
        vibrato: req.vibrato,
        ..Default::default()
    };
    coda_core::kinds::KindParams::check(&params)?;
    let (_, style) = params.styles();
    let mut alignment = req.alignment;
    let mut f0 = f0_curve(&alignment, &style);
    let mut predicted = false;
    if req.voicebank != BUILTIN_VOICE {
        let loaded = singing.voicebank(&req.voicebank)?;
        predicted = loaded.voicebank.info().predictors.pitch;
        let dynamics = dynamics_curves(&alignment, &Default::default());
        let run = VoicebankRun {
            voicebank: &loaded.voicebank,
            expression: DsExpression::default(),
            predict: Predict {
                durations: false,
                pitch: true,
                audio: false,
            },
        };
        run_voicebank(
            &mut alignment,
            &mut f0,
            &dynamics,
            &run,
            &|_, _| {},
            &|| false,
        )
        .map_err(|e| voice_error(&req.voicebank, e))?;
    }
    Ok(PredictPitchResponse {
        f0,
        frame_rate: alignment.frame_rate,
        predicted_by: by(predicted),
    })
}

/// `predict_variance`.
pub fn predict_variance(
    req: PredictVarianceRequest,
    singing: &SharedSinging,
) -> Result<PredictVarianceResponse> {
    check_alignment(&req.alignment)?;
    let params = req.expression.params(&req.voicebank);
    coda_core::kinds::KindParams::check(&params)?;
    let (expression, style) = params.styles();
    let a = &req.alignment;
    let dynamics = dynamics_curves(a, &expression);
    if req.voicebank == BUILTIN_VOICE {
        return Ok(PredictVarianceResponse {
            energy: dynamics.energy,
            breathiness: dynamics.breathiness,
            voicing: None,
            tension: None,
            predicted_by: by(false),
        });
    }
    let f0 = match req.f0 {
        Some(f0) => {
            check_curve("f0", &f0, a.frames)?;
            f0
        }
        None => f0_curve(a, &style),
    };
    let loaded = singing.voicebank(&req.voicebank)?;
    let vb = &loaded.voicebank;
    let Some(_) = vb.info().predictors.variance else {
        return Ok(PredictVarianceResponse {
            energy: dynamics.energy,
            breathiness: dynamics.breathiness,
            voicing: None,
            tension: None,
            predicted_by: by(false),
        });
    };
    // Phrase by phrase, stitched back to the alignment's frames.
    let frames = a.frames as usize;
    let mut full = DsVariance::default();
    let hop = HOP as usize;
    for region in BuiltinVoice::regions(a) {
        let curves = Curves {
            f0: &f0,
            dynamics: &dynamics,
        };
        let phrase = phrase_of(a, curves, region, vb, DsExpression::default())
            .map_err(|e| voice_error(&req.voicebank, e))?;
        let v = vb
            .predict_variance(&phrase)
            .map_err(|e| voice_error(&req.voicebank, e.into()))?;
        let at = region.start / hop;
        for (slot, got) in [
            (&mut full.energy, v.energy),
            (&mut full.breathiness, v.breathiness),
            (&mut full.voicing, v.voicing),
            (&mut full.tension, v.tension),
        ] {
            if let Some(got) = got {
                let curve = slot.get_or_insert_with(|| vec![0.0; frames]);
                let n = got.len().min(frames.saturating_sub(at));
                curve[at..at + n].copy_from_slice(&got[..n]);
            }
        }
    }
    Ok(PredictVarianceResponse {
        energy: full.energy.unwrap_or(dynamics.energy),
        breathiness: full.breathiness.unwrap_or(dynamics.breathiness),
        voicing: full.voicing,
        tension: full.tension,
        predicted_by: by(true),
    })
}

/// `synthesize_audio`.
pub fn synthesize_audio(
    req: SynthesizeAudioRequest,
    singing: &SharedSinging,
) -> Result<SynthesizeAudioResponse> {
    check_alignment(&req.alignment)?;
    check_curve("f0", &req.f0, req.alignment.frames)?;
    let params = req.expression.params(&req.voicebank);
    coda_core::kinds::KindParams::check(&params)?;
    let (expression, _) = params.styles();
    let mut dynamics = dynamics_curves(&req.alignment, &expression);
    if let Some(e) = req.energy {
        check_curve("energy", &e, req.alignment.frames)?;
        dynamics.energy = e;
    }
    if let Some(b) = req.breathiness {
        check_curve("breathiness", &b, req.alignment.frames)?;
        dynamics.breathiness = b;
    }
    let samples = render(&req.alignment, &req.f0, &dynamics, &params, singing)?;
    Ok(SynthesizeAudioResponse {
        waveform: Waveform::from_samples(&samples, SAMPLE_RATE),
    })
}

/// Renders with the voice `params.voice` names, without its predictors.
fn render(
    alignment: &Alignment,
    f0: &[f32],
    dynamics: &Dynamics,
    params: &SynthesizeParams,
    singing: &SharedSinging,
) -> Result<Vec<f32>> {
    let (expression, _) = params.styles();
    let voice = params.voice.as_deref().unwrap_or(BUILTIN_VOICE);
    if voice == BUILTIN_VOICE {
        let perf = Performance {
            alignment,
            f0,
            dynamics,
            expression,
            seed: 0x5eed,
        };
        return singing
            .builtin()
            .render(&perf, coda_dsp::threads(), &|_, _| {}, &|| false)
            .map_err(|e| match e {
                RenderError::Canceled => CodaError::canceled(),
                RenderError::UnknownPhoneme(_) | RenderError::CurveLength(..) => {
                    invalid_param("alignment", e.to_string())
                }
                other => CodaError::Internal(other.to_string()),
            });
    }
    let loaded = singing.voicebank(voice)?;
    let mut a = alignment.clone();
    let mut f0 = f0.to_vec();
    let run = VoicebankRun {
        voicebank: &loaded.voicebank,
        expression: DsExpression {
            velocity: (expression.articulation as f32 * 0.5).exp2(),
            ..DsExpression::default()
        },
        predict: Predict {
            durations: false,
            pitch: false,
            audio: true,
        },
    };
    run_voicebank(&mut a, &mut f0, dynamics, &run, &|_, _| {}, &|| false)
        .map_err(|e| voice_error(voice, e))
}

/// `synthesize`: the whole chain on a score in its JSON form.
pub fn synthesize(req: SynthesizeRequest, singing: &SharedSinging) -> Result<SynthesizeResponse> {
    let mut params = req.expression.params(&req.voicebank);
    params.part = Some(super::PartRef::Index(req.part_index));
    params.verse = req.verse.map(super::VerseRef::Label);
    coda_core::kinds::KindParams::check(&params)?;
    let bytes = serde_json::to_vec(&req.score).map_err(CodaError::internal)?;
    let files = super::run::sing_score(&bytes, &params, singing, &|_| {}, &|| false)?;
    let samples = wav_samples(&files.wav);
    let alignment: Value = serde_json::from_slice(&files.alignment).map_err(CodaError::internal)?;
    Ok(SynthesizeResponse {
        waveform: Waveform::from_samples(&samples, SAMPLE_RATE),
        alignment,
        warnings: files.warnings,
    })
}

/// The samples of a 16-bit mono WAV Coda wrote.
fn wav_samples(wav: &[u8]) -> Vec<f32> {
    wav.get(44..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect()
}

/// `save_audio`.
pub fn save_audio(req: SaveAudioRequest) -> Result<SaveAudioResponse> {
    let samples = req.waveform.samples()?;
    let rate = req.waveform.sample_rate;
    if !(1000..=384_000).contains(&rate) {
        return Err(invalid_param(
            "waveform.sample_rate",
            "sample_rate must be 1000 to 384000",
        ));
    }
    let (bytes, ext, mime) = match req.format {
        AudioFormat::Wav => (
            coda_audio::wav_bytes_i16(&samples, rate, 1),
            "wav",
            "audio/wav",
        ),
        AudioFormat::WavFloat => (
            coda_audio::wav_bytes_f32(&samples, rate, 1),
            "wav",
            "audio/wav",
        ),
        AudioFormat::Flac => (
            coda_audio::flac::flac_bytes(&samples, rate, 1, 24)
                .map_err(|e| invalid_param("format", e.to_string()))?,
            "flac",
            "audio/flac",
        ),
    };
    Ok(SaveAudioResponse {
        extension: ext.into(),
        content_type: mime.into(),
        bytes: bytes.len(),
        data_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// `list_voicebanks`.
pub fn list_voicebanks(singing: &SharedSinging) -> VoiceList {
    list_voices(&singing.settings().voices_dir)
}

/// `get_voicebank_info`.
pub fn get_voicebank_info(req: VoicebankRequest, singing: &SharedSinging) -> Result<VoiceListing> {
    list_voicebanks(singing)
        .voices
        .into_iter()
        .find(|v| v.name == req.voicebank)
        .ok_or_else(|| invalid_param("voicebank", format!("no voice named {:?}", req.voicebank)))
}

/// One tool: its name, where S0 routes it, and its schemas.
pub struct ToolInfo {
    /// The tool's name.
    pub name: &'static str,
    /// `cpu` or `gpu`, as S0's routing table has it.
    pub route: &'static str,
    /// One line for the LLM and documents.
    pub description: &'static str,
}

/// S0's tool set in its order.
pub const TOOLS: &[ToolInfo] = &[
    ToolInfo { name: "parse_score", route: "cpu", description: "Read a score file (MusicXML, .mxl, MIDI, JSON) into the JSON form, with a summary and a part's sung line." },
    ToolInfo { name: "modify_score", route: "cpu", description: "Apply edits (transpose, tempo, dynamics, lyrics, ...) to a score, all or none." },
    ToolInfo { name: "phonemize", route: "cpu", description: "Lyrics to phonemes (ARPAbet, or a voicebank's symbols), with ids and word boundaries." },
    ToolInfo { name: "align_phonemes_to_notes", route: "cpu", description: "A part's lyrics as phonemes placed on its notes, in frames." },
    ToolInfo { name: "list_voicebanks", route: "cpu", description: "The built-in voice and every voicebank, with why any cannot sing." },
    ToolInfo { name: "get_voicebank_info", route: "cpu", description: "One voice's settings." },
    ToolInfo { name: "predict_durations", route: "gpu", description: "Frames per phoneme: the rules, or the voicebank's duration model." },
    ToolInfo { name: "predict_pitch", route: "gpu", description: "The f0 curve: portamento and vibrato rules, or the voicebank's pitch model." },
    ToolInfo { name: "predict_variance", route: "gpu", description: "Energy and breathiness (and voicing, tension) curves." },
    ToolInfo { name: "synthesize_audio", route: "gpu", description: "Render phonemes, durations and curves to a waveform." },
    ToolInfo { name: "synthesize", route: "gpu", description: "The whole chain: a score's part sung by a voice." },
    ToolInfo { name: "save_audio", route: "gpu", description: "Encode a waveform as WAV or FLAC." },
];

fn schema_pair<Q: JsonSchema, R: JsonSchema>() -> Value {
    json!({ "request": schemars::schema_for!(Q), "response": schemars::schema_for!(R) })
}

/// Every tool's request and response JSON Schemas, route and description.
pub fn tool_schemas() -> Value {
    let cpu = coda_vocal::tools::cpu_tool_schemas();
    let mut out = serde_json::Map::new();
    for t in TOOLS {
        let schemas = match t.name {
            "list_voicebanks" => schema_pair::<EmptyRequest, VoiceList>(),
            "get_voicebank_info" => schema_pair::<VoicebankRequest, VoiceListing>(),
            "predict_durations" => {
                schema_pair::<PredictDurationsRequest, PredictDurationsResponse>()
            }
            "predict_pitch" => schema_pair::<PredictPitchRequest, PredictPitchResponse>(),
            "predict_variance" => schema_pair::<PredictVarianceRequest, PredictVarianceResponse>(),
            "synthesize_audio" => schema_pair::<SynthesizeAudioRequest, SynthesizeAudioResponse>(),
            "synthesize" => schema_pair::<SynthesizeRequest, SynthesizeResponse>(),
            "save_audio" => schema_pair::<SaveAudioRequest, SaveAudioResponse>(),
            name => cpu[name].clone(),
        };
        out.insert(
            t.name.into(),
            json!({ "route": t.route, "description": t.description, "request": schemas["request"], "response": schemas["response"] }),
        );
    }
    Value::Object(out)
}

/// A request with no fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

fn parse<T: serde::de::DeserializeOwned>(args: Value) -> Result<T> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args).map_err(|e| CodaError::Unprocessable {
        code: "INVALID_PARAMS",
        message: format!("bad arguments: {e}"),
        details: json!({}),
    })
}

fn answer<T: Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(CodaError::internal)
}

/// Runs tool `name` on JSON `args`. `parse_score`'s `file` is the score itself (text or JSON form).
pub fn call_tool(name: &str, args: Value, singing: &SharedSinging) -> Result<Value> {
    match name {
        "parse_score" => {
            let req: ParseScoreRequest = parse(args)?;
            answer(parse_score(req.file.as_bytes(), &req).map_err(tool_error)?)
        }
        "modify_score" => {
            answer(modify_score(&parse::<ModifyScoreRequest>(args)?).map_err(tool_error)?)
        }
        "phonemize" | "align_phonemes_to_notes" => {
            let voice = args
                .get("voicebank")
                .and_then(Value::as_str)
                .unwrap_or(BUILTIN_VOICE)
                .to_string();
            let dictionary = singing
                .dictionary()
                .map_err(crate::transcribe::model_error)?;
            let loaded = if voice == BUILTIN_VOICE {
                None
            } else {
                Some(singing.voicebank(&voice)?)
            };
            let lexicon = Lexicon {
                dictionary: &dictionary,
                voicebank: loaded.as_ref().and_then(|l| l.dictionary.as_ref()),
                phoneme_ids: None,
                language: None,
            };
            if name == "phonemize" {
                let req: PhonemizeRequest = parse(args)?;
                let lexicon = Lexicon {
                    language: req.language.as_deref(),
                    ..lexicon
                };
                let mut response = phonemize(&req.lyrics, &lexicon)
                    .map_err(|e| CodaError::unprocessable("INVALID_PARAMS", e.to_string()))?;
                if let Some(l) = &loaded {
                    // Ids from the voicebank's own list.
                    let mut ids = Vec::with_capacity(response.phonemes.len());
                    for p in &response.phonemes {
                        ids.push(l.voicebank.phoneme_id(p).ok_or_else(|| {
                            invalid_param(
                                "voicebank",
                                format!("voicebank {voice:?} has no phoneme {p:?}"),
                            )
                        })?);
                    }
                    response.phoneme_ids = ids;
                }
                answer(response)
            } else {
                answer(
                    align_phonemes_to_notes(&parse::<AlignRequest>(args)?, &lexicon)
                        .map_err(tool_error)?,
                )
            }
        }
        "list_voicebanks" => {
            let _: EmptyRequest = parse(args)?;
            answer(list_voicebanks(singing))
        }
        "get_voicebank_info" => answer(get_voicebank_info(parse(args)?, singing)?),
        "predict_durations" => answer(predict_durations(parse(args)?, singing)?),
        "predict_pitch" => answer(predict_pitch(parse(args)?, singing)?),
        "predict_variance" => answer(predict_variance(parse(args)?, singing)?),
        "synthesize_audio" => answer(synthesize_audio(parse(args)?, singing)?),
        "synthesize" => answer(synthesize(parse(args)?, singing)?),
        "save_audio" => answer(save_audio(parse(args)?)?),
        other => Err(CodaError::Unprocessable {
            code: "UNKNOWN_TOOL",
            message: format!(
                "no tool named {other:?}; the tools are {}",
                TOOLS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
            ),
            details: json!({ "tools": TOOLS.iter().map(|t| t.name).collect::<Vec<_>>() }),
        }),
    }
}

#[cfg(test)]
mod snapshot_tests {
    /// The schemas the spec-only build (the Lambdas, the chat) serves must be these types' own.
    #[test]
    fn the_schema_snapshot_matches_the_types() {
        let live = super::tool_schemas();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/synthesize/tool_schemas.json"
        );
        if std::env::var_os("CODA_BLESS").is_some() {
            std::fs::write(path, serde_json::to_string_pretty(&live).unwrap() + "\n").unwrap();
        }
        let stored: serde_json::Value = serde_json::from_str(crate::synthesize::S0_TOOL_SCHEMAS)
            .expect("tool_schemas.json is JSON");
        assert!(
            stored == live,
            "src/synthesize/tool_schemas.json is stale: run `CODA_BLESS=1 cargo test -p coda-jobs --lib snapshot`"
        );
    }
}
