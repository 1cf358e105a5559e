//! Webhook delivery: job outboxes become deliveries, and due deliveries are sent, signed and retried.
//!
//! Both steps are idempotent, so any number of notifiers (tasks, Lambdas) may
//! run them at once and a crash at any point loses nothing:
//! - a delivery's id is derived from its event and endpoint, so draining an
//!   outbox twice creates it once, and the outbox is emptied only after;
//! - a sender claims a delivery with a lease (a conditional write) before it
//!   posts, and records the attempt after. A crash in between re-sends the
//!   same `webhook-id` once the lease lapses, which receivers deduplicate on.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{
    Delivery, DeliveryAttempt, DeliveryStatus, Job, JobError, JobKind, JobStatus, OutboxEvent,
    Output, Owner,
};
use crate::ports::{Clock, DeliveryRepo, JobRepo, WebhookRepo, WebhookSender};
use crate::services::jobs::update_job;
use crate::webhooks::{
    classify, signature_headers, DeliveryOutcome, RetrySchedule, WebhookEvent, WebhookSecret,
};
use crate::{CodaError, Result};

/// The `data` of a job event: the job as its owner sees it, without expiring download URLs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobEventData {
    /// Job id.
    pub job_id: String,
    /// What it does.
    pub kind: JobKind,
    /// Where it stands.
    pub status: JobStatus,
    /// 0..=100.
    pub progress: u8,
    /// The blob it read.
    pub input_key: String,
    /// Result files (fetch them with `GET /v1/blobs/{key}`).
    pub outputs: Vec<Output>,
    /// Why it failed.
    pub error: Option<JobError>,
    /// How many times a worker started it.
    pub attempts: u32,
    /// The session it belongs to.
    pub session_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Job> for JobEventData {
    fn from(job: &Job) -> Self {
        JobEventData {
            job_id: job.job_id.clone(),
            kind: job.kind.clone(),
            status: job.status,
            progress: job.progress,
            input_key: job.input_key.clone(),
            outputs: job.outputs.clone(),
            error: job.error.clone(),
            attempts: job.attempts,
            session_id: job.session_id.clone(),
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

/// How deliveries are retried and claimed.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Delays between attempts.
    pub schedule: RetrySchedule,
    /// How long a sender holds a delivery; longer than the request timeout.
    pub lease: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            schedule: RetrySchedule::standard(),
            lease: Duration::from_secs(60),
        }
    }
}

/// Webhook delivery over the three tables it touches (the notify function opens no more), built once in the wiring.
#[derive(Clone)]
pub struct Notify {
    /// Jobs: outboxes, and the secret of a job's own webhook.
    pub jobs: Arc<dyn JobRepo>,
    /// Endpoints.
    pub webhooks: Arc<dyn WebhookRepo>,
    /// Deliveries.
    pub deliveries: Arc<dyn DeliveryRepo>,
    /// The HTTP side.
    pub sender: Arc<dyn WebhookSender>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Retry schedule and lease.
    pub settings: DeliverySettings,
}

impl Notify {
    /// Deliveries, for the loops that look for due ones.
    pub fn deliveries(&self) -> &dyn DeliveryRepo {
        self.deliveries.as_ref()
    }

    /// Jobs, for the loops that read rows from a stream.
    pub fn jobs(&self) -> &dyn JobRepo {
        self.jobs.as_ref()
    }

