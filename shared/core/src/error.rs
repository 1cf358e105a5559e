//! The one error type of the domain; `coda-api` maps it to HTTP in one place.

use serde_json::{json, Value};

/// A domain error with a stable machine-readable code.
#[derive(Debug, thiserror::Error)]
pub enum CodaError {
    /// The resource does not exist or belongs to someone else.
    #[error("{0} not found")]
    NotFound(String),
    /// The request is malformed.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// The request is well-formed but cannot be processed.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// A body or declared size exceeds the configured limit.
    #[error("{message}")]
    PayloadTooLarge { message: String, details: Value },
    /// The bytes are not of a supported type.
    #[error("{message}")]
    UnsupportedMediaType { message: String, details: Value },
    /// The state forbids the change (the job ended, the slot was used, ...).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A conditional write lost a race: the row changed since it was read; read it again and retry.
    #[error("{0}")]
    Stale(String),
    /// A create found a row with the same id.
    #[error("{0}")]
    AlreadyExists(String),
    /// The job was canceled while it ran.
    #[error("{0}")]
    Canceled(String),
    /// Missing or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// A byte range outside the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// Audio that cannot be decoded; permanent for a job.
    #[error("{0}")]
    InvalidAudio(String),
    /// A quota or rate limit is used up until its window ends.
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        /// Seconds until the window ends (the `Retry-After` header).
        retry_after_secs: u64,
        details: Value,
    },
    /// A dependency is temporarily unavailable; worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure of a dependency.
    #[error("{0}")]
    Internal(String),
}

impl CodaError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            CodaError::NotFound(_) => "NOT_FOUND",
            CodaError::BadRequest { code, .. } => code,
            CodaError::Unprocessable { code, .. } => code,
            CodaError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            CodaError::UnsupportedMediaType { .. } => "UNSUPPORTED_MEDIA_TYPE",
            CodaError::Conflict { code, .. } => code,
            CodaError::Stale(_) => "CONFLICT",
            CodaError::AlreadyExists(_) => "ALREADY_EXISTS",
            CodaError::Canceled(_) => "CANCELED",
            CodaError::Unauthorized(_) => "UNAUTHORIZED",
            CodaError::RangeNotSatisfiable { .. } => "RANGE_NOT_SATISFIABLE",
            CodaError::InvalidAudio(_) => "INVALID_AUDIO",
            CodaError::RateLimited { code, .. } => code,
            CodaError::Unavailable(_) => "UNAVAILABLE",
            CodaError::Internal(_) => "INTERNAL",
        }
    }

    /// Structured details for the error body.
    pub fn details(&self) -> Value {
        match self {
            CodaError::BadRequest { details, .. }
            | CodaError::Unprocessable { details, .. }
            | CodaError::PayloadTooLarge { details, .. }
            | CodaError::UnsupportedMediaType { details, .. }
            | CodaError::RateLimited { details, .. } => details.clone(),
            CodaError::RangeNotSatisfiable { size } => json!({ "size": size }),
            _ => json!({}),
        }
    }

    /// Whether a job failing with this error should be retried.
    pub fn is_transient(&self) -> bool {
        matches!(self, CodaError::Unavailable(_) | CodaError::Internal(_))
    }

    /// Shorthand for a 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        CodaError::BadRequest {
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    /// Shorthand for a 422 with a code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        CodaError::Unprocessable {
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    /// Shorthand for a lost conditional write.
    pub fn conflict(message: impl Into<String>) -> Self {
        CodaError::Stale(message.into())
    }

    /// The error a runner returns when it sees its job canceled.
    pub fn canceled() -> Self {
        CodaError::Canceled("job was canceled".into())
    }

    /// Shorthand for an internal error from any displayable cause.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        CodaError::Internal(e.to_string())
    }
}
