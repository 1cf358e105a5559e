//! One part's sung line: the notes and rests of one voice in time order, with
//! the lyric syllable of one verse, in quarters and in seconds.
//!
//! Time follows the MIDI writer exactly (the same cursor rules, the same
//! measure lengths, the same tempo map from [`crate::timing`]), so a rendered
//! voice lines up with the score's MIDI file. Within the part:
//! - the voice sung is the first that carries a lyric (else the first that
//!   sounds); the other voices and staves are left out;
//! - a chord sings its highest note, with the lyric of its first member;
//! - tied notes of one pitch are one note, with the first note's lyric;
//! - grace and cue notes are left out (they take no sung time), counted in a warning;
//! - rests, `forward` gaps and measures the voice skips are rests; adjacent rests are one.
//!
//! Velocity is the dynamics in force at the note's onset, as in the MIDI file.

use crate::midi::write::{direction_velocity, nominal_length};
use crate::midi::{mark_velocity, timing, MidiError, DEFAULT_VELOCITY};
use crate::model::{Item, Note, Score, Syllabic, TieType};
use crate::rational::Rational;

/// The syllable a note carries in the chosen verse.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct SungLyric {
    /// The syllable text as written (elisions joined with "‿").
    pub text: String,
    /// Where the syllable sits in its word (`single` when the score says nothing).
    pub syllabic: Syllabic,
    /// Whether the score draws a melisma line from it.
    pub extend: bool,
}

/// One note or rest of a sung line.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SungNote {
    /// Quarters from the start of the score.
    pub onset: Rational,
    /// Length in quarters (ties merged).
    pub duration: Rational,
    /// Onset in seconds under the tempo map.
    pub start_s: f64,
    /// End in seconds.
    pub end_s: f64,
    /// Sounding MIDI key (the part's transposition applied); `None` for a rest.
    pub midi: Option<i32>,
    /// The syllable of the chosen verse, if the note has one.
    pub lyric: Option<SungLyric>,
    /// MIDI velocity 1..=127 from the dynamics in force.
    pub velocity: u8,
    /// Index of the measure the note starts in.
    pub measure: usize,
    /// A fermata over the note.
    pub fermata: bool,
    /// Articulation marks (`staccato`, `accent`, ...).
    pub articulations: Vec<String>,
}

impl SungNote {
    /// Whether this is a rest.
    pub fn is_rest(&self) -> bool {
        self.midi.is_none()
    }
}

/// One part's line for singing.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct SungLine {
    /// Index of the part in the score.
    pub part_index: usize,
    /// The part's id.
    pub part_id: String,
    /// The part's name, if any.
    pub part_name: Option<String>,
    /// The voice that was taken.
    pub voice: String,
    /// The verse whose syllables were taken.
    pub verse: String,
    /// The verses that exist in this voice, in order of first appearance.
    pub verses: Vec<String>,
    /// Notes and rests in time order, without gaps or overlaps.
    pub notes: Vec<SungNote>,
    /// The tempo map: (quarters, quarters per minute), the first at 0.
    pub tempos: Vec<(Rational, f64)>,
    /// Where the part ends, in seconds.
    pub seconds: f64,
    /// What was left out or approximated.
    pub warnings: Vec<String>,
}

impl SungLine {
    /// Whether the line has no sounding note.
    pub fn is_silent(&self) -> bool {
        self.notes.iter().all(SungNote::is_rest)
    }
}

/// Why a line cannot be taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MelodyError {
    /// The score has no part with that index.
    #[error("the score has no part {index} (it has {count})")]
    NoSuchPart {
        /// The index asked for.
        index: usize,
        /// How many parts there are.
        count: usize,
    },
    /// The verse is not in the part.
    #[error("part {part} has no verse {verse:?} (it has {available:?})")]
    NoSuchVerse {
        /// The part index.
        part: usize,
        /// The verse asked for.
        verse: String,
        /// The verses the part has.
        available: Vec<String>,
    },
    /// The score cannot be timed (durations out of range).
    #[error("the score cannot be timed: {0}")]
    Timing(#[from] MidiError),
}

/// A piece of the chosen voice before ties and rests are merged.
struct Piece {
    on: Rational,
    end: Rational,
    midi: Option<i32>,
    lyric: Option<SungLyric>,
    velocity: Option<u8>,
    tie_start: bool,
    tie_stop: bool,
    measure: usize,
    fermata: bool,
    articulations: Vec<String>,
}

