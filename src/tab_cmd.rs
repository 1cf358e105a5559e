//! `coda tab`: tablature of a score or of notes.json on the command line, through the same
//! `coda_jobs::tab::tab_files` as the `tab` job.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use coda_jobs::tab::{tab_files, TabParams};

/// `<input name>.tab` beside where the command runs.
pub fn default_out_dir(input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned());
    PathBuf::from(format!("{name}.tab"))
}

/// Writes tab.txt, tab.json, tab.musicxml and tab.alphatex into `out`; returns tab.txt's
/// text and the warnings.
pub fn run(input: &Path, out: &Path, params: &TabParams) -> anyhow::Result<(String, Vec<String>)> {
    use coda_core::kinds::KindParams;
    params.check().map_err(|e| anyhow!("{e}"))?;
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
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
    Ok((text, files.tab.warnings))
}
