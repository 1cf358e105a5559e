//! Coda's music theory on notes, pure and synchronous: what the analysis and tab jobs compute
//! from a score or from transcribed notes.
//!
//! - [`analysis`]: `analysis.json` ([`Analysis`]) and a score's analysis ([`analyze_score`]).
//! - [`chords`]: chord recognition (nine qualities, inversions, no-chord) from treble and bass
//!   chroma with Viterbi smoothing, Harte labels and display names; frames from a score's beats.
//! - [`key`]: key finding by correlation with six published key profiles ([`KeyProfile`]),
//!   with confidence, runner-up keys and keys over time ([`key_segments`]).
//! - [`notes`]: [`TimedNote`], the input every analysis takes, from a score
//!   ([`notes_of_score`]) or from transcription, and the duration-weighted pitch-class
//!   histogram ([`pitch_class_histogram`]; [`key_histogram`] weights the ending, as key
//!   finding reads it).

#![warn(missing_docs)]

pub mod analysis;
pub mod chords;
pub mod key;
pub mod notes;

pub use analysis::{analyze_score, Analysis, AnalysisOptions};
pub use chords::{
    decode_chords, score_chord_frames, Chord, ChordOptions, ChordSpan, ChromaFrame, Quality,
    Spelling,
};
pub use key::{
    estimate_key, key_segments, key_segments_by, Key, KeyCandidate, KeyEstimate, KeyProfile,
    KeySegment, Mode, SegmentOptions,
};
pub use notes::{
    key_histogram, notes_and_timing, notes_of_score, pitch_class_histogram, EndingWeight, TimedNote,
};
