//! Parsing and errors shared by every kind's params type (see [`crate::kinds`]).
//!
//! The API side (a Lambda or `coda serve`) has no model code, yet a bad
//! parameter must be a 422 at submit time rather than a failed job minutes
//! later, so each kind's params type and checks are part of its spec.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::{CodaError, Result};

/// Parses `params` (null or an object) into a kind's options type.
pub fn parse<T: DeserializeOwned + Default>(params: &Value) -> Result<T> {
    match params {
        Value::Null => Ok(T::default()),
        Value::Object(_) => {
            serde_json::from_value(params.clone()).map_err(|e| CodaError::Unprocessable {
                code: "INVALID_PARAMS",
                message: format!("invalid params: {e}"),
                details: json!({}),
            })
        }
        _ => Err(CodaError::bad_request(
            "INVALID_PARAMS",
            "params must be a JSON object",
        )),
    }
}

/// A 422 `INVALID_PARAMS` naming the offending field.
pub fn invalid_param(field: &str, message: impl Into<String>) -> CodaError {
    CodaError::Unprocessable {
        code: "INVALID_PARAMS",
        message: message.into(),
        details: json!({ "field": field }),
    }
}
