//! The one error type of DiffSinger voicebanks.

use std::fmt;
use std::path::PathBuf;

use coda_model_runtime::ModelError;

use super::phrase::PhraseError;

/// The optional models a voicebank may hold beside its acoustic model and vocoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predictor {
    /// The phoneme duration predictor (`dsdur/`).
    Duration,
    /// The pitch predictor (`dspitch/`).
    Pitch,
    /// The variance predictor (`dsvariance/`: energy, breathiness, voicing, tension).
    Variance,
}

impl Predictor {
    /// The folder OpenUtau looks in first (`dsdur`, `dspitch`, `dsvariance`).
    pub fn folder(self) -> &'static str {
        match self {
            Predictor::Duration => "dsdur",
            Predictor::Pitch => "dspitch",
            Predictor::Variance => "dsvariance",
        }
    }

    /// The dsconfig.yaml key naming the predictor's model (`dur`, `pitch`, `variance`).
    pub fn key(self) -> &'static str {
        match self {
            Predictor::Duration => "dur",
            Predictor::Pitch => "pitch",
            Predictor::Variance => "variance",
        }
    }
}

impl fmt::Display for Predictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Predictor::Duration => "duration",
            Predictor::Pitch => "pitch",
            Predictor::Variance => "variance",
        };
        write!(f, "{what} predictor ({}/)", self.folder())
    }
}

/// Everything that can go wrong while reading, loading or running a voicebank.
#[derive(Debug, thiserror::Error)]
pub enum VoicebankError {
    /// File-system failure.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration or list file is larger than what is read.
    #[error("{path} is {size} bytes; at most {limit} bytes are read")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The folder has no `dsconfig.yaml`.
    #[error("no dsconfig.yaml in {dir}")]
    NoConfig {
        /// The voicebank folder.
        dir: PathBuf,
    },
    /// A YAML, JSON or text file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A configuration value is missing or unusable.
    #[error("{path}: `{key}` {message}")]
    BadValue {
        /// The configuration file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file a configuration names does not exist.
    #[error("{missing} is missing (named by `{key}` in {config})")]
    MissingFile {
        /// The file that was expected.
        missing: PathBuf,
        /// The configuration naming it.
        config: PathBuf,
        /// The key naming it.
        key: String,
    },
    /// No vocoder folder: neither `dsvocoder/vocoder.yaml` nor a folder named by `vocoder:`.
    #[error(
        "no vocoder for {dir}: dsvocoder/vocoder.yaml is missing{}; put the vocoder package (vocoder.yaml and its model) in dsvocoder/",
        match .name { Some(n) => format!(" and `vocoder: {n}` in dsconfig.yaml names no folder holding a vocoder.yaml"), None => String::new() }
    )]
    NoVocoder {
        /// The voicebank folder.
        dir: PathBuf,
        /// The `vocoder:` value of dsconfig.yaml, if any.
        name: Option<String>,
    },
    /// The acoustic model's mel settings differ from the vocoder's.
    #[error(
        "mel settings differ: {field} is {acoustic} in dsconfig.yaml (acoustic model) but {vocoder} in vocoder.yaml; the vocoder must be trained on the acoustic model's mel spectrograms"
    )]
    MelMismatch {
        /// The setting (`sample_rate`, `hop_size`, `num_mel_bins`, `win_size`, `fft_size`, `mel_fmin`, `mel_fmax`, `mel_scale`).
        field: &'static str,
        /// The acoustic model's value.
        acoustic: String,
        /// The vocoder's value.
        vocoder: String,
    },
    /// A model's inputs or outputs do not match what its configuration enables.
    #[error("{file}: {tensor}: {problem}")]
    Signature {
        /// The ONNX file.
        file: PathBuf,
        /// The input or output concerned.
        tensor: String,
        /// What does not match.
        problem: String,
    },
    /// ONNX Runtime could not be loaded or could not open a model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A model failed while running, or answered with an unusable output.
    #[error("{file}: {message}")]
    Run {
        /// The ONNX file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The voicebank has no such predictor.
    #[error("this voicebank has no {0}")]
    NoPredictor(Predictor),
    /// The phrase is inconsistent.
    #[error("invalid phrase: {0}")]
    Phrase(#[from] PhraseError),
    /// A phoneme is not in a model's phoneme list.
    #[error("phoneme {phoneme:?} is not in {list}")]
    UnknownPhoneme {
        /// The phoneme.
        phoneme: String,
        /// The phoneme list.
        list: PathBuf,
    },
    /// The requested speaker is not one of the voicebank's.
    #[error("speaker {speaker:?} is not one of this voicebank's speakers {known:?}")]
    UnknownSpeaker {
        /// The requested speaker.
        speaker: String,
        /// The voicebank's speakers.
        known: Vec<String>,
    },
    /// The acoustic model takes a curve the phrase lacks and no predictor makes.
    #[error(
        "the acoustic model takes `{curve}` but the phrase has no {curve} curve and the voicebank has no variance predictor that predicts it"
    )]
    MissingCurve {
        /// The curve (`energy`, `breathiness`, `voicing`, `tension`).
        curve: &'static str,
    },
}

impl VoicebankError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VoicebankError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad(path: impl Into<PathBuf>, key: &str, message: impl Into<String>) -> Self {
        VoicebankError::BadValue {
            path: path.into(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn signature(
        file: impl Into<PathBuf>,
        tensor: &str,
        problem: impl Into<String>,
    ) -> Self {
        VoicebankError::Signature {
            file: file.into(),
            tensor: tensor.to_string(),
            problem: problem.into(),
        }
    }

    pub(crate) fn run(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        VoicebankError::Run {
            file: file.into(),
            message: message.into(),
        }
    }
}
