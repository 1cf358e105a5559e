//! `transpose` and `octave`: pitches, key signatures and chord symbols move
//! together, spelled by the interval so that F major up a major second is G
//! major with F→G and B♭→C.
//!
//! # Choices
//! - By `interval`: every note moves by exactly that interval (steps and
//!   semitones). A key signature moves by the interval's place on the line of
//!   fifths (M2: +2 fifths); a key that would pass seven sharps or flats is
//!   written as its enharmonic (D♯ major becomes E♭), and the notes of that
//!   key's stretch follow the enharmonic interval (A4 up from A major: d5).
//! - By `semitones`: each stretch of music under one key signature goes to
//!   the key with the fewest accidentals that is that many semitones away; a
//!   tie (six sharps or six flats) goes to the flats (G♭, E♭ minor). Notes move
//!   by the interval that implies (from F, +2 is a major second; from B, +1 to
//!   C is a minor second). Music before any key signature counts as C major
//!   (no signature is added; there a tritone up is spelled as a diminished
//!   fifth and down as an augmented fourth, so going back is exact). Whole
//!   octaves (0, ±12, ...) keep the key.
//!   Transposing back (+2 then −2) gives the exact original for every starting
//!   key of up to five accidentals, or G♭/E♭ minor; F♯, C♯ and C♭ major
//!   (and relatives) come back respelled as G♭, D♭ and B (use an interval to
//!   keep such spellings). By interval, going back is exact unless a key had
//!   to be respelled on the way (B major up an augmented fourth is F major;
//!   F major down one is C♭ major).
//! - A note that would need three or more sharps or flats is respelled to the
//!   same key with the fewest (flats in flat keys, sharps otherwise).
//! - Chord symbols (root and bass) move with their part's notes; their kind
//!   is kept. Unpitched (percussion) notes never move; a part with no
//!   pitched notes and no chord symbols (a drum part) is left as it is.
//! - The written-to-sounding `transpose` of a transposing instrument is kept:
//!   written and sounding pitch move together.
//! - A result outside octaves 0..=9 or MIDI keys 0..=127 refuses the whole edit.

use crate::model::{Harmony, Item, Key, Part, Pitch, Score, Step};

use super::values::{check_pitch, Interval};
use super::Fail;

/// How far to move.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shift {
    /// Semitones, spelled by the key.
    Semitones(i32),
    /// An exact interval.
    Interval(Interval),
}

fn step_index(s: Step) -> i32 {
    match s {
        Step::C => 0,
        Step::D => 1,
        Step::E => 2,
        Step::F => 3,
        Step::G => 4,
        Step::A => 5,
        Step::B => 6,
    }
}

fn step_at(i: i32) -> Step {
    Step::ALL[usize::try_from(i.rem_euclid(7)).unwrap_or(0)]
}

/// Whether a part has something to transpose (pitched notes or chord symbols).
pub(crate) fn is_pitched(part: &Part) -> bool {
    part.measures.iter().any(|m| {
        m.items.iter().any(|i| match i {
            Item::Note(n) => n.pitch.is_some(),
            Item::Harmony(h) => h.root_step.is_some() || h.bass_step.is_some(),
            _ => false,
        })
    })
}

/// The plan for music before any key signature: C major, except that an
/// interval is taken as given (no signature needs respelling) and a
/// six-and-six tie goes against the direction (C +6 is G♭, C −6 is F♯), so
/// that going back is exact.
fn plan_keyless(shift: Shift) -> (i32, Interval) {
    match shift {
        Shift::Interval(iv) => (iv.fifths(), iv),
        Shift::Semitones(s) if s.rem_euclid(12) == 6 => {
            let to = if s > 0 { -6 } else { 6 };
            (to, Interval::from_fifths(to, s))
        }
        Shift::Semitones(_) => plan(0, shift),
    }
}

/// The new key (fifths) and the interval the notes under it move by.
fn plan(fifths: i32, shift: Shift) -> (i32, Interval) {
    match shift {
        Shift::Interval(iv) => {
            let mut to = fifths + iv.fifths();
            while to > 7 {
                to -= 12;
            }
            while to < -7 {
                to += 12;
            }
            (to, Interval::from_fifths(to - fifths, iv.semitones))
        }
        Shift::Semitones(s) if s.rem_euclid(12) == 0 => (
            fifths,
            Interval {
                steps: 7 * (s / 12),
                semitones: s,
            },
        ),
        Shift::Semitones(s) => {
            let base = fifths + (7 * s).rem_euclid(12);
            // Candidates base - 24 ..= base + 12: the fewest accidentals wins, flats on a tie.
            let to = (-2..=1)
                .map(|k| base + 12 * k)
                .min_by_key(|f| (f.abs(), *f > 0))
                .unwrap_or(base);
            (to, Interval::from_fifths(to - fifths, s))
        }
    }
}

