//! Quota counters as SQLite rows: one upsert counts a use unless the limit is reached.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coda_core::ports::{Clock, QuotaCounters};
use coda_core::Result;
use rusqlite::{params, OptionalExtension};

use crate::db::{sql_err, Db};

/// Fixed-window counters in the `quota_counters` table; rows past their expiry are swept as new windows open.
#[derive(Clone)]
pub struct SqliteQuotaCounters {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl SqliteQuotaCounters {
    /// The counters in `db`; `clock` decides which rows have expired.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }
}

#[async_trait]
impl QuotaCounters for SqliteQuotaCounters {
    async fn take(&self, key: &str, limit: u64, expires_at: DateTime<Utc>) -> Result<Option<u64>> {
        let key = key.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (expires, now) = (
            expires_at.timestamp_millis(),
            self.clock.now().timestamp_millis(),
        );
        self.db
            .call(move |conn| {
                // The WHERE of the upsert makes the check and the count one statement:
                // at the limit no row is updated, so none is returned.
                let count: Option<i64> = conn
                    .query_row(
                        "INSERT INTO quota_counters (key, count, expires_at_ms) VALUES (?1, 1, ?3) \
                         ON CONFLICT(key) DO UPDATE SET count = count + 1 WHERE count < ?2 \
                         RETURNING count",
                        params![key, limit, expires],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(sql_err)?;
                if count == Some(1) {
                    // A new window opened: forget the ended ones (cheap, by index).
                    conn.execute(
                        "DELETE FROM quota_counters WHERE expires_at_ms < ?1",
                        params![now],
                    )
                    .map_err(sql_err)?;
                }
                Ok(count.map(|c| u64::try_from(c).unwrap_or(0)))
            })
            .await
    }

    async fn give_back(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE quota_counters SET count = count - 1 WHERE key = ?1 AND count > 0",
                    params![key],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }
}
