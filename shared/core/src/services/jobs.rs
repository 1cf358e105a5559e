//! Job use cases: submit, read, list, cancel, and the conditional-update helper.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use std::time::Duration;

use super::webhooks::Destinations;
use super::{Access, Adapters, Policies, Quotas};
use crate::kinds::{KindSpec, Kinds};
use crate::model::{
    Job, JobError, JobKind, JobOutputRef, JobStatus, JobWebhook, OutboxEvent, Owner, Page,
};
use crate::ports::{BlobStore, JobQueue, JobRepo};
use crate::webhooks::{WebhookEventType, WebhookSecret};
use crate::{CodaError, Result};
use chrono::{DateTime, Utc};

/// A job submission.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewJob {
    /// Job kind, e.g. `probe`.
    pub kind: String,
    /// Shorthand for the kind's first input: a blob key (an upload, a session file, a job's
    /// result) or `job:{id}/{output}`, another job's output (the job waits for it).
    #[serde(default)]
    pub input_key: Option<String>,
    /// The kind's inputs by name, each a blob key or `job:{id}/{output}`.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Kind-specific parameters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Value,
    /// A webhook for this job alone: its end events (`job.succeeded`, `job.failed`,
    /// `job.canceled`) are posted here, signed with the `webhook_secret` of the response.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The session the job belongs to: a `score` input left out is the session's current
    /// score, and a `synthesize` job's `sung.wav` becomes the session's audio.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// The queue message that names a job.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobMessage {
    /// The job to run.
    pub job_id: String,
}

/// A job as clients see it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Job id.
    pub job_id: String,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub status: JobStatus,
    /// 0..=100.
    pub progress: u8,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The blob of its first input (`""` for a kind without inputs).
    pub input_key: String,
    /// Every input by name: a blob key or `job:{id}/{output}`.
    pub inputs: BTreeMap<String, String>,
    /// Result files with signed download URLs.
    pub outputs: Vec<OutputView>,
    /// What a succeeded job wants the user to know (words guessed, notes out of range, ...).
    pub warnings: Vec<String>,
    /// Why it failed (or the last transient error while it retries).
    pub error: Option<JobError>,
    /// How many times a worker started it.
    pub attempts: u32,
    /// The session it belongs to.
    pub session_id: Option<String>,
    /// Kind-specific parameters.
    #[schema(value_type = Object)]
    pub params: Value,
}

/// One result file as clients see it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OutputView {
    /// File name.
    pub name: String,
    /// Blob key (download with `GET /v1/blobs/{key}`).
    pub key: String,
    /// A signed URL that serves the file without a token until it expires.
    pub url: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Renders a job for clients, signing a download URL per output.
pub async fn view(
    job: Job,
    blobs: &dyn BlobStore,
    url_ttl: std::time::Duration,
) -> Result<JobView> {
    let mut outputs = Vec::with_capacity(job.outputs.len());
    for o in job.outputs {
        outputs.push(OutputView {
            url: blobs.presign_get(&o.key, url_ttl).await?,
            name: o.name,
            key: o.key,
            content_type: o.content_type,
            bytes: o.bytes,
        });
    }
    Ok(JobView {
        job_id: job.job_id,
        kind: job.kind,
        status: job.status,
        progress: job.progress,
        created_at: job.created_at,
        updated_at: job.updated_at,
        inputs: if job.inputs.is_empty() && !job.input_key.is_empty() {
            // Rows from before named inputs, and upload jobs, hold only the shorthand.
            BTreeMap::from([(String::from("input"), job.input_key.clone())])
        } else {
            job.inputs
        },
        input_key: job.input_key,
        outputs,
        warnings: job.warnings,
        error: job.error,
        attempts: job.attempts,
        session_id: job.session_id,
        params: job.params,
    })
}

/// A deterministic id, so a repeated upload event creates no second job.
pub fn job_id_for_upload(upload_id: &str, etag: &str, kind: &JobKind) -> String {
    let digest = Sha256::digest(format!("{upload_id}\n{etag}\n{}", kind.as_str()).as_bytes());
    format!("job_{}", &hex::encode(digest)[..32])
}

/// Puts a job's message on the queue.
pub async fn enqueue(queue: &dyn JobQueue, job_id: &str) -> Result<()> {
    let body = serde_json::to_string(&JobMessage {
        job_id: job_id.to_string(),
    })
    .map_err(CodaError::internal)?;
    queue.send(&body).await.map(|_| ())
}

/// Job use cases over the ports they need, built once in the wiring.
#[derive(Clone)]
pub struct Jobs {
    a: Adapters,
    access: Access,
    kinds: Kinds,
    destinations: Destinations,
    quotas: Quotas,
    url_ttl: Duration,
}

