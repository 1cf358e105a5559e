//! Rows and helpers the checks share; public so adapter-specific tests can build the same rows.

use chrono::{TimeZone, Utc};
use coda_core::model::{
    Delivery, DeliveryStatus, Job, JobKind, JobStatus, OutboxEvent, Session, Timestamp, Upload,
    UploadState, Webhook,
};
use coda_core::webhooks::WebhookEventType;
use coda_core::Result;

/// The checks' reference instant, far enough ahead that no TTL sweeper deletes rows mid-test.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
}

/// `n` seconds as a chrono duration.
pub fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A fresh id: `prefix`, `_`, 32 hex digits.
pub fn uid(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A session of `owner-s` that expires at `expires_at`.
pub fn session(id: &str, expires_at: Timestamp) -> Session {
    Session {
        session_id: id.to_string(),
        owner: "owner-s".to_string(),
        created_at: t0(),
        expires_at,
        score_rev: None,
        score_head: 0,
        score_tokens: vec![],
        current_audio: None,
        legacy_files: vec![],
        version: 0,
    }
}

/// A pending upload of `owner-u` whose URL expires an hour after `t0`.
pub fn upload(id: &str) -> Upload {
    Upload {
        upload_id: id.to_string(),
        owner: "owner-u".to_string(),
        key: format!("uploads/{id}/song.wav"),
        filename: "song.wav".to_string(),
        declared_size: 10,
        declared_content_type: "audio/wav".to_string(),
        content_type: None,
        jobs: vec![JobKind::from_static("probe")],
        job_params: Default::default(),
        session_id: None,
        state: UploadState::Pending,
        etag: None,
        job_ids: vec![],
        score: None,
        created_at: t0(),
        expires_at: t0() + secs(3600),
        version: 0,
    }
}

/// A queued probe job of `owner` created at `created_at`.
pub fn job(id: &str, owner: &str, created_at: Timestamp) -> Job {
    Job {
        job_id: id.to_string(),
        owner: owner.to_string(),
        kind: JobKind::from_static("probe"),
        status: JobStatus::Queued,
        progress: 0,
        params: serde_json::json!({}),
        input_key: "uploads/x/a.wav".to_string(),
        inputs: Default::default(),
        outputs: vec![],
        warnings: vec![],
        error: None,
        attempts: 0,
        lease_until: None,
        session_id: None,
        created_at,
        updated_at: created_at,
        version: 0,
        webhook: None,
        outbox: vec![],
    }
}

/// An active endpoint of `owner` created at `created_at`, subscribed to job success and failure.
pub fn webhook(id: &str, owner: &str, created_at: Timestamp) -> Webhook {
    Webhook {
        webhook_id: id.to_string(),
        owner: owner.to_string(),
        url: format!("https://example.com/hooks/{id}"),
        events: vec![WebhookEventType::JobSucceeded, WebhookEventType::JobFailed],
        description: Some("contract check".to_string()),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
        disabled_reason: None,
        created_at,
        updated_at: created_at,
        version: 0,
    }
}

/// A pending delivery of `owner-d` to `webhook_id` (`None`: a job's own webhook), created and due at `created_at`.
pub fn delivery(id: &str, webhook_id: Option<&str>, created_at: Timestamp) -> Delivery {
    Delivery {
        delivery_id: id.to_string(),
        owner: "owner-d".to_string(),
        webhook_id: webhook_id.map(str::to_string),
        job_id: format!("job_of_{id}"),
        event_id: format!("msg_of_{id}"),
        event_type: WebhookEventType::JobSucceeded,
        url: "https://example.com/hooks/receiver".to_string(),
        body: format!(r#"{{"type":"job.succeeded","data":{{"job_id":"job_of_{id}"}}}}"#),
        status: DeliveryStatus::Pending,
        attempts: vec![],
        next_attempt_at: Some(created_at),
        lease_until: None,
        created_at,
        updated_at: created_at,
        version: 0,
    }
}

/// An outbox entry of a `job.succeeded` event at `at`.
pub fn outbox_event(at: Timestamp) -> OutboxEvent {
    OutboxEvent {
        event_id: uid("msg"),
        event_type: WebhookEventType::JobSucceeded,
        at,
    }
}

/// The error code of a result that must be an error.
#[track_caller]
pub fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    r.expect_err("expected an error").code()
}
