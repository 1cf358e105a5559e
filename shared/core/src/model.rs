//! Domain types: sessions, uploads, jobs and their outputs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::webhooks::WebhookEventType;

/// Instants are UTC and serialise as RFC 3339.
pub type Timestamp = DateTime<Utc>;

/// The authenticated caller: the JWT's `sub`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner(pub String);

impl Owner {
    /// The owner's id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One turn of a session's chat history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// The text of the turn.
    pub content: String,
    /// When the turn was recorded.
    pub at: DateTime<Utc>,
}

/// A file attached to a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionFile {
    /// The sanitised file name.
    pub name: String,
    /// The blob key that holds the bytes.
    pub key: String,
    /// The sniffed content type.
    pub content_type: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When the file was attached.
    pub added_at: DateTime<Utc>,
}

/// A working session's row: small and of fixed size, whatever the session holds.
///
/// Chat messages and attached files live in [`crate::ports::SessionItems`]
/// (append-only records), score revisions in blobs
/// (`sessions/{id}/score/{rev}-{token}.json`); the row only points at them,
/// so no row grows toward DynamoDB's 400 KB item limit and attaching a file
/// never contends with an edit of the score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Session id (`ses_...`).
    pub session_id: String,
    /// Owner's id.
    pub owner: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this instant the session is evicted.
    pub expires_at: DateTime<Utc>,
    /// The current score revision (1, 2, ...), once one has been stored.
    #[serde(default)]
    pub score_rev: Option<u64>,
    /// The newest revision written; above `score_rev` after an undo, so redo can return.
    #[serde(default)]
    pub score_head: u64,
    /// The blob token of each revision still kept, oldest first, ending at `score_head`
    /// (at most [`MAX_SCORE_REVISIONS`]): each write gets a fresh one, so a writer that
    /// loses the race for the row never overwrites the winner's blob.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub score_tokens: Vec<String>,
    /// Blob key of the latest rendered audio.
    pub current_audio: Option<String>,
    /// Files recorded in the row by earlier versions; new files go to `SessionItems`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legacy_files: Vec<SessionFile>,
    /// Optimistic-concurrency version; bumped by every write.
    #[serde(default)]
    pub version: u64,
}

/// How many score revisions a session keeps for undo; older ones are dropped.
pub const MAX_SCORE_REVISIONS: usize = 100;

impl Session {
    /// The oldest score revision still kept (1 without a score: then nothing is kept).
    pub fn score_oldest(&self) -> u64 {
        (self.score_head + 1).saturating_sub(self.score_tokens.len() as u64)
    }

    /// The blob key of score revision `rev`, if it is still kept.
    pub fn score_key(&self, rev: u64) -> Option<String> {
        if rev == 0 || rev > self.score_head || rev < self.score_oldest() {
            return None;
        }
        let token = &self.score_tokens[(rev - self.score_oldest()) as usize];
        Some(format!(
            "sessions/{}/score/{rev}-{token}.json",
            self.session_id
        ))
    }
}

/// Where an upload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// The signed URL was issued; no bytes yet.
    Pending,
    /// The bytes landed and the jobs were created.
    Received,
}

/// An upload slot: a signed URL that accepts one file and then starts jobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    /// Upload id (`upl_...`).
    pub upload_id: String,
    /// Owner's id.
    pub owner: String,
    /// Blob key the bytes go to.
    pub key: String,
    /// Sanitised file name.
    pub filename: String,
    /// The size the client declared.
    pub declared_size: u64,
    /// The content type the client declared (not trusted).
    pub declared_content_type: String,
    /// The content type sniffed from the bytes, once they land.
    pub content_type: Option<String>,
    /// Job kinds to start once the bytes land.
    pub jobs: Vec<JobKind>,
    /// Params of those jobs, by kind (checked when the slot was issued); a kind not listed takes none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub job_params: BTreeMap<String, Value>,
    /// The session the file joins, if any.
    pub session_id: Option<String>,
    /// Pending or received.
    pub state: UploadState,
    /// Entity tag of the received object, for idempotent ingest.
    pub etag: Option<String>,
    /// Ids of the jobs ingest created.
    pub job_ids: Vec<String>,
    /// For a score file uploaded into a session: the revision it became, or why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<UploadScore>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The signed URL stops working after this instant.
    pub expires_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    #[serde(default)]
    pub version: u64,
}

/// What became of a score file (MusicXML, MXL or MIDI) uploaded into a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadScore {
    /// The session's score revision the file became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
    /// Why it did not: the reader's code (`INVALID_SCORE`, `SCORE_ENTITY`, ...) and where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
}

pub use crate::kinds::JobKind;

