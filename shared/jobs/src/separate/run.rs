//! The `separate` runner, and the functions and files the CLI shares with it.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use coda_audio::{decode, flac::flac_bytes, wav_bytes_f32, AudioError, DecodedAudio};
use coda_core::kinds::KindParams;
use coda_core::model::JobKind;
use coda_core::sniff::sniff;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};
use coda_model_runtime::{Lazy, ModelError};
use coda_separation::dsp::{separate_dsp, DspOptions, VocalMethod};
use coda_separation::htdemucs::{separate_htdemucs, HtDemucsModel};
use coda_separation::{Stem, Stems};
use serde_json::json;

use super::{SeparateOptions, SeparationModel, StemFormat, VocalMethodOption};
use crate::stemsplot::render_stems;
use crate::transcribe::{model_error, ModelSettings};

/// File name HT-Demucs is looked for under in the models folder when no path is configured.
pub const HTDEMUCS_FILE: &str = "htdemucs.onnx";

/// The process's one HT-Demucs session, loaded when the first job asks for it.
pub struct SharedHtDemucs {
    settings: ModelSettings,
    model: Lazy<HtDemucsModel>,
}

impl SharedHtDemucs {
    /// A handle that loads nothing until a job needs it.
    pub fn new(settings: ModelSettings) -> Self {
        SharedHtDemucs {
            settings,
            model: Lazy::new(),
        }
    }

    /// Where the model file is expected.
    pub fn model_path(&self) -> PathBuf {
        self.settings
            .htdemucs_model
            .clone()
            .unwrap_or_else(|| self.settings.models_dir.join(HTDEMUCS_FILE))
    }

    /// Longest input accepted, in seconds.
    pub fn max_seconds(&self) -> f64 {
        self.settings.separate_max_seconds
    }

    /// Threads the built-in separator may use.
    pub fn threads(&self) -> usize {
        self.settings.runtime.intra_threads.max(1)
    }

    /// The loaded model; a failed load is not remembered, so adding the file fixes a running server.
    pub fn get(&self) -> Result<Arc<HtDemucsModel>> {
        self.model.get_or_load(|| self.load())
    }

    fn load(&self) -> Result<HtDemucsModel> {
        let path = self.model_path();
        if !path.is_file() {
            return Err(CodaError::Unprocessable {
                code: "MODEL_NOT_INSTALLED",
                message: format!(
                    "no HT-Demucs model at {}: put an HT-Demucs ONNX export in the demucs-onnx layout there, or set htdemucs_model (CODA_HTDEMUCS_MODEL) to its path; the built-in model \"dsp\" needs no file",
                    path.display()
                ),
                details: json!({ "path": path.display().to_string(), "fix": "set htdemucs_model" }),
            });
        }
        let runtime =
            coda_model_runtime::locate_runtime(&self.settings.models_dir).map_err(model_error)?;
        HtDemucsModel::load(&runtime, &path, &self.settings.runtime).map_err(|e| match e {
            // A file that is not a demucs-onnx export is the operator's to fix, not a retry.
            ModelError::BadOutput(m) | ModelError::Runtime(m) => CodaError::Unprocessable {
                code: "MODEL_NOT_INSTALLED",
                message: format!("cannot use {} as HT-Demucs: {m}", path.display()),
                details: json!({ "path": path.display().to_string() }),
            },
            other => model_error(other),
        })
    }
}

/// Stages of a separation, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Decoding the input.
    Decoding,
    /// `done` of `total` steps (DSP stages, or model chunks) are finished.
    Separating {
        /// Steps finished.
        done: usize,
        /// Steps in all.
        total: usize,
    },
    /// Encoding the stems and drawing the picture.
    Writing,
}

/// Decodes any supported audio file, keeping its rate and channels.
pub fn decode_input(bytes: &[u8]) -> Result<DecodedAudio> {
    let hint = sniff(bytes).map(|s| s.extension());
    decode(bytes, hint).map_err(|e| match e {
        AudioError::Invalid(m) => CodaError::InvalidAudio(m),
        other => CodaError::Internal(other.to_string()),
    })
}

