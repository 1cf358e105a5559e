//! Score edits (the `modify_score` tool): typed operations with a JSON form,
//! validated, applied to a copy, and kept in a history for undo and redo.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Score;

/// One edit operation (JSON: `{"op": "transpose", ...}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Placeholder until the operations land.
    Transpose {
        /// Semitones up (negative: down).
        semitones: i32,
    },
}

/// An edit that cannot be applied: code `INVALID_EDIT`, with the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EditError {
    /// Where in the request: `edits[0].semitones`.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl EditError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "INVALID_EDIT"
    }
}

/// Parses a JSON array of edits, naming the offending field (`edits[2].op`) on error.
pub fn parse_edits(value: &serde_json::Value) -> Result<Vec<Edit>, EditError> {
    let items = value.as_array().ok_or_else(|| EditError {
        field: "edits".into(),
        message: "edits must be an array".into(),
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v.clone()).map_err(|e| EditError {
                field: format!("edits[{i}]"),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Applies `edits` in order to a copy of `score`; all or nothing.
pub fn apply_edits(score: &Score, edits: &[Edit]) -> Result<Score, EditError> {
    let _ = edits;
    Ok(score.clone())
}
