//! The score model: what a score holds, independent of any file format.
//!
//! The shape follows MusicXML's partwise layout (parts of measures of timed
//! items in document order) because that is the richest format the readers
//! and writers exchange, but every time value is an exact [`Rational`] in
//! quarter lengths rather than MusicXML's per-file `divisions`, so writers can
//! choose their own resolution and MIDI export needs no rounding.
//!
//! JSON form: empty vectors, `None`, `false` and zero alters are left out so
//! the JSON stays small; `#[serde(default)]` brings them back, so
//! serialise → deserialise is exact. Unknown fields are refused so a typo in a
//! hand-written score is an error, not a silently dropped value. New optional
//! fields can be added later without breaking stored JSON.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rational::Rational;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i8(n: &i8) -> bool {
    *n == 0
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

fn one_u8() -> u8 {
    1
}

/// A whole score: metadata and parts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Score {
    /// The title (MusicXML work-title, else movement-title, else a title credit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The composer (MusicXML creator type="composer", else a composer credit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composer: Option<String>,
    /// The parts, top to bottom.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part (an instrument's line, possibly on several staves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// The part id, unique in the score (MusicXML `part/@id`).
    pub id: String,
    /// The displayed part name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The first instrument's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    /// Every instrument the part declares (percussion parts have many); MIDI export reads these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instruments: Vec<Instrument>,
    /// Staves the part uses (at least 1).
    #[serde(default = "one_u8")]
    pub staves: u8,
    /// The measures in order.
    #[serde(default)]
    pub measures: Vec<Measure>,
}

/// An instrument declared by a part, with its MIDI hints (1-based, as MusicXML writes them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// The instrument id that notes refer to (MusicXML `score-instrument/@id`).
    pub id: String,
    /// The instrument name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MIDI channel 1..=16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midi_channel: Option<u8>,
    /// MIDI program 1..=128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midi_program: Option<u8>,
    /// MIDI key for an unpitched (percussion) instrument, 1..=128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub midi_unpitched: Option<u8>,
}

/// One measure of one part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// The measure number as written (may be "1", "12a", "X1").
    pub number: String,
    /// Whether the measure is outside the bar count (a pickup or a split measure).
    #[serde(default, skip_serializing_if = "is_false")]
    pub implicit: bool,
    /// Attributes in force from the measure's start (changes later in the measure are items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// Timed content in document order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
    /// Barlines (left, right or mid-measure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub barlines: Vec<Barline>,
}

/// Key, time, clefs and staves (MusicXML `attributes`); only what is written is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    /// MusicXML divisions per quarter in force (kept for writers; durations are already quarters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisions: Option<u32>,
    /// The key signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    /// The time signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeSig>,
    /// Clefs, one per staff that changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clefs: Vec<Clef>,
    /// The number of staves from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staves: Option<u8>,
    /// Written-to-sounding transposition (a B-flat clarinet: diatonic -1, chromatic -2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transpose: Option<Transpose>,
}

/// A traditional key signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// Sharps (positive) or flats (negative).
    pub fifths: i8,
    /// "major", "minor", "dorian", ... when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A time signature, kept as text because MusicXML allows "3+2" beats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSig {
    /// The numerator as written ("4", "3+2").
    pub beats: String,
    /// The denominator as written ("4").
    pub beat_type: String,
    /// "common", "cut", ... when the signature is shown as a symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
}

/// A clef on one staff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clef {
    /// "G", "F", "C", "percussion", "TAB", "none".
    pub sign: String,
    /// The staff line the clef sits on (1 = bottom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i8>,
    /// The staff (1-based) when the part has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<u8>,
    /// Octave transposition of the clef (-1 for a tenor's treble-8 clef).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub octave_change: Option<i8>,
}

