//! The one place where domain errors become HTTP responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use coda_core::CodaError;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code, message and details of an error.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `NOT_FOUND`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Structured context (may be empty).
    #[schema(value_type = Object)]
    pub details: Value,
}

/// A domain error on its way out as HTTP.
#[derive(Debug)]
pub struct ApiError(pub CodaError);

impl From<CodaError> for ApiError {
    fn from(e: CodaError) -> Self {
        ApiError(e)
    }
}

/// The HTTP status of each domain error.
pub fn status_of(e: &CodaError) -> StatusCode {
    match e {
        CodaError::NotFound(_) => StatusCode::NOT_FOUND,
        CodaError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        CodaError::Unprocessable { .. } | CodaError::InvalidAudio(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        CodaError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        CodaError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        CodaError::Conflict { .. }
        | CodaError::Stale(_)
        | CodaError::AlreadyExists(_)
        | CodaError::Canceled(_) => StatusCode::CONFLICT,
        CodaError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        CodaError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        CodaError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        CodaError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        CodaError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Builds an error response of the standard shape.
pub fn error_response(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "details": details } });
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let message = match &self.0 {
            // Internal details stay in the logs.
            CodaError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                "internal error".to_string()
            }
            e => e.to_string(),
        };
        let mut resp = error_response(status, self.0.code(), &message, self.0.details());
        match &self.0 {
            CodaError::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            CodaError::Unauthorized(_) => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            CodaError::RateLimited {
                retry_after_secs, ..
            } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        resp
    }
}

/// Handler result type.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(r: Response) -> Value {
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&b).unwrap()
    }

    #[tokio::test]
    async fn every_error_has_the_standard_shape_and_status() {
        let cases = [
            (CodaError::NotFound("job 'x'".into()), 404, "NOT_FOUND"),
            (
                CodaError::bad_request("INVALID_JSON", "bad"),
                400,
                "INVALID_JSON",
            ),
            (
                CodaError::unprocessable("UNKNOWN_JOB_KIND", "no"),
                422,
                "UNKNOWN_JOB_KIND",
            ),
            (
                CodaError::RangeNotSatisfiable { size: 9 },
                416,
                "RANGE_NOT_SATISFIABLE",
            ),
            (CodaError::Unauthorized("no".into()), 401, "UNAUTHORIZED"),
            (
                CodaError::RateLimited {
                    code: "RATE_LIMITED",
                    message: "slow down".into(),
                    retry_after_secs: 7,
                    details: json!({}),
                },
                429,
                "RATE_LIMITED",
            ),
            (CodaError::conflict("race"), 409, "CONFLICT"),
            (
                CodaError::Conflict {
                    code: "WEBHOOK_DISABLED",
                    message: "webhook 'wh_x' is disabled".into(),
                },
                409,
                "WEBHOOK_DISABLED",
            ),
            (
                CodaError::unprocessable("TOO_MANY_WEBHOOKS", "at most 20"),
                422,
                "TOO_MANY_WEBHOOKS",
            ),
            (CodaError::Unavailable("later".into()), 503, "UNAVAILABLE"),
        ];
        for (e, status, code) in cases {
            let r = ApiError(e).into_response();
            assert_eq!(r.status().as_u16(), status);
            let b = body_of(r).await;
            assert_eq!(b["error"]["code"], code);
            assert!(b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
            assert!(b["error"]["details"].is_object());
        }
    }

    #[tokio::test]
    async fn a_refused_webhook_url_is_422_with_the_reason_in_details() {
        let e = coda_core::services::webhooks::check_destination(
            "http://169.254.169.254/latest/meta-data/",
            &coda_core::webhooks::AddressPolicy::default(),
            "url",
        )
        .unwrap_err();
        let r = ApiError(e).into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let b = body_of(r).await;
        assert_eq!(b["error"]["code"], "INVALID_WEBHOOK_URL");
        assert_eq!(b["error"]["details"]["field"], "url");
        let reason = b["error"]["details"]["reason"].as_str().unwrap();
        assert!(reason.contains("link-local"), "{reason}");
        assert!(b["error"]["message"].as_str().unwrap().contains(reason));
    }

    #[tokio::test]
    async fn internal_details_stay_out_of_responses() {
        let r = ApiError(CodaError::Internal("disk /var/secret failed".into())).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body_of(r).await["error"]["message"], "internal error");
    }

    #[tokio::test]
    async fn range_errors_carry_content_range() {
        let r = ApiError(CodaError::RangeNotSatisfiable { size: 42 }).into_response();
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes */42");
    }
}
