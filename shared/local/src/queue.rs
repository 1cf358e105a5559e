//! A durable work queue in SQLite with SQS semantics: visibility timeouts,
//! per-receive receipts and redrive to a dead-letter queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use coda_core::ports::{Clock, JobQueue, QueueMessage};
use coda_core::{CodaError, Result};
use rusqlite::params;

use crate::db::{add_ms, sql_err, Db};

/// How often an empty long poll looks again when no send wakes it.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// One named queue in the shared `queue_messages` table.
#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    name: String,
    dead_letter: Option<(String, u32)>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("name", &self.name)
            .field("dead_letter", &self.dead_letter)
            .finish()
    }
}

impl SqliteQueue {
    /// The queue `name` in `db`; with `dead_letter = Some((dlq, n))`, a message received `n` times moves to `dlq`.
    pub fn new(
        db: Db,
        name: &str,
        dead_letter: Option<(String, u32)>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            name: name.to_string(),
            dead_letter,
            clock,
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// One non-blocking receive attempt; returns the messages and whether any were dead-lettered.
    async fn try_receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<(Vec<QueueMessage>, bool)> {
        let now = self.now_ms();
        let hidden_until = add_ms(now, visibility);
        let name = self.name.clone();
        let dead_letter = self.dead_letter.clone();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(sql_err)?;
                let mut moved = 0;
                if let Some((dlq, max_receives)) = &dead_letter {
                    moved = tx
                        .execute(
                            "UPDATE queue_messages SET queue = ?1, receive_count = 0, receipt = NULL, \
                             visible_at_ms = ?2 \
                             WHERE queue = ?3 AND visible_at_ms <= ?2 AND receive_count >= ?4",
                            params![dlq, now, name, max_receives],
                        )
                        .map_err(sql_err)?;
                }
                let picked: Vec<(String, String, u32)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id, body, receive_count FROM queue_messages \
                             WHERE queue = ?1 AND visible_at_ms <= ?2 ORDER BY seq LIMIT ?3",
                        )
                        .map_err(sql_err)?;
                    let rows = stmt
                        .query_map(params![name, now, max], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(sql_err)?;
                    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
                };
                let mut out = Vec::with_capacity(picked.len());
                for (id, body, count) in picked {
                    let receipt = uuid::Uuid::new_v4().simple().to_string();
                    let receive_count = count.saturating_add(1);
                    tx.execute(
                        "UPDATE queue_messages SET receipt = ?1, receive_count = ?2, visible_at_ms = ?3 \
                         WHERE id = ?4",
                        params![receipt, receive_count, hidden_until, id],
                    )
                    .map_err(sql_err)?;
                    out.push(QueueMessage { message_id: id, receipt, body, receive_count });
                }
                tx.commit().map_err(sql_err)?;
                Ok((out, moved > 0))
            })
            .await
    }
}

/// The longest delay a message can be sent with (SQS allows 15 minutes).
const MAX_DELAY: Duration = Duration::from_secs(900);

#[async_trait]
impl JobQueue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String> {
        self.send_delayed(body, Duration::ZERO).await
    }

    async fn send_delayed(&self, body: &str, delay: Duration) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let delay_ms = i64::try_from(delay.min(MAX_DELAY).as_millis()).unwrap_or(0);
        let (name, body, now, msg_id) = (
            self.name.clone(),
            body.to_string(),
            self.now_ms(),
            id.clone(),
        );
        let visible_at = now + delay_ms;
        self.db
            .call(move |conn| {
                // seq is computed inside the INSERT so it stays monotonic without a second statement.
                conn.execute(
                    "INSERT INTO queue_messages (id, queue, seq, body, visible_at_ms, receive_count, receipt, created_at_ms) \
                     VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM queue_messages), ?3, ?5, 0, NULL, ?4)",
                    params![msg_id, name, body, now, visible_at],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await?;
        self.db.sent().notify_waiters();
        Ok(id)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>> {
        if max == 0 {
            return Ok(vec![]);
        }
        let deadline = Instant::now().checked_add(wait);
        loop {
            // Registered before looking, so a send between the look and the sleep still wakes us.
            let woken = self.db.sent().notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let (messages, dead_lettered) = self.try_receive(max, visibility).await?;
            if dead_lettered {
                self.db.sent().notify_waiters();
            }
            if !messages.is_empty() {
                return Ok(messages);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => POLL_INTERVAL,
            };
            if left.is_zero() {
                return Ok(vec![]);
            }
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(left.min(POLL_INTERVAL)) => {}
            }
        }
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<()> {
        let visible_at = add_ms(self.now_ms(), visibility);
        let (name, receipt) = (self.name.clone(), receipt.to_string());
        let woke_now = visibility.is_zero();
        self.db
            .call(move |conn| {
                let changed = conn
                    .execute(
                        "UPDATE queue_messages SET visible_at_ms = ?1 WHERE queue = ?2 AND receipt = ?3",
                        params![visible_at, name, receipt],
                    )
                    .map_err(sql_err)?;
                if changed == 0 {
                    return Err(CodaError::NotFound(format!("message receipt '{receipt}'")));
                }
                Ok(())
            })
            .await?;
        if woke_now {
            self.db.sent().notify_waiters();
        }
        Ok(())
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        let (name, receipt) = (self.name.clone(), receipt.to_string());
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                    params![name, receipt],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn depth(&self) -> Result<u64> {
        let name = self.name.clone();
        self.db
            .call(move |conn| {
                let n: i64 = conn
                    .query_row(
                        "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                        params![name],
                        |r| r.get(0),
                    )
                    .map_err(sql_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
    }
}
