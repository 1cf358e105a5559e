//! Pure singing preparation, no I/O and no models:
//!
//! - [`phones`]: the ARPAbet inventory and each phone's class;
//! - [`g2p`]: English words to ARPAbet with the CMU Pronouncing Dictionary;
//! - [`lts`]: the letter-to-sound fallback for words the dictionary lacks;
//! - [`dsdict`]: DiffSinger voicebank dictionaries (`dsdict.yaml`), which take precedence;
//! - [`phonemize`]: the `phonemize` tool (lyrics → phonemes, ids, word boundaries);
//! - [`align`]: phonemes placed on a score's notes, as OpenUtau's DiffSinger phonemizers do;
//! - [`tools`]: the CPU tools of S0 (`parse_score`, `modify_score`, `align_phonemes_to_notes`) with JSON Schemas;
//! - [`curves`]: rule-based durations, f0, energy and breathiness at the DiffSinger frame rate.

#![warn(missing_docs)]

pub mod align;
pub mod curves;
pub mod dsdict;
pub mod g2p;
pub mod lts;
pub mod phonemize;
pub mod phones;
pub mod tools;
