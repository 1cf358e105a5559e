//! The MusicXML writer: a [`Score`] in, MusicXML 4.0 `score-partwise` text out.
//!
//! # What is written
//! An XML declaration (UTF-8, no DOCTYPE, so nothing is ever fetched), then
//! `<score-partwise version="4.0">` with `work/work-title` (the title),
//! `identification/creator type="composer"`, the `part-list` (each part's
//! `score-part`, `part-name`, `score-instrument`s and `midi-instrument`s) and
//! every part's measures. Elements inside `note`, `attributes`, `direction`,
//! `harmony`, `barline`, `lyric` and `score-part` follow the MusicXML 4.0
//! schema order (music21 and MuseScore are strict about it). The output is
//! deterministic: the same score always gives the same bytes.
//!
//! # Divisions
//! Durations are exact quarter lengths in the model; MusicXML writes them as
//! counts of `divisions` per quarter. The writer walks each part in document
//! order and splits it into spans at every `divisions` the model declares
//! ([`Attributes::divisions`], at a measure's start or mid-measure). For each
//! span it takes the least common multiple L of the denominators of every
//! duration, backup, forward and direction or harmony offset in it:
//! - a declared value that L divides is kept as it is, so a score read from
//!   a file writes its own divisions back;
//! - a declared value that cannot hold the span exactly (or 0) is replaced by
//!   lcm(declared, L), or by L when that passes [`MAX_DIVISIONS`] (see below
//!   for spans no value under the cap holds in whole divisions);
//! - when durations come before any declared value, the first measure's
//!   attributes get `<divisions>` L (created if the measure had none);
//! - the reader merges every `<attributes>` before a measure's first note,
//!   backup or forward and keeps the last divisions, so a measure whose
//!   directions or chord symbols before that point have offsets the declared
//!   value cannot hold (a score read from such a file) gets a second
//!   `<attributes>` with the declared value just before its first timed item.
//!
//! Every `<duration>` is then quarters × divisions, exactly. When L itself is
//! over [`MAX_DIVISIONS`] (10^6; say 1/2^21 quarters next to triplets), the
//! writer takes the largest divisor of L under the cap that keeps every factor
//! other than 2 and 5, and writes the few durations that are not whole
//! multiples as exact decimals (`<duration>0.375</duration>`: MusicXML
//! durations are `xs:decimal`); a declared value that keeps every factor
//! other than 2 and 5 of such a span is kept the same way. When even the part
//! of L without 2s and 5s is over the cap (denominators like 1009 × 1013), or
//! a decimal would need more digits than the reader parses (about 38: 1/2^62
//! quarters), there is no exact encoding: [`write_musicxml`] then returns
//! [`WriteError::Duration`]. No duration is ever rounded. Durations the reader
//! refuses are refused here too: a negative duration, backup or forward, or
//! one (or an offset) over [`MAX_QUARTERS`] quarter lengths.
//!
//! # The round trip
//! `read_musicxml(write_musicxml(&score)?)` gives back `score`, with no
//! warnings, for every score the reader produces from a file that declares
//! its divisions before the first duration and writes whole numbers of them
//! (what exporters write). A score read from any other file, or built by
//! hand or from JSON, comes back in the reader's normal form, and from then
//! on round-trips exactly. The writer aims at that normal form directly:
//! - `divisions` as chosen above; [`Part::staves`] as the largest `staves`
//!   the attributes declare. When it is larger and some measure's attributes
//!   declare staves, a separate `<attributes>` just before that measure's
//!   declares it (the reader merges the two as it did when it read such a
//!   score); otherwise the first measure's attributes declare it, so notes on
//!   the lower staves make sense;
//! - [`Part::instrument`] is the first instrument's name (a part with a name
//!   but no instruments gets one `score-instrument` `"<part id>-I1"`);
//! - text the reader trims (titles, names, voices, types, modes, time
//!   signatures, clef signs, syllabic values, metronome units, ending texts)
//!   comes back trimmed, and blank values as absent; lyric, words and
//!   rehearsal texts keep their spaces;
//! - values the reader drops are left out: MIDI numbers out of range, keys
//!   beyond 7 sharps or flats, blank time signatures or clef signs, staff
//!   numbers 0, tuplets with a zero count, metronome marks without a beat
//!   unit, negative sound tempo or dynamics, a repeat's `times` without a
//!   repeat, an alter on a missing harmony root or bass; `staves` 0 is
//!   written as 1; a blank measure number as its position;
//! - a grace note's duration is not written (grace notes take no time); a
//!   note with a pitch is not also a rest or unpitched; repeated tie types
//!   are written once; a cue note's ties are written only as `<tied>` (the
//!   schema allows no `<tie>` there; the reader reads either); a
//!   transposition always writes `<diatonic>` (music21 needs it next to an
//!   `<octave-change>`);
//! - an [`Item::Attributes`] before the measure's first note, backup or
//!   forward merges into [`Measure::attributes`], and a measure's barlines
//!   keep their order but are written as the leading left barlines, then the
//!   attributes and items, then the rest;
//! - a [`DirectionKind::Other`] is written as an empty element of that name
//!   (one named like a kind the model holds reads back as that kind); an
//!   `Other` "metronome" right after a metronome mark shares its
//!   direction-type, where the reader keeps it as `Other` again, and one
//!   anywhere else, or an `Other` "wedge", would read back as nothing and is
//!   left out;
//! - sound tempo and dynamics that are not finite decimals the reader parses
//!   (200/3 bpm) are the one rounded value: 6 decimal places (fewer for values
//!   too large for the reader to hold that precisely), as playback hints;
//! - characters XML 1.0 forbids (controls other than tab, newline and carriage
//!   return; U+FFFE, U+FFFF) are dropped from all text and attribute values.
//!
//! # Errors
//! [`WriteError::Duration`] as above, and [`WriteError::Invalid`] for what the
//! reader would refuse or XML cannot hold: a blank or repeated part id (after
//! dropping forbidden characters), a note without pitch, unpitched or rest,
//! an octave outside 0..=9, an alter outside -3..=3, and an articulation or
//! `Other` direction name that is not an XML name without a prefix (even one
//! the lenient reader accepted). Each error names the part and measure. The
//! writer never panics, whatever the model holds.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::error::Location;
use crate::model::{
    Attributes, Barline, BarlineLocation, Direction, DirectionKind, EndingKind, Harmony,
    Instrument, Item, Lyric, Measure, Note, Part, Pitch, RepeatDirection, Score, Sound, Step,
    Syllabic, TieType, WedgeType,
};
use crate::musicxml::read::MAX_QUARTERS;
use crate::rational::Rational;

/// The largest `divisions` the writer chooses itself (a declared larger value is kept).
pub const MAX_DIVISIONS: u32 = 1_000_000;

