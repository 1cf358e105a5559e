//! Ports: what the domain needs from the outside world.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    ChatMessage, Delivery, Job, Owner, Page, Session, SessionFile, Timestamp, Upload, Webhook,
};
use crate::Result;

/// Metadata of a stored blob.
#[derive(Clone, Debug, PartialEq)]
pub struct BlobMeta {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Content type recorded at write time.
    pub content_type: String,
    /// Entity tag (content hash for the folder store).
    pub etag: String,
}

/// Bytes read from a blob, possibly a range of it.
#[derive(Clone, Debug)]
pub struct BlobData {
    /// The bytes returned.
    pub bytes: Bytes,
    /// Metadata of the whole blob.
    pub meta: BlobMeta,
}

/// Object storage (a folder locally, S3 on AWS).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes a whole object of type `ct`; with `new_only`, only where none is (`CodaError::AlreadyExists`
    /// otherwise, and of concurrent writers exactly one wins), else replacing any previous one.
    async fn write(&self, key: &str, bytes: Bytes, ct: &str, new_only: bool) -> Result<BlobMeta>;
    /// Writes a whole object, replacing any previous one.
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta> {
        self.write(key, bytes, content_type, false).await
    }
    /// Writes an object only where none is: `CodaError::AlreadyExists` otherwise.
    async fn put_new(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<BlobMeta> {
        self.write(key, bytes, content_type, true).await
    }
    /// Reads a whole object or the inclusive byte range `[start, end]`; NotFound if absent.
    async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Result<BlobData>;
    /// Metadata, or None if absent.
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>>;
    /// Deletes one object; deleting an absent one is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Deletes every object under a prefix; returns how many went.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64>;
    /// A URL that accepts one PUT of the object until it expires, and the headers that PUT must carry.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedPut>;
    /// A URL that serves the object until it expires.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String>;
}

/// An object-created event, as S3 notifications carry them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectCreated {
    /// Bucket or store name.
    pub bucket: String,
    /// Object key, decoded.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Entity tag.
    pub etag: String,
}

/// Sessions table.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Inserts a new session; `CodaError::AlreadyExists` if the id exists.
    async fn create(&self, session: &Session) -> Result<()>;
    /// Reads a session by id, expired or not.
    async fn get(&self, id: &str) -> Result<Option<Session>>;
    /// Writes `session` if its stored version still equals `session.version`; returns the stored copy.
    async fn update(&self, session: &Session) -> Result<Session>;
    /// Deletes a session row.
    async fn delete(&self, id: &str) -> Result<()>;
    /// Sessions whose `expires_at` is at or before `now`, at most `limit`.
    async fn list_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<Session>>;
}

