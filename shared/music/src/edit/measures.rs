//! `delete_measures`, `insert_measures` and `select_part`: edits of the
//! score's shape that keep what is in force correct.
//!
//! # Choices
//! - Positions are 1-based positions in the part (a pickup is position 1).
//!   Deleting and inserting act on every part (parts shorter than the
//!   position are left alone).
//! - After a deletion, the first measure after the cut gets whatever was in
//!   force there before and no longer is: key, time, clefs (per staff),
//!   staves, divisions and transposition; the tempo (a tempo direction in the
//!   first part); and each part's dynamics level. So deleting a first
//!   measure that carried the attributes moves them to the new first measure.
//! - Inserted measures hold one whole-measure rest per staff (voice: the one
//!   the neighbouring measure uses on that staff, joined by backups) lasting
//!   the time signature in force there (4/4 when none). Inserting at position
//!   1 moves the old first measure's start attributes, and its tempo-only
//!   directions at onset 0, to the new first measure.
//! - A part may not grow past 100,000 measures (the MIDI reader's limit).
//! - Ties broken by the cut (into deleted or across inserted measures) are removed.
//! - Measure numbers: purely numeric numbers after the edit shift by the
//!   number of (non-implicit) measures deleted or inserted; inserted measures
//!   continue the numbering; other numbers ("12a") are kept.
//! - Repeat barlines, endings and jumps are not re-paired: deleting half of a
//!   repeated section leaves its other barline as it was.
//! - `select_part` keeps one part; the score-wide directions other parts held
//!   (tempos, metronome and rehearsal marks, segno, coda, jumps and fine) that
//!   the kept part lacks at the same point are copied into it, without their
//!   dynamics, so it plays and repeats as before.

use crate::model::{Attributes, Direction, DirectionKind, Item, Measure, Note, Part, Score};
use crate::rational::Rational;

use super::dynamics::{last_point_direction, point, point_velocity, starts_with_point};
use super::tempo::tempo_direction;
use super::timeline::{
    direction_tempo, in_force_at, in_force_before, is_score_wide, measure_count, onsets,
    repair_ties, shift_number, time_length, InForce,
};
use super::values::DynamicLevel;
use super::Fail;

/// The most measures one `insert_measures` adds.
pub(crate) const MAX_INSERT: u32 = 1000;

/// The most measures a part may reach by insertion (the MIDI reader's limit).
pub(crate) const MAX_MEASURES: usize = 100_000;

/// Writes into `a` what `want` holds and `have` (+ `a` itself) does not.
fn restore_attributes(a: &mut Attributes, have: &InForce, want: &InForce) {
    if a.divisions.is_none() && have.divisions != want.divisions {
        a.divisions = want.divisions;
    }
    if a.key.is_none() && have.key != want.key {
        a.key.clone_from(&want.key);
    }
    if a.time.is_none() && have.time != want.time {
        a.time.clone_from(&want.time);
    }
    if a.staves.is_none() && have.staves != want.staves {
        a.staves = want.staves;
    }
    if a.transpose.is_none() && have.transpose != want.transpose {
        a.transpose.clone_from(&want.transpose);
    }
    for (staff, clef) in &want.clefs {
        let written = a.clefs.iter().any(|c| c.staff.unwrap_or(1) == *staff);
        if !written && have.clefs.get(staff) != Some(clef) {
            a.clefs.push(clef.clone());
        }
    }
    a.clefs.sort_by_key(|c| c.staff.unwrap_or(1));
}

/// The tempo in force at the start of measure `mi` over all parts (first part wins on ties).
fn tempo_at(score: &Score, mi: usize) -> Option<Rational> {
    let mut best: Option<(usize, Rational, usize, Rational)> = None; // (measure, onset, part, bpm)
    for (pi, part) in score.parts.iter().enumerate() {
        for (m, measure) in part.measures.iter().enumerate().take(mi + 1) {
            for (item, on) in measure.items.iter().zip(onsets(measure)) {
                let Item::Direction(d) = item else { continue };
                if m == mi && !on.is_zero() {
                    continue;
                }
                let Some(t) = direction_tempo(d) else {
                    continue;
                };
                let later = match best {
                    None => true,
                    Some((bm, bo, bp, _)) => {
                        (m, on) > (bm, bo) || ((m, on) == (bm, bo) && pi == bp)
                    }
                };
                if later {
                    best = Some((m, on, pi, t));
                }
            }
        }
    }
    best.map(|b| b.3)
}

