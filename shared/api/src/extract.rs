//! Extractors that turn every rejection into the standard error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use coda_core::model::Owner;
use coda_core::CodaError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The authenticated caller, put in the request extensions by the auth layer.
pub struct Caller(pub Owner);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Owner>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError(CodaError::Unauthorized("missing bearer token".into())))
    }
}

/// A JSON body; syntax errors are 400 `INVALID_JSON`, shape errors 400 `INVALID_REQUEST`.
///
/// The content type is not required: clients often omit it, and the body is parsed either way.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body: 400 `INVALID_JSON` (not JSON) or `INVALID_REQUEST` (the wrong shape),
/// with where.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let (code, what) = match e.classify() {
            serde_json::error::Category::Data => {
                ("INVALID_REQUEST", "request body has the wrong shape")
            }
            _ => ("INVALID_JSON", "request body is not valid JSON"),
        };
        ApiError(CodaError::BadRequest {
            code,
            message: format!("{what}: {e}"),
            details: serde_json::json!({ "line": e.line(), "column": e.column() }),
        })
    })
}

/// Reads a whole body, mapping the body-limit rejection to 413.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(CodaError::PayloadTooLarge {
                message: "request body exceeds the upload limit".into(),
                details: serde_json::json!({}),
            })
        } else {
            ApiError(CodaError::bad_request("INVALID_BODY", r.body_text()))
        }
    })
}
