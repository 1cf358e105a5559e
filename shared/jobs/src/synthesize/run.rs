//! The `synthesize` runner and the chain `coda sing` shares with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use coda_core::model::JobKind;
use coda_core::params::invalid_param;
use coda_core::services::scores::invalid_score;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};
use coda_model_runtime::install::CMUDICT;
use coda_model_runtime::{locate_artifact, locate_runtime, Lazy, ModelError};
use coda_music::{read_score_file, FileFormat, MelodyError, Score};
use coda_singing::diffsinger::{DsExpression, Voicebank};
use coda_singing::formant::{BuiltinVoice, Performance};
use coda_singing::sing::{plan, Plan, SingError, SingOptions};
use coda_singing::sing::{plan_for_voicebank, render_with_voicebank, VoiceError};
use coda_transcription::NoteEvent;
use coda_vocal::align::{HOP, SAMPLE_RATE};
use coda_vocal::dsdict::DsDict;
use coda_vocal::g2p::Dictionary;
use coda_vocal::phones::PhoneClass;
use serde_json::json;

use super::{PartRef, SynthesizeParams};
use crate::pianoroll::{render_pitch_roll, PitchOverlay};
use crate::transcribe::{model_error, ModelSettings};

/// A DiffSinger voicebank loaded for singing: its sessions and its dictionary.
pub struct LoadedVoice {
    /// The sessions.
    pub voicebank: Voicebank,
    /// Its `dsdict-en.yaml` or `dsdict.yaml`, parsed.
    pub dictionary: Option<DsDict>,
}

/// What singing shares within a process: the settings, the CMU dictionary, the built-in voice
/// and the voicebanks used so far, each loaded once.
pub struct SharedSinging {
    settings: ModelSettings,
    dictionary: Lazy<Dictionary>,
    builtin: OnceLock<BuiltinVoice>,
    voices: Mutex<HashMap<PathBuf, Arc<LoadedVoice>>>,
}

impl SharedSinging {
    /// A handle that loads nothing until the first job needs it.
    pub fn new(settings: ModelSettings) -> Self {
        SharedSinging {
            settings,
            dictionary: Lazy::new(),
            builtin: OnceLock::new(),
            voices: Mutex::new(HashMap::new()),
        }
    }

    /// The voicebank folder `name` in `voices_dir`, loaded the first time (a failed load is tried again next time).
    pub fn voicebank(&self, name: &str) -> Result<Arc<LoadedVoice>> {
        let dir = self.settings.voices_dir.join(name);
        if !dir.join("dsconfig.yaml").is_file() {
            return Err(unknown_voice(name, &self.settings.voices_dir));
        }
        let mut voices = self.voices.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = voices.get(&dir) {
            return Ok(v.clone());
        }
        let runtime = locate_runtime(&self.settings.models_dir).map_err(model_error)?;
        let voicebank = Voicebank::load(&dir, &runtime, &self.settings.runtime).map_err(|e| {
            CodaError::Unprocessable {
                code: "INVALID_VOICEBANK",
                message: format!("voicebank {name:?} cannot be loaded: {e}"),
                details: json!({ "field": "voice", "voice": name }),
            }
        })?;
        let dictionary = match voicebank.dictionary_path() {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CodaError::unprocessable(
                        "INVALID_VOICEBANK",
                        format!("{}: {e}", path.display()),
                    )
                })?;
                Some(DsDict::parse(&text).map_err(|e| {
                    CodaError::unprocessable(
                        "INVALID_VOICEBANK",
                        format!("{}: {e}", path.display()),
                    )
                })?)
            }
            None => None,
        };
        let loaded = Arc::new(LoadedVoice {
            voicebank,
            dictionary,
        });
        voices.insert(dir, loaded.clone());
        Ok(loaded)
    }

    /// The settings.
    pub fn settings(&self) -> &ModelSettings {
        &self.settings
    }

    /// The CMU dictionary, verified and parsed the first time.
    pub fn dictionary(&self) -> std::result::Result<Arc<Dictionary>, ModelError> {
        self.dictionary.get_or_load(|| {
            let path = locate_artifact(&self.settings.models_dir, &CMUDICT)?;
            let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
            Dictionary::parse(&text)
                .map_err(|e| ModelError::Runtime(format!("{}: {e}", path.display())))
        })
    }

    /// The built-in voice (its source tables are computed once).
    pub fn builtin(&self) -> &BuiltinVoice {
        self.builtin.get_or_init(BuiltinVoice::new)
    }
}

