//! Repeat expansion: repeats, endings, D.C./D.S., segno, coda and fine, played out in order.
//!
//! [`expand_repeats`] turns a score with repeat signs and jumps into the score
//! as it is played: measures in playing order, with no repeat barlines,
//! endings or jumps left. [`play_order`] gives the same order as indices of
//! the written measures.
//!
//! # The form
//! The form is read from the **first part** only (its barlines and
//! directions); every part is then laid out in that same order, so all parts
//! must have as many measures as the first (else `INVALID_REPEATS`). Jumps
//! work at measure granularity: a segno or coda target marks the start of its
//! measure; a D.C., D.S., To Coda or Fine takes effect at the end of its
//! measure, after that measure's backward repeat (a D.C. under a repeat sign
//! is taken on the last pass).
//!
//! # Repeats and endings
//! - A forward repeat starts a section (on a right barline, at the next
//!   measure). A backward repeat (on a left barline: at the end of the measure
//!   before) jumps back to the section's start until the section has been
//!   played `times` times in all: `times` absent is 2, or, for a backward
//!   repeat inside an ending, the highest pass number of its endings
//!   (`[1, 2 :|] [3]` plays three times); 0 or 1 plays once. Repeats do not
//!   nest: each forward repeat starts a new section.
//! - A backward repeat without a forward repeat goes back to the start of the
//!   score (a pickup measure included), or to just after the previous repeated
//!   section (its backward repeat, or its last ending), as notation software
//!   does.
//! - An ending (volta bracket) is played on the passes its number lists: "1",
//!   "1, 2", "1 2", "1.", "1-3" (a range); a blank number means its place in
//!   its group of consecutive endings. On other passes it is skipped (to after
//!   its stop or discontinue; an ending left open closes at the first backward
//!   repeat, else at the last measure). A number that is neither is
//!   `INVALID_REPEATS`.
//!
//! # Jumps (each taken once)
//! - D.C. jumps to the first measure, D.S. to the segno of the same name
//!   (else the last segno at or before the jump, else the first one; none is
//!   `INVALID_REPEATS`).
//! - **Repeats are not taken again after a D.C. or D.S.** (standard practice,
//!   without "con rep."): backward repeats are ignored and of each group of
//!   endings only the one holding the last pass is played.
//! - After a D.C./D.S., the first Fine ends the piece and a To Coda jumps to
//!   the coda of the same name (else the first coda after the jump point, else
//!   the first one; none is `INVALID_REPEATS`). "al Fine" ignores To Coda marks
//!   and "al Coda" ignores Fine. Before any jump, Fine and To Coda are ignored.
//!
//! # What is recognised
//! - `sound` attributes: `dacapo`, `dalsegno`, `segno`, `coda`, `tocoda`,
//!   `fine` (the names as written).
//! - Segno signs (a target without a name) and coda signs: a coda sign is a
//!   target, except that when the score has no To Coda (by sound or words) and
//!   two or more bare coda signs, the first is the To Coda point and the later
//!   ones targets.
//! - Words, case- and punctuation-insensitive, as the whole text: "D.C.",
//!   "Da Capo", "D.S.", "Dal Segno" (each optionally followed by "al Fine" or
//!   "al Coda"), "Fine", "To Coda", "Coda" (a coda target), "Segno". Words
//!   count only in a direction without jump `sound` attributes; there they
//!   only say "al Fine" or "al Coda". Anything else ("dolce", "fine tuning",
//!   "D.C. senza rep.") is not a jump.
//!
//! # The result
//! - Measures are **renumbered** in playing order: 1, 2, ... (from 0 when the
//!   first is implicit, a pickup); `implicit` is kept.
//! - Repeat barlines are removed; endings are removed from other barlines (a
//!   barline left without a style is dropped). Jump `sound` attributes and the
//!   recognised jump words, segno and coda signs are removed (a direction left
//!   empty is dropped), so a player does not jump again.
//! - Where a measure does not follow the measure written before it, the key,
//!   time signature, clefs, staves, transposition and divisions in force at
//!   that measure (in the written order) are restated in its attributes when
//!   they differ from those in force where playing came from, and the first
//!   part gets a tempo direction when the tempo in force differs. A tie that
//!   crosses such a join is kept only when the measures on both sides hold its
//!   two ends (same pitch, voice and staff: the tie into a second ending); a
//!   dangling tie start or stop is removed, so the note sounds again.
//!
//! # Bounds
//! The expanded score holds at most max(16 × the measures, 256) measures,
//! never over [`MAX_EXPANDED_MEASURES`], and at most max(16 × the items,
//! 65,536) items over all parts; more is `SCORE_TOO_LARGE`, found while the
//! order is built, before any measure is copied. Every step plays a measure or
//! moves forward, and each jump is taken once, so expansion always ends.
//! Nothing panics.

