//! Errors from reading scores, each with a stable code for API responses.

use std::fmt;

/// Where in a score a problem is: part and measure for meaning, line and column for text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The part id, when inside a part.
    pub part: Option<String>,
    /// The measure number, when inside a measure.
    pub measure: Option<String>,
    /// 1-based line in the decoded text.
    pub line: Option<u64>,
    /// 1-based column (in characters) in the decoded text.
    pub column: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(part) = &self.part {
            write!(f, " in part {part:?}")?;
        }
        if let Some(measure) = &self.measure {
            write!(f, " measure {measure:?}")?;
        }
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " at line {line}, column {column}")?;
        }
        Ok(())
    }
}

/// Why a score could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// The XML itself is malformed (or truncated).
    #[error("malformed XML at line {line}, column {column}: {message}")]
    Xml {
        /// What the XML parser found.
        message: String,
        /// 1-based line.
        line: u64,
        /// 1-based column (characters).
        column: u64,
    },
    /// The XML is well formed but is not a usable score (absurd or missing values).
    #[error("invalid score{at}: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Where it is.
        at: Location,
    },
    /// Elements nest deeper than the limit.
    #[error("elements nest deeper than {limit} levels at line {line}, column {column}")]
    TooDeep {
        /// The depth limit.
        limit: usize,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
    },
    /// The input or its element count is over a limit.
    #[error("score too large: more than {limit} {what}")]
    TooLarge {
        /// What was counted ("bytes", "elements").
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The DOCTYPE declares entities; they are refused, never expanded.
    #[error(
        "the DOCTYPE declares entities (refused, never expanded) at line {line}, column {column}"
    )]
    Entity {
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
    },
    /// A compressed MusicXML (.mxl) archive over a limit (entries or declared or inflated size).
    #[error("compressed MusicXML too large: {message}")]
    MxlTooLarge {
        /// Which limit, and by how much.
        message: String,
    },
    /// A compressed MusicXML (.mxl) archive that is corrupt, unsafe or not a score container.
    #[error("invalid compressed MusicXML (.mxl): {message}")]
    InvalidMxl {
        /// What is wrong.
        message: String,
    },
    /// A well-formed input of a kind not read yet (opus), or a ZIP given to the plain MusicXML reader.
    #[error("unsupported score format: {message}")]
    Unsupported {
        /// What is not supported.
        message: String,
    },
}

impl ScoreError {
    /// The stable error code for API responses.
    pub fn code(&self) -> &'static str {
        match self {
            ScoreError::Xml { .. } => "INVALID_SCORE",
            ScoreError::Invalid { .. } => "INVALID_SCORE",
            ScoreError::TooDeep { .. } => "SCORE_TOO_DEEP",
            ScoreError::TooLarge { .. } => "SCORE_TOO_LARGE",
            ScoreError::Entity { .. } => "SCORE_ENTITY",
            ScoreError::MxlTooLarge { .. } => "MXL_TOO_LARGE",
            ScoreError::InvalidMxl { .. } => "INVALID_MXL",
            ScoreError::Unsupported { .. } => "SCORE_UNSUPPORTED",
        }
    }
}