/// Written-to-sounding transposition: add these to written pitch to get sounding pitch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transpose {
    /// Steps on the staff.
    #[serde(default, skip_serializing_if = "is_zero_i8")]
    pub diatonic: i8,
    /// Semitones (within an octave, as MusicXML writes it).
    pub chromatic: i8,
    /// Whole octaves added.
    #[serde(default, skip_serializing_if = "is_zero_i8")]
    pub octave_change: i8,
}

/// One timed thing in a measure, in document order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A note, chord member or rest.
    Note(Note),
    /// Move the cursor back (to write another voice).
    Backup {
        /// Quarter lengths to move back.
        duration: Rational,
    },
    /// Move the cursor forward without sounding (an invisible rest).
    Forward {
        /// Quarter lengths to move forward.
        duration: Rational,
        /// The voice the gap belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
        /// The staff the gap belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staff: Option<u8>,
    },
    /// Dynamics, wedges, words, tempo and playback marks.
    Direction(Direction),
    /// A chord symbol (never sounding notes).
    Harmony(Harmony),
    /// An attribute change after the measure's first timed item (mid-measure clef, key or divisions).
    Attributes(Attributes),
}

/// A note letter name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Step {
    /// C
    C,
    /// D
    D,
    /// E
    E,
    /// F
    F,
    /// G
    G,
    /// A
    A,
    /// B
    B,
}

impl Step {
    /// The seven steps from C up.
    pub const ALL: [Step; 7] = [
        Step::C,
        Step::D,
        Step::E,
        Step::F,
        Step::G,
        Step::A,
        Step::B,
    ];

    /// Semitones above C.
    pub const fn semitone(self) -> i32 {
        match self {
            Step::C => 0,
            Step::D => 2,
            Step::E => 4,
            Step::F => 5,
            Step::G => 7,
            Step::A => 9,
            Step::B => 11,
        }
    }

    /// Parses an upper-case letter A..G.
    pub fn from_letter(s: &str) -> Option<Step> {
        Some(match s {
            "C" => Step::C,
            "D" => Step::D,
            "E" => Step::E,
            "F" => Step::F,
            "G" => Step::G,
            "A" => Step::A,
            "B" => Step::B,
            _ => return None,
        })
    }
}

/// A written pitch (MusicXML `pitch`; octave 4 starts at middle C); a part's `transpose` turns it into the sounding one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pitch {
    /// The letter.
    pub step: Step,
    /// Chromatic alteration in semitones (-1 flat, 1 sharp); microtones are not kept yet.
    #[serde(default, skip_serializing_if = "is_zero_i8")]
    pub alter: i8,
    /// The octave (0..=9).
    pub octave: i8,
}

impl Pitch {
    /// The MIDI key number (C4 = 60); may fall outside 0..=127 for extreme pitches.
    pub fn midi(&self) -> i32 {
        (i32::from(self.octave) + 1) * 12 + self.step.semitone() + i32::from(self.alter)
    }
}

/// A percussion note's staff position and instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unpitched {
    /// The displayed step (absent: middle line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_step: Option<Step>,
    /// The displayed octave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_octave: Option<i8>,
    /// The id of the part instrument it plays (see [`Part::instruments`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
}

/// Whether a tie starts or ends at a note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TieType {
    /// Tied to the next note.
    Start,
    /// Tied from the previous note (does not sound again).
    Stop,
}

/// Tuplet ratio: `actual` notes in the time of `normal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeModification {
    /// Notes played (3 for a triplet).
    pub actual: u32,
    /// In the time of (2 for a triplet).
    pub normal: u32,
}

/// A syllable's place in its word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Syllabic {
    /// A one-syllable word.
    Single,
    /// The first syllable.
    Begin,
    /// An inner syllable.
    Middle,
    /// The last syllable.
    End,
}

/// One lyric syllable under a note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lyric {
    /// The verse (MusicXML lyric `number`, "1" when absent).
    pub verse: String,
    /// The syllable text (elided syllables joined with "‿").
    pub text: String,
    /// Where the syllable sits in its word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syllabic: Option<Syllabic>,
    /// Whether a melisma line extends from it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub extend: bool,
}

