//! Handlers: thin adapters from HTTP to the core services.

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use coda_core::model::JobStatus;
use coda_core::ports::BlobData;
use coda_core::range::parse_range;
use coda_core::services::jobs::{JobView, NewJob};
use coda_core::services::sessions::{AttachedFile, SessionView};
use coda_core::services::uploads::NewUpload;
use coda_core::services::uploads::UploadView;
use coda_core::services::webhooks::{DeliveryView, NewWebhook, WebhookView, WebhookWithSecret};
use coda_core::CodaError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{body_bytes, Caller, JsonBody};
use crate::SharedState;

/// Service health.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the queue answers.
    pub status: String,
    /// Messages waiting or in flight on the jobs queue.
    pub queue_depth: u64,
    /// Worker tasks pulling the queue.
    pub workers: usize,
    /// The chat's model provider (`planner`, `openai`, `bedrock`).
    pub chat_provider: String,
    /// The two tool routes.
    pub routes: ToolRoutes,
}

/// How the chat's tools run: `cpu` in this process, `gpu` as jobs on the queue.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ToolRoutes {
    /// Tools that run in the API process.
    pub cpu: RouteHealth,
    /// Tools that run as jobs on the model service's queue.
    pub gpu: RouteHealth,
}

/// One route's state.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RouteHealth {
    /// `ok`; for `gpu`, `remote` where no worker runs in this process (AWS: `coda-worker` pulls SQS).
    pub status: String,
    /// The tools on this route.
    pub tools: usize,
}

/// Answers whether the server and its queue work.
#[utoipa::path(get, path = "/v1/health", tag = "health",
    responses((status = 200, description = "the server and its queue work", body = Health)))]
pub async fn health(State(s): State<SharedState>) -> ApiResult<Json<Health>> {
    let depth = s.adapters.jobs_queue.depth().await?;
    let count = |route| {
        s.chat
            .registry()
            .tools()
            .iter()
            .filter(|t| t.route == route)
            .count()
    };
    Ok(Json(Health {
        status: "ok".into(),
        queue_depth: depth,
        workers: s.workers,
        chat_provider: s.chat.provider().to_string(),
        routes: ToolRoutes {
            cpu: RouteHealth {
                status: "ok".into(),
                tools: count(coda_core::kinds::Route::Cpu),
            },
            gpu: RouteHealth {
                status: if s.workers > 0 { "ok" } else { "remote" }.into(),
                tools: count(coda_core::kinds::Route::Gpu),
            },
        },
    }))
}

/// A new session's identity and lifetime.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SessionCreated {
    /// Session id.
    pub session_id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Eviction time.
    pub expires_at: DateTime<Utc>,
}

/// Creates a session.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 201, description = "the new session", body = SessionCreated, links(
        ("GetSession" = (operation_id = "get_session", parameters(("id" = "$response.body#/session_id")))),
        ("DeleteSession" = (operation_id = "delete_session", parameters(("id" = "$response.body#/session_id")))),
        ("AddSessionFile" = (operation_id = "add_session_file", parameters(("id" = "$response.body#/session_id")))),
    ))))]
pub async fn create_session(
    State(s): State<SharedState>,
    Caller(owner): Caller,
) -> ApiResult<Response> {
    let ses = s.services.sessions.create(&owner).await?;
    let body = SessionCreated {
        session_id: ses.session_id,
        created_at: ses.created_at,
        expires_at: ses.expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Reads a session: history, files, current score and audio.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, description = "the session", body = SessionView),
        (status = 404, description = "no such live session of the caller", body = ErrorBody)))]
pub async fn get_session(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(s.services.sessions.view(&owner, &id).await?))
}

/// Deletes a session and its files.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 204, description = "deleted, files included"),
        (status = 404, description = "no such live session of the caller", body = ErrorBody)))]
pub async fn delete_session(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.services.sessions.delete(&owner, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Uploads a file straight into a session (multipart field `file`); a MusicXML, MXL or MIDI file becomes its current score.
#[utoipa::path(post, path = "/v1/sessions/{id}/files", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body(content = FilePart, content_type = "multipart/form-data", description = "one part named `file`, with a filename"),
    responses((status = 201, description = "the stored file, and for a score the revision it became", body = AttachedFile, links(
            ("GetBlob" = (operation_id = "get_blob", parameters(("key" = "$response.body#/key")))),
        )),
        (status = 404, description = "no such live session of the caller", body = ErrorBody),
        (status = 413, description = "the file exceeds the upload limit", body = ErrorBody),
        (status = 415, description = "not audio, MIDI, MusicXML or JSON", body = ErrorBody),
        (status = 422, description = "a score that cannot be read (`INVALID_SCORE` with where, or the hostile input's own code); nothing is stored", body = ErrorBody)))]