/// Why a score could not be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A duration or offset that no divisions can write exactly, or that the reader would refuse.
    #[error("cannot write a duration{at}: {message}")]
    Duration {
        /// What is wrong.
        message: String,
        /// Where it is (part and measure).
        at: Location,
    },
    /// A value the reader would refuse or XML cannot hold.
    #[error("cannot write the score{at}: {message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// Where it is (part and measure).
        at: Location,
    },
}

impl WriteError {
    /// The stable error code for API responses.
    pub fn code(&self) -> &'static str {
        match self {
            WriteError::Duration { .. } => "SCORE_UNWRITABLE_DURATION",
            WriteError::Invalid { .. } => "SCORE_UNWRITABLE",
        }
    }
}

/// Writes a score as MusicXML 4.0 `score-partwise` text (see the module docs for the guarantees).
pub fn write_musicxml(score: &Score) -> Result<String, WriteError> {
    check_part_ids(score)?;
    let plans = score
        .parts
        .iter()
        .map(plan_part)
        .collect::<Result<Vec<_>, _>>()?;
    let mut x = Xml::default();
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.open("score-partwise", &[("version", Some("4.0"))]);
    if let Some(title) = &score.title {
        x.open("work", &[]);
        x.leaf("work-title", &[], title);
        x.close("work");
    }
    x.open("identification", &[]);
    if let Some(composer) = &score.composer {
        x.leaf("creator", &[("type", Some("composer"))], composer);
    }
    x.open("encoding", &[]);
    x.leaf("software", &[], "Coda");
    x.close("encoding");
    x.close("identification");
    x.open("part-list", &[]);
    for part in &score.parts {
        write_score_part(&mut x, part);
    }
    x.close("part-list");
    for (part, plan) in score.parts.iter().zip(&plans) {
        write_part(&mut x, part, plan)?;
    }
    x.close("score-partwise");
    Ok(x.out)
}

// ---------------------------------------------------------------------------
// XML output

/// An indented XML text being built; every value passes through [`escape_into`].
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn start_tag(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            if let Some(value) = value {
                self.out.push(' ');
                self.out.push_str(key);
                self.out.push_str("=\"");
                escape_into(&mut self.out, value, true);
                self.out.push('"');
            }
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    /// An element holding only text (written exactly, never indented inside).
    fn leaf(&mut self, name: &str, attrs: &[(&str, Option<&str>)], text: &str) {
        self.start_tag(name, attrs);
        let before = self.out.len();
        self.out.push('>');
        escape_into(&mut self.out, text, false);
        if self.out.len() == before + 1 {
            self.out.truncate(before);
            self.out.push_str("/>\n");
        } else {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push_str(">\n");
        }
    }
}

/// Whether XML 1.0 allows the character at all.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Escapes text or an attribute value, dropping characters XML 1.0 forbids.
///
/// In attributes, tab, newline and carriage return are character references
/// so conforming parsers do not normalise them to spaces; a carriage return
/// in text is one too, so line-end normalisation keeps it.
fn escape_into(out: &mut String, text: &str, attr: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => {}
            c => out.push(c),
        }
    }
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// Whether `s` is an XML 1.0 name without a namespace prefix (the reader keeps local names).
pub(crate) fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start)
        && chars.all(|c| {
            is_name_start(c)
                || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
        })
}

/// Whether the text is blank once written (forbidden characters dropped), as the reader trims it.
fn is_blank(s: &str) -> bool {
    s.chars().all(|c| c.is_whitespace() || !is_xml_char(c))
}

/// The text when it is not blank once written (what the reader's trimmed fields keep).
fn non_blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|t| !is_blank(t))
}

/// The text as written: the characters XML 1.0 forbids dropped.
fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| is_xml_char(c)).collect())
    }
}

// ---------------------------------------------------------------------------
// Numbers

/// The exact decimal form of `r`, or `None` when its denominator has a prime factor other than 2 and 5.
fn decimal_text(r: Rational) -> Option<String> {
    let num = i128::from(r.num()).unsigned_abs();
    let den = i128::from(r.den()).unsigned_abs();
    if den == 0 {
        return None;
    }
    let mut s = String::new();
    if r.is_negative() {
        s.push('-');
    }
    s.push_str(&(num / den).to_string());
    let mut rem = num % den;
    if rem == 0 {
        return Some(s);
    }
    s.push('.');
    // A denominator below 2^63 made of 2s and 5s ends within 63 digits.
    for _ in 0..70 {
        rem *= 10;
        s.push(char::from_digit(u32::try_from(rem / den).ok()?, 10)?);
        rem %= den;
        if rem == 0 {
            return Some(s);
        }
    }
    None
}

/// The exact decimal form of `r` when the reader parses it back to `r`.
///
/// The reader accumulates a decimal's digits in 128 bits, so a value needing
/// more than about 38 digits (1/2^43) has no decimal it reads.
fn reader_decimal(r: Rational) -> Option<String> {
    decimal_text(r).filter(|t| Rational::parse_decimal(t) == Ok(r))
}

