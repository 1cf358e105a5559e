//! The `transcribe` runner, and the functions and files the CLI shares with it.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use coda_audio::{decode_mono, AudioError};
use coda_core::kinds::KindParams;
use coda_core::model::JobKind;
use coda_core::sniff::sniff;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};
use coda_model_runtime::{locate, Lazy};
use coda_transcription::{
    notes_to_midi, to_model_input, transcribe, BasicPitchModel, GraphForm, ModelError, NoteEvent,
    RuntimeOptions, TranscribeParams, Transcription,
};
use serde_json::json;

use super::TranscribeOptions;
use crate::pianoroll::render_pianoroll;

/// Where the model files are and how to run them.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSettings {
    /// The folder `coda models install` fills.
    pub models_dir: PathBuf,
    /// ONNX Runtime session options.
    pub runtime: RuntimeOptions,
    /// Windows per model call.
    pub batch_size: usize,
    /// The HT-Demucs ONNX export; `None` means `htdemucs.onnx` in `models_dir`.
    pub htdemucs_model: Option<PathBuf>,
    /// Longest input a `separate` job accepts, in seconds.
    pub separate_max_seconds: f64,
    /// The DiffSinger voicebanks folder `synthesize` jobs choose voices from.
    pub voices_dir: PathBuf,
}

/// The process's one Basic Pitch session, loaded on first use and shared by every worker.
///
/// A failed load is not remembered, so installing the models fixes a running
/// server without a restart.
pub struct SharedModel {
    settings: ModelSettings,
    model: Lazy<BasicPitchModel>,
}

impl SharedModel {
    /// A handle that loads nothing until the first job needs it.
    pub fn new(settings: ModelSettings) -> Self {
        SharedModel {
            settings,
            model: Lazy::new(),
        }
    }

    /// The settings it loads with.
    pub fn settings(&self) -> &ModelSettings {
        &self.settings
    }

    /// The loaded model, loading it (and verifying the files) the first time.
    pub fn get(&self) -> std::result::Result<Arc<BasicPitchModel>, ModelError> {
        // Concurrent first jobs load once; a failed load is tried again by the next job.
        self.model.get_or_load(|| {
            let installed = locate(&self.settings.models_dir)?;
            let model = BasicPitchModel::load(&installed, &self.settings.runtime)?;
            if let GraphForm::Unfoldable(why) = model.graph() {
                tracing::warn!(%why, "Basic Pitch runs as published, about a third slower");
            }
            Ok(model)
        })
    }
}

/// The three files a transcription produces.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptionFiles {
    /// `notes.json`: the notes sorted by start, then pitch.
    pub notes_json: Vec<u8>,
    /// `transcription.mid`.
    pub midi: Vec<u8>,
    /// `pianoroll.png`.
    pub pianoroll_png: Vec<u8>,
}

impl TranscriptionFiles {
    /// File names and content types, in the order clients list them.
    pub const NAMES: [(&'static str, &'static str); 3] = [
        ("notes.json", "application/json"),
        ("transcription.mid", "audio/midi"),
        ("pianoroll.png", "image/png"),
    ];

    /// Serialises a transcription of `duration_s` seconds of audio.
    pub fn build(notes: &[NoteEvent], duration_s: f64, params: &TranscribeParams) -> Result<Self> {
        let mut notes_json = serde_json::to_vec_pretty(notes).map_err(CodaError::internal)?;
        notes_json.push(b'\n');
        let midi = notes_to_midi(notes, params.midi_tempo).map_err(model_error)?;
        let pianoroll_png = render_pianoroll(notes, duration_s).map_err(CodaError::internal)?;
        Ok(TranscriptionFiles {
            notes_json,
            midi,
            pianoroll_png,
        })
    }

