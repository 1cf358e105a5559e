//! The value types edits carry: exact numbers, intervals, pitch names,
//! dynamics levels, 1-based ranges and the notes of `replace_notes`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{Pitch, Step};
use crate::rational::Rational;

/// An exact number: a JSON number (`1.5`, `120`) or a string (`"1/3"`, `"0.5"`).
///
/// Decimals are read from their shortest text, so `0.1` is exactly 1/10.
/// Serialised as a JSON integer when whole, else as `"num/den"`, so the JSON
/// form reads back equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fraction(pub Rational);

impl Fraction {
    /// The exact value.
    pub fn value(self) -> Rational {
        self.0
    }
}

impl From<Rational> for Fraction {
    fn from(r: Rational) -> Self {
        Fraction(r)
    }
}

impl FromStr for Fraction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        t.parse::<Rational>()
            .or_else(|_| Rational::parse_decimal(t))
            .map(Fraction)
            .map_err(|e| format!("{s:?} is not an exact number such as 3, 0.5 or \"1/3\": {e}"))
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.den() == 1 {
            serializer.serialize_i64(self.0.num())
        } else {
            serializer.collect_str(&self.0)
        }
    }
}

struct FractionVisitor;

impl Visitor<'_> for FractionVisitor {
    type Value = Fraction;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a string such as \"1/3\"")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fraction, E> {
        Ok(Fraction(Rational::from_int(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fraction, E> {
        i64::try_from(v)
            .map(|v| Fraction(Rational::from_int(v)))
            .map_err(|_| E::custom(format!("{v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fraction, E> {
        if !v.is_finite() {
            return Err(E::custom("not a finite number"));
        }
        // Rust prints the shortest text that reads back as `v`, without exponent.
        Rational::parse_decimal(&format!("{v}"))
            .map(Fraction)
            .map_err(|e| E::custom(format!("{v} cannot be held exactly: {e}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Fraction, E> {
        v.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FractionVisitor)
    }
}

impl JsonSchema for Fraction {
    fn schema_name() -> Cow<'static, str> {
        "ExactNumber".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An exact number: a JSON number (1.5) or a string (\"3/2\", \"0.5\").",
            "anyOf": [
                { "type": "number" },
                { "type": "string", "pattern": "^[+-]?([0-9]+(/[0-9]+)?|[0-9]*\\.[0-9]*)$" }
            ]
        })
    }
}

/// Semitones above the unison of a perfect or major simple interval, by steps (0 = unison).
const MAJOR_SCALE: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];

/// A musical interval: staff steps and semitones, both signed (down is negative).
///
/// JSON form: a string of an optional sign, a quality and a number: `"M2"`,
/// `"-m3"`, `"P5"`, `"A4"`, `"d5"`, `"P8"`, `"M9"`, `"AA1"`. Qualities:
/// `P` perfect (1, 4, 5, 8, ...), `M`/`m` major/minor (2, 3, 6, 7, ...),
/// `A` augmented and `d` diminished (repeat for doubly, up to three).
/// Serialised in that canonical form (a descending augmented unison is
/// `"-A1"`, so `"d1"` reads back as `"-A1"`: the same interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Staff steps (letter names) moved: 1 for a second up, -2 for a third down.
    pub steps: i32,
    /// Semitones moved: 2 for a major second up.
    pub semitones: i32,
}

impl Interval {
    /// The interval's position on the line of fifths (P5 = 1, M2 = 2, m3 = -3):
    /// how many fifths a key signature moves when transposed by it.
    pub fn fifths(self) -> i32 {
        7 * self.semitones - 12 * self.steps
    }

    /// The interval `fifths` along the line of fifths that spans `semitones`.
    /// `fifths` must be congruent to 7 × `semitones` modulo 12.
    pub(crate) fn from_fifths(fifths: i32, semitones: i32) -> Interval {
        Interval {
            steps: (7 * semitones - fifths).div_euclid(12),
            semitones,
        }
    }
}

impl FromStr for Interval {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!(
                "{s:?} is not an interval such as \"M2\", \"-m3\", \"P5\", \"A4\" or \"d5\": {why}"
            )
        };
        let t = s.trim();
        let (down, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let split = t.find(|c: char| c.is_ascii_digit()).unwrap_or(t.len());
        let (quality, number) = t.split_at(split);
        if number.is_empty() || number.len() > 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the number must be 1 to 99"));
        }
        let n: i32 = number
            .parse()
            .map_err(|_| bad("the number must be 1 to 99"))?;
        if n < 1 {
            return Err(bad("the number must be 1 to 99"));
        }
        let steps = n - 1;
        let class = usize::try_from(steps % 7).unwrap_or(0);
        let perfect = matches!(class, 0 | 3 | 4);
        let base = MAJOR_SCALE[class] + 12 * (steps / 7);
        let repeated = |c: char| {
            let k = quality.chars().count();
            ((1..=3).contains(&k) && quality.chars().all(|q| q == c)).then_some(k as i32)
        };
        let adjust = match quality {
            "P" if perfect => 0,
            "M" if !perfect => 0,
            "m" if !perfect => -1,
            "P" => {
                return Err(bad(&format!(
                    "a {n} is major or minor (M{n}, m{n}), not perfect"
                )))
            }
            "M" | "m" => return Err(bad(&format!("a {n} is perfect (P{n}), not major or minor"))),
            _ => {
                if let Some(k) = repeated('A') {
                    k
                } else if let Some(k) = repeated('d') {
                    if perfect {
                        -k
                    } else {
                        -k - 1
                    }
                } else {
                    return Err(bad("the quality must be P, M, m, A or d"));
                }
            }
        };
        let semitones = base + adjust;
        Ok(if down {
            Interval {
                steps: -steps,
                semitones: -semitones,
            }
        } else {
            Interval { steps, semitones }
        })
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let down = self.steps < 0 || (self.steps == 0 && self.semitones < 0);
        let (steps, semis) = if down {
            (-self.steps, -self.semitones)
        } else {
            (self.steps, self.semitones)
        };
        let class = usize::try_from(steps % 7).unwrap_or(0);
        let perfect = matches!(class, 0 | 3 | 4);
        let diff = semis - (MAJOR_SCALE[class] + 12 * (steps / 7));
        let count = |n: i32| usize::try_from(n).unwrap_or(0);
        let quality = match (perfect, diff) {
            (true, 0) => "P".to_owned(),
            (false, 0) => "M".to_owned(),
            (false, -1) => "m".to_owned(),
            (_, d) if d > 0 => "A".repeat(count(d)),
            (true, d) => "d".repeat(count(-d)),
            (false, d) => "d".repeat(count(-d - 1)),
        };
        write!(f, "{}{quality}{}", if down { "-" } else { "" }, steps + 1)
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for Interval {
    fn schema_name() -> Cow<'static, str> {
        "Interval".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[+-]?(P|M|m|A{1,3}|d{1,3})[0-9]{1,2}$",
            "description": "An interval: optional sign, quality (P, M, m, A, d) and number, e.g. \"M2\", \"-m3\", \"P5\", \"A4\", \"d5\"."
        })
    }
}

/// A written pitch by name: letter, accidentals and octave, e.g. `"C#4"`, `"Bb3"`, `"F##5"`.
///
/// Accidentals: `#` or `♯` (sharp), `b` or `♭` (flat), `x` or `##` (double
/// sharp), `bb` (double flat), `n` or none (natural). Octave 4 starts at
/// middle C; octaves 0..=9 and MIDI keys 0..=127 only. Serialised with `#`
/// and `b` (`"Cx4"` reads back as `"C##4"`: the same pitch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PitchName(pub Pitch);

impl FromStr for PitchName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            |why: &str| format!("{s:?} is not a pitch such as \"C4\", \"F#5\" or \"Bb3\": {why}");
        let t = s.trim();
        let mut chars = t.chars();
        let letter = chars.next().ok_or_else(|| bad("empty"))?;
        let step = Step::from_letter(&letter.to_ascii_uppercase().to_string())
            .ok_or_else(|| bad("the letter must be A to G"))?;
        let rest = chars.as_str();
        let split = rest
            .find(|c: char| c.is_ascii_digit() || c == '-')
            .unwrap_or(rest.len());
        let (accidentals, octave) = rest.split_at(split);
        let alter: i32 = match accidentals {
            "" | "n" | "♮" => 0,
            "#" | "♯" => 1,
            "##" | "x" | "♯♯" | "𝄪" => 2,
            "b" | "♭" => -1,
            "bb" | "♭♭" | "𝄫" => -2,
            _ => return Err(bad("accidentals must be #, ##, x, b, bb or n")),
        };
        let octave: i8 = octave
            .parse()
            .map_err(|_| bad("the octave must be a number 0 to 9"))?;
        let pitch = Pitch {
            step,
            alter: i8::try_from(alter).unwrap_or(0),
            octave,
        };
        check_pitch(&pitch).map_err(|why| bad(&why))?;
        Ok(PitchName(pitch))
    }
}

