//! Reading a score of any supported format, told apart by its first bytes.

use crate::error::ScoreError;
use crate::midi::{read_midi, MidiError};
use crate::musicxml::{read_musicxml, read_mxl, Parsed};

/// The formats [`read_score`] tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreFormat {
    /// Uncompressed MusicXML text.
    MusicXml,
    /// Compressed MusicXML (a ZIP archive).
    Mxl,
    /// A Standard MIDI File.
    Midi,
}

impl ScoreFormat {
    /// Guesses the format from the magic bytes: `PK` ZIP headers, `MThd`, else MusicXML.
    pub fn detect(bytes: &[u8]) -> ScoreFormat {
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            ScoreFormat::Mxl
        } else if bytes.starts_with(b"MThd") {
            ScoreFormat::Midi
        } else {
            ScoreFormat::MusicXml
        }
    }
}

/// Why [`read_score`] could not read a score: the error of the reader it chose.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadScoreError {
    /// From the MusicXML or `.mxl` reader.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// From the MIDI reader.
    #[error(transparent)]
    Midi(#[from] MidiError),
}

impl ReadScoreError {
    /// The stable error code of the underlying error.
    pub fn code(&self) -> &'static str {
        match self {
            ReadScoreError::Score(e) => e.code(),
            ReadScoreError::Midi(e) => e.code(),
        }
    }
}

/// Reads MusicXML, compressed `.mxl` or MIDI with the default limits, chosen by magic bytes.
pub fn read_score(bytes: &[u8]) -> Result<Parsed, ReadScoreError> {
    Ok(match ScoreFormat::detect(bytes) {
        ScoreFormat::Mxl => read_mxl(bytes)?,
        ScoreFormat::Midi => read_midi(bytes)?,
        ScoreFormat::MusicXml => read_musicxml(bytes)?,
    })
}