/// The same key spelled with the fewest accidentals.
fn respell(midi: i32, flats: bool) -> Pitch {
    const SHARPS: [(Step, i8); 12] = [
        (Step::C, 0),
        (Step::C, 1),
        (Step::D, 0),
        (Step::D, 1),
        (Step::E, 0),
        (Step::F, 0),
        (Step::F, 1),
        (Step::G, 0),
        (Step::G, 1),
        (Step::A, 0),
        (Step::A, 1),
        (Step::B, 0),
    ];
    const FLATS: [(Step, i8); 12] = [
        (Step::C, 0),
        (Step::D, -1),
        (Step::D, 0),
        (Step::E, -1),
        (Step::E, 0),
        (Step::F, 0),
        (Step::G, -1),
        (Step::G, 0),
        (Step::A, -1),
        (Step::A, 0),
        (Step::B, -1),
        (Step::B, 0),
    ];
    let pc = usize::try_from(midi.rem_euclid(12)).unwrap_or(0);
    let (step, alter) = if flats { FLATS[pc] } else { SHARPS[pc] };
    Pitch {
        step,
        alter,
        octave: i8::try_from(midi.div_euclid(12) - 1).unwrap_or(i8::MIN),
    }
}

/// A pitch moved by an interval, or why it cannot be.
pub(crate) fn move_pitch(p: &Pitch, iv: Interval, flats: bool) -> Result<Pitch, String> {
    let abs = i32::from(p.octave) * 7 + step_index(p.step) + iv.steps;
    let octave = abs.div_euclid(7);
    let step = step_at(abs);
    let target = p.midi() + iv.semitones;
    let natural = (octave + 1) * 12 + step.semitone();
    let alter = target - natural;
    let moved = if alter.abs() > 2 {
        respell(target, flats)
    } else {
        Pitch {
            step,
            alter: i8::try_from(alter).unwrap_or(0),
            octave: i8::try_from(octave).unwrap_or(i8::MIN),
        }
    };
    check_pitch(&moved)?;
    Ok(moved)
}

/// A chord symbol's root and bass moved by an interval (letters and alters only).
fn move_harmony(h: &mut Harmony, iv: Interval, flats: bool) {
    let mv = |step: Step, alter: i8| {
        let p = Pitch {
            step,
            alter,
            octave: 4,
        };
        move_pitch(&p, iv, flats)
            .or_else(|_| {
                // Far intervals leave the octave range; the letter is what counts.
                let q = Pitch { octave: 4, ..p };
                let reduced = Interval {
                    steps: iv.steps.rem_euclid(7),
                    semitones: iv.semitones - 12 * iv.steps.div_euclid(7),
                };
                move_pitch(&q, reduced, flats)
            })
            .map(|p| (p.step, p.alter))
            .unwrap_or((step, alter))
    };
    if let Some(s) = h.root_step {
        let (s, a) = mv(s, h.root_alter);
        h.root_step = Some(s);
        h.root_alter = a;
    }
    if let Some(s) = h.bass_step {
        let (s, a) = mv(s, h.bass_alter);
        h.bass_step = Some(s);
        h.bass_alter = a;
    }
}

/// Where a failed pitch sits, for the message.
fn place(part: &Part, pi: usize, m: usize) -> String {
    let number = part.measures.get(m).map_or("?", |m| m.number.as_str());
    format!("part {pi} measure {} (number {number:?})", m + 1)
}

/// Transposes one part; `field` names the edit field blamed on a range error.
fn transpose_part(part: &mut Part, pi: usize, shift: Shift, field: &str) -> Result<(), Fail> {
    // The original key in force and the plan it gives.
    let mut current = plan_keyless(shift);
    let mut flats = current.0 < 0;
    let new_key = |k: &Key, plan: (i32, Interval)| Key {
        fifths: i8::try_from(plan.0).unwrap_or(k.fifths),
        mode: k.mode.clone(),
    };
    for mi in 0..part.measures.len() {
        let m = &mut part.measures[mi];
        if let Some(k) = m.attributes.as_mut().and_then(|a| a.key.as_mut()) {
            current = plan(i32::from(k.fifths), shift);
            flats = current.0 < 0;
            *k = new_key(k, current);
        }
        let mut failure = None;
        for item in &mut m.items {
            match item {
                Item::Attributes(a) => {
                    if let Some(k) = a.key.as_mut() {
                        current = plan(i32::from(k.fifths), shift);
                        flats = current.0 < 0;
                        *k = new_key(k, current);
                    }
                }
                Item::Note(n) => {
                    if let Some(p) = n.pitch.as_mut() {
                        match move_pitch(p, current.1, flats) {
                            Ok(q) => *p = q,
                            Err(why) => {
                                failure = Some((super::values::pitch_text(p), why));
                                break;
                            }
                        }
                    }
                }
                Item::Harmony(h) => move_harmony(h, current.1, flats),
                _ => {}
            }
        }
        if let Some((name, why)) = failure {
            let msg = format!(
                "{name} in {} would move out of range: {why}",
                place(part, pi, mi)
            );
            return Err(Fail::new(field, msg));
        }
    }
    Ok(())
}