/// Whether a pitch is inside octaves 0..=9 and MIDI 0..=127, else why not.
pub(crate) fn check_pitch(p: &Pitch) -> Result<(), String> {
    if !(0..=9).contains(&p.octave) {
        return Err(format!("octave {} is outside 0..=9", p.octave));
    }
    let m = p.midi();
    if !(0..=127).contains(&m) {
        return Err(format!("MIDI key {m} is outside 0..=127"));
    }
    Ok(())
}

/// A pitch's name as [`PitchName`] writes it ("C#4", "Bb3").
pub(crate) fn pitch_text(p: &Pitch) -> String {
    let acc = if p.alter >= 0 {
        "#".repeat(usize::from(p.alter.unsigned_abs()))
    } else {
        "b".repeat(usize::from(p.alter.unsigned_abs()))
    };
    format!("{:?}{acc}{}", p.step, p.octave)
}

impl fmt::Display for PitchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&pitch_text(&self.0))
    }
}

impl Serialize for PitchName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PitchName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for PitchName {
    fn schema_name() -> Cow<'static, str> {
        "PitchName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Ga-g](#|##|x|b|bb|n|♯|♭)?[0-9]$",
            "description": "A written pitch: letter, accidentals (#, ##, x, b, bb) and octave (4 starts at middle C), e.g. \"C#4\", \"Bb3\"."
        })
    }
}