use std::collections::{HashMap, HashSet};

use crate::error::Location;
use crate::model::{
    Attributes, BarlineLocation, Direction, DirectionKind, EndingKind, Item, Measure, Note, Part,
    Pitch, RepeatDirection, Score, Sound, Step, TieType,
};
use crate::rational::Rational;

/// The most measures an expanded score may hold, whatever its size.
pub const MAX_EXPANDED_MEASURES: usize = 100_000;

/// How many times the written measures (and items) the expansion may grow to.
pub const EXPANSION_FACTOR: usize = 16;

/// The fewest measures the expansion may always grow to (for short scores).
const MIN_MEASURE_LIMIT: usize = 256;

/// The fewest items the expansion may always grow to (for short scores).
const MIN_ITEM_LIMIT: u64 = 65_536;

/// Why a score's repeats could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RepeatError {
    /// The played-out score would be over a limit.
    #[error("the expanded score would be too large: more than {limit} {what}")]
    TooLarge {
        /// What was counted ("measures", "items").
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The repeat or jump structure cannot be played (a missing target, a bad ending number).
    #[error("invalid repeats{at}: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Where it is (part and measure).
        at: Location,
    },
}

impl RepeatError {
    /// The stable error code for API responses.
    pub fn code(&self) -> &'static str {
        match self {
            RepeatError::TooLarge { .. } => "SCORE_TOO_LARGE",
            RepeatError::Invalid { .. } => "INVALID_REPEATS",
        }
    }
}

/// Plays the score's form out: repeats, endings and jumps expanded (see the module docs).
pub fn expand_repeats(score: &Score) -> Result<Score, RepeatError> {
    let order = play_order(score)?;
    let tempo = score
        .parts
        .first()
        .map(|p| tempo_in_force(&p.measures))
        .unwrap_or_default();
    let parts = score
        .parts
        .iter()
        .enumerate()
        .map(|(n, part)| expand_part(part, &order, (n == 0).then_some(&tempo[..])))
        .collect();
    Ok(Score {
        title: score.title.clone(),
        composer: score.composer.clone(),
        parts,
    })
}

/// The written measures' indices (0-based) in playing order, read from the first part's form.
pub fn play_order(score: &Score) -> Result<Vec<usize>, RepeatError> {
    let Some(first) = score.parts.first() else {
        return Ok(Vec::new());
    };
    for part in &score.parts {
        if part.measures.len() != first.measures.len() {
            return Err(RepeatError::Invalid {
                message: format!(
                    "the part has {} measures, the first part {}: parts must expand together",
                    part.measures.len(),
                    first.measures.len()
                ),
                at: Location {
                    part: Some(part.id.clone()),
                    ..Location::default()
                },
            });
        }
    }
    let form = Form::read(first)?;
    let n = first.measures.len();
    let weights: Vec<u64> = (0..n)
        .map(|i| {
            score
                .parts
                .iter()
                .map(|p| p.measures.get(i).map_or(0, |m| m.items.len() as u64))
                .sum()
        })
        .collect();
    let total: u64 = weights.iter().sum();
    let limits = Limits {
        measures: n
            .saturating_mul(EXPANSION_FACTOR)
            .clamp(MIN_MEASURE_LIMIT, MAX_EXPANDED_MEASURES),
        items: total
            .saturating_mul(EXPANSION_FACTOR as u64)
            .max(MIN_ITEM_LIMIT),
    };
    form.play(first, &weights, &limits)
}

// ---------------------------------------------------------------------------
// Reading the form

/// The output bounds.
struct Limits {
    measures: usize,
    items: u64,
}

/// Which marks a D.C./D.S. goes on to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Al {
    /// Fine and To Coda both apply.
    Any,
    /// "al Fine": To Coda marks are ignored.
    Fine,
    /// "al Coda": Fine marks are ignored.
    Coda,
}