/// A copy of a direction's dynamics alone (marks and `sound dynamics`), at the cursor.
fn dynamics_only(d: &Direction) -> Direction {
    Direction {
        kinds: d
            .kinds
            .iter()
            .filter_map(|k| match k {
                DirectionKind::Dynamics { marks } => {
                    let marks: Vec<String> = marks
                        .iter()
                        .filter(|m| crate::midi::mark_velocity(m).is_some())
                        .cloned()
                        .collect();
                    (!marks.is_empty()).then_some(DirectionKind::Dynamics { marks })
                }
                _ => None,
            })
            .collect(),
        placement: d.placement.clone(),
        staff: d.staff,
        voice: None,
        offset: None,
        sound: d
            .sound
            .as_ref()
            .and_then(|s| s.dynamics)
            .map(|v| crate::model::Sound {
                dynamics: Some(v),
                ..crate::model::Sound::default()
            }),
    }
}

/// The `delete_measures` edit.
pub(crate) fn delete_measures(score: &mut Score, from: u32, to: u32) -> Result<(), Fail> {
    let count = measure_count(score);
    let (first, last) = super::measure_span(super::Span { from, to }, count, "")?;
    if first == 0 && last + 1 == count {
        return Err(Fail::new(
            "to",
            format!("deleting measures {from}..={to} would leave no measures"),
        ));
    }
    let original = score.clone();
    let tempo_was = (last + 1 < count)
        .then(|| tempo_at(&original, last + 1))
        .flatten();
    for (pi, part) in score.parts.iter_mut().enumerate() {
        let n = part.measures.len();
        if first >= n {
            continue;
        }
        let end = (last + 1).min(n);
        let removed_numbered = part.measures[first..end]
            .iter()
            .filter(|m| !m.implicit)
            .count();
        let want = (end < n).then(|| in_force_at(&original.parts[pi], end));
        let dyn_was: Option<Direction> = (end < n)
            .then(|| last_point_direction(&original.parts[pi], end).map(dynamics_only))
            .flatten();
        part.measures.drain(first..end);
        for m in part.measures.iter_mut().skip(first) {
            shift_number(m, -(removed_numbered as i64));
        }
        let Some(want) = want else { continue };
        let have = in_force_before(part, first);
        let next = &mut part.measures[first];
        let mut a = next.attributes.take().unwrap_or_default();
        restore_attributes(&mut a, &have, &want);
        next.attributes = (a != Attributes::default()).then_some(a);
        // Dynamics: what played after the cut plays again.
        if !starts_with_point(part, first) {
            let was = dyn_was.as_ref().and_then(point_velocity).unwrap_or(80);
            let now = last_point_direction(part, first)
                .and_then(point_velocity)
                .unwrap_or(80);
            if now != was {
                let item = match dyn_was {
                    Some(d) => Item::Direction(d),
                    None => {
                        let mf = DynamicLevel::Mf;
                        point(mf, mf.sound_dynamics(), None)
                    }
                };
                part.measures[first].items.insert(0, item);
            }
        }
        repair_ties(part, first);
    }
    if let Some(t) = tempo_was {
        if tempo_at(score, first) != Some(t) && !score.parts.is_empty() {
            if let Some(m) = score.parts[0].measures.get_mut(first) {
                m.items.insert(0, Item::Direction(tempo_direction(t)));
            }
        }
    }
    Ok(())
}

/// The voice a staff's rest takes: the first voice the neighbour uses on that
/// staff, else the part's first on it, else voice 1 of the staff by MuseScore's
/// numbering (1, 5, 9, ...) when the part writes voices.
fn staff_voice(
    part: &Part,
    neighbour: Option<usize>,
    staff: u8,
    part_uses_voices: bool,
) -> Option<String> {
    let first_on = |m: &Measure| {
        m.items.iter().find_map(|i| match i {
            Item::Note(n) if n.staff.unwrap_or(1) == staff => Some(n.voice.clone()),
            _ => None,
        })
    };
    let seen = neighbour
        .and_then(|i| part.measures.get(i))
        .and_then(first_on)
        .or_else(|| part.measures.iter().find_map(first_on));
    match seen {
        Some(v) => v,
        None if part_uses_voices => Some((u32::from(staff.saturating_sub(1)) * 4 + 1).to_string()),
        None => None,
    }
}

/// A measure of whole-measure rests, one per staff.
fn rest_measure(
    part: &Part,
    number: String,
    length: Rational,
    staves: u8,
    neighbour: Option<usize>,
    uses_voices: bool,
) -> Measure {
    let mut items = Vec::new();
    for s in 1..=staves.max(1) {
        if s > 1 {
            items.push(Item::Backup { duration: length });
        }
        items.push(Item::Note(Note {
            rest: true,
            measure_rest: true,
            duration: length,
            voice: staff_voice(part, neighbour, s, uses_voices),
            staff: (staves > 1).then_some(s),
            ..Note::default()
        }));
    }
    Measure {
        number,
        implicit: false,
        attributes: None,
        items,
        barlines: Vec::new(),
    }
}

