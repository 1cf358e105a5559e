//! Ingest: an object landed under `uploads/`, so create and enqueue its jobs.
//!
//! The same function serves the local store's events and the S3 → SQS →
//! Lambda path. It is idempotent on (key, etag): deliveries repeat.

use serde_json::json;

use crate::model::{Job, JobStatus, Owner, Upload, UploadState};

use crate::ports::ObjectCreated;
use crate::services::jobs::{enqueue, job_id_for_upload};
use crate::services::sessions::Sessions;
use crate::services::{Adapters, ConflictRetry};
use crate::sniff::sniff;
use crate::{CodaError, Result};

/// How many leading bytes ingest reads to tell the type (a BOM and whitespace before `<?xml` fit).
const SNIFF_BYTES: u64 = 1024;

/// What ingest did with one event.
#[derive(Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Jobs were created (ids listed).
    Created(Vec<String>),
    /// The event was seen before; nothing changed.
    Duplicate,
    /// Not an upload key, or no matching upload: nothing to do.
    Ignored(String),
}

/// Ingest over the ports it writes, built once in the wiring.
#[derive(Clone)]
pub struct Ingest {
    a: Adapters,
    sessions: Sessions,
}

impl Ingest {
    /// The service over these adapters; uploaded files join their sessions through `sessions`.
    pub fn new(a: &Adapters, sessions: Sessions) -> Self {
        Ingest {
            a: a.clone(),
            sessions,
        }
    }

    /// Handles one object-created event.
    pub async fn handle_object_created(&self, event: &ObjectCreated) -> Result<IngestOutcome> {
        let Some(upload_id) = event
            .key
            .strip_prefix("uploads/")
            .and_then(|r| r.split('/').next())
        else {
            return Ok(IngestOutcome::Ignored(format!(
                "key '{}' is not an upload",
                event.key
            )));
        };
        let Some(mut upload) = self
            .a
            .uploads
            .get(upload_id)
            .await?
            .filter(|u| u.key == event.key)
        else {
            return Ok(IngestOutcome::Ignored(format!(
                "no upload for key '{}'",
                event.key
            )));
        };
        if upload.state == UploadState::Received
            && upload.etag.as_deref() == Some(event.etag.as_str())
        {
            // Enqueue again anyway: a crash may have come between the row and the queue,
            // and workers drop messages for jobs that are already held or ended. The same goes
            // for the session's file and score.
            self.requeue_pending(&upload).await?;
            self.join_session(upload, event.size).await?;
            return Ok(IngestOutcome::Duplicate);
        }
        if upload.state == UploadState::Received {
            // A slot takes one write. Locally the store refuses the second; a presigned S3 PUT
            // cannot, so its event starts nothing here.
            return Ok(IngestOutcome::Ignored(format!(
                "upload '{}' already took its bytes (etag {}); a later write (etag {}) starts no jobs",
                upload.upload_id,
                upload.etag.as_deref().unwrap_or("?"),
                event.etag
            )));
        }
        let content_type = self.content_type_of(event).await?;
        let now = self.a.clock.now();
        let mut created = vec![];
        for kind in &upload.jobs {
            let job = Job {
                job_id: job_id_for_upload(&upload.upload_id, &event.etag, kind),
                owner: upload.owner.clone(),
                kind: kind.clone(),
                status: JobStatus::Queued,
                progress: 0,
                params: upload
                    .job_params
                    .get(kind.as_str())
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                // The upload is the kind's first input: `input_key` is that shorthand.
                input_key: upload.key.clone(),
                inputs: Default::default(),
                outputs: vec![],
                warnings: vec![],
                error: None,
                attempts: 0,
                lease_until: None,
                session_id: upload.session_id.clone(),
                created_at: now,
                updated_at: now,
                version: 0,
                webhook: None,
                outbox: vec![],
            };
            match self.a.jobs.create(&job).await {
                Ok(()) | Err(CodaError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
            enqueue(self.a.jobs_queue.as_ref(), &job.job_id).await?;
            created.push(job.job_id);
        }
        upload.state = UploadState::Received;
        upload.etag = Some(event.etag.clone());
        upload.content_type = Some(content_type.clone());
        upload.job_ids = created.clone();
        // The conditional write claims the upload: of two deliveries of one event, the one
        // that loses here leaves the session's file and score to the winner.
        let claimed = match self.a.uploads.update(&upload).await {
            Ok(u) => u,
            Err(CodaError::Stale(_)) => return Ok(IngestOutcome::Duplicate),
            Err(e) => return Err(e),
        };
        self.join_session(claimed, event.size).await?;
        Ok(IngestOutcome::Created(created))
    }

    /// The object's type from its first bytes: a presigned S3 PUT stores whatever type the
    /// client sent (or none), so the stored one is only the fallback for bytes not recognised.
    async fn content_type_of(&self, event: &ObjectCreated) -> Result<String> {
        if event.size > 0 {
            let end = event.size.min(SNIFF_BYTES) - 1;
            match self.a.blobs.get(&event.key, Some((0, end))).await {
                Ok(head) => {
                    if let Some(kind) = sniff(&head.bytes) {
                        return Ok(kind.mime().into());
                    }
                }
                Err(CodaError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let meta = self.a.blobs.head(&event.key).await?;
        Ok(meta
            .map(|m| m.content_type)
            .unwrap_or_else(|| "application/octet-stream".into()))
    }

    async fn requeue_pending(&self, upload: &Upload) -> Result<()> {
        for id in &upload.job_ids {
            if let Some(j) = self.a.jobs.get(id).await? {
                if j.status == JobStatus::Queued && j.attempts == 0 {
                    enqueue(self.a.jobs_queue.as_ref(), id).await?;
                }
            }
        }
        Ok(())
    }

    /// Records a received upload's file in its session and, for a score file, makes it the
    /// session's next score revision and records the outcome on the upload (once: an upload
    /// that has an outcome is not read again).
    async fn join_session(&self, mut upload: Upload, size: u64) -> Result<()> {
        let Some(sid) = upload.session_id.clone() else {
            return Ok(());
        };
        let content_type = upload.content_type.clone().unwrap_or_default();
        let file = crate::model::SessionFile {
            name: upload.filename.clone(),
            key: upload.key.clone(),
            content_type: content_type.clone(),
            bytes: size,
            added_at: self.a.clock.now(),
        };
        self.sessions.record_upload(&sid, &file).await?;
        if upload.score.is_some() || !crate::sniff::is_score_type(&content_type) {
            return Ok(());
        }
        let owner = Owner(upload.owner.clone());
        let Some(outcome) = self
            .sessions
            .score_from_upload(&owner, &sid, &upload.filename, &upload.key, size)
            .await?
        else {
            return Ok(());
        };
        let mut retry = ConflictRetry::new(format!("upload '{}'", upload.upload_id), 16);
        loop {
            upload.score = Some(outcome.clone());
            match self.a.uploads.update(&upload).await {
                Ok(_) => return Ok(()),
                Err(CodaError::Stale(_)) => {
                    retry.wait().await?;
                    match self.a.uploads.get(&upload.upload_id).await? {
                        Some(u) if u.score.is_none() => upload = u,
                        _ => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
