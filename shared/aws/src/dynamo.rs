//! Sessions, uploads, jobs, webhooks and deliveries as DynamoDB tables with
//! optimistic concurrency.
//!
//! Every item keeps the whole row as JSON in `body`, its id in the partition
//! key `pk`, the `owner`, a numeric `version` that conditional writes compare
//! against, and the attributes its access patterns need (`expires_at_ms` and
//! `ttl` on sessions, `ttl` on uploads, `created_key` on jobs, webhooks and
//! deliveries for their listing indexes, and the sparse `outbox`/`outbox_key`
//! on jobs and `due`/`due_key` on deliveries that exist only while there is
//! work to do). `README.md` beside this crate describes the design.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use coda_core::model::{
    Delivery, DeliveryStatus, Job, Owner, Page, Session, Timestamp, Upload, Webhook,
};
use coda_core::ports::{DeliveryRepo, JobRepo, SessionRepo, UploadRepo, WebhookRepo};
use coda_core::{CodaError, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::sdk_error;
use crate::names::{
    DELIVERIES_BY_WEBHOOK_INDEX, DELIVERIES_DUE_INDEX, JOBS_BY_OWNER_INDEX, JOBS_WITH_OUTBOX_INDEX,
    WEBHOOKS_BY_OWNER_INDEX,
};

/// Partition key of every table: the row's id.
pub const PK: &str = "pk";
/// Sort key of the session items table: `m#{seq}` for a message, `f#{name}` for a file.
pub const SK: &str = "sk";
/// The whole row as JSON.
pub const BODY: &str = "body";
/// Optimistic-concurrency version (a number).
pub const VERSION: &str = "version";
/// The row's owner.
pub const OWNER: &str = "owner";
/// Epoch seconds after which DynamoDB TTL may delete the item.
pub const TTL: &str = "ttl";
/// A session's expiry in epoch milliseconds, for `list_expired`.
pub const EXPIRES_AT_MS: &str = "expires_at_ms";
/// Sort key of the listing indexes (jobs and webhooks by owner, deliveries by
/// webhook): order-preserving creation time, `#`, the row's id.
pub const CREATED_KEY: &str = "created_key";
/// Jobs only, present iff the outbox is not empty: [`PENDING`], the outbox index's hash key.
pub const OUTBOX: &str = "outbox";
/// Jobs only, beside [`OUTBOX`]: [`created_key`] of `updated_at`, the outbox index's sort key.
pub const OUTBOX_KEY: &str = "outbox_key";
/// Deliveries only, present iff the delivery has an endpoint: the by-webhook index's hash key.
pub const WEBHOOK_ID: &str = "webhook_id";
/// Deliveries only, present iff pending with a next attempt: [`PENDING`], the due index's hash key.
pub const DUE: &str = "due";
/// Deliveries only, beside [`DUE`]: [`due_key`] of `next_attempt_at`, the due index's sort key.
pub const DUE_KEY: &str = "due_key";
/// The one value of the sparse indexes' hash keys.
pub const PENDING: &str = "pending";

/// How long after a session's `expires_at` TTL may delete it: the app's sweeper
/// (`services::sessions::evict_expired`, which also deletes the session's blobs) goes first.
pub const SESSION_TTL_GRACE: Duration = Duration::from_secs(24 * 3600);

/// How long after an upload's URL expires TTL may delete its row: the row owns
/// the uploaded blob (`uploads/{id}/...`) and makes ingest idempotent until then.
pub const UPLOAD_TTL_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Longest id accepted: DynamoDB's partition keys stop at 2048 bytes.
const MAX_ID_BYTES: usize = 1024;

type Item = HashMap<String, AttributeValue>;

/// What the generic table code needs to know about a row type.
trait Row: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Noun used in error messages.
    const NOUN: &'static str;
    fn id(&self) -> &str;
    fn owner(&self) -> &str;
    fn version(&self) -> u64;
    /// Restores the fields whose attributes are authoritative over the body.
    fn restore(&mut self, owner: String, version: u64);
    /// Adds the attributes this table's access patterns need.
    fn add_attributes(&self, ttl_grace: Duration, item: &mut Item);
}

