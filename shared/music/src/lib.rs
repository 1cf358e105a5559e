//! Coda's music notation crate: an exact score model and format readers.
//!
//! - [`model`]: the [`Score`] model (parts, measures, notes, directions,
//!   chord symbols, barlines), serde- and JSON-Schema-ready.
//! - [`rational`]: [`Rational`], the exact fractions all durations use
//!   (quarter lengths), so triplets and tuplets never drift.
//! - [`musicxml`]: a hardened MusicXML reader ([`read_musicxml`]) and a
//!   MusicXML 4.0 writer whose output reads back equal ([`write_musicxml`]).
//!   Compressed `.mxl` is read and written by [`read_mxl`] and [`write_mxl`].
//! - [`detect`]: [`read_score`] reads MusicXML, `.mxl` or MIDI, told apart by magic bytes.
//! - [`midi`]: Standard MIDI File reading and writing ([`read_midi`], [`write_midi`]).
//! - [`formats`]: [`FileFormat`] by name or extension, [`read_score_file`], [`write_score`], [`score_info`].
//! - [`edit`]: the score edits ([`Edit`], [`parse_edits`], [`apply_edits`]) and
//!   [`ScoreHistory`] for undo and redo.
//! - [`repeats`]: [`expand_repeats`] plays repeats, endings and D.C./D.S. jumps out in order.
//! - [`melody`]: [`sung_line`], one part's voice with one verse's syllables, timed, for singing.
//! - [`mod@stats`]: summary counts ([`stats()`]).
//!
//! The crate works on bytes and values only: no I/O, no async runtime.

#![warn(missing_docs)]

pub mod detect;
pub mod edit;
pub mod error;
pub mod formats;
pub mod melody;
pub mod midi;
pub mod model;
pub mod musicxml;
pub mod rational;
pub mod repeats;
pub mod stats;

pub use detect::{read_score, ReadScoreError, ScoreFormat};
pub use edit::{
    apply_edits, edit_json_schema, parse_edits, DynamicLevel, Edit, EditError, Fraction, Interval,
    NoteSpec, PitchName, Revision, ScoreHistory, Span, EDIT_OPS,
};
pub use error::{Location, ScoreError};
pub use formats::{
    read_score_file, score_info, write_score, FileFormat, ReadFileError, ScoreInfo, WriteScoreError,
};
pub use melody::{sung_line, MelodyError, SungLine, SungLyric, SungNote};
pub use midi::{
    read_midi, read_midi_with_options, sounding_notes, timing, write_midi, write_midi_with_report,
    MidiError, MidiOptions, MidiWritten, PlayedNote, Timing,
};
pub use model::*;
pub use musicxml::{
    read_musicxml, read_musicxml_with_limits, read_mxl, read_mxl_with_limits, write_musicxml,
    write_mxl, Parsed, ReadLimits, WriteError, MAX_DIVISIONS, MAX_MXL_ENTRIES, MAX_QUARTERS,
    MXL_MIMETYPE, MXL_SCORE_NAME,
};
pub use rational::{Rational, RationalError};
pub use repeats::{expand_repeats, play_order, RepeatError, MAX_EXPANDED_MEASURES};
pub use stats::{stats, ScoreStats};

/// The JSON Schema (draft 2020-12) of [`Score`], for API documentation and validation.
pub fn score_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Score);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
