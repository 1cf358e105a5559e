//! The notify function: job outboxes → deliveries → signed webhook POSTs.
//!
//! Two event sources invoke it:
//! - the jobs table's DynamoDB stream, filtered to records whose `NewImage`
//!   has `outbox = "pending"` (written by the same conditional `PutItem` that
//!   ends a job). Each record's job is read, its outbox drained into
//!   deliveries, and those deliveries are tried at once. A record whose drain
//!   fails is reported in `batchItemFailures` (by its `SequenceNumber`), so
//!   only it comes back;
//! - an EventBridge schedule (`rate(1 minute)`): a sweep that drains any
//!   outbox the stream missed and sends every due delivery (retries included),
//!   several at once, until the invocation's time runs short.
//!
//! Both steps are the idempotent services of `coda_core::services::notify`,
//! so stream retries, overlapping sweeps and `coda serve`'s own loop can run
//! side by side.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use coda_aws::dynamo::{OUTBOX, PENDING, PK};
use coda_aws::{AwsNames, DynamoDeliveryRepo, DynamoJobRepo, DynamoWebhookRepo};
use coda_core::model::Job;
use coda_core::ports::{HostResolver, PinnedHosts, SystemClock, SystemResolver};
use coda_core::services::notify::{Delivered, DeliverySettings, Drained};
use coda_core::services::Notify;
use coda_core::webhooks::{AddressPolicy, RetrySchedule};
use coda_core::CodaError;
use coda_notify::HttpWebhookSender;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use coda_config::Config;

use crate::{init_logging, Error};

/// How the notify function sends, retries and paces itself.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifySettings {
    /// Time limit of one delivery attempt (`CODA_WEBHOOK_TIMEOUT_SECS`, 15 s).
    pub timeout: Duration,
    /// Multiplies the retry schedule (`CODA_WEBHOOK_RETRY_SCALE`, 1; the tests use 0.001).
    pub retry_scale: f64,
    /// Non-public destinations allowed (`CODA_WEBHOOK_ALLOW_LOOPBACK` / `_PRIVATE`, both false).
    pub policy: AddressPolicy,
    /// Most deliveries (or outbox drains) in flight at once.
    pub max_in_flight: usize,
    /// Rows asked for per `list_with_outbox` / `list_due` call.
    pub page: usize,
    /// No new delivery starts once less than this is left of the invocation
    /// (an attempt may take `timeout`, and its result must still be recorded).
    pub margin: Duration,
    /// Host names pinned to addresses (`CODA_WEBHOOK_PINNED_HOSTS`, `name=ip,...`; none).
    pub pinned_hosts: String,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            timeout: Duration::from_secs(15),
            retry_scale: 1.0,
            policy: AddressPolicy::default(),
            max_in_flight: 16,
            page: 100,
            margin: Duration::from_secs(20),
            pinned_hosts: String::new(),
        }
    }
}

impl NotifySettings {
    /// The settings from the process environment; a malformed value is an error naming its variable.
    pub fn from_env() -> Result<Self, CodaError> {
        Self::from_config(&Config::for_lambda(std::env::vars()).map_err(setting_error)?)
    }