/// A non-negative playback value: exact when it is a decimal the reader parses, else rounded
/// to 6 places (fewer when the reader could not hold that many digits of a huge value).
fn playback_text(r: Rational) -> Option<String> {
    if r.is_negative() {
        return None;
    }
    if let Some(exact) = reader_decimal(r) {
        return Some(exact);
    }
    let num = i128::from(r.num()).unsigned_abs();
    let den = i128::from(r.den()).unsigned_abs();
    (0..=6u32).rev().find_map(|places| {
        let scale = 10u128.pow(places);
        // Round half up: (2·num·scale + den) / (2·den).
        let scaled = num
            .checked_mul(scale)?
            .checked_mul(2)?
            .checked_add(den)?
            .checked_div(den.checked_mul(2)?)?;
        let mut s = (scaled / scale).to_string();
        let frac = scaled % scale;
        if frac != 0 {
            let digits = format!("{frac:0width$}", width = places as usize);
            s.push('.');
            s.push_str(digits.trim_end_matches('0'));
        }
        Rational::parse_decimal(&s).is_ok().then_some(s)
    })
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

fn lcm(a: u128, b: u128) -> Option<u128> {
    if a == 0 || b == 0 {
        return None;
    }
    (a / gcd(a, b)).checked_mul(b)
}

// ---------------------------------------------------------------------------
// Divisions planning

/// The denominators of one span's durations, kept as the part without 2s and 5s plus their powers.
struct Denominators {
    /// LCM of the denominators with 2s and 5s removed; `None` once it overflows.
    odd: Option<u128>,
    twos: u32,
    fives: u32,
    /// Whether the span writes any duration at all.
    any: bool,
    /// The first duration that pushed `odd` over [`MAX_DIVISIONS`].
    over: Option<(Rational, Location)>,
    /// The first duration added (where a union's error points).
    first: Option<(Rational, Location)>,
}

impl Denominators {
    fn new() -> Self {
        Denominators {
            odd: Some(1),
            twos: 0,
            fives: 0,
            any: false,
            over: None,
            first: None,
        }
    }

    fn add(&mut self, q: Rational, at: &Location) {
        self.any = true;
        if self.first.is_none() {
            self.first = Some((q, at.clone()));
        }
        let mut d = i128::from(q.den()).unsigned_abs();
        let (mut twos, mut fives) = (0, 0);
        while d > 1 && d % 2 == 0 {
            d /= 2;
            twos += 1;
        }
        while d > 1 && d % 5 == 0 {
            d /= 5;
            fives += 1;
        }
        self.twos = self.twos.max(twos);
        self.fives = self.fives.max(fives);
        self.odd = self.odd.and_then(|o| lcm(o, d.max(1)));
        let over = self.odd.is_none_or(|o| o > u128::from(MAX_DIVISIONS));
        if over && self.over.is_none() {
            self.over = Some((q, at.clone()));
        }
    }

    /// The denominators of both.
    fn union(&self, other: &Denominators) -> Denominators {
        let odd = match (self.odd, other.odd) {
            (Some(a), Some(b)) => lcm(a, b),
            _ => None,
        };
        let over = self
            .over
            .clone()
            .or_else(|| other.over.clone())
            .or_else(|| {
                let first = self.first.clone().or_else(|| other.first.clone());
                first.filter(|_| odd.is_none_or(|o| o > u128::from(MAX_DIVISIONS)))
            });
        Denominators {
            odd,
            twos: self.twos.max(other.twos),
            fives: self.fives.max(other.fives),
            any: self.any || other.any,
            over,
            first: self.first.clone().or_else(|| other.first.clone()),
        }
    }

    /// The most decimal places a duration takes at `divisions` (when every other factor divides it).
    fn decimal_places(&self, divisions: u32) -> u32 {
        let (mut d, mut twos, mut fives) = (divisions, 0, 0);
        while d > 1 && d % 2 == 0 {
            d /= 2;
            twos += 1;
        }
        while d > 1 && d % 5 == 0 {
            d /= 5;
            fives += 1;
        }
        self.twos
            .saturating_sub(twos)
            .max(self.fives.saturating_sub(fives))
    }

    /// The full LCM of the denominators, when it fits.
    fn full(&self) -> Option<u128> {
        let mut l = self.odd?;
        for _ in 0..self.twos {
            l = l.checked_mul(2)?;
        }
        for _ in 0..self.fives {
            l = l.checked_mul(5)?;
        }
        Some(l)
    }

    /// The divisions to write for this span (see the module docs), or `None` when none is exact.
    fn choose(&self, declared: Option<u32>) -> Option<u32> {
        let cap = u128::from(MAX_DIVISIONS);
        let full = self.full();
        if let Some(n) = declared.filter(|&n| n > 0) {
            let wide = u128::from(n);
            if let Some(l) = full {
                if wide % l == 0 {
                    return Some(n);
                }
                if let Some(m) = lcm(wide, l).filter(|&m| m <= cap) {
                    return u32::try_from(m).ok();
                }
            }
            // When no value under the cap is exact in whole divisions, a declared value that
            // keeps every factor other than 2 and 5 is as good as any: its few decimals are kept.
            let decimals_needed = full.is_none_or(|l| l > cap);
            if decimals_needed
                && self.odd.is_some_and(|o| wide % o == 0)
                && self.decimal_places(n) <= 20
            {
                return Some(n);
            }
        }
        if let Some(l) = full.filter(|&l| l <= cap) {
            return u32::try_from(l).ok();
        }
        // Over the cap: keep every other prime factor and as many 2s and 5s as fit.
        let odd = self.odd.filter(|&o| o <= cap)?;
        let mut best = odd;
        let mut base = odd;
        for _ in 0..=self.twos {
            let mut v = base;
            for _ in 0..=self.fives {
                if v > cap {
                    break;
                }
                best = best.max(v);
                v = v.saturating_mul(5);
            }
            base = base.saturating_mul(2);
            if base > cap {
                break;
            }
        }
        u32::try_from(best).ok()
    }
}

/// What a part's measures write for divisions and staves.
struct Plan {
    /// Divisions injected into the first measure (durations before any declared value).
    initial: Option<u32>,
    /// What each declared divisions writes, in document order.
    declared: Vec<Declared>,
    /// Where [`Part::staves`] is declared when no attributes declare that many (see [`StavesFix`]).
    staves: Option<StavesFix>,
}

/// What one declared divisions writes.
#[derive(Clone, Copy)]
struct Declared {
    /// The value in force for the span it starts.
    value: u32,
    /// For a measure's own attributes: a different value for the directions and chord symbols
    /// before the measure's first note, backup or forward. The reader merges every
    /// `<attributes>` before that point and keeps the last divisions, so such a measure is
    /// written as `<attributes>` with this value, those items, then `<attributes>` with
    /// `value`: exactly how the reader came to a score whose early offsets need another value.
    before_timed: Option<u32>,
}

/// One stretch of a part between declared divisions.
struct Span {
    declared: Option<u32>,
    /// Whether a measure's own attributes declared it (see [`Declared::before_timed`]).
    at_measure_start: bool,
    /// Offsets before the measure's first timed item (measure-start spans only).
    before_timed: Denominators,
    /// Everything else.
    rest: Denominators,
}

impl Span {
    fn new(declared: Option<u32>, at_measure_start: bool) -> Self {
        Span {
            declared,
            at_measure_start,
            before_timed: Denominators::new(),
            rest: Denominators::new(),
        }
    }
}

fn unwritable(part: &Part, d: &Denominators) -> WriteError {
    let (q, at) = d
        .over
        .clone()
        .unwrap_or_else(|| (Rational::ZERO, location(part, None)));
    let odd = d
        .odd
        .map_or("more than 2^128".to_owned(), |o| o.to_string());
    duration_error(
        &at,
        format!(
            "{q} quarter lengths cannot be written exactly: the durations here need divisions that are a multiple of {odd}, over the limit of {MAX_DIVISIONS}"
        ),
    )
}

/// How a part's staves count is declared when its attributes declare fewer.
#[derive(Clone, Copy)]
struct StavesFix {
    /// The measure.
    measure: usize,
    /// The count.
    staves: u8,
    /// Whether it goes in an `<attributes>` of its own just before the measure's (the
    /// reader merges the two, the measure's own value wins, and the part keeps the larger
    /// count: exactly how the reader came to such a score), or into the measure's.
    separate: bool,
}

fn location(part: &Part, measure: Option<&str>) -> Location {
    Location {
        part: Some(part.id.clone()),
        measure: measure.map(str::to_owned),
        line: None,
        column: None,
    }
}

/// The measure number as written: a blank one becomes its 1-based position, as the reader numbers it.
fn measure_number(m: &Measure, index: usize) -> Cow<'_, str> {
    if is_blank(&m.number) {
        Cow::Owned((index + 1).to_string())
    } else {
        Cow::Borrowed(m.number.as_str())
    }
}

