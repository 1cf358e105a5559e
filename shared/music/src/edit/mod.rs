//! Score edits (the `modify_score` tool): typed operations with a JSON form,
//! validated, applied to a copy, and kept in a history for undo and redo.
//!
//! - [`Edit`]: one operation; JSON `{"op": "transpose", "interval": "M2"}`.
//! - [`parse_edits`]: a JSON array of edits, with the offending field named
//!   (`edits[2].semitones`) on error.
//! - [`apply_edits`]: applies edits in order to a copy of a score; all or
//!   nothing. Each edit sees the score the edits before it made, so
//!   positions in a later edit count measures after an earlier deletion.
//! - [`ScoreHistory`]: undo and redo over exact snapshots.
//!
//! Every refusal is an [`EditError`] with code `INVALID_EDIT` and the field
//! it blames. Positions (parts, measures, notes, verses) are checked against
//! the score; parts are 0-based indexes, measures 1-based positions in the
//! part (a pickup is measure 1), not their written numbers.
//!
//! Each operation's choices are documented in its module: transposition
//! spelling in `transpose`, dynamics in `dynamics`, lyrics in `lyrics`,
//! measure edits and `select_part` in `measures`, `replace_notes` in `notes`,
//! tempo in `tempo` (summarised on each [`Edit`] variant).

mod dynamics;
mod history;
mod lyrics;
mod measures;
mod notes;
mod parse;
mod tempo;
pub(crate) mod timeline;
mod transpose;
mod values;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Score;
use crate::rational::Rational;

pub use history::{Revision, ScoreHistory};
pub use values::{DynamicLevel, Fraction, Interval, NoteSpec, PitchName, Span};

/// One edit operation (JSON: `{"op": "transpose", ...}`; unknown fields are refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Transpose by `semitones` or by `interval` (exactly one), all pitched parts or one `part`.
    ///
    /// `{"op": "transpose", "interval": "M2"}`, `{"op": "transpose", "semitones": -3, "part": 1}`.
    /// Key signatures and chord symbols follow; by semitones each key goes to
    /// the nearest key with the fewest accidentals (flats on a six-each tie)
    /// and notes are spelled by the interval that implies. Percussion is not
    /// moved. Refused when a note would leave octaves 0..=9 or MIDI 0..=127.
    Transpose {
        /// Semitones up (negative: down), -127..=127.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        semitones: Option<i32>,
        /// An interval such as "M2", "-m3", "P5", "A4", "d5".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<Interval>,
        /// The part (0-based); all pitched parts when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<usize>,
    },
    /// Set the tempo (quarter notes per minute) at the start of the score or of a measure.
    ///
    /// `{"op": "set_tempo", "bpm": 96, "measure": 5}`. Rewrites the tempo
    /// directions at the measure's start (sound tempo and metronome mark
    /// together) or adds one to the first part. 4..=1000.
    SetTempo {
        /// Quarter notes per minute (exact: 96, 92.5, "280/3").
        bpm: Fraction,
        /// The measure (1-based position); the first when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        measure: Option<u32>,
    },
    /// Multiply every tempo by `factor` (1/10..=10): `{"op": "scale_tempo", "factor": 0.9}`.
    ///
    /// An unmarked start (120, as played) is written as 120 × factor.
    ScaleTempo {
        /// The factor (above 1: faster).
        factor: Fraction,
    },
    /// Set a dynamics `level`, or `step` every level (exactly one), over the score, a part or measures.
    ///
    /// `{"op": "dynamics", "step": -1}` (softer), `{"op": "dynamics", "level":
    /// "pp", "part": 0, "measures": {"from": 5, "to": 8}}`. A level is inserted
    /// at the range start when none stands there (unmarked is mf, so softer
    /// inserts mp); the level after the range is kept.
    Dynamics {
        /// The level to set: "ppp", "pp", "p", "mp", "mf", "f", "ff", "fff".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<DynamicLevel>,
        /// Rungs louder (positive) or softer (negative), -7..=7, not 0.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<i32>,
        /// The part (0-based); every part when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<usize>,
        /// The measures (1-based, inclusive); all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        measures: Option<Span>,
    },
    /// Set one verse of a part's lyrics from text: `{"op": "set_lyrics", "part": 0, "verse": 1, "text": "Hap-py birth-day to you"}`.
    ///
    /// Words split by spaces, syllables by hyphens, `_` holds a syllable over
    /// one more note; one syllable per sounding note (rests, tied-to notes,
    /// grace notes and chord members skipped). The verse is replaced in the
    /// range; more syllables than notes is an error on `text`, fewer leaves
    /// the remaining notes without that verse.
    SetLyrics {
        /// The part (0-based).
        part: usize,
        /// The verse (1-based); 1 when absent.
        #[serde(default = "one", skip_serializing_if = "is_one")]
        verse: u32,
        /// The text.
        text: String,
        /// The measures (1-based, inclusive); all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        measures: Option<Span>,
        /// Which sounding notes in those measures (1-based, inclusive); all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Span>,
        /// The voice that takes the verse; that of the first sounding note when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
    },
    /// Move a part by whole octaves: `{"op": "octave", "part": 1, "by": -1}`.
    Octave {
        /// The part (0-based).
        part: usize,
        /// Octaves up (negative: down), -10..=10, not 0.
        by: i32,
    },
    /// Keep only one part: `{"op": "select_part", "part": 0}` (score-wide tempo and jump marks are kept).
    SelectPart {
        /// The part to keep (0-based).
        part: usize,
    },
    /// Keep only one verse of lyrics, renumbered verse 1: `{"op": "select_verse", "verse": 2}`.
    SelectVerse {
        /// The verse to keep (1-based).
        verse: u32,
    },
    /// Delete measures in every part: `{"op": "delete_measures", "from": 3, "to": 4}`.
    ///
    /// What was in force after them (key, time, clefs, tempo, dynamics) stays in force.
    DeleteMeasures {
        /// The first measure deleted (1-based position).
        from: u32,
        /// The last measure deleted (inclusive).
        to: u32,
    },
    /// Insert measures of rests before a position in every part: `{"op": "insert_measures", "at": 5, "count": 2}`.
    ///
    /// `at` = measure count + 1 appends. Whole-measure rests per staff, by the time signature in force.
    InsertMeasures {
        /// The position the first new measure takes (1-based).
        at: u32,
        /// How many measures, 1..=1000.
        count: u32,
    },
    /// Replace voice 1 of a measure range with new notes that fill it exactly.
    ///
    /// `{"op": "replace_notes", "part": 0, "measures": {"from": 2, "to": 2},
    /// "notes": [{"pitch": "C#4", "duration": "1/2"}, {"pitch": null, "duration": 1.5}]}`.
    /// Notes across barlines are split and tied.
    ReplaceNotes {
        /// The part (0-based).
        part: usize,
        /// The measures (1-based, inclusive).
        measures: Span,
        /// The notes in order.
        notes: Vec<NoteSpec>,
    },
}

