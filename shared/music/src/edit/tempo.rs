//! `set_tempo` and `scale_tempo`.
//!
//! # Choices
//! - `bpm` is quarter notes per minute, as MusicXML's `sound tempo` is. A
//!   metronome mark with another beat unit shows the same speed in its unit
//!   (dotted quarter = bpm × 2/3), as a short decimal (two places when not exact).
//! - A tempo "at measure n" is a direction at the start of that measure
//!   (onset 0) that sets a tempo. `set_tempo` rewrites every such direction in
//!   every part (its `sound tempo` and its metronome marks, adding a quarter
//!   metronome mark when it has none); when there is none, it adds one to the
//!   first part. Later tempo changes are kept.
//! - `scale_tempo` multiplies every tempo in the score (sound tempo and
//!   numeric metronome marks; "c. 120" texts are rewritten to the new number
//!   when the direction also sets a sound tempo). Without a tempo at the very
//!   start, the score plays at 120 (as the MIDI writer plays it), so the
//!   scaled 120 × factor is written there.
//! - Tempos stay within 4..=1000 quarters per minute (a MIDI tempo holds at
//!   least about 3.6); `factor` within 1/10..=10.

use crate::model::{Direction, DirectionKind, Item, Score, Sound};
use crate::rational::Rational;

use super::timeline::{beat_unit_quarters, decimal_text, direction_tempo, measure_count, onsets};
use super::Fail;

/// The slowest tempo an edit writes (quarters per minute).
pub(crate) const MIN_BPM: i64 = 4;
/// The fastest tempo an edit writes (quarters per minute).
pub(crate) const MAX_BPM: i64 = 1000;

/// Whether a tempo is in the range edits write.
pub(crate) fn bpm_ok(bpm: Rational) -> bool {
    bpm >= Rational::from_int(MIN_BPM) && bpm <= Rational::from_int(MAX_BPM)
}

/// Rewrites a direction's tempo: sound tempo and every metronome mark; adds a mark when asked and missing.
fn set_direction_tempo(d: &mut Direction, bpm: Rational, add_mark: bool) {
    d.sound.get_or_insert_with(Sound::default).tempo = Some(bpm);
    let mut has_mark = false;
    for k in &mut d.kinds {
        if let DirectionKind::Metronome {
            beat_unit,
            dots,
            per_minute,
        } = k
        {
            has_mark = true;
            match beat_unit_quarters(beat_unit, *dots).and_then(|q| bpm.checked_div(q)) {
                Some(v) => *per_minute = Some(decimal_text(v)),
                None => {
                    *beat_unit = "quarter".into();
                    *dots = 0;
                    *per_minute = Some(decimal_text(bpm));
                }
            }
        }
    }
    if add_mark && !has_mark {
        d.kinds.insert(0, metronome(bpm));
    }
}

fn metronome(bpm: Rational) -> DirectionKind {
    DirectionKind::Metronome {
        beat_unit: "quarter".into(),
        dots: 0,
        per_minute: Some(decimal_text(bpm)),
    }
}

/// A new tempo direction: a quarter metronome mark and its sound tempo.
pub(crate) fn tempo_direction(bpm: Rational) -> Direction {
    Direction {
        kinds: vec![metronome(bpm)],
        placement: Some("above".into()),
        sound: Some(Sound {
            tempo: Some(bpm),
            ..Sound::default()
        }),
        ..Direction::default()
    }
}

/// Indexes of the tempo directions at the start (onset 0) of measure `mi`, by part.
fn tempos_at_start(score: &Score, mi: usize) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (pi, part) in score.parts.iter().enumerate() {
        let Some(m) = part.measures.get(mi) else {
            continue;
        };
        for (ii, (item, on)) in m.items.iter().zip(onsets(m)).enumerate() {
            if let Item::Direction(d) = item {
                if on.is_zero() && direction_tempo(d).is_some() {
                    found.push((pi, ii));
                }
            }
        }
    }
    found
}

/// The `set_tempo` edit.
pub(crate) fn set_tempo(
    score: &mut Score,
    bpm: Rational,
    measure: Option<u32>,
) -> Result<(), Fail> {
    let count = measure_count(score);
    let mi = match measure {
        None => 0,
        Some(n) => super::measure_index(n, count, "measure")?,
    };
    if count == 0 {
        return Err(Fail::new("measure", "the score has no measures"));
    }
    let found = tempos_at_start(score, mi);
    for &(pi, ii) in &found {
        if let Some(Item::Direction(d)) = score.parts[pi].measures[mi].items.get_mut(ii) {
            set_direction_tempo(d, bpm, true);
        }
    }
    if found.is_empty() {
        score.parts[0].measures[mi]
            .items
            .insert(0, Item::Direction(tempo_direction(bpm)));
    }
    Ok(())
}

/// The `scale_tempo` edit.
pub(crate) fn scale_tempo(score: &mut Score, factor: Rational) -> Result<(), Fail> {
    let starts = !tempos_at_start(score, 0).is_empty();
    for (pi, part) in score.parts.iter_mut().enumerate() {
        for (mi, m) in part.measures.iter_mut().enumerate() {
            for item in &mut m.items {
                let Item::Direction(d) = item else { continue };
                let Some(t) = direction_tempo(d) else {
                    continue;
                };
                let scaled = t.checked_mul(factor).filter(|v| bpm_ok(*v)).ok_or_else(|| {
                    Fail::new(
                        "factor",
                        format!(
                            "the tempo {} in part {pi} measure {} would become {}, outside {MIN_BPM}..={MAX_BPM} quarters per minute",
                            decimal_text(t),
                            mi + 1,
                            t.checked_mul(factor).map_or("?".into(), decimal_text)
                        ),
                    )
                })?;
                set_direction_tempo(d, scaled, false);
            }
        }
    }
    if !starts && measure_count(score) > 0 {
        let t = Rational::from_int(120)
            .checked_mul(factor)
            .filter(|v| bpm_ok(*v))
            .ok_or_else(|| Fail::new("factor", "the default tempo 120 would leave the range"))?;
        score.parts[0].measures[0]
            .items
            .insert(0, Item::Direction(tempo_direction(t)));
    }
    Ok(())
}
