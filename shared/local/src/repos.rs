//! Sessions, uploads, jobs, webhooks and deliveries as SQLite tables with optimistic concurrency.
//!
//! Each table keeps the whole row as JSON in `body`, the columns queries need
//! beside it, and a `version` column that conditional writes compare against.
//! Side tables a row keeps in step (a job's `job_outbox` entry) are written in
//! the same transaction as the row itself.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use coda_core::model::{
    Delivery, DeliveryStatus, Job, Owner, Page, Session, Timestamp, Upload, Webhook,
};
use coda_core::ports::{DeliveryRepo, JobRepo, SessionRepo, UploadRepo, WebhookRepo};
use coda_core::{CodaError, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db::{from_json, sql_err, to_json, Db};

/// What the generic table code needs to know about a row type.
trait Row: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Table name (a constant, never user input).
    const TABLE: &'static str;
    /// The indexed instant column (a constant, never user input).
    const TIME_COLUMN: &'static str;
    /// Noun used in error messages.
    const NOUN: &'static str;
    fn id(&self) -> &str;
    fn owner(&self) -> &str;
    /// Value of `TIME_COLUMN`.
    fn time(&self) -> Timestamp;
    fn version(&self) -> u64;
    /// Restores the fields the JSON body may not carry.
    fn restore(&mut self, owner: String, version: u64);
    fn set_version(&mut self, version: u64);
    /// Further indexed columns beyond id, owner, `TIME_COLUMN`, body and version (constants, never user input).
    const EXTRA_COLUMNS: &'static [&'static str] = &[];
    /// Values of `EXTRA_COLUMNS`, in the same order.
    fn extra_values(&self) -> Vec<SqlValue> {
        Vec::new()
    }
    /// Brings side tables in step with this row; runs in the transaction that writes it.
    fn write_side_tables(&self, _tx: &Transaction<'_>) -> Result<()> {
        Ok(())
    }
}