/// The files one render makes, and what the user should know about it.
#[derive(Clone, Debug)]
pub struct SungFiles {
    /// `sung.wav`: mono 44.1 kHz 16-bit.
    pub wav: Vec<u8>,
    /// `alignment.json`.
    pub alignment: Vec<u8>,
    /// `f0.json`.
    pub f0: Vec<u8>,
    /// `pitch.png`.
    pub pitch_png: Vec<u8>,
    /// Fallback words, notes out of range, silence.
    pub warnings: Vec<String>,
    /// Length of the render in seconds.
    pub seconds: f64,
    /// The part that was sung, by index.
    pub part_index: usize,
    /// The voice that sang.
    pub voice: String,
}

/// The name of the built-in voice.
pub const BUILTIN_VOICE: &str = "builtin";

/// Reads a score file or the JSON form (told apart by the first byte).
pub fn read_sing_input(bytes: &[u8]) -> Result<Score> {
    let json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    let format = json.then_some(FileFormat::Json);
    read_score_file(bytes, format)
        .map(|p| p.score)
        .map_err(|e| invalid_score("score", &e))
}

/// The index of the part `part` names: an index, else a name (case-insensitive) or an id.
pub fn resolve_part(score: &Score, part: &PartRef) -> Result<usize> {
    let names = || {
        score
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{i}: {} ({})", p.name.as_deref().unwrap_or("unnamed"), p.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match part {
        PartRef::Index(i) => (*i < score.parts.len()).then_some(*i),
        PartRef::Name(n) => {
            let n = n.trim();
            n.parse::<usize>()
                .ok()
                .filter(|i| *i < score.parts.len())
                .or_else(|| {
                    score.parts.iter().position(|p| {
                        p.id == n || p.name.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(n))
                    })
                })
        }
    };
    found.ok_or_else(|| {
        invalid_param(
            "part",
            format!(
                "the score has no part {}; its parts are {}",
                match part {
                    PartRef::Index(i) => i.to_string(),
                    PartRef::Name(n) => format!("{n:?}"),
                },
                names()
            ),
        )
    })
}

fn sing_error(e: SingError) -> CodaError {
    match (&e, e.field()) {
        (SingError::Align(coda_vocal::align::AlignError::TooLong { .. }), _) => {
            CodaError::unprocessable("AUDIO_TOO_LONG", e.to_string())
        }
        (SingError::Melody(MelodyError::Timing(_)), _) => CodaError::Unprocessable {
            code: "INVALID_SCORE",
            message: e.to_string(),
            details: json!({ "field": "score" }),
        },
        (_, Some(field)) => invalid_param(field, e.to_string()),
        _ => CodaError::unprocessable("INVALID_SCORE", e.to_string()),
    }
}

