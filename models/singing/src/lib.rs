//! Singing synthesis on the plans `coda-vocal` makes:
//!
//! - [`formant`]: the built-in voice, a Klatt-style cascade/parallel formant
//!   synthesizer driven by an LF-model glottal source; it needs no weights;
//! - [`diffsinger`]: DiffSinger voicebanks in the layout OpenUtau loads
//!   (`dsconfig.yaml`, phoneme list, optional predictors, acoustic model and vocoder on ONNX Runtime).

#![warn(missing_docs)]

pub mod diffsinger;
pub mod formant;
pub mod sing;
