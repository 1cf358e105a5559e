//! `dynamics`: set a level, or step every level louder or softer, over the
//! whole score, a part or a measure range.
//!
//! # Choices
//! - A dynamics point is a direction the MIDI writer takes a velocity from:
//!   its `sound dynamics`, else its first mark on the ladder ppp, pp, p, mp,
//!   mf, f, ff, fff. Other marks (sfz, fp) are accents and are left alone.
//!   Dynamics are per part, as the MIDI writer plays them. An unmarked part
//!   plays at mf (velocity 80).
//! - `step` moves every point in the range by that many rungs (clamped at ppp
//!   and fff). `level` sets the points at the start of the range to the level
//!   and removes the other points inside it (and ladder marks attached to
//!   notes), so the whole range plays at that level.
//! - When no point stands at the very start of the range (onset 0 of its
//!   first measure), one is inserted there: the level in force there (mf when
//!   unmarked) stepped, or the level set. So softer on an unmarked score
//!   inserts mp at the start.
//! - After the range, the music plays as before: when the level in force
//!   after the range changed and the next measure does not start with its
//!   own point, the level that was in force is written there again (with its
//!   exact `sound dynamics`, so the velocity is unchanged).
//! - Every point written or changed carries `sound dynamics` = velocity ×
//!   100 / 90 of its mark (the MIDI reader's convention), so MusicXML players
//!   and the MIDI writer agree; a point that had only `sound dynamics` gets the
//!   new level's value and stays without a visible mark.
//! - Ladder marks attached to a note (they apply to that note only) in the
//!   range are stepped too.

use crate::model::{Direction, DirectionKind, Item, Part, Score, Sound};
use crate::rational::Rational;

use super::timeline::onsets;
use super::values::{DynamicLevel, Span};
use super::Fail;

/// What the edit does to each level.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change {
    /// Set this level.
    Set(DynamicLevel),
    /// Move by this many rungs.
    Step(i32),
}

/// The velocity `sound dynamics` gives, as the MIDI writer computes it.
fn sound_velocity(d: Rational) -> u8 {
    let v = d
        .checked_mul(Rational::new(9, 10).unwrap_or(Rational::ONE))
        .and_then(|v| {
            let (n, d) = (i128::from(v.num()), i128::from(v.den()));
            (2 * n + d).checked_div(2 * d)
        })
        .unwrap_or(80);
    u8::try_from(v.clamp(1, 127)).unwrap_or(80)
}

/// The first ladder mark of a direction.
fn ladder_mark(d: &Direction) -> Option<DynamicLevel> {
    d.kinds.iter().find_map(|k| match k {
        DirectionKind::Dynamics { marks } => marks.iter().find_map(|m| DynamicLevel::from_mark(m)),
        _ => None,
    })
}

/// A point's velocity, as the MIDI writer reads it, when the direction is a point.
pub(crate) fn point_velocity(d: &Direction) -> Option<u8> {
    if let Some(v) = d.sound.as_ref().and_then(|s| s.dynamics) {
        return Some(sound_velocity(v));
    }
    d.kinds.iter().find_map(|k| match k {
        DirectionKind::Dynamics { marks } => {
            marks.iter().find_map(|m| crate::midi::mark_velocity(m))
        }
        _ => None,
    })
}

/// A point's level: its ladder mark, else the nearest to its velocity.
fn point_level(d: &Direction) -> Option<DynamicLevel> {
    let v = point_velocity(d)?;
    Some(ladder_mark(d).unwrap_or_else(|| DynamicLevel::from_velocity(v)))
}

/// A point in force: its level, velocity and exact `sound dynamics`.
#[derive(Clone, Debug)]
struct InForce {
    level: DynamicLevel,
    velocity: u8,
    sound: Option<Rational>,
}

/// The direction of the last point in measures `0..until` of a part (by time; document order on ties).
pub(crate) fn last_point_direction(part: &Part, until: usize) -> Option<&Direction> {
    part.measures.iter().take(until).rev().find_map(|m| {
        let mut points: Vec<(Rational, &Direction)> = m
            .items
            .iter()
            .zip(onsets(m))
            .filter_map(|(item, on)| match item {
                Item::Direction(d) if point_velocity(d).is_some() => Some((on, d)),
                _ => None,
            })
            .collect();
        points.sort_by_key(|p| p.0);
        points.last().map(|p| p.1)
    })
}

/// The last point in measures `0..until` of a part.
fn last_point(part: &Part, until: usize) -> Option<InForce> {
    let d = last_point_direction(part, until)?;
    Some(InForce {
        level: point_level(d)?,
        velocity: point_velocity(d)?,
        sound: d.sound.as_ref().and_then(|s| s.dynamics),
    })
}

/// Whether measure `mi` of a part has a point at onset 0.
pub(crate) fn starts_with_point(part: &Part, mi: usize) -> bool {
    part.measures.get(mi).is_some_and(|m| {
        m.items
            .iter()
            .zip(onsets(m))
            .any(|(item, on)| matches!(item, Item::Direction(d) if on.is_zero() && point_velocity(d).is_some()))
    })
}