    /// The time now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Creates the deliveries of every event in `job`'s outbox, then empties it.
    pub async fn drain_outbox(&self, job: &Job) -> Result<Drained> {
        let (jobs, webhooks, deliveries, clock) = (
            self.jobs.as_ref(),
            self.webhooks.as_ref(),
            self.deliveries.as_ref(),
            self.clock.as_ref(),
        );
        let mut drained = Drained::default();
        if job.outbox.is_empty() {
            return Ok(drained);
        }
        let endpoints = webhooks.list_by_owner(&Owner(job.owner.clone())).await?;
        for event in &job.outbox {
            let body = event_body(job, event)?;
            let mut targets: Vec<(Option<String>, String)> = endpoints
                .iter()
                .filter(|w| w.disabled_reason.is_none() && w.events.contains(&event.event_type))
                .map(|w| (Some(w.webhook_id.clone()), w.url.clone()))
                .collect();
            if let Some(own) = &job.webhook {
                targets.push((None, own.url.clone()));
            }
            let now = clock.now();
            for (webhook_id, url) in targets {
                let target = webhook_id.as_deref().unwrap_or("job");
                let delivery = Delivery {
                    delivery_id: delivery_id(&event.event_id, target),
                    owner: job.owner.clone(),
                    webhook_id,
                    job_id: job.job_id.clone(),
                    event_id: event.event_id.clone(),
                    event_type: event.event_type,
                    url,
                    body: body.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: vec![],
                    next_attempt_at: Some(now),
                    lease_until: None,
                    created_at: now,
                    updated_at: now,
                    version: 0,
                };
                match deliveries.create(&delivery).await {
                    Ok(()) => drained.created += 1,
                    Err(CodaError::AlreadyExists(_)) => {}
                    Err(e) => return Err(e),
                }
                drained.delivery_ids.push(delivery.delivery_id);
            }
        }
        let events: Vec<String> = job.outbox.iter().map(|e| e.event_id.clone()).collect();
        update_job(jobs, &job.job_id, |j| {
            let before = j.outbox.len();
            j.outbox.retain(|e| !events.contains(&e.event_id));
            Ok(j.outbox.len() != before)
        })
        .await?;
        Ok(drained)
    }

    /// Drains up to `limit` outboxes; returns how many deliveries were created.
    pub async fn drain_outboxes(&self, limit: usize) -> Result<usize> {
        let mut created = 0;
        for job in self.jobs.list_with_outbox(limit).await? {
            created += self.drain_outbox(&job).await?.created;
        }
        Ok(created)
    }

    /// Claims one due delivery, posts it signed, and records the attempt and what comes next.
    pub async fn deliver(&self, delivery_id: &str) -> Result<Delivered> {
        let (deliveries, webhooks, jobs, sender, clock, settings) = (
            self.deliveries.as_ref(),
            self.webhooks.as_ref(),
            self.jobs.as_ref(),
            self.sender.as_ref(),
            self.clock.as_ref(),
            &self.settings,
        );
        let Some(mut d) = deliveries.get(delivery_id).await? else {
            return Ok(Delivered::Skipped);
        };
        let now = clock.now();
        let due = d.next_attempt_at.is_some_and(|t| t <= now);
        let held = d.lease_until.is_some_and(|t| t > now);
        if d.status != DeliveryStatus::Pending || !due || held {
            return Ok(Delivered::Skipped);
        }
        // The signing secret now, not at creation: a rotated secret signs every later attempt.
        let secret = match &d.webhook_id {
            Some(id) => match webhooks.get(id).await? {
                Some(w) if w.disabled_reason.is_none() => Ok(w.secret),
                Some(w) => Err(format!(
                    "endpoint disabled: {}",
                    w.disabled_reason.unwrap_or_default()
                )),
                None => Err("endpoint deleted".to_string()),
            },
            None => match jobs.get(&d.job_id).await? {
                Some(Job {
                    webhook: Some(own), ..
                }) => Ok(own.secret),
                _ => Err("the job's webhook is gone".to_string()),
            },
        };
        let secret = match secret.map(|s| WebhookSecret::parse(&s)) {
            Ok(Ok(secret)) => secret,
            Ok(Err(e)) => return give_up(deliveries, d, now, format!("bad secret: {e}")).await,
            Err(why) => return give_up(deliveries, d, now, why).await,
        };

        d.lease_until = Some(now + chrono_duration(settings.lease));
        d.updated_at = now;
        let mut d = match deliveries.update(&d).await {
            Ok(claimed) => claimed,
            Err(CodaError::Stale(_)) => return Ok(Delivered::Skipped),
            Err(e) => return Err(e),
        };

        let headers = signature_headers(&secret, &d.event_id, now.timestamp(), d.body.as_bytes());
        let mut request_headers: Vec<(&'static str, String)> = headers.into();
        request_headers.push(("content-type", "application/json".into()));
        let sent = sender
            .send(&d.url, &request_headers, d.body.as_bytes())
            .await;

        let done_at = clock.now();
        d.attempts.push(DeliveryAttempt {
            at: now,
            status_code: sent.status,
            latency_ms: sent.latency.as_millis().min(u128::from(u64::MAX)) as u64,
            error: sent.error.clone(),
        });
        d.lease_until = None;
        d.updated_at = done_at;
        let outcome = match classify(sent.status) {
            // The address is refused (a name that re-pointed inside): no later attempt can go out.
            _ if sent.refused => {
                d.status = DeliveryStatus::Failed;
                d.next_attempt_at = None;
                Delivered::GaveUp
            }
            DeliveryOutcome::Delivered => {
                d.status = DeliveryStatus::Delivered;
                d.next_attempt_at = None;
                Delivered::Delivered
            }
            DeliveryOutcome::Disable => {
                d.status = DeliveryStatus::Failed;
                d.next_attempt_at = None;
                if let Some(id) = &d.webhook_id {
                    disable_endpoint(webhooks, id, done_at).await?;
                }
                Delivered::GaveUp
            }
            DeliveryOutcome::Retry => {
                let attempts = u32::try_from(d.attempts.len()).unwrap_or(u32::MAX);
                let delay = settings.schedule.delay_after_failure(
                    attempts,
                    sent.status,
                    sent.retry_after.as_deref(),
                    done_at,
                    rand::random::<f64>(),
                );
                match delay {
                    Some(delay) => {
                        d.next_attempt_at = Some(done_at + chrono_duration(delay));
                        Delivered::WillRetry
                    }
                    None => {
                        d.status = DeliveryStatus::Failed;
                        d.next_attempt_at = None;
                        Delivered::GaveUp
                    }
                }
            }
        };
        deliveries.update(&d).await?;
        Ok(outcome)
    }
}

/// The id of the delivery of `event_id` to `target` (an endpoint id, or `job` for a job's own URL).
pub fn delivery_id(event_id: &str, target: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}|{target}").as_bytes());
    format!("dlv_{}", &hex::encode(digest)[..32])
}