impl Jobs {
    /// The service over these adapters, accepting the kinds and webhook destinations of `policies`.
    pub fn new(a: &Adapters, policies: &Policies) -> Self {
        Jobs {
            a: a.clone(),
            access: Access::new(a),
            kinds: policies.kinds.clone(),
            destinations: Destinations::new(policies.webhook_policy, a.resolver.clone()),
            quotas: Quotas::new(a, policies.quotas.clone()),
            url_ttl: policies.limits.download_url_ttl,
        }
    }

    /// The kinds this deployment knows and runs.
    pub fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    /// Creates a job on owned inputs and enqueues it.
    ///
    /// With a `webhook_url` (checked against the policy, its host resolved: 422 `INVALID_WEBHOOK_URL`)
    /// the job gets its own webhook and a fresh secret, which the returned job
    /// holds in `webhook` for the submit response to show once.
    pub async fn submit(&self, owner: &Owner, req: NewJob) -> Result<Job> {
        let spec = self.kinds.runnable(&req.kind)?;
        spec.validate(&req.params)?;
        let kind = spec.kind();
        if let Some(url) = &req.webhook_url {
            self.destinations.check(url, "webhook_url").await?;
        }
        let mut given = req.inputs;
        if let Some(id) = &req.session_id {
            let session = self.a.sessions.get(id).await?;
            let session = session
                .filter(|s| s.owner == owner.0)
                .ok_or_else(|| CodaError::NotFound(format!("session '{id}'")))?;
            let wants_score = spec.inputs.first().is_some_and(|s| s.name == "score");
            if wants_score && req.input_key.is_none() && !given.contains_key("score") {
                let key = session.score_rev.and_then(|r| session.score_key(r)).ok_or_else(|| {
                    CodaError::Unprocessable {
                        code: "MISSING_INPUT",
                        message: format!(
                            "session '{id}' has no score yet: upload one to it, or give the score input"
                        ),
                        details: json!({ "field": "inputs", "input": "score" }),
                    }
                })?;
                given.insert("score".into(), key);
            }
        }
        let inputs = named_inputs(spec, req.input_key, given)?;
        for reference in inputs.values() {
            match JobOutputRef::parse(reference) {
                Some(r) => self.check_job_output(&r, owner).await?,
                None => {
                    self.access.check_blob_owner(reference, owner).await?;
                    if self.a.blobs.head(reference).await?.is_none() {
                        return Err(CodaError::NotFound(format!("blob '{reference}'")));
                    }
                }
            }
        }
        let input_key = spec
            .inputs
            .first()
            .and_then(|s| inputs.get(s.name))
            .cloned()
            .unwrap_or_default();
        // Counted last, so a refused request (bad params, inputs, URL) uses none of the quota.
        let taken = self.quotas.job(owner, kind.as_str()).await?;
        let now = self.a.clock.now();
        let job = Job {
            job_id: self.a.ids.new_id("job"),
            owner: owner.0.clone(),
            kind,
            status: JobStatus::Queued,
            progress: 0,
            params: if req.params.is_null() {
                serde_json::json!({})
            } else {
                req.params
            },
            input_key,
            inputs,
            outputs: vec![],
            warnings: vec![],
            error: None,
            attempts: 0,
            lease_until: None,
            session_id: req.session_id,
            created_at: now,
            updated_at: now,
            version: 0,
            webhook: req.webhook_url.map(|url| JobWebhook {
                url,
                secret: WebhookSecret::generate().expose(),
            }),
            outbox: vec![],
        };
        if let Err(e) = self.a.jobs.create(&job).await {
            self.quotas.give_back([taken]).await;
            return Err(e);
        }
        // Once the row exists the job counts, whether or not the message goes out now.
        drop(taken);
        enqueue(self.a.jobs_queue.as_ref(), &job.job_id).await?;
        Ok(job)
    }

    /// Checks a `job:{id}/{output}` input: the caller's job, not failed, of a kind that writes that output.
    async fn check_job_output(&self, r: &JobOutputRef, owner: &Owner) -> Result<()> {
        let up = self.get(owner, &r.job_id).await?;
        if matches!(up.status, JobStatus::Failed | JobStatus::Canceled) {
            return Err(input_failed(&r.job_id, up.status, &r.output));
        }
        let declared: Vec<&str> = self
            .kinds
            .registry
            .get(up.kind.as_str())
            .map(|s| s.outputs.iter().map(|o| o.name).collect())
            .unwrap_or_default();
        let known = if up.status == JobStatus::Succeeded {
            r.find(&up).is_some()
        } else {
            declared.iter().any(|d| *d == r.output)
        };
        if !known {
            return Err(CodaError::Unprocessable {
                code: "UNKNOWN_OUTPUT",
                message: format!("a '{}' job writes no output '{}'", up.kind, r.output),
                details: json!({ "job_id": r.job_id, "output": r.output, "outputs": declared }),
            });
        }
        Ok(())
    }

    /// Reads the caller's job; another owner's is not found.
    pub async fn get(&self, owner: &Owner, id: &str) -> Result<Job> {
        get(self.a.jobs.as_ref(), owner, id).await
    }

