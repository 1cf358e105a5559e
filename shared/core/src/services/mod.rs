//! Application services: the use cases handlers call, written against ports only.

pub mod access;
pub mod ingest;
pub mod jobs;
pub mod notify;
pub mod sessions;
pub mod uploads;
pub mod webhooks;

use std::time::Duration;

/// Waits before retry `attempt` (1, 2, ...) of a conditional write that lost a race.
///
/// Jittered and growing to 64 ms, so writers that lost together do not collide again at once.
pub(crate) async fn backoff_after_conflict(attempt: u32) {
    let cap = 1u64 << attempt.min(6);
    let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=cap);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Limits and lifetimes the services enforce.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// How long a session lives.
    pub session_ttl: Duration,
    /// How long a signed upload URL works.
    pub upload_url_ttl: Duration,
    /// How long a signed download URL works.
    pub download_url_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 200 * 1024 * 1024,
            session_ttl: Duration::from_secs(24 * 3600),
            upload_url_ttl: Duration::from_secs(3600),
            download_url_ttl: Duration::from_secs(3600),
        }
    }
}

pub(crate) fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
