//! The phrase a voicebank sings: phonemes with frame durations, the notes
//! they sit on, and the f0 and variance curves, all at the voicebank's frame
//! rate (`sample_rate / hop_size`), without the head and tail padding the
//! runs add themselves.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most frames one phrase may have (about 5.8 minutes at 44.1 kHz / 512).
pub const MAX_FRAMES: usize = 30_000;
/// The most phonemes one phrase may have.
pub const MAX_PHONEMES: usize = 4_096;
/// The most notes one phrase may have.
pub const MAX_NOTES: usize = 4_096;
/// The highest f0 accepted, Hz.
pub const MAX_F0_HZ: f32 = 20_000.0;

/// One note of the phrase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DsNote {
    /// Pitch as a MIDI note number (fractional allowed), 0 to 127.
    pub midi: f32,
    /// Length in frames (> 0); the notes tile the phrase.
    pub frames: u32,
    /// A rest: no vowel is sung on it (the pitch predictor's `note_rest`).
    pub rest: bool,
}

/// Per-frame variance curves, in the units the acoustic model takes (as the variance predictor makes them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DsVariance {
    /// `energy` per frame.
    pub energy: Option<Vec<f32>>,
    /// `breathiness` per frame.
    pub breathiness: Option<Vec<f32>>,
    /// `voicing` per frame.
    pub voicing: Option<Vec<f32>>,
    /// `tension` per frame.
    pub tension: Option<Vec<f32>>,
}