pub async fn add_session_file(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    s.services.sessions.get(&owner, &id).await?;
    let mut mp = <Multipart as axum::extract::FromRequest<()>>::from_request(req, &())
        .await
        .map_err(|e| CodaError::bad_request("INVALID_MULTIPART", e.body_text()))?;
    loop {
        let field = mp.next_field().await.map_err(multipart_error)?;
        let Some(field) = field else {
            return Err(CodaError::bad_request(
                "MISSING_FILE",
                "multipart body has no part named 'file'",
            )
            .into());
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().map(str::to_string).ok_or_else(|| {
            CodaError::bad_request("INVALID_FILENAME", "the 'file' part has no filename")
        })?;
        let bytes = field.bytes().await.map_err(multipart_error)?;
        let f = s
            .services
            .sessions
            .attach_file(&owner, &id, &name, bytes)
            .await?;
        return Ok((StatusCode::CREATED, Json(f)).into_response());
    }
}

/// The multipart body of a direct file upload.
// For the document only: the handler streams the parts. Other parts are skipped but not offered
// (`additionalProperties: false`): a part's name must be valid header text, which a JSON
// property name need not be.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FilePart {
    /// The file's bytes; the part's filename names the session file.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError(CodaError::PayloadTooLarge {
            message: e.body_text(),
            details: serde_json::json!({}),
        });
    }
    ApiError(CodaError::bad_request("INVALID_MULTIPART", e.body_text()))
}

/// A signed upload slot.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UploadCreated {
    /// Upload id.
    pub upload_id: String,
    /// The blob key the bytes will have.
    pub key: String,
    /// PUT the bytes here (no Authorization header needed).
    pub put_url: String,
    /// Headers the PUT must send, as they are signed: `if-none-match: *`, so that the slot takes
    /// only its first PUT (S3 answers a later one 412, `coda serve` 409 `ALREADY_UPLOADED`).
    pub put_headers: std::collections::BTreeMap<String, String>,
    /// The URL stops working at this instant.
    pub expires_at: DateTime<Utc>,
}

/// Opens an upload: returns a signed URL to PUT the bytes to; jobs start when they land.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", security(("bearer" = [])), request_body = NewUpload,
    responses((status = 201, description = "the upload slot", body = UploadCreated, links(
            ("GetUpload" = (operation_id = "get_upload", parameters(("id" = "$response.body#/upload_id")))),
            ("GetBlob" = (operation_id = "get_blob", parameters(("key" = "$response.body#/key")))),
        )),
        (status = 404, description = "`session_id` names no live session of the caller", body = ErrorBody),
        (status = 413, description = "`size` exceeds the upload limit, or the body the JSON limit", body = ErrorBody),
        (status = 422, description = "a job kind is unknown or not available here", body = ErrorBody)))]
pub async fn create_upload(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    JsonBody(req): JsonBody<NewUpload>,
) -> ApiResult<Response> {
    let (u, put) = s.services.uploads.create(&owner, req).await?;
    let body = UploadCreated {
        upload_id: u.upload_id,
        key: u.key,
        put_url: put.url,
        put_headers: put.headers.into_iter().collect(),
        expires_at: u.expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Reads an upload: its state and the jobs it started.
#[utoipa::path(get, path = "/v1/uploads/{id}", tag = "uploads", security(("bearer" = [])), params(("id" = String, Path, description = "upload id")),
    responses((status = 200, description = "the upload", body = UploadView),
        (status = 404, description = "no such upload of the caller", body = ErrorBody)))]
pub async fn get_upload(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadView>> {
    Ok(Json(s.services.uploads.get(&owner, &id).await?.into()))
}

/// The signature of a local signed URL.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signature {
    /// Unix seconds after which the URL fails.
    pub expires: i64,
    /// Hex HMAC over method, key and expiry.
    pub signature: String,
}

/// What a signed PUT stored.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ObjectStored {
    /// Upload id.
    pub upload_id: String,
    /// Blob key.
    pub key: String,
    /// Bytes stored.
    pub size: u64,
    /// The content type sniffed from the bytes.
    pub content_type: String,
}

fn signer(s: &SharedState) -> ApiResult<&coda_core::auth::UrlSigner> {
    s.url_signer
        .as_ref()
        .ok_or_else(|| ApiError(CodaError::NotFound("object route".into())))
}