    /// The settings from `get` (a variable's value, `None` when unset); unset means the default.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, CodaError> {
        let vars = [
            "CODA_WEBHOOK_TIMEOUT_SECS",
            "CODA_WEBHOOK_RETRY_SCALE",
            "CODA_WEBHOOK_ALLOW_LOOPBACK",
            "CODA_WEBHOOK_ALLOW_PRIVATE",
            "CODA_WEBHOOK_PINNED_HOSTS",
        ]
        .into_iter()
        .filter_map(|name| get(name).map(|v| (name.to_string(), v)));
        Self::from_config(&Config::for_lambda(vars).map_err(setting_error)?)
    }

    /// The webhook section of the one configuration.
    pub fn from_config(config: &Config) -> Result<Self, CodaError> {
        Ok(NotifySettings {
            timeout: coda_config::secs(config.webhooks.webhook_timeout_secs),
            retry_scale: config.webhooks.webhook_retry_scale,
            policy: config.webhook_policy(),
            pinned_hosts: config.webhooks.webhook_pinned_hosts.clone(),
            ..NotifySettings::default()
        })
    }

    /// Retry schedule and lease of each delivery.
    pub fn delivery(&self) -> DeliverySettings {
        DeliverySettings {
            schedule: RetrySchedule::standard().with_scale(self.retry_scale),
            // Longer than one attempt can take, so a live sender is never overtaken.
            lease: self.timeout + Duration::from_secs(15),
        }
    }

    /// The HTTP sender these settings describe (time limit, destination policy).
    pub fn sender(&self) -> Result<HttpWebhookSender, CodaError> {
        let resolver: Arc<dyn HostResolver> =
            match PinnedHosts::parse(&self.pinned_hosts, Arc::new(SystemResolver::default())) {
                Ok(pinned) => Arc::new(pinned),
                Err(e) => return Err(CodaError::bad_request("INVALID_SETTING", e)),
            };
        HttpWebhookSender::with_resolver(self.timeout, self.policy, resolver)
            .map_err(CodaError::Internal)
    }
}

/// A configuration error as the functions report it: 400 `INVALID_SETTING`, naming the variable.
pub fn setting_error(e: coda_config::ConfigError) -> CodaError {
    CodaError::bad_request("INVALID_SETTING", e.to_string())
}

/// One record of the jobs table's stream, as far as the function reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStreamRecord {
    /// `dynamodb.SequenceNumber`: the record's `itemIdentifier` in `batchItemFailures`.
    pub sequence_number: String,
    /// The job id from `dynamodb.Keys.pk.S`; an error saying what was there instead.
    pub job_id: Result<String, String>,
    /// Whether `NewImage` carries `outbox = "pending"`; `None` without a `NewImage`.
    pub outbox_pending: Option<bool>,
}

/// What invoked the function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyEvent {
    /// A batch of the jobs table's stream records.
    JobStream(Vec<JobStreamRecord>),
    /// The EventBridge schedule.
    Scheduled,
}

impl NotifyEvent {
    /// Recognises a DynamoDB stream event or an EventBridge Scheduled Event; anything else is an
    /// `INVALID_EVENT` error that says what it got.
    pub fn parse(payload: &Value) -> Result<NotifyEvent, CodaError> {
        let Some(obj) = payload.as_object() else {
            return Err(bad_event(format!("got {}", json_kind(payload))));
        };
        if let Some(records) = obj.get("Records") {
            return parse_stream(records).map(NotifyEvent::JobStream);
        }
        if obj.contains_key("detail-type") || obj.contains_key("source") {
            let ev: EventBridgeEvent = serde_json::from_value(payload.clone())
                .map_err(|e| bad_event(format!("got a malformed EventBridge event: {e}")))?;
            if ev.source == "aws.events" && ev.detail_type == "Scheduled Event" {
                return Ok(NotifyEvent::Scheduled);
            }
            return Err(bad_event(format!(
                "got an EventBridge event {:?} from {:?}",
                ev.detail_type, ev.source
            )));
        }
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).take(8).collect();
        keys.sort_unstable();
        Err(bad_event(format!(
            "got an object with the keys [{}]",
            keys.join(", ")
        )))
    }
}

