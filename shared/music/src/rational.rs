//! Exact rational numbers for musical time (quarter lengths).
//!
//! Floating point cannot hold a triplet eighth (1/3 of a quarter) exactly, and
//! summing many of them drifts; a score model that writers and MIDI export rely
//! on must add durations without error. Every value is kept normalised
//! (denominator > 0, numerator and denominator coprime) so that derived
//! equality and hashing are value equality. All arithmetic is checked:
//! intermediate products are computed in `i128` and an operation whose
//! normalised result does not fit `i64` returns `None` instead of panicking.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a rational could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RationalError {
    /// The denominator was zero.
    #[error("zero denominator")]
    ZeroDenominator,
    /// The normalised value does not fit in i64 numerator/denominator.
    #[error("rational overflow")]
    Overflow,
    /// The text was not `n`, `n/d` (or, for decimals, `[-]digits[.digits]`).
    #[error("not a rational number")]
    Syntax,
}

/// An exact fraction `num/den`, always normalised (den > 0, gcd(num, den) = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i64,
    den: i64,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Rational {
    /// Zero.
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    /// One (a quarter note, in quarter lengths).
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// Builds `num/den`, normalising; fails on a zero denominator.
    pub fn new(num: i64, den: i64) -> Result<Rational, RationalError> {
        Self::from_i128(i128::from(num), i128::from(den))
    }

    /// Normalises a wide fraction and narrows it to i64, the one place values are made.
    fn from_i128(num: i128, den: i128) -> Result<Rational, RationalError> {
        if den == 0 {
            return Err(RationalError::ZeroDenominator);
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs());
        // g >= 1 because den != 0; both quotients fit i128 since |x| / g <= |x|,
        // except i128::MIN / 1, which cannot arise from i64 operands below.
        let g = i128::try_from(g).map_err(|_| RationalError::Overflow)?;
        let (mut n, mut d) = (num / g, den / g);
        if d < 0 {
            n = n.checked_neg().ok_or(RationalError::Overflow)?;
            d = d.checked_neg().ok_or(RationalError::Overflow)?;
        }
        Ok(Rational {
            num: i64::try_from(n).map_err(|_| RationalError::Overflow)?,
            den: i64::try_from(d).map_err(|_| RationalError::Overflow)?,
        })
    }

    /// The integer `n` as `n/1`.
    pub const fn from_int(n: i64) -> Rational {
        Rational { num: n, den: 1 }
    }

    /// The numerator (carries the sign).
    pub const fn num(self) -> i64 {
        self.num
    }

    /// The denominator (always positive).
    pub const fn den(self) -> i64 {
        self.den
    }

    /// Whether the value is zero.
    pub const fn is_zero(self) -> bool {
        self.num == 0
    }

    /// Whether the value is below zero.
    pub const fn is_negative(self) -> bool {
        self.num < 0
    }

    /// The nearest f64 (for display and audio; never for score arithmetic).
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// `self + rhs`, or `None` on overflow.
    pub fn checked_add(self, rhs: Rational) -> Option<Rational> {
        let n =
            i128::from(self.num) * i128::from(rhs.den) + i128::from(rhs.num) * i128::from(self.den);
        Self::from_i128(n, i128::from(self.den) * i128::from(rhs.den)).ok()
    }

    /// `self - rhs`, or `None` on overflow.
    pub fn checked_sub(self, rhs: Rational) -> Option<Rational> {
        let n =
            i128::from(self.num) * i128::from(rhs.den) - i128::from(rhs.num) * i128::from(self.den);
        Self::from_i128(n, i128::from(self.den) * i128::from(rhs.den)).ok()
    }

    /// `self * rhs`, or `None` on overflow.
    pub fn checked_mul(self, rhs: Rational) -> Option<Rational> {
        Self::from_i128(
            i128::from(self.num) * i128::from(rhs.num),
            i128::from(self.den) * i128::from(rhs.den),
        )
        .ok()
    }

    /// `self / rhs`, or `None` on division by zero or overflow.
    pub fn checked_div(self, rhs: Rational) -> Option<Rational> {
        Self::from_i128(
            i128::from(self.num) * i128::from(rhs.den),
            i128::from(self.den) * i128::from(rhs.num),
        )
        .ok()
    }

    /// Parses an XML-Schema decimal (`-1.25`, `+3`, `.5`, `480.0`) exactly.
    ///
    /// MusicXML durations, divisions, tempi and alters are `xs:decimal`, so
    /// a file may write `240.0` or `0.5`; parsing them as f64 would lose
    /// exactness the model promises.
    pub fn parse_decimal(text: &str) -> Result<Rational, RationalError> {
        let t = text.trim();
        let (negative, body) = match t.as_bytes().first() {
            Some(b'-') => (true, t.get(1..).unwrap_or("")),
            Some(b'+') => (false, t.get(1..).unwrap_or("")),
            _ => (false, t),
        };
        let (int_part, frac_part) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return Err(RationalError::Syntax);
        }
        let mut num: i128 = 0;
        let mut den: i128 = 1;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            num = num
                .checked_mul(10)
                .and_then(|n| n.checked_add(i128::from(b - b'0')))
                .ok_or(RationalError::Overflow)?;
        }
        for _ in 0..frac_part.len() {
            den = den.checked_mul(10).ok_or(RationalError::Overflow)?;
        }
        if negative {
            num = -num;
        }
        Self::from_i128(num, den)
    }
}

