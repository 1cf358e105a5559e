//! Standard MIDI Files (SMF): [`read_midi`] and [`write_midi`].
//!
//! The byte format is implemented here rather than with a crate so that every
//! length is checked against the bytes left before it is used, every refusal
//! is a typed [`MidiError`] with a stable code, and the limits in
//! [`MidiOptions`] bound memory and time on untrusted files.
//!
//! See [`read`] for how a file becomes a [`Score`](crate::Score) and [`write`]
//! for how a score becomes a file (PPQ choice, tick rounding, channels).
//!
//! # Velocity and dynamics (both directions)
//! | mark | ppp | pp | p  | mp | mf | f  | ff  | fff |
//! |------|-----|----|----|----|----|----|-----|-----|
//! | vel  | 16  | 33 | 49 | 64 | 80 | 96 | 112 | 127 |
//!
//! A direction's `sound dynamics` (a percentage of velocity 90, as MusicXML
//! defines it) wins over its marks: velocity = round(dynamics × 90 / 100),
//! clamped to 1..=127. The default before any dynamics is mf (80). Reading
//! writes both the nearest mark and the exact `sound dynamics` (velocity ×
//! 100 / 90), so a read score writes back the same velocities.

pub mod read;
pub mod write;

pub use read::{read_midi, read_midi_with_options};
pub use write::{
    sounding_notes, timing, write_midi, write_midi_with_report, MidiWritten, PlayedNote, Timing,
};

/// Why a MIDI file could not be read or a score could not be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MidiError {
    /// The bytes are not a well-formed Standard MIDI File (truncated, bad lengths or events).
    #[error("invalid MIDI file at byte {offset}: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The byte offset in the input where it was found.
        offset: usize,
    },
    /// The input, or what it would build, is over a limit in [`MidiOptions`].
    #[error("MIDI file too large: more than {limit} {what}")]
    TooLarge {
        /// What was counted ("bytes", "tracks", "events", ...).
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A well-formed file of a kind not read (SMPTE time division, format 2).
    #[error("unsupported MIDI file: {message}")]
    Unsupported {
        /// What is not supported.
        message: String,
    },
    /// The score holds values a MIDI file cannot carry (overflowing times, too many tracks).
    #[error("the score cannot be written as MIDI: {message}")]
    Unwritable {
        /// What cannot be written.
        message: String,
    },
}

impl MidiError {
    /// The stable error code for API responses.
    pub fn code(&self) -> &'static str {
        match self {
            MidiError::Invalid { .. } => "INVALID_MIDI",
            MidiError::TooLarge { .. } => "MIDI_TOO_LARGE",
            MidiError::Unsupported { .. } => "MIDI_UNSUPPORTED",
            MidiError::Unwritable { .. } => "MIDI_UNWRITABLE",
        }
    }
}

/// Bounds on what [`read_midi_with_options`] accepts and builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MidiOptions {
    /// Largest input in bytes (16 MiB).
    pub max_bytes: usize,
    /// Most track chunks, declared or present (256).
    pub max_tracks: usize,
    /// Most events over all tracks (2,000,000).
    pub max_events: u64,
    /// Most measures in the score read (100,000).
    pub max_measures: usize,
    /// Most items (notes, rests, backups, directions) in the score read (1,000,000;
    /// an item is about 256 bytes, so this bounds the score near 300 MB).
    pub max_items: u64,
    /// Most warnings kept (one more says how many were dropped).
    pub max_warnings: usize,
}

impl Default for MidiOptions {
    fn default() -> Self {
        MidiOptions {
            max_bytes: 16 * 1024 * 1024,
            max_tracks: 256,
            max_events: 2_000_000,
            max_measures: 100_000,
            max_items: 1_000_000,
            max_warnings: 200,
        }
    }
}

/// Dynamics marks and the velocities they stand for, softest first.
pub(crate) const DYNAMICS: [(&str, u8); 8] = [
    ("ppp", 16),
    ("pp", 33),
    ("p", 49),
    ("mp", 64),
    ("mf", 80),
    ("f", 96),
    ("ff", 112),
    ("fff", 127),
];

/// The velocity before any dynamics (mf).
pub(crate) const DEFAULT_VELOCITY: u8 = 80;

/// The velocity a dynamics mark stands for, when it is one of [`DYNAMICS`].
pub(crate) fn mark_velocity(mark: &str) -> Option<u8> {
    DYNAMICS.iter().find(|(m, _)| *m == mark).map(|&(_, v)| v)
}

/// The nearest dynamics mark to a velocity (the softer one on a tie).
pub(crate) fn velocity_mark(velocity: u8) -> &'static str {
    let mut best = ("mf", u8::MAX);
    for &(mark, v) in &DYNAMICS {
        let d = v.abs_diff(velocity);
        if d < best.1 {
            best = (mark, d);
        }
    }
    best.0
}