    /// `(name, content type, bytes)` for each file.
    pub fn files(&self) -> [(&'static str, &'static str, &[u8]); 3] {
        let [n, m, p] = Self::NAMES;
        [
            (n.0, n.1, &self.notes_json),
            (m.0, m.1, &self.midi),
            (p.0, p.1, &self.pianoroll_png),
        ]
    }

    /// The files as job outputs.
    pub fn into_outputs(self) -> Vec<NewOutput> {
        self.files()
            .into_iter()
            .map(|(name, content_type, bytes)| NewOutput {
                name: name.into(),
                content_type: content_type.into(),
                bytes: Bytes::copy_from_slice(bytes),
            })
            .collect()
    }
}

/// A finished transcription with the audio's length.
pub struct TranscribedAudio {
    /// Notes, posteriorgrams and timings.
    pub transcription: Transcription,
    /// Length of the decoded input in seconds.
    pub duration_s: f64,
}

/// Stages of a transcription, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Decoding and resampling the input.
    Decoding,
    /// `done` of `total` model windows have run.
    Inference {
        /// Windows finished.
        done: usize,
        /// Windows in all.
        total: usize,
    },
    /// Turning posteriorgrams into notes.
    Notes,
}

/// Builds the model parameters from a job's options; `batch_size` is the server's.
pub fn params_from_options(options: &TranscribeOptions, batch_size: usize) -> TranscribeParams {
    let d = TranscribeParams::default();
    TranscribeParams {
        onset_threshold: options.onset_threshold.unwrap_or(d.onset_threshold),
        frame_threshold: options.frame_threshold.unwrap_or(d.frame_threshold),
        minimum_note_length_ms: options
            .minimum_note_length_ms
            .unwrap_or(d.minimum_note_length_ms),
        minimum_frequency: options.minimum_frequency.or(d.minimum_frequency),
        maximum_frequency: options.maximum_frequency.or(d.maximum_frequency),
        infer_onsets: options.infer_onsets.unwrap_or(d.infer_onsets),
        melodia_trick: options.melodia_trick.unwrap_or(d.melodia_trick),
        include_pitch_bends: options.include_pitch_bends.unwrap_or(d.include_pitch_bends),
        multiple_pitch_bends: options
            .multiple_pitch_bends
            .unwrap_or(d.multiple_pitch_bends),
        midi_tempo: options.midi_tempo.unwrap_or(d.midi_tempo),
        batch_size: batch_size.max(1),
        ..d
    }
}

/// Decodes any supported audio file and transcribes it; blocking, CPU-bound.
pub fn transcribe_audio(
    model: &BasicPitchModel,
    bytes: &[u8],
    params: &TranscribeParams,
    on_stage: &mut dyn FnMut(Stage),
    cancel: &dyn Fn() -> bool,
) -> Result<TranscribedAudio> {
    on_stage(Stage::Decoding);
    let input = model_input(bytes)?;
    if cancel() {
        return Err(canceled());
    }
    transcribe_input(model, input, params, on_stage, cancel)
}

/// Audio decoded and resampled for the model, with the original length.
pub struct ModelInput {
    /// Mono 22050 Hz samples.
    pub samples: Vec<f32>,
    /// Length of the decoded file in seconds.
    pub duration_s: f64,
}

/// Decodes any supported audio file to the network's mono 22050 Hz input.
pub fn model_input(bytes: &[u8]) -> Result<ModelInput> {
    let hint = sniff(bytes).map(|s| s.extension());
    // Downmixed while decoding (the same channel mean `to_model_input` takes), which spares a
    // multichannel WAV its interleaved copy.
    let audio = decode_mono(bytes, hint).map_err(|e| match e {
        AudioError::Invalid(m) => CodaError::InvalidAudio(m),
        other => CodaError::Internal(other.to_string()),
    })?;
    let duration_s = audio.duration_s();
    let samples =
        to_model_input(&audio.samples, audio.sample_rate, audio.channels).map_err(model_error)?;
    Ok(ModelInput {
        samples,
        duration_s,
    })
}

