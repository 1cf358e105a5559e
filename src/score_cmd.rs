//! `coda score info` and `coda convert`: scores between MusicXML, MXL, MIDI and JSON on the command line.

use std::path::Path;

use anyhow::{bail, Context};
use coda_music::{read_score, stats, timing, write_midi, write_musicxml, write_mxl, Score};
use serde::Serialize;

/// A score file's format, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreFile {
    /// `.musicxml` or `.xml`.
    MusicXml,
    /// `.mxl`.
    Mxl,
    /// `.mid` or `.midi`.
    Midi,
    /// `.json`: the score model's JSON form.
    Json,
}

impl ScoreFile {
    /// The format `path`'s extension names.
    pub fn of(path: &Path) -> anyhow::Result<ScoreFile> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "musicxml" | "xml" => ScoreFile::MusicXml,
            "mxl" => ScoreFile::Mxl,
            "mid" | "midi" => ScoreFile::Midi,
            "json" => ScoreFile::Json,
            _ => bail!(
                "{}: the extension must be .musicxml, .xml, .mxl, .mid, .midi or .json",
                path.display()
            ),
        })
    }
}

/// Reads a score file: JSON by its extension, anything else by its magic bytes; returns the repairs too.
pub fn read(path: &Path) -> anyhow::Result<(Score, Vec<String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some() && ScoreFile::of(path).ok() == Some(ScoreFile::Json) {
        let score: Score = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("INVALID_SCORE: {}: {e}", path.display()))?;
        return Ok((score, vec![]));
    }
    let parsed =
        read_score(&bytes).map_err(|e| anyhow::anyhow!("{}: {}: {e}", e.code(), path.display()))?;
    Ok((parsed.score, parsed.warnings))
}

/// Writes `score` in the format `path`'s extension names.
pub fn write(score: &Score, path: &Path) -> anyhow::Result<()> {
    let bytes = match ScoreFile::of(path)? {
        ScoreFile::MusicXml => write_musicxml(score)
            .map(String::into_bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?,
        ScoreFile::Mxl => write_mxl(score).map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?,
        ScoreFile::Midi => write_midi(score).map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?,
        ScoreFile::Json => serde_json::to_vec_pretty(score)?,
    };
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// What `coda score info --json` prints.
#[derive(Debug, Serialize)]
pub struct ScoreInfo {
    /// Title, if the score has one.
    pub title: Option<String>,
    /// Number of parts.
    pub parts: usize,
    /// Measures of the first part.
    pub measures: usize,
    /// Sounding pitches: chord members count, tie continuations and unpitched notes do not.
    pub notes: usize,
    /// Rests.
    pub rests: usize,
    /// Lyric syllables with text.
    pub lyrics: usize,
    /// The first key signature, in fifths.
    pub key_signature_fifths: Option<i8>,
    /// The tempo at the start, in quarter notes per minute (120 when the score sets none).
    pub tempo_bpm: f64,
    /// Playing time under the tempo changes, in seconds.
    pub duration_s: f64,
    /// What the reader repaired.
    pub warnings: Vec<String>,
}

/// The summary of a score file.
pub fn info(path: &Path) -> anyhow::Result<ScoreInfo> {
    let (score, warnings) = read(path)?;
    let s = stats(&score);
    let t = timing(&score).map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    Ok(ScoreInfo {
        title: s.title,
        parts: s.parts,
        measures: s.measures,
        notes: s.notes,
        rests: s.rests,
        lyrics: s.lyrics,
        key_signature_fifths: s.key_signature_fifths,
        tempo_bpm: t.tempos.first().map_or(120.0, |t| t.1),
        duration_s: (t.seconds * 1000.0).round() / 1000.0,
        warnings,
    })
}

/// Converts `input` to `output`, formats from the extensions; returns the reader's repairs.
pub fn convert(input: &Path, output: &Path) -> anyhow::Result<Vec<String>> {
    ScoreFile::of(output)?;
    let (score, warnings) = read(input)?;
    write(&score, output)?;
    Ok(warnings)
}
