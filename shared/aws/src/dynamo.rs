//! Sessions, uploads and jobs as DynamoDB tables with optimistic concurrency.
//!
//! Every item keeps the whole row as JSON in `body`, its id in the partition
//! key `pk`, the `owner`, a numeric `version` that conditional writes compare
//! against, and the attributes its access patterns need (`expires_at_ms` and
//! `ttl` on sessions, `ttl` on uploads, `created_key` on jobs for the owner
//! index). `README.md` beside this crate describes the design.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use coda_core::model::{Job, Owner, Page, Session, Timestamp, Upload};
use coda_core::ports::{JobRepo, SessionRepo, UploadRepo};
use coda_core::{CodaError, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::sdk_error;
use crate::names::JOBS_BY_OWNER_INDEX;

/// Partition key of every table: the row's id.
pub const PK: &str = "pk";
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
/// Sort key of the jobs' owner index: order-preserving creation time, `#`, job id.
pub const CREATED_KEY: &str = "created_key";

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
    }
}

/// The owner index's sort key: strings sort like `(created_at, job_id)`.
///
/// Milliseconds become unsigned with the sign bit flipped, so instants before
/// 1970 still sort first, and are zero-padded to the 20 digits of `u64::MAX`.
pub fn created_key(created_at: Timestamp, job_id: &str) -> String {
    let biased = (created_at.timestamp_millis() as u64) ^ (1 << 63);
    format!("{biased:020}#{job_id}")
}

/// The job id inside a well-formed `created_key`.
fn job_id_of(created_key: &str) -> Option<&str> {
    let (digits, id) = created_key.split_at_checked(20)?;
    let id = id.strip_prefix('#')?;
    (digits.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() && id.len() <= MAX_ID_BYTES)
        .then_some(id)
}

/// What a page cursor holds: the owner-index position of the last job returned.
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
            Err(e) if is_condition_failure(&e) => Err(CodaError::Conflict {
                code: "ALREADY_EXISTS",
                message: format!("{} '{}' already exists", T::NOUN, row.id()),
            }),
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
        let after = cursor.map(decode_cursor).transpose()?;
        // An empty page could not say where the next one starts, so at least one row is read.
        let limit = limit.clamp(1, i32::MAX as usize - 1);
        // One extra item tells whether another page exists without a second query.
        let want = limit + 1;
        let mut start: Option<Item> = after.and_then(|key| {
            job_id_of(&key).map(|id| {
                Item::from([
                    (PK.to_string(), s(id)),
                    (OWNER.to_string(), s(owner.as_str())),
                    (CREATED_KEY.to_string(), s(key.clone())),
                ])
            })
        });
        let mut items: Vec<Job> = Vec::new();
        loop {
            let page = self
                .table
                .client
                .query()
                .table_name(&self.table.name)
                .index_name(JOBS_BY_OWNER_INDEX)
                .key_condition_expression("#o = :o")
                .expression_attribute_names("#o", OWNER)
                .expression_attribute_values(":o", s(owner.as_str()))
                .scan_index_forward(false)
                .limit(i32::try_from(want - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("query '{}'", self.table.name), e))?;
            for item in page.items() {
                items.push(self.table.decode(item)?);
            }
            // A page also ends at 1 MB of data, before the limit; then read on.
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && items.len() < want => start = Some(k.clone()),
                _ => break,
            }
        }
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|j| encode_cursor(&created_key(j.created_at, &j.job_id)))
                .transpose()?
        } else {
            None
        };
        Ok(Page { items, next_cursor })
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