/// Receives the bytes of an upload at its signed URL (local stand-in for S3).
#[utoipa::path(put, path = "/v1/objects/{key}", tag = "uploads", params(("key" = String, Path, description = "blob key, slashes included"), Signature),
    request_body(content_type = "application/octet-stream", description = "the file's bytes"),
    responses((status = 200, description = "stored", body = ObjectStored,
            headers(("ETag" = String, description = "entity tag of the stored bytes"))),
        (status = 400, description = "a bad signature query, or not the declared size", body = ErrorBody),
        (status = 401, description = "the signature does not verify, or the URL expired", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "no upload waits for this key", body = ErrorBody),
        (status = 409, description = "the upload already received its bytes", body = ErrorBody),
        (status = 413, description = "the bytes exceed the upload limit", body = ErrorBody),
        (status = 415, description = "not a supported file, or not audio where the jobs need audio", body = ErrorBody)))]
pub async fn put_signed_object(
    State(s): State<SharedState>,
    Path(key): Path<String>,
    Query(sig): Query<Signature>,
    req: Request,
) -> ApiResult<Response> {
    signer(&s)?.verify(
        "PUT",
        &key,
        sig.expires,
        &sig.signature,
        s.adapters.clock.now(),
    )?;
    let bytes = body_bytes(req, &()).await?;
    let size = bytes.len() as u64;
    let upload = s.services.uploads.receive_bytes(&key, bytes).await?;
    let meta = s
        .adapters
        .blobs
        .head(&key)
        .await?
        .ok_or_else(|| CodaError::Internal("object vanished after write".into()))?;
    let mut resp = Json(ObjectStored {
        upload_id: upload.upload_id,
        key,
        size,
        content_type: meta.content_type,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// Serves a blob at a signed URL (what job output `url`s point to locally).
#[utoipa::path(get, path = "/v1/objects/{key}", tag = "blobs", params(("key" = String, Path, description = "blob key, slashes included"), Signature, RangeHeader),
    responses(BlobBytes,
        (status = 400, description = "a bad signature query", body = ErrorBody),
        (status = 401, description = "the signature does not verify, or the URL expired", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "no such blob", body = ErrorBody),
        (status = 416, description = "the range lies outside the blob", body = ErrorBody,
            headers(("Content-Range" = String, description = "`bytes */SIZE`")))))]
pub async fn get_signed_object(
    State(s): State<SharedState>,
    Path(key): Path<String>,
    Query(sig): Query<Signature>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    signer(&s)?.verify(
        "GET",
        &key,
        sig.expires,
        &sig.signature,
        s.adapters.clock.now(),
    )?;
    serve_blob(&s, &key, &headers).await
}

/// Downloads one of the caller's blobs, with `Range` support.
#[utoipa::path(get, path = "/v1/blobs/{key}", tag = "blobs", security(("bearer" = [])), params(("key" = String, Path, description = "blob key, slashes included"), RangeHeader),
    responses(BlobBytes,
        (status = 307, description = "on AWS: a redirect to a presigned S3 URL, which serves the bytes and ranges",
            headers(("Location" = String, description = "the presigned URL"))),
        (status = 404, description = "no such blob of the caller", body = ErrorBody),
        (status = 416, description = "the range lies outside the blob", body = ErrorBody,
            headers(("Content-Range" = String, description = "`bytes */SIZE`")))))]
pub async fn get_blob(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    s.services.access.check_blob_owner(&key, &owner).await?;
    download(&s, &key, &headers).await
}

/// Serves a blob the caller may read: on AWS a redirect to S3, else the bytes with `Range`.
async fn download(s: &SharedState, key: &str, headers: &HeaderMap) -> ApiResult<Response> {
    if s.redirect_downloads {
        // Lambda responses are capped at 6 MB; S3 serves the bytes (and ranges) itself.
        let url = s
            .adapters
            .blobs
            .presign_get(key, s.limits.download_url_ttl)
            .await?;
        let loc = HeaderValue::from_str(&url)
            .map_err(|_| CodaError::Internal("presigned URL is not a header value".into()))?;
        let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
        resp.headers_mut().insert(header::LOCATION, loc);
        return Ok(resp);
    }
    serve_blob(s, key, headers).await
}

/// The session's latest rendered audio (a `synthesize` job's `sung.wav`), with `Range`.
#[utoipa::path(get, path = "/v1/sessions/{id}/audio", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id"), RangeHeader),
    responses(BlobBytes,
        (status = 307, description = "on AWS: a redirect to a presigned S3 URL, which serves the bytes and ranges",
            headers(("Location" = String, description = "the presigned URL"))),
        (status = 404, description = "no such session of the caller, or no audio rendered for it yet", body = ErrorBody),
        (status = 416, description = "the range lies outside the audio", body = ErrorBody,
            headers(("Content-Range" = String, description = "`bytes */SIZE`")))))]