/// A note, chord member or rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// The pitch of a pitched note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitch: Option<Pitch>,
    /// The position of a percussion note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpitched: Option<Unpitched>,
    /// Whether this is a rest.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rest: bool,
    /// Whether the rest fills the whole measure.
    #[serde(default, skip_serializing_if = "is_false")]
    pub measure_rest: bool,
    /// Sounding length in quarter lengths (0 for grace notes).
    pub duration: Rational,
    /// Whether it shares the previous note's onset (a chord member after the first).
    #[serde(default, skip_serializing_if = "is_false")]
    pub chord: bool,
    /// Whether it is a grace note (takes no time).
    #[serde(default, skip_serializing_if = "is_false")]
    pub grace: bool,
    /// Whether it is a cue note (shown small, not played).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cue: bool,
    /// The voice as written ("1", "2", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// The staff (1-based) in a multi-staff part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<u8>,
    /// The written value ("quarter", "eighth", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_type: Option<String>,
    /// Augmentation dots.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub dots: u8,
    /// Ties starting or ending here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ties: Vec<TieType>,
    /// The tuplet ratio this note is played in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuplet: Option<TimeModification>,
    /// Lyric syllables, one per verse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lyrics: Vec<Lyric>,
    /// Articulation names ("staccato", "accent", ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub articulations: Vec<String>,
    /// Whether a fermata is on the note.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fermata: bool,
    /// Dynamics marks attached to the note ("sfz", "fp").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamics: Vec<String>,
}

impl Note {
    /// Whether it is tied from the previous note, so it does not start a new sound.
    pub fn is_tie_continuation(&self) -> bool {
        self.ties.contains(&TieType::Stop)
    }
}

/// A direction: marks above or below the staff and playback settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Direction {
    /// What the direction shows, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<DirectionKind>,
    /// "above" or "below".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    /// The staff it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<u8>,
    /// The voice it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// Quarter lengths after the current position where it takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Rational>,
    /// Playback values (tempo, dynamics, jumps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<Sound>,
}

/// One displayed element of a direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DirectionKind {
    /// Dynamics marks ("p", "mf", "sfz"; other-dynamics text as written).
    Dynamics {
        /// The marks in order.
        marks: Vec<String>,
    },
    /// A hairpin.
    Wedge {
        /// What the wedge does here.
        wedge: WedgeType,
    },
    /// Text such as "dolce" or "rit.".
    Words {
        /// The text as written.
        text: String,
    },
    /// A rehearsal mark ("A").
    Rehearsal {
        /// The mark as written.
        text: String,
    },
    /// A metronome mark.
    Metronome {
        /// The beat unit ("quarter").
        beat_unit: String,
        /// Dots on the beat unit.
        #[serde(default, skip_serializing_if = "is_zero_u8")]
        dots: u8,
        /// Beats per minute as written (may be "c. 120").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        per_minute: Option<String>,
    },
    /// A segno sign.
    Segno,
    /// A coda sign.
    Coda,
    /// A direction type the model does not hold yet, by element name.
    Other {
        /// The MusicXML element name.
        name: String,
    },
}

/// What a wedge does at this point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WedgeType {
    /// A crescendo hairpin starts.
    Crescendo,
    /// A diminuendo hairpin starts.
    Diminuendo,
    /// The hairpin ends.
    Stop,
    /// The hairpin continues across a system break.
    Continue,
}

/// Playback values (MusicXML `sound`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sound {
    /// Quarter notes per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tempo: Option<Rational>,
    /// Loudness as a percentage of MIDI velocity 90.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamics: Option<Rational>,
    /// Jump back to the start.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dacapo: bool,
    /// The end after a jump.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fine: bool,
    /// A segno target's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segno: Option<String>,
    /// Jump back to the named segno.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dalsegno: Option<String>,
    /// A coda target's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coda: Option<String>,
    /// Jump to the named coda.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tocoda: Option<String>,
}

