//! Coda's model service: installs the model files from PyPI wheels, loads ONNX
//! Runtime once per process, runs Spotify's Basic Pitch transcription, and
//! separates stems (a built-in DSP separator, and HT-Demucs through ONNX).

#![warn(missing_docs)]

pub mod basic_pitch;
pub mod error;
pub mod install;
mod onnx_proto;
pub mod runtime;
pub mod separate;

pub use basic_pitch::{
    notes_to_midi, to_model_input, transcribe, NoteEvent, Posteriorgrams, TranscribeParams,
    Transcription,
};
pub use error::ModelError;
pub use install::{default_models_dir, install, locate, user_models_dir, Installed};
pub use runtime::{BasicPitchModel, GraphForm, RuntimeOptions};