pub async fn get_session_audio(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = s.services.sessions.get(&owner, &id).await?;
    let key = session.current_audio.ok_or_else(|| {
        CodaError::NotFound(format!(
            "audio of session '{id}': none rendered yet (submit a synthesize job with this session_id)"
        ))
    })?;
    download(&s, &key, &headers).await
}

/// The `Range` request header of blob downloads, for the document (handlers read the headers).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct RangeHeader {
    /// `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX`: one range, answered with 206.
    /// Several ranges, or one outside the blob, are 416; other units are ignored (200).
    #[param(rename = "Range", value_type = String)]
    pub range: Option<String>,
}

/// A blob's bytes, whole or one range, of the content type sniffed when it was stored.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BlobBytes {
    /// The whole blob.
    #[response(status = 200, content_type = "*/*", headers(
        ("Accept-Ranges" = String, description = "`bytes`"),
        ("ETag" = String, description = "entity tag of the bytes"),
    ))]
    Whole,
    /// One range of the blob.
    #[response(status = 206, content_type = "*/*", headers(
        ("Accept-Ranges" = String, description = "`bytes`"),
        ("ETag" = String, description = "entity tag of the whole blob"),
        ("Content-Range" = String, description = "`bytes START-END/SIZE`"),
    ))]
    Range,
}

async fn serve_blob(s: &SharedState, key: &str, headers: &HeaderMap) -> ApiResult<Response> {
    let meta = s
        .adapters
        .blobs
        .head(key)
        .await?
        .ok_or_else(|| CodaError::NotFound(format!("blob '{key}'")))?;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = parse_range(range_header, meta.size)?;
    let BlobData { bytes, meta } = s.adapters.blobs.get(key, range).await?;
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&meta.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
        h.insert(header::ETAG, v);
    }
    if let Some((start, end)) = range {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", meta.size)) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// A job's id and state right after submission.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobAccepted {
    /// Job id.
    pub job_id: String,
    /// Always `queued`.
    pub status: JobStatus,
    /// `whsec_...`: verifies the signatures of the job's own webhook. Present only when
    /// `webhook_url` was given, and shown only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// Submits a job on one of the caller's blobs, optionally with its own webhook (`webhook_url`).
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])), request_body = NewJob,
    responses((status = 202, description = "queued", body = JobAccepted, links(
            ("GetJob" = (operation_id = "get_job", parameters(("id" = "$response.body#/job_id")))),
            ("CancelJob" = (operation_id = "cancel_job", parameters(("id" = "$response.body#/job_id")))),
        )),
        (status = 404, description = "`input_key` names no blob of the caller", body = ErrorBody),
        (status = 413, description = "the body exceeds the JSON limit", body = ErrorBody),
        (status = 422, description = "an unknown or unavailable kind, bad params, or a refused `webhook_url`", body = ErrorBody)))]
pub async fn create_job(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    JsonBody(req): JsonBody<NewJob>,
) -> ApiResult<Response> {
    let job = s.services.jobs.submit(&owner, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(JobAccepted {
            job_id: job.job_id,
            status: job.status,
            webhook_secret: job.webhook.map(|w| w.secret),
        }),
    )
        .into_response())
}

/// Reads one of the caller's jobs.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])), params(("id" = String, Path, description = "job id")),
    responses((status = 200, description = "the job", body = JobView),
        (status = 404, description = "no such job of the caller", body = ErrorBody)))]
pub async fn get_job(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    let job = s.services.jobs.get(&owner, &id).await?;
    Ok(Json(s.services.jobs.view(job).await?))
}

/// Paging of the job list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size (default 20): any non-negative integer, clamped to 1..=100.
    #[serde(default, deserialize_with = "page_size")]
    #[param(minimum = 0)]
    pub limit: Option<usize>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// Reads a page size as its documentation says: any non-negative integer, however large
/// (it is clamped to 100 anyway); anything else is a 400.
fn page_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(serde::de::Error::custom(format!(
            "limit must be a non-negative integer, not {text:?}"
        )));
    }
    Ok(Some(text.parse().unwrap_or(usize::MAX)))
}

/// One page of jobs.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<String>,
}

/// Lists the caller's jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "one page of jobs", body = JobList)))]
pub async fn list_jobs(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<JobList>> {
    let page = s
        .services
        .jobs
        .list(&owner, q.limit, q.cursor.as_deref())
        .await?;
    let mut views = Vec::with_capacity(page.items.len());
    for j in page.items {
        views.push(s.services.jobs.view(j).await?);
    }
    Ok(Json(JobList {
        jobs: views,
        next_cursor: page.next_cursor,
    }))
}

/// Cancels a queued or running job.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])), params(("id" = String, Path, description = "job id")),
    responses((status = 200, description = "the canceled job", body = JobView),
        (status = 404, description = "no such job of the caller", body = ErrorBody),
        (status = 409, description = "the job already ended", body = ErrorBody)))]
