//! `coda sing SCORE --out FILE.wav`: the `synthesize` job's files, written locally with a progress bar.

use std::path::{Path, PathBuf};

use anyhow::Context;
use coda_core::kinds::KindParams;
use coda_jobs::synthesize::{sing_score, SharedSinging, SynthesizeParams};
use coda_jobs::ModelSettings;

/// What `coda sing` was asked to do.
pub struct SingArgs {
    /// The score (MusicXML, .mxl, MIDI or JSON).
    pub input: PathBuf,
    /// The WAV to write; the alignment, f0 and picture go beside it.
    pub out: PathBuf,
    /// Voice, part, verse, expression and vibrato.
    pub params: SynthesizeParams,
    /// Where the models and voices are.
    pub model: ModelSettings,
}

/// `<input stem>.wav` in the current directory.
pub fn default_out(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sung".into());
    PathBuf::from(format!("{stem}.wav"))
}

/// A file beside `out`: `song.wav` → `song.alignment.json`.
pub fn companion(out: &Path, suffix: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sung".into());
    out.with_file_name(format!("{stem}.{suffix}"))
}

/// Sings the score; returns the files written and the warnings.
pub fn run(args: &SingArgs) -> anyhow::Result<(Vec<PathBuf>, Vec<String>, f64)> {
    let fail = |e: coda_core::CodaError| anyhow::anyhow!("{}: {e}", e.code());
    args.params.check().map_err(fail)?;
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let bar = crate::progress_bar("%");
    bar.set_length(100);
    bar.set_message("singing");
    let singing = SharedSinging::new(args.model.clone());
    let report = |pct: u8| bar.set_position(u64::from(pct));
    let files = sing_score(&bytes, &args.params, &singing, &report, &|| false).map_err(fail)?;
    bar.set_message("writing");
    let mut written = Vec::new();
    for (path, data) in [
        (args.out.clone(), &files.wav),
        (companion(&args.out, "alignment.json"), &files.alignment),
        (companion(&args.out, "f0.json"), &files.f0),
        (companion(&args.out, "pitch.png"), &files.pitch_png),
    ] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    bar.finish_and_clear();
    Ok((written, files.warnings, files.seconds))
}