/// `instant` plus `grace`, in epoch seconds, as DynamoDB TTL reads them.
fn ttl_seconds(instant: Timestamp, grace: Duration) -> i64 {
    instant
        .timestamp()
        .saturating_add(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX))
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl Row for Session {
    const NOUN: &'static str = "session";
    fn id(&self) -> &str {
        &self.session_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn add_attributes(&self, ttl_grace: Duration, item: &mut Item) {
        item.insert(EXPIRES_AT_MS.into(), n(self.expires_at.timestamp_millis()));
        item.insert(TTL.into(), n(ttl_seconds(self.expires_at, ttl_grace)));
    }
}

impl Row for Upload {
    const NOUN: &'static str = "upload";
    fn id(&self) -> &str {
        &self.upload_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn add_attributes(&self, ttl_grace: Duration, item: &mut Item) {
        item.insert(TTL.into(), n(ttl_seconds(self.expires_at, ttl_grace)));
    }
}

impl Row for Job {
    const NOUN: &'static str = "job";
    fn id(&self) -> &str {
        &self.job_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn add_attributes(&self, _ttl_grace: Duration, item: &mut Item) {
        item.insert(
            CREATED_KEY.into(),
            s(created_key(self.created_at, &self.job_id)),
        );
        // Written by the same PutItem as the status change that filled the outbox,
        // so "ended" and "will be notified" cannot come apart.
        if !self.outbox.is_empty() {
            item.insert(OUTBOX.into(), s(PENDING));
            item.insert(
                OUTBOX_KEY.into(),
                s(created_key(self.updated_at, &self.job_id)),
            );
        }
    }
}

impl Row for Webhook {
    const NOUN: &'static str = "webhook";
    fn id(&self) -> &str {
        &self.webhook_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn add_attributes(&self, _ttl_grace: Duration, item: &mut Item) {
        item.insert(
            CREATED_KEY.into(),
            s(created_key(self.created_at, &self.webhook_id)),
        );
    }
}

impl Row for Delivery {
    const NOUN: &'static str = "delivery";
    fn id(&self) -> &str {
        &self.delivery_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn add_attributes(&self, _ttl_grace: Duration, item: &mut Item) {
        item.insert(
            CREATED_KEY.into(),
            s(created_key(self.created_at, &self.delivery_id)),
        );
        // DynamoDB refuses an empty string as an index key; such a delivery is listed under no endpoint.
        if let Some(webhook_id) = self.webhook_id.as_deref().filter(|w| !w.is_empty()) {
            item.insert(WEBHOOK_ID.into(), s(webhook_id));
        }
        if let (DeliveryStatus::Pending, Some(at)) = (self.status, self.next_attempt_at) {
            item.insert(DUE.into(), s(PENDING));
            item.insert(DUE_KEY.into(), s(due_key(at, &self.delivery_id)));
        }
    }
}

/// The listing indexes' sort key: strings sort like `(created_at, id)`.
///
/// Milliseconds become unsigned with the sign bit flipped, so instants before
/// 1970 still sort first, and are zero-padded to the 20 digits of `u64::MAX`.
pub fn created_key(created_at: Timestamp, id: &str) -> String {
    let biased = (created_at.timestamp_millis() as u64) ^ (1 << 63);
    format!("{biased:020}#{id}")
}

/// The due index's sort key: strings sort like `(instant, id)`, to the nanosecond.
///
/// Whole seconds are biased like [`created_key`]'s milliseconds (20 digits),
/// then the nanoseconds take 10 digits (chrono counts a leap second's as 1e9 and up).
pub fn due_key(at: Timestamp, id: &str) -> String {
    format!("{}#{id}", instant_digits(at))
}

/// Every [`due_key`] of an instant at or before `now` sorts strictly before this.
///
/// The keys of `now` itself are `{digits}#…`, and `#` sorts just before `$`.
fn due_bound(now: Timestamp) -> String {
    format!("{}$", instant_digits(now))
}

fn instant_digits(at: Timestamp) -> String {
    let biased = (at.timestamp() as u64) ^ (1 << 63);
    format!("{biased:020}{:010}", at.timestamp_subsec_nanos())
}

/// The row id inside a well-formed `created_key`.
fn job_id_of(created_key: &str) -> Option<&str> {
    let (digits, id) = created_key.split_at_checked(20)?;
    let id = id.strip_prefix('#')?;
    (digits.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() && id.len() <= MAX_ID_BYTES)
        .then_some(id)
}

/// What a page cursor holds: the listing-index position of the last row returned.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    after: String,
}

fn encode_cursor(created_key: &str) -> Result<String> {
    let json = serde_json::to_vec(&Cursor {
        after: created_key.to_string(),
    })
    .map_err(CodaError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a cursor into the `created_key` it points after; anything else is `INVALID_CURSOR`.
fn decode_cursor(cursor: &str) -> Result<String> {
    let bad = || CodaError::bad_request("INVALID_CURSOR", "the cursor is not one this API issued");
    let raw = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad())?;
    let c: Cursor = serde_json::from_slice(&raw).map_err(|_| bad())?;
    job_id_of(&c.after).ok_or_else(bad)?;
    Ok(c.after)
}

fn corrupt(table: &str, why: &str) -> CodaError {
    CodaError::Internal(format!("table '{table}': corrupt item: {why}"))
}

/// One DynamoDB table of rows of one type.
#[derive(Clone, Debug)]
struct Table {
    client: Client,
    name: String,
    ttl_grace: Duration,
}

/// One query of an index: its hash key equals a value and, with `below`, its sort key sorts before a bound.
struct IndexQuery<'a> {
    index: &'a str,
    hash: (&'a str, String),
    below: Option<(&'a str, String)>,
    forward: bool,
}

/// Rows listed newest first by their `created_key`.
trait HasCreatedKey {
    fn created_key(&self) -> String;
}

impl HasCreatedKey for Job {
    fn created_key(&self) -> String {
        created_key(self.created_at, &self.job_id)
    }
}

impl HasCreatedKey for Delivery {
    fn created_key(&self) -> String {
        created_key(self.created_at, &self.delivery_id)
    }
}

impl Table {
    fn encode<T: Row>(&self, row: &T) -> Result<Item> {
        let body = serde_json::to_string(row).map_err(CodaError::internal)?;
        let mut item = Item::from([
            (PK.to_string(), s(row.id())),
            (OWNER.to_string(), s(row.owner())),
            (BODY.to_string(), s(body)),
            (VERSION.to_string(), n(row.version())),
        ]);
        row.add_attributes(self.ttl_grace, &mut item);
        Ok(item)
    }

    fn decode<T: Row>(&self, item: &Item) -> Result<T> {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            _ => Err(corrupt(&self.name, &format!("'{name}' is not a string"))),
        };
        let version = match item.get(VERSION) {
            Some(AttributeValue::N(v)) => v
                .parse::<u64>()
                .map_err(|_| corrupt(&self.name, "'version' is not a whole number"))?,
            _ => return Err(corrupt(&self.name, "'version' is not a number")),
        };
        let mut row: T = serde_json::from_str(&text(BODY)?)
            .map_err(|e| corrupt(&self.name, &format!("'body': {e}")))?;
        row.restore(text(OWNER)?, version);
        Ok(row)
    }

    /// Refuses ids DynamoDB would reject as keys, so they fail as bad input rather than as errors.
    fn check_id(id: &str) -> Result<()> {
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(CodaError::bad_request(
                "INVALID_ID",
                format!("an id must be 1 to {MAX_ID_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    async fn create<T: Row>(&self, row: &T) -> Result<()> {
        Self::check_id(row.id())?;
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(self.encode(row)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(CodaError::AlreadyExists(format!(
                "{} '{}' already exists",
                T::NOUN,
                row.id()
            ))),
            Err(e) => Err(sdk_error(&format!("create {} '{}'", T::NOUN, row.id()), e)),
        }
    }

    async fn get_item(&self, id: &str) -> Result<Option<Item>> {
        if Self::check_id(id).is_err() {
            return Ok(None);
        }
        // Strongly consistent, so a read-modify-write loop sees the write that beat it.
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(PK, s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("get '{id}' from '{}'", self.name), e))?;
        Ok(out.item)
    }

    async fn get<T: Row>(&self, id: &str) -> Result<Option<T>> {
        self.get_item(id)
            .await?
            .map(|item| self.decode(&item))
            .transpose()
    }

    async fn update<T: Row>(&self, row: &T) -> Result<T> {
        let id = row.id();
        let missing = || CodaError::NotFound(format!("{} '{id}'", T::NOUN));
        if Self::check_id(id).is_err() {
            return Err(missing());
        }
        let expected = row.version();
        let next = expected
            .checked_add(1)
            .ok_or_else(|| CodaError::Internal(format!("{} '{id}' version overflow", T::NOUN)))?;
        let mut stored = row.clone();
        stored.restore(row.owner().to_string(), next);
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(self.encode(&stored)?))
            .condition_expression("attribute_exists(#pk) AND #v = :expected")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":expected", n(expected))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(stored),
            Err(e) => e,
        };
        if !is_condition_failure(&err) {
            return Err(sdk_error(&format!("update {} '{id}'", T::NOUN), err));
        }
        // The failure returns the item it saw, if there was one; without it, ask.
        let seen = match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(c)) => {
                c.item().filter(|i| !i.is_empty()).cloned()
            }
            _ => None,
        };
        let current = match seen {
            Some(item) => Some(item),
            None => self.get_item(id).await?,
        };
        match current {
            None => Err(missing()),
            Some(item) => {
                let found = match item.get(VERSION) {
                    Some(AttributeValue::N(v)) => v.clone(),
                    _ => "?".to_string(),
                };
                Err(CodaError::conflict(format!(
                    "{} '{id}' changed concurrently (expected version {expected}, found {found})",
                    T::NOUN
                )))
            }
        }
    }

    /// Rows of an index in its sort order, from after `start`, until `want` are read or the index ends.
    async fn query<T: Row>(
        &self,
        q: &IndexQuery<'_>,
        mut start: Option<Item>,
        want: usize,
    ) -> Result<Vec<T>> {
        let mut rows: Vec<T> = Vec::new();
        if want == 0 {
            return Ok(rows);
        }
        let condition = if q.below.is_some() {
            "#h = :h AND #r < :r"
        } else {
            "#h = :h"
        };
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.name)
                .index_name(q.index)
                .key_condition_expression(condition)
                .expression_attribute_names("#h", q.hash.0)
                .expression_attribute_values(":h", s(q.hash.1.clone()))
                .scan_index_forward(q.forward)
                .set_exclusive_start_key(start.take());
            if let Some((attribute, bound)) = &q.below {
                req = req
                    .expression_attribute_names("#r", *attribute)
                    .expression_attribute_values(":r", s(bound.clone()));
            }
            // Without a limit (or above i32), pages end at 1 MB only.
            if let Ok(left) = i32::try_from(want - rows.len()) {
                req = req.limit(left);
            }
            let page = req
                .send()
                .await
                .map_err(|e| sdk_error(&format!("query '{}' index '{}'", self.name, q.index), e))?;
            for item in page.items() {
                rows.push(self.decode(item)?);
            }
            // A page also ends at 1 MB of data, before the limit; then read on.
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && rows.len() < want => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(rows)
    }

    /// A page of the rows whose `hash_attribute` is `hash` in a `created_key`-sorted index, newest first.
    async fn page_newest_first<T: Row + HasCreatedKey>(
        &self,
        index: &str,
        hash_attribute: &str,
        hash: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<T>> {
        let after = cursor.map(decode_cursor).transpose()?;
        // DynamoDB refuses an empty key value; no row has one.
        if hash.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        // An empty page could not say where the next one starts, so at least one row is read.
        let limit = limit.clamp(1, i32::MAX as usize - 1);
        // The position is rebuilt from the cursor and the caller's own hash key, never the cursor's.
        let start = after.and_then(|key| {
            job_id_of(&key).map(|id| {
                Item::from([
                    (PK.to_string(), s(id)),
                    (hash_attribute.to_string(), s(hash)),
                    (CREATED_KEY.to_string(), s(key.clone())),
                ])
            })
        });
        let q = IndexQuery {
            index,
            hash: (hash_attribute, hash.to_string()),
            below: None,
            forward: false,
        };
        // One extra row tells whether another page exists without a second query.
        let mut items: Vec<T> = self.query(&q, start, limit + 1).await?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|row| encode_cursor(&row.created_key()))
                .transpose()?
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn delete(&self, id: &str) -> Result<()> {
        if Self::check_id(id).is_err() {
            return Ok(());
        }
        self.client
            .delete_item()
            .table_name(&self.name)
            .key(PK, s(id))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("delete '{id}' from '{}'", self.name), e))?;
        Ok(())
    }
}

