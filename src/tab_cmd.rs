//! `coda tab`: tablature of a score or of notes.json on the command line, through the same
//! `coda_jobs::tab::tab_files` as the `tab` job.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use coda_jobs::tab::{is_audio, tab_files, transcribed_notes_json, TabParams};
use coda_jobs::transcribe::{ModelSettings, SharedModel};

/// `<input name>.tab` beside where the command runs.
pub fn default_out_dir(input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned());
    PathBuf::from(format!("{name}.tab"))
}

/// Writes tab.txt, tab.json, tab.musicxml and tab.alphatex into `out`; returns tab.txt's
/// text and the warnings. A recording is transcribed first with the model in `model`.
pub fn run(
    input: &Path,
    out: &Path,
    params: &TabParams,
    model: &ModelSettings,
) -> anyhow::Result<(String, Vec<String>)> {
    use coda_core::kinds::KindParams;
    params.check().map_err(|e| anyhow!("{e}"))?;
    let mut bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let mut notes = vec![];
    if is_audio(&bytes) {
        let bar = crate::progress_bar(" windows");
        bar.set_message("transcribing");
        let shared = SharedModel::new(model.clone());
        bytes = transcribed_notes_json(
            &shared,
            &bytes,
            &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            },
            &|| false,
        )
        .map_err(|e| anyhow!("{}: {}: {e}", e.code(), input.display()))?;
        bar.finish_and_clear();
        notes.push(
            "tabbed from a transcription of the recording (Basic Pitch, default settings)"
                .to_string(),
        );
    }
    let files =
        tab_files(&bytes, params).map_err(|e| anyhow!("{}: {}: {e}", e.code(), input.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut text = String::new();
    for (name, _, bytes) in &files.files {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        if *name == "tab.txt" {
            text = String::from_utf8_lossy(bytes).into_owned();
        }
    }
    notes.extend(files.tab.warnings);
    Ok((text, notes))
}
