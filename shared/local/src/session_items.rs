//! A session's chat messages and file records as SQLite rows, outside the session's own row.

use async_trait::async_trait;
use coda_core::model::{ChatMessage, Page, SessionFile};
use coda_core::ports::SessionItems;
use coda_core::{CodaError, Result};
use rusqlite::params;

use crate::db::{from_json, sql_err, to_json, Db};

/// Messages (append-only, by sequence) and files (one row per name) of every session.
#[derive(Clone, Debug)]
pub struct SqliteSessionItems {
    db: Db,
}

impl SqliteSessionItems {
    /// The records in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn bad_cursor() -> CodaError {
    CodaError::bad_request("INVALID_CURSOR", "cursor is not one this listing returned")
}

#[async_trait]
impl SessionItems for SqliteSessionItems {
    async fn append_message(&self, session_id: &str, message: &ChatMessage) -> Result<()> {
        let (sid, body) = (session_id.to_string(), to_json(message)?);
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO session_messages (session_id, body) VALUES (?1, ?2)",
                    params![sid, body],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn append_messages(&self, session_id: &str, messages: &[ChatMessage]) -> Result<()> {
        let sid = session_id.to_string();
        let bodies = messages.iter().map(to_json).collect::<Result<Vec<_>>>()?;
        // One transaction: one sync of the log for the whole turn, and all or none of it.
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(sql_err)?;
                for body in bodies {
                    tx.execute(
                        "INSERT INTO session_messages (session_id, body) VALUES (?1, ?2)",
                        params![sid, body],
                    )
                    .map_err(sql_err)?;
                }
                tx.commit().map_err(sql_err)
            })
            .await
    }

    async fn list_messages(
        &self,
        session_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ChatMessage>> {
        let after: i64 = match cursor {
            Some(c) => c.parse().map_err(|_| bad_cursor())?,
            None => 0,
        };
        let sid = session_id.to_string();
        let limit = limit.max(1);
        let take = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String)> = self
            .db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT seq, body FROM session_messages WHERE session_id = ?1 AND seq > ?2 \
                         ORDER BY seq LIMIT ?3",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![sid, after, take], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(sql_err)?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(rows)
            })
            .await?;
        let more = rows.len() > limit;
        let rows = &rows[..rows.len().min(limit)];
        Ok(Page {
            next_cursor: if more {
                rows.last().map(|(seq, _)| seq.to_string())
            } else {
                None
            },
            items: rows
                .iter()
                .map(|(_, body)| from_json(body))
                .collect::<Result<_>>()?,
        })
    }

    async fn latest_messages(&self, session_id: &str, limit: usize) -> Result<Vec<ChatMessage>> {
        let sid = session_id.to_string();
        let take = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut bodies: Vec<String> = self
            .db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT body FROM session_messages WHERE session_id = ?1 \
                         ORDER BY seq DESC LIMIT ?2",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![sid, take], |r| r.get(0))
                    .map_err(sql_err)?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(rows)
            })
            .await?;
        bodies.reverse();
        bodies.iter().map(|b| from_json(b)).collect()
    }

    async fn put_file(&self, session_id: &str, file: &SessionFile) -> Result<()> {
        let (sid, name, body) = (session_id.to_string(), file.name.clone(), to_json(file)?);
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO session_files (session_id, name, body) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (session_id, name) DO UPDATE SET body = excluded.body",
                    params![sid, name, body],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn list_files(&self, session_id: &str) -> Result<Vec<SessionFile>> {
        let sid = session_id.to_string();
        let bodies: Vec<String> = self
            .db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare("SELECT body FROM session_files WHERE session_id = ?1 ORDER BY name")
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![sid], |r| r.get(0))
                    .map_err(sql_err)?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(sql_err)?;
                Ok(rows)
            })
            .await?;
        bodies.iter().map(|b| from_json(b)).collect()
    }

    async fn delete_all(&self, session_id: &str) -> Result<()> {
        let sid = session_id.to_string();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(sql_err)?;
                tx.execute(
                    "DELETE FROM session_messages WHERE session_id = ?1",
                    params![sid],
                )
                .map_err(sql_err)?;
                tx.execute(
                    "DELETE FROM session_files WHERE session_id = ?1",
                    params![sid],
                )
                .map_err(sql_err)?;
                tx.commit().map_err(sql_err)
            })
            .await
    }
}