fn is_condition_failure(
    e: &aws_sdk_dynamodb::error::SdkError<
        PutItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> bool {
    matches!(
        e.as_service_error(),
        Some(PutItemError::ConditionalCheckFailedException(_))
    )
}

/// The sessions table (`{prefix}-sessions`).
#[derive(Clone, Debug)]
pub struct DynamoSessionRepo {
    table: Table,
}

impl DynamoSessionRepo {
    /// A repo over `table`, whose items TTL may delete [`SESSION_TTL_GRACE`] after they expire.
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            table: Table {
                client,
                name: table.to_string(),
                ttl_grace: SESSION_TTL_GRACE,
            },
        }
    }

    /// Sets how long after `expires_at` the `ttl` attribute points.
    pub fn with_ttl_grace(mut self, grace: Duration) -> Self {
        self.table.ttl_grace = grace;
        self
    }
}

#[async_trait]
impl SessionRepo for DynamoSessionRepo {
    async fn create(&self, session: &Session) -> Result<()> {
        self.table.create(session).await
    }

    async fn get(&self, id: &str) -> Result<Option<Session>> {
        self.table.get(id).await
    }

    async fn update(&self, session: &Session) -> Result<Session> {
        self.table.update(session).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.table.delete(id).await
    }

    /// A filtered scan: fine for the emulator and small tables; see README.md for production.
    async fn list_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<Session>> {
        let mut found: Vec<Session> = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        let mut start: Option<Item> = None;
        loop {
            // A scan's Limit counts items read before the filter, so pages repeat until enough match.
            let page = self
                .table
                .client
                .scan()
                .table_name(&self.table.name)
                .filter_expression("#e <= :now")
                .expression_attribute_names("#e", EXPIRES_AT_MS)
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("scan '{}'", self.table.name), e))?;
            for item in page.items() {
                found.push(self.table.decode(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && found.len() < limit => start = Some(k.clone()),
                _ => break,
            }
        }
        found.sort_by(|a, b| (a.expires_at, &a.session_id).cmp(&(b.expires_at, &b.session_id)));
        found.truncate(limit);
        Ok(found)
    }
}

