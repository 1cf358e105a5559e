//! `coda score info`, `coda score edit` and `coda convert`: scores between MusicXML, MXL,
//! MIDI and JSON on the command line, through the same `coda_music` functions as the API.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use coda_music::{
    apply_edits, parse_edits, read_score_file, score_info, write_score, FileFormat, Score,
    ScoreInfo,
};

/// The format `path`'s extension names.
pub fn format_of(path: &Path) -> anyhow::Result<FileFormat> {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(FileFormat::from_extension)
        .ok_or_else(|| {
            anyhow!(
                "{}: the extension must be .musicxml, .xml, .mxl, .mid, .midi or .json",
                path.display()
            )
        })
}

/// Reads a score file: JSON by its extension, anything else by its magic bytes; returns the repairs too.
pub fn read(path: &Path) -> anyhow::Result<(Score, Vec<String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let json = format_of(path).ok() == Some(FileFormat::Json);
    let parsed = read_score_file(&bytes, json.then_some(FileFormat::Json))
        .map_err(|e| anyhow!("{}: {}: {e}", e.code(), path.display()))?;
    Ok((parsed.score, parsed.warnings))
}

/// Writes `score` in the format `path`'s extension names.
pub fn write(score: &Score, path: &Path) -> anyhow::Result<()> {
    let bytes = write_score(score, format_of(path)?).map_err(|e| anyhow!("{}: {e}", e.code))?;
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The summary of a score file (what `coda score info --json` prints).
pub fn info(path: &Path) -> anyhow::Result<ScoreInfo> {
    let (score, warnings) = read(path)?;
    score_info(&score, warnings).map_err(|e| anyhow!("{}: {e}", e.code))
}

/// Converts `input` to `output`, formats from the extensions; returns the reader's repairs.
pub fn convert(input: &Path, output: &Path, expand: bool) -> anyhow::Result<Vec<String>> {
    format_of(output)?;
    let (mut score, warnings) = read(input)?;
    if expand {
        score = coda_music::expand_repeats(&score).map_err(|e| anyhow!("{}: {e}", e.code()))?;
    }
    write(&score, output)?;
    Ok(warnings)
}

/// Applies edits (each a JSON object, or a JSON array of them) to `input` and writes `output`.
///
/// All edits apply, in order, or none: nothing is written when one is invalid.
pub fn edit(input: &Path, edits: &[String], output: &Path) -> anyhow::Result<ScoreInfo> {
    format_of(output)?;
    if edits.is_empty() {
        bail!("INVALID_EDIT: give at least one --edit JSON (e.g. --edit '{{\"op\":\"transpose\",\"semitones\":2}}')");
    }
    let mut all = vec![];
    for (i, text) in edits.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| anyhow!("INVALID_EDIT: --edit number {}: not JSON: {e}", i + 1))?;
        match value {
            serde_json::Value::Array(items) => all.extend(items),
            other => all.push(other),
        }
    }
    let ops = parse_edits(&serde_json::Value::Array(all))
        .map_err(|e| anyhow!("{}: {}: {}", e.code(), e.field, e.message))?;
    let (score, warnings) = read(input)?;
    let edited = apply_edits(&score, &ops)
        .map_err(|e| anyhow!("{}: {}: {}", e.code(), e.field, e.message))?;
    write(&edited, output)?;
    score_info(&edited, warnings).map_err(|e| anyhow!("{}: {e}", e.code))
}
