//! Where things are in time, and what is in force where: the helpers every
//! edit shares. Onsets follow the MIDI writer's cursor rules exactly (a note
//! moves the cursor by its duration, a chord member starts with the previous
//! note, backup and forward move it, a direction or chord symbol sounds at
//! the cursor plus its offset), so edits and playback agree.

use std::collections::BTreeMap;

use crate::model::{
    Attributes, Clef, Direction, DirectionKind, Item, Key, Measure, Note, Part, Score, TieType,
    TimeSig, Transpose,
};
use crate::rational::Rational;

/// `a + b`, keeping `a` on (practically impossible) overflow.
pub(crate) fn add(a: Rational, b: Rational) -> Rational {
    a.checked_add(b).unwrap_or(a)
}

/// `a - b`, keeping `a` on overflow.
pub(crate) fn sub(a: Rational, b: Rational) -> Rational {
    a.checked_sub(b).unwrap_or(a)
}

/// The onset of every item of a measure (quarters from its start), by index.
pub(crate) fn onsets(m: &Measure) -> Vec<Rational> {
    let mut cursor = Rational::ZERO;
    let mut last_onset = Rational::ZERO;
    m.items
        .iter()
        .map(|item| match item {
            Item::Note(n) => {
                if n.chord {
                    last_onset
                } else {
                    last_onset = cursor;
                    if !n.grace {
                        cursor = add(cursor, n.duration);
                    }
                    last_onset
                }
            }
            Item::Backup { duration } => {
                let at = cursor;
                cursor = sub(cursor, *duration).max(Rational::ZERO);
                at
            }
            Item::Forward { duration, .. } => {
                let at = cursor;
                cursor = add(cursor, *duration).max(Rational::ZERO);
                at
            }
            Item::Direction(d) => {
                add(cursor, d.offset.unwrap_or(Rational::ZERO)).max(Rational::ZERO)
            }
            Item::Harmony(h) => add(cursor, h.offset.unwrap_or(Rational::ZERO)).max(Rational::ZERO),
            Item::Attributes(_) => cursor,
        })
        .collect()
}

/// How far a measure's cursor reaches (its written length; zero when empty).
pub(crate) fn written_length(m: &Measure) -> Rational {
    let mut cursor = Rational::ZERO;
    let mut furthest = Rational::ZERO;
    for item in &m.items {
        match item {
            Item::Note(n) if !n.chord && !n.grace => cursor = add(cursor, n.duration),
            Item::Backup { duration } => cursor = sub(cursor, *duration).max(Rational::ZERO),
            Item::Forward { duration, .. } => cursor = add(cursor, *duration),
            _ => {}
        }
        furthest = furthest.max(cursor);
    }
    furthest
}

/// A time signature's length in quarters ("3+2" over "8" is 5/2), when its text is numeric.
pub(crate) fn time_length(t: &TimeSig) -> Option<Rational> {
    let mut num: i64 = 0;
    for p in t.beats.split('+') {
        num = num.checked_add(p.trim().parse::<i64>().ok()?)?;
    }
    let den: i64 = t.beat_type.trim().parse().ok()?;
    Rational::new(num.checked_mul(4)?, den)
        .ok()
        .filter(|l| *l > Rational::ZERO)
}

/// The attributes in force at a point: the last value written of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InForce {
    pub divisions: Option<u32>,
    pub key: Option<Key>,
    pub time: Option<TimeSig>,
    /// Clefs by staff (1-based; a clef without a staff is staff 1).
    pub clefs: BTreeMap<u8, Clef>,
    pub staves: Option<u8>,
    pub transpose: Option<Transpose>,
}

impl InForce {
    /// Applies what an attributes block writes.
    pub(crate) fn apply(&mut self, a: &Attributes) {
        if a.divisions.is_some() {
            self.divisions = a.divisions;
        }
        if a.key.is_some() {
            self.key.clone_from(&a.key);
        }
        if a.time.is_some() {
            self.time.clone_from(&a.time);
        }
        for c in &a.clefs {
            self.clefs.insert(c.staff.unwrap_or(1), c.clone());
        }
        if a.staves.is_some() {
            self.staves = a.staves;
        }
        if a.transpose.is_some() {
            self.transpose.clone_from(&a.transpose);
        }
    }

