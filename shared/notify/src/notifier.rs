//! The delivery loop: drains job outboxes into deliveries and sends what is due.
//!
//! `coda serve` runs one; on AWS the `notify` function runs the same steps for
//! each jobs-table stream record and on a one-minute schedule. Running several
//! at once is safe (see `coda_core::services::notify`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coda_core::services::Notify;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// Knobs of the loop.
#[derive(Clone, Debug)]
pub struct NotifierSettings {
    /// How often outboxes and due deliveries are looked for.
    pub poll_every: Duration,
    /// Most outboxes or deliveries taken per look.
    pub batch: usize,
    /// Most deliveries in flight at once (a slow receiver holds one for up to its timeout).
    pub max_in_flight: usize,
    /// On shutdown, how long sends in flight may finish.
    pub shutdown_grace: Duration,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            poll_every: Duration::from_millis(100),
            batch: 100,
            max_in_flight: 32,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Runs until `shutdown` turns true; sends still in flight then get `shutdown_grace`.
pub async fn run(notify: Notify, settings: NotifierSettings, mut shutdown: watch::Receiver<bool>) {
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tasks = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(e) = notify.drain_outboxes(settings.batch).await {
            warn!(error = %e, "draining job outboxes failed; retrying");
        }
        while tasks.try_join_next().is_some() {}
        let room = settings.max_in_flight.saturating_sub(tasks.len());
        if room > 0 {
            match notify
                .deliveries()
                .list_due(notify.now(), settings.batch.min(room))
                .await
            {
                Ok(due) => {
                    for d in due {
                        let id = d.delivery_id;
                        if !lock(&in_flight).insert(id.clone()) {
                            continue;
                        }
                        let notify = notify.clone();
                        let in_flight = in_flight.clone();
                        tasks.spawn(async move {
                            let outcome = notify.deliver(&id).await;
                            match outcome {
                                Ok(o) => debug!(delivery_id = %id, outcome = ?o, "webhook attempt"),
                                Err(e) => warn!(delivery_id = %id, error = %e, "webhook attempt failed to record"),
                            }
                            lock(&in_flight).remove(&id);
                        });
                    }
                }
                Err(e) => warn!(error = %e, "listing due deliveries failed; retrying"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.poll_every) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Unfinished sends keep their lease and are retried by the next notifier once it lapses.
    let _ = tokio::time::timeout(settings.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