/// Applies a time signature (measure length when empty) and a transposition.
fn attributes(a: &crate::model::Attributes, nominal: &mut Rational, transpose: &mut i32) {
    if let Some(t) = &a.time {
        if let Some(l) = nominal_length(&t.beats, &t.beat_type) {
            *nominal = l;
        }
    }
    if let Some(t) = &a.transpose {
        *transpose = i32::from(t.chromatic) + 12 * i32::from(t.octave_change);
    }
}

/// `a - b`, zero on (practically impossible) overflow.
fn minus(a: Rational, b: Rational) -> Rational {
    a.checked_sub(b).unwrap_or(Rational::ZERO)
}

fn voice_of(n: &Note) -> &str {
    n.voice.as_deref().unwrap_or("1")
}

fn sounds(n: &Note) -> bool {
    !n.rest && !n.cue && n.pitch.is_some()
}

fn lyric_of(n: &Note, verse: &str) -> Option<SungLyric> {
    n.lyrics
        .iter()
        .find(|l| l.verse == verse)
        .map(|l| SungLyric {
            text: l.text.clone(),
            syllabic: l.syllabic.unwrap_or(Syllabic::Single),
            extend: l.extend,
        })
}

/// Part `part_index`'s line in `verse` (default: verse "1" if the voice has it, else its first).
pub fn sung_line(
    score: &Score,
    part_index: usize,
    verse: Option<&str>,
) -> Result<SungLine, MelodyError> {
    let part = score.parts.get(part_index).ok_or(MelodyError::NoSuchPart {
        index: part_index,
        count: score.parts.len(),
    })?;
    let notes = || {
        part.measures.iter().flat_map(|m| {
            m.items.iter().filter_map(|i| match i {
                Item::Note(n) => Some(n),
                _ => None,
            })
        })
    };
    let voice = notes()
        .find(|n| !n.lyrics.is_empty() && sounds(n))
        .or_else(|| notes().find(|n| sounds(n)))
        .map_or("1", voice_of)
        .to_string();
    let mut verses: Vec<String> = Vec::new();
    for n in notes().filter(|n| voice_of(n) == voice) {
        for l in &n.lyrics {
            if !verses.contains(&l.verse) {
                verses.push(l.verse.clone());
            }
        }
    }
    let verse = match verse {
        Some(v) if verses.iter().any(|x| x == v) => v.to_string(),
        Some(v) if !verses.is_empty() => {
            return Err(MelodyError::NoSuchVerse {
                part: part_index,
                verse: v.to_string(),
                available: verses,
            })
        }
        Some(v) => v.to_string(),
        // Verse 1 when the voice has it, though another may be written first.
        None if verses.iter().any(|v| v == "1") => "1".into(),
        None => verses.first().cloned().unwrap_or_else(|| "1".into()),
    };

    let mut warnings = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut dynamics: Vec<(Rational, u8)> = Vec::new();
    let mut start = Rational::ZERO;
    let mut nominal = Rational::from_int(4);
    let mut transpose: i32 = 0;
    let mut graces = 0usize;
    let overflow = || {
        MelodyError::Timing(MidiError::Unwritable {
            message: format!("durations overflow in part {:?}", part.id),
        })
    };
    for (mi, m) in part.measures.iter().enumerate() {
        let add = |a: Rational, b: Rational| a.checked_add(b).ok_or_else(overflow);
        if let Some(a) = &m.attributes {
            attributes(a, &mut nominal, &mut transpose);
        }
        let mut cursor = Rational::ZERO;
        let mut furthest = Rational::ZERO;
        let mut last_onset = Rational::ZERO;
        let mut timed = false;
        for item in &m.items {
            match item {
                Item::Note(n) => {
                    timed = true;
                    let onset = if n.chord { last_onset } else { cursor };
                    if !n.chord {
                        last_onset = cursor;
                        if !n.grace {
                            cursor = add(cursor, n.duration.max(Rational::ZERO))?;
                        }
                    }
                    if voice_of(n) != voice {
                        continue;
                    }
                    if n.grace || n.cue {
                        graces += 1;
                        continue;
                    }
                    if n.duration <= Rational::ZERO {
                        continue;
                    }
                    let on = add(start, onset)?;
                    let midi = if sounds(n) {
                        n.pitch.as_ref().map(|p| p.midi() + transpose)
                    } else {
                        None
                    };
                    if n.chord {
                        // A chord sings its highest note: raise the member it joins.
                        if let (Some(k), Some(last)) = (midi, pieces.last_mut()) {
                            if last.on == on && last.midi.is_some_and(|l| k > l) {
                                last.midi = Some(k);
                            }
                        }
                        continue;
                    }
                    pieces.push(Piece {
                        on,
                        end: add(on, n.duration)?,
                        midi,
                        lyric: if midi.is_some() {
                            lyric_of(n, &verse)
                        } else {
                            None
                        },
                        velocity: n.dynamics.iter().find_map(|d| mark_velocity(d)),
                        tie_start: n.ties.contains(&TieType::Start),
                        tie_stop: n.is_tie_continuation(),
                        measure: mi,
                        fermata: n.fermata,
                        articulations: n.articulations.clone(),
                    });
                }
                Item::Backup { duration } => {
                    timed = true;
                    cursor = cursor
                        .checked_sub(*duration)
                        .ok_or_else(overflow)?
                        .max(Rational::ZERO);
                }
                Item::Forward { duration, .. } => {
                    timed = true;
                    cursor = add(cursor, *duration)?.max(Rational::ZERO);
                }
                Item::Direction(d) => {
                    let at = add(cursor, d.offset.unwrap_or(Rational::ZERO))?.max(Rational::ZERO);
                    if let Some(v) = direction_velocity(d) {
                        dynamics.push((add(start, at)?, v));
                    }
                }
                Item::Attributes(a) => attributes(a, &mut nominal, &mut transpose),
                Item::Harmony(_) => {}
            }
            furthest = furthest.max(cursor);
        }
        start = add(start, if timed { furthest } else { nominal })?;
    }
    if graces > 0 {
        warnings.push(format!(
            "{graces} grace or cue note(s) in voice {voice} are not sung"
        ));
    }

    dynamics.sort_by_key(|d| d.0);
    let velocity_at = |on: Rational| {
        let i = dynamics.partition_point(|d| d.0 <= on);
        i.checked_sub(1)
            .and_then(|i| dynamics.get(i))
            .map_or(DEFAULT_VELOCITY, |d| d.1)
    };

    pieces.sort_by_key(|p| p.on);
    let mut merged: Vec<Piece> = Vec::with_capacity(pieces.len());
    for p in pieces {
        if let Some(last) = merged.last_mut() {
            if p.on < last.end {
                // Overlaps within one voice (bad backups): keep the earlier note.
                continue;
            }
            let tied = p.tie_stop && last.tie_start && last.midi == p.midi && last.end == p.on;
            let rests = last.midi.is_none() && p.midi.is_none() && last.end == p.on;
            if p.midi.is_some() && tied || rests {
                last.end = p.end;
                last.tie_start = p.tie_start;
                last.fermata |= p.fermata;
                continue;
            }
        }
        merged.push(p);
    }

    let timing = timing(score)?;
    let clock = Clock::new(&timing.tempos);
    let mut out: Vec<SungNote> = Vec::with_capacity(merged.len() + 2);
    let mut at = Rational::ZERO;
    let push_rest = |out: &mut Vec<SungNote>, from: Rational, to: Rational, measure: usize| {
        if to <= from {
            return;
        }
        if let Some(last) = out.last_mut() {
            if last.is_rest() {
                last.duration = minus(to, last.onset);
                last.end_s = clock.seconds(to);
                return;
            }
        }
        out.push(SungNote {
            onset: from,
            duration: minus(to, from),
            start_s: clock.seconds(from),
            end_s: clock.seconds(to),
            midi: None,
            lyric: None,
            velocity: velocity_at(from),
            measure,
            fermata: false,
            articulations: Vec::new(),
        });
    };
    for p in merged {
        push_rest(&mut out, at, p.on, p.measure);
        if p.midi.is_none() {
            push_rest(&mut out, p.on, p.end, p.measure);
        } else {
            out.push(SungNote {
                onset: p.on,
                duration: minus(p.end, p.on),
                start_s: clock.seconds(p.on),
                end_s: clock.seconds(p.end),
                midi: p.midi,
                lyric: p.lyric,
                velocity: p.velocity.unwrap_or_else(|| velocity_at(p.on)),
                measure: p.measure,
                fermata: p.fermata,
                articulations: p.articulations,
            });
        }
        at = p.end;
    }
    let last_measure = part.measures.len().saturating_sub(1);
    push_rest(&mut out, at, start, last_measure);
    Ok(SungLine {
        part_index,
        part_id: part.id.clone(),
        part_name: part.name.clone(),
        voice,
        verse,
        verses,
        notes: out,
        tempos: timing.tempos.clone(),
        seconds: clock.seconds(start),
        warnings,
    })
}