    /// The caller's jobs, newest first; `limit` is clamped to 1..=100.
    pub async fn list(
        &self,
        owner: &Owner,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Job>> {
        self.a
            .jobs
            .list_by_owner(owner, limit.unwrap_or(20).clamp(1, 100), cursor)
            .await
    }

    /// Cancels a queued or running job; an ended job is a 409 `JOB_ENDED`.
    pub async fn cancel(&self, owner: &Owner, id: &str) -> Result<Job> {
        self.get(owner, id).await?;
        update_job(self.a.jobs.as_ref(), id, |j| {
            if j.status.is_terminal() {
                return Err(CodaError::Conflict {
                    code: "JOB_ENDED",
                    message: format!("job '{}' already ended as {:?}", j.job_id, j.status)
                        .to_lowercase(),
                });
            }
            j.status = JobStatus::Canceled;
            j.lease_until = None;
            j.updated_at = self.a.clock.now();
            Ok(true)
        })
        .await
    }

    /// Renders a job for clients, signing a download URL per output.
    pub async fn view(&self, job: Job) -> Result<JobView> {
        view(job, self.a.blobs.as_ref(), self.url_ttl).await
    }
}

/// The error for an input that is the output of a job that ended without writing it.
pub fn input_failed(job_id: &str, status: JobStatus, output: &str) -> CodaError {
    CodaError::Unprocessable {
        code: "INPUT_FAILED",
        message: format!("job '{job_id}' ended {status:?}, so it will never write '{output}'")
            .to_lowercase(),
        details: json!({ "job_id": job_id, "status": status }),
    }
}

/// The inputs of a submission by name: `input_key` fills the kind's first input; every name must be declared and every declared input given.
fn named_inputs(
    spec: &KindSpec,
    input_key: Option<String>,
    mut inputs: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let declared: Vec<&str> = spec.inputs.iter().map(|s| s.name).collect();
    if let Some(key) = input_key {
        let Some(first) = declared.first() else {
            return Err(CodaError::Unprocessable {
                code: "UNKNOWN_INPUT",
                message: format!("job kind '{}' takes no input", spec.name),
                details: json!({ "field": "input_key", "inputs": declared }),
            });
        };
        if inputs.contains_key(*first) {
            return Err(CodaError::bad_request(
                "INVALID_REQUEST",
                format!("give the input '{first}' as input_key or in inputs, not both"),
            ));
        }
        inputs.insert(first.to_string(), key);
    }
    if let Some(name) = inputs.keys().find(|n| !declared.contains(&n.as_str())) {
        return Err(CodaError::Unprocessable {
            code: "UNKNOWN_INPUT",
            message: format!("job kind '{}' has no input named '{name}'", spec.name),
            details: json!({ "field": "inputs", "input": name, "inputs": declared }),
        });
    }
    if let Some(missing) = declared.iter().find(|n| !inputs.contains_key(**n)) {
        return Err(CodaError::Unprocessable {
            code: "MISSING_INPUT",
            message: format!(
                "job kind '{}' needs the input '{missing}' (input_key or inputs.{missing})",
                spec.name
            ),
            details: json!({ "field": "inputs", "input": missing, "inputs": declared }),
        });
    }
    Ok(inputs)
}

/// Puts the job's end event in its outbox, in the same write as the status that caused it.
fn record_end_event(job: &mut Job) {
    let event_type = match job.status {
        JobStatus::Succeeded => WebhookEventType::JobSucceeded,
        JobStatus::Failed => WebhookEventType::JobFailed,
        JobStatus::Canceled => WebhookEventType::JobCanceled,
        JobStatus::Queued | JobStatus::Running => return,
    };
    job.outbox.push(OutboxEvent {
        event_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        event_type,
        at: job.updated_at,
    });
}

/// Reads the caller's job; another owner's is not found.
pub async fn get(repo: &dyn JobRepo, owner: &Owner, id: &str) -> Result<Job> {
    match repo.get(id).await? {
        Some(j) if j.owner == owner.0 => Ok(j),
        _ => Err(CodaError::NotFound(format!("job '{id}'"))),
    }
}

/// Read-modify-write with retries on lost races.
///
/// `f` returns `Ok(false)` to leave the row as it is (the current row is returned).
pub async fn update_job(
    repo: &dyn JobRepo,
    id: &str,
    mut f: impl FnMut(&mut Job) -> Result<bool> + Send,
) -> Result<Job> {
    let mut retry = super::ConflictRetry::new(format!("job '{id}'"), 64);
    loop {
        let mut job = repo
            .get(id)
            .await?
            .ok_or_else(|| CodaError::NotFound(format!("job '{id}'")))?;
        let was_ended = job.status.is_terminal();
        if !f(&mut job)? {
            return Ok(job);
        }
        if !was_ended && job.status.is_terminal() {
            record_end_event(&mut job);
        }
        match repo.update(&job).await {
            Err(CodaError::Stale(_)) => retry.wait().await?,
            other => return other,
        }
    }
}