/// A chord symbol such as "Cm7/B♭" (never sounding notes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Harmony {
    /// The root letter (absent for "N.C." or functional symbols).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_step: Option<Step>,
    /// The root's alteration in semitones.
    #[serde(default, skip_serializing_if = "is_zero_i8")]
    pub root_alter: i8,
    /// The MusicXML kind value ("major", "minor-seventh", "none").
    pub kind: String,
    /// The bass letter of a slash chord.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bass_step: Option<Step>,
    /// The bass's alteration in semitones.
    #[serde(default, skip_serializing_if = "is_zero_i8")]
    pub bass_alter: i8,
    /// The displayed kind text ("m7", "maj7") when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The staff it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<u8>,
    /// Quarter lengths after the current position where it takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Rational>,
}

/// Where a barline sits in its measure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BarlineLocation {
    /// At the start.
    Left,
    /// At the end (MusicXML's default).
    #[default]
    Right,
    /// Inside the measure.
    Middle,
}

/// Which way a repeat sign points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepeatDirection {
    /// Start of a repeated section.
    Forward,
    /// End of a repeated section (jump back).
    Backward,
}

/// What an ending bracket does at this barline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndingKind {
    /// The bracket starts.
    Start,
    /// The bracket ends with a downward jog.
    Stop,
    /// The bracket ends without a jog.
    Discontinue,
}

/// A volta bracket ("1.", "2.").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ending {
    /// The passes it applies to ("1", "1, 2").
    pub number: String,
    /// Start, stop or discontinue.
    pub kind: EndingKind,
    /// The displayed text when it differs from the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A barline with its style, repeat and ending.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Barline {
    /// Where in the measure.
    #[serde(default)]
    pub location: BarlineLocation,
    /// The MusicXML bar-style ("light-heavy", "heavy-light", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// A repeat sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<RepeatDirection>,
    /// How many times a backward repeat is played in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// A volta bracket start or end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
}

/// Note values by `<type>` name, longest first, as quarter lengths `(name, numerator, denominator)`.
pub(crate) const NOTE_TYPES: [(&str, i64, i64); 10] = [
    ("breve", 8, 1),
    ("whole", 4, 1),
    ("half", 2, 1),
    ("quarter", 1, 1),
    ("eighth", 1, 2),
    ("16th", 1, 4),
    ("32nd", 1, 8),
    ("64th", 1, 16),
    ("128th", 1, 32),
    ("256th", 1, 64),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_numbers() {
        let p = |step, alter, octave| Pitch {
            step,
            alter,
            octave,
        };
        assert_eq!(p(Step::C, 0, 4).midi(), 60);
        assert_eq!(p(Step::A, 0, 4).midi(), 69);
        assert_eq!(p(Step::B, 1, 3).midi(), 60);
        assert_eq!(p(Step::C, -1, 4).midi(), 59);
        assert_eq!(p(Step::C, 0, 0).midi(), 12);
        assert_eq!(p(Step::G, 0, 9).midi(), 127);
    }

    #[test]
    fn json_skips_defaults_and_refuses_unknown_fields() {
        let note = Note {
            pitch: Some(Pitch {
                step: Step::E,
                alter: -1,
                octave: 5,
            }),
            duration: Rational::new(1, 3).unwrap(),
            ..Note::default()
        };
        let json = serde_json::to_string(&Item::Note(note.clone())).unwrap();
        assert_eq!(
            json,
            r#"{"type":"note","pitch":{"step":"E","alter":-1,"octave":5},"duration":"1/3"}"#
        );
        assert_eq!(
            serde_json::from_str::<Item>(&json).unwrap(),
            Item::Note(note)
        );
        let typo = r#"{"type":"note","duration":"1","chrod":true}"#;
        assert!(serde_json::from_str::<Item>(typo).is_err());
    }
}