/// Where a jump goes back to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Back {
    DaCapo,
    DalSegno(Option<String>),
}

/// A playback mark in a measure of the first part.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mark {
    Segno(Option<String>),
    Coda(Option<String>),
    ToCoda(Option<String>),
    /// A coda sign that is a target or a To Coda point (decided over the whole score).
    CodaSign,
    Jump(Back, Al),
    Fine,
}

/// Inclusive ranges of passes.
type Passes = Vec<(u32, u32)>;

/// A volta bracket over measures `start..=end`.
#[derive(Clone, Debug)]
struct Bracket {
    start: usize,
    end: usize,
    /// The passes it is played on (empty: its place in the group).
    passes: Passes,
    /// The highest pass of its group of consecutive brackets.
    group_max: u32,
    /// Whether it is the last bracket of its group.
    last_in_group: bool,
}

impl Bracket {
    fn plays(&self, pass: u32) -> bool {
        self.passes
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&pass))
    }
}

/// The first part's repeat structure, per measure.
struct Form {
    forward: Vec<bool>,
    /// A backward repeat at the end of the measure, with its `times` when written.
    backward: Vec<Option<Option<u32>>>,
    brackets: Vec<Bracket>,
    bracket_at: Vec<Option<usize>>,
    in_bracket: Vec<Option<usize>>,
    marks: Vec<Vec<Mark>>,
    segnos: Targets,
    codas: Targets,
}

/// The measures holding segni (or codas), for jumps found in O(log n).
#[derive(Default)]
struct Targets {
    /// Their measures, in order.
    at: Vec<usize>,
    /// The first measure of each name.
    named: HashMap<String, usize>,
}

impl Targets {
    fn collect(marks: &[Vec<Mark>], pick: impl Fn(&Mark) -> Option<&Option<String>>) -> Targets {
        let mut t = Targets::default();
        for (i, ms) in marks.iter().enumerate() {
            for name in ms.iter().filter_map(&pick) {
                if t.at.last() != Some(&i) {
                    t.at.push(i);
                }
                if let Some(n) = name {
                    t.named.entry(n.clone()).or_insert(i);
                }
            }
        }
        t
    }
}

/// What a text in words says, when it is a jump mark.
#[derive(Clone, Debug, PartialEq, Eq)]
enum WordsMark {
    Jump(Back, Al),
    Fine,
    ToCoda,
    Coda,
    Segno,
}

/// Reads a words text as a jump mark: the whole text, case and punctuation ignored.
fn words_mark(text: &str) -> Option<WordsMark> {
    let lower = text.to_lowercase();
    let normal: String = lower
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let tokens: Vec<&str> = normal.split_whitespace().collect();
    let (back, rest): (Back, &[&str]) = match tokens.as_slice() {
        ["d", "c", rest @ ..] | ["dc", rest @ ..] | ["da", "capo", rest @ ..] => {
            (Back::DaCapo, rest)
        }
        ["d", "s", rest @ ..] | ["ds", rest @ ..] | ["dal", "segno", rest @ ..] => {
            (Back::DalSegno(None), rest)
        }
        ["fine"] => return Some(WordsMark::Fine),
        ["to", "coda"] => return Some(WordsMark::ToCoda),
        ["coda"] => return Some(WordsMark::Coda),
        ["segno"] => return Some(WordsMark::Segno),
        _ => return None,
    };
    let al = match rest {
        [] => Al::Any,
        ["al", "fine"] => Al::Fine,
        ["al", "coda"] => Al::Coda,
        _ => return None,
    };
    Some(WordsMark::Jump(back, al))
}

/// Whether the sound holds any jump attribute.
fn sound_jumps(s: &Sound) -> bool {
    s.dacapo
        || s.fine
        || s.segno.is_some()
        || s.dalsegno.is_some()
        || s.coda.is_some()
        || s.tocoda.is_some()
}