/// What a session accumulates, kept out of its row: chat messages (append-only) and attached files.
#[async_trait]
pub trait SessionItems: Send + Sync {
    /// Appends a chat message; messages list in the order they were appended.
    async fn append_message(&self, session_id: &str, message: &ChatMessage) -> Result<()>;
    /// Appends several messages in order (one write where the store can: a chat turn's records).
    async fn append_messages(&self, session_id: &str, messages: &[ChatMessage]) -> Result<()> {
        for m in messages {
            self.append_message(session_id, m).await?;
        }
        Ok(())
    }
    /// Up to `limit` messages after `cursor`, oldest first.
    async fn list_messages(
        &self,
        session_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ChatMessage>>;
    /// The newest `limit` messages, oldest first.
    async fn latest_messages(&self, session_id: &str, limit: usize) -> Result<Vec<ChatMessage>>;
    /// Records a file, replacing the record of one with the same name.
    async fn put_file(&self, session_id: &str, file: &SessionFile) -> Result<()>;
    /// Every file of the session, by name.
    async fn list_files(&self, session_id: &str) -> Result<Vec<SessionFile>>;
    /// Removes every message and file record of the session.
    async fn delete_all(&self, session_id: &str) -> Result<()>;
}

/// Uploads table.
#[async_trait]
pub trait UploadRepo: Send + Sync {
    /// Inserts a new upload; `CodaError::AlreadyExists` if the id exists.
    async fn create(&self, upload: &Upload) -> Result<()>;
    /// Reads an upload by id.
    async fn get(&self, id: &str) -> Result<Option<Upload>>;
    /// Conditional write on `upload.version`; returns the stored copy.
    async fn update(&self, upload: &Upload) -> Result<Upload>;
}

/// Jobs table.
#[async_trait]
pub trait JobRepo: Send + Sync {
    /// Inserts a new job; `CodaError::AlreadyExists` if the id exists.
    async fn create(&self, job: &Job) -> Result<()>;
    /// Reads a job by id.
    async fn get(&self, id: &str) -> Result<Option<Job>>;
    /// Conditional write on `job.version`; returns the stored copy with the new version.
    async fn update(&self, job: &Job) -> Result<Job>;
    /// The owner's jobs, newest first.
    async fn list_by_owner(
        &self,
        owner: &Owner,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Job>>;
    /// Up to `limit` jobs whose `outbox` is not empty, oldest change first.
    async fn list_with_outbox(&self, limit: usize) -> Result<Vec<Job>>;
}

/// Webhook endpoints.
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    /// Inserts a new endpoint; `CodaError::AlreadyExists` if the id exists.
    async fn create(&self, webhook: &Webhook) -> Result<()>;
    /// Reads an endpoint by id.
    async fn get(&self, id: &str) -> Result<Option<Webhook>>;
    /// Conditional write on `webhook.version`; returns the stored copy with the new version.
    async fn update(&self, webhook: &Webhook) -> Result<Webhook>;
    /// Removes an endpoint (no error if it is gone).
    async fn delete(&self, id: &str) -> Result<()>;
    /// All of the owner's endpoints, oldest first.
    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<Webhook>>;
}

/// Webhook deliveries and their attempts.
#[async_trait]
pub trait DeliveryRepo: Send + Sync {
    /// Inserts a new delivery; `CodaError::AlreadyExists` if the id exists.
    async fn create(&self, delivery: &Delivery) -> Result<()>;
    /// Reads a delivery by id.
    async fn get(&self, id: &str) -> Result<Option<Delivery>>;
    /// Conditional write on `delivery.version`; returns the stored copy with the new version.
    async fn update(&self, delivery: &Delivery) -> Result<Delivery>;
    /// An endpoint's deliveries, newest first.
    async fn list_by_webhook(
        &self,
        webhook_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>>;
    /// Up to `limit` pending deliveries whose `next_attempt_at` is at or before `now`, earliest first.
    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>>;
}

/// A message handed out by a queue.
#[derive(Clone, Debug)]
pub struct QueueMessage {
    /// Stable id of the message.
    pub message_id: String,
    /// Handle for extend/ack; changes on every receive.
    pub receipt: String,
    /// The payload.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// A work queue with visibility timeouts and a dead-letter queue behind it.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues a message; returns its id.
    async fn send(&self, body: &str) -> Result<String>;
    /// Enqueues a message that becomes visible only after `delay` (at most 15 minutes, as on SQS).
    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<String>;
    /// Takes up to `max` visible messages, hiding them for `visibility`; waits up to `wait` for one.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>>;
    /// Changes how long a received message stays hidden (zero makes it visible now).
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<()>;
    /// Deletes a received message.
    async fn ack(&self, receipt: &str) -> Result<()>;
    /// Messages waiting or in flight (approximate on AWS).
    async fn depth(&self) -> Result<u64>;
}

/// Receives object-created events from a blob store.
#[async_trait]
pub trait ObjectEvents: Send + Sync {
    /// Called after an object is fully written.
    async fn object_created(&self, event: ObjectCreated) -> Result<()>;
}

/// The time source; injected so tests are deterministic.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The id source; injected so tests are deterministic.
pub trait IdGen: Send + Sync {
    /// A new unique id starting with `prefix` and an underscore.
    fn new_id(&self, prefix: &str) -> String;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// Random ids: prefix plus 26 lowercase base-32 characters of a v4 UUID.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl IdGen for RandomIds {
    fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
    }
}

/// Fixed-window use counters behind the quotas and rate limits.
#[async_trait]
pub trait QuotaCounters: Send + Sync {
    /// Counts one more use under `key` unless `limit` are counted already, in one
    /// atomic step: the count after, or `None` (nothing counted) at the limit.
    ///
    /// The key names its window; the count may be forgotten after `expires_at`.
    async fn take(&self, key: &str, limit: u64, expires_at: DateTime<Utc>) -> Result<Option<u64>>;
    /// Uncounts one use under `key` (a request that was refused after it was counted); never below 0.
    async fn give_back(&self, key: &str) -> Result<()>;
}

/// A signed upload: where to PUT, and the headers the PUT must send (they are part of the signature).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PresignedPut {
    /// The URL.
    pub url: String,
    /// Header names (lower case) and values, e.g. `if-none-match: *` so that only the first PUT lands.
    pub headers: Vec<(String, String)>,
}