/// A dynamics level on the ladder ppp < pp < p < mp < mf < f < ff < fff.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum DynamicLevel {
    /// pianississimo
    #[serde(rename = "ppp")]
    Ppp,
    /// pianissimo
    #[serde(rename = "pp")]
    Pp,
    /// piano
    #[serde(rename = "p")]
    P,
    /// mezzo-piano
    #[serde(rename = "mp")]
    Mp,
    /// mezzo-forte (the level of an unmarked score)
    #[serde(rename = "mf")]
    Mf,
    /// forte
    #[serde(rename = "f")]
    F,
    /// fortissimo
    #[serde(rename = "ff")]
    Ff,
    /// fortississimo
    #[serde(rename = "fff")]
    Fff,
}

impl DynamicLevel {
    /// The ladder, softest first.
    pub const LADDER: [DynamicLevel; 8] = [
        DynamicLevel::Ppp,
        DynamicLevel::Pp,
        DynamicLevel::P,
        DynamicLevel::Mp,
        DynamicLevel::Mf,
        DynamicLevel::F,
        DynamicLevel::Ff,
        DynamicLevel::Fff,
    ];

    /// The mark as MusicXML writes it ("mp").
    pub fn mark(self) -> &'static str {
        match self {
            DynamicLevel::Ppp => "ppp",
            DynamicLevel::Pp => "pp",
            DynamicLevel::P => "p",
            DynamicLevel::Mp => "mp",
            DynamicLevel::Mf => "mf",
            DynamicLevel::F => "f",
            DynamicLevel::Ff => "ff",
            DynamicLevel::Fff => "fff",
        }
    }

    /// The level a mark names, when it is on the ladder ("sfz" is not).
    pub fn from_mark(mark: &str) -> Option<DynamicLevel> {
        DynamicLevel::LADDER.into_iter().find(|l| l.mark() == mark)
    }

    /// The level `by` steps louder (negative: softer), clamped to ppp..=fff.
    pub fn step(self, by: i32) -> DynamicLevel {
        let i = DynamicLevel::LADDER
            .iter()
            .position(|l| *l == self)
            .unwrap_or(4);
        let j = (i as i64 + i64::from(by)).clamp(0, 7);
        DynamicLevel::LADDER[usize::try_from(j).unwrap_or(4)]
    }

    /// The MIDI velocity the MIDI writer gives the mark (see [`crate::midi`]).
    pub fn velocity(self) -> u8 {
        crate::midi::mark_velocity(self.mark()).unwrap_or(80)
    }

    /// The `sound dynamics` percentage that plays at [`Self::velocity`]: velocity × 100 / 90
    /// to two decimals (mf 88.89, as MuseScore writes it), a finite decimal so
    /// MusicXML holds it exactly; × 90 / 100 rounds back to the velocity.
    pub fn sound_dynamics(self) -> Rational {
        // round(v × 10000 / 90) / 100, half up.
        let hundredths = (i64::from(self.velocity()) * 10_000 * 2 + 90) / (2 * 90);
        Rational::new(hundredths, 100).unwrap_or(Rational::ZERO)
    }

    /// The nearest level to a MIDI velocity (the softer on a tie).
    pub fn from_velocity(velocity: u8) -> DynamicLevel {
        DynamicLevel::from_mark(crate::midi::velocity_mark(velocity)).unwrap_or(DynamicLevel::Mf)
    }
}