fn bad_event(what: String) -> CodaError {
    CodaError::bad_request(
        "INVALID_EVENT",
        format!(
            "the notify function takes a DynamoDB stream event of the jobs table or an EventBridge \
             Scheduled Event; {what}"
        ),
    )
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The documented stream record shape (`aws_lambda_events`' DynamoDB types need `serde_dynamo`,
/// which nothing else here uses); only the fields the function reads are looked at.
fn parse_stream(records: &Value) -> Result<Vec<JobStreamRecord>, CodaError> {
    let Some(records) = records.as_array() else {
        return Err(bad_event(format!(
            "got Records that is {}, not an array",
            json_kind(records)
        )));
    };
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if let Some(source) = r.get("eventSource").and_then(Value::as_str) {
                if source != "aws:dynamodb" {
                    return Err(bad_event(format!("got a record {i} from {source:?}")));
                }
            }
            let change = r.get("dynamodb").ok_or_else(|| {
                bad_event(format!("got a record {i} without a \"dynamodb\" object"))
            })?;
            // Without it the record cannot be reported on its own: the whole batch fails.
            let sequence_number = change
                .get("SequenceNumber")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    bad_event(format!("got a record {i} without dynamodb.SequenceNumber"))
                })?
                .to_string();
            let job_id = match change.get("Keys").and_then(|k| k.get(PK)) {
                Some(key) => match key.get("S").and_then(Value::as_str) {
                    Some(id) if !id.is_empty() => Ok(id.to_string()),
                    _ => Err(format!(
                        "dynamodb.Keys.{PK} is not a non-empty string: {key}"
                    )),
                },
                None => Err(format!("dynamodb.Keys has no {PK:?}")),
            };
            let outbox_pending = change.get("NewImage").map(|image| {
                image
                    .get(OUTBOX)
                    .and_then(|a| a.get("S"))
                    .and_then(Value::as_str)
                    == Some(PENDING)
            });
            Ok(JobStreamRecord {
                sequence_number,
                job_id,
                outbox_pending,
            })
        })
        .collect()
}

/// What the function answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum NotifyResponse {
    /// To the stream: the records to hand back (`batchItemFailures`).
    Stream(DynamoDbEventResponse),
    /// To the schedule: what the sweep did.
    Sweep(SweepReport),
}

/// How the delivery attempts of one invocation went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryTally {
    /// Sent and answered 2xx.
    pub delivered: usize,
    /// Sent and failed; the next attempt is scheduled.
    pub will_retry: usize,
    /// Given up (schedule exhausted, endpoint gone, disabled or answering 410).
    pub gave_up: usize,
    /// Not due, not pending, or held by another sender.
    pub skipped: usize,
    /// The attempt could not be read or recorded (it is retried after its lease).
    pub errors: usize,
    /// Not started because the invocation's time ran short; a later sweep sends them.
    pub left_for_later: usize,
}