/// Sings `bytes` (a score file or its JSON form) as `params` ask; `progress` gets 0..=100.
pub fn sing_score(
    bytes: &[u8],
    params: &SynthesizeParams,
    singing: &SharedSinging,
    progress: &(dyn Fn(u8) + Sync),
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<SungFiles> {
    let score = read_sing_input(bytes)?;
    progress(5);
    let part_index = resolve_part(&score, params.part.as_ref().unwrap_or(&PartRef::Index(0)))?;
    let (expression, pitch) = params.styles();
    let options = SingOptions {
        part_index,
        verse: params.verse.as_ref().map(|v| v.label()),
        expression,
        pitch,
    };
    let voice = params.voice.as_deref().unwrap_or(BUILTIN_VOICE);
    let dictionary = singing.dictionary().map_err(model_error)?;
    if voice != BUILTIN_VOICE {
        let loaded = singing.voicebank(voice)?;
        let mut plan =
            plan_for_voicebank(&score, &dictionary, loaded.dictionary.as_ref(), &options)
                .map_err(sing_error)?;
        progress(10);
        let ds = DsExpression {
            // Consonant speed follows articulation: 0.71 (legato) to 1.41 (detached).
            velocity: (expression.articulation as f32 * 0.5).exp2(),
            ..DsExpression::default()
        };
        let on_phrase = |done: usize, total: usize| {
            progress((10 + 80 * done / total.max(1)).min(90) as u8);
        };
        let samples = render_with_voicebank(&mut plan, &loaded.voicebank, ds, &on_phrase, cancel)
            .map_err(|e| match e {
            VoiceError::Canceled => CodaError::canceled(),
            other => CodaError::Unprocessable {
                code: "INVALID_VOICEBANK",
                message: other.to_string(),
                details: json!({ "field": "voice", "voice": voice }),
            },
        })?;
        progress(92);
        return files(&score, &plan, &samples, voice, part_index);
    }
    let plan = plan(&score, &dictionary, &options).map_err(sing_error)?;
    if cancel() {
        return Err(CodaError::canceled());
    }
    progress(10);
    let perf = Performance {
        alignment: &plan.alignment,
        f0: &plan.f0,
        dynamics: &plan.dynamics,
        expression,
        seed: 0x5eed,
    };
    let on_region = |done: usize, total: usize| {
        progress((10 + 80 * done / total.max(1)).min(90) as u8);
    };
    let samples = singing
        .builtin()
        .render(&perf, coda_dsp::threads(), &on_region, cancel)
        .map_err(|e| match e {
            coda_singing::formant::RenderError::Canceled => CodaError::canceled(),
            other => CodaError::Internal(other.to_string()),
        })?;
    progress(92);
    files(&score, &plan, &samples, voice, part_index)
}

fn unknown_voice(voice: &str, voices_dir: &Path) -> CodaError {
    invalid_param(
        "voice",
        format!(
            "no voice named {voice:?}: use `builtin` or a voicebank folder in {}",
            voices_dir.display()
        ),
    )
}

/// Whether a phoneme class carries pitch (for the picture and `f0.json`'s `voiced`).
fn voiced(class: PhoneClass, phone: &str) -> bool {
    match class {
        PhoneClass::Vowel | PhoneClass::Nasal | PhoneClass::Liquid | PhoneClass::Glide => true,
        PhoneClass::Silence | PhoneClass::Breath | PhoneClass::Aspirate => false,
        _ => matches!(phone, "b" | "d" | "g" | "v" | "dh" | "z" | "zh" | "jh"),
    }
}

/// The four files of a render.
pub fn files(
    score: &Score,
    plan: &Plan,
    samples: &[f32],
    voice: &str,
    part_index: usize,
) -> Result<SungFiles> {
    let a = &plan.alignment;
    let fr = a.frame_rate;
    let offset_s = f64::from(a.offset_frames) / fr;
    let seconds = samples.len() as f64 / f64::from(SAMPLE_RATE);
    let mut mask = vec![false; a.frames as usize];
    for p in &a.phonemes {
        if voiced(p.class, &p.phone) {
            let (s, e) = (p.start as usize, (p.end as usize).min(mask.len()));
            mask[s.min(e)..e].fill(true);
        }
    }
    let part = &score.parts[part_index];
    let alignment = json!({
        "voice": voice,
        "part_index": part_index,
        "part_name": part.name,
        "verse": plan.line.verse,
        "sample_rate": SAMPLE_RATE,
        "hop": HOP,
        "frame_rate": fr,
        "offset_s": offset_s,
        "seconds": seconds,
        "phonemes": a.phonemes,
        "notes": a.notes.iter().zip(&plan.line.notes).map(|(n, s)| json!({
            "start": n.start, "end": n.end,
            "start_s": f64::from(n.start) / fr, "end_s": f64::from(n.end) / fr,
            "score_start_s": s.start_s, "score_end_s": s.end_s,
            "midi": n.midi, "velocity": n.velocity, "slur": n.slur,
            "lyric": s.lyric.as_ref().map(|l| l.text.clone()),
            "measure": n.measure, "first_phoneme": n.first_phoneme,
        })).collect::<Vec<_>>(),
        "words": a.words,
        "warnings": plan.warnings,
    });
    let f0 = json!({
        "sample_rate": SAMPLE_RATE,
        "hop": HOP,
        "frame_rate": fr,
        "offset_s": offset_s,
        "f0": plan.f0,
        "voiced": mask,
    });
    let notes: Vec<NoteEvent> = a
        .notes
        .iter()
        .filter_map(|n| {
            let key = u8::try_from(n.midi?).ok()?;
            Some(NoteEvent {
                start_s: f64::from(n.start) / fr,
                end_s: f64::from(n.end) / fr,
                pitch_midi: key.min(127),
                velocity: n.velocity,
                amplitude: f64::from(n.velocity) / 127.0,
                pitch_bends: Vec::new(),
            })
        })
        .collect();
    let curve: Vec<(f64, f64)> = plan
        .f0
        .iter()
        .enumerate()
        .map(|(i, &hz)| {
            let t = (i as f64 + 0.5) / fr;
            let m = if mask[i] && hz > 0.0 {
                69.0 + 12.0 * (f64::from(hz) / 440.0).log2()
            } else {
                f64::NAN
            };
            (t, m)
        })
        .collect();
    let title = format!(
        "Coda singing: {} (part {part_index}), verse {}, {voice} voice",
        part.name.as_deref().unwrap_or(&part.id),
        plan.line.verse
    );
    let pitch_png = render_pitch_roll(
        &notes,
        seconds,
        &PitchOverlay {
            title,
            curve: &curve,
        },
    )
    .map_err(CodaError::internal)?;
    Ok(SungFiles {
        wav: coda_audio::wav_bytes_i16(samples, SAMPLE_RATE, 1),
        alignment: serde_json::to_vec_pretty(&alignment).map_err(CodaError::internal)?,
        f0: serde_json::to_vec(&f0).map_err(CodaError::internal)?,
        pitch_png,
        warnings: plan.warnings.clone(),
        seconds,
        part_index,
        voice: voice.to_string(),
    })
}

/// Runs `synthesize` jobs.
pub struct SynthesizeRunner {
    singing: Arc<SharedSinging>,
}

impl SynthesizeRunner {
    /// A runner over its own shared dictionary and voice.
    pub fn new(settings: ModelSettings) -> Self {
        SynthesizeRunner {
            singing: Arc::new(SharedSinging::new(settings)),
        }
    }
}

#[async_trait]
impl JobRunner for SynthesizeRunner {
    fn kind(&self) -> JobKind {
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let params: SynthesizeParams = ctx.params()?;
        let input = ctx.input("score").await?;
        let progress = ctx.progress();
        let singing = self.singing.clone();
        let p = progress.clone();
        let files = tokio::task::spawn_blocking(move || {
            let report = |pct: u8| p.set(pct);
            let cancel = || p.is_canceled();
            sing_score(&input, &params, &singing, &report, &cancel)
        })
        .await
        .map_err(|e| CodaError::Internal(format!("synthesize task failed: {e}")))??;
        for w in &files.warnings {
            progress.warn(w.clone());
        }
        progress.set(98);
        Ok(vec![
            NewOutput {
                name: "sung.wav".into(),
                content_type: "audio/wav".into(),
                bytes: files.wav.into(),
            },
            NewOutput {
                name: "alignment.json".into(),
                content_type: "application/json".into(),
                bytes: files.alignment.into(),
            },
            NewOutput {
                name: "f0.json".into(),
                content_type: "application/json".into(),
                bytes: files.f0.into(),
            },
            NewOutput {
                name: "pitch.png".into(),
                content_type: "image/png".into(),
                bytes: files.pitch_png.into(),
            },
        ])
    }
}

/// The voicebanks folder, for messages.
pub fn voices_dir(settings: &ModelSettings) -> PathBuf {
    settings.voices_dir.clone()
}

/// One voice as `coda voices` and `list_voicebanks` show it.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct VoiceListing {
    /// `builtin`, or the voicebank's folder name (what `voice` takes).
    pub name: String,
    /// `builtin` or `diffsinger`.
    pub kind: &'static str,
    /// Whether it can sing.
    pub valid: bool,
    /// One line: what it is, or why it cannot sing.
    pub summary: String,
    /// A valid voicebank's settings.
    pub info: Option<coda_singing::diffsinger::VoicebankInfo>,
}

