//! Score file formats by name or extension, and one reader and one writer over all of them,
//! shared by the CLI, the `convert` job and the session API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::detect::{read_score, ReadScoreError};
use crate::midi::{timing, write_midi};
use crate::model::Score;
use crate::musicxml::{write_musicxml, write_mxl, Parsed};
use crate::stats::stats;

/// A score file format Coda reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// MusicXML 4.0 partwise text (`.musicxml`, `.xml`).
    MusicXml,
    /// Compressed MusicXML (`.mxl`).
    Mxl,
    /// A Standard MIDI file (`.mid`, `.midi`).
    Midi,
    /// The score model's JSON form (`.json`).
    Json,
}

impl FileFormat {
    /// Every format, in the order error messages list them.
    pub const ALL: [FileFormat; 4] = [
        FileFormat::MusicXml,
        FileFormat::Mxl,
        FileFormat::Midi,
        FileFormat::Json,
    ];

    /// The format a file extension names (case-insensitive, without the dot).
    pub fn from_extension(ext: &str) -> Option<FileFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "musicxml" | "xml" => Some(FileFormat::MusicXml),
            "mxl" => Some(FileFormat::Mxl),
            "mid" | "midi" => Some(FileFormat::Midi),
            "json" => Some(FileFormat::Json),
            _ => None,
        }
    }

    /// The format a file name's extension names.
    pub fn from_file_name(name: &str) -> Option<FileFormat> {
        let (_, ext) = name.rsplit_once('.')?;
        FileFormat::from_extension(ext)
    }

    /// The format by its wire name (`musicxml`, `mxl`, `midi`, `json`).
    pub fn from_name(name: &str) -> Option<FileFormat> {
        FileFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::MusicXml => "musicxml",
            FileFormat::Mxl => "mxl",
            FileFormat::Midi => "midi",
            FileFormat::Json => "json",
        }
    }

    /// The extension files of this format get.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::MusicXml => "musicxml",
            FileFormat::Mxl => "mxl",
            FileFormat::Midi => "mid",
            FileFormat::Json => "json",
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            FileFormat::MusicXml => "application/vnd.recordare.musicxml+xml",
            FileFormat::Mxl => "application/vnd.recordare.musicxml",
            FileFormat::Midi => "audio/midi",
            FileFormat::Json => "application/json",
        }
    }
}

/// Why a score could not be written in a format.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct WriteScoreError {
    /// The writer's stable code (`SCORE_UNWRITABLE`, `MIDI_UNWRITABLE`, ...).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Writes `score` as a file of `format`.
pub fn write_score(score: &Score, format: FileFormat) -> Result<Vec<u8>, WriteScoreError> {
    match format {
        FileFormat::MusicXml => {
            write_musicxml(score)
                .map(String::into_bytes)
                .map_err(|e| WriteScoreError {
                    code: e.code(),
                    message: e.to_string(),
                })
        }
        FileFormat::Mxl => write_mxl(score).map_err(|e| WriteScoreError {
            code: e.code(),
            message: e.to_string(),
        }),
        FileFormat::Midi => write_midi(score).map_err(|e| WriteScoreError {
            code: e.code(),
            message: e.to_string(),
        }),
        FileFormat::Json => serde_json::to_vec_pretty(score).map_err(|e| WriteScoreError {
            code: "SCORE_UNWRITABLE",
            message: e.to_string(),
        }),
    }
}

/// Why bytes could not be read as a score: the reader's error, or JSON that is not a score.
#[derive(Debug, thiserror::Error)]
pub enum ReadFileError {
    /// From the MusicXML, `.mxl` or MIDI reader.
    #[error(transparent)]
    Score(#[from] ReadScoreError),
    /// JSON that does not match the score model.
    #[error("invalid score JSON at line {line}, column {column}: {message}")]
    Json {
        /// What serde found.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl ReadFileError {
    /// The stable code: the reader's, or `INVALID_SCORE` for JSON.
    pub fn code(&self) -> &'static str {
        match self {
            ReadFileError::Score(e) => e.code(),
            ReadFileError::Json { .. } => "INVALID_SCORE",
        }
    }
}

/// Reads a score: JSON when `format` says so, anything else by its magic bytes.
pub fn read_score_file(bytes: &[u8], format: Option<FileFormat>) -> Result<Parsed, ReadFileError> {
    if format == Some(FileFormat::Json) {
        let score: Score = serde_json::from_slice(bytes).map_err(|e| ReadFileError::Json {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        return Ok(Parsed {
            score,
            warnings: vec![],
        });
    }
    Ok(read_score(bytes)?)
}

/// A score's summary: `coda score info --json`, the session upload's answer and the `convert` job's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScoreInfo {
    /// Title, if the score has one.
    pub title: Option<String>,
    /// Number of parts.
    pub parts: usize,
    /// Measures of the first part.
    pub measures: usize,
    /// Sounding pitches: chord members and grace notes count; tie continuations, unpitched notes and chord symbols do not.
    pub notes: usize,
    /// Rests.
    pub rests: usize,
    /// Lyric syllables with text.
    pub lyrics: usize,
    /// The first key signature, in fifths (negative: flats).
    pub key_signature_fifths: Option<i8>,
    /// The tempo at the start, in quarter notes per minute (120 when the score sets none).
    pub tempo_bpm: f64,
    /// Playing time under the tempo changes, in seconds (repeats not expanded).
    pub duration_s: f64,
    /// What the reader repaired.
    pub warnings: Vec<String>,
}

/// Summarises a score (with the reader's repairs); fails only when its times overflow the tempo map.
pub fn score_info(score: &Score, warnings: Vec<String>) -> Result<ScoreInfo, WriteScoreError> {
    let s = stats(score);
    let t = timing(score).map_err(|e| WriteScoreError {
        code: e.code(),
        message: e.to_string(),
    })?;
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