/// The marks one direction of the first part makes.
fn direction_marks(d: &Direction, out: &mut Vec<Mark>) {
    let words: Vec<WordsMark> = d
        .kinds
        .iter()
        .filter_map(|k| match k {
            DirectionKind::Words { text } => words_mark(text),
            _ => None,
        })
        .collect();
    let sound = d.sound.as_ref().filter(|s| sound_jumps(s));
    let segno_sign = d.kinds.iter().any(|k| matches!(k, DirectionKind::Segno));
    let coda_sign = d.kinds.iter().any(|k| matches!(k, DirectionKind::Coda));
    if let Some(s) = sound {
        let al = words
            .iter()
            .find_map(|w| match w {
                WordsMark::Jump(_, al) if *al != Al::Any => Some(*al),
                _ => None,
            })
            .unwrap_or(Al::Any);
        if s.segno.is_some() || segno_sign {
            out.push(Mark::Segno(s.segno.clone()));
        }
        if s.coda.is_some() {
            out.push(Mark::Coda(s.coda.clone()));
        } else if coda_sign && s.tocoda.is_none() {
            out.push(Mark::CodaSign);
        }
        if s.tocoda.is_some() {
            out.push(Mark::ToCoda(s.tocoda.clone()));
        }
        if s.dalsegno.is_some() {
            out.push(Mark::Jump(Back::DalSegno(s.dalsegno.clone()), al));
        } else if s.dacapo {
            out.push(Mark::Jump(Back::DaCapo, al));
        }
        if s.fine {
            out.push(Mark::Fine);
        }
        return;
    }
    if segno_sign {
        out.push(Mark::Segno(None));
    }
    let to_coda = words.contains(&WordsMark::ToCoda);
    if coda_sign && !to_coda {
        out.push(Mark::CodaSign);
    }
    for w in words {
        out.push(match w {
            WordsMark::Jump(back, al) => Mark::Jump(back, al),
            WordsMark::Fine => Mark::Fine,
            WordsMark::ToCoda => Mark::ToCoda(None),
            WordsMark::Coda if !coda_sign => Mark::Coda(None),
            WordsMark::Segno if !segno_sign => Mark::Segno(None),
            WordsMark::Coda | WordsMark::Segno => continue,
        });
    }
}

/// Parses an ending number: passes and ranges separated by commas or spaces.
fn parse_passes(number: &str) -> Option<Passes> {
    let mut out = Vec::new();
    for token in number.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
        let token = token.trim().trim_end_matches('.');
        if token.is_empty() {
            continue;
        }
        let pass = |s: &str| s.trim().parse::<u32>().ok().filter(|&p| p >= 1);
        let range = match token.split_once(['-', '–']) {
            Some((lo, hi)) => (pass(lo)?, pass(hi)?),
            None => {
                let p = pass(token)?;
                (p, p)
            }
        };
        if range.0 > range.1 {
            return None;
        }
        out.push(range);
    }
    Some(out)
}