/// A reference to another job's output, `job:{id}/{output}`, as a job input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOutputRef {
    /// The job that writes it.
    pub job_id: String,
    /// The output's name: its file name or the file's stem (`bass` for `bass.wav`).
    pub output: String,
}

impl JobOutputRef {
    /// Parses `job:{id}/{output}`; `None` for anything else (a blob key).
    pub fn parse(input: &str) -> Option<JobOutputRef> {
        let (job_id, output) = input.strip_prefix("job:")?.split_once('/')?;
        Some(JobOutputRef {
            job_id: job_id.to_string(),
            output: output.to_string(),
        })
    }

    /// The output of `job` this names, if it wrote one.
    pub fn find<'a>(&self, job: &'a Job) -> Option<&'a Output> {
        job.outputs.iter().find(|o| {
            o.name == self.output
                || o.name
                    .rsplit_once('.')
                    .is_some_and(|(stem, _)| stem == self.output)
        })
    }
}

/// Lifecycle of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting on the queue (also between retries).
    Queued,
    /// A worker holds it.
    Running,
    /// Finished with outputs.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped by its owner.
    Canceled,
}

impl JobStatus {
    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

/// One result file of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Output {
    /// File name, e.g. `probe.json`.
    pub name: String,
    /// Blob key under `results/{job_id}/`.
    pub key: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Why a job failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    /// Stable code, e.g. `INVALID_AUDIO`.
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
}

/// An asynchronous unit of work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Job id (`job_...`).
    pub job_id: String,
    /// Owner's id.
    pub owner: String,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub status: JobStatus,
    /// 0..=100.
    pub progress: u8,
    /// Kind-specific parameters.
    pub params: Value,
    /// The blob of its first input (`""` for a kind without inputs); kept for clients of one-input jobs.
    pub input_key: String,
    /// Every input by name: a blob key, or `job:{id}/{output}` for another job's output.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// The files it wrote.
    pub outputs: Vec<Output>,
    /// What a succeeded job wants the user to know (words guessed, notes out of range, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The last error: final once failed, informative while retrying.
    pub error: Option<JobError>,
    /// How many times a worker has started it.
    pub attempts: u32,
    /// A worker's claim: another worker may take the job only after this instant.
    pub lease_until: Option<Timestamp>,
    /// The session it belongs to, if any.
    pub session_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: u64,
    /// A one-off webhook for this job alone, given at submit time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<JobWebhook>,
    /// Events written with the status change that caused them, waiting to become deliveries.
    ///
    /// Keeping them in the job's own row makes "ended" and "will be notified"
    /// one conditional write, so a crash between the two cannot lose an event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<OutboxEvent>,
}

/// A job's own webhook: where to post its events and the secret that signs them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobWebhook {
    /// The receiver's URL.
    pub url: String,
    /// `whsec_...`, returned once in the submit response.
    pub secret: String,
}

/// An event in a job's outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// The message id (`msg_...`): the `webhook-id` every delivery of this event carries.
    pub event_id: String,
    /// What happened.
    pub event_type: WebhookEventType,
    /// When it happened.
    pub at: Timestamp,
}

/// A user's webhook endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Endpoint id (`wh_...`).
    pub webhook_id: String,
    /// Owner's id.
    pub owner: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<WebhookEventType>,
    /// Free text from the owner.
    pub description: Option<String>,
    /// `whsec_...`, shown only on create and rotate.
    pub secret: String,
    /// Why deliveries stopped (`410 Gone` from the receiver); `None` while active.
    pub disabled_reason: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version.
    pub version: u64,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx was received.
    Delivered,
    /// Gave up: the schedule ran out, the endpoint was disabled, or the address is refused.
    Failed,
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The receiver's status code; none when no response came.
    pub status_code: Option<u16>,
    /// Time to the response (or the failure), in milliseconds.
    pub latency_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// One event on its way to one endpoint; retries reuse it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Delivery id (`dlv_...`), derived from the event and the endpoint so it is created once.
    pub delivery_id: String,
    /// Owner's id.
    pub owner: String,
    /// The endpoint; `None` for a job's one-off webhook.
    pub webhook_id: Option<String>,
    /// The job whose event it carries.
    pub job_id: String,
    /// The `webhook-id` header: the same on every attempt and redelivery.
    pub event_id: String,
    /// What happened.
    pub event_type: WebhookEventType,
    /// Where it goes.
    pub url: String,
    /// The exact body, fixed when the event happened so every attempt signs the same bytes.
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due while pending.
    pub next_attempt_at: Option<Timestamp>,
    /// A sender's claim: nobody else sends it before this instant.
    pub lease_until: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version.
    pub version: u64,
}

/// A page of results and the cursor for the next one.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}