/// Every voice: the built-in one, then each folder of the voices folder.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct VoiceList {
    /// Where voicebanks are read from.
    pub voices_dir: PathBuf,
    /// The voices, the built-in one first.
    pub voices: Vec<VoiceListing>,
}

/// The voices `synthesize` can use with `voices_dir`, and why any folder there cannot sing.
pub fn list_voices(voices_dir: &Path) -> VoiceList {
    use coda_singing::diffsinger::{list_voicebanks, VoicebankStatus};
    let (lo, hi) = coda_singing::formant::RANGE;
    let mut voices = vec![VoiceListing {
        name: BUILTIN_VOICE.into(),
        kind: "builtin",
        valid: true,
        summary: format!(
            "the built-in formant voice (no weights), {}–{}",
            coda_singing::sing::note_name(lo),
            coda_singing::sing::note_name(hi)
        ),
        info: None,
    }];
    for entry in list_voicebanks(voices_dir) {
        let (valid, summary, info) = match entry.status {
            VoicebankStatus::Valid(info) => {
                let p = &info.predictors;
                let predictors: Vec<&str> = [
                    (p.duration, "durations"),
                    (p.pitch, "pitch"),
                    (p.variance.is_some(), "variance"),
                ]
                .into_iter()
                .filter_map(|(on, n)| on.then_some(n))
                .collect();
                let summary = format!(
                    "DiffSinger {:?}: {} Hz, hop {}, {} phonemes, vocoder {}, predicts {}",
                    info.name,
                    info.sample_rate,
                    info.hop_size,
                    info.phonemes,
                    info.vocoder,
                    if predictors.is_empty() {
                        "nothing (rule-based curves)".to_string()
                    } else {
                        predictors.join(", ")
                    }
                );
                (true, summary, Some(info))
            }
            VoicebankStatus::Invalid { reason } => (false, reason, None),
        };
        voices.push(VoiceListing {
            name: entry.name,
            kind: "diffsinger",
            valid,
            summary,
            info,
        });
    }
    VoiceList {
        voices_dir: voices_dir.to_path_buf(),
        voices,
    }
}