/// Runs the model and note creation on prepared input.
pub fn transcribe_input(
    model: &BasicPitchModel,
    input: ModelInput,
    params: &TranscribeParams,
    on_stage: &mut dyn FnMut(Stage),
    cancel: &dyn Fn() -> bool,
) -> Result<TranscribedAudio> {
    let mut on_window = |done, total| on_stage(Stage::Inference { done, total });
    let transcription =
        transcribe(model, &input.samples, params, &mut on_window, cancel).map_err(model_error)?;
    on_stage(Stage::Notes);
    Ok(TranscribedAudio {
        transcription,
        duration_s: input.duration_s,
    })
}

fn canceled() -> CodaError {
    CodaError::canceled()
}

/// Maps the model service's errors onto the domain's: bad input and a missing model are permanent.
pub fn model_error(e: ModelError) -> CodaError {
    match e {
        ModelError::InvalidAudio(m) => CodaError::InvalidAudio(m),
        ModelError::InvalidParams(m) => CodaError::unprocessable("INVALID_PARAMS", m),
        ModelError::Canceled => canceled(),
        e @ (ModelError::NotInstalled { .. }
        | ModelError::HashMismatch { .. }
        | ModelError::BadWheel { .. }) => CodaError::Unprocessable {
            code: "MODEL_NOT_INSTALLED",
            message: e.to_string(),
            details: json!({ "fix": "coda models install" }),
        },
        other => CodaError::Internal(other.to_string()),
    }
}

/// Runs `transcribe` jobs on the shared model.
pub struct TranscribeRunner {
    model: Arc<SharedModel>,
}

impl TranscribeRunner {
    /// A runner using the process's shared model.
    pub fn new(model: Arc<SharedModel>) -> Self {
        TranscribeRunner { model }
    }
}

/// Share of the progress bar given to decoding, before the first window.
const DECODED_PCT: u8 = 5;
/// Where inference ends and note creation and file writing begin.
const INFERRED_PCT: u8 = 90;

