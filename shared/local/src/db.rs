//! The SQLite file behind the local tables and queues.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coda_core::{CodaError, Result};
use rusqlite::{Connection, ErrorCode};
use tokio::sync::Notify;

/// Idempotent so every process start can run it.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at_ms);

CREATE TABLE IF NOT EXISTS session_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS session_messages_by_session ON session_messages (session_id, seq);

CREATE TABLE IF NOT EXISTS session_files (
    session_id TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session_id, name)
);

CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at_ms DESC, id DESC);

-- A row exactly while the job's outbox is not empty; written in the job's own transaction.
CREATE TABLE IF NOT EXISTS job_outbox (
    job_id TEXT PRIMARY KEY,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS job_outbox_by_age ON job_outbox (updated_at_ms, job_id);

CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_by_owner ON webhooks (owner, created_at_ms, id);

-- due_at_ms is next_attempt_at while pending and NULL otherwise.
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    webhook_id TEXT,
    created_at_ms INTEGER NOT NULL,
    due_at_ms INTEGER,
    body TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_webhook
    ON deliveries (webhook_id, created_at_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (due_at_ms, id) WHERE due_at_ms IS NOT NULL;

CREATE TABLE IF NOT EXISTS queue_messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_at_ms, seq);
CREATE UNIQUE INDEX IF NOT EXISTS queue_messages_receipt ON queue_messages (receipt);

CREATE TABLE IF NOT EXISTS quota_counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS quota_counters_expiry ON quota_counters (expires_at_ms);
";

/// A shared SQLite connection: clones use the same connection and wake-up signal.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    sent: Arc<Notify>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the database file at `path` and its schema.
    pub fn open(path: &Path) -> Result<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CodaError::Internal(format!(
                    "cannot create database folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let conn = Connection::open(path).map_err(sql_err)?;
        // WAL lets readers in other processes (e.g. a CLI) proceed while the server writes.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err)?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Db> {
        Self::init(Connection::open_in_memory().map_err(sql_err)?)
    }

    fn init(conn: Connection) -> Result<Db> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql_err)?;
        conn.execute_batch(SCHEMA).map_err(sql_err)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            sent: Arc::new(Notify::new()),
        })
    }

    /// Runs `f` on the connection in a blocking task.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the connection usable: SQLite
            // rolls back any open transaction when the Transaction is dropped.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| CodaError::Internal(format!("database task failed: {e}")))?
    }

    /// The signal queues on this database use to wake waiting receivers.
    pub(crate) fn sent(&self) -> &Notify {
        &self.sent
    }
}

/// Maps a SQLite error: lock contention is worth retrying, anything else is a bug or a broken file.
pub(crate) fn sql_err(e: rusqlite::Error) -> CodaError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            CodaError::Unavailable(format!("database busy: {e}"))
        }
        _ => CodaError::Internal(format!("database error: {e}")),
    }
}

/// Serialises a row body, mapping failure to an internal error.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| CodaError::Internal(format!("cannot encode row: {e}")))
}

/// Deserialises a row body, mapping failure to an internal error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| CodaError::Internal(format!("cannot decode row: {e}")))
}

/// Milliseconds since the epoch of a duration added to `now_ms`, saturating.
pub(crate) fn add_ms(now_ms: i64, d: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_is_idempotent_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/coda.db");
        drop(Db::open(&path).unwrap());
        let db = Db::open(&path).unwrap();
        let conn = db.conn.lock().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
    }

    /// A file written by the version before webhooks opens, keeps its rows and gains the new tables.
    #[tokio::test]
    async fn upgrades_a_database_without_webhook_tables() {
        use crate::repos::{SqliteDeliveryRepo, SqliteJobRepo, SqliteWebhookRepo};
        use coda_core::ports::{DeliveryRepo, JobRepo, WebhookRepo};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, \
             created_at_ms INTEGER NOT NULL, body TEXT NOT NULL, version INTEGER NOT NULL);
             CREATE INDEX jobs_by_owner ON jobs (owner, created_at_ms DESC, id DESC);",
        )
        .unwrap();
        // A job as the previous version wrote it: no `webhook` or `outbox` in the body.
        let body = r#"{"job_id":"job_old","owner":"o","kind":"probe","status":"succeeded",
            "progress":100,"params":{},"input_key":"uploads/x/a.wav","outputs":[],"error":null,
            "attempts":1,"lease_until":null,"session_id":null,
            "created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:10Z","version":3}"#;
        old.execute(
            "INSERT INTO jobs VALUES ('job_old', 'o', 1704067200000, ?1, 3)",
            [body],
        )
        .unwrap();
        drop(old);

        let db = Db::open(&path).unwrap();
        let jobs = SqliteJobRepo::new(db.clone());
        let mut job = jobs.get("job_old").await.unwrap().unwrap();
        assert_eq!((job.version, job.outbox.len()), (3, 0));
        assert!(jobs.list_with_outbox(10).await.unwrap().is_empty());
        job.outbox.push(coda_core::model::OutboxEvent {
            event_id: "msg_1".into(),
            event_type: coda_core::webhooks::WebhookEventType::JobSucceeded,
            at: job.updated_at,
        });
        jobs.update(&job).await.unwrap();
        assert_eq!(
            jobs.list_with_outbox(10).await.unwrap()[0].job_id,
            "job_old"
        );
        assert!(SqliteWebhookRepo::new(db.clone())
            .get("wh_x")
            .await
            .unwrap()
            .is_none());
        assert!(SqliteDeliveryRepo::new(db)
            .list_due(chrono::Utc::now(), 10)
            .await
            .unwrap()
            .is_empty());
    }
}
