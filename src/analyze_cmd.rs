//! `coda analyze`: analysis.json and chords.png of a recording or a score on the command line,
//! through the same `coda_jobs::analyze::analysis_files` as the `analyze` job.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use coda_jobs::analyze::{analysis_files, AnalysisFiles, AnalyzeParams};

/// `<input stem>.analysis` beside where the command runs.
pub fn default_out_dir(input: &Path) -> PathBuf {
    crate::default_out_dir(input, "analysis")
}

/// Analyses `input`, writes analysis.json and chords.png into `out`, and returns what it found.
pub fn run(input: &Path, out: &Path, params: &AnalyzeParams) -> anyhow::Result<AnalysisFiles> {
    use coda_core::kinds::KindParams;
    params.check().map_err(|e| anyhow!("{e}"))?;
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let bar = crate::progress_bar("");
    bar.set_length(100);
    let files = analysis_files(&bytes, params, &mut |stage, share| {
        bar.set_message(stage);
        bar.set_position((share * 100.0) as u64);
    })
    .map_err(|e| anyhow!("{}: {}: {e}", e.code(), input.display()))?;
    bar.finish_and_clear();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, _, bytes) in &files.files {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files)
}

/// A few lines a person reads: key, tempo, meter, and the chords.
pub fn summary(files: &AnalysisFiles) -> String {
    let a = &files.analysis;
    let key = a.key.as_ref().map_or("none".to_string(), |k| {
        format!(
            "{} {} (confidence {:.2}; then {})",
            k.key.tonic,
            k.key.mode.name(),
            k.confidence,
            k.alternatives
                .iter()
                .take(2)
                .map(|c| format!("{} {}", c.key.tonic, c.key.mode.name()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let mut text = format!(
        "key {key}\ntempo {}, {}, {} beats, {} downbeats",
        a.tempo_bpm
            .map_or("unknown".into(), |t| format!("{t:.1} bpm")),
        a.time_signature.as_deref().unwrap_or("meter unknown"),
        a.beats.len(),
        a.downbeats.len()
    );
    if a.keys.len() > 1 {
        let keys: Vec<String> = a
            .keys
            .iter()
            .map(|k| format!("{:.0}s {} {}", k.start_s, k.key.tonic, k.key.mode.name()))
            .collect();
        text.push_str(&format!("\nkeys {}", keys.join(", ")));
    }
    let chords: Vec<&str> = a
        .chords
        .iter()
        .filter(|c| c.label != "N")
        .map(|c| c.display.as_str())
        .collect();
    text.push_str(&format!("\nchords {}", chords.join(" ")));
    text
}
