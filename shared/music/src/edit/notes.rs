//! `replace_notes`: new notes for voice 1 of a measure range.
//!
//! # Choices
//! - The notes must fill the range exactly: their durations add up to the
//!   measures' lengths by the time signatures in force (4/4 without one; a
//!   pickup, an implicit measure, lasts what it holds). Anything else is an
//!   error on `notes` that gives both totals.
//! - Voice 1 (notes with voice "1" or none) is replaced; other voices,
//!   directions, chord symbols and mid-measure attribute changes are kept at
//!   their onsets.
//! - A note crossing a barline is split into tied notes (a rest into rests).
//!   A length no single note value can show (5/4) is split into tied notes
//!   that can (a half tied to an eighth ...); values are picked from plain,
//!   dotted and double-dotted values and 3:2, 5:4 and 7:4 tuplets, and
//!   `note_type`, `dots` and `tuplet` are set. A rest filling a whole measure is
//!   a measure rest.
//! - `tie: true` ties a note to the next one; on the range's last note it
//!   ties into the next measure when that starts with the same pitch in voice 1.
//!   Ties from before the range into it, or from it out, that no longer join
//!   equal pitches are removed.
//! - Lyrics, articulations and dynamics attached to the replaced notes go with them.

use crate::model::{Item, Measure, Note, Part, Score, TieType, TimeModification};
use crate::rational::Rational;

use super::timeline::{add, nominal_length, onsets, repair_ties, sub, voice_of};
use super::values::{NoteSpec, Span};
use super::Fail;

/// Tuplet families tried: (actual, normal); 1:1 is plain.
const FAMILIES: [(u32, u32); 4] = [(1, 1), (3, 2), (5, 4), (7, 4)];

fn r(n: i64, d: i64) -> Rational {
    Rational::new(n, d).unwrap_or(Rational::ZERO)
}

fn dotted(base: Rational, dots: u8) -> Rational {
    // base × (2 - 1/2^dots)
    base.checked_mul(r((1 << (dots + 1)) - 1, 1 << dots))
        .unwrap_or(base)
}

fn scale(d: Rational, (actual, normal): (u32, u32)) -> Option<Rational> {
    d.checked_mul(r(i64::from(actual), i64::from(normal)))
}

