//! DiffSinger voicebank dictionaries: `dsdict.yaml`, or a language's
//! `dsdict-<lang>.yaml` (English: `dsdict-en.yaml`), read first when present.
//!
//! This follows OpenUtau (`OpenUtau.Core/Api/G2pDictionary.cs`,
//! `G2pDictionaryData.cs` and `DiffSinger/Phonemizers/DiffSingerG2pPhonemizer.cs`,
//! `DiffSingerBasePhonemizer.cs`):
//!
//! - keys: `symbols: [{symbol, type}]`, `entries: [{grapheme, phonemes: [...]}]`,
//!   `replacements: [{from, to}]`; other keys are ignored;
//! - a symbol is a vowel when its type is exactly `vowel`; every other type
//!   (stop, fricative, affricate, liquid, nasal, semivowel, aspirate, ...) is a
//!   consonant for placement; a later declaration of a symbol replaces an earlier one;
//! - `SP` and `AP` are always valid symbols and count as vowels (OpenUtau adds them
//!   after loading), whatever the file says;
//! - an entry's phonemes that are not declared symbols are dropped; a later entry
//!   for the same grapheme replaces an earlier one;
//! - a grapheme is looked up as given, then lowercased (OpenUtau's
//!   `Query(lyric) ?? Query(lyric.ToLowerInvariant())`);
//! - `replacements` map the built-in G2P's phonemes to the voicebank's (OpenUtau's
//!   `G2pRemapper`), for words the voicebank's entries lack.
//!
//! Differences: a missing `symbols` key is an error here (OpenUtau logs and
//! carries on with nothing); `SP`/`AP` in entries are kept even when undeclared;
//! an entry none of whose phonemes is declared is ignored, so the word falls back
//! to the built-in G2P instead of becoming a pause; graphemes that differ from the
//! looked-up word only in case also match (a lowercase copy of each grapheme is kept).
//! The YAML may be untrusted: input above [`MAX_DSDICT_BYTES`] is refused, and
//! the parser (serde-saphyr) does not panic and caps alias expansion.

use std::collections::HashMap;

use serde::Deserialize;

use crate::phones::{self, PhoneClass};

/// The largest `dsdict.yaml` accepted, in bytes (16 MiB).
pub const MAX_DSDICT_BYTES: usize = 16 * 1024 * 1024;

/// A voicebank dictionary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DsDictError {
    /// The text is larger than [`MAX_DSDICT_BYTES`].
    #[error("dsdict is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The text is not YAML of the dsdict shape.
    #[error("dsdict is not valid: {0}")]
    Yaml(String),
    /// The YAML has no `symbols` list.
    #[error("dsdict has no `symbols` list (each phoneme needs a `symbol` and a `type`)")]
    MissingSymbols,
}

#[derive(Deserialize)]
struct RawDict {
    symbols: Option<Vec<RawSymbol>>,
    #[serde(default)]
    entries: Option<Vec<RawEntry>>,
    #[serde(default)]
    replacements: Option<Vec<RawReplacement>>,
}

#[derive(Deserialize)]
struct RawSymbol {
    symbol: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct RawEntry {
    grapheme: String,
    #[serde(default)]
    phonemes: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawReplacement {
    from: String,
    to: String,
}

/// One declared phoneme symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsSymbol {
    /// The symbol as the voicebank names it (`aa`, `en/aa`, ...).
    pub symbol: String,
    /// Its declared type (`vowel`, `stop`, `semivowel`, ...), empty when none was given.
    pub kind: String,
}

/// A DiffSinger voicebank's dictionary (`dsdict.yaml`).
#[derive(Debug, Clone, Default)]
pub struct DsDict {
    symbols: Vec<DsSymbol>,
    by_symbol: HashMap<String, usize>,
    entries: HashMap<String, Vec<String>>,
    /// Lowercased grapheme → the grapheme as written (first one wins).
    folded: HashMap<String, String>,
    replacements: HashMap<String, String>,
}

/// The dictionary file names OpenUtau tries, in order, for `language`
/// (`["dsdict-en.yaml", "dsdict.yaml"]` for `en`); a language code that is not
/// 1–16 ASCII letters, digits, `-` or `_` is ignored.
pub fn dictionary_file_names(language: Option<&str>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(lang) = language {
        let ok = (1..=16).contains(&lang.len())
            && lang
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            names.push(format!("dsdict-{lang}.yaml"));
        }
    }
    names.push("dsdict.yaml".to_string());
    names
}

fn is_always_vowel(symbol: &str) -> bool {
    symbol == "SP" || symbol == "AP"
}