/// Looks host names up, for webhook destinations: checked when an endpoint is
/// made and again at every connection (a name may re-point).
#[async_trait]
pub trait HostResolver: Send + Sync {
    /// The addresses `host` resolves to; an error when it does not resolve (or not in time).
    async fn lookup(&self, host: &str) -> std::result::Result<Vec<IpAddr>, String>;
}

/// The system's resolver (`getaddrinfo`: `/etc/hosts`, then DNS), bounded by a timeout.
#[derive(Clone, Copy, Debug)]
pub struct SystemResolver {
    /// How long one lookup may take.
    pub timeout: Duration,
}

impl Default for SystemResolver {
    fn default() -> Self {
        SystemResolver {
            timeout: Duration::from_secs(3),
        }
    }
}

#[async_trait]
impl HostResolver for SystemResolver {
    async fn lookup(&self, host: &str) -> std::result::Result<Vec<IpAddr>, String> {
        match tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, 0))).await {
            Ok(Ok(found)) => {
                let mut ips: Vec<IpAddr> = Vec::new();
                for a in found {
                    if !ips.contains(&a.ip()) {
                        ips.push(a.ip());
                    }
                }
                if ips.is_empty() {
                    Err(format!("{host} has no address"))
                } else {
                    Ok(ips)
                }
            }
            Ok(Err(e)) => Err(format!("{host} did not resolve: {e}")),
            Err(_) => Err(format!("{host} did not resolve within {:?}", self.timeout)),
        }
    }
}

/// Names pinned to addresses (like curl's `--resolve`), others passed to `fallback`.
///
/// Pinned addresses get the same policy checks as resolved ones.
#[derive(Clone)]
pub struct PinnedHosts {
    pinned: Vec<(String, Vec<IpAddr>)>,
    fallback: std::sync::Arc<dyn HostResolver>,
}

impl PinnedHosts {
    /// Parses `name=ip[|ip...],name=ip` (names compared without case); an empty text pins nothing.
    pub fn parse(
        text: &str,
        fallback: std::sync::Arc<dyn HostResolver>,
    ) -> std::result::Result<Self, String> {
        let mut pinned: Vec<(String, Vec<IpAddr>)> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, ips) = entry
                .split_once('=')
                .ok_or_else(|| format!("pinned host '{entry}' is not name=address"))?;
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!("pinned host '{entry}' has no name"));
            }
            let ips = ips
                .split('|')
                .map(|ip| {
                    ip.trim()
                        .parse::<IpAddr>()
                        .map_err(|_| format!("pinned host '{entry}': '{ip}' is not an IP address"))
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            pinned.push((name, ips));
        }
        Ok(PinnedHosts { pinned, fallback })
    }

    /// Whether nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty()
    }
}

#[async_trait]
impl HostResolver for PinnedHosts {
    async fn lookup(&self, host: &str) -> std::result::Result<Vec<IpAddr>, String> {
        let wanted = host.trim_end_matches('.').to_ascii_lowercase();
        match self.pinned.iter().find(|(name, _)| *name == wanted) {
            Some((_, ips)) => Ok(ips.clone()),
            None => self.fallback.lookup(host).await,
        }
    }
}

/// What came of one webhook POST.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendResult {
    /// The receiver's status code; none when no response came.
    pub status: Option<u16>,
    /// The `Retry-After` header, as sent.
    pub retry_after: Option<String>,
    /// Time to the response or the failure.
    pub latency: Duration,
    /// Why no usable response came (refused address, timeout, connection error).
    pub error: Option<String>,
    /// The destination is an address the policy refuses: retrying cannot help.
    pub refused: bool,
}

/// Posts signed webhook bodies over HTTP.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` with `headers` to `url`; never fails, the outcome is in the result.
    async fn send(&self, url: &str, headers: &[(&'static str, String)], body: &[u8]) -> SendResult;
}