fn duration_error(at: &Location, message: String) -> WriteError {
    WriteError::Duration {
        message,
        at: at.clone(),
    }
}

/// Refuses what the reader refuses: a negative length or any value over [`MAX_QUARTERS`].
fn check_quarters(q: Rational, what: &str, signed: bool, at: &Location) -> Result<(), WriteError> {
    if q.is_negative() && !signed {
        return Err(duration_error(at, format!("{what} {q} is negative")));
    }
    let limit = Rational::from_int(MAX_QUARTERS);
    let over = if q.is_negative() {
        Rational::ZERO.checked_sub(q).is_none_or(|m| m > limit)
    } else {
        q > limit
    };
    if over {
        return Err(duration_error(
            at,
            format!("{what} {q} is over the limit of {MAX_QUARTERS} quarter lengths"),
        ));
    }
    Ok(())
}

fn plan_part(part: &Part) -> Result<Plan, WriteError> {
    let mut spans: Vec<Span> = vec![Span::new(None, false)];
    let mut declared_staves = 1u8;
    let mut see = |a: &Attributes, at_measure_start: bool, spans: &mut Vec<Span>| {
        if let Some(n) = a.divisions {
            spans.push(Span::new(Some(n), at_measure_start));
        }
        if let Some(s) = a.staves {
            declared_staves = declared_staves.max(s.max(1));
        }
    };
    for (index, m) in part.measures.iter().enumerate() {
        let number = measure_number(m, index);
        let at = location(part, Some(&number));
        let mut before_timed = false;
        if let Some(a) = &m.attributes {
            see(a, true, &mut spans);
            before_timed = a.divisions.is_some();
        }
        for item in &m.items {
            // What the reader counts as timed: every note (grace notes too), backup and forward.
            if matches!(
                item,
                Item::Note(_) | Item::Backup { .. } | Item::Forward { .. }
            ) {
                before_timed = false;
            }
            let (q, what, signed) = match item {
                Item::Attributes(a) => {
                    see(a, false, &mut spans);
                    before_timed = false;
                    continue;
                }
                Item::Note(n) if !n.grace => (n.duration, "a note's duration", false),
                Item::Note(_) => continue,
                Item::Backup { duration } => (*duration, "a backup", false),
                Item::Forward { duration, .. } => (*duration, "a forward", false),
                Item::Direction(Direction {
                    offset: Some(o), ..
                }) => (*o, "a direction's offset", true),
                Item::Harmony(Harmony {
                    offset: Some(o), ..
                }) => (*o, "a harmony's offset", true),
                Item::Direction(_) | Item::Harmony(_) => continue,
            };
            check_quarters(q, what, signed, &at)?;
            if let Some(span) = spans.last_mut() {
                if before_timed {
                    span.before_timed.add(q, &at);
                } else {
                    span.rest.add(q, &at);
                }
            }
        }
    }
    let mut plan = Plan {
        initial: None,
        declared: Vec::with_capacity(spans.len().saturating_sub(1)),
        staves: None,
    };
    if part.staves > declared_staves && !part.measures.is_empty() {
        let declaring = part
            .measures
            .iter()
            .position(|m| m.attributes.as_ref().is_some_and(|a| a.staves.is_some()));
        plan.staves = Some(StavesFix {
            measure: declaring.unwrap_or(0),
            staves: part.staves,
            separate: declaring.is_some(),
        });
    }
    for (i, span) in spans.iter().enumerate() {
        if i == 0 {
            if span.rest.any {
                let d = span
                    .rest
                    .choose(None)
                    .ok_or_else(|| unwritable(part, &span.rest))?;
                plan.initial = Some(d);
            }
            continue;
        }
        let (early, rest) = (&span.before_timed, &span.rest);
        let single = |value| Declared {
            value,
            before_timed: None,
        };
        let declared = if !span.at_measure_start || !early.any {
            single(
                rest.choose(span.declared)
                    .ok_or_else(|| unwritable(part, rest))?,
            )
        } else {
            // One value for the whole span when it is the declared one (or the declared one
            // holds neither part); a split only to keep a declared value the rest holds.
            let all = early.union(rest);
            match (all.choose(span.declared), rest.choose(span.declared)) {
                (Some(v), _) if Some(v) == span.declared => single(v),
                (_, Some(v)) if Some(v) == span.declared => Declared {
                    value: v,
                    before_timed: Some(early.choose(None).ok_or_else(|| unwritable(part, early))?),
                },
                (Some(v), _) => single(v),
                (None, Some(v)) => Declared {
                    value: v,
                    before_timed: Some(early.choose(None).ok_or_else(|| unwritable(part, early))?),
                },
                (None, None) => return Err(unwritable(part, &all)),
            }
        };
        plan.declared.push(declared);
    }
    Ok(plan)
}

