//! Rows and helpers the checks share; public so adapter-specific tests can build the same rows.

use chrono::{TimeZone, Utc};
use coda_core::model::{Job, JobKind, JobStatus, Session, Timestamp, Upload, UploadState};
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
        history: vec![],
        files: vec![],
        current_score: None,
        current_audio: None,
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
        jobs: vec![JobKind::Probe],
        session_id: None,
        state: UploadState::Pending,
        etag: None,
        job_ids: vec![],
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
        kind: JobKind::Probe,
        status: JobStatus::Queued,
        progress: 0,
        params: serde_json::json!({}),
        input_key: "uploads/x/a.wav".to_string(),
        outputs: vec![],
        error: None,
        attempts: 0,
        lease_until: None,
        session_id: None,
        created_at,
        updated_at: created_at,
        version: 0,
    }
}

/// The error code of a result that must be an error.
#[track_caller]
pub fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    r.expect_err("expected an error").code()
}
