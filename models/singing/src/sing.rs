//! The singing chain for the built-in voice: a score's line → phonemes on
//! notes → f0, energy and breathiness → samples. Each step is public so the
//! tools can run it alone; [`plan`] and [`BuiltinVoice::render`] are the chain.

use coda_music::{sung_line, MelodyError, Score, SungLine};
use coda_vocal::align::{AlignError, Alignment};
use coda_vocal::curves::{dynamics_curves, f0_curve, Dynamics, Expression, PitchStyle};
use coda_vocal::g2p::Dictionary;
use coda_vocal::phonemize::Lexicon;
use coda_vocal::tools::align_line;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::formant::RANGE;

/// What to sing and how.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SingOptions {
    /// The part, counted from 0.
    pub part_index: usize,
    /// The verse (MusicXML lyric number); default 1, else the first the part has.
    pub verse: Option<String>,
    /// Expression values.
    pub expression: Expression,
    /// Pitch movement: vibrato, portamento, overshoot, preparation.
    pub pitch: PitchStyle,
}

/// Everything the voice needs, made from the score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// The part's line.
    pub line: SungLine,
    /// Phonemes on notes.
    pub alignment: Alignment,
    /// f0 in Hz per frame.
    pub f0: Vec<f32>,
    /// Energy and breathiness per frame.
    pub dynamics: Dynamics,
    /// What the user should know: fallback words, notes out of range, silence.
    pub warnings: Vec<String>,
}

/// Why a score cannot be sung.
#[derive(Debug, thiserror::Error)]
pub enum SingError {
    /// The part or verse does not exist, or the score cannot be timed.
    #[error(transparent)]
    Melody(#[from] MelodyError),
    /// The phonemes cannot be placed.
    #[error(transparent)]
    Align(#[from] AlignError),
    /// An expression or pitch value is out of range.
    #[error("{field} must be {range}")]
    OutOfRange {
        /// The parameter.
        field: &'static str,
        /// Its range.
        range: &'static str,
    },
}

impl SingError {
    /// The parameter at fault, for `details.field`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SingError::Melody(MelodyError::NoSuchPart { .. }) => Some("part"),
            SingError::Melody(MelodyError::NoSuchVerse { .. }) => Some("verse"),
            SingError::OutOfRange { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// The note name of a MIDI key ("C4" = 60).
pub fn note_name(midi: i32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!(
        "{}{}",
        NAMES[midi.rem_euclid(12) as usize],
        midi.div_euclid(12) - 1
    )
}

/// Checks the options' ranges.
pub fn check_options(options: &SingOptions) -> Result<(), SingError> {
    options
        .expression
        .check()
        .and_then(|()| options.pitch.check())
        .map_err(|(field, range)| SingError::OutOfRange { field, range })
}

/// Warnings for notes outside `range` (MIDI keys, inclusive).
pub fn range_warnings(line: &SungLine, range: (i32, i32), voice: &str) -> Vec<String> {
    let outside: Vec<i32> = line
        .notes
        .iter()
        .filter_map(|n| n.midi)
        .filter(|&k| k < range.0 || k > range.1)
        .collect();
    if outside.is_empty() {
        return Vec::new();
    }
    let lo = outside.iter().min().copied().unwrap_or(range.0);
    let hi = outside.iter().max().copied().unwrap_or(range.1);
    vec![format!(
        "{} note(s) are outside {voice}'s range ({}–{}), from {} to {}: they are sung anyway",
        outside.len(),
        note_name(range.0),
        note_name(range.1),
        note_name(lo),
        note_name(hi)
    )]
}

/// Part `options.part_index` of `score`, planned for the built-in voice with the CMU dictionary.
pub fn plan(
    score: &Score,
    dictionary: &Dictionary,
    options: &SingOptions,
) -> Result<Plan, SingError> {
    check_options(options)?;
    let line = sung_line(score, options.part_index, options.verse.as_deref())?;
    let lexicon = Lexicon {
        dictionary,
        voicebank: None,
        phoneme_ids: None,
        language: None,
    };
    let alignment = align_line(&line, &lexicon)?;
    Ok(finish(
        line,
        alignment,
        options,
        RANGE,
        "the built-in voice",
    ))
}

/// The curves and warnings of a plan whose alignment is made.
pub fn finish(
    line: SungLine,
    alignment: Alignment,
    options: &SingOptions,
    range: (i32, i32),
    voice: &str,
) -> Plan {
    let mut warnings = line.warnings.clone();
    if line.is_silent() {
        warnings.push(format!(
            "part {} ({}) has no notes to sing: the render is silence",
            options.part_index,
            line.part_name.as_deref().unwrap_or(&line.part_id)
        ));
    } else if !line.notes.iter().any(|n| n.lyric.is_some()) {
        warnings.push("the part has no lyrics: every note is sung on \"a\"".into());
    }
    warnings.extend(range_warnings(&line, range, voice));
    warnings.extend(alignment.warnings.iter().cloned());
    let f0 = f0_curve(&alignment, &options.pitch);
    let dynamics = dynamics_curves(&alignment, &options.expression);
    Plan {
        line,
        alignment,
        f0,
        dynamics,
        warnings,
    }
}