/// How one note shows a length: type, dots and tuplet ratio.
type Notation = (&'static str, u8, Option<TimeModification>);

/// The single note value that shows `d`, if there is one.
fn notation(d: Rational) -> Option<Notation> {
    for fam in FAMILIES {
        let Some(scaled) = scale(d, fam) else {
            continue;
        };
        let max_dots = if fam == (1, 1) { 2 } else { 1 };
        for (name, n, dd) in crate::model::NOTE_TYPES {
            for dots in 0..=max_dots {
                if dotted(r(n, dd), dots) == scaled {
                    let tuplet = (fam != (1, 1)).then_some(TimeModification {
                        actual: fam.0,
                        normal: fam.1,
                    });
                    return Some((name, dots, tuplet));
                }
            }
        }
    }
    None
}

/// Splits a length into lengths single note values show (longest first); `[d]` when none works.
fn split(d: Rational) -> Vec<Rational> {
    if notation(d).is_some() {
        return vec![d];
    }
    let mut values: Vec<Rational> = crate::model::NOTE_TYPES
        .iter()
        .flat_map(|&(_, n, dd)| [dotted(r(n, dd), 0), dotted(r(n, dd), 1)])
        .collect();
    values.sort_by(|a, b| b.cmp(a));
    for fam in FAMILIES {
        let Some(scaled) = scale(d, fam) else {
            continue;
        };
        if !(scaled.den() as u64).is_power_of_two() {
            continue;
        }
        let mut rest = scaled;
        let mut out = Vec::new();
        while rest > Rational::ZERO && out.len() < 32 {
            let Some(&v) = values.iter().find(|v| **v <= rest) else {
                break;
            };
            out.push(v);
            rest = sub(rest, v);
        }
        if rest.is_zero() {
            return out
                .into_iter()
                .filter_map(|v| scale(v, (fam.1, fam.0)))
                .collect();
        }
    }
    vec![d]
}

/// A new note of the given length.
fn make_note(spec: &NoteSpec, d: Rational, voice: &Option<String>, staff: Option<u8>) -> Note {
    let (note_type, dots, tuplet) = match notation(d) {
        Some((t, dots, tuplet)) => (Some(t.to_owned()), dots, tuplet),
        None => (None, 0, None),
    };
    Note {
        pitch: spec.pitch.map(|p| p.0),
        rest: spec.pitch.is_none(),
        duration: d,
        voice: voice.clone(),
        staff,
        note_type,
        dots,
        tuplet,
        ..Note::default()
    }
}

fn is_target(n: &Note) -> bool {
    voice_of(n) == "1"
}

/// Rebuilds a measure: `new` as voice 1, everything else kept at its onset.
fn rebuild(m: &mut Measure, new: Vec<Note>) {
    let ons = onsets(m);
    let mut anchors: Vec<(Rational, Item)> = Vec::new();
    let mut voices: Vec<(String, Vec<(Rational, Item)>)> = Vec::new();
    let mut push_voice = |v: String, on: Rational, item: Item| match voices
        .iter_mut()
        .find(|(name, _)| *name == v)
    {
        Some((_, list)) => list.push((on, item)),
        None => voices.push((v, vec![(on, item)])),
    };
    for (item, on) in std::mem::take(&mut m.items).into_iter().zip(ons) {
        match item {
            Item::Note(n) if is_target(&n) => {}
            Item::Forward { ref voice, .. } if voice.as_deref().is_none_or(|v| v == "1") => {}
            Item::Backup { .. } => {}
            Item::Note(n) => push_voice(voice_of(&n).to_owned(), on, Item::Note(n)),
            Item::Forward {
                duration,
                voice: Some(v),
                staff,
            } => push_voice(
                v.clone(),
                on,
                Item::Forward {
                    duration,
                    voice: Some(v),
                    staff,
                },
            ),
            other => anchors.push((on, other)),
        }
    }
    anchors.sort_by_key(|a| a.0);
    let place = |(on, mut item): (Rational, Item), cursor: Rational| {
        let delta = sub(on, cursor);
        let offset = (!delta.is_zero()).then_some(delta);
        match &mut item {
            Item::Direction(d) => d.offset = offset,
            Item::Harmony(h) => h.offset = offset,
            _ => {}
        }
        item
    };
    let mut out = Vec::new();
    let mut cursor = Rational::ZERO;
    let mut anchors = anchors.into_iter().peekable();
    for note in new {
        let end = add(cursor, note.duration);
        while let Some(a) = anchors.next_if(|a| a.0 < end) {
            out.push(place(a, cursor));
        }
        out.push(Item::Note(note));
        cursor = end;
    }
    for a in anchors {
        out.push(place(a, cursor));
    }
    for (voice, items) in voices {
        if cursor > Rational::ZERO {
            out.push(Item::Backup { duration: cursor });
            cursor = Rational::ZERO;
        }
        for (on, item) in items {
            if matches!(&item, Item::Note(n) if n.chord) {
                out.push(item);
                continue;
            }
            if on > cursor {
                let staff = match &item {
                    Item::Note(n) => n.staff,
                    Item::Forward { staff, .. } => *staff,
                    _ => None,
                };
                out.push(Item::Forward {
                    duration: sub(on, cursor),
                    voice: Some(voice.clone()),
                    staff,
                });
            } else if on < cursor {
                out.push(Item::Backup {
                    duration: sub(cursor, on),
                });
            }
            cursor = on;
            match &item {
                Item::Note(n) if !n.grace => cursor = add(cursor, n.duration),
                Item::Forward { duration, .. } => cursor = add(cursor, *duration),
                _ => {}
            }
            out.push(item);
        }
    }
    m.items = out;
}

/// The `replace_notes` edit.
pub(crate) fn replace_notes(
    score: &mut Score,
    part: usize,
    measures: Span,
    notes: &[NoteSpec],
) -> Result<(), Fail> {
    super::parts_selected(score, Some(part))?;
    let p: &mut Part = &mut score.parts[part];
    let (first, last) = super::measure_span(measures, p.measures.len(), "measures")?;
    let mut lengths = Vec::new();
    for mi in first..=last {
        lengths.push(nominal_length(p, mi).ok_or_else(|| {
            Fail::new(
                "measures",
                format!(
                    "measure {} has a time signature that is not a number and no notes, so its length is unknown",
                    mi + 1
                ),
            )
        })?);
    }
    let want = lengths.iter().fold(Rational::ZERO, |a, b| add(a, *b));
    let mut have = Rational::ZERO;
    for (i, n) in notes.iter().enumerate() {
        if n.duration.0 <= Rational::ZERO {
            return Err(Fail::new(
                format!("notes[{i}].duration"),
                "a duration must be above zero",
            ));
        }
        have = have
            .checked_add(n.duration.0)
            .ok_or_else(|| Fail::new(format!("notes[{i}].duration"), "durations overflow"))?;
    }
    if have != want {
        let each: Vec<String> = lengths.iter().map(|l| l.to_string()).collect();
        return Err(Fail::new(
            "notes",
            format!(
                "the notes last {have} quarters but measures {}..={} hold {want} ({}); add or remove {} quarters",
                first + 1,
                last + 1,
                each.join(" + "),
                if have < want { sub(want, have) } else { sub(have, want) },
            ),
        ));
    }
    // Voice and staff of the notes replaced.
    let uses_voices = p
        .measures
        .iter()
        .flat_map(|m| m.items.iter())
        .any(|i| matches!(i, Item::Note(n) if n.voice.is_some()));
    let voice = uses_voices.then(|| "1".to_owned());
    let staff = p.measures[first..=last]
        .iter()
        .flat_map(|m| m.items.iter())
        .find_map(|i| match i {
            Item::Note(n) if is_target(n) => Some(n.staff),
            _ => None,
        })
        .unwrap_or((p.staves > 1).then_some(1));
    // Cut the notes at barlines: (spec index, length, measure offset in range).
    let mut cuts: Vec<(usize, Rational, usize)> = Vec::new();
    let mut spec = 0;
    let mut left = notes.first().map_or(Rational::ZERO, |n| n.duration.0);
    for (k, len) in lengths.iter().enumerate() {
        let mut room = *len;
        while room > Rational::ZERO && spec < notes.len() {
            let take = left.min(room);
            cuts.push((spec, take, k));
            room = sub(room, take);
            left = sub(left, take);
            if left.is_zero() {
                spec += 1;
                left = notes.get(spec).map_or(Rational::ZERO, |n| n.duration.0);
            }
        }
    }
    // Notes per measure, with ties.
    let mut per_measure: Vec<Vec<Note>> = vec![Vec::new(); lengths.len()];
    let mut prev: Option<(usize, Note)> = None; // (spec, last note written)
    let mut pieces: Vec<(usize, usize, Note)> = Vec::new(); // (spec, measure, note)
    for (s, take, k) in cuts {
        let ns = &notes[s];
        let whole_rest = ns.pitch.is_none() && take == lengths[k] && take == ns.duration.0;
        let parts = if whole_rest { vec![take] } else { split(take) };
        for d in parts {
            let mut note = make_note(ns, d, &voice, staff);
            if whole_rest {
                note.measure_rest = true;
                note.note_type = None;
                note.dots = 0;
                note.tuplet = None;
            }
            if let Some((ps, pn)) = &prev {
                let continues = *ps == s;
                let tied = notes[*ps].tie && pn.pitch.is_some() && pn.pitch == note.pitch;
                if note.pitch.is_some() && (continues || tied) {
                    note.ties.push(TieType::Stop);
                }
            }
            pieces.push((s, k, note.clone()));
            prev = Some((s, note));
        }
    }
    // Tie starts: on every piece followed by a piece it ties to.
    let count = pieces.len();
    for i in 0..count {
        let starts = pieces
            .get(i + 1)
            .is_some_and(|next| next.2.is_tie_continuation());
        let (s, _, note) = &mut pieces[i];
        let last_tied = i + 1 == count && notes[*s].tie && note.pitch.is_some();
        if starts || last_tied {
            note.ties.insert(0, TieType::Start);
        }
    }
    for (_, k, note) in pieces {
        per_measure[k].push(note);
    }
    let ends_tied = notes.last().is_some_and(|n| n.tie && n.pitch.is_some());
    for (k, new) in per_measure.into_iter().enumerate() {
        rebuild(&mut p.measures[first + k], new);
    }
    // A tie out of the range joins the next measure's first voice-1 note when it has the same pitch.
    if ends_tied {
        let last_pitch = notes.last().and_then(|n| n.pitch).map(|p| p.0.midi());
        if let Some(m) = p.measures.get_mut(last + 1) {
            if let Some(Item::Note(n)) = m
                .items
                .iter_mut()
                .find(|i| matches!(i, Item::Note(n) if is_target(n) && !n.chord))
            {
                if n.pitch.map(|p| p.midi()) == last_pitch && !n.is_tie_continuation() {
                    n.ties.push(TieType::Stop);
                }
            }
        }
    }
    repair_ties(p, first);
    repair_ties(p, last + 1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_get_note_values() {
        assert_eq!(notation(r(1, 1)), Some(("quarter", 0, None)));
        assert_eq!(notation(r(3, 2)), Some(("quarter", 1, None)));
        assert_eq!(notation(r(7, 4)), Some(("quarter", 2, None)));
        assert_eq!(
            notation(r(1, 3)),
            Some((
                "eighth",
                0,
                Some(TimeModification {
                    actual: 3,
                    normal: 2
                })
            ))
        );
        assert_eq!(notation(r(5, 4)), None);
        assert_eq!(split(r(5, 4)), vec![r(1, 1), r(1, 4)]);
        assert_eq!(split(r(5, 3)), vec![r(4, 3), r(1, 3)]);
        assert_eq!(split(r(3, 1)), vec![r(3, 1)]);
        assert_eq!(split(r(1, 7 * 3 * 5)), vec![r(1, 105)]);
    }
}
