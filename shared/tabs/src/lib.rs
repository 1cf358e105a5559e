//! Coda's tablature for fretted instruments: guitars in any tuning (standard, drop D,
//! DADGAD, open G, or any list of pitches), with a capo, 4 to 12 strings (a bass is 4), and
//! fingering by a Viterbi path over each note's (string, fret) choices.
//!
//! - [`instrument`]: [`Instrument`], tunings ([`instrument::TUNINGS`]) and the capo.
//! - [`fingering`]: [`fingering()`] (the least-cost path), [`greedy`] (the lowest-fret
//!   baseline), [`position_shifts`] (how often the hand moves).
//! - [`ascii`]: `tab.txt` ([`ascii_tab`]).
//! - [`musicxml`]: `tab.musicxml`, a TAB staff with the tuning, capo, strings and frets
//!   ([`tab_musicxml`]).
//! - [`alphatex`]: `tab.alphatex`, for alphaTab-based viewers ([`tab_alphatex`]).
//!
//! The tab's JSON form (`tab.json`) is [`Tab`] serialized: each note's `start_s`, `end_s`,
//! `pitch_midi`, `string` (1 = the highest-pitched, as MusicXML numbers them) and `fret`.

#![warn(missing_docs)]

pub mod alphatex;
pub mod ascii;
pub mod fingering;
pub mod instrument;
pub mod musicxml;

pub use alphatex::tab_alphatex;
pub use ascii::ascii_tab;
pub use fingering::{fingering, greedy, position_shifts, Costs, Tab, TabNote, MAX_SPAN};
pub use instrument::Instrument;
pub use musicxml::{tab_musicxml, Meter};

/// What stops a tab.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TabError {
    /// The tuning, strings, frets or capo do not make an instrument.
    #[error("{0}")]
    Tuning(String),
}