/// Whether a direction at a measure start only sets a tempo (words, metronome, sound tempo).
fn tempo_only(d: &Direction) -> bool {
    direction_tempo(d).is_some()
        && d.kinds.iter().all(|k| {
            matches!(
                k,
                DirectionKind::Metronome { .. } | DirectionKind::Words { .. }
            )
        })
        && d.sound.as_ref().is_none_or(|s| {
            let crate::model::Sound {
                tempo: _,
                dynamics,
                dacapo,
                fine,
                segno,
                dalsegno,
                coda,
                tocoda,
            } = s;
            dynamics.is_none()
                && !dacapo
                && !fine
                && segno.is_none()
                && dalsegno.is_none()
                && coda.is_none()
                && tocoda.is_none()
        })
}

/// The `insert_measures` edit.
pub(crate) fn insert_measures(score: &mut Score, at: u32, count: u32) -> Result<(), Fail> {
    let total = measure_count(score);
    if at < 1 || at as usize > total + 1 {
        return Err(Fail::new(
            "at",
            format!(
                "at must be 1..={} (the score has {total} measures; {} appends)",
                total + 1,
                total + 1
            ),
        ));
    }
    let idx = at as usize - 1;
    let k = count as usize;
    let longest = score
        .parts
        .iter()
        .map(|p| p.measures.len())
        .max()
        .unwrap_or(0);
    if longest + k > MAX_MEASURES {
        return Err(Fail::new(
            "count",
            format!("a part would have more than {MAX_MEASURES} measures"),
        ));
    }
    for part in &mut score.parts {
        let n = part.measures.len();
        if idx > n {
            continue;
        }
        let uses_voices = part
            .measures
            .iter()
            .flat_map(|m| m.items.iter())
            .any(|i| matches!(i, Item::Note(n) if n.voice.is_some()));
        let state = if idx == 0 {
            in_force_at(part, 0)
        } else {
            in_force_before(part, idx)
        };
        let length = state
            .time
            .as_ref()
            .and_then(time_length)
            .unwrap_or(Rational::from_int(4));
        let staves = state.staves.unwrap_or(part.staves);
        let neighbour = Some(idx.saturating_sub(1));
        let base: i64 = if idx > 0 {
            part.measures[idx - 1]
                .number
                .trim()
                .parse()
                .unwrap_or(idx as i64)
        } else {
            part.measures
                .first()
                .and_then(|m| m.number.trim().parse::<i64>().ok())
                .map_or(0, |n| n - 1)
        };
        let new: Vec<Measure> = (1..=k)
            .map(|j| {
                let number = base.saturating_add(j as i64).max(0).to_string();
                rest_measure(part, number, length, staves, neighbour, uses_voices)
            })
            .collect();
        for m in part.measures.iter_mut().skip(idx) {
            shift_number(m, k as i64);
        }
        part.measures.splice(idx..idx, new);
        if idx == 0 && n > 0 {
            // The old first measure's start attributes and tempo move to the new first measure.
            let old = &mut part.measures[k];
            let attributes = old.attributes.take();
            let ons = onsets(old);
            let mut moved = Vec::new();
            let mut kept = Vec::new();
            for (item, on) in std::mem::take(&mut old.items).into_iter().zip(ons) {
                match &item {
                    Item::Direction(d) if on.is_zero() && tempo_only(d) => moved.push(item),
                    _ => kept.push(item),
                }
            }
            old.items = kept;
            let first = &mut part.measures[0];
            first.attributes = attributes;
            for (i, item) in moved.into_iter().enumerate() {
                first.items.insert(i, item);
            }
        }
        repair_ties(part, idx);
        repair_ties(part, idx + k);
    }
    Ok(())
}

/// The `select_part` edit.
pub(crate) fn select_part(score: &mut Score, part: usize) -> Result<(), Fail> {
    super::parts_selected(score, Some(part))?;
    let mut kept = score.parts.remove(part);
    // Score-wide directions of the other parts, by (measure, onset), first part first.
    for other in &score.parts {
        for (mi, m) in other.measures.iter().enumerate() {
            for (item, on) in m.items.iter().zip(onsets(m)) {
                let Item::Direction(d) = item else { continue };
                if !is_score_wide(d) {
                    continue;
                }
                let Some(target) = kept.measures.get_mut(mi) else {
                    continue;
                };
                let present =
                    target.items.iter().zip(onsets(target)).any(|(i, o)| {
                        o == on && matches!(i, Item::Direction(t) if is_score_wide(t))
                    });
                if present {
                    continue;
                }
                let mut copy = d.clone();
                copy.kinds
                    .retain(|k| !matches!(k, DirectionKind::Dynamics { .. }));
                if let Some(s) = copy.sound.as_mut() {
                    s.dynamics = None;
                }
                copy.staff = None;
                copy.voice = None;
                copy.offset = (!on.is_zero()).then_some(on);
                target.items.insert(0, Item::Direction(copy));
            }
        }
    }
    score.parts = vec![kept];
    Ok(())
}