fn check_part_ids(score: &Score) -> Result<(), WriteError> {
    let mut seen = HashSet::new();
    for part in &score.parts {
        let problem = if is_blank(&part.id) {
            Some("the part id is blank")
        } else if !seen.insert(clean(&part.id)) {
            Some("the part id appears twice")
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(WriteError::Invalid {
                message: message.into(),
                at: location(part, None),
            });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The part list

fn write_score_part(x: &mut Xml, part: &Part) {
    x.open("score-part", &[("id", Some(&part.id))]);
    x.leaf("part-name", &[], part.name.as_deref().unwrap_or(""));
    let synthesized;
    let instruments: &[Instrument] = match (&part.instruments[..], &part.instrument) {
        ([], Some(name)) => {
            synthesized = [Instrument {
                id: format!("{}-I1", part.id),
                name: Some(name.clone()),
                midi_channel: None,
                midi_program: None,
                midi_unpitched: None,
            }];
            &synthesized
        }
        (list, _) => list,
    };
    for inst in instruments {
        x.open("score-instrument", &[("id", Some(&inst.id))]);
        x.leaf("instrument-name", &[], inst.name.as_deref().unwrap_or(""));
        x.close("score-instrument");
    }
    for inst in instruments {
        let channel = inst.midi_channel.filter(|n| (1..=16).contains(n));
        let program = inst.midi_program.filter(|n| (1..=128).contains(n));
        let unpitched = inst.midi_unpitched.filter(|n| (1..=128).contains(n));
        if channel.is_none() && program.is_none() && unpitched.is_none() {
            continue;
        }
        x.open("midi-instrument", &[("id", Some(&inst.id))]);
        for (name, value) in [
            ("midi-channel", channel),
            ("midi-program", program),
            ("midi-unpitched", unpitched),
        ] {
            if let Some(v) = value {
                x.leaf(name, &[], &v.to_string());
            }
        }
        x.close("midi-instrument");
    }
    x.close("score-part");
}

// ---------------------------------------------------------------------------
// Parts and measures

/// The state carried across a part's measures while writing.
struct PartWriter<'p> {
    part: &'p Part,
    plan: &'p Plan,
    /// The divisions in force.
    divisions: u32,
    /// The next declared divisions' planned value.
    next_declared: usize,
    /// Divisions to declare before the measure's first timed item (see [`Declared::before_timed`]).
    pending: Option<u32>,
}

impl PartWriter<'_> {
    /// `q` quarter lengths in the divisions in force, exactly.
    fn amount(&self, q: Rational, at: &Location) -> Result<String, WriteError> {
        q.checked_mul(Rational::from_int(i64::from(self.divisions)))
            .and_then(reader_decimal)
            .ok_or_else(|| {
                duration_error(
                    at,
                    format!(
                        "{q} quarter lengths cannot be written exactly with divisions {}",
                        self.divisions
                    ),
                )
            })
    }

    /// Takes the next declared divisions and puts the value to write now in force.
    fn take_declared(&mut self, at_measure_start: bool) -> u32 {
        let planned = self.plan.declared.get(self.next_declared).copied();
        self.next_declared += 1;
        let Some(planned) = planned else {
            return self.divisions;
        };
        self.divisions = match planned.before_timed {
            Some(early) if at_measure_start => {
                self.pending = Some(planned.value);
                early
            }
            _ => planned.value,
        };
        self.divisions
    }

    /// Declares the pending divisions (before the first timed item or at the measure's end).
    fn flush_pending(&mut self, x: &mut Xml) {
        if let Some(d) = self.pending.take() {
            x.open("attributes", &[]);
            x.leaf("divisions", &[], &d.to_string());
            x.close("attributes");
            self.divisions = d;
        }
    }
}

fn write_part(x: &mut Xml, part: &Part, plan: &Plan) -> Result<(), WriteError> {
    x.open("part", &[("id", Some(&part.id))]);
    let mut w = PartWriter {
        part,
        plan,
        divisions: plan.initial.unwrap_or(1),
        next_declared: 0,
        pending: None,
    };
    for (index, m) in part.measures.iter().enumerate() {
        write_measure(x, &mut w, m, index)?;
    }
    x.close("part");
    Ok(())
}

fn write_measure(
    x: &mut Xml,
    w: &mut PartWriter<'_>,
    m: &Measure,
    index: usize,
) -> Result<(), WriteError> {
    let number = measure_number(m, index);
    let at = location(w.part, Some(&number));
    x.open(
        "measure",
        &[
            ("number", Some(&number)),
            ("implicit", m.implicit.then_some("yes")),
        ],
    );
    let leading = m
        .barlines
        .iter()
        .take_while(|b| b.location == BarlineLocation::Left)
        .count();
    for b in m.barlines.iter().take(leading) {
        write_barline(x, b);
    }
    let inject_divisions = if index == 0 { w.plan.initial } else { None };
    let mut inject_staves = None;
    if let Some(fix) = w.plan.staves.filter(|f| f.measure == index) {
        if fix.separate {
            x.open("attributes", &[]);
            x.leaf("staves", &[], &fix.staves.to_string());
            x.close("attributes");
        } else {
            inject_staves = Some(fix.staves);
        }
    }
    let injected = Attributes::default();
    let start = match &m.attributes {
        Some(a) => Some(a),
        None if inject_divisions.is_some() || inject_staves.is_some() => Some(&injected),
        None => None,
    };
    if let Some(a) = start {
        write_attributes(x, w, a, true, inject_divisions, inject_staves);
    }
    for item in &m.items {
        if matches!(
            item,
            Item::Note(_) | Item::Backup { .. } | Item::Forward { .. } | Item::Attributes(_)
        ) {
            w.flush_pending(x);
        }
        match item {
            Item::Note(n) => write_note(x, w, n, &at)?,
            Item::Backup { duration } => {
                x.open("backup", &[]);
                x.leaf("duration", &[], &w.amount(*duration, &at)?);
                x.close("backup");
            }
            Item::Forward {
                duration,
                voice,
                staff,
            } => {
                x.open("forward", &[]);
                x.leaf("duration", &[], &w.amount(*duration, &at)?);
                if let Some(v) = non_blank(voice) {
                    x.leaf("voice", &[], v);
                }
                write_staff(x, *staff);
                x.close("forward");
            }
            Item::Direction(d) => write_direction(x, w, d, &at)?,
            Item::Harmony(h) => write_harmony(x, w, h, &at)?,
            Item::Attributes(a) => write_attributes(x, w, a, false, None, None),
        }
    }
    w.flush_pending(x);
    for b in m.barlines.iter().skip(leading) {
        write_barline(x, b);
    }
    x.close("measure");
    Ok(())
}

fn write_staff(x: &mut Xml, staff: Option<u8>) {
    if let Some(s) = staff.filter(|&s| s >= 1) {
        x.leaf("staff", &[], &s.to_string());
    }
}

fn write_attributes(
    x: &mut Xml,
    w: &mut PartWriter<'_>,
    a: &Attributes,
    at_measure_start: bool,
    inject_divisions: Option<u32>,
    inject_staves: Option<u8>,
) {
    let divisions = match a.divisions {
        Some(_) => Some(w.take_declared(at_measure_start)),
        None => inject_divisions,
    };
    let key = a.key.as_ref().filter(|k| (-7..=7).contains(&k.fifths));
    let time = a
        .time
        .as_ref()
        .filter(|t| !is_blank(&t.beats) && !is_blank(&t.beat_type));
    let staves = inject_staves.or(a.staves.map(|s| s.max(1)));
    let clefs: Vec<_> = a.clefs.iter().filter(|c| !is_blank(&c.sign)).collect();
    if divisions.is_none()
        && key.is_none()
        && time.is_none()
        && staves.is_none()
        && clefs.is_empty()
        && a.transpose.is_none()
    {
        x.empty("attributes", &[]);
        return;
    }
    x.open("attributes", &[]);
    if let Some(d) = divisions {
        x.leaf("divisions", &[], &d.to_string());
    }
    if let Some(k) = key {
        x.open("key", &[]);
        x.leaf("fifths", &[], &k.fifths.to_string());
        if let Some(mode) = non_blank(&k.mode) {
            x.leaf("mode", &[], mode);
        }
        x.close("key");
    }
    if let Some(t) = time {
        x.open("time", &[("symbol", t.symbol.as_deref())]);
        x.leaf("beats", &[], &t.beats);
        x.leaf("beat-type", &[], &t.beat_type);
        x.close("time");
    }
    if let Some(s) = staves {
        x.leaf("staves", &[], &s.to_string());
    }
    for c in clefs {
        let number = c.staff.filter(|&s| s >= 1).map(|s| s.to_string());
        x.open("clef", &[("number", number.as_deref())]);
        x.leaf("sign", &[], &c.sign);
        if let Some(line) = c.line {
            x.leaf("line", &[], &line.to_string());
        }
        if let Some(o) = c.octave_change {
            x.leaf("clef-octave-change", &[], &o.to_string());
        }
        x.close("clef");
    }
    if let Some(t) = &a.transpose {
        x.open("transpose", &[]);
        // Always written: music21 fails on an octave-change without a diatonic.
        x.leaf("diatonic", &[], &t.diatonic.to_string());
        x.leaf("chromatic", &[], &t.chromatic.to_string());
        if t.octave_change != 0 {
            x.leaf("octave-change", &[], &t.octave_change.to_string());
        }
        x.close("transpose");
    }
    x.close("attributes");
}

// ---------------------------------------------------------------------------
// Notes

fn invalid(at: &Location, message: String) -> WriteError {
    WriteError::Invalid {
        message,
        at: at.clone(),
    }
}

fn step_letter(s: Step) -> &'static str {
    match s {
        Step::C => "C",
        Step::D => "D",
        Step::E => "E",
        Step::F => "F",
        Step::G => "G",
        Step::A => "A",
        Step::B => "B",
    }
}

