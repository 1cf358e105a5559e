//! Handlers of a session's score: read it (JSON or a file), edit it, undo and redo.

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use coda_core::services::scores::ScoreState;
use coda_music::FileFormat;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{body_bytes, parse_json, Caller, JsonBody};
use crate::SharedState;

/// The form `GET /v1/sessions/{id}/score` answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScoreFormatName {
    /// The revision and the score's JSON form (`ScoreState`).
    Json,
    /// MusicXML 4.0 partwise text.
    Musicxml,
    /// Compressed MusicXML.
    Mxl,
    /// A Standard MIDI file.
    Midi,
}

/// Which revision, and in which form.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScoreQuery {
    /// `json` (default: the revision and the score's JSON form), or a file: `musicxml`, `mxl` or `midi`.
    #[param(inline)]
    pub format: Option<ScoreFormatName>,
    /// A kept revision (default: the current one).
    pub rev: Option<u64>,
}

/// Edits to apply to the current score, in order, all or none.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreEdits {
    /// The operations (`{"op": "transpose", "semitones": 2}`, ...; see the `Edit` schema).
    #[schema(value_type = Vec<Object>)]
    pub edits: Value,
    /// Apply only if this is still the current revision (else 409 `CONFLICT`).
    #[serde(default, deserialize_with = "revision")]
    #[schema(minimum = 1)]
    pub base_rev: Option<u64>,
}

/// An undo or redo; the body may be empty.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ScoreStep {
    /// Step only if this is still the current revision (else 409 `CONFLICT`).
    #[serde(default, deserialize_with = "revision")]
    #[schema(minimum = 1)]
    pub base_rev: Option<u64>,
}

/// Reads a revision number as JSON Schema's `integer` allows: `3` or `3.0`, never `3.5` or `-1`.
fn revision<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(v) = n.as_u64() {
        return Ok(Some(v));
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "base_rev must be a revision number (a non-negative integer), not {n}"
        ))),
    }
}

/// Reads the session's score: its JSON form with the revision, or a MusicXML, MXL or MIDI file.
#[utoipa::path(get, path = "/v1/sessions/{id}/score", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id"), ScoreQuery),
    responses((status = 200, description = "the score (`format=json`, the default), or its file", body = ScoreState,
            content(
                (ScoreState = "application/json"),
                (Vec<u8> = "application/vnd.recordare.musicxml+xml"),
                (Vec<u8> = "application/vnd.recordare.musicxml"),
                (Vec<u8> = "audio/midi"),
            )),
        (status = 400, description = "an unknown `format`", body = ErrorBody),
        (status = 404, description = "no such live session of the caller, no score yet, or a revision not kept", body = ErrorBody),
        (status = 422, description = "the score cannot be written in that format", body = ErrorBody)))]
pub async fn get_score(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    Query(q): Query<ScoreQuery>,
) -> ApiResult<Response> {
    let format = match q.format {
        None | Some(ScoreFormatName::Json) => FileFormat::Json,
        Some(ScoreFormatName::Musicxml) => FileFormat::MusicXml,
        Some(ScoreFormatName::Mxl) => FileFormat::Mxl,
        Some(ScoreFormatName::Midi) => FileFormat::Midi,
    };
    if format == FileFormat::Json {
        return Ok(Json(s.services.scores.state(&owner, &id, q.rev).await?).into_response());
    }
    let file = s.services.scores.file(&owner, &id, q.rev, format).await?;
    let mut resp = file.bytes.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.format.mime()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.filename)) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Applies edits to the session's score atomically; the result is the next revision.
#[utoipa::path(post, path = "/v1/sessions/{id}/score/edits", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body = ScoreEdits,
    responses((status = 200, description = "the new revision", body = ScoreState),
        (status = 404, description = "no such live session of the caller, or no score yet", body = ErrorBody),
        (status = 409, description = "the score changed meanwhile (`base_rev` is not current, or another edit, undo or redo won)", body = ErrorBody),
        (status = 422, description = "`INVALID_EDIT`: an unknown or out-of-range operation, with `details.field`", body = ErrorBody)))]
pub async fn edit_score(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ScoreEdits>,
) -> ApiResult<Json<ScoreState>> {
    Ok(Json(
        s.services
            .scores
            .edit(&owner, &id, &req.edits, req.base_rev)
            .await?,
    ))
}

/// Makes the previous revision current.
#[utoipa::path(post, path = "/v1/sessions/{id}/score/undo", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body(content = Option<ScoreStep>, description = "optional; may be empty"),
    responses((status = 200, description = "the revision now current", body = ScoreState),
        (status = 404, description = "no such live session of the caller, or no score yet", body = ErrorBody),
        (status = 409, description = "`NOTHING_TO_UNDO`, or the score changed meanwhile (`CONFLICT`)", body = ErrorBody)))]
pub async fn undo_score(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<ScoreState>> {
    let step = step_body(req).await?;
    Ok(Json(
        s.services.scores.undo(&owner, &id, step.base_rev).await?,
    ))
}

/// Makes the next revision current again after an undo.
#[utoipa::path(post, path = "/v1/sessions/{id}/score/redo", tag = "scores", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body(content = Option<ScoreStep>, description = "optional; may be empty"),
    responses((status = 200, description = "the revision now current", body = ScoreState),
        (status = 404, description = "no such live session of the caller, or no score yet", body = ErrorBody),
        (status = 409, description = "`NOTHING_TO_REDO`, or the score changed meanwhile (`CONFLICT`)", body = ErrorBody)))]
pub async fn redo_score(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<ScoreState>> {
    let step = step_body(req).await?;
    Ok(Json(
        s.services.scores.redo(&owner, &id, step.base_rev).await?,
    ))
}

async fn step_body(req: Request) -> ApiResult<ScoreStep> {
    let bytes = body_bytes(req, &()).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ScoreStep::default());
    }
    // `null` is an empty step too, as the document's `oneOf [null, ScoreStep]` allows.
    let step: Option<ScoreStep> = parse_json(&bytes)?;
    Ok(step.unwrap_or_default())
}

/// The JSON Schema of the score model (`current_score`, `ScoreState.score`).
#[utoipa::path(get, path = "/v1/schemas/score", tag = "scores",
    responses((status = 200, description = "JSON Schema (draft 2020-12) of the score's JSON form", body = Object)))]
pub async fn score_schema() -> impl IntoResponse {
    (StatusCode::OK, Json(coda_music::score_json_schema()))
}

/// The JSON Schema of one score edit (the items of `ScoreEdits.edits`).
#[utoipa::path(get, path = "/v1/schemas/edit", tag = "scores",
    responses((status = 200, description = "JSON Schema (draft 2020-12) of an edit operation", body = Object)))]
pub async fn edit_schema() -> impl IntoResponse {
    (StatusCode::OK, Json(coda_music::edit_json_schema()))
}
