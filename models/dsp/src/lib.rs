//! Coda's audio core for the models, in pure Rust (no ONNX Runtime): one
//! audio buffer type carrying its rate and channel layout, the one resampler,
//! the STFT, and the helpers that spread work over threads.

#![warn(missing_docs)]

pub mod buffer;
pub mod error;
pub mod parallel;
pub mod resample;
pub mod stft;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use buffer::{check_layout, AudioBuffer, MAX_RATE, MIN_RATE};
pub use error::DspError;
pub use parallel::threads;
pub use resample::{resample, Input, Resampler};
pub use stft::{Spectrogram, Stft};