/// The exact body every attempt of one event sends.
pub fn event_body(job: &Job, event: &OutboxEvent) -> Result<String> {
    let data = serde_json::to_value(JobEventData::from(job)).map_err(CodaError::internal)?;
    let body = WebhookEvent::new(event.event_type, event.at, data).to_body();
    String::from_utf8(body).map_err(CodaError::internal)
}

/// What draining one outbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Every delivery of the outbox's events, new or made by an earlier drain.
    pub delivery_ids: Vec<String>,
    /// How many of them this drain created.
    pub created: usize,
}

/// What one call to [`Notify::deliver`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Someone else holds it, or it is not due or not pending.
    Skipped,
    /// Sent; the receiver answered 2xx.
    Delivered,
    /// Sent and failed; another attempt is scheduled.
    WillRetry,
    /// Given up (schedule exhausted, endpoint gone or disabled, address refused).
    GaveUp,
}

async fn give_up(
    deliveries: &dyn DeliveryRepo,
    mut d: Delivery,
    now: DateTime<Utc>,
    why: String,
) -> Result<Delivered> {
    d.status = DeliveryStatus::Failed;
    d.next_attempt_at = None;
    d.lease_until = None;
    d.updated_at = now;
    d.attempts.push(DeliveryAttempt {
        at: now,
        status_code: None,
        latency_ms: 0,
        error: Some(why),
    });
    match deliveries.update(&d).await {
        Ok(_) => Ok(Delivered::GaveUp),
        Err(CodaError::Stale(_)) => Ok(Delivered::Skipped),
        Err(e) => Err(e),
    }
}

async fn disable_endpoint(webhooks: &dyn WebhookRepo, id: &str, now: DateTime<Utc>) -> Result<()> {
    let mut retry = super::ConflictRetry::new(format!("webhook '{id}'"), 8);
    loop {
        let Some(mut w) = webhooks.get(id).await? else {
            return Ok(());
        };
        if w.disabled_reason.is_some() {
            return Ok(());
        }
        w.disabled_reason = Some("the receiver answered 410 Gone".into());
        w.updated_at = now;
        match webhooks.update(&w).await {
            Err(CodaError::Stale(_)) => retry.wait().await?,
            other => return other.map(|_| ()),
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