impl DsVariance {
    pub(crate) fn get(&self, name: &str) -> Option<&Vec<f32>> {
        match name {
            "energy" => self.energy.as_ref(),
            "breathiness" => self.breathiness.as_ref(),
            "voicing" => self.voicing.as_ref(),
            "tension" => self.tension.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn set(&mut self, name: &str, curve: Vec<f32>) {
        match name {
            "energy" => self.energy = Some(curve),
            "breathiness" => self.breathiness = Some(curve),
            "voicing" => self.voicing = Some(curve),
            "tension" => self.tension = Some(curve),
            _ => {}
        }
    }

    fn curves(&self) -> [(&'static str, Option<&Vec<f32>>); 4] {
        [
            ("variance.energy", self.energy.as_ref()),
            ("variance.breathiness", self.breathiness.as_ref()),
            ("variance.voicing", self.voicing.as_ref()),
            ("variance.tension", self.tension.as_ref()),
        ]
    }
}

/// Phrase-wide expression and sampling settings; the defaults are OpenUtau's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DsExpression {
    /// The acoustic model's `gender` (key-shift embedding), −1 to 1: 1 shifts the formants up by the
    /// model's largest trained key shift, −1 down by its largest downward one; 0 by default.
    pub gender: f32,
    /// The acoustic model's `velocity` (speed embedding): consonant speed, 0.5 to 2; 1 by default.
    pub velocity: f32,
    /// The pitch predictor's `expr` (pitch expressiveness), 0 to 1; 1 by default.
    pub expressiveness: f32,
    /// The speaker of a multi-speaker voicebank (a `speakers` entry, or its last path component); the first by default.
    pub speaker: Option<String>,
    /// Acoustic diffusion steps, 1 to 1000; 20 by default (OpenUtau's `DiffSingerSteps`).
    pub steps: Option<u32>,
    /// Pitch predictor steps; 10 by default (`DiffSingerStepsPitch`).
    pub pitch_steps: Option<u32>,
    /// Variance predictor steps; 20 by default (`DiffSingerStepsVariance`).
    pub variance_steps: Option<u32>,
    /// Shallow-diffusion depth, 0 to 1, capped at the model's `max_depth`; 1 by default (`DiffSingerDepth`).
    pub depth: Option<f32>,
}

impl Default for DsExpression {
    fn default() -> Self {
        DsExpression {
            gender: 0.0,
            velocity: 1.0,
            expressiveness: 1.0,
            speaker: None,
            steps: None,
            pitch_steps: None,
            variance_steps: None,
            depth: None,
        }
    }
}

/// One phrase, as the acoustic model and the predictors see it once padded.
///
/// Frames are the voicebank's (`sample_rate / hop_size`, see
/// `Voicebank::frame_rate`). The runs add OpenUtau's padding themselves: an
/// `SP` of 100 ms before and after (`headMs`, `tailMs`), with the curves
/// extended by their first and last values.
///
/// `word_div` and `word_dur` are DiffSinger's "words" as OpenUtau builds them:
/// the first entry is the lead-in, the phonemes before the first note's onset
/// (rests and consonants; it may hold 0 phonemes and 0 frames); every other
/// word starts at a note's onset (its vowel, or a glide before the vowel) and
/// runs to the next onset, so a word's leading consonants belong to the word
/// before. The linguistic encoders take them in word mode, and the duration
/// predictor fits each word's phonemes into its `word_dur`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DsPhrase {
    /// Voicebank symbols (`SP`, `AP` included); a symbol without a language prefix is looked up with the
    /// voicebank's default language prefix too (see `Voicebank::phoneme_id`).
    pub phonemes: Vec<String>,
    /// Frames per phoneme (each > 0).
    pub ph_dur: Vec<u32>,
    /// Each phoneme's note (index into `notes`; non-decreasing).
    pub ph_note: Vec<usize>,
    /// Phonemes per word; the first (the lead-in) may be 0, the others are > 0; they sum to the phoneme count.
    pub word_div: Vec<u32>,
    /// Frames per word (at least its phoneme count); they sum to the phrase's frames.
    pub word_dur: Vec<u32>,
    /// The notes, tiling the phrase (their frames sum to the phrase's).
    pub notes: Vec<DsNote>,
    /// f0 in Hz per frame (> 0); empty when not known yet (the duration and pitch predictors do not need it).
    pub f0: Vec<f32>,
    /// The variance curves the caller has; missing ones the acoustic model takes are predicted.
    pub variance: DsVariance,
    /// Expression and sampling settings.
    pub expression: DsExpression,
}

/// What is wrong with a [`DsPhrase`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhraseError {
    /// The phrase has no phonemes or no notes.
    #[error("the phrase has no {0}")]
    Empty(&'static str),
    /// A list has the wrong length.
    #[error("{field} has {got} entries, expected {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// The length it must have.
        expected: usize,
        /// Its length.
        got: usize,
    },
    /// The phrase is larger than a run accepts.
    #[error("{field} is {got}; at most {max} are accepted")]
    TooLarge {
        /// What is counted.
        field: &'static str,
        /// The limit.
        max: usize,
        /// The count.
        got: usize,
    },
    /// One value is unusable.
    #[error("{field}[{index}]: {message}")]
    Value {
        /// The field.
        field: &'static str,
        /// The entry's index.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A phrase-wide value is unusable.
    #[error("{field}: {message}")]
    Setting {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn value_err(field: &'static str, index: usize, message: impl Into<String>) -> PhraseError {
    PhraseError::Value {
        field,
        index,
        message: message.into(),
    }
}

fn length(field: &'static str, expected: usize, got: usize) -> Result<(), PhraseError> {
    if expected == got {
        Ok(())
    } else {
        Err(PhraseError::Length {
            field,
            expected,
            got,
        })
    }
}

fn in_range(
    field: &'static str,
    value: f32,
    range: std::ops::RangeInclusive<f32>,
) -> Result<(), PhraseError> {
    if value.is_finite() && range.contains(&value) {
        Ok(())
    } else {
        Err(PhraseError::Setting {
            field,
            message: format!("{value} is outside {} to {}", range.start(), range.end()),
        })
    }
}

fn steps_in_range(field: &'static str, steps: Option<u32>) -> Result<(), PhraseError> {
    match steps {
        Some(s) if !(1..=1000).contains(&s) => Err(PhraseError::Setting {
            field,
            message: format!("{s} is outside 1 to 1000"),
        }),
        _ => Ok(()),
    }
}

impl DsPhrase {
    /// The phrase's frames: the sum of `ph_dur`.
    pub fn frames(&self) -> usize {
        self.ph_dur.iter().map(|&d| d as usize).sum()
    }

    /// Checks that the lengths agree, every value is finite and in range, and the phrase is within the limits.
    pub fn check(&self) -> Result<(), PhraseError> {
        let n = self.phonemes.len();
        if n == 0 {
            return Err(PhraseError::Empty("phonemes"));
        }
        if n > MAX_PHONEMES {
            return Err(PhraseError::TooLarge {
                field: "the phoneme count",
                max: MAX_PHONEMES,
                got: n,
            });
        }
        for (i, p) in self.phonemes.iter().enumerate() {
            if p.trim().is_empty() || p.len() > 64 || p.chars().any(char::is_whitespace) {
                return Err(value_err(
                    "phonemes",
                    i,
                    format!("{p:?} is not a phoneme symbol (1 to 64 bytes, no spaces)"),
                ));
            }
        }
        length("ph_dur", n, self.ph_dur.len())?;
        let mut frames = 0usize;
        for (i, &d) in self.ph_dur.iter().enumerate() {
            if d == 0 {
                return Err(value_err("ph_dur", i, "a phoneme needs at least one frame"));
            }
            frames = frames.saturating_add(d as usize);
        }
        if frames > MAX_FRAMES {
            return Err(PhraseError::TooLarge {
                field: "the frame count",
                max: MAX_FRAMES,
                got: frames,
            });
        }

        if self.notes.is_empty() {
            return Err(PhraseError::Empty("notes"));
        }
        if self.notes.len() > MAX_NOTES {
            return Err(PhraseError::TooLarge {
                field: "the note count",
                max: MAX_NOTES,
                got: self.notes.len(),
            });
        }
        let mut note_frames = 0usize;
        for (i, note) in self.notes.iter().enumerate() {
            if !(note.midi.is_finite() && (0.0..=127.0).contains(&note.midi)) {
                return Err(value_err(
                    "notes",
                    i,
                    format!("midi {} is outside 0 to 127", note.midi),
                ));
            }
            if note.frames == 0 {
                return Err(value_err("notes", i, "a note needs at least one frame"));
            }
            note_frames = note_frames.saturating_add(note.frames as usize);
        }
        if note_frames != frames {
            return Err(PhraseError::Setting {
                field: "notes",
                message: format!(
                    "the notes' frames sum to {note_frames}, the phonemes' to {frames}"
                ),
            });
        }
        length("ph_note", n, self.ph_note.len())?;
        let mut previous = 0;
        for (i, &note) in self.ph_note.iter().enumerate() {
            if note >= self.notes.len() {
                return Err(value_err(
                    "ph_note",
                    i,
                    format!("note {note} does not exist ({} notes)", self.notes.len()),
                ));
            }
            if note < previous {
                return Err(value_err(
                    "ph_note",
                    i,
                    format!("note {note} comes after note {previous}: the notes must not decrease"),
                ));
            }
            previous = note;
        }

        if self.word_div.is_empty() {
            return Err(PhraseError::Empty("words (word_div)"));
        }
        length("word_dur", self.word_div.len(), self.word_dur.len())?;
        let mut word_phonemes = 0usize;
        let mut word_frames = 0usize;
        for (i, (&div, &dur)) in self.word_div.iter().zip(&self.word_dur).enumerate() {
            if div == 0 && i > 0 {
                return Err(value_err(
                    "word_div",
                    i,
                    "only the first word (the lead-in) may hold no phonemes",
                ));
            }
            if dur < div {
                return Err(value_err(
                    "word_dur",
                    i,
                    format!("{dur} frames for {div} phonemes"),
                ));
            }
            word_phonemes = word_phonemes.saturating_add(div as usize);
            word_frames = word_frames.saturating_add(dur as usize);
        }
        if word_phonemes != n {
            return Err(PhraseError::Setting {
                field: "word_div",
                message: format!("the words hold {word_phonemes} phonemes, the phrase {n}"),
            });
        }
        if word_frames != frames {
            return Err(PhraseError::Setting {
                field: "word_dur",
                message: format!(
                    "the words' frames sum to {word_frames}, the phonemes' to {frames}"
                ),
            });
        }

        if !self.f0.is_empty() {
            length("f0", frames, self.f0.len())?;
            for (i, &f) in self.f0.iter().enumerate() {
                if !(f.is_finite() && f > 0.0 && f <= MAX_F0_HZ) {
                    return Err(value_err(
                        "f0",
                        i,
                        format!("{f} Hz is outside (0, {MAX_F0_HZ}]"),
                    ));
                }
            }
        }
        for (field, curve) in self.variance.curves() {
            if let Some(curve) = curve {
                length(field, frames, curve.len())?;
                if let Some(i) = curve.iter().position(|v| !v.is_finite() || v.abs() > 1e6) {
                    return Err(value_err(field, i, format!("{} is not usable", curve[i])));
                }
            }
        }

        let e = &self.expression;
        in_range("expression.gender", e.gender, -1.0..=1.0)?;
        in_range("expression.velocity", e.velocity, 0.5..=2.0)?;
        in_range("expression.expressiveness", e.expressiveness, 0.0..=1.0)?;
        if let Some(depth) = e.depth {
            in_range("expression.depth", depth, 0.0..=1.0)?;
        }
        steps_in_range("expression.steps", e.steps)?;
        steps_in_range("expression.pitch_steps", e.pitch_steps)?;
        steps_in_range("expression.variance_steps", e.variance_steps)?;
        if let Some(s) = &e.speaker {
            if s.trim().is_empty() {
                return Err(PhraseError::Setting {
                    field: "expression.speaker",
                    message: "is empty".into(),
                });
            }
        }
        Ok(())
    }
}