    /// Applies a whole measure: its start attributes and every change inside it.
    pub(crate) fn apply_measure(&mut self, m: &Measure) {
        if let Some(a) = &m.attributes {
            self.apply(a);
        }
        for item in &m.items {
            if let Item::Attributes(a) = item {
                self.apply(a);
            }
        }
    }
}

/// The attributes in force at the end of measure `index - 1` (nothing when `index` is 0).
pub(crate) fn in_force_before(part: &Part, index: usize) -> InForce {
    let mut s = InForce::default();
    for m in part.measures.iter().take(index) {
        s.apply_measure(m);
    }
    s
}

/// The attributes in force at the start of measure `index` (its own start attributes included).
pub(crate) fn in_force_at(part: &Part, index: usize) -> InForce {
    let mut s = in_force_before(part, index);
    if let Some(a) = part.measures.get(index).and_then(|m| m.attributes.as_ref()) {
        s.apply(a);
    }
    s
}

/// The length a measure should have: its time signature's, or, for an
/// implicit measure (a pickup) with content, what it holds; 4/4 without any
/// time signature (MusicXML's default). `None` when the signature is not numeric
/// and the measure is empty.
pub(crate) fn nominal_length(part: &Part, index: usize) -> Option<Rational> {
    let m = part.measures.get(index)?;
    let written = written_length(m);
    if m.implicit && written > Rational::ZERO {
        return Some(written);
    }
    match in_force_at(part, index).time {
        Some(t) => time_length(&t).or((written > Rational::ZERO).then_some(written)),
        None => Some(Rational::from_int(4)),
    }
}

// One reading of tempo marks for the edits and the MIDI writer.
pub(crate) use crate::midi::write::{beat_unit_quarters, direction_tempo};

/// Whether a direction carries something that belongs to the whole score
/// rather than its part: a tempo, a jump or jump target, a rehearsal mark.
pub(crate) fn is_score_wide(d: &Direction) -> bool {
    direction_tempo(d).is_some()
        || d.kinds.iter().any(|k| {
            matches!(
                k,
                DirectionKind::Segno
                    | DirectionKind::Coda
                    | DirectionKind::Rehearsal { .. }
                    | DirectionKind::Metronome { .. }
            )
        })
        || d.sound.as_ref().is_some_and(|s| {
            s.dacapo
                || s.fine
                || s.segno.is_some()
                || s.dalsegno.is_some()
                || s.coda.is_some()
                || s.tocoda.is_some()
        })
}

/// A rational as a short decimal for display: exact when it has at most four
/// decimals, else rounded to two ("96", "105.6", "66.67").
pub(crate) fn decimal_text(r: Rational) -> String {
    let exact4 = r.checked_mul(Rational::from_int(10_000));
    let (scaled, places) = match exact4 {
        Some(s) if s.den() == 1 => (i128::from(s.num()), 4u32),
        _ => {
            let s = r
                .checked_mul(Rational::from_int(100))
                .unwrap_or(Rational::ZERO);
            // Round half away from zero.
            let (n, d) = (i128::from(s.num()), i128::from(s.den()));
            let q = (2 * n.abs() + d) / (2 * d);
            (if n < 0 { -q } else { q }, 2u32)
        }
    };
    let unit = 10i128.pow(places);
    let sign = if scaled < 0 { "-" } else { "" };
    let (int, frac) = (scaled.abs() / unit, scaled.abs() % unit);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:0width$}", width = places as usize);
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

/// A note's voice, "1" when unwritten.
pub(crate) fn voice_of(n: &Note) -> &str {
    n.voice.as_deref().unwrap_or("1")
}

/// Whether two notes sound the same key (for ties).
fn same_sound(a: &Note, b: &Note) -> bool {
    match (&a.pitch, &b.pitch) {
        (Some(p), Some(q)) => p.midi() == q.midi(),
        (None, None) => a.unpitched.is_some() && a.unpitched == b.unpitched,
        _ => false,
    }
}

