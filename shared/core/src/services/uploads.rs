//! Upload use cases: issue a signed URL, then accept the bytes it carries.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sessions::{too_large, unsupported};
use super::{chrono_dur, Adapters, Limits, Policies, Quotas, Sessions};
use crate::filename::check_filename;
use crate::kinds::Kinds;
use crate::model::{JobKind, Owner, Upload, UploadScore, UploadState};
use crate::ports::PresignedPut;
use crate::sniff::sniff;
use crate::{CodaError, Result};

/// What a client asks for when it wants to upload a file.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewUpload {
    /// The file's name; no paths.
    pub filename: String,
    /// Exact size in bytes of what will be PUT; at least 1.
    #[schema(minimum = 1)]
    pub size: u64,
    /// Declared MIME type (informative only; the bytes are sniffed).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Jobs to start once the bytes land, each a kind or a kind with params:
    /// `["probe", {"kind": "transcribe", "params": {"onset_threshold": 0.6}}]`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub jobs: Vec<UploadJob>,
    /// Attach the upload to this session.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// One job an upload starts: a kind's name, or a kind with its params.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum UploadJob {
    /// Just the kind; it runs with default params.
    Kind(String),
    /// A kind and its params.
    WithParams(KindWithParams),
}

/// A kind and the params its job runs with.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KindWithParams {
    /// The kind's name.
    pub kind: String,
    /// Its params (checked like a job submission's).
    #[serde(default)]
    pub params: serde_json::Value,
}

impl UploadJob {
    fn parts(&self) -> (&str, &serde_json::Value) {
        match self {
            UploadJob::Kind(k) => (k, &serde_json::Value::Null),
            UploadJob::WithParams(k) => (&k.kind, &k.params),
        }
    }
}

/// An upload as its owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadView {
    /// Upload id.
    pub upload_id: String,
    /// Blob key of the bytes.
    pub key: String,
    /// File name.
    pub filename: String,
    /// `pending` until the bytes land, then `received`.
    pub state: UploadState,
    /// The declared size in bytes.
    pub size: u64,
    /// The content type sniffed from the bytes.
    pub content_type: Option<String>,
    /// Job kinds requested.
    pub jobs: Vec<JobKind>,
    /// Ids of the jobs started from it.
    pub job_ids: Vec<String>,
    /// The session it joined.
    pub session_id: Option<String>,
    /// For a score file in a session, once received: the score revision it became, or the
    /// reader's error (the file is kept; the session's score does not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<UploadScore>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The signed URL stops working at this instant.
    pub expires_at: DateTime<Utc>,
}

impl From<Upload> for UploadView {
    fn from(u: Upload) -> Self {
        Self {
            upload_id: u.upload_id,
            key: u.key,
            filename: u.filename,
            state: u.state,
            size: u.declared_size,
            content_type: u.content_type,
            jobs: u.jobs,
            job_ids: u.job_ids,
            session_id: u.session_id,
            score: u.score,
            created_at: u.created_at,
            expires_at: u.expires_at,
        }
    }
}

/// Upload use cases over the ports they need, built once in the wiring.
#[derive(Clone)]
pub struct Uploads {
    a: Adapters,
    sessions: Sessions,
    limits: Limits,
    kinds: Kinds,
    quotas: Quotas,
}

impl Uploads {
    /// The service over these adapters; slots join sessions through `sessions`.
    pub fn new(a: &Adapters, policies: &Policies, sessions: Sessions) -> Self {
        Uploads {
            a: a.clone(),
            sessions,
            limits: policies.limits.clone(),
            kinds: policies.kinds.clone(),
            quotas: Quotas::new(a, policies.quotas.clone()),
        }
    }

    /// Reads the caller's upload; another owner's is not found.
    pub async fn get(&self, owner: &Owner, id: &str) -> Result<Upload> {
        match self.a.uploads.get(id).await? {
            Some(u) if u.owner == owner.0 => Ok(u),
            _ => Err(CodaError::NotFound(format!("upload '{id}'"))),
        }
    }

    /// Checks an upload request and records the slot; returns it and its signed PUT.
    pub async fn create(&self, owner: &Owner, req: NewUpload) -> Result<(Upload, PresignedPut)> {
        let limits = &self.limits;
        let filename = check_filename(&req.filename)?;
        if req.size > limits.max_upload_bytes {
            return Err(too_large(req.size, limits.max_upload_bytes));
        }
        if req.size == 0 {
            return Err(CodaError::bad_request(
                "EMPTY_UPLOAD",
                "size must be at least 1 byte",
            ));
        }
        let (jobs, job_params) = parse_jobs(&req.jobs, &self.kinds)?;
        if let Some(sid) = &req.session_id {
            self.sessions.get(owner, sid).await?;
        }
        // The jobs are counted now, when the caller can still be told 429, not when the bytes land.
        let kinds: Vec<&str> = jobs.iter().map(|k| k.as_str()).collect();
        let taken = self.quotas.jobs(owner, &kinds).await?;
        match self.open_slot(owner, req, filename, jobs, job_params).await {
            Ok(slot) => Ok(slot),
            Err(e) => {
                self.quotas.give_back(taken).await;
                Err(e)
            }
        }
    }