/// The uploads table (`{prefix}-uploads`).
#[derive(Clone, Debug)]
pub struct DynamoUploadRepo {
    table: Table,
}

impl DynamoUploadRepo {
    /// A repo over `table`, whose items TTL may delete [`UPLOAD_TTL_GRACE`] after their URL expires.
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            table: Table {
                client,
                name: table.to_string(),
                ttl_grace: UPLOAD_TTL_GRACE,
            },
        }
    }

    /// Sets how long after `expires_at` the `ttl` attribute points.
    pub fn with_ttl_grace(mut self, grace: Duration) -> Self {
        self.table.ttl_grace = grace;
        self
    }
}

#[async_trait]
impl UploadRepo for DynamoUploadRepo {
    async fn create(&self, upload: &Upload) -> Result<()> {
        self.table.create(upload).await
    }

    async fn get(&self, id: &str) -> Result<Option<Upload>> {
        self.table.get(id).await
    }

    async fn update(&self, upload: &Upload) -> Result<Upload> {
        self.table.update(upload).await
    }
}

/// The jobs table (`{prefix}-jobs`) with its owner index.
#[derive(Clone, Debug)]
pub struct DynamoJobRepo {
    table: Table,
}

impl DynamoJobRepo {
    /// A repo over `table`; listing reads the [`JOBS_BY_OWNER_INDEX`] index.
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            table: Table {
                client,
                name: table.to_string(),
                ttl_grace: Duration::ZERO,
            },
        }
    }
}