impl DeliveryTally {
    fn add(&mut self, o: &DeliveryTally) {
        self.delivered += o.delivered;
        self.will_retry += o.will_retry;
        self.gave_up += o.gave_up;
        self.skipped += o.skipped;
        self.errors += o.errors;
        self.left_for_later += o.left_for_later;
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Jobs whose outbox was drained (the stream had missed them, or had not got to them yet).
    pub outboxes_drained: usize,
    /// Deliveries those drains created.
    pub deliveries_created: usize,
    /// Jobs whose drain failed (they stay in `with_outbox` for the next sweep).
    pub drain_errors: usize,
    /// The attempts.
    pub deliveries: DeliveryTally,
}

/// Handles one invocation: a stream batch or a sweep. `deadline` is when the invocation ends.
pub async fn handle_notify(
    notify: &Notify,
    s: &NotifySettings,
    payload: &Value,
    deadline: Instant,
) -> Result<NotifyResponse, CodaError> {
    match NotifyEvent::parse(payload)? {
        NotifyEvent::JobStream(records) => Ok(NotifyResponse::Stream(
            handle_job_stream(notify, s, &records, deadline).await,
        )),
        NotifyEvent::Scheduled => sweep(notify, s, deadline).await.map(NotifyResponse::Sweep),
    }
}

/// Drains the outbox of each record's job, then tries that outbox's deliveries at once (those
/// not due or already sent are skipped). Records whose job could not be read or drained are
/// reported; a job that is gone or whose outbox is already empty is a success. A delivery that
/// fails here stays pending for the schedule: it is never the record's failure.
pub async fn handle_job_stream(
    notify: &Notify,
    s: &NotifySettings,
    records: &[JobStreamRecord],
    deadline: Instant,
) -> DynamoDbEventResponse {
    let drained: Vec<Result<Vec<String>, CodaError>> = stream::iter(records)
        .map(|r| drain_record(notify, r))
        .buffered(s.max_in_flight.max(1))
        .collect()
        .await;
    let mut response = DynamoDbEventResponse::default();
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    for (record, result) in records.iter().zip(drained) {
        match result {
            Ok(found) => ids.extend(found.into_iter().filter(|id| seen.insert(id.clone()))),
            Err(e) => {
                warn!(sequence_number = %record.sequence_number, job_id = ?record.job_id, code = e.code(),
                      error = %e, "draining the job's outbox failed; the record comes back");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(record.sequence_number.clone());
                response.batch_item_failures.push(failure);
            }
        }
    }
    let tally = deliver_many(notify, s, ids, deadline).await;
    info!(
        records = records.len(),
        failed = response.batch_item_failures.len(),
        ?tally,
        "stream batch handled"
    );
    response
}

/// One record: the job's outbox becomes deliveries; returns the ids of that outbox's deliveries.
async fn drain_record(notify: &Notify, r: &JobStreamRecord) -> Result<Vec<String>, CodaError> {
    let job_id = r
        .job_id
        .as_ref()
        .map_err(|why| CodaError::bad_request("INVALID_EVENT", why.clone()))?;
    if r.outbox_pending == Some(false) {
        // The event source's filter lets only pending outboxes through; without it, this is noise.
        return Ok(vec![]);
    }
    let Some(job) = notify.jobs().get(job_id).await? else {
        info!(job_id = %job_id, "job is gone; nothing to notify");
        return Ok(vec![]);
    };
    if job.outbox.is_empty() {
        return Ok(vec![]);
    }
    let drained = notify.drain_outbox(&job).await?;
    info!(job_id = %job_id, events = job.outbox.len(), created = drained.created, "outbox drained");
    Ok(drained.delivery_ids)
}

/// Drains the outboxes the stream missed, then sends every due delivery, until time runs short.
///
/// Per-job and per-delivery failures are counted and logged (the next sweep retries them); the
/// sweep fails only when it cannot list its work.
pub async fn sweep(
    notify: &Notify,
    s: &NotifySettings,
    deadline: Instant,
) -> Result<SweepReport, CodaError> {
    let mut report = SweepReport::default();
    let mut listing_error = None;
    let page = s.page.max(1);

    // Outboxes, page by page. The index is eventually consistent: a job drained a moment ago may
    // still be listed, so each job is taken once per sweep and a page of nothing new ends it.
    let mut seen = HashSet::new();
    while time_left(deadline) > s.margin {
        let jobs = match notify.jobs().list_with_outbox(page).await {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(code = e.code(), error = %e, "listing job outboxes failed");
                listing_error = Some(e);
                break;
            }
        };
        let full = jobs.len() >= page;
        let fresh: Vec<Job> = jobs
            .into_iter()
            .filter(|j| seen.insert(j.job_id.clone()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        let results: Vec<(String, Result<Drained, CodaError>)> = stream::iter(fresh)
            .map(|job| async move {
                let r = notify.drain_outbox(&job).await;
                (job.job_id, r)
            })
            .buffer_unordered(s.max_in_flight.max(1))
            .collect()
            .await;
        for (job_id, r) in results {
            match r {
                Ok(drained) => {
                    report.outboxes_drained += 1;
                    report.deliveries_created += drained.created;
                }
                Err(e) => {
                    report.drain_errors += 1;
                    warn!(job_id = %job_id, code = e.code(), error = %e, "draining an outbox failed");
                }
            }
        }
        if !full {
            break;
        }
    }

    // Due deliveries, earliest first. Each is tried at most once per sweep: with a compressed
    // schedule a failed one can be due again within the same invocation.
    let mut tried = HashSet::new();
    while time_left(deadline) > s.margin {
        let due = match notify.deliveries().list_due(notify.now(), page).await {
            Ok(due) => due,
            Err(e) => {
                warn!(code = e.code(), error = %e, "listing due deliveries failed");
                listing_error.get_or_insert(e);
                break;
            }
        };
        let full = due.len() >= page;
        let fresh: Vec<String> = due
            .into_iter()
            .map(|d| d.delivery_id)
            .filter(|id| tried.insert(id.clone()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        let tally = deliver_many(notify, s, fresh, deadline).await;
        report.deliveries.add(&tally);
        if !full || tally.left_for_later > 0 {
            break;
        }
    }

    info!(report = ?report, "sweep done");
    match listing_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Tries each delivery, `max_in_flight` at a time; none starts once less than `margin` is left.
async fn deliver_many(
    notify: &Notify,
    s: &NotifySettings,
    ids: Vec<String>,
    deadline: Instant,
) -> DeliveryTally {
    let total = ids.len();
    let outcomes: Vec<Result<Delivered, CodaError>> = stream::iter(ids)
        .take_while(|_| std::future::ready(time_left(deadline) > s.margin))
        .map(|id| async move {
            let r = notify.deliver(&id).await;
            match &r {
                Ok(outcome) => info!(delivery_id = %id, ?outcome, "webhook attempt"),
                Err(e) => warn!(delivery_id = %id, code = e.code(), error = %e,
                                "webhook attempt could not be read or recorded"),
            }
            r
        })
        .buffer_unordered(s.max_in_flight.max(1))
        .collect()
        .await;
    let mut tally = DeliveryTally {
        left_for_later: total - outcomes.len(),
        ..DeliveryTally::default()
    };
    for o in outcomes {
        match o {
            Ok(Delivered::Delivered) => tally.delivered += 1,
            Ok(Delivered::WillRetry) => tally.will_retry += 1,
            Ok(Delivered::GaveUp) => tally.gave_up += 1,
            Ok(Delivered::Skipped) => tally.skipped += 1,
            Err(_) => tally.errors += 1,
        }
    }
    tally
}

fn time_left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The monotonic instant of a wall-clock deadline (the Lambda context's).
pub fn deadline_instant(deadline: SystemTime) -> Instant {
    Instant::now()
        + deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
}

/// Runs the notify function: the jobs table's stream and the schedule, over DynamoDB and HTTP.
///
/// Reads the one configuration from the environment (`CODA_AWS_PREFIX`, default `coda`, and the
/// webhook section: `CODA_WEBHOOK_TIMEOUT_SECS`, `_RETRY_SCALE`, `_ALLOW_LOOPBACK`, `_ALLOW_PRIVATE`).
/// It touches only the jobs, webhooks and deliveries tables (no queues).
pub async fn run_notify() -> Result<(), Error> {
    init_logging();
    let config = Config::for_lambda(std::env::vars()).map_err(setting_error)?;
    let settings = NotifySettings::from_config(&config)?;
    let sender = settings.sender()?;
    let names = AwsNames::new(&config.storage.aws_prefix)?;
    let sdk = coda_aws::load_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let notify = Notify {
        jobs: Arc::new(DynamoJobRepo::new(dynamo.clone(), &names.jobs_table)),
        webhooks: Arc::new(DynamoWebhookRepo::new(
            dynamo.clone(),
            &names.webhooks_table,
        )),
        deliveries: Arc::new(DynamoDeliveryRepo::new(dynamo, &names.deliveries_table)),
        sender: Arc::new(sender),
        clock: Arc::new(SystemClock),
        settings: settings.delivery(),
    };
    let world = Arc::new((notify, settings));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |ev: lambda_runtime::LambdaEvent<Value>| {
            let world = world.clone();
            async move {
                let deadline = deadline_instant(ev.context.deadline());
                let (notify, settings) = world.as_ref();
                Ok::<_, Error>(handle_notify(notify, settings, &ev.payload, deadline).await?)
            }
        },
    ))
    .await
}