impl Row for Session {
    const TABLE: &'static str = "sessions";
    const TIME_COLUMN: &'static str = "expires_at_ms";
    const NOUN: &'static str = "session";
    fn id(&self) -> &str {
        &self.session_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn time(&self) -> Timestamp {
        self.expires_at
    }
    fn version(&self) -> u64 {
        self.version
    }
    // The columns are authoritative: the body's serde attributes may skip owner and version (they keep them from clients).
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}

impl Row for Upload {
    const TABLE: &'static str = "uploads";
    const TIME_COLUMN: &'static str = "created_at_ms";
    const NOUN: &'static str = "upload";
    fn id(&self) -> &str {
        &self.upload_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn time(&self) -> Timestamp {
        self.created_at
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}

impl Row for Job {
    const TABLE: &'static str = "jobs";
    const TIME_COLUMN: &'static str = "created_at_ms";
    const NOUN: &'static str = "job";
    fn id(&self) -> &str {
        &self.job_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn time(&self) -> Timestamp {
        self.created_at
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
    // `job_outbox` holds a row exactly while the outbox is not empty, so the
    // status change and its pending events commit or roll back together.
    fn write_side_tables(&self, tx: &Transaction<'_>) -> Result<()> {
        if self.outbox.is_empty() {
            tx.execute(
                "DELETE FROM job_outbox WHERE job_id = ?1",
                params![self.job_id],
            )
        } else {
            tx.execute(
                "INSERT INTO job_outbox (job_id, updated_at_ms) VALUES (?1, ?2) \
                 ON CONFLICT (job_id) DO UPDATE SET updated_at_ms = excluded.updated_at_ms",
                params![self.job_id, self.updated_at.timestamp_millis()],
            )
        }
        .map_err(sql_err)?;
        Ok(())
    }
}

impl Row for Webhook {
    const TABLE: &'static str = "webhooks";
    const TIME_COLUMN: &'static str = "created_at_ms";
    const NOUN: &'static str = "webhook";
    fn id(&self) -> &str {
        &self.webhook_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn time(&self) -> Timestamp {
        self.created_at
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
}

impl Row for Delivery {
    const TABLE: &'static str = "deliveries";
    const TIME_COLUMN: &'static str = "created_at_ms";
    const NOUN: &'static str = "delivery";
    fn id(&self) -> &str {
        &self.delivery_id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn time(&self) -> Timestamp {
        self.created_at
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn restore(&mut self, owner: String, version: u64) {
        self.owner = owner;
        self.version = version;
    }
    fn set_version(&mut self, version: u64) {
        self.version = version;
    }
    const EXTRA_COLUMNS: &'static [&'static str] = &["webhook_id", "due_at_ms"];
    // `due_at_ms` is set only while pending, so the due index holds only sendable rows.
    fn extra_values(&self) -> Vec<SqlValue> {
        let due = match (self.status, self.next_attempt_at) {
            (DeliveryStatus::Pending, Some(at)) => SqlValue::Integer(at.timestamp_millis()),
            _ => SqlValue::Null,
        };
        let webhook = self
            .webhook_id
            .clone()
            .map_or(SqlValue::Null, SqlValue::Text);
        vec![webhook, due]
    }
}

fn version_to_sql(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| CodaError::Internal(format!("version {v} does not fit the table")))
}

/// Decodes a stored row and restores owner and version from their columns.
fn decode<T: Row>(body: &str, owner: String, version: i64) -> Result<T> {
    let mut row: T = from_json(body)?;
    row.restore(owner, u64::try_from(version).unwrap_or(0));
    Ok(row)
}

async fn create_row<T: Row>(db: &Db, row: &T) -> Result<()> {
    let mut values = vec![
        SqlValue::Text(row.id().to_string()),
        SqlValue::Text(row.owner().to_string()),
        SqlValue::Integer(row.time().timestamp_millis()),
        SqlValue::Text(to_json(row)?),
        SqlValue::Integer(version_to_sql(row.version())?),
    ];
    values.extend(row.extra_values());
    let row = row.clone();
    db.call(move |conn| {
        let columns: Vec<&str> = ["id", "owner", T::TIME_COLUMN, "body", "version"]
            .into_iter()
            .chain(T::EXTRA_COLUMNS.iter().copied())
            .collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT OR IGNORE INTO {} ({}) VALUES ({})",
            T::TABLE,
            columns.join(", "),
            placeholders.join(", ")
        );
        let tx = conn.transaction().map_err(sql_err)?;
        let inserted = tx
            .execute(&sql, params_from_iter(values))
            .map_err(sql_err)?;
        if inserted == 0 {
            return Err(CodaError::AlreadyExists(format!(
                "{} '{}' already exists",
                T::NOUN,
                row.id()
            )));
        }
        row.write_side_tables(&tx)?;
        tx.commit().map_err(sql_err)?;
        Ok(())
    })
    .await
}

async fn get_row<T: Row>(db: &Db, id: &str) -> Result<Option<T>> {
    let id = id.to_string();
    db.call(move |conn| {
        let sql = format!(
            "SELECT body, owner, version FROM {} WHERE id = ?1",
            T::TABLE
        );
        let found = conn
            .query_row(&sql, params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()
            .map_err(sql_err)?;
        found
            .map(|(body, owner, version)| decode(&body, owner, version))
            .transpose()
    })
    .await
}

async fn update_row<T: Row>(db: &Db, row: &T) -> Result<T> {
    let expected = version_to_sql(row.version())?;
    let next = expected.checked_add(1).ok_or_else(|| {
        CodaError::Internal(format!("{} '{}' version overflow", T::NOUN, row.id()))
    })?;
    let mut stored = row.clone();
    stored.set_version(next as u64);
    let id = row.id().to_string();
    let mut values = vec![
        SqlValue::Text(row.owner().to_string()),
        SqlValue::Integer(row.time().timestamp_millis()),
        SqlValue::Text(to_json(&stored)?),
        SqlValue::Integer(next),
    ];
    values.extend(stored.extra_values());
    db.call(move |conn| {
        let sets: Vec<String> = ["owner", T::TIME_COLUMN, "body", "version"]
            .into_iter()
            .chain(T::EXTRA_COLUMNS.iter().copied())
            .enumerate()
            .map(|(i, c)| format!("{c} = ?{}", i + 1))
            .collect();
        let n = sets.len();
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ?{} AND version = ?{}",
            T::TABLE,
            sets.join(", "),
            n + 1,
            n + 2
        );
        values.push(SqlValue::Text(id.clone()));
        values.push(SqlValue::Integer(expected));
        // One transaction so "no row" and "lost the race" are told apart against the same snapshot.
        let tx = conn.transaction().map_err(sql_err)?;
        let changed = tx
            .execute(&sql, params_from_iter(values))
            .map_err(sql_err)?;
        if changed == 0 {
            let current = current_version(&tx, T::TABLE, &id)?;
            return Err(match current {
                None => CodaError::NotFound(format!("{} '{id}'", T::NOUN)),
                Some(v) => CodaError::conflict(format!(
                    "{} '{id}' changed concurrently (expected version {expected}, found {v})",
                    T::NOUN
                )),
            });
        }
        stored.write_side_tables(&tx)?;
        tx.commit().map_err(sql_err)?;
        Ok(stored)
    })
    .await
}

fn current_version(tx: &Transaction<'_>, table: &str, id: &str) -> Result<Option<i64>> {
    tx.query_row(
        &format!("SELECT version FROM {table} WHERE id = ?1"),
        params![id],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err)
}

async fn delete_row<T: Row>(db: &Db, id: &str) -> Result<()> {
    let id = id.to_string();
    db.call(move |conn| {
        conn.execute(
            &format!("DELETE FROM {} WHERE id = ?1", T::TABLE),
            params![id],
        )
        .map_err(sql_err)?;
        Ok(())
    })
    .await
}

/// The sessions table.
#[derive(Clone, Debug)]
pub struct SqliteSessionRepo {
    db: Db,
}

impl SqliteSessionRepo {
    /// A repo over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl SessionRepo for SqliteSessionRepo {
    async fn create(&self, session: &Session) -> Result<()> {
        create_row(&self.db, session).await
    }

    async fn get(&self, id: &str) -> Result<Option<Session>> {
        get_row(&self.db, id).await
    }

    async fn update(&self, session: &Session) -> Result<Session> {
        update_row(&self.db, session).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        delete_row::<Session>(&self.db, id).await
    }

    async fn list_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<Session>> {
        let now_ms = now.timestamp_millis();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .call(move |conn| {
                select_rows(
                    conn,
                    "SELECT body, owner, version FROM sessions WHERE expires_at_ms <= ?1 \
                     ORDER BY expires_at_ms, id LIMIT ?2",
                    params![now_ms, limit],
                )
            })
            .await
    }
}

/// The uploads table.
#[derive(Clone, Debug)]
pub struct SqliteUploadRepo {
    db: Db,
}

impl SqliteUploadRepo {
    /// A repo over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl UploadRepo for SqliteUploadRepo {
    async fn create(&self, upload: &Upload) -> Result<()> {
        create_row(&self.db, upload).await
    }

    async fn get(&self, id: &str) -> Result<Option<Upload>> {
        get_row(&self.db, id).await
    }

    async fn update(&self, upload: &Upload) -> Result<Upload> {
        update_row(&self.db, upload).await
    }
}

/// Runs a query whose columns are `body, owner, version` and decodes every row.
fn select_rows<T: Row>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(sql_err)?;
    rows.map(|r| {
        let (body, owner, version) = r.map_err(sql_err)?;
        decode(&body, owner, version)
    })
    .collect()
}

/// Encodes the keyset position after `row`: its `TIME_COLUMN` value and id.
fn encode_cursor<T: Row>(row: &T) -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(to_json(&(row.time().timestamp_millis(), row.id()))?))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || CodaError::bad_request("INVALID_CURSOR", "the cursor is not one this API issued");
    let raw = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad())?;
    serde_json::from_slice(&raw).map_err(|_| bad())
}

/// Rows whose `column` equals `value`, newest `TIME_COLUMN` first (ties by id, descending), a page at a time.
///
/// `column` is a constant; the table needs an index on `(column, TIME_COLUMN DESC, id DESC)`.
async fn list_page<T: Row>(
    db: &Db,
    column: &'static str,
    value: String,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<T>> {
    let after = cursor.map(decode_cursor).transpose()?;
    // An empty page could not say where the next one starts, so at least one row is read.
    let limit = limit.max(1);
    // One extra row tells whether another page exists without a second query.
    let fetch = i64::try_from(limit)
        .unwrap_or(i64::MAX - 1)
        .saturating_add(1);
    let mut items: Vec<T> = db
        .call(move |conn| {
            let (table, time) = (T::TABLE, T::TIME_COLUMN);
            match &after {
                None => select_rows(
                    conn,
                    &format!(
                        "SELECT body, owner, version FROM {table} WHERE {column} = ?1 \
                         ORDER BY {time} DESC, id DESC LIMIT ?2"
                    ),
                    params![value, fetch],
                ),
                Some((ms, id)) => select_rows(
                    conn,
                    &format!(
                        "SELECT body, owner, version FROM {table} WHERE {column} = ?1 \
                         AND ({time} < ?2 OR ({time} = ?2 AND id < ?3)) \
                         ORDER BY {time} DESC, id DESC LIMIT ?4"
                    ),
                    params![value, ms, id, fetch],
                ),
            }
        })
        .await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(encode_cursor).transpose()?
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// The jobs table, and `job_outbox`: the ids of jobs with events waiting.
#[derive(Clone, Debug)]
pub struct SqliteJobRepo {
    db: Db,
}

impl SqliteJobRepo {
    /// A repo over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl JobRepo for SqliteJobRepo {
    async fn create(&self, job: &Job) -> Result<()> {
        create_row(&self.db, job).await
    }

    async fn get(&self, id: &str) -> Result<Option<Job>> {
        get_row(&self.db, id).await
    }

    async fn update(&self, job: &Job) -> Result<Job> {
        update_row(&self.db, job).await
    }

    async fn list_by_owner(
        &self,
        owner: &Owner,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Job>> {
        list_page(&self.db, "owner", owner.0.clone(), limit, cursor).await
    }

    async fn list_with_outbox(&self, limit: usize) -> Result<Vec<Job>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .call(move |conn| {
                select_rows(
                    conn,
                    "SELECT j.body, j.owner, j.version FROM job_outbox o \
                     JOIN jobs j ON j.id = o.job_id \
                     ORDER BY o.updated_at_ms, o.job_id LIMIT ?1",
                    params![limit],
                )
            })
            .await
    }
}

/// The webhook endpoints table.
#[derive(Clone, Debug)]
pub struct SqliteWebhookRepo {
    db: Db,
}

impl SqliteWebhookRepo {
    /// A repo over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl WebhookRepo for SqliteWebhookRepo {
    async fn create(&self, webhook: &Webhook) -> Result<()> {
        create_row(&self.db, webhook).await
    }

    async fn get(&self, id: &str) -> Result<Option<Webhook>> {
        get_row(&self.db, id).await
    }

    async fn update(&self, webhook: &Webhook) -> Result<Webhook> {
        update_row(&self.db, webhook).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        delete_row::<Webhook>(&self.db, id).await
    }

    async fn list_by_owner(&self, owner: &Owner) -> Result<Vec<Webhook>> {
        let owner = owner.0.clone();
        self.db
            .call(move |conn| {
                select_rows(
                    conn,
                    "SELECT body, owner, version FROM webhooks WHERE owner = ?1 \
                     ORDER BY created_at_ms, id",
                    params![owner],
                )
            })
            .await
    }
}

/// The webhook deliveries table.
#[derive(Clone, Debug)]
pub struct SqliteDeliveryRepo {
    db: Db,
}

impl SqliteDeliveryRepo {
    /// A repo over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl DeliveryRepo for SqliteDeliveryRepo {
    async fn create(&self, delivery: &Delivery) -> Result<()> {
        create_row(&self.db, delivery).await
    }

    async fn get(&self, id: &str) -> Result<Option<Delivery>> {
        get_row(&self.db, id).await
    }

    async fn update(&self, delivery: &Delivery) -> Result<Delivery> {
        update_row(&self.db, delivery).await
    }

    async fn list_by_webhook(
        &self,
        webhook_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>> {
        list_page(
            &self.db,
            "webhook_id",
            webhook_id.to_string(),
            limit,
            cursor,
        )
        .await
    }

    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>> {
        let now_ms = now.timestamp_millis();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .call(move |conn| {
                // Leases are not filtered here: the caller skips held rows.
                select_rows(
                    conn,
                    "SELECT body, owner, version FROM deliveries WHERE due_at_ms <= ?1 \
                     ORDER BY due_at_ms, id LIMIT ?2",
                    params![now_ms, limit],
                )
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listings are served by their indexes, not by scanning the table.
    #[tokio::test]
    async fn listings_use_their_indexes() {
        let db = Db::open_in_memory().unwrap();
        let plans = db
            .call(|conn| {
                let plan = |sql: &str| -> Result<String> {
                    let mut stmt = conn
                        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                        .map_err(sql_err)?;
                    let rows = stmt
                        .query_map([], |r| r.get::<_, String>(3))
                        .map_err(sql_err)?;
                    Ok(rows
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map_err(sql_err)?
                        .join("; "))
                };
                Ok(vec![
                    plan(
                        "SELECT body FROM deliveries WHERE webhook_id = 'w' \
                         AND (created_at_ms < 5 OR (created_at_ms = 5 AND id < 'x')) \
                         ORDER BY created_at_ms DESC, id DESC LIMIT 3",
                    )?,
                    plan(
                        "SELECT body FROM deliveries WHERE due_at_ms <= 5 \
                         ORDER BY due_at_ms, id LIMIT 3",
                    )?,
                    plan("SELECT body FROM webhooks WHERE owner = 'o' ORDER BY created_at_ms, id")?,
                    plan(
                        "SELECT j.body FROM job_outbox o JOIN jobs j ON j.id = o.job_id \
                         ORDER BY o.updated_at_ms, o.job_id LIMIT 3",
                    )?,
                ])
            })
            .await
            .unwrap();
        for (plan, index) in plans.iter().zip([
            "deliveries_by_webhook",
            "deliveries_due",
            "webhooks_by_owner",
            "job_outbox_by_age",
        ]) {
            assert!(plan.contains(index), "{index}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "sorts in memory: {plan}");
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let raw = URL_SAFE_NO_PAD.encode(br#"[1700000000123,"job_x"]"#);
        assert_eq!(
            decode_cursor(&raw).unwrap(),
            (1_700_000_000_123, "job_x".to_string())
        );
        for bad in ["", "!!!", "bm90IGpzb24", &URL_SAFE_NO_PAD.encode(b"[1]")] {
            assert_eq!(
                decode_cursor(bad).unwrap_err().code(),
                "INVALID_CURSOR",
                "{bad}"
            );
        }
    }
}