fn check_octave(octave: i8, at: &Location) -> Result<(), WriteError> {
    if (0..=9).contains(&octave) {
        Ok(())
    } else {
        Err(invalid(at, format!("octave {octave} is outside 0..=9")))
    }
}

fn check_alter(alter: i8, at: &Location) -> Result<(), WriteError> {
    if (-3..=3).contains(&alter) {
        Ok(())
    } else {
        Err(invalid(at, format!("alter {alter} is outside -3..=3")))
    }
}

fn tie_name(t: TieType) -> &'static str {
    match t {
        TieType::Start => "start",
        TieType::Stop => "stop",
    }
}

fn write_pitch(x: &mut Xml, p: &Pitch, at: &Location) -> Result<(), WriteError> {
    check_octave(p.octave, at)?;
    check_alter(p.alter, at)?;
    x.open("pitch", &[]);
    x.leaf("step", &[], step_letter(p.step));
    if p.alter != 0 {
        x.leaf("alter", &[], &p.alter.to_string());
    }
    x.leaf("octave", &[], &p.octave.to_string());
    x.close("pitch");
    Ok(())
}

fn write_note(x: &mut Xml, w: &PartWriter<'_>, n: &Note, at: &Location) -> Result<(), WriteError> {
    if n.pitch.is_none() && n.unpitched.is_none() && !n.rest {
        return Err(invalid(at, "a note has no pitch, unpitched or rest".into()));
    }
    if let Some(bad) = n.articulations.iter().find(|a| !is_xml_name(a)) {
        return Err(invalid(
            at,
            format!("the articulation {bad:?} is not an XML element name"),
        ));
    }
    x.open("note", &[]);
    if n.grace {
        x.empty("grace", &[]);
    }
    if n.cue {
        x.empty("cue", &[]);
    }
    if n.chord {
        x.empty("chord", &[]);
    }
    let mut instrument = None;
    match (&n.pitch, &n.unpitched) {
        (Some(p), _) => write_pitch(x, p, at)?,
        (None, Some(u)) => {
            if let Some(o) = u.display_octave {
                check_octave(o, at)?;
            }
            if u.display_step.is_none() && u.display_octave.is_none() {
                x.empty("unpitched", &[]);
            } else {
                x.open("unpitched", &[]);
                if let Some(s) = u.display_step {
                    x.leaf("display-step", &[], step_letter(s));
                }
                if let Some(o) = u.display_octave {
                    x.leaf("display-octave", &[], &o.to_string());
                }
                x.close("unpitched");
            }
            instrument = u.instrument.as_deref();
        }
        (None, None) => x.empty("rest", &[("measure", n.measure_rest.then_some("yes"))]),
    }
    if !n.grace {
        x.leaf("duration", &[], &w.amount(n.duration, at)?);
    }
    let mut ties: Vec<TieType> = Vec::with_capacity(2);
    for &t in &n.ties {
        if !ties.contains(&t) {
            ties.push(t);
        }
    }
    // The schema allows no <tie> on a cue note; <tied> below carries it.
    if !n.cue {
        for &t in &ties {
            x.empty("tie", &[("type", Some(tie_name(t)))]);
        }
    }
    if let Some(id) = instrument {
        x.empty("instrument", &[("id", Some(id))]);
    }
    if let Some(v) = non_blank(&n.voice) {
        x.leaf("voice", &[], v);
    }
    if let Some(t) = non_blank(&n.note_type) {
        x.leaf("type", &[], t);
    }
    for _ in 0..n.dots {
        x.empty("dot", &[]);
    }
    if let Some(tm) = n.tuplet.filter(|tm| tm.actual > 0 && tm.normal > 0) {
        x.open("time-modification", &[]);
        x.leaf("actual-notes", &[], &tm.actual.to_string());
        x.leaf("normal-notes", &[], &tm.normal.to_string());
        x.close("time-modification");
    }
    write_staff(x, n.staff);
    if !ties.is_empty() || !n.articulations.is_empty() || n.fermata || !n.dynamics.is_empty() {
        x.open("notations", &[]);
        for &t in &ties {
            x.empty("tied", &[("type", Some(tie_name(t)))]);
        }
        if !n.articulations.is_empty() {
            x.open("articulations", &[]);
            for a in &n.articulations {
                x.empty(a, &[]);
            }
            x.close("articulations");
        }
        if !n.dynamics.is_empty() {
            write_dynamics(x, &n.dynamics);
        }
        if n.fermata {
            x.empty("fermata", &[]);
        }
        x.close("notations");
    }
    for l in &n.lyrics {
        write_lyric(x, l);
    }
    x.close("note");
    Ok(())
}

fn write_lyric(x: &mut Xml, l: &Lyric) {
    x.open("lyric", &[("number", Some(&l.verse))]);
    if let Some(s) = l.syllabic {
        let name = match s {
            Syllabic::Single => "single",
            Syllabic::Begin => "begin",
            Syllabic::Middle => "middle",
            Syllabic::End => "end",
        };
        x.leaf("syllabic", &[], name);
    }
    // A bare melisma continuation is just <extend/>, as the schema allows.
    if !(l.text.is_empty() && l.syllabic.is_none() && l.extend) {
        x.leaf("text", &[], &l.text);
    }
    if l.extend {
        x.empty("extend", &[]);
    }
    x.close("lyric");
}

