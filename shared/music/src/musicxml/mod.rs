//! MusicXML: the reader and the writer.
//!
//! The reader takes MusicXML 1.0–4.0, uncompressed, `score-partwise` or
//! `score-timewise`; see [`read`] for what is read, what is repaired and what
//! is refused. The writer produces MusicXML 4.0 `score-partwise` that reads
//! back as the same score; see [`write`] for how divisions are chosen and
//! what the round trip keeps.

pub mod read;
pub mod write;

pub use read::{read_musicxml, read_musicxml_with_limits, Parsed, ReadLimits, MAX_QUARTERS};
pub use write::{write_musicxml, WriteError, MAX_DIVISIONS};