pub async fn cancel_job(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    let job = s.services.jobs.cancel(&owner, &id).await?;
    Ok(Json(s.services.jobs.view(job).await?))
}

/// The caller's webhook endpoints.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first; secrets are never listed.
    pub webhooks: Vec<WebhookView>,
}

/// One page of an endpoint's deliveries.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<String>,
}

/// Registers a webhook endpoint; the answer holds its signing secret, shown only this once.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = NewWebhook,
    responses((status = 201, description = "the endpoint, with its secret", body = WebhookWithSecret, links(
            ("GetWebhook" = (operation_id = "get_webhook", parameters(("id" = "$response.body#/id")))),
            ("DeleteWebhook" = (operation_id = "delete_webhook", parameters(("id" = "$response.body#/id")))),
            ("RotateWebhookSecret" = (operation_id = "rotate_webhook_secret", parameters(("id" = "$response.body#/id")))),
            ("ListWebhookDeliveries" = (operation_id = "list_webhook_deliveries", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 413, description = "the body exceeds the JSON limit", body = ErrorBody),
        (status = 422, description = "a refused URL, bad events or description, or too many endpoints", body = ErrorBody)))]
pub async fn create_webhook(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    JsonBody(req): JsonBody<NewWebhook>,
) -> ApiResult<Response> {
    let w = s.services.webhooks.create(&owner, req).await?;
    Ok((StatusCode::CREATED, Json(WebhookWithSecret::from(&w))).into_response())
}

/// Lists the caller's webhook endpoints, without their secrets.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "the caller's endpoints", body = WebhookList)))]
pub async fn list_webhooks(
    State(s): State<SharedState>,
    Caller(owner): Caller,
) -> ApiResult<Json<WebhookList>> {
    let all = s.services.webhooks.list(&owner).await?;
    Ok(Json(WebhookList {
        webhooks: all.iter().map(WebhookView::from).collect(),
    }))
}

/// Reads one of the caller's webhook endpoints, without its secret.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, description = "the endpoint", body = WebhookView),
        (status = 404, description = "no such endpoint of the caller", body = ErrorBody)))]
pub async fn get_webhook(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    let w = s.services.webhooks.get(&owner, &id).await?;
    Ok(Json(WebhookView::from(&w)))
}

/// Removes a webhook endpoint; nothing more is delivered to it.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 204, description = "removed"),
        (status = 404, description = "no such endpoint of the caller", body = ErrorBody)))]
pub async fn delete_webhook(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.services.webhooks.delete(&owner, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces an endpoint's signing secret; the answer holds the new one, shown only this once.
///
/// Every later attempt, retries of earlier events included, is signed with the new secret.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, description = "the endpoint, with its new secret", body = WebhookWithSecret),
        (status = 404, description = "no such endpoint of the caller", body = ErrorBody)))]
pub async fn rotate_webhook_secret(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookWithSecret>> {
    let w = s.services.webhooks.rotate(&owner, &id).await?;
    Ok(Json(WebhookWithSecret::from(&w)))
}

/// Lists an endpoint's deliveries, newest first, with every attempt's status code, latency and error.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id"), ListQuery),
    responses((status = 200, description = "one page of deliveries", body = DeliveryList),
        (status = 404, description = "no such endpoint of the caller", body = ErrorBody)))]
pub async fn list_webhook_deliveries(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<DeliveryList>> {
    let page = s
        .services
        .webhooks
        .list_deliveries(&owner, &id, q.limit, q.cursor.as_deref())
        .await?;
    Ok(Json(DeliveryList {
        deliveries: page.items.into_iter().map(DeliveryView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Sends a delivery's event again, as a new delivery to the endpoint's current URL.
///
/// The new delivery carries the same `webhook-id` and body, so receivers that
/// already processed the event can recognise it.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id"), ("delivery_id" = String, Path, description = "delivery id")),
    responses((status = 202, description = "the new pending delivery", body = DeliveryView),
        (status = 404, description = "no such endpoint or delivery of the caller", body = ErrorBody),
        (status = 409, description = "the endpoint is disabled", body = ErrorBody)))]
pub async fn redeliver_webhook_delivery(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let d = s
        .services
        .webhooks
        .redeliver(&owner, &id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(d))).into_response())
}
