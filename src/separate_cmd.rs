//! `coda separate IN --out DIR`: the `separate` job's files, written locally with a progress bar.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use coda_core::kinds::KindParams;
use coda_jobs::separate::SeparateOptions;
use coda_jobs::separate::{check_separable, decode_input, separate_decoded, Stage, StemFiles};
use coda_jobs::{ModelSettings, SharedHtDemucs};

/// What `coda separate` was asked to do.
pub struct SeparateArgs {
    /// The audio file.
    pub input: PathBuf,
    /// Where the stems go (created if missing).
    pub out_dir: PathBuf,
    /// Model, format and vocal method.
    pub options: SeparateOptions,
    /// Model location and session options (`htdemucs_model` set from `--model-path`).
    pub model: ModelSettings,
    /// Print where the time went to standard error.
    pub timings: bool,
}

/// Where the time of one `coda separate` went.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Reading and decoding the file.
    pub decode: Duration,
    /// The separator itself.
    pub separate: Duration,
    /// Encoding, drawing and writing the files.
    pub write: Duration,
    /// Length of the audio.
    pub audio_s: f64,
}

/// The default output folder: `<input stem>.stems` in the current directory.
pub fn default_out_dir(input: &Path) -> PathBuf {
    crate::default_out_dir(input, "stems")
}

/// Separates `args.input` and writes the four stems and stems.png; returns the file paths.
pub fn run(args: &SeparateArgs) -> anyhow::Result<(Vec<PathBuf>, Timings)> {
    let fail = |e: coda_core::CodaError| anyhow::anyhow!("{}: {e}", e.code());
    args.options.check().map_err(fail)?;
    let started = Instant::now();
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let bar = crate::progress_bar("");
    bar.set_message("decoding");
    let audio = decode_input(&bytes).map_err(fail)?;
    drop(bytes);
    let decode = started.elapsed();

    let htdemucs = SharedHtDemucs::new(args.model.clone());
    check_separable(&audio, &args.options, htdemucs.max_seconds()).map_err(fail)?;
    let separating = Instant::now();
    let mut on_stage = |stage| match stage {
        Stage::Decoding => bar.set_message("decoding"),
        Stage::Separating { done, total } => {
            bar.set_message("separating");
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        Stage::Writing => bar.set_message("writing"),
    };
    let stems = separate_decoded(&audio, &args.options, &htdemucs, &mut on_stage, &|| false)
        .map_err(fail)?;
    let separate = separating.elapsed();

    on_stage(Stage::Writing);
    let writing = Instant::now();
    let files = StemFiles::build(
        &stems,
        &audio.samples,
        args.options.format.unwrap_or_default(),
    )
    .map_err(fail)?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    // Hundreds of megabytes for a long song: the page-cache copies go faster side by side.
    let written = coda_dsp::parallel::map(
        "write-stems",
        &files.files,
        files.files.len(),
        |(name, _, bytes)| {
            let path = args.out_dir.join(name);
            std::fs::write(&path, bytes)
                .with_context(|| format!("writing {}", path.display()))
                .map(|()| path)
        },
    )?
    .into_iter()
    .collect::<anyhow::Result<Vec<PathBuf>>>()?;
    bar.finish_and_clear();
    let timings = Timings {
        decode,
        separate,
        write: writing.elapsed(),
        audio_s: audio.duration_s(),
    };
    if args.timings {
        let total = started.elapsed().as_secs_f64();
        eprintln!(
            "timings: audio {:.1} s ({} Hz, {} ch), decode {:.3} s, separate {:.3} s, write {:.3} s, total {:.3} s, {:.1}x real time",
            timings.audio_s,
            audio.sample_rate,
            audio.channels,
            timings.decode.as_secs_f64(),
            timings.separate.as_secs_f64(),
            timings.write.as_secs_f64(),
            total,
            timings.audio_s / total.max(1e-9),
        );
    }
    Ok((written, timings))
}
