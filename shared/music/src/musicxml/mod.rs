//! MusicXML: the reader now; the writer comes later.
//!
//! MusicXML 1.0–4.0, uncompressed, `score-partwise` or `score-timewise`.
//! See [`read`] for what is read, what is repaired and what is refused.

pub mod read;

pub use read::{read_musicxml, read_musicxml_with_limits, Parsed, ReadLimits, MAX_QUARTERS};