/// The MusicXML 4.0 dynamics elements; other marks are written as `other-dynamics` text.
const DYNAMICS: [&str; 26] = [
    "p", "pp", "ppp", "pppp", "ppppp", "pppppp", "f", "ff", "fff", "ffff", "fffff", "ffffff", "mp",
    "mf", "sf", "sfp", "sfpp", "fp", "rf", "rfz", "sfz", "sffz", "fz", "n", "pf", "sfzp",
];

fn write_dynamics(x: &mut Xml, marks: &[String]) {
    x.open("dynamics", &[]);
    for m in marks {
        if DYNAMICS.contains(&m.as_str()) {
            x.empty(m, &[]);
        } else {
            x.leaf("other-dynamics", &[], m);
        }
    }
    x.close("dynamics");
}

// ---------------------------------------------------------------------------
// Directions, harmony, barlines

fn write_sound(x: &mut Xml, s: &Sound) {
    let tempo = s.tempo.and_then(playback_text);
    let dynamics = s.dynamics.and_then(playback_text);
    x.empty(
        "sound",
        &[
            ("tempo", tempo.as_deref()),
            ("dynamics", dynamics.as_deref()),
            ("dacapo", s.dacapo.then_some("yes")),
            ("segno", s.segno.as_deref()),
            ("dalsegno", s.dalsegno.as_deref()),
            ("coda", s.coda.as_deref()),
            ("tocoda", s.tocoda.as_deref()),
            ("fine", s.fine.then_some("yes")),
        ],
    );
}

fn write_direction(
    x: &mut Xml,
    w: &PartWriter<'_>,
    d: &Direction,
    at: &Location,
) -> Result<(), WriteError> {
    for k in &d.kinds {
        if let DirectionKind::Other { name } = k {
            if !is_xml_name(name) {
                return Err(invalid(
                    at,
                    format!("the direction type {name:?} is not an XML element name"),
                ));
            }
        }
    }
    // A bare playback change is a measure-level <sound>, which reads back as exactly this.
    if let (true, None, None, None, None, Some(s)) = (
        d.kinds.is_empty(),
        &d.placement,
        d.staff,
        &d.voice,
        d.offset,
        &d.sound,
    ) {
        write_sound(x, s);
        return Ok(());
    }
    x.open("direction", &[("placement", d.placement.as_deref())]);
    let mut kinds = d.kinds.iter().peekable();
    while let Some(k) = kinds.next() {
        match k {
            DirectionKind::Dynamics { marks } => {
                x.open("direction-type", &[]);
                write_dynamics(x, marks);
                x.close("direction-type");
            }
            DirectionKind::Wedge { wedge } => {
                let kind = match wedge {
                    WedgeType::Crescendo => "crescendo",
                    WedgeType::Diminuendo => "diminuendo",
                    WedgeType::Stop => "stop",
                    WedgeType::Continue => "continue",
                };
                x.open("direction-type", &[]);
                x.empty("wedge", &[("type", Some(kind))]);
                x.close("direction-type");
            }
            DirectionKind::Words { text } => {
                x.open("direction-type", &[]);
                x.leaf("words", &[], text);
                x.close("direction-type");
            }
            DirectionKind::Rehearsal { text } => {
                x.open("direction-type", &[]);
                x.leaf("rehearsal", &[], text);
                x.close("direction-type");
            }
            DirectionKind::Metronome {
                beat_unit,
                dots,
                per_minute,
            } => {
                if is_blank(beat_unit) {
                    continue;
                }
                x.open("direction-type", &[]);
                x.open("metronome", &[]);
                x.leaf("beat-unit", &[], beat_unit);
                for _ in 0..*dots {
                    x.empty("beat-unit-dot", &[]);
                }
                x.leaf("per-minute", &[], non_blank(per_minute).unwrap_or(""));
                x.close("metronome");
                // The reader reads only a direction-type's first metronome; later ones are `Other`.
                while kinds
                    .next_if(|k| matches!(k, DirectionKind::Other { name } if name == "metronome"))
                    .is_some()
                {
                    x.empty("metronome", &[]);
                }
                x.close("direction-type");
            }
            DirectionKind::Segno => {
                x.open("direction-type", &[]);
                x.empty("segno", &[]);
                x.close("direction-type");
            }
            DirectionKind::Coda => {
                x.open("direction-type", &[]);
                x.empty("coda", &[]);
                x.close("direction-type");
            }
            // Empty, these would read back as nothing (and a warning).
            DirectionKind::Other { name } if name == "wedge" || name == "metronome" => {}
            DirectionKind::Other { name } => {
                x.open("direction-type", &[]);
                x.empty(name, &[]);
                x.close("direction-type");
            }
        }
    }
    if let Some(o) = d.offset {
        x.leaf("offset", &[], &w.amount(o, at)?);
    }
    if let Some(v) = non_blank(&d.voice) {
        x.leaf("voice", &[], v);
    }
    write_staff(x, d.staff);
    if let Some(s) = &d.sound {
        write_sound(x, s);
    }
    x.close("direction");
    Ok(())
}

fn write_harmony(
    x: &mut Xml,
    w: &PartWriter<'_>,
    h: &Harmony,
    at: &Location,
) -> Result<(), WriteError> {
    if h.root_step.is_some() {
        check_alter(h.root_alter, at)?;
    }
    if h.bass_step.is_some() {
        check_alter(h.bass_alter, at)?;
    }
    x.open("harmony", &[]);
    if let Some(step) = h.root_step {
        x.open("root", &[]);
        x.leaf("root-step", &[], step_letter(step));
        if h.root_alter != 0 {
            x.leaf("root-alter", &[], &h.root_alter.to_string());
        }
        x.close("root");
    }
    let kind = if is_blank(&h.kind) {
        "none"
    } else {
        h.kind.as_str()
    };
    x.leaf("kind", &[("text", h.text.as_deref())], kind);
    if let Some(step) = h.bass_step {
        x.open("bass", &[]);
        x.leaf("bass-step", &[], step_letter(step));
        if h.bass_alter != 0 {
            x.leaf("bass-alter", &[], &h.bass_alter.to_string());
        }
        x.close("bass");
    }
    if let Some(o) = h.offset {
        x.leaf("offset", &[], &w.amount(o, at)?);
    }
    write_staff(x, h.staff);
    x.close("harmony");
    Ok(())
}