impl Form {
    fn read(part: &Part) -> Result<Form, RepeatError> {
        let n = part.measures.len();
        let at = |i: usize| Location {
            part: Some(part.id.clone()),
            measure: part.measures.get(i).map(|m| m.number.clone()),
            ..Location::default()
        };
        let mut form = Form {
            forward: vec![false; n],
            backward: vec![None; n],
            brackets: Vec::new(),
            bracket_at: vec![None; n],
            in_bracket: vec![None; n],
            marks: vec![Vec::new(); n],
            segnos: Targets::default(),
            codas: Targets::default(),
        };
        // The bracket being read: start and passes.
        let mut open: Option<(usize, Passes)> = None;
        let mut spans: Vec<(usize, usize, Passes)> = Vec::new();
        for (i, m) in part.measures.iter().enumerate() {
            for b in &m.barlines {
                match (b.repeat, b.location) {
                    (Some(RepeatDirection::Forward), BarlineLocation::Right) => {
                        if let Some(f) = form.forward.get_mut(i + 1) {
                            *f = true;
                        }
                    }
                    (Some(RepeatDirection::Forward), _) => form.forward[i] = true,
                    (Some(RepeatDirection::Backward), BarlineLocation::Left) => {
                        if i > 0 {
                            form.backward[i - 1] = Some(b.times);
                        }
                    }
                    (Some(RepeatDirection::Backward), _) => form.backward[i] = Some(b.times),
                    (None, _) => {}
                }
                let Some(e) = &b.ending else { continue };
                match e.kind {
                    EndingKind::Start => {
                        let passes =
                            parse_passes(&e.number).ok_or_else(|| RepeatError::Invalid {
                                message: format!(
                                    "the ending number {:?} is not a list of passes",
                                    e.number
                                ),
                                at: at(i),
                            })?;
                        if let Some((start, p)) = open.take() {
                            spans.push((start, i.saturating_sub(1).max(start), p));
                        }
                        open = Some((i, passes));
                    }
                    EndingKind::Stop | EndingKind::Discontinue => {
                        if let Some((start, p)) = open.take() {
                            let end = if b.location == BarlineLocation::Left && i > start {
                                i - 1
                            } else {
                                i
                            };
                            spans.push((start, end, p));
                        }
                    }
                }
            }
            for item in &m.items {
                if let Item::Direction(d) = item {
                    direction_marks(d, &mut form.marks[i]);
                }
            }
        }
        if let Some((start, p)) = open {
            let end = (start..n)
                .find(|&j| form.backward[j].is_some())
                .unwrap_or(n.saturating_sub(1));
            spans.push((start, end, p));
        }
        // Brackets must not overlap (a start inside an earlier bracket closes it).
        spans.sort_by_key(|s| s.0);
        let mut brackets: Vec<Bracket> = Vec::new();
        for (start, end, passes) in spans {
            if brackets.last().is_some_and(|b| b.start == start) {
                continue;
            }
            if let Some(last) = brackets.last_mut() {
                if last.end >= start {
                    last.end = start - 1;
                }
            }
            brackets.push(Bracket {
                start,
                end: end.max(start),
                passes,
                group_max: 0,
                last_in_group: true,
            });
        }
        // Groups of consecutive brackets: blank numbers, highest pass, last bracket.
        let mut g = 0;
        while g < brackets.len() {
            let mut h = g;
            while h + 1 < brackets.len() && brackets[h + 1].start == brackets[h].end + 1 {
                h += 1;
            }
            for (place, b) in brackets[g..=h].iter_mut().enumerate() {
                if b.passes.is_empty() {
                    let p = place as u32 + 1;
                    b.passes.push((p, p));
                }
                b.last_in_group = false;
            }
            brackets[h].last_in_group = true;
            let max = brackets[g..=h]
                .iter()
                .flat_map(|b| b.passes.iter().map(|r| r.1))
                .max()
                .unwrap_or(1);
            for b in &mut brackets[g..=h] {
                b.group_max = max;
            }
            g = h + 1;
        }
        for (k, b) in brackets.iter().enumerate() {
            form.bracket_at[b.start] = Some(k);
            for slot in &mut form.in_bracket[b.start..=b.end] {
                *slot = Some(k);
            }
        }
        form.brackets = brackets;
        // Bare coda signs: targets, or the first of them the To Coda point when nothing else is.
        let has_to_coda = form
            .marks
            .iter()
            .flatten()
            .any(|m| matches!(m, Mark::ToCoda(_)));
        let signs = form
            .marks
            .iter()
            .flatten()
            .filter(|m| **m == Mark::CodaSign)
            .count();
        let mut first_sign = !has_to_coda && signs >= 2;
        for marks in &mut form.marks {
            for m in marks.iter_mut() {
                if *m == Mark::CodaSign {
                    *m = if first_sign {
                        Mark::ToCoda(None)
                    } else {
                        Mark::Coda(None)
                    };
                    first_sign = false;
                }
            }
        }
        form.segnos = Targets::collect(&form.marks, |m| match m {
            Mark::Segno(n) => Some(n),
            _ => None,
        });
        form.codas = Targets::collect(&form.marks, |m| match m {
            Mark::Coda(n) => Some(n),
            _ => None,
        });
        Ok(form)
    }

    /// The segno a D.S. at measure `from` goes to.
    fn segno(&self, name: Option<&str>, from: usize) -> Option<usize> {
        let t = &self.segnos;
        name.and_then(|n| t.named.get(n).copied()).or_else(|| {
            // The last at or before `from`, else the first.
            let after = t.at.partition_point(|&i| i <= from);
            after
                .checked_sub(1)
                .or((!t.at.is_empty()).then_some(0))
                .and_then(|k| t.at.get(k).copied())
        })
    }