impl Default for Rational {
    fn default() -> Self {
        Rational::ZERO
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        // Denominators are positive, so cross-multiplying keeps the order; i128 cannot overflow.
        (i128::from(self.num) * i128::from(other.den))
            .cmp(&(i128::from(other.num) * i128::from(self.den)))
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl FromStr for Rational {
    type Err = RationalError;

    /// Parses `n` or `n/d` (optional leading `-` on `n`; digits only otherwise).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let (n, d) = match s.split_once('/') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        let unsigned = n.strip_prefix('-').unwrap_or(n);
        if !digits(unsigned) || d.is_some_and(|d| !digits(d)) {
            return Err(RationalError::Syntax);
        }
        let num: i64 = n.parse().map_err(|_| RationalError::Overflow)?;
        let den: i64 = match d {
            Some(d) => d.parse().map_err(|_| RationalError::Overflow)?,
            None => 1,
        };
        Rational::new(num, den)
    }
}

impl Serialize for Rational {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rational {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("invalid rational {text:?}: {e}")))
    }
}

impl JsonSchema for Rational {
    fn schema_name() -> Cow<'static, str> {
        "Rational".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^-?[0-9]+(/[0-9]+)?$",
            "description": "An exact fraction \"num/den\" (or \"num\" when den is 1), e.g. \"3/2\" quarter lengths."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn normalises_sign_and_gcd() {
        assert_eq!(r(6, -4), r(-3, 2));
        assert_eq!((r(6, -4).num(), r(6, -4).den()), (-3, 2));
        assert_eq!(r(0, -5), Rational::ZERO);
        assert_eq!(Rational::new(1, 0), Err(RationalError::ZeroDenominator));
        // -i64::MIN does not fit: refused, not a panic.
        assert_eq!(Rational::new(i64::MIN, -1), Err(RationalError::Overflow));
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(r(1, 3).checked_add(r(1, 6)), Some(r(1, 2)));
        assert_eq!(r(1, 3).checked_sub(r(1, 2)), Some(r(-1, 6)));
        assert_eq!(r(2, 3).checked_mul(r(3, 4)), Some(r(1, 2)));
        assert_eq!(r(2, 3).checked_div(r(4, 3)), Some(r(1, 2)));
        assert_eq!(r(2, 3).checked_div(Rational::ZERO), None);
        assert_eq!(
            Rational::from_int(i64::MAX).checked_add(Rational::ONE),
            None
        );
        assert_eq!(r(1, i64::MAX).checked_mul(r(1, 2)), None);
        // Three triplet eighths make exactly one quarter.
        let t = r(1, 3);
        assert_eq!(
            t.checked_add(t).and_then(|x| x.checked_add(t)),
            Some(Rational::ONE)
        );
    }

    #[test]
    fn ordering_and_float() {
        assert!(r(1, 3) < r(1, 2));
        assert!(r(-1, 2) < Rational::ZERO);
        assert!(Rational::from_int(i64::MAX) > r(i64::MAX - 1, 1));
        assert_eq!(r(3, 2).to_f64(), 1.5);
    }

    #[test]
    fn text_round_trip() {
        assert_eq!(r(3, 2).to_string(), "3/2");
        assert_eq!(r(4, 2).to_string(), "2");
        assert_eq!(r(-1, 3).to_string(), "-1/3");
        assert_eq!("6/4".parse::<Rational>(), Ok(r(3, 2)));
        assert_eq!("-7".parse::<Rational>(), Ok(r(-7, 1)));
        for bad in [
            "",
            "1/",
            "/2",
            "1.5",
            "+1",
            "1/-2",
            "a",
            "1/0",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<Rational>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&r(3, 2)).unwrap();
        assert_eq!(json, "\"3/2\"");
        assert_eq!(serde_json::from_str::<Rational>(&json).unwrap(), r(3, 2));
        assert!(serde_json::from_str::<Rational>("1.5").is_err());
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(Rational::parse_decimal("480.0"), Ok(r(480, 1)));
        assert_eq!(Rational::parse_decimal(" -1.25 "), Ok(r(-5, 4)));
        assert_eq!(Rational::parse_decimal(".5"), Ok(r(1, 2)));
        assert_eq!(Rational::parse_decimal("+3."), Ok(r(3, 1)));
        for bad in ["", ".", "-", "1e3", "1.2.3", "x"] {
            assert_eq!(
                Rational::parse_decimal(bad),
                Err(RationalError::Syntax),
                "{bad}"
            );
        }
        assert_eq!(
            Rational::parse_decimal("1234567890123456789012345678901234567890"),
            Err(RationalError::Overflow)
        );
    }
}