/// The `transpose` edit.
pub(crate) fn transpose(score: &mut Score, shift: Shift, part: Option<usize>) -> Result<(), Fail> {
    let field = match shift {
        Shift::Semitones(_) => "semitones",
        Shift::Interval(_) => "interval",
    };
    let chosen = super::parts_selected(score, part)?;
    if let Some(pi) = part {
        if !score.parts.get(pi).is_some_and(is_pitched) {
            return Err(Fail::new(
                "part",
                format!("part {pi} has no pitched notes or chord symbols to transpose"),
            ));
        }
    }
    for pi in chosen {
        let p = &mut score.parts[pi];
        if is_pitched(p) {
            transpose_part(p, pi, shift, field)?;
        }
    }
    Ok(())
}

/// The `octave` edit: whole octaves, key and chord symbols unchanged.
pub(crate) fn octave(score: &mut Score, part: usize, by: i32) -> Result<(), Fail> {
    super::parts_selected(score, Some(part))?;
    let p = &mut score.parts[part];
    if !p.measures.iter().any(|m| {
        m.items
            .iter()
            .any(|i| matches!(i, Item::Note(n) if n.pitch.is_some()))
    }) {
        return Err(Fail::new(
            "part",
            format!("part {part} has no pitched notes to move"),
        ));
    }
    let iv = Interval {
        steps: 7 * by,
        semitones: 12 * by,
    };
    for mi in 0..p.measures.len() {
        let mut failure = None;
        for item in &mut p.measures[mi].items {
            if let Item::Note(n) = item {
                if let Some(pitch) = n.pitch.as_mut() {
                    match move_pitch(pitch, iv, false) {
                        Ok(q) => *pitch = q,
                        Err(why) => {
                            failure = Some(format!(
                                "{} would move out of range: {why}",
                                super::values::pitch_text(pitch)
                            ));
                            break;
                        }
                    }
                }
            }
        }
        if let Some(msg) = failure {
            return Err(Fail::new("by", format!("{msg} in {}", place(p, part, mi))));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pitch(step: Step, alter: i8, octave: i8) -> Pitch {
        Pitch {
            step,
            alter,
            octave,
        }
    }

    #[test]
    fn semitone_plans_pick_the_fewest_accidentals() {
        // F major +2 → G major by a major second.
        assert_eq!(
            plan(-1, Shift::Semitones(2)),
            (
                1,
                Interval {
                    steps: 1,
                    semitones: 2
                }
            )
        );
        // G major -2 → F major.
        assert_eq!(
            plan(1, Shift::Semitones(-2)),
            (
                -1,
                Interval {
                    steps: -1,
                    semitones: -2
                }
            )
        );
        // B major +1 → C major (minor second), not B♯.
        assert_eq!(plan(5, Shift::Semitones(1)).0, 0);
        // C +6: G♭ (flats win the tie) by a diminished fifth.
        assert_eq!(
            plan(0, Shift::Semitones(6)),
            (
                -6,
                Interval {
                    steps: 4,
                    semitones: 6
                }
            )
        );
        // Octaves keep the key.
        assert_eq!(plan(7, Shift::Semitones(-12)).0, 7);
        // Every starting key of at most five accidentals comes back.
        for f in -6..=5 {
            for s in -13..=13 {
                let (to, _) = plan(f, Shift::Semitones(s));
                assert!(to.abs() <= 6, "{f} {s}");
                assert_eq!(plan(to, Shift::Semitones(-s)).0, f, "{f} {s}");
            }
        }
    }

    #[test]
    fn interval_plans_respell_far_keys() {
        let iv = |s: &str| s.parse::<Interval>().unwrap();
        assert_eq!(plan(-1, Shift::Interval(iv("M2"))), (1, iv("M2")));
        // A major up an augmented fourth: D♯ major (9 sharps) is written E♭ (a diminished fifth).
        assert_eq!(plan(3, Shift::Interval(iv("A4"))), (-3, iv("d5")));
    }

    #[test]
    fn pitches_move_by_interval() {
        let iv = |s: &str| s.parse::<Interval>().unwrap();
        assert_eq!(
            move_pitch(&pitch(Step::B, -1, 4), iv("M2"), false),
            Ok(pitch(Step::C, 0, 5))
        );
        assert_eq!(
            move_pitch(&pitch(Step::E, 1, 4), iv("M2"), false),
            Ok(pitch(Step::F, 2, 4))
        );
        // F## up an augmented second would be G###: respelled A#, or Bb in a flat key.
        assert_eq!(
            move_pitch(&pitch(Step::F, 2, 4), iv("A2"), false),
            Ok(pitch(Step::A, 1, 4))
        );
        assert_eq!(
            move_pitch(&pitch(Step::F, 2, 4), iv("A2"), true),
            Ok(pitch(Step::B, -1, 4))
        );
        assert!(move_pitch(&pitch(Step::G, 0, 9), iv("m2"), false).is_err());
        assert!(move_pitch(&pitch(Step::C, 0, 0), iv("-m2"), false).is_err());
    }
}
