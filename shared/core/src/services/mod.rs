//! Application services: the use cases handlers call, written against ports only.

pub mod access;
pub mod ingest;
pub mod jobs;
pub mod notify;
pub mod quotas;
pub mod scores;
pub mod sessions;
pub mod uploads;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

pub use access::Access;
pub use ingest::Ingest;
pub use jobs::Jobs;
pub use notify::Notify;
pub use quotas::{QuotaPolicy, Quotas};
pub use scores::Scores;
pub use sessions::Sessions;
pub use uploads::Uploads;
pub use webhooks::Webhooks;

use crate::kinds::Kinds;
use crate::ports::{
    BlobStore, Clock, DeliveryRepo, HostResolver, IdGen, JobQueue, JobRepo, QuotaCounters,
    SessionItems, SessionRepo, UploadRepo, WebhookRepo,
};
use crate::webhooks::AddressPolicy;
use crate::{CodaError, Result};

/// The one retry policy of a read-modify-write that lost a race ([`CodaError::Stale`]): bounded, with jittered backoff.
///
/// ```text
/// let mut retry = ConflictRetry::new("job 'j'", 64);
/// loop {
///     let row = read().await?;
///     match write(row).await {
///         Err(CodaError::Stale(_)) => retry.wait().await?,
///         other => return other,
///     }
/// }
/// ```
pub struct ConflictRetry {
    what: String,
    attempts: u32,
    max: u32,
}

impl ConflictRetry {
    /// Allows `max` attempts at writing `what` (named in the error when they run out).
    pub fn new(what: impl Into<String>, max: u32) -> Self {
        ConflictRetry {
            what: what.into(),
            attempts: 1,
            max,
        }
    }

    /// After a lost race: waits before the next attempt, or fails with 503 `UNAVAILABLE` when none is left.
    ///
    /// The wait is jittered and grows to 64 ms, so writers that lost together do not collide again at once.
    pub async fn wait(&mut self) -> Result<()> {
        if self.attempts >= self.max {
            return Err(CodaError::Unavailable(format!(
                "{} is too contended to update; try again",
                self.what
            )));
        }
        let cap = 1u64 << self.attempts.min(6);
        self.attempts += 1;
        let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=cap);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    }
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

/// One adapter per port: built once in the wiring (local folder + SQLite, or AWS), and handed to every service.
#[derive(Clone)]
pub struct Adapters {
    /// Sessions table.
    pub sessions: Arc<dyn SessionRepo>,
    /// Sessions' chat messages and file records.
    pub session_items: Arc<dyn SessionItems>,
    /// Uploads table.
    pub uploads: Arc<dyn UploadRepo>,
    /// Jobs table.
    pub jobs: Arc<dyn JobRepo>,
    /// Webhook endpoints.
    pub webhooks: Arc<dyn WebhookRepo>,
    /// Webhook deliveries and their attempts.
    pub deliveries: Arc<dyn DeliveryRepo>,
    /// The jobs queue.
    pub jobs_queue: Arc<dyn JobQueue>,
    /// Its dead-letter queue.
    pub jobs_dlq: Arc<dyn JobQueue>,
    /// Object storage.
    pub blobs: Arc<dyn BlobStore>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Id source.
    pub ids: Arc<dyn IdGen>,
    /// Looks webhook host names up.
    pub resolver: Arc<dyn HostResolver>,
    /// The counters of quotas and rate limits.
    pub quota_counters: Arc<dyn QuotaCounters>,
}

/// What the services enforce beyond their ports.
#[derive(Clone)]
pub struct Policies {
    /// Limits and lifetimes.
    pub limits: Limits,
    /// Job kinds this deployment knows, and those it runs.
    pub kinds: Kinds,
    /// Which webhook destinations are accepted.
    pub webhook_policy: AddressPolicy,
    /// Requests and job submissions each user may make.
    pub quotas: QuotaPolicy,
}

/// Every use-case service, each over the ports it needs.
#[derive(Clone)]
pub struct Services {
    /// Who may read a blob.
    pub access: Access,
    /// Jobs: submit, read, cancel.
    pub jobs: Jobs,
    /// Upload slots and their bytes.
    pub uploads: Uploads,
    /// Sessions: the row, messages, files, score revisions.
    pub sessions: Sessions,
    /// A session's score: revisions, edits, undo and redo, files in any format.
    pub scores: Scores,
    /// Webhook endpoints and their deliveries.
    pub webhooks: Webhooks,
    /// Upload events to jobs.
    pub ingest: Ingest,
    /// Requests and submissions counted against the quotas.
    pub quotas: Quotas,
}

impl Services {
    /// Builds every service over `adapters` under `policies`.
    pub fn new(adapters: &Adapters, policies: &Policies) -> Self {
        let sessions = Sessions::new(adapters, policies.limits.clone());
        Services {
            access: Access::new(adapters),
            jobs: Jobs::new(adapters, policies),
            uploads: Uploads::new(adapters, policies, sessions.clone()),
            webhooks: Webhooks::new(adapters, policies.webhook_policy),
            ingest: Ingest::new(adapters, sessions.clone()),
            quotas: Quotas::new(adapters, policies.quotas.clone()),
            scores: Scores::new(adapters),
            sessions,
        }
    }
}