#[async_trait]
impl JobRepo for DynamoJobRepo {
    async fn create(&self, job: &Job) -> Result<()> {
        self.table.create(job).await
    }

    async fn get(&self, id: &str) -> Result<Option<Job>> {
        self.table.get(id).await
    }

    async fn update(&self, job: &Job) -> Result<Job> {
        self.table.update(job).await
    }

    async fn list_by_owner(
        &self,
        owner: &Owner,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Job>> {
        self.table
            .page_newest_first(JOBS_BY_OWNER_INDEX, OWNER, owner.as_str(), limit, cursor)
            .await
    }

    /// The sparse [`JOBS_WITH_OUTBOX_INDEX`]: only jobs with pending events are in it, oldest change first.
    async fn list_with_outbox(&self, limit: usize) -> Result<Vec<Job>> {
        let q = IndexQuery {
            index: JOBS_WITH_OUTBOX_INDEX,
            hash: (OUTBOX, PENDING.to_string()),
            below: None,
            forward: true,
        };
        self.table.query(&q, None, limit).await
    }
}

/// The webhook endpoints table (`{prefix}-webhooks`) with its owner index.
#[derive(Clone, Debug)]
pub struct DynamoWebhookRepo {
    table: Table,
}

impl DynamoWebhookRepo {
    /// A repo over `table`; listing reads the [`WEBHOOKS_BY_OWNER_INDEX`] index.
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            table: Table {
                client,
                name: table.to_string(),
                ttl_grace: Duration::ZERO,
            },
        }
    }
}