fn one() -> u32 {
    1
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

/// Every op name, in [`Edit`]'s order.
pub const EDIT_OPS: [&str; 11] = [
    "transpose",
    "set_tempo",
    "scale_tempo",
    "dynamics",
    "set_lyrics",
    "octave",
    "select_part",
    "select_verse",
    "delete_measures",
    "insert_measures",
    "replace_notes",
];

impl Edit {
    /// The op name as JSON writes it ("transpose").
    pub fn op(&self) -> &'static str {
        match self {
            Edit::Transpose { .. } => "transpose",
            Edit::SetTempo { .. } => "set_tempo",
            Edit::ScaleTempo { .. } => "scale_tempo",
            Edit::Dynamics { .. } => "dynamics",
            Edit::SetLyrics { .. } => "set_lyrics",
            Edit::Octave { .. } => "octave",
            Edit::SelectPart { .. } => "select_part",
            Edit::SelectVerse { .. } => "select_verse",
            Edit::DeleteMeasures { .. } => "delete_measures",
            Edit::InsertMeasures { .. } => "insert_measures",
            Edit::ReplaceNotes { .. } => "replace_notes",
        }
    }

    /// The checks that need no score: ranges, exclusive fields, bounds.
    fn check(&self) -> Result<(), Fail> {
        let span = |s: &Span, field: &str| {
            s.check()
                .map_err(|(f, m)| Fail::new(format!("{field}.{f}"), m))
        };
        match self {
            Edit::Transpose {
                semitones,
                interval,
                ..
            } => match (semitones, interval) {
                (None, None) => Err(Fail::new(
                    "semitones",
                    "give semitones or interval (exactly one)",
                )),
                (Some(_), Some(_)) => Err(Fail::new(
                    "interval",
                    "give semitones or interval, not both",
                )),
                (Some(s), None) if s.abs() > 127 => {
                    Err(Fail::new("semitones", "must be within -127..=127"))
                }
                (None, Some(iv)) if iv.semitones.abs() > 127 => {
                    Err(Fail::new("interval", "must span at most 127 semitones"))
                }
                _ => Ok(()),
            },
            Edit::SetTempo { bpm, measure } => {
                if !tempo::bpm_ok(bpm.0) {
                    return Err(Fail::new(
                        "bpm",
                        format!(
                            "{} is outside {}..={} quarter notes per minute",
                            bpm.0,
                            tempo::MIN_BPM,
                            tempo::MAX_BPM
                        ),
                    ));
                }
                if *measure == Some(0) {
                    return Err(Fail::new("measure", "measures start at 1"));
                }
                Ok(())
            }
            Edit::ScaleTempo { factor } => {
                let lo = Rational::new(1, 10).unwrap_or(Rational::ZERO);
                if factor.0 < lo || factor.0 > Rational::from_int(10) {
                    return Err(Fail::new(
                        "factor",
                        format!("{} is outside 1/10..=10", factor.0),
                    ));
                }
                Ok(())
            }
            Edit::Dynamics {
                level,
                step,
                measures,
                ..
            } => {
                match (level, step) {
                    (None, None) => {
                        return Err(Fail::new("level", "give level or step (exactly one)"))
                    }
                    (Some(_), Some(_)) => {
                        return Err(Fail::new("step", "give level or step, not both"))
                    }
                    (None, Some(0)) => {
                        return Err(Fail::new("step", "must not be 0 (1 is louder, -1 softer)"))
                    }
                    (None, Some(s)) if s.abs() > 7 => {
                        return Err(Fail::new("step", "must be within -7..=7"))
                    }
                    _ => {}
                }
                measures.as_ref().map_or(Ok(()), |s| span(s, "measures"))
            }
            Edit::SetLyrics {
                verse,
                measures,
                notes,
                voice,
                ..
            } => {
                if *verse == 0 {
                    return Err(Fail::new("verse", "verses start at 1"));
                }
                if voice.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return Err(Fail::new("voice", "must not be empty"));
                }
                measures.as_ref().map_or(Ok(()), |s| span(s, "measures"))?;
                notes.as_ref().map_or(Ok(()), |s| span(s, "notes"))
            }
            Edit::Octave { by, .. } => {
                if *by == 0 || by.abs() > 10 {
                    return Err(Fail::new("by", "must be within -10..=10 and not 0"));
                }
                Ok(())
            }
            Edit::SelectPart { .. } => Ok(()),
            Edit::SelectVerse { verse } => {
                if *verse == 0 {
                    return Err(Fail::new("verse", "verses start at 1"));
                }
                Ok(())
            }
            Edit::DeleteMeasures { from, to } => Span {
                from: *from,
                to: *to,
            }
            .check()
            .map_err(|(f, m)| Fail::new(f, m)),
            Edit::InsertMeasures { at, count } => {
                if *at == 0 {
                    return Err(Fail::new("at", "positions start at 1"));
                }
                if *count == 0 || *count > measures::MAX_INSERT {
                    return Err(Fail::new(
                        "count",
                        format!("must be 1..={}", measures::MAX_INSERT),
                    ));
                }
                Ok(())
            }
            Edit::ReplaceNotes {
                measures, notes, ..
            } => {
                span(measures, "measures")?;
                if notes.is_empty() {
                    return Err(Fail::new("notes", "give at least one note"));
                }
                for (i, n) in notes.iter().enumerate() {
                    if n.duration.0 <= Rational::ZERO {
                        return Err(Fail::new(
                            format!("notes[{i}].duration"),
                            "a duration must be above zero",
                        ));
                    }
                    if let Some(p) = &n.pitch {
                        values::check_pitch(&p.0)
                            .map_err(|m| Fail::new(format!("notes[{i}].pitch"), m))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Applies the edit to a score in place (checked first).
    fn apply(&self, score: &mut Score) -> Result<(), Fail> {
        self.check()?;
        match self {
            Edit::Transpose {
                semitones,
                interval,
                part,
            } => {
                let shift = match (semitones, interval) {
                    (Some(s), _) => transpose::Shift::Semitones(*s),
                    (None, Some(iv)) => transpose::Shift::Interval(*iv),
                    (None, None) => return Err(Fail::new("semitones", "missing")),
                };
                transpose::transpose(score, shift, *part)
            }
            Edit::SetTempo { bpm, measure } => tempo::set_tempo(score, bpm.0, *measure),
            Edit::ScaleTempo { factor } => tempo::scale_tempo(score, factor.0),
            Edit::Dynamics {
                level,
                step,
                part,
                measures,
            } => {
                let change = match (level, step) {
                    (Some(l), _) => dynamics::Change::Set(*l),
                    (None, Some(s)) => dynamics::Change::Step(*s),
                    (None, None) => return Err(Fail::new("level", "missing")),
                };
                dynamics::dynamics(score, change, *part, *measures)
            }
            Edit::SetLyrics {
                part,
                verse,
                text,
                measures,
                notes,
                voice,
            } => lyrics::set_lyrics(
                score,
                *part,
                *verse,
                text,
                *measures,
                *notes,
                voice.as_deref().map(str::trim),
            ),
            Edit::Octave { part, by } => transpose::octave(score, *part, *by),
            Edit::SelectPart { part } => measures::select_part(score, *part),
            Edit::SelectVerse { verse } => lyrics::select_verse(score, *verse),
            Edit::DeleteMeasures { from, to } => measures::delete_measures(score, *from, *to),
            Edit::InsertMeasures { at, count } => measures::insert_measures(score, *at, *count),
            Edit::ReplaceNotes {
                part,
                measures,
                notes,
            } => notes::replace_notes(score, *part, *measures, notes),
        }
    }
}

/// An edit that cannot be applied: code `INVALID_EDIT`, with the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EditError {
    /// Where in the request: `edits[0].semitones`.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl EditError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "INVALID_EDIT"
    }
}

/// A failure inside one edit: the field relative to the edit ("" for the edit itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    pub field: String,
    pub message: String,
}

impl Fail {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Fail {
        Fail {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The error for edit `i` of the request.
    pub(crate) fn at(self, i: usize) -> EditError {
        EditError {
            field: if self.field.is_empty() {
                format!("edits[{i}]")
            } else {
                format!("edits[{i}].{}", self.field)
            },
            message: self.message,
        }
    }
}

/// The parts an edit acts on: `Some(i)` checked against the score, `None` for all.
pub(crate) fn parts_selected(score: &Score, part: Option<usize>) -> Result<Vec<usize>, Fail> {
    match part {
        None => Ok((0..score.parts.len()).collect()),
        Some(i) if i < score.parts.len() => Ok(vec![i]),
        Some(i) => Err(Fail::new(
            "part",
            match score.parts.len() {
                0 => format!("there is no part {i}: the score has no parts"),
                n => format!("there is no part {i}: parts are 0..={}", n - 1),
            },
        )),
    }
}

/// A 1-based measure position checked against `count` measures, as a 0-based index.
pub(crate) fn measure_index(n: u32, count: usize, field: &str) -> Result<usize, Fail> {
    if n == 0 || n as usize > count {
        return Err(Fail::new(
            field,
            format!("there is no measure {n}: the measures are 1..={count}"),
        ));
    }
    Ok(n as usize - 1)
}

/// A 1-based inclusive span of `count` things (named `what`) as 0-based (first, last).
pub(crate) fn position_span(
    span: Span,
    count: usize,
    field: &str,
    what: &str,
) -> Result<(usize, usize), Fail> {
    let sub = |f: &str| {
        if field.is_empty() {
            f.to_owned()
        } else {
            format!("{field}.{f}")
        }
    };
    span.check().map_err(|(f, m)| Fail::new(sub(&f), m))?;
    if count == 0 {
        return Err(Fail::new(sub("from"), format!("there are no {what}")));
    }
    if span.from as usize > count {
        return Err(Fail::new(
            sub("from"),
            format!("{} is past the end: the {what} are 1..={count}", span.from),
        ));
    }
    if span.to as usize > count {
        return Err(Fail::new(
            sub("to"),
            format!("{} is past the end: the {what} are 1..={count}", span.to),
        ));
    }
    Ok((span.from as usize - 1, span.to as usize - 1))
}

/// A 1-based inclusive measure span checked against `count` measures.
pub(crate) fn measure_span(span: Span, count: usize, field: &str) -> Result<(usize, usize), Fail> {
    position_span(span, count, field, "measures")
}

/// Parses a JSON array of edits, naming the offending field (`edits[2].op`) on error.
///
/// Checks the JSON shape (known op, known fields, types) and everything that
/// needs no score (exactly one of semitones/interval, bounds, ranges in order);
/// [`apply_edits`] checks the rest against the score.
pub fn parse_edits(value: &serde_json::Value) -> Result<Vec<Edit>, EditError> {
    let items = value.as_array().ok_or_else(|| EditError {
        field: "edits".into(),
        message:
            "edits must be an array of edits such as {\"op\": \"transpose\", \"semitones\": 2}"
                .into(),
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let edit = parse::edit(v).map_err(|f| f.at(i))?;
            edit.check().map_err(|f| f.at(i))?;
            Ok(edit)
        })
        .collect()
}

/// Applies `edits` in order to a copy of `score`; all or nothing.
///
/// Each edit is checked and applied to the score the edits before it made;
/// the first refusal returns its error (field `edits[i]...`) and nothing is changed.
pub fn apply_edits(score: &Score, edits: &[Edit]) -> Result<Score, EditError> {
    let mut work = score.clone();
    for (i, e) in edits.iter().enumerate() {
        e.apply(&mut work).map_err(|f| f.at(i))?;
    }
    Ok(work)
}

/// The JSON Schema (draft 2020-12) of one [`Edit`], for the `modify_score` tool's description.
pub fn edit_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Edit);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