impl DsDict {
    /// Reads a `dsdict.yaml` (see the module doc for what is followed).
    pub fn parse(yaml: &str) -> Result<DsDict, DsDictError> {
        if yaml.len() > MAX_DSDICT_BYTES {
            return Err(DsDictError::TooLarge {
                size: yaml.len(),
                limit: MAX_DSDICT_BYTES,
            });
        }
        let raw: RawDict =
            serde_saphyr::from_str(yaml).map_err(|e| DsDictError::Yaml(e.to_string()))?;
        let raw_symbols = raw.symbols.ok_or(DsDictError::MissingSymbols)?;
        let mut dict = DsDict::default();
        for s in raw_symbols {
            let kind = s.kind.unwrap_or_default();
            match dict.by_symbol.get(&s.symbol) {
                Some(&i) => dict.symbols[i].kind = kind,
                None => {
                    dict.by_symbol.insert(s.symbol.clone(), dict.symbols.len());
                    dict.symbols.push(DsSymbol {
                        symbol: s.symbol,
                        kind,
                    });
                }
            }
        }
        for e in raw.entries.unwrap_or_default() {
            let phonemes: Vec<String> = e
                .phonemes
                .unwrap_or_default()
                .into_iter()
                .filter(|p| dict.by_symbol.contains_key(p) || is_always_vowel(p))
                .collect();
            if phonemes.is_empty() {
                continue;
            }
            dict.folded
                .entry(e.grapheme.to_lowercase())
                .or_insert_with(|| e.grapheme.clone());
            dict.entries.insert(e.grapheme, phonemes);
        }
        for r in raw.replacements.unwrap_or_default() {
            dict.replacements.insert(r.from, r.to);
        }
        Ok(dict)
    }

    /// The phonemes of `word`: looked up as given, then lowercased, then against
    /// lowercased graphemes.
    pub fn lookup(&self, word: &str) -> Option<&[String]> {
        if let Some(p) = self.entries.get(word) {
            return Some(p);
        }
        let lower = word.to_lowercase();
        if let Some(p) = self.entries.get(&lower) {
            return Some(p);
        }
        let written = self.folded.get(&lower)?;
        self.entries.get(written).map(Vec::as_slice)
    }

    /// The voicebank's phoneme for the built-in G2P's `phone` (`replacements`), if it names one.
    pub fn replacement(&self, phone: &str) -> Option<&str> {
        self.replacements.get(phone).map(String::as_str)
    }

    /// The declared type of `sym`, if it is declared.
    pub fn symbol_type(&self, sym: &str) -> Option<&str> {
        self.by_symbol
            .get(sym)
            .map(|&i| self.symbols[i].kind.as_str())
    }

    /// The class of `sym`: its declared type (vowel, stop, affricate, fricative,
    /// aspirate, nasal, liquid, semivowel → glide); `SP` silence and `AP` breath;
    /// for another type, the class of the ARPAbet phone it names (a `xx/` language
    /// prefix ignored); `None` for an undeclared symbol.
    pub fn symbol_class(&self, sym: &str) -> Option<PhoneClass> {
        if sym == "SP" {
            return Some(PhoneClass::Silence);
        }
        if sym == "AP" {
            return Some(PhoneClass::Breath);
        }
        let kind = self.symbol_type(sym)?;
        let class = match kind.to_ascii_lowercase().as_str() {
            "vowel" => PhoneClass::Vowel,
            "stop" | "plosive" => PhoneClass::Stop,
            "affricate" => PhoneClass::Affricate,
            "fricative" => PhoneClass::Fricative,
            "aspirate" => PhoneClass::Aspirate,
            "nasal" => PhoneClass::Nasal,
            "liquid" => PhoneClass::Liquid,
            "semivowel" | "glide" => PhoneClass::Glide,
            _ => {
                let bare = sym.rsplit('/').next().unwrap_or(sym);
                return phones::class_of(bare).filter(|c| *c != PhoneClass::Vowel);
            }
        };
        Some(class)
    }

    /// Whether `sym` is a vowel for placement: declared with type `vowel`, or `SP`/`AP`.
    pub fn is_vowel(&self, sym: &str) -> bool {
        is_always_vowel(sym) || self.symbol_type(sym) == Some("vowel")
    }

    /// Whether `sym` is a declared symbol (or `SP`/`AP`).
    pub fn is_symbol(&self, sym: &str) -> bool {
        is_always_vowel(sym) || self.by_symbol.contains_key(sym)
    }

    /// The declared symbols, in file order.
    pub fn symbols(&self) -> &[DsSymbol] {
        &self.symbols
    }

    /// How many graphemes the dictionary holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary holds no grapheme.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