/// Refuses, before any work, input this separation cannot finish: too long, or a layout FLAC cannot hold.
pub fn check_separable(
    audio: &DecodedAudio,
    options: &SeparateOptions,
    max_seconds: f64,
) -> Result<()> {
    let seconds = audio.duration_s();
    if seconds > max_seconds {
        return Err(CodaError::Unprocessable {
            code: "AUDIO_TOO_LONG",
            message: format!(
                "the audio is {seconds:.0} s long; separate jobs take at most {max_seconds:.0} s (separate_max_seconds)"
            ),
            details: json!({ "duration_s": seconds, "max_seconds": max_seconds }),
        });
    }
    if options.format == Some(StemFormat::Flac)
        && (audio.sample_rate > coda_audio::flac::MAX_SAMPLE_RATE
            || audio.channels > coda_audio::flac::MAX_CHANNELS)
    {
        return Err(invalid_params(
            "format",
            format!(
                "FLAC stems need at most {} Hz and {} channels; this file is {} Hz with {} channels: use format wav",
                coda_audio::flac::MAX_SAMPLE_RATE,
                coda_audio::flac::MAX_CHANNELS,
                audio.sample_rate,
                audio.channels
            ),
        ));
    }
    Ok(())
}

fn invalid_params(field: &str, message: String) -> CodaError {
    CodaError::Unprocessable {
        code: "INVALID_PARAMS",
        message,
        details: json!({ "field": field }),
    }
}

/// Runs the separator `options` asks for on decoded audio; blocking, CPU-bound.
pub fn separate_decoded(
    audio: &DecodedAudio,
    options: &SeparateOptions,
    htdemucs: &SharedHtDemucs,
    on_stage: &mut dyn FnMut(Stage),
    cancel: &dyn Fn() -> bool,
) -> Result<Stems> {
    let mut on_progress = |done, total| on_stage(Stage::Separating { done, total });
    let stems = match options.model.unwrap_or_default() {
        SeparationModel::Dsp => {
            let dsp = DspOptions {
                vocal_method: match options.vocal_method.unwrap_or_default() {
                    VocalMethodOption::Auto => VocalMethod::Auto,
                    VocalMethodOption::Centre => VocalMethod::Centre,
                    VocalMethodOption::Repet => VocalMethod::Repet,
                },
                threads: htdemucs.threads(),
                ..DspOptions::default()
            };
            separate_dsp(
                &audio.samples,
                audio.sample_rate,
                audio.channels,
                &dsp,
                &mut on_progress,
                cancel,
            )
        }
        SeparationModel::Htdemucs => {
            let model = htdemucs.get()?;
            separate_htdemucs(
                &model,
                &audio.samples,
                audio.sample_rate,
                audio.channels,
                &mut on_progress,
                cancel,
            )
        }
    };
    stems.map_err(|e| match e {
        // A model that answers with the wrong shape will do so again: not worth a retry.
        ModelError::BadOutput(m) => CodaError::Unprocessable {
            code: "MODEL_OUTPUT_INVALID",
            message: format!("the separation model gave unusable output: {m}"),
            details: json!({}),
        },
        other => model_error(other),
    })
}

