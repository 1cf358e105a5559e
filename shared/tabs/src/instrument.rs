//! Fretted instruments: open strings, frets and a capo.

use serde::{Deserialize, Serialize};

use crate::TabError;

/// A fretted instrument as tuned and capoed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// Each open string's MIDI key without the capo, string 1 (the highest-pitched) first,
    /// as MusicXML numbers them.
    pub strings: Vec<u8>,
    /// Frets on the neck (a fret number above this cannot be played).
    pub frets: u8,
    /// The capo's fret (0: none); fret numbers in the tab count from it.
    pub capo: u8,
}

/// The named tunings, low string first as players write them.
pub const TUNINGS: &[(&str, &[&str])] = &[
    ("standard", &["E2", "A2", "D3", "G3", "B3", "E4"]),
    ("drop-d", &["D2", "A2", "D3", "G3", "B3", "E4"]),
    ("dadgad", &["D2", "A2", "D3", "G3", "A3", "D4"]),
    ("open-g", &["D2", "G2", "D3", "G3", "B3", "D4"]),
    ("open-d", &["D2", "A2", "D3", "F#3", "A3", "D4"]),
    ("seven-string", &["B1", "E2", "A2", "D3", "G3", "B3", "E4"]),
    ("bass", &["E1", "A1", "D2", "G2"]),
    ("bass-five", &["B0", "E1", "A1", "D2", "G2"]),
];

impl Instrument {
    /// A six-string guitar in standard tuning, 22 frets, no capo.
    pub fn guitar() -> Instrument {
        Instrument::new("standard", None, 22, 0).unwrap_or(Instrument {
            strings: vec![64, 59, 55, 50, 45, 40],
            frets: 22,
            capo: 0,
        })
    }

    /// An instrument from a tuning (a name in [`TUNINGS`], or pitches low to high:
    /// `"E2,A2,D3,G3,B3,E4"`), an optional string count (the named tuning's by default;
    /// 4 with "standard" is a bass, 7 the seven-string), frets and a capo.
    pub fn new(
        tuning: &str,
        strings: Option<usize>,
        frets: u8,
        capo: u8,
    ) -> Result<Instrument, TabError> {
        let name = tuning.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        let named = match (name.as_str(), strings) {
            ("standard" | "", Some(4)) => Some("bass"),
            ("standard" | "", Some(5)) => Some("bass-five"),
            ("standard" | "", Some(7)) => Some("seven-string"),
            ("", _) => Some("standard"),
            (n, _) => TUNINGS.iter().find(|(t, _)| *t == n).map(|(t, _)| *t),
        };
        let low_to_high: Vec<u8> = match named {
            Some(n) => TUNINGS
                .iter()
                .find(|(t, _)| *t == n)
                .map(|(_, p)| p.iter().map(|p| parse_pitch(p)).collect::<Result<_, _>>())
                .unwrap_or_else(|| Ok(vec![]))?,
            None => {
                let parts: Vec<&str> = tuning
                    .split([',', ' ', ';'])
                    .filter(|s| !s.trim().is_empty())
                    .collect();
                if parts.len() < 2 {
                    return Err(TabError::Tuning(format!(
                        "'{tuning}' is not a tuning: name one of {} or list the open strings low to high (E2,A2,D3,G3,B3,E4)",
                        TUNINGS.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
                    )));
                }
                parts
                    .iter()
                    .map(|p| parse_pitch(p.trim()))
                    .collect::<Result<_, _>>()?
            }
        };
        if let Some(n) = strings {
            if n != low_to_high.len() {
                return Err(TabError::Tuning(format!(
                    "the tuning '{tuning}' has {} strings, not {n}",
                    low_to_high.len()
                )));
            }
        }
        if low_to_high.len() > 12 {
            return Err(TabError::Tuning(format!(
                "{} strings: at most 12",
                low_to_high.len()
            )));
        }
        if !(1..=36).contains(&frets) {
            return Err(TabError::Tuning(format!("{frets} frets: 1 to 36")));
        }
        if capo >= frets {
            return Err(TabError::Tuning(format!(
                "a capo at fret {capo} leaves no frets of {frets}"
            )));
        }
        let mut strings = low_to_high;
        strings.reverse();
        Ok(Instrument {
            strings,
            frets,
            capo,
        })
    }

    /// The MIDI key string `s` (0-based, 0 = string 1) sounds at tab fret `fret` (0 = open or
    /// the capo).
    pub fn sounding(&self, s: usize, fret: u8) -> u8 {
        self.strings[s] + self.capo + fret
    }

    /// The highest tab fret (the neck's last fret less the capo).
    pub fn top_fret(&self) -> u8 {
        self.frets - self.capo
    }

    /// The lowest and highest keys it can sound.
    pub fn range(&self) -> (u8, u8) {
        let low = self.strings.iter().min().copied().unwrap_or(0) + self.capo;
        let high = self.strings.iter().max().copied().unwrap_or(0) + self.frets;
        (low, high)
    }

    /// The tuning as pitches, low to high ("E2 A2 D3 G3 B3 E4").
    pub fn tuning_names(&self) -> Vec<String> {
        self.strings.iter().rev().map(|k| pitch_name(*k)).collect()
    }
}

const NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

/// "E2" for MIDI key 40.
pub fn pitch_name(key: u8) -> String {
    format!(
        "{}{}",
        NAMES[usize::from(key % 12)],
        i32::from(key) / 12 - 1
    )
}

/// MIDI key of "E2", "F#3", "Bb1".
fn parse_pitch(text: &str) -> Result<u8, TabError> {
    let bad = || {
        TabError::Tuning(format!(
            "'{text}' is not a pitch: a letter, an optional # or b, an octave (E2, F#3, Bb1)"
        ))
    };
    let mut chars = text.chars().peekable();
    let base: i32 = match chars.next().map(|c| c.to_ascii_uppercase()) {
        Some('C') => 0,
        Some('D') => 2,
        Some('E') => 4,
        Some('F') => 5,
        Some('G') => 7,
        Some('A') => 9,
        Some('B') => 11,
        _ => return Err(bad()),
    };
    let mut alter = 0;
    while let Some(&c) = chars.peek() {
        match c {
            '#' => alter += 1,
            'b' => alter -= 1,
            _ => break,
        }
        chars.next();
    }
    let octave: i32 = chars.collect::<String>().parse().map_err(|_| bad())?;
    let key = (octave + 1) * 12 + base + alter;
    u8::try_from(key).ok().filter(|k| *k <= 127).ok_or_else(bad)
}
