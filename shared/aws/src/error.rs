//! One mapping from SDK failures to `CodaError`, shared by the three services.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use coda_core::CodaError;

/// Service error codes that mean "slow down and retry", whatever the HTTP status says.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "SlowDown",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// The error code a service returned, if the failure came from the service.
pub(crate) fn service_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> Option<&str> {
    match err {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// The HTTP status of the response, if there was one.
pub(crate) fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Maps an SDK failure: transport trouble, throttling and 5xx are worth retrying
/// (`Unavailable`); anything else is a bug or a misconfiguration (`Internal`).
pub(crate) fn sdk_error<E>(what: &str, err: SdkError<E, HttpResponse>) -> CodaError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout() || d.is_other(),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status >= 500
                || status == 429
                || s.err().code().is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    };
    let message = format!("{what}: {}", DisplayErrorContext(&err));
    if transient {
        CodaError::Unavailable(message)
    } else {
        CodaError::Internal(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::primitives::SdkBody;

    fn service(status: u16, code: &str) -> SdkError<ErrorMetadata, HttpResponse> {
        let raw = HttpResponse::new(
            status.try_into().expect("valid status"),
            SdkBody::from("boom"),
        );
        SdkError::service_error(ErrorMetadata::builder().code(code).build(), raw)
    }

    #[test]
    fn classifies_service_errors() {
        assert_eq!(sdk_error("op", service(503, "X")).code(), "UNAVAILABLE");
        assert_eq!(sdk_error("op", service(500, "X")).code(), "UNAVAILABLE");
        assert_eq!(sdk_error("op", service(429, "X")).code(), "UNAVAILABLE");
        assert_eq!(
            sdk_error("op", service(400, "ThrottlingException")).code(),
            "UNAVAILABLE"
        );
        assert_eq!(
            sdk_error("op", service(400, "ProvisionedThroughputExceededException")).code(),
            "UNAVAILABLE"
        );
        let e = sdk_error("put item", service(400, "ValidationException"));
        assert_eq!(e.code(), "INTERNAL");
        assert!(e.to_string().starts_with("put item: "), "{e}");
        assert_eq!(
            sdk_error("op", service(403, "AccessDenied")).code(),
            "INTERNAL"
        );
    }

    #[test]
    fn classifies_transport_errors() {
        let timeout: SdkError<ErrorMetadata, HttpResponse> =
            SdkError::timeout_error("took too long");
        assert_eq!(sdk_error("op", timeout).code(), "UNAVAILABLE");
        let construction: SdkError<ErrorMetadata, HttpResponse> =
            SdkError::construction_failure("bad input");
        assert_eq!(sdk_error("op", construction).code(), "INTERNAL");
    }

    #[test]
    fn reads_code_and_status() {
        let e = service(404, "NoSuchKey");
        assert_eq!(service_code(&e), Some("NoSuchKey"));
        assert_eq!(http_status(&e), Some(404));
        let t: SdkError<ErrorMetadata, HttpResponse> = SdkError::timeout_error("x");
        assert_eq!((service_code(&t), http_status(&t)), (None, None));
    }
}