/// A 1-based, inclusive range of positions: `{"from": 2, "to": 5}`.
///
/// Measure ranges count measures by position in the part (the first measure,
/// a pickup included, is 1), not by their written numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// The first position (1-based).
    pub from: u32,
    /// The last position, inclusive (at least `from`).
    pub to: u32,
}

impl Span {
    /// Checks 1 <= from <= to, naming the field (`from` or `to`) on error.
    pub(crate) fn check(self) -> Result<(), (String, String)> {
        if self.from < 1 {
            return Err(("from".into(), "positions start at 1".into()));
        }
        if self.to < self.from {
            return Err((
                "to".into(),
                format!("to ({}) is before from ({})", self.to, self.from),
            ));
        }
        Ok(())
    }
}

/// One note of `replace_notes`: `{"pitch": "C#4", "duration": "1/2"}`, a rest with `"pitch": null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteSpec {
    /// The written pitch; null or absent for a rest.
    #[serde(default)]
    pub pitch: Option<PitchName>,
    /// The length in quarter lengths (`1` a quarter, `"1/2"` an eighth, `"1/3"` a triplet eighth).
    pub duration: Fraction,
    /// Whether it is tied to the next note (which should have the same pitch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tie: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_print() {
        let iv = |s: &str| s.parse::<Interval>().unwrap();
        assert_eq!(
            iv("M2"),
            Interval {
                steps: 1,
                semitones: 2
            }
        );
        assert_eq!(
            iv("-m3"),
            Interval {
                steps: -2,
                semitones: -3
            }
        );
        assert_eq!(
            iv("A4"),
            Interval {
                steps: 3,
                semitones: 6
            }
        );
        assert_eq!(
            iv("d5"),
            Interval {
                steps: 4,
                semitones: 6
            }
        );
        assert_eq!(
            iv("P8"),
            Interval {
                steps: 7,
                semitones: 12
            }
        );
        assert_eq!(
            iv("M9"),
            Interval {
                steps: 8,
                semitones: 14
            }
        );
        assert_eq!(
            iv("d7"),
            Interval {
                steps: 6,
                semitones: 9
            }
        );
        assert_eq!(
            iv("AA1"),
            Interval {
                steps: 0,
                semitones: 2
            }
        );
        assert_eq!(iv("M2").fifths(), 2);
        assert_eq!(iv("P5").fifths(), 1);
        assert_eq!(iv("m3").fifths(), -3);
        for s in [
            "M2", "-m3", "P5", "A4", "d5", "P1", "-P8", "M10", "dd7", "-A1",
        ] {
            assert_eq!(iv(s).to_string(), s);
        }
        assert_eq!(iv("d1").to_string(), "-A1");
        assert_eq!(iv("-A1"), iv("d1"));
        for bad in [
            "", "M", "2", "P2", "M5", "m4", "X3", "M0", "AAAA4", "M100", "mM3",
        ] {
            assert!(bad.parse::<Interval>().is_err(), "{bad}");
        }
        for f in -20i32..=20 {
            for s in -14..=14 {
                if (f - 7 * s).rem_euclid(12) == 0 {
                    assert_eq!(Interval::from_fifths(f, s).fifths(), f);
                }
            }
        }
    }

    #[test]
    fn pitch_names_and_fractions() {
        let p = |s: &str| s.parse::<PitchName>().map(|p| p.0);
        assert_eq!(
            p("C#4"),
            Ok(Pitch {
                step: Step::C,
                alter: 1,
                octave: 4
            })
        );
        assert_eq!(p("bb3").map(|p| p.midi()), Ok(58));
        assert_eq!(p("Fx5").map(|p| pitch_text(&p)), Ok("F##5".to_owned()));
        for bad in ["H4", "C", "C#", "C10", "C###4", "G#9", "c-1", "Cb"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        let f = |v: serde_json::Value| serde_json::from_value::<Fraction>(v).map(|f| f.0);
        let r = |n, d| Rational::new(n, d).unwrap();
        assert_eq!(f(serde_json::json!(0.1)).unwrap(), r(1, 10));
        assert_eq!(f(serde_json::json!("1/3")).unwrap(), r(1, 3));
        assert_eq!(f(serde_json::json!("2.5")).unwrap(), r(5, 2));
        assert_eq!(f(serde_json::json!(120)).unwrap(), r(120, 1));
        assert!(f(serde_json::json!("x")).is_err());
        assert!(f(serde_json::json!(true)).is_err());
        assert_eq!(
            serde_json::to_value(Fraction(r(3, 2))).unwrap(),
            serde_json::json!("3/2")
        );
        assert_eq!(
            serde_json::to_value(Fraction(r(3, 1))).unwrap(),
            serde_json::json!(3)
        );
    }

    #[test]
    fn ladder_matches_the_midi_table() {
        let velocities: Vec<u8> = DynamicLevel::LADDER.iter().map(|l| l.velocity()).collect();
        assert_eq!(velocities, [16, 33, 49, 64, 80, 96, 112, 127]);
        assert_eq!(
            DynamicLevel::Mf.sound_dynamics(),
            Rational::new(8889, 100).unwrap()
        );
        assert_eq!(
            DynamicLevel::Fff.sound_dynamics(),
            Rational::new(14111, 100).unwrap()
        );
        for l in DynamicLevel::LADDER {
            assert_eq!(DynamicLevel::from_velocity(l.velocity()), l);
            // The MIDI writer's rounding of sound dynamics gives the velocity back.
            let v = l
                .sound_dynamics()
                .checked_mul(Rational::new(9, 10).unwrap())
                .unwrap();
            let back = (2 * v.num() + v.den()) / (2 * v.den());
            assert_eq!(back, i64::from(l.velocity()), "{l:?}");
            assert_eq!(DynamicLevel::from_mark(l.mark()), Some(l));
        }
        assert_eq!(DynamicLevel::Ff.step(-1), DynamicLevel::F);
        assert_eq!(DynamicLevel::Pp.step(-5), DynamicLevel::Ppp);
        assert_eq!(DynamicLevel::Mf.step(9), DynamicLevel::Fff);
    }
}
