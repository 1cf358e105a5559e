//! The `phonemize` tool: lyrics to phonemes, phoneme ids and word boundaries.
//!
//! Each lyric string may hold several words separated by white space; each word
//! is pronounced with [`g2p::pronounce`]. Ids come from the voicebank's phoneme
//! list when one is given, else they are indexes in [`phones::ARPABET`].
//!
//! With a voicebank phoneme list and a language, phonemes are resolved as
//! OpenUtau does for multi-language DiffSinger voicebanks whose lists hold
//! `en/aa`-style names: a built-in G2P phoneme tries `{language}/{phone}` first
//! (OpenUtau's default `replacements` when `use_lang_id` is on), then the bare
//! phone; a voicebank dictionary's phoneme tries itself first, then
//! `{language}/{phone}` (OpenUtau's `ValidatePhoneme`). The resolved names are
//! what the response lists.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::dsdict::DsDict;
use crate::g2p::{self, Dictionary, Source};
use crate::phones;

/// The most words one call may phonemize.
pub const MAX_WORDS: usize = 10_000;

/// The most bytes of lyrics one call may hold (1 MiB).
pub const MAX_LYRICS_BYTES: usize = 1024 * 1024;

fn default_voicebank() -> String {
    "builtin".to_string()
}

/// A `phonemize` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhonemizeRequest {
    /// Lyric strings; each may hold several words separated by spaces.
    pub lyrics: Vec<String>,
    /// The voicebank whose dictionary and phoneme list to use (`builtin`: CMU dictionary and ARPAbet ids).
    #[serde(default = "default_voicebank")]
    pub voicebank: String,
    /// The language code for multi-language voicebanks (`en`), used as the phoneme prefix `en/`.
    #[serde(default)]
    pub language: Option<String>,
}

/// One word's phonemes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WordPhonemes {
    /// The word as it appeared in the lyrics.
    pub word: String,
    /// Its phonemes (as in the response's `phonemes`).
    pub phonemes: Vec<String>,
    /// Where they came from.
    pub source: Source,
}

/// A `phonemize` response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PhonemizeResponse {
    /// Every word's phonemes, one after another.
    pub phonemes: Vec<String>,
    /// Each phoneme's id in the voicebank's phoneme list (or its index in the ARPAbet inventory).
    pub phoneme_ids: Vec<i64>,
    /// `word_boundaries[i]` is the index in `phonemes` where word `i` starts.
    pub word_boundaries: Vec<usize>,
    /// Each word with its phonemes and their source.
    pub words: Vec<WordPhonemes>,
    /// Words that needed the letter-to-sound rules, and similar notes.
    pub warnings: Vec<String>,
}

/// A `phonemize` call could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhonemizeError {
    /// More than [`MAX_WORDS`] words.
    #[error("{count} words is more than the {limit} one call may phonemize")]
    TooManyWords {
        /// How many words the lyrics hold (counting stops just past the limit).
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// More than [`MAX_LYRICS_BYTES`] bytes of lyrics.
    #[error("{size} bytes of lyrics is more than the {limit} one call may hold")]
    TooLong {
        /// The lyrics' size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A phoneme has no id in the phoneme list.
    #[error("phoneme '{phoneme}' (in '{word}') is not in the voicebank's phoneme list")]
    UnknownPhoneme {
        /// The phoneme.
        phoneme: String,
        /// The word it came from.
        word: String,
    },
}

/// What to pronounce with and number phonemes by.
#[derive(Clone, Copy, Debug)]
pub struct Lexicon<'a> {
    /// The CMU Pronouncing Dictionary.
    pub dictionary: &'a Dictionary,
    /// The voicebank's dictionary, which takes precedence.
    pub voicebank: Option<&'a DsDict>,
    /// The voicebank's phoneme list (name → id); without it ids are ARPAbet indexes.
    pub phoneme_ids: Option<&'a HashMap<String, i64>>,
    /// The language code (`en`), for `en/aa`-style phoneme names.
    pub language: Option<&'a str>,
}

/// The name and id of `phone` (from `source`) in the lexicon's phoneme list.
fn resolve(phone: &str, source: Source, lexicon: &Lexicon) -> Option<(String, i64)> {
    let prefixed = lexicon
        .language
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}/{phone}"));
    let mut candidates: Vec<&str> = Vec::with_capacity(2);
    match (&prefixed, source) {
        (Some(p), Source::VoicebankDictionary) => candidates.extend([phone, p.as_str()]),
        (Some(p), _) => candidates.extend([p.as_str(), phone]),
        (None, _) => candidates.push(phone),
    }
    match lexicon.phoneme_ids {
        Some(ids) => candidates
            .into_iter()
            .find_map(|c| ids.get(c).map(|&id| (c.to_string(), id))),
        None => {
            // ARPAbet indexes; a language prefix is dropped.
            let bare = lexicon
                .language
                .and_then(|l| {
                    phone
                        .strip_prefix(l)
                        .and_then(|rest| rest.strip_prefix('/'))
                })
                .unwrap_or(phone);
            let id = phones::phone_id(bare)?;
            let id = i64::try_from(id).ok()?;
            Some((phones::ARPABET[id as usize].to_string(), id))
        }
    }
}

/// Phonemizes `lyrics`: every white-space-separated word through [`g2p::pronounce`].
pub fn phonemize(
    lyrics: &[String],
    lexicon: &Lexicon,
) -> Result<PhonemizeResponse, PhonemizeError> {
    let size: usize = lyrics.iter().map(String::len).sum();
    if size > MAX_LYRICS_BYTES {
        return Err(PhonemizeError::TooLong {
            size,
            limit: MAX_LYRICS_BYTES,
        });
    }
    let count = lyrics
        .iter()
        .flat_map(|l| l.split_whitespace())
        .take(MAX_WORDS + 1)
        .count();
    if count > MAX_WORDS {
        return Err(PhonemizeError::TooManyWords {
            count,
            limit: MAX_WORDS,
        });
    }
    let mut response = PhonemizeResponse {
        phonemes: Vec::new(),
        phoneme_ids: Vec::new(),
        word_boundaries: Vec::with_capacity(count),
        words: Vec::with_capacity(count),
        warnings: Vec::new(),
    };
    for word in lyrics.iter().flat_map(|l| l.split_whitespace()) {
        let p = g2p::pronounce(word, lexicon.dictionary, lexicon.voicebank);
        match p.source {
            Source::LetterToSound => response.warnings.push(format!(
                "'{word}' is not in the dictionary; letter-to-sound rules used"
            )),
            Source::Default if !g2p::normalize_word(word).is_empty() => response
                .warnings
                .push(format!("'{word}' has nothing to pronounce; 'ah' used")),
            _ => {}
        }
        let mut names = Vec::with_capacity(p.phonemes.len());
        response.word_boundaries.push(response.phonemes.len());
        for phone in &p.phonemes {
            let (name, id) = resolve(phone, p.source, lexicon).ok_or_else(|| {
                PhonemizeError::UnknownPhoneme {
                    phoneme: phone.clone(),
                    word: word.to_string(),
                }
            })?;
            response.phoneme_ids.push(id);
            response.phonemes.push(name.clone());
            names.push(name);
        }
        response.words.push(WordPhonemes {
            word: word.to_string(),
            phonemes: names,
            source: p.source,
        });
    }
    Ok(response)
}

/// The JSON Schemas of the tool: `{"request": ..., "response": ...}`.
pub fn phonemize_json_schema() -> serde_json::Value {
    serde_json::json!({
        "request": schemars::schema_for!(PhonemizeRequest),
        "response": schemars::schema_for!(PhonemizeResponse),
    })
}
