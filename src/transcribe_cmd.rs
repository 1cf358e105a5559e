//! `coda transcribe IN --out DIR`: the `transcribe` job's files, written locally with a progress bar.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use coda_core::kinds::KindParams;
use coda_jobs::transcribe::TranscribeOptions;
use coda_jobs::transcribe::{
    model_input, params_from_options, transcribe_input, Stage, TranscriptionFiles,
};
use coda_jobs::{ModelSettings, SharedModel};

/// What `coda transcribe` was asked to do.
pub struct TranscribeArgs {
    /// The audio file.
    pub input: PathBuf,
    /// Where the three files go (created if missing).
    pub out_dir: PathBuf,
    /// Note-creation settings; unset ones take upstream's defaults.
    pub options: TranscribeOptions,
    /// Model location and session options.
    pub model: ModelSettings,
    /// Print where the time went to standard error.
    pub timings: bool,
}

/// Where the time of one `coda transcribe` went.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Verifying and loading the model.
    pub load: Duration,
    /// Decoding, resampling, inference, notes and files.
    pub work: Duration,
    /// Sum of the model calls alone.
    pub model: Duration,
    /// Length of the audio.
    pub audio_s: f64,
}

/// The default output folder: `<input stem>.transcription` in the current directory.
pub fn default_out_dir(input: &Path) -> PathBuf {
    crate::default_out_dir(input, "transcription")
}

/// Transcribes `args.input`, writes notes.json, transcription.mid and pianoroll.png, and returns the note count.
pub fn run(args: &TranscribeArgs) -> anyhow::Result<(usize, Timings)> {
    args.options
        .check()
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    let params = params_from_options(&args.options, args.model.batch_size);
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;

    let bar = crate::progress_bar(" windows");
    bar.set_message("decoding");
    let shared = SharedModel::new(args.model.clone());
    let work_started = Instant::now();
    // Loading the model and decoding the file do not depend on each other: overlap them.
    let (loaded, input) = std::thread::scope(|scope| {
        let loader = scope.spawn(|| {
            let started = Instant::now();
            shared.get().map(|model| (model, started.elapsed()))
        });
        let input = model_input(&bytes);
        let loaded = loader.join().unwrap_or_else(|_| {
            Err(coda_model_runtime::ModelError::Runtime(
                "the model loader panicked".into(),
            ))
        });
        (loaded, input)
    });
    let (model, load) = loaded.map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = input.map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    let inference_ready = Instant::now();

    // When the first window started and when note creation started, for `--timings`.
    let mut inference_started = None;
    let mut notes_started = None;
    let mut on_stage = |stage| match stage {
        Stage::Decoding => bar.set_message("decoding"),
        Stage::Inference { done, total } => {
            inference_started.get_or_insert_with(Instant::now);
            bar.set_message("inference");
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        Stage::Notes => {
            notes_started = Some(Instant::now());
            bar.set_message("notes");
        }
    };
    let done = transcribe_input(&model, input, &params, &mut on_stage, &|| false)
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    bar.set_message("writing");
    let writing_started = Instant::now();
    let files = TranscriptionFiles::build(&done.transcription.notes, done.duration_s, &params)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    for (name, _, bytes) in files.files() {
        let path = args.out_dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    bar.finish_and_clear();
    let timings = Timings {
        load,
        work: work_started.elapsed(),
        model: done.transcription.stats.model_time,
        audio_s: done.duration_s,
    };
    if args.timings {
        let inference_started = inference_started.unwrap_or(inference_ready);
        let notes_started = notes_started.unwrap_or(writing_started);
        eprintln!(
            "stages: decode+resample (beside the model load) {:.3} s, inference and note creation {:.3} s, files {:.3} s",
            (inference_started - work_started).as_secs_f64(),
            (notes_started - inference_started).as_secs_f64(),
            writing_started.elapsed().as_secs_f64(),
        );
        eprintln!(
            "timings: audio {:.1} s, model load {:.3} s, work {:.3} s (model calls {:.3} s, {} windows, graph {:?}), work/model {:.3}, real-time factor {:.4}",
            timings.audio_s,
            timings.load.as_secs_f64(),
            timings.work.as_secs_f64(),
            timings.model.as_secs_f64(),
            done.transcription.stats.windows,
            model.graph(),
            timings.work.as_secs_f64() / timings.model.as_secs_f64().max(1e-9),
            timings.work.as_secs_f64() / timings.audio_s.max(1e-9),
        );
    }
    Ok((done.transcription.notes.len(), timings))
}