fn write_barline(x: &mut Xml, b: &Barline) {
    let location = match b.location {
        BarlineLocation::Left => "left",
        BarlineLocation::Right => "right",
        BarlineLocation::Middle => "middle",
    };
    let style = non_blank(&b.style);
    if style.is_none() && b.ending.is_none() && b.repeat.is_none() {
        x.empty("barline", &[("location", Some(location))]);
        return;
    }
    x.open("barline", &[("location", Some(location))]);
    if let Some(s) = style {
        x.leaf("bar-style", &[], s);
    }
    if let Some(e) = &b.ending {
        let kind = match e.kind {
            EndingKind::Start => "start",
            EndingKind::Stop => "stop",
            EndingKind::Discontinue => "discontinue",
        };
        let attrs = [("number", Some(e.number.as_str())), ("type", Some(kind))];
        match non_blank(&e.text) {
            Some(text) => x.leaf("ending", &attrs, text),
            None => x.empty("ending", &attrs),
        }
    }
    if let Some(r) = b.repeat {
        let direction = match r {
            RepeatDirection::Forward => "forward",
            RepeatDirection::Backward => "backward",
        };
        let times = b.times.map(|t| t.to_string());
        x.empty(
            "repeat",
            &[("direction", Some(direction)), ("times", times.as_deref())],
        );
    }
    x.close("barline");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn decimals_are_exact_or_refused() {
        assert_eq!(decimal_text(r(3, 1)).as_deref(), Some("3"));
        assert_eq!(decimal_text(r(-3, 8)).as_deref(), Some("-0.375"));
        assert_eq!(decimal_text(r(1, 20)).as_deref(), Some("0.05"));
        assert_eq!(decimal_text(Rational::ZERO).as_deref(), Some("0"));
        assert_eq!(decimal_text(r(1, 3)), None);
        // 2^-62 has 62 decimal places and is still exact.
        let tiny = decimal_text(r(1, 1 << 62)).unwrap();
        assert_eq!(tiny.len(), 64);
        // ... but the reader cannot parse that many digits, so it is not written.
        assert_eq!(reader_decimal(r(1, 1 << 62)), None);
        assert_eq!(reader_decimal(r(1, 1 << 30)).map(|t| t.len()), Some(32));
        assert_eq!(playback_text(r(1, 1 << 62)).as_deref(), Some("0"));
        assert_eq!(
            decimal_text(Rational::from_int(i64::MIN)).as_deref(),
            Some("-9223372036854775808")
        );
    }

    #[test]
    fn playback_values_round_only_when_not_decimal() {
        assert_eq!(playback_text(r(889, 10)).as_deref(), Some("88.9"));
        assert_eq!(playback_text(r(200, 3)).as_deref(), Some("66.666667"));
        assert_eq!(playback_text(r(1, 3_000_000)).as_deref(), Some("0"));
        assert_eq!(playback_text(r(-1, 2)), None);
        // 3074457345618258602.333333 is more than the reader's i64 fractions hold.
        assert_eq!(
            playback_text(r(i64::MAX, 3)).as_deref(),
            Some("3074457345618258602")
        );
        assert_eq!(playback_text(r(2, 3)).as_deref(), Some("0.666667"));
        assert_eq!(playback_text(r(1, 7 * 1_000_000)).as_deref(), Some("0"));
    }

    #[test]
    fn names_and_characters() {
        for ok in ["staccato", "strong-accent", "_x", "é1.2", "a\u{B7}b"] {
            assert!(is_xml_name(ok), "{ok}");
        }
        for bad in ["", "1x", "-x", "a b", "a:b", "a<b", "x\u{1}"] {
            assert!(!is_xml_name(bad), "{bad}");
        }
        let mut s = String::new();
        escape_into(&mut s, "a&<>\"'\t\n\r\u{0}\u{B}\u{FFFE}\u{1F600}", true);
        assert_eq!(s, "a&amp;&lt;&gt;&quot;&apos;&#9;&#10;&#13;\u{1F600}");
        let mut s = String::new();
        escape_into(&mut s, "a&<>\"'\t\n\r\u{1}b", false);
        assert_eq!(s, "a&amp;&lt;&gt;\"'\t\n&#13;b");
    }

    fn dens(values: &[Rational]) -> Denominators {
        let mut d = Denominators::new();
        for &v in values {
            d.add(v, &Location::default());
        }
        d
    }

    #[test]
    fn divisions_choice() {
        let d = dens(&[r(1, 3), r(1, 4), r(3, 2)]);
        assert_eq!(d.choose(None), Some(12));
        // A declared value that holds every duration is kept, even above the LCM.
        assert_eq!(d.choose(Some(480)), Some(480));
        // One that does not is widened to a common multiple.
        assert_eq!(d.choose(Some(8)), Some(24));
        assert_eq!(d.choose(Some(0)), Some(12));
        // No durations: any positive declared value holds, and 1 otherwise.
        assert_eq!(dens(&[]).choose(Some(7)), Some(7));
        assert_eq!(dens(&[]).choose(None), Some(1));
        // Over the cap: 3 * 2^21 does not fit, 3 * 2^18 is the largest divisor that does.
        let d = dens(&[r(1, 1 << 21), r(1, 3)]);
        assert_eq!(d.choose(None), Some(3 << 18));
        // lcm(1000000, 3) is over the cap: the declared value gives way.
        let d = dens(&[r(1, 3)]);
        assert_eq!(d.choose(Some(MAX_DIVISIONS)), Some(3));
        // 1009 * 1013 has no 2s or 5s to drop: nothing exact fits.
        let d = dens(&[r(1, 1009), r(1, 1013)]);
        assert_eq!(d.choose(None), None);
        assert!(d.over.is_some());
        // Over the cap, a declared value with every odd factor is kept (a few decimals).
        let d = dens(&[r(1, 1 << 22), r(1, 7)]);
        assert_eq!(d.choose(None), Some(7 << 17));
        assert_eq!(d.choose(Some(7 << 10)), Some(7 << 10));
        assert_eq!(d.decimal_places(7 << 10), 12);
        assert_eq!(d.choose(Some(1 << 10)), Some(7 << 17));
        // ... unless it needs more decimals than the reader parses.
        let d = dens(&[r(1, 1 << 40), r(1, 7)]);
        assert_eq!(d.choose(Some(7)), Some(7 << 17));
        // A declared value above the cap that holds the durations is still kept.
        let d = dens(&[r(1, 1009), r(1, 1013)]);
        assert_eq!(d.choose(Some(1009 * 1013 * 2)), Some(1009 * 1013 * 2));
        // Huge coprime denominators overflow the LCM without panicking.
        let primes = [
            r(1, 9_223_372_036_854_775_783),
            r(1, 9_223_372_036_854_775_643),
            r(1, 9_223_372_036_854_775_549),
        ];
        assert_eq!(dens(&primes).choose(None), None);
    }
}