    /// Records the slot and signs its PUT.
    async fn open_slot(
        &self,
        owner: &Owner,
        req: NewUpload,
        filename: String,
        jobs: Vec<JobKind>,
        job_params: BTreeMap<String, serde_json::Value>,
    ) -> Result<(Upload, PresignedPut)> {
        let limits = &self.limits;
        let now = self.a.clock.now();
        let upload_id = self.a.ids.new_id("upl");
        let upload = Upload {
            key: format!("uploads/{upload_id}/{filename}"),
            upload_id,
            owner: owner.0.clone(),
            filename,
            declared_size: req.size,
            declared_content_type: req.content_type.unwrap_or_default(),
            content_type: None,
            jobs,
            job_params,
            session_id: req.session_id,
            state: UploadState::Pending,
            etag: None,
            job_ids: vec![],
            score: None,
            created_at: now,
            expires_at: now + chrono_dur(limits.upload_url_ttl),
            version: 0,
        };
        self.a.uploads.create(&upload).await?;
        let put = self
            .a
            .blobs
            .presign_put(
                &upload.key,
                "application/octet-stream",
                limits.upload_url_ttl,
            )
            .await?;
        Ok((upload, put))
    }

    /// Accepts the bytes PUT to a signed URL (the local stand-in for S3's PUT).
    ///
    /// The signature was checked by the caller; this checks the slot, the size
    /// and the content, then writes the blob, which raises the ingest event.
    pub async fn receive_bytes(&self, key: &str, bytes: Bytes) -> Result<Upload> {
        let (repo, blobs, kinds) = (&self.a.uploads, &self.a.blobs, &self.kinds);
        let not_found = || CodaError::NotFound(format!("upload for key '{key}'"));
        let upload_id = key
            .strip_prefix("uploads/")
            .and_then(|r| r.split('/').next())
            .ok_or_else(not_found)?;
        let upload = repo
            .get(upload_id)
            .await?
            .filter(|u| u.key == key)
            .ok_or_else(not_found)?;
        // The row turns `received` only once ingest has run, so the object is looked at too; this
        // answers a late PUT early, and the create-only write below settles concurrent ones.
        if upload.state != UploadState::Pending || blobs.head(key).await?.is_some() {
            return Err(already_uploaded());
        }
        if upload.expires_at <= self.a.clock.now() {
            return Err(CodaError::Unauthorized("upload URL has expired".into()));
        }
        let size = bytes.len() as u64;
        if size > self.limits.max_upload_bytes {
            return Err(too_large(size, self.limits.max_upload_bytes));
        }
        if size != upload.declared_size {
            return Err(CodaError::BadRequest {
                code: "SIZE_MISMATCH",
                message: format!(
                    "received {size} bytes but the upload declared {}",
                    upload.declared_size
                ),
                details: serde_json::json!({ "declared": upload.declared_size, "received": size }),
            });
        }
        let kind = sniff(&bytes).ok_or_else(|| unsupported(&upload.filename))?;
        // Each requested kind says what its input may be; an unknown kind (a registry that
        // shrank since the slot was issued) accepts anything and fails as a job instead.
        let refused = upload.jobs.iter().find(|k| {
            kinds
                .registry
                .get(k.as_str())
                .is_some_and(|spec| !spec.accepts_input(kind.mime()))
        });
        if let Some(job_kind) = refused {
            let wanted = kinds
                .registry
                .get(job_kind.as_str())
                .and_then(|s| s.inputs.first())
                .map_or(&[][..], |slot| slot.content_types);
            let needs = if wanted.iter().all(|t| t.starts_with("audio/")) {
                "audio".to_string()
            } else {
                wanted.join(" or ")
            };
            return Err(CodaError::UnsupportedMediaType {
                message: format!(
                    "'{}' looks like {} but the requested jobs need {needs}",
                    upload.filename,
                    kind.mime()
                ),
                details: serde_json::json!({ "detected": kind.mime(), "kind": job_kind.as_str(), "accepted": wanted }),
            });
        }
        // Exactly one of concurrent PUTs to the same slot creates the object.
        match blobs.put_new(key, bytes, kind.mime()).await {
            Err(CodaError::AlreadyExists(_)) => return Err(already_uploaded()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        Ok(upload)
    }
}

/// A slot that already took its bytes.
fn already_uploaded() -> CodaError {
    CodaError::Conflict {
        code: "ALREADY_UPLOADED",
        message: "this upload already received its bytes; create a new upload".into(),
    }
}

/// Checks an upload's jobs: each kind must run here, take an input, and get valid params.
///
/// A kind asked for twice runs once; with params given twice, the second
/// set is a 422 rather than a silent pick.
pub fn parse_jobs(
    requested: &[UploadJob],
    kinds: &Kinds,
) -> Result<(Vec<JobKind>, BTreeMap<String, serde_json::Value>)> {
    let mut out = Vec::with_capacity(requested.len());
    let mut params = BTreeMap::new();
    for job in requested {
        let (name, p) = job.parts();
        let spec = kinds.runnable(name)?;
        if spec.inputs.is_empty() {
            return Err(CodaError::unprocessable(
                "KIND_TAKES_NO_INPUT",
                format!(
                    "job kind '{name}' takes no input, so an upload cannot start it; submit it with POST /v1/jobs"
                ),
            ));
        }
        spec.validate(p)?;
        let k = spec.kind();
        let has_params = p.as_object().is_some_and(|o| !o.is_empty());
        if has_params {
            if params.contains_key(name) {
                return Err(crate::params::invalid_param(
                    "jobs",
                    format!("job kind '{name}' is given params twice"),
                ));
            }
            params.insert(name.to_string(), p.clone());
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok((out, params))
}