#[async_trait]
impl WebhookRepo for DynamoWebhookRepo {
    async fn create(&self, webhook: &Webhook) -> Result<()> {
        self.table.create(webhook).await
    }

    async fn get(&self, id: &str) -> Result<Option<Webhook>> {
        self.table.get(id).await
    }

    async fn update(&self, webhook: &Webhook) -> Result<Webhook> {
        self.table.update(webhook).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.table.delete(id).await
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<Webhook>> {
        if owner.as_str().is_empty() {
            return Ok(Vec::new());
        }
        let q = IndexQuery {
            index: WEBHOOKS_BY_OWNER_INDEX,
            hash: (OWNER, owner.as_str().to_string()),
            below: None,
            forward: true,
        };
        self.table.query(&q, None, usize::MAX).await
    }
}

/// The webhook deliveries table (`{prefix}-deliveries`) with its endpoint and due indexes.
#[derive(Clone, Debug)]
pub struct DynamoDeliveryRepo {
    table: Table,
}

impl DynamoDeliveryRepo {
    /// A repo over `table`; listing reads [`DELIVERIES_BY_WEBHOOK_INDEX`] and [`DELIVERIES_DUE_INDEX`].
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            table: Table {
                client,
                name: table.to_string(),
                ttl_grace: Duration::ZERO,
            },
        }
    }
}

#[async_trait]
impl DeliveryRepo for DynamoDeliveryRepo {
    async fn create(&self, delivery: &Delivery) -> Result<()> {
        self.table.create(delivery).await
    }

