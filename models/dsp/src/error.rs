//! The error type of the audio core.

/// What can go wrong on audio before any model sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DspError {
    /// The samples, their layout or their rate cannot be worked on.
    #[error("invalid audio: {0}")]
    InvalidAudio(String),
    /// A worker thread panicked (a bug: the work items index only their own data).
    #[error("a {0} thread panicked")]
    ThreadPanicked(String),
}