#[async_trait]
impl JobRunner for TranscribeRunner {
    fn kind(&self) -> JobKind {
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let options: TranscribeOptions = ctx.params()?;
        let progress = ctx.progress();
        let input = ctx.input("audio").await?;
        options.check()?;
        let params = params_from_options(&options, self.model.settings().batch_size);
        let shared = self.model.clone();
        let files = tokio::task::spawn_blocking(move || -> Result<TranscriptionFiles> {
            let model = shared.get().map_err(model_error)?;
            progress.check()?;
            let mut on_stage = |stage| match stage {
                Stage::Decoding => progress.set(1),
                Stage::Inference { done, total } => {
                    progress.set_between(DECODED_PCT, INFERRED_PCT, done, total);
                }
                Stage::Notes => progress.set(INFERRED_PCT),
            };
            let cancel = || progress.is_canceled();
            let done = transcribe_audio(&model, &input, &params, &mut on_stage, &cancel)?;
            progress.check()?;
            let files =
                TranscriptionFiles::build(&done.transcription.notes, done.duration_s, &params)?;
            progress.set(98);
            Ok(files)
        })
        .await
        .map_err(|e| CodaError::Internal(format!("transcribe task failed: {e}")))??;
        Ok(files.into_outputs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_fill_in_upstream_defaults() {
        let params = params_from_options(&TranscribeOptions::default(), 8);
        assert_eq!(params, TranscribeParams::default());
        let params = params_from_options(
            &TranscribeOptions {
                onset_threshold: Some(0.7),
                melodia_trick: Some(false),
                minimum_frequency: Some(100.0),
                ..Default::default()
            },
            0,
        );
        assert_eq!(params.onset_threshold, 0.7);
        assert!(!params.melodia_trick);
        assert_eq!(params.minimum_frequency, Some(100.0));
        assert_eq!(params.frame_threshold, 0.3);
        assert_eq!(params.batch_size, 1);
    }

    #[test]
    fn a_missing_model_names_the_install_command() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedModel::new(ModelSettings {
            models_dir: dir.path().to_path_buf(),
            runtime: RuntimeOptions::default(),
            batch_size: 8,
            htdemucs_model: None,
            separate_max_seconds: 1800.0,
            voices_dir: std::path::PathBuf::from("voices"),
        });
        let err = model_error(shared.get().unwrap_err());
        assert_eq!(err.code(), "MODEL_NOT_INSTALLED");
        assert!(!err.is_transient());
        assert!(err.to_string().contains("coda models install"), "{err}");
    }

    fn repo_path(rel: &str) -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel)
    }

    fn installed_model() -> Arc<BasicPitchModel> {
        let models_dir = coda_model_runtime::default_models_dir();
        SharedModel::new(ModelSettings {
            models_dir,
            runtime: RuntimeOptions {
                intra_threads: 2,
                cuda: false,
            },
            batch_size: 1,
            htdemucs_model: None,
            separate_max_seconds: 1800.0,
            voices_dir: std::path::PathBuf::from("voices"),
        })
        .get()
        .unwrap_or_else(|e| panic!("{e} (scripts/test.sh installs the models)"))
    }

    #[test]
    fn progress_is_reported_per_window_and_cancel_stops_between_batches() {
        let model = installed_model();
        let wav = std::fs::read(repo_path(
            "models/transcription/tests/data/basic-pitch/vocadito_10.wav",
        ))
        .unwrap();
        let params = TranscribeParams {
            batch_size: 1,
            ..Default::default()
        };
        let mut stages = vec![];
        let done =
            transcribe_audio(&model, &wav, &params, &mut |s| stages.push(s), &|| false).unwrap();
        assert_eq!(done.transcription.notes.len(), 28);
        assert!(
            (done.duration_s - 9.097).abs() < 0.01,
            "{}",
            done.duration_s
        );
        // The fixture is 6 windows: one report before the first and one after each.
        let windows: Vec<(usize, usize)> = stages
            .iter()
            .filter_map(|s| match s {
                Stage::Inference { done, total } => Some((*done, *total)),
                _ => None,
            })
            .collect();
        assert_eq!(windows, (0..=6).map(|d| (d, 6)).collect::<Vec<_>>());
        assert_eq!(stages.first(), Some(&Stage::Decoding));
        assert_eq!(stages.last(), Some(&Stage::Notes));

        // Cancel after two windows: the third never runs.
        let ran = std::cell::Cell::new(0);
        let err = transcribe_audio(
            &model,
            &wav,
            &params,
            &mut |s| {
                if let Stage::Inference { done, .. } = s {
                    ran.set(done);
                }
            },
            &|| ran.get() >= 2,
        )
        .err()
        .expect("canceled");
        assert_eq!(err.code(), "CANCELED");
        assert_eq!(ran.get(), 2);

        // The three files, built from the same notes, are deterministic.
        let a =
            TranscriptionFiles::build(&done.transcription.notes, done.duration_s, &params).unwrap();
        let b =
            TranscriptionFiles::build(&done.transcription.notes, done.duration_s, &params).unwrap();
        assert_eq!(a, b);
        let parsed: Vec<NoteEvent> = serde_json::from_slice(&a.notes_json).unwrap();
        assert_eq!(parsed.len(), done.transcription.notes.len());
        for (p, n) in parsed.iter().zip(&done.transcription.notes) {
            // serde_json's default float parsing may differ from the written value in the last bit.
            assert!((p.start_s - n.start_s).abs() < 1e-12 && (p.end_s - n.end_s).abs() < 1e-12);
            assert_eq!(
                (p.pitch_midi, p.velocity, &p.pitch_bends),
                (n.pitch_midi, n.velocity, &n.pitch_bends)
            );
        }
    }
}