/// Quarters to seconds under a tempo map.
struct Clock {
    /// (quarters, seconds at that point, seconds per quarter from there).
    segments: Vec<(Rational, f64, f64)>,
}

impl Clock {
    fn new(tempos: &[(Rational, f64)]) -> Clock {
        let mut segments = Vec::with_capacity(tempos.len().max(1));
        let mut t = 0.0;
        let mut prev: Option<(Rational, f64)> = None;
        for &(q, bpm) in tempos {
            if let Some((pq, spq)) = prev {
                t += minus(q, pq).to_f64() * spq;
            }
            let spq = 60.0 / bpm;
            segments.push((q, t, spq));
            prev = Some((q, spq));
        }
        if segments.is_empty() {
            segments.push((Rational::ZERO, 0.0, 0.5));
        }
        Clock { segments }
    }

    fn seconds(&self, q: Rational) -> f64 {
        let i = self
            .segments
            .partition_point(|s| s.0 <= q)
            .saturating_sub(1);
        let (sq, st, spq) = self.segments[i.min(self.segments.len() - 1)];
        st + minus(q, sq).to_f64() * spq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_musicxml;

    fn score(body: &str) -> Score {
        let xml = format!(
            r#"<?xml version="1.0"?><score-partwise version="4.0"><part-list>
            <score-part id="P1"><part-name>Soprano</part-name></score-part></part-list>
            <part id="P1">{body}</part></score-partwise>"#
        );
        read_musicxml(xml.as_bytes()).unwrap().score
    }

    fn note(step: &str, octave: i32, dur: u32, extra: &str) -> String {
        format!(
            "<note><pitch><step>{step}</step><octave>{octave}</octave></pitch><duration>{dur}</duration>{extra}</note>"
        )
    }

    fn lyric(syllabic: &str, text: &str) -> String {
        format!("<lyric number=\"1\"><syllabic>{syllabic}</syllabic><text>{text}</text></lyric>")
    }

    #[test]
    fn a_line_has_seconds_lyrics_ties_and_rests() {
        let s = score(&format!(
            r#"<measure number="1"><attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
            <direction><sound tempo="60"/></direction>
            {}{}<note><rest/><duration>1</duration></note>{}</measure>
            <measure number="2">{}<note><rest/><duration>2</duration></note></measure>"#,
            note("C", 4, 1, &lyric("begin", "hel")),
            note("E", 4, 1, &lyric("end", "lo")),
            note("G", 4, 1, "<tie type=\"start\"/>"),
            note("G", 4, 2, "<tie type=\"stop\"/>"),
        ));
        let line = sung_line(&s, 0, None).unwrap();
        let keys: Vec<Option<i32>> = line.notes.iter().map(|n| n.midi).collect();
        assert_eq!(keys, [Some(60), Some(64), None, Some(67), None]);
        assert_eq!(line.notes[3].duration, Rational::from_int(3));
        assert_eq!(line.notes[0].lyric.as_ref().unwrap().text, "hel");
        assert_eq!(
            line.notes[1].lyric.as_ref().unwrap().syllabic,
            Syllabic::End
        );
        assert!((line.notes[3].start_s - 3.0).abs() < 1e-9);
        assert!((line.seconds - 8.0).abs() < 1e-9);
        assert_eq!(line.verse, "1");
        assert!(!line.is_silent());
    }

    #[test]
    fn chords_sing_the_top_note_and_other_voices_are_left_out() {
        let s = score(&format!(
            r#"<measure number="1"><attributes><divisions>1</divisions></attributes>
            {}<note><chord/><pitch><step>A</step><octave>4</octave></pitch><duration>2</duration></note>
            <backup><duration>2</duration></backup>
            <note><pitch><step>C</step><octave>3</octave></pitch><duration>2</duration><voice>2</voice></note></measure>"#,
            note("C", 4, 2, &lyric("single", "la")),
        ));
        let line = sung_line(&s, 0, None).unwrap();
        assert_eq!(line.notes.len(), 1);
        assert_eq!(line.notes[0].midi, Some(69));
        assert_eq!(line.voice, "1");
        assert!(matches!(
            sung_line(&s, 3, None),
            Err(MelodyError::NoSuchPart { index: 3, count: 1 })
        ));
        assert!(matches!(
            sung_line(&s, 0, Some("2")),
            Err(MelodyError::NoSuchVerse { .. })
        ));
    }

    #[test]
    fn an_empty_part_is_one_rest() {
        let s = score(
            r#"<measure number="1"><attributes><divisions>1</divisions></attributes></measure>"#,
        );
        let line = sung_line(&s, 0, None).unwrap();
        assert!(line.is_silent());
        assert_eq!(line.notes.len(), 1);
        assert!((line.seconds - 2.0).abs() < 1e-9);
    }
}
