//! MusicXML: the reader and the writer.
//!
//! The reader takes MusicXML 1.0–4.0, uncompressed (compressed `.mxl` through
//! [`mxl`]), `score-partwise` or
//! `score-timewise`; see [`read`] for what is read, what is repaired and what
//! is refused. The writer produces MusicXML 4.0 `score-partwise` that reads
//! back as the same score; see [`write`] for how divisions are chosen and
//! what the round trip keeps.

pub mod mxl;
pub mod read;
pub mod write;

pub use mxl::{
    read_mxl, read_mxl_with_limits, write_mxl, MAX_MXL_ENTRIES, MXL_MIMETYPE, MXL_SCORE_NAME,
};
pub use read::{read_musicxml, read_musicxml_with_limits, Parsed, ReadLimits, MAX_QUARTERS};
pub use write::{write_musicxml, WriteError, MAX_DIVISIONS};