    async fn get(&self, id: &str) -> Result<Option<Delivery>> {
        self.table.get(id).await
    }

    async fn update(&self, delivery: &Delivery) -> Result<Delivery> {
        self.table.update(delivery).await
    }

    async fn list_by_webhook(
        &self,
        webhook_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>> {
        self.table
            .page_newest_first(
                DELIVERIES_BY_WEBHOOK_INDEX,
                WEBHOOK_ID,
                webhook_id,
                limit,
                cursor,
            )
            .await
    }

    /// The sparse [`DELIVERIES_DUE_INDEX`]: only pending deliveries are in it, earliest first.
    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>> {
        let q = IndexQuery {
            index: DELIVERIES_DUE_INDEX,
            hash: (DUE, PENDING.to_string()),
            below: Some((DUE_KEY, due_bound(now))),
            forward: true,
        };
        self.table.query(&q, None, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn created_keys_sort_like_instants() {
        let at = |ms: i64| Utc.timestamp_millis_opt(ms).unwrap();
        let keys: Vec<String> = [-5_000, -1, 0, 1, 999, 1_700_000_000_000, 4_102_444_800_000]
            .into_iter()
            .map(|ms| created_key(at(ms), "job_a"))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
        assert!(keys.iter().all(|k| k.len() == 20 + 1 + 5));
        assert!(created_key(at(5), "job_a") < created_key(at(5), "job_b"));
        assert_eq!(job_id_of(&keys[3]), Some("job_a"));
    }

    #[test]
    fn due_keys_sort_like_instants_to_the_nanosecond() {
        let at = |secs: i64, nanos: u32| Utc.timestamp_opt(secs, nanos).unwrap();
        let instants = [
            at(-5, 0),
            at(-1, 999_999_999),
            at(0, 0),
            at(0, 1),
            at(0, 999_999),
            at(0, 1_000_000),
            // chrono's leap second: nanos of 1e9 and up, after :59.999… and before the next second.
            at(59, 999_999_999),
            at(59, 1_500_000_000),
            at(60, 0),
            at(1_700_000_000, 5),
        ];
        let keys: Vec<String> = instants.iter().map(|t| due_key(*t, "dlv_a")).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
        assert!(keys.iter().all(|k| k.len() == 30 + 1 + 5));
        for (i, t) in instants.iter().enumerate() {
            let bound = due_bound(*t);
            for (j, k) in keys.iter().enumerate() {
                assert_eq!(k.as_str() < bound.as_str(), j <= i, "{k} vs bound {bound}");
            }
            // Any id, however it sorts, stays below its own instant's bound.
            assert!(due_key(*t, "~~~\u{10FFFF}").as_str() < bound.as_str());
            assert!(due_key(*t, "!").as_str() < bound.as_str());
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let key = created_key(
            Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
            "job_x#1",
        );
        let c = encode_cursor(&key).unwrap();
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode_cursor(&c).unwrap(), key);
        let forged = |json: &str| URL_SAFE_NO_PAD.encode(json);
        for bad in [
            "".to_string(),
            "!!!".to_string(),
            "AAAA".to_string(),
            forged(r#"{"x":1}"#),
            forged(r#"{"after":"123#job"}"#),
            forged(r#"{"after":"0000000000000000000a#job"}"#),
            forged(r#"{"after":"00000000000000000001#"}"#),
            forged(r#"{"after":"00000000000000000001#j","extra":1}"#),
        ] {
            assert_eq!(
                decode_cursor(&bad).unwrap_err().code(),
                "INVALID_CURSOR",
                "{bad}"
            );
        }
    }

    #[test]
    fn ttl_adds_grace_without_overflow() {
        let t = Utc.timestamp_opt(1_000, 0).unwrap();
        assert_eq!(ttl_seconds(t, Duration::from_secs(60)), 1_060);
        assert_eq!(ttl_seconds(t, Duration::MAX), i64::MAX);
    }
}