/// Sets a point to a level: its ladder marks become that one mark, its sound the level's.
fn set_point(d: &mut Direction, level: DynamicLevel) {
    let mut written = false;
    for k in &mut d.kinds {
        if let DirectionKind::Dynamics { marks } = k {
            let mut out = Vec::with_capacity(marks.len());
            for m in marks.drain(..) {
                if DynamicLevel::from_mark(&m).is_some() {
                    if !written {
                        out.push(level.mark().to_owned());
                        written = true;
                    }
                } else {
                    out.push(m);
                }
            }
            *marks = out;
        }
    }
    d.sound.get_or_insert_with(Sound::default).dynamics = Some(level.sound_dynamics());
}

/// Takes the dynamics out of a direction; true when nothing is left of it.
fn clear_point(d: &mut Direction) -> bool {
    for k in &mut d.kinds {
        if let DirectionKind::Dynamics { marks } = k {
            marks.retain(|m| DynamicLevel::from_mark(m).is_none());
        }
    }
    d.kinds
        .retain(|k| !matches!(k, DirectionKind::Dynamics { marks } if marks.is_empty()));
    if let Some(s) = d.sound.as_mut() {
        s.dynamics = None;
    }
    if d.sound.as_ref() == Some(&Sound::default()) {
        d.sound = None;
    }
    d.kinds.is_empty() && d.sound.is_none()
}

/// A new dynamics direction.
pub(crate) fn point(level: DynamicLevel, sound: Rational, staff: Option<u8>) -> Item {
    Item::Direction(Direction {
        kinds: vec![DirectionKind::Dynamics {
            marks: vec![level.mark().to_owned()],
        }],
        placement: Some("below".into()),
        staff,
        sound: Some(Sound {
            dynamics: Some(sound),
            ..Sound::default()
        }),
        ..Direction::default()
    })
}

/// The staff new points go on: that of the part's first point, else staff 1 of a multi-staff part.
fn staff_for(part: &Part) -> Option<u8> {
    part.measures
        .iter()
        .flat_map(|m| m.items.iter())
        .find_map(|i| match i {
            Item::Direction(d) if point_velocity(d).is_some() => Some(d.staff),
            _ => None,
        })
        .unwrap_or((part.staves > 1).then_some(1))
}

fn edit_part(part: &mut Part, first: usize, last: usize, change: Change) {
    let before = last_point(part, first);
    let next = last + 1;
    let restore = (next < part.measures.len() && !starts_with_point(part, next))
        .then(|| last_point(part, next));
    let had_start = starts_with_point(part, first);
    let staff = staff_for(part);
    for mi in first..=last {
        let m = &mut part.measures[mi];
        let ons = onsets(m);
        let mut remove = Vec::new();
        for (ii, item) in m.items.iter_mut().enumerate() {
            match item {
                Item::Direction(d) => {
                    let Some(level) = point_level(d) else {
                        continue;
                    };
                    let at_start = mi == first && ons.get(ii).is_some_and(|o| o.is_zero());
                    match change {
                        Change::Step(n) => set_point(d, level.step(n)),
                        Change::Set(l) if at_start => set_point(d, l),
                        Change::Set(_) => {
                            if clear_point(d) {
                                remove.push(ii);
                            }
                        }
                    }
                }
                Item::Note(n) => match change {
                    Change::Step(by) => {
                        for mark in &mut n.dynamics {
                            if let Some(l) = DynamicLevel::from_mark(mark) {
                                *mark = l.step(by).mark().to_owned();
                            }
                        }
                    }
                    Change::Set(_) => n.dynamics.retain(|m| DynamicLevel::from_mark(m).is_none()),
                },
                _ => {}
            }
        }
        for ii in remove.into_iter().rev() {
            m.items.remove(ii);
        }
    }
    if !had_start {
        let level = match change {
            Change::Set(l) => l,
            Change::Step(n) => before
                .as_ref()
                .map_or(DynamicLevel::Mf, |b| b.level)
                .step(n),
        };
        part.measures[first]
            .items
            .insert(0, point(level, level.sound_dynamics(), staff));
    }
    if let Some(was) = restore {
        let now = last_point(part, next).map_or(80, |p| p.velocity);
        let was_velocity = was.as_ref().map_or(80, |p| p.velocity);
        if now != was_velocity {
            let (level, sound) = match was {
                Some(p) => (p.level, p.sound.unwrap_or(p.level.sound_dynamics())),
                None => (DynamicLevel::Mf, DynamicLevel::Mf.sound_dynamics()),
            };
            part.measures[next]
                .items
                .insert(0, point(level, sound, staff));
        }
    }
}

/// The `dynamics` edit.
pub(crate) fn dynamics(
    score: &mut Score,
    change: Change,
    part: Option<usize>,
    measures: Option<Span>,
) -> Result<(), Fail> {
    let chosen = super::parts_selected(score, part)?;
    let count = match part {
        Some(pi) => score.parts[pi].measures.len(),
        None => super::timeline::measure_count(score),
    };
    let (first, last) = match measures {
        Some(span) => super::measure_span(span, count, "measures")?,
        None if count == 0 => return Err(Fail::new("", "the score has no measures")),
        None => (0, count - 1),
    };
    for pi in chosen {
        let p = &mut score.parts[pi];
        if first >= p.measures.len() {
            continue;
        }
        let last = last.min(p.measures.len() - 1);
        edit_part(p, first, last, change);
    }
    Ok(())
}