/// The five files a separation produces: four stems and `stems.png`.
#[derive(Clone, Debug, PartialEq)]
pub struct StemFiles {
    /// `(file name, content type, bytes)`, stems in [`Stem::ALL`] order, then the picture.
    pub files: Vec<(String, &'static str, Vec<u8>)>,
}

impl StemFiles {
    /// Encodes the stems in `format` and draws them under the mixture, in parallel.
    pub fn build(stems: &Stems, mixture: &[f32], format: StemFormat) -> Result<Self> {
        let (ext, content_type) = format.extension_and_type();
        let encode = |samples: &[f32]| -> Result<Vec<u8>> {
            match format {
                StemFormat::Wav => Ok(wav_bytes_f32(samples, stems.sample_rate, stems.channels)),
                // Layouts FLAC cannot hold are refused up front (check_separable); what is left is permanent too.
                StemFormat::Flac => flac_bytes(samples, stems.sample_rate, stems.channels, 24)
                    .map_err(|e| invalid_params("format", e.to_string())),
            }
        };
        let named: Vec<(&str, &[f32])> = Stem::ALL
            .iter()
            .map(|&s| (s.name(), stems.get(s)))
            .collect();
        // The four encoders and the picture, side by side: `None` is the picture.
        let tasks: Vec<Option<Stem>> = Stem::ALL.iter().copied().map(Some).chain([None]).collect();
        let mut done = coda_dsp::parallel::run_tasks("stem-files", tasks, 5, |task| match task {
            Some(stem) => encode(stems.get(stem)),
            None => render_stems(mixture, &named, stems.channels, stems.sample_rate)
                .map_err(CodaError::Internal),
        })
        .map_err(|e| CodaError::Internal(e.to_string()))?;
        let picture = done
            .pop()
            .unwrap_or_else(|| Err(CodaError::Internal("no picture".into())));
        let mut files = Vec::with_capacity(5);
        for (stem, bytes) in Stem::ALL.iter().zip(done) {
            files.push((format!("{}.{ext}", stem.name()), content_type, bytes?));
        }
        files.push(("stems.png".into(), "image/png", picture?));
        Ok(StemFiles { files })
    }

    /// The files as job outputs.
    pub fn into_outputs(self) -> Vec<NewOutput> {
        self.files
            .into_iter()
            .map(|(name, content_type, bytes)| NewOutput {
                name,
                content_type: content_type.into(),
                bytes: Bytes::from(bytes),
            })
            .collect()
    }
}

/// Runs `separate` jobs.
pub struct SeparateRunner {
    htdemucs: Arc<SharedHtDemucs>,
}

impl SeparateRunner {
    /// A runner sharing the process's HT-Demucs session.
    pub fn new(htdemucs: Arc<SharedHtDemucs>) -> Self {
        SeparateRunner { htdemucs }
    }
}

/// Share of the progress bar given to decoding, before separation starts.
const DECODED_PCT: u8 = 5;
/// Where separation ends and encoding begins.
const SEPARATED_PCT: u8 = 85;

#[async_trait]
impl JobRunner for SeparateRunner {
    fn kind(&self) -> JobKind {
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let options: SeparateOptions = ctx.params()?;
        let progress = ctx.progress();
        let input = ctx.input("audio").await?;
        options.check()?;
        let htdemucs = self.htdemucs.clone();
        let files = tokio::task::spawn_blocking(move || -> Result<StemFiles> {
            progress.set(1);
            // A missing model is the operator's to fix: say so before spending time on decoding.
            if options.model == Some(SeparationModel::Htdemucs) {
                htdemucs.get()?;
            }
            let audio = decode_input(&input)?;
            drop(input);
            check_separable(&audio, &options, htdemucs.max_seconds())?;
            progress.check()?;
            progress.set(DECODED_PCT);
            let mut on_stage = |stage| match stage {
                Stage::Decoding => {}
                Stage::Separating { done, total } => {
                    progress.set_between(DECODED_PCT, SEPARATED_PCT, done, total);
                }
                Stage::Writing => progress.set(SEPARATED_PCT),
            };
            let cancel = || progress.is_canceled();
            let stems = separate_decoded(&audio, &options, &htdemucs, &mut on_stage, &cancel)?;
            progress.check()?;
            on_stage(Stage::Writing);
            let files =
                StemFiles::build(&stems, &audio.samples, options.format.unwrap_or_default())?;
            progress.set(98);
            Ok(files)
        })
        .await
        .map_err(|e| CodaError::Internal(format!("separate task failed: {e}")))??;
        Ok(files.into_outputs())
    }
}