/// Removes ties broken at the junction between measures `index - 1` and
/// `index` of a part (after measures were deleted, inserted or replaced):
/// a tie start in the earlier measure that no note at the start of the later
/// one continues, and a tie stop in the later one that nothing in the earlier
/// one starts. Ties that still join matching notes are kept.
pub(crate) fn repair_ties(part: &mut Part, index: usize) {
    if index == 0 || index >= part.measures.len() {
        return;
    }
    let notes = |m: &Measure| -> Vec<(usize, Note)> {
        m.items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match it {
                Item::Note(n) if !n.rest => Some((i, n.clone())),
                _ => None,
            })
            .collect()
    };
    let before = notes(&part.measures[index - 1]);
    let after = notes(&part.measures[index]);
    // Starts in `before` not closed inside `before`: they reach the barline.
    let open: Vec<usize> = before
        .iter()
        .enumerate()
        .filter(|(k, (_, n))| {
            n.ties.contains(&TieType::Start)
                && !before[k + 1..].iter().any(|(_, m)| {
                    voice_of(m) == voice_of(n) && same_sound(m, n) && m.is_tie_continuation()
                })
        })
        .map(|(_, (i, _))| *i)
        .collect();
    // Stops in `after` not opened inside `after`: they come from across the barline.
    let incoming: Vec<usize> = after
        .iter()
        .enumerate()
        .filter(|(k, (_, n))| {
            n.is_tie_continuation()
                && !after[..*k].iter().any(|(_, m)| {
                    voice_of(m) == voice_of(n)
                        && same_sound(m, n)
                        && m.ties.contains(&TieType::Start)
                })
        })
        .map(|(_, (i, _))| *i)
        .collect();
    let note_at = |m: &Measure, i: usize| match m.items.get(i) {
        Some(Item::Note(n)) => Some(n.clone()),
        _ => None,
    };
    let mut drop_start = Vec::new();
    for &i in &open {
        let Some(n) = note_at(&part.measures[index - 1], i) else {
            continue;
        };
        let matched = incoming.iter().any(|&j| {
            note_at(&part.measures[index], j)
                .is_some_and(|m| voice_of(&m) == voice_of(&n) && same_sound(&m, &n))
        });
        if !matched {
            drop_start.push(i);
        }
    }
    let mut drop_stop = Vec::new();
    for &j in &incoming {
        let Some(n) = note_at(&part.measures[index], j) else {
            continue;
        };
        let matched = open.iter().any(|&i| {
            note_at(&part.measures[index - 1], i)
                .is_some_and(|m| voice_of(&m) == voice_of(&n) && same_sound(&m, &n))
        });
        if !matched {
            drop_stop.push(j);
        }
    }
    for i in drop_start {
        if let Some(Item::Note(n)) = part.measures[index - 1].items.get_mut(i) {
            n.ties.retain(|t| *t != TieType::Start);
        }
    }
    for j in drop_stop {
        if let Some(Item::Note(n)) = part.measures[index].items.get_mut(j) {
            n.ties.retain(|t| *t != TieType::Stop);
        }
    }
}

/// The number of measures the edits count against: the first part's.
pub(crate) fn measure_count(score: &Score) -> usize {
    score.parts.first().map_or(0, |p| p.measures.len())
}

/// Shifts the written number of each purely numeric measure number by `by` (others are kept).
pub(crate) fn shift_number(m: &mut Measure, by: i64) {
    if let Ok(n) = m.number.trim().parse::<i64>() {
        if let Some(v) = n.checked_add(by).filter(|v| *v >= 0) {
            m.number = v.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_for_display() {
        let r = |n, d| Rational::new(n, d).unwrap();
        assert_eq!(decimal_text(r(96, 1)), "96");
        assert_eq!(decimal_text(r(528, 5)), "105.6");
        assert_eq!(decimal_text(r(200, 3)), "66.67");
        assert_eq!(decimal_text(r(1, 8)), "0.125");
        assert_eq!(decimal_text(r(-1, 3)), "-0.33");
    }
}
