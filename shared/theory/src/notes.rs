//! Timed notes, the input of every analysis, and their pitch-class histogram.

use coda_music::{sounding_notes, MidiError, Score};
use serde::{Deserialize, Serialize};

/// One sounding note: when, and which MIDI key.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedNote {
    /// Onset in seconds.
    pub start_s: f64,
    /// End in seconds.
    pub end_s: f64,
    /// The MIDI key (60 = middle C).
    pub pitch_midi: u8,
}

impl TimedNote {
    /// Its length in seconds (never negative).
    pub fn length(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0)
    }
}

/// The pitched notes `score` sounds (ties merged, grace notes and percussion left out), timed
/// under its tempo marks (120 per quarter where it has none).
pub fn notes_of_score(score: &Score) -> Result<Vec<TimedNote>, MidiError> {
    Ok(notes_and_timing(score)?.0)
}

/// [`notes_of_score`] with the tempo map they were timed under.
pub fn notes_and_timing(score: &Score) -> Result<(Vec<TimedNote>, coda_music::Timing), MidiError> {
    let (played, timing) = sounding_notes(score)?;
    let notes = played
        .into_iter()
        .filter(|n| !n.percussion)
        .map(|n| TimedNote {
            start_s: n.on_s,
            end_s: n.end_s,
            pitch_midi: n.key,
        })
        .collect();
    Ok((notes, timing))
}

/// Each pitch class's total sounding time (index 0 = C), from the part of each note inside
/// `[from, to)` seconds (`None`: everything).
pub fn pitch_class_histogram(notes: &[TimedNote], span: Option<(f64, f64)>) -> [f64; 12] {
    let mut h = [0.0; 12];
    for n in notes {
        let length = match span {
            None => n.length(),
            Some((from, to)) => (n.end_s.min(to) - n.start_s.max(from)).max(0.0),
        };
        if length.is_finite() {
            h[usize::from(n.pitch_midi % 12)] += length;
        }
    }
    h
}

/// How much a piece's ending counts in its key histogram: cadences close in the key, so the
/// notes that end in the last `fraction` of the music count `weight` times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EndingWeight {
    /// The share of the music's span that is its ending (0..=1).
    pub fraction: f64,
    /// How many times its notes count.
    pub weight: f64,
}

impl EndingWeight {
    /// Every note counts the same.
    pub const NONE: EndingWeight = EndingWeight {
        fraction: 0.0,
        weight: 1.0,
    };
}

impl Default for EndingWeight {
    /// The last 5 % counts 4 times (chosen on the music21 corpus; see the README's analysis
    /// section for the figures with and without it).
    fn default() -> Self {
        EndingWeight {
            fraction: 0.05,
            weight: 4.0,
        }
    }
}

/// The histogram key finding reads: [`pitch_class_histogram`] with the ending weighted.
pub fn key_histogram(notes: &[TimedNote], ending: EndingWeight) -> [f64; 12] {
    let first = notes
        .iter()
        .map(|n| n.start_s)
        .fold(f64::INFINITY, f64::min);
    let last = notes
        .iter()
        .map(|n| n.end_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let fraction = if ending.fraction.is_finite() {
        ending.fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let weight = if ending.weight.is_finite() && ending.weight > 0.0 {
        ending.weight
    } else {
        1.0
    };
    let from = last - (last - first) * fraction;
    let mut h = [0.0; 12];
    for n in notes {
        let w = if fraction > 0.0 && n.end_s >= from {
            weight
        } else {
            1.0
        };
        let length = n.length() * w;
        if length.is_finite() {
            h[usize::from(n.pitch_midi % 12)] += length;
        }
    }
    h
}