    /// The coda a To Coda at measure `from` goes to.
    fn coda(&self, name: Option<&str>, from: usize) -> Option<usize> {
        let t = &self.codas;
        name.and_then(|n| t.named.get(n).copied()).or_else(|| {
            // The first after `from`, else the first.
            let after = t.at.partition_point(|&i| i <= from);
            t.at.get(after).or(t.at.first()).copied()
        })
    }

    /// Plays the form out (see the module docs for the rules).
    fn play(
        &self,
        part: &Part,
        weights: &[u64],
        limits: &Limits,
    ) -> Result<Vec<usize>, RepeatError> {
        let n = self.forward.len();
        let at = |i: usize| Location {
            part: Some(part.id.clone()),
            measure: part.measures.get(i).map(|m| m.number.clone()),
            ..Location::default()
        };
        let mut out: Vec<usize> = Vec::new();
        let mut items = 0u64;
        let (mut i, mut start, mut pass) = (0usize, 0usize, 1u32);
        let mut repeats = true;
        let mut jumped: Option<Al> = None;
        let mut via_repeat = false;
        let mut taken: HashSet<(usize, usize)> = HashSet::new();
        // Every step plays a measure or moves forward past a bracket: this cannot trip.
        let max_steps = (limits.measures as u64 + 1)
            .saturating_mul(self.brackets.len() as u64 + 2)
            .saturating_add(n as u64);
        let mut steps = 0u64;
        'play: while i < n {
            steps += 1;
            if steps > max_steps {
                return Err(RepeatError::Invalid {
                    message: "the repeat structure does not end".into(),
                    at: at(i),
                });
            }
            if repeats && self.forward[i] && !via_repeat {
                start = i;
                pass = 1;
            }
            via_repeat = false;
            if let Some(k) = self.bracket_at[i] {
                let b = &self.brackets[k];
                let plays = if repeats {
                    b.plays(pass)
                } else {
                    b.plays(b.group_max)
                };
                if !plays {
                    i = b.end + 1;
                    if repeats && b.last_in_group {
                        start = i;
                        pass = 1;
                    }
                    continue;
                }
            }
            if out.len() >= limits.measures {
                return Err(RepeatError::TooLarge {
                    what: "measures",
                    limit: limits.measures as u64,
                });
            }
            items += weights.get(i).copied().unwrap_or(0);
            if items > limits.items {
                return Err(RepeatError::TooLarge {
                    what: "items",
                    limit: limits.items,
                });
            }
            out.push(i);
            // The end of measure i: Fine, To Coda, the backward repeat, then D.C./D.S.
            let marks = &self.marks[i];
            if let Some(al) = jumped {
                if al != Al::Coda && marks.contains(&Mark::Fine) {
                    break 'play;
                }
                if al != Al::Fine {
                    for (k, m) in marks.iter().enumerate() {
                        let Mark::ToCoda(name) = m else { continue };
                        if !taken.insert((i, k)) {
                            continue;
                        }
                        i = self
                            .coda(name.as_deref(), i)
                            .ok_or_else(|| RepeatError::Invalid {
                                message: "a To Coda without a coda to go to".into(),
                                at: at(i),
                            })?;
                        continue 'play;
                    }
                }
            }
            if repeats {
                if let Some(times) = self.backward[i] {
                    let inside = self.in_bracket[i].map(|k| &self.brackets[k]);
                    let times = times
                        .unwrap_or_else(|| inside.map_or(2, |b| b.group_max.max(2)))
                        .max(1);
                    if pass < times {
                        pass += 1;
                        i = start;
                        via_repeat = true;
                        continue;
                    }
                    if inside.is_none_or(|b| b.last_in_group) {
                        start = i + 1;
                        pass = 1;
                    }
                } else if let Some(k) = self.in_bracket[i] {
                    let b = &self.brackets[k];
                    if b.end == i && b.last_in_group {
                        start = i + 1;
                        pass = 1;
                    }
                }
            }
            for (k, m) in marks.iter().enumerate() {
                let Mark::Jump(back, al) = m else { continue };
                if !taken.insert((i, k)) {
                    continue;
                }
                i = match back {
                    Back::DaCapo => 0,
                    Back::DalSegno(name) => {
                        self.segno(name.as_deref(), i)
                            .ok_or_else(|| RepeatError::Invalid {
                                message: "a D.S. without a segno to go to".into(),
                                at: at(i),
                            })?
                    }
                };
                jumped = Some(*al);
                repeats = false;
                continue 'play;
            }
            i += 1;
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Building the played-out parts

/// The attributes in force: what a measure reached by a jump may need restated.
use crate::edit::timeline::InForce as State;

impl State {
    fn restate(&self, heard: &State, a: Option<Attributes>) -> Option<Attributes> {
        let mut out = a.clone().unwrap_or_default();
        fn fill<T: Clone + PartialEq>(slot: &mut Option<T>, want: &Option<T>, heard: &Option<T>) {
            if slot.is_none() && want.is_some() && want != heard {
                slot.clone_from(want);
            }
        }
        fill(&mut out.divisions, &self.divisions, &heard.divisions);
        fill(&mut out.key, &self.key, &heard.key);
        fill(&mut out.time, &self.time, &heard.time);
        fill(&mut out.staves, &self.staves, &heard.staves);
        fill(&mut out.transpose, &self.transpose, &heard.transpose);
        for (staff, clef) in &self.clefs {
            let own = out.clefs.iter().any(|c| c.staff.unwrap_or(1) == *staff);
            if !own && heard.clefs.get(staff) != Some(clef) {
                out.clefs.push(clef.clone());
            }
        }
        if a.is_none() && out == Attributes::default() {
            None
        } else {
            Some(out)
        }
    }
}

/// Per measure: the attributes in force at its start (its own included) and at its end.
fn states(measures: &[Measure]) -> Vec<(State, State)> {
    let mut state = State::default();
    measures
        .iter()
        .map(|m| {
            if let Some(a) = &m.attributes {
                state.apply(a);
            }
            let at_start = state.clone();
            for item in &m.items {
                if let Item::Attributes(a) = item {
                    state.apply(a);
                }
            }
            (at_start, state.clone())
        })
        .collect()
}

/// Per measure of the first part: the tempo in force at its start and at its end.
fn tempo_in_force(measures: &[Measure]) -> Vec<(Option<Rational>, Option<Rational>)> {
    let mut tempo = None;
    measures
        .iter()
        .map(|m| {
            let at_start = tempo;
            for item in &m.items {
                if let Item::Direction(d) = item {
                    if let Some(t) = d.sound.as_ref().and_then(|s| s.tempo) {
                        tempo = Some(t);
                    }
                }
            }
            (at_start, tempo)
        })
        .collect()
}

/// Whether a measure sets a tempo before its first note, backup or forward.
fn opens_with_tempo(m: &Measure) -> bool {
    for item in &m.items {
        match item {
            Item::Direction(d) if d.sound.as_ref().is_some_and(|s| s.tempo.is_some()) => {
                return true
            }
            Item::Note(_) | Item::Backup { .. } | Item::Forward { .. } => return false,
            _ => {}
        }
    }
    false
}

/// What makes two tied notes the same sound.
type TieKey = (
    Option<Pitch>,
    Option<(Option<Step>, Option<i8>)>,
    Option<String>,
    Option<u8>,
);

fn tie_key(n: &Note) -> TieKey {
    (
        n.pitch,
        n.unpitched
            .as_ref()
            .map(|u| (u.display_step, u.display_octave)),
        n.voice.clone(),
        n.staff,
    )
}

fn notes(m: &Measure) -> impl Iterator<Item = (usize, &Note)> {
    m.items.iter().enumerate().filter_map(|(k, i)| match i {
        Item::Note(n) => Some((k, n)),
        _ => None,
    })
}

/// Items of the tie starts that are not stopped later in the measure (they cross its end).
fn crossing_starts(m: &Measure) -> Vec<(usize, TieKey)> {
    let all: Vec<(usize, &Note)> = notes(m).collect();
    let mut stopped_later: HashSet<TieKey> = HashSet::new();
    let mut out = Vec::new();
    for (k, n) in all.into_iter().rev() {
        let key = tie_key(n);
        if n.ties.contains(&TieType::Start) && !stopped_later.contains(&key) {
            out.push((k, key.clone()));
        }
        if n.ties.contains(&TieType::Stop) {
            stopped_later.insert(key);
        }
    }
    out
}

/// Items of the tie stops not started earlier in the measure (tied from the measure before).
fn opening_stops(m: &Measure) -> Vec<(usize, TieKey)> {
    let mut started: HashSet<TieKey> = HashSet::new();
    let mut out = Vec::new();
    for (k, n) in notes(m) {
        let key = tie_key(n);
        if n.ties.contains(&TieType::Stop) && !started.contains(&key) {
            out.push((k, key.clone()));
        }
        if n.ties.contains(&TieType::Start) {
            started.insert(key);
        }
    }
    out
}

fn drop_tie(m: &mut Measure, item: usize, tie: TieType) {
    if let Some(Item::Note(n)) = m.items.get_mut(item) {
        n.ties.retain(|t| *t != tie);
    }
}

/// A measure without repeat barlines, endings or jump marks.
fn strip(m: &Measure) -> Measure {
    let mut m = m.clone();
    m.barlines.retain_mut(|b| {
        if b.repeat.is_some() {
            return false;
        }
        if b.ending.take().is_some() {
            b.times = None;
            return b.style.is_some();
        }
        true
    });
    m.items.retain_mut(|item| {
        let Item::Direction(d) = item else {
            return true;
        };
        let before = (d.kinds.len(), d.sound.is_some());
        if let Some(s) = &mut d.sound {
            if sound_jumps(s) {
                s.dacapo = false;
                s.fine = false;
                s.segno = None;
                s.dalsegno = None;
                s.coda = None;
                s.tocoda = None;
                if *s == Sound::default() {
                    d.sound = None;
                }
            }
        }
        d.kinds.retain(|k| match k {
            DirectionKind::Segno | DirectionKind::Coda => false,
            DirectionKind::Words { text } => words_mark(text).is_none(),
            _ => true,
        });
        before == (d.kinds.len(), d.sound.is_some()) || !d.kinds.is_empty() || d.sound.is_some()
    });
    m
}

/// One part laid out in `order`, with attributes, tempo and ties fixed at the joins.
fn expand_part(
    part: &Part,
    order: &[usize],
    tempo: Option<&[(Option<Rational>, Option<Rational>)]>,
) -> Part {
    let states = states(&part.measures);
    let mut measures: Vec<Measure> = Vec::with_capacity(order.len());
    let offset = usize::from(
        !order
            .first()
            .and_then(|&i| part.measures.get(i))
            .is_some_and(|m| m.implicit),
    );
    for (k, &i) in order.iter().enumerate() {
        let Some(src) = part.measures.get(i) else {
            continue;
        };
        let mut m = strip(src);
        m.number = (k + offset).to_string();
        let prev = k.checked_sub(1).and_then(|p| order.get(p)).copied();
        let join = match prev {
            Some(p) => p + 1 != i,
            None => i != 0,
        };
        if join {
            let heard = prev
                .and_then(|p| states.get(p))
                .map(|s| s.1.clone())
                .unwrap_or_default();
            if let Some((want, _)) = states.get(i) {
                m.attributes = want.restate(&heard, m.attributes.take());
            }
            if let Some(tempo) = tempo {
                let heard = prev.and_then(|p| tempo.get(p)).and_then(|t| t.1);
                let want = tempo.get(i).and_then(|t| t.0);
                if let Some(t) = want.filter(|t| Some(*t) != heard) {
                    if !opens_with_tempo(&m) {
                        let d = Direction {
                            sound: Some(Sound {
                                tempo: Some(t),
                                ..Sound::default()
                            }),
                            ..Direction::default()
                        };
                        m.items.insert(0, Item::Direction(d));
                    }
                }
            }
            let stops = opening_stops(&m);
            let starts = measures.last().map(crossing_starts).unwrap_or_default();
            let stop_keys: HashSet<&TieKey> = stops.iter().map(|(_, k)| k).collect();
            let start_keys: HashSet<&TieKey> = starts.iter().map(|(_, k)| k).collect();
            for (item, key) in &stops {
                if !start_keys.contains(key) {
                    drop_tie(&mut m, *item, TieType::Stop);
                }
            }
            if let Some(last) = measures.last_mut() {
                for (item, key) in &starts {
                    if !stop_keys.contains(key) {
                        drop_tie(last, *item, TieType::Start);
                    }
                }
            }
        }
        measures.push(m);
    }
    Part {
        id: part.id.clone(),
        name: part.name.clone(),
        instrument: part.instrument.clone(),
        instruments: part.instruments.clone(),
        staves: part.staves,
        measures,
    }
}
