//! Sessions, uploads and jobs as SQLite tables with optimistic concurrency.
//!
//! Each table keeps the whole row as JSON in `body`, the columns queries need
//! beside it, and a `version` column that conditional writes compare against.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use coda_core::model::{Job, Owner, Page, Session, Timestamp, Upload};
use coda_core::ports::{JobRepo, SessionRepo, UploadRepo};
use coda_core::{CodaError, Result};
use rusqlite::{params, OptionalExtension, Transaction};
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
    let (id, owner, time, version, body) = (
        row.id().to_string(),
        row.owner().to_string(),
        row.time().timestamp_millis(),
        version_to_sql(row.version())?,
        to_json(row)?,
    );
    db.call(move |conn| {
        let sql = format!(
            "INSERT OR IGNORE INTO {} (id, owner, {}, body, version) VALUES (?1, ?2, ?3, ?4, ?5)",
            T::TABLE,
            T::TIME_COLUMN
        );
        let inserted = conn
            .execute(&sql, params![id, owner, time, body, version])
            .map_err(sql_err)?;
        if inserted == 0 {
            return Err(CodaError::Conflict {
                code: "ALREADY_EXISTS",
                message: format!("{} '{id}' already exists", T::NOUN),
            });
        }
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
    let (id, owner, time, body) = (
        row.id().to_string(),
        row.owner().to_string(),
        row.time().timestamp_millis(),
        to_json(&stored)?,
    );
    db.call(move |conn| {
        // One transaction so "no row" and "lost the race" are told apart against the same snapshot.
        let tx = conn.transaction().map_err(sql_err)?;
        let sql = format!(
            "UPDATE {} SET owner = ?1, {} = ?2, body = ?3, version = ?4 WHERE id = ?5 AND version = ?6",
            T::TABLE,
            T::TIME_COLUMN
        );
        let changed = tx.execute(&sql, params![owner, time, body, next, id, expected]).map_err(sql_err)?;
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
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT body, owner, version FROM sessions WHERE expires_at_ms <= ?1 \
                         ORDER BY expires_at_ms, id LIMIT ?2",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![now_ms, limit], |r| {
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

/// The jobs table.
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

/// Encodes the keyset position after `job`.
fn encode_cursor(job: &Job) -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(to_json(&(job.created_at.timestamp_millis(), &job.job_id))?))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || CodaError::bad_request("INVALID_CURSOR", "the cursor is not one this API issued");
    let raw = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad())?;
    serde_json::from_slice(&raw).map_err(|_| bad())
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
        let after = cursor.map(decode_cursor).transpose()?;
        // An empty page could not say where the next one starts, so at least one row is read.
        let limit = limit.max(1);
        let owner = owner.0.clone();
        // One extra row tells whether another page exists without a second query.
        let fetch = i64::try_from(limit)
            .unwrap_or(i64::MAX - 1)
            .saturating_add(1);
        let mut items: Vec<Job> = self
            .db
            .call(move |conn| {
                let map = |r: &rusqlite::Row<'_>| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                };
                let rows: Vec<(String, String, i64)> = match &after {
                    None => {
                        let mut stmt = conn
                            .prepare_cached(
                                "SELECT body, owner, version FROM jobs WHERE owner = ?1 \
                                 ORDER BY created_at_ms DESC, id DESC LIMIT ?2",
                            )
                            .map_err(sql_err)?;
                        let rows = stmt
                            .query_map(params![owner, fetch], map)
                            .map_err(sql_err)?;
                        rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
                    }
                    Some((ms, id)) => {
                        let mut stmt = conn
                            .prepare_cached(
                                "SELECT body, owner, version FROM jobs WHERE owner = ?1 \
                                 AND (created_at_ms < ?2 OR (created_at_ms = ?2 AND id < ?3)) \
                                 ORDER BY created_at_ms DESC, id DESC LIMIT ?4",
                            )
                            .map_err(sql_err)?;
                        let rows = stmt
                            .query_map(params![owner, ms, id, fetch], map)
                            .map_err(sql_err)?;
                        rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
                    }
                };
                rows.into_iter()
                    .map(|(body, owner, version)| decode(&body, owner, version))
                    .collect()
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