/// Warnings with a cap, so a hostile file cannot grow the list without bound.
pub(crate) struct Warnings {
    list: Vec<String>,
    dropped: usize,
    max: usize,
}

impl Warnings {
    pub(crate) fn new(max: usize) -> Self {
        Warnings {
            list: Vec::new(),
            dropped: 0,
            max,
        }
    }

    pub(crate) fn push(&mut self, w: impl Into<String>) {
        if self.list.len() < self.max {
            self.list.push(w.into());
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn into_vec(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.list
                .push(format!("{} more warnings were dropped", self.dropped));
        }
        self.list
    }
}

/// General MIDI program names, program 0..=127.
pub(crate) const GM_PROGRAMS: [&str; 128] = [
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Electric Piano 1",
    "Electric Piano 2",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)",
    "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)",
    "Electric Guitar (clean)",
    "Electric Guitar (muted)",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Electric Bass (pick)",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    "Choir Aahs",
    "Voice Oohs",
    "Synth Voice",
    "Orchestra Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Blown Bottle",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Lead 1 (square)",
    "Lead 2 (sawtooth)",
    "Lead 3 (calliope)",
    "Lead 4 (chiff)",
    "Lead 5 (charang)",
    "Lead 6 (voice)",
    "Lead 7 (fifths)",
    "Lead 8 (bass + lead)",
    "Pad 1 (new age)",
    "Pad 2 (warm)",
    "Pad 3 (polysynth)",
    "Pad 4 (choir)",
    "Pad 5 (bowed)",
    "Pad 6 (metallic)",
    "Pad 7 (halo)",
    "Pad 8 (sweep)",
    "FX 1 (rain)",
    "FX 2 (soundtrack)",
    "FX 3 (crystal)",
    "FX 4 (atmosphere)",
    "FX 5 (brightness)",
    "FX 6 (goblins)",
    "FX 7 (echoes)",
    "FX 8 (sci-fi)",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gunshot",
];

/// General MIDI percussion key names, keys 35..=81 (channel 10).
pub(crate) const GM_PERCUSSION: [&str; 47] = [
    "Acoustic Bass Drum",
    "Bass Drum 1",
    "Side Stick",
    "Acoustic Snare",
    "Hand Clap",
    "Electric Snare",
    "Low Floor Tom",
    "Closed Hi-Hat",
    "High Floor Tom",
    "Pedal Hi-Hat",
    "Low Tom",
    "Open Hi-Hat",
    "Low-Mid Tom",
    "Hi-Mid Tom",
    "Crash Cymbal 1",
    "High Tom",
    "Ride Cymbal 1",
    "Chinese Cymbal",
    "Ride Bell",
    "Tambourine",
    "Splash Cymbal",
    "Cowbell",
    "Crash Cymbal 2",
    "Vibraslap",
    "Ride Cymbal 2",
    "Hi Bongo",
    "Low Bongo",
    "Mute Hi Conga",
    "Open Hi Conga",
    "Low Conga",
    "High Timbale",
    "Low Timbale",
    "High Agogo",
    "Low Agogo",
    "Cabasa",
    "Maracas",
    "Short Whistle",
    "Long Whistle",
    "Short Guiro",
    "Long Guiro",
    "Claves",
    "Hi Wood Block",
    "Low Wood Block",
    "Mute Cuica",
    "Open Cuica",
    "Mute Triangle",
    "Open Triangle",
];

/// The name of a General MIDI percussion key (channel 10), or "Percussion N".
pub(crate) fn percussion_name(key: u8) -> String {
    key.checked_sub(35)
        .and_then(|i| GM_PERCUSSION.get(usize::from(i)))
        .map_or_else(|| format!("Percussion {key}"), |s| (*s).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_velocities() {
        assert_eq!(mark_velocity("mf"), Some(80));
        assert_eq!(mark_velocity("sfz"), None);
        assert_eq!(velocity_mark(80), "mf");
        assert_eq!(velocity_mark(1), "ppp");
        assert_eq!(velocity_mark(127), "fff");
        // 41 is as near pp (33) as p (49): the softer wins.
        assert_eq!(velocity_mark(41), "pp");
        for &(m, v) in &DYNAMICS {
            assert_eq!(velocity_mark(v), m);
        }
        assert_eq!(GM_PROGRAMS[127], "Gunshot");
        assert_eq!(percussion_name(36), "Bass Drum 1");
        assert_eq!(percussion_name(81), "Open Triangle");
        assert_eq!(percussion_name(20), "Percussion 20");
    }

    #[test]
    fn codes() {
        let e = MidiError::TooLarge {
            what: "tracks",
            limit: 256,
        };
        assert_eq!(e.code(), "MIDI_TOO_LARGE");
        assert_eq!(e.to_string(), "MIDI file too large: more than 256 tracks");
    }
}
