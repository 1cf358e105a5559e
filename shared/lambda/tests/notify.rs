//! The notify handler on the real-shaped payloads in `events/`, over the DynamoDB
//! adapters on the moto emulator and a real HTTP receiver on loopback.
//!
//! Jobs end through `update_job`, so their outbox is written the way production
//! writes it. Without moto these tests fail and say to run `scripts/emulator.sh`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use coda_aws::testing::TestEnv;
use coda_core::model::{DeliveryStatus, Job, JobKind, JobStatus, JobWebhook, Owner, Webhook};
use coda_core::ports::{Clock, JobRepo, RandomIds, SystemClock, WebhookSender};
use coda_core::services::jobs::update_job;
use coda_core::services::notify::delivery_id;
use coda_core::services::webhooks::NewWebhook;
use coda_core::services::{Notify, Webhooks};
use coda_core::webhooks::{AddressPolicy, WebhookSecret};
use coda_core::CodaError;
use coda_lambda::notify::{DeliveryTally, JobStreamRecord};
use coda_lambda::{handle_notify, NotifyEvent, NotifyResponse, NotifySettings};
use coda_notify::HttpWebhookSender;
use serde_json::Value;

/// The job id in `events/dynamodb-stream-job-ended.json`.
const PLACEHOLDER_JOB: &str = "job_0123456789abcdef0123456789abcdef";
/// Its record's `dynamodb.SequenceNumber`.
const SEQUENCE_NUMBER: &str = "4421584500000000017450439091";

fn event(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../events/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn stream_event_for(job_id: &str) -> Value {
    serde_json::from_str(&event("dynamodb-stream-job-ended.json").replace(PLACEHOLDER_JOB, job_id))
        .unwrap()
}

fn scheduled_event() -> Value {
    serde_json::from_str(&event("eventbridge-scheduled.json")).unwrap()
}

// ---------- a real receiver ----------

#[derive(Clone, Debug)]
struct Got {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
    answered: u16,
}

impl Got {
    fn verify(&self, secret: &str) -> Result<(), coda_core::webhooks::VerifyError> {
        let headers = vec![
            ("webhook-id", self.id.as_str()),
            ("webhook-timestamp", self.timestamp.as_str()),
            ("webhook-signature", self.signature.as_str()),
        ];
        coda_core::webhooks::verify(secret, &headers, &self.body, chrono::Utc::now())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Inbox {
    /// Statuses to answer with, in order; 200 once empty.
    script: VecDeque<u16>,
    got: Vec<Got>,
}

struct Receiver {
    base: String,
    inbox: Arc<Mutex<Inbox>>,
}

async fn hook(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut inbox = inbox.lock().unwrap();
    let answered = inbox.script.pop_front().unwrap_or(200);
    inbox.got.push(Got {
        path: uri.path().to_string(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox {
            script: script.iter().copied().collect(),
            got: vec![],
        }));
        let app = Router::new()
            .route("/{*path}", post(hook))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            base: format!("http://{addr}"),
            inbox,
        }
    }

    fn got(&self) -> Vec<Got> {
        self.inbox.lock().unwrap().got.clone()
    }
}

// ---------- the world of one test ----------

/// Loopback is allowed here through the settings; the default (and the Lambda's) refuses it.
fn test_settings() -> NotifySettings {
    NotifySettings {
        retry_scale: 0.001,
        timeout: Duration::from_secs(5),
        policy: AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        ..NotifySettings::default()
    }
}

struct World {
    env: TestEnv,
    sender: Arc<HttpWebhookSender>,
    settings: NotifySettings,
    clock: SystemClock,
}

impl World {
    async fn new() -> World {
        Self::with(test_settings()).await
    }

    async fn with(settings: NotifySettings) -> World {
        let env = TestEnv::new(3).await.unwrap_or_else(|e| panic!("{e}"));
        World {
            env,
            sender: Arc::new(settings.sender().unwrap()),
            settings,
            clock: SystemClock,
        }
    }

    fn notify(&self) -> Notify {
        let a = &self.env.adapters;
        Notify {
            jobs: a.jobs.clone(),
            webhooks: a.webhooks.clone(),
            deliveries: a.deliveries.clone(),
            sender: self.sender.clone(),
            clock: Arc::new(SystemClock),
            settings: self.settings.delivery(),
        }
    }

    fn jobs(&self) -> &dyn JobRepo {
        self.env.adapters.jobs.as_ref()
    }

    async fn call(&self, payload: &Value) -> Result<NotifyResponse, CodaError> {
        self.call_until(payload, Instant::now() + Duration::from_secs(60))
            .await
    }

    async fn call_until(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<NotifyResponse, CodaError> {
        handle_notify(&self.notify(), &self.settings, payload, deadline).await
    }

    /// An endpoint of `alice`, created through the service (its URL checked under the test policy).
    async fn endpoint(&self, url: String) -> Webhook {
        Webhooks::new(&self.env.adapters.core(), self.settings.policy)
            .create(
                &Owner("alice".into()),
                NewWebhook {
                    url,
                    events: vec!["job.succeeded".into(), "job.failed".into()],
                    description: None,
                },
            )
            .await
            .unwrap()
    }

    /// A running job of `alice`, then ended through `update_job`; returns the ended row.
    async fn ended_job(&self, own_webhook: Option<JobWebhook>) -> Job {
        let now = self.clock.now();
        let id = format!("job_{}", uuid_like());
        self.jobs()
            .create(&Job {
                job_id: id.clone(),
                owner: "alice".into(),
                kind: JobKind::from_static("probe"),
                status: JobStatus::Running,
                progress: 40,
                params: serde_json::json!({}),
                input_key: "uploads/upl_0123456789abcdef/take1.wav".into(),
                inputs: Default::default(),
                outputs: vec![],
                warnings: vec![],
                error: None,
                attempts: 1,
                lease_until: None,
                session_id: None,
                created_at: now,
                updated_at: now,
                version: 0,
                webhook: own_webhook,
                outbox: vec![],
            })
            .await
            .unwrap();
        let ended = update_job(self.jobs(), &id, |j| {
            j.status = JobStatus::Succeeded;
            j.progress = 100;
            j.updated_at = SystemClock.now();
            Ok(true)
        })
        .await
        .unwrap();
        assert_eq!(ended.outbox.len(), 1, "ending the job wrote its outbox");
        ended
    }
}

fn uuid_like() -> String {
    // 32 hex digits, as `RandomIds` makes them.
    coda_core::ports::IdGen::new_id(&RandomIds, "x")[2..].to_string()
}

fn failures(resp: &NotifyResponse) -> Vec<String> {
    match resp {
        NotifyResponse::Stream(r) => r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone().unwrap_or_default())
            .collect(),
        NotifyResponse::Sweep(r) => panic!("a stream event got a sweep report: {r:?}"),
    }
}

// ---------- the stream ----------

#[tokio::test]
async fn a_stream_record_sends_one_signed_event_per_target_and_a_repeat_sends_nothing() {
    let w = World::new().await;
    let rx = Receiver::start(&[]).await;
    let endpoint = w.endpoint(format!("{}/endpoint", rx.base)).await;
    let own_secret = WebhookSecret::generate().expose();
    let job = w
        .ended_job(Some(JobWebhook {
            url: format!("{}/own", rx.base),
            secret: own_secret.clone(),
        }))
        .await;
    let event_id = job.outbox[0].event_id.clone();
    let record = stream_event_for(&job.job_id);

    let resp = w.call(&record).await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp:?}");
    // The answer is what the event source mapping reads.
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        serde_json::json!({ "batchItemFailures": [] })
    );

    let got = rx.got();
    assert_eq!(got.len(), 2, "one POST per target: {got:?}");
    let by_path: HashMap<&str, &Got> = got.iter().map(|g| (g.path.as_str(), g)).collect();
    let to_endpoint = by_path["/endpoint"];
    let to_own = by_path["/own"];
    to_endpoint.verify(&endpoint.secret).unwrap();
    to_own.verify(&own_secret).unwrap();
    assert!(
        to_endpoint.verify(&own_secret).is_err(),
        "each target is signed with its own secret"
    );
    for g in [to_endpoint, to_own] {
        assert_eq!(g.id, event_id, "webhook-id is the outbox event's id");
        let body = g.json();
        assert_eq!(body["type"], "job.succeeded");
        assert_eq!(body["data"]["job_id"], job.job_id.as_str());
        assert_eq!(body["data"]["status"], "succeeded");
    }

    // The outbox is empty and both deliveries are recorded as delivered.
    let after = w.jobs().get(&job.job_id).await.unwrap().unwrap();
    assert!(after.outbox.is_empty());
    for target in [endpoint.webhook_id.as_str(), "job"] {
        let d = w
            .env
            .adapters
            .deliveries
            .get(&delivery_id(&event_id, target))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no delivery to {target}"));
        assert_eq!(d.status, DeliveryStatus::Delivered, "{target}: {d:?}");
        assert_eq!(d.attempts.len(), 1);
    }

    // The stream delivers at least once: the same record again, and a sweep, send nothing new.
    let resp = w.call(&record).await.unwrap();
    assert!(failures(&resp).is_empty());
    let NotifyResponse::Sweep(report) = w.call(&scheduled_event()).await.unwrap() else {
        panic!("the schedule got a stream answer");
    };
    assert_eq!(report.outboxes_drained, 0);
    assert_eq!(report.deliveries, DeliveryTally::default());
    assert_eq!(rx.got().len(), 2);
}

#[tokio::test]
async fn a_failed_attempt_stays_pending_and_the_schedule_delivers_it_later() {
    let w = World::new().await;
    let rx = Receiver::start(&[500]).await;
    let endpoint = w.endpoint(format!("{}/hook", rx.base)).await;
    let job = w.ended_job(None).await;
    let id = delivery_id(&job.outbox[0].event_id, &endpoint.webhook_id);

    let resp = w.call(&stream_event_for(&job.job_id)).await.unwrap();
    assert!(
        failures(&resp).is_empty(),
        "a receiver's 500 is the delivery's retry, not the record's: {resp:?}"
    );
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].answered, 500);
    let d = w.env.adapters.deliveries.get(&id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].status_code, Some(500));
    let next = d.next_attempt_at.expect("a retry is scheduled");

    // Scale 0.001: the first retry (5 s) is due after about 5 ms.
    while chrono::Utc::now() <= next {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let NotifyResponse::Sweep(report) = w.call(&scheduled_event()).await.unwrap() else {
        panic!("the schedule got a stream answer");
    };
    assert_eq!(report.outboxes_drained, 0, "the stream had drained it");
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    let got = rx.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].answered, 200);
    assert_eq!(got[1].id, got[0].id, "a retry keeps the webhook-id");
    assert_eq!(got[1].body, got[0].body, "and the body");
    got[1].verify(&endpoint.secret).unwrap();
    let d = w.env.adapters.deliveries.get(&id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(d.attempts.len(), 2);
}

#[tokio::test]
async fn a_name_that_re_pointed_to_a_refused_address_gives_up_at_once() {
    // `.invalid` never resolves, so the endpoint is accepted (DNS may change);
    // by delivery time the name points at loopback, which this policy refuses.
    let settings = NotifySettings {
        policy: AddressPolicy::default(),
        pinned_hosts: "rebound.invalid=127.0.0.1".into(),
        ..test_settings()
    };
    let w = World::with(settings).await;
    let rx = Receiver::start(&[]).await;
    let port = rx.base.rsplit(':').next().unwrap().to_string();
    let endpoint = w
        .endpoint(format!("http://rebound.invalid:{port}/hook"))
        .await;
    let job = w.ended_job(None).await;
    let id = delivery_id(&job.outbox[0].event_id, &endpoint.webhook_id);

    let resp = w.call(&stream_event_for(&job.job_id)).await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp:?}");
    let d = w.env.adapters.deliveries.get(&id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert_eq!(d.next_attempt_at, None, "no retry of a refused address");
    assert_eq!(d.attempts.len(), 1);
    let why = d.attempts[0].error.as_deref().unwrap_or_default();
    assert!(why.contains("refused address"), "{why}");
    assert!(rx.got().is_empty(), "the receiver was never contacted");
}

#[tokio::test]
async fn the_schedule_drains_outboxes_the_stream_missed() {
    let w = World::new().await;
    let rx = Receiver::start(&[]).await;
    let endpoint = w.endpoint(format!("{}/hook", rx.base)).await;
    let job = w.ended_job(None).await;

    let NotifyResponse::Sweep(report) = w.call(&scheduled_event()).await.unwrap() else {
        panic!("the schedule got a stream answer");
    };
    assert_eq!(
        (
            report.outboxes_drained,
            report.deliveries_created,
            report.drain_errors
        ),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    let got = rx.got();
    assert_eq!(got.len(), 1);
    got[0].verify(&endpoint.secret).unwrap();
    assert!(w
        .jobs()
        .get(&job.job_id)
        .await
        .unwrap()
        .unwrap()
        .outbox
        .is_empty());

    // The stream record arriving late finds nothing to do.
    let resp = w.call(&stream_event_for(&job.job_id)).await.unwrap();
    assert!(failures(&resp).is_empty());
    assert_eq!(rx.got().len(), 1);
}

#[tokio::test]
async fn no_delivery_starts_when_the_invocation_is_about_to_end() {
    let w = World::new().await;
    let rx = Receiver::start(&[]).await;
    w.endpoint(format!("{}/hook", rx.base)).await;
    let job = w.ended_job(None).await;

    // Less than the 20 s margin left: the outbox is drained (durable), nothing is sent.
    let resp = w
        .call_until(
            &stream_event_for(&job.job_id),
            Instant::now() + Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(failures(&resp).is_empty());
    assert!(rx.got().is_empty());
    assert!(w
        .jobs()
        .get(&job.job_id)
        .await
        .unwrap()
        .unwrap()
        .outbox
        .is_empty());
    let NotifyResponse::Sweep(report) = w
        .call_until(&scheduled_event(), Instant::now())
        .await
        .unwrap()
    else {
        panic!("the schedule got a stream answer");
    };
    assert_eq!(report.deliveries, DeliveryTally::default());
    assert!(rx.got().is_empty());

    // The next sweep with time to spare sends it.
    let NotifyResponse::Sweep(report) = w.call(&scheduled_event()).await.unwrap() else {
        panic!("the schedule got a stream answer");
    };
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    assert_eq!(rx.got().len(), 1);
}

#[tokio::test]
async fn records_of_missing_jobs_and_empty_outboxes_succeed() {
    let w = World::new().await;
    let rx = Receiver::start(&[]).await;
    w.endpoint(format!("{}/hook", rx.base)).await;

    // The file's own job id: no such job in this table.
    let resp = w.call(&stream_event_for(PLACEHOLDER_JOB)).await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp:?}");

    // A job that exists but has nothing in its outbox (a duplicate record after the drain).
    let job = w.ended_job(None).await;
    update_job(w.jobs(), &job.job_id, |j| {
        j.outbox.clear();
        Ok(true)
    })
    .await
    .unwrap();
    let resp = w.call(&stream_event_for(&job.job_id)).await.unwrap();
    assert!(failures(&resp).is_empty(), "{resp:?}");
    assert!(rx.got().is_empty());
}

#[tokio::test]
async fn a_record_without_a_job_key_is_reported_alone() {
    let w = World::new().await;
    let rx = Receiver::start(&[]).await;
    w.endpoint(format!("{}/hook", rx.base)).await;
    let job = w.ended_job(None).await;

    let good = stream_event_for(&job.job_id);
    let mut bad = good["Records"][0].clone();
    bad["dynamodb"]["Keys"] = serde_json::json!({ "id": { "S": job.job_id } });
    bad["dynamodb"]["SequenceNumber"] = "4421584500000000017450439092".into();
    let batch = serde_json::json!({ "Records": [good["Records"][0].clone(), bad] });

    let resp = w.call(&batch).await.unwrap();
    assert_eq!(failures(&resp), ["4421584500000000017450439092"]);
    assert_eq!(
        serde_json::to_value(&resp).unwrap()["batchItemFailures"][0]["itemIdentifier"],
        "4421584500000000017450439092"
    );
    assert_eq!(rx.got().len(), 1, "the good record was delivered");
}

// ---------- what the function accepts ----------

#[test]
fn the_sample_events_parse() {
    let NotifyEvent::JobStream(records) = NotifyEvent::parse(&stream_event_for("job_abc")).unwrap()
    else {
        panic!("not a stream event");
    };
    assert_eq!(
        records,
        [JobStreamRecord {
            sequence_number: SEQUENCE_NUMBER.into(),
            job_id: Ok("job_abc".into()),
            outbox_pending: Some(true),
        }]
    );
    assert_eq!(
        NotifyEvent::parse(&scheduled_event()).unwrap(),
        NotifyEvent::Scheduled
    );
}

#[tokio::test]
async fn malformed_payloads_are_errors_that_say_what_they_got() {
    let w = World::new().await;
    let sqs: Value = serde_json::from_str(&event("sqs-s3-put.json")).unwrap();
    let mut other_rule = scheduled_event();
    other_rule["detail-type"] = "EC2 Instance State-change Notification".into();
    other_rule["source"] = "aws.ec2".into();
    let mut no_sequence = stream_event_for("job_abc");
    no_sequence["Records"][0]["dynamodb"]
        .as_object_mut()
        .unwrap()
        .remove("SequenceNumber");
    let cases: Vec<(Value, &str)> = vec![
        (Value::Null, "got null"),
        ("hello".into(), "got a string"),
        (serde_json::json!([1, 2]), "got an array"),
        (serde_json::json!({}), "got an object with the keys []"),
        (
            serde_json::json!({ "hello": "world" }),
            "got an object with the keys [hello]",
        ),
        (sqs, "from \"aws:sqs\""),
        (
            other_rule,
            "got an EventBridge event \"EC2 Instance State-change Notification\" from \"aws.ec2\"",
        ),
        (
            serde_json::json!({ "source": "aws.events" }),
            "malformed EventBridge event",
        ),
        (
            serde_json::json!({ "Records": "nope" }),
            "Records that is a string",
        ),
        (
            serde_json::json!({ "Records": [{ "eventSource": "aws:dynamodb" }] }),
            "without a \"dynamodb\" object",
        ),
        (no_sequence, "without dynamodb.SequenceNumber"),
    ];
    for (payload, says) in cases {
        let err = w.call(&payload).await.expect_err(&payload.to_string());
        assert_eq!(err.code(), "INVALID_EVENT", "{payload}: {err}");
        assert!(err.to_string().contains(says), "{payload}: {err}");
    }
    // An empty batch is not an error.
    let resp = w.call(&serde_json::json!({ "Records": [] })).await.unwrap();
    assert!(failures(&resp).is_empty());
}

// ---------- settings ----------

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn settings_default_to_public_destinations_and_parse_strictly() {
    let s = NotifySettings::from_vars(vars(&[])).unwrap();
    assert_eq!(s, NotifySettings::default());
    assert_eq!(s.timeout, Duration::from_secs(15));
    assert_eq!(s.retry_scale, 1.0);
    assert_eq!(s.policy, AddressPolicy::default());
    assert!(!s.policy.allow_loopback && !s.policy.allow_private);
    assert_eq!(s.delivery().lease, Duration::from_secs(30));

    let s = NotifySettings::from_vars(vars(&[
        ("CODA_WEBHOOK_TIMEOUT_SECS", "2.5"),
        ("CODA_WEBHOOK_RETRY_SCALE", "0.001"),
        ("CODA_WEBHOOK_ALLOW_LOOPBACK", "true"),
        ("CODA_WEBHOOK_ALLOW_PRIVATE", "false"),
    ]))
    .unwrap();
    assert_eq!(s.timeout, Duration::from_millis(2500));
    assert_eq!(s.retry_scale, 0.001);
    assert_eq!(s.delivery().schedule.scale(), 0.001);
    assert!(s.policy.allow_loopback && !s.policy.allow_private);

    for (var, raw) in [
        ("CODA_WEBHOOK_TIMEOUT_SECS", "abc"),
        ("CODA_WEBHOOK_TIMEOUT_SECS", "0"),
        ("CODA_WEBHOOK_TIMEOUT_SECS", "301"),
        ("CODA_WEBHOOK_TIMEOUT_SECS", "NaN"),
        ("CODA_WEBHOOK_RETRY_SCALE", "-1"),
        ("CODA_WEBHOOK_RETRY_SCALE", "inf"),
        ("CODA_WEBHOOK_RETRY_SCALE", ""),
        ("CODA_WEBHOOK_ALLOW_LOOPBACK", "yes"),
        ("CODA_WEBHOOK_ALLOW_PRIVATE", "1"),
    ] {
        let err = NotifySettings::from_vars(vars(&[(var, raw)])).expect_err(raw);
        assert!(err.to_string().contains(var), "{var}={raw}: {err}");
        assert_eq!(err.code(), "INVALID_SETTING");
    }
}

#[tokio::test]
async fn the_default_sender_refuses_loopback() {
    let rx = Receiver::start(&[]).await;
    let sender = NotifySettings::default().sender().unwrap();
    let r = sender.send(&format!("{}/hook", rx.base), &[], b"{}").await;
    assert_eq!(r.status, None);
    assert!(
        r.error
            .as_deref()
            .unwrap_or_default()
            .starts_with("refused destination"),
        "{r:?}"
    );
    assert!(rx.got().is_empty());
}

// ---------- moto's own stream, through the template's filter ----------

/// The `FilterCriteria` pattern of the notify function's stream event in `infra/template.yaml`.
fn template_filter() -> Value {
    let template = std::fs::read_to_string(format!(
        "{}/../../infra/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let line = template
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("- Pattern: '"))
        .expect("a FilterCriteria pattern in the template");
    serde_json::from_str(line.strip_suffix('\'').unwrap()).unwrap()
}

/// The subset of Lambda event filtering the template uses: nested objects, and arrays of allowed values.
fn matches(pattern: &Value, record: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, p)| record.get(k).is_some_and(|r| matches(p, r))),
        Value::Array(allowed) => allowed.contains(record),
        other => panic!("filter construct not emulated: {other}"),
    }
}

/// Every record on the jobs table's stream so far, read from moto with the DynamoDB Streams API.
async fn stream_records(stream_arn: &str) -> Vec<Value> {
    let endpoint = coda_aws::testing::emulator()
        .unwrap()
        .endpoint()
        .to_string();
    let http = reqwest::Client::new();
    let call = |target: &'static str, body: Value| {
        let (http, endpoint) = (http.clone(), endpoint.clone());
        async move {
            let resp = http
                .post(&endpoint)
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-target", format!("DynamoDBStreams_20120810.{target}"))
                // moto routes by the credential scope; it checks no signature.
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, \
                     SignedHeaders=host, Signature=0",
                )
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{target}: {}", resp.status());
            resp.json::<Value>().await.unwrap()
        }
    };
    let described = call(
        "DescribeStream",
        serde_json::json!({ "StreamArn": stream_arn }),
    )
    .await;
    let mut records = vec![];
    for shard in described["StreamDescription"]["Shards"].as_array().unwrap() {
        let mut iterator = call(
            "GetShardIterator",
            serde_json::json!({
                "StreamArn": stream_arn,
                "ShardId": shard["ShardId"],
                "ShardIteratorType": "TRIM_HORIZON",
            }),
        )
        .await["ShardIterator"]
            .clone();
        loop {
            let page = call(
                "GetRecords",
                serde_json::json!({ "ShardIterator": iterator }),
            )
            .await;
            let got = page["Records"].as_array().cloned().unwrap_or_default();
            if got.is_empty() {
                break;
            }
            records.extend(got.into_iter().map(|mut r| {
                // What the event source mapping adds to each record it hands the function.
                r["eventSourceARN"] = stream_arn.into();
                r
            }));
            iterator = page["NextShardIterator"].clone();
        }
    }
    records
}

#[tokio::test]
async fn moto_stream_records_through_the_template_filter_notify_exactly_once() {
    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
    let w = World::new().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&w.env.sdk_config);
    let table = &w.env.names.jobs_table;
    dynamo
        .update_table()
        .table_name(table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let stream_arn = dynamo
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("the jobs table has a stream")
        .to_string();

    let rx = Receiver::start(&[]).await;
    let endpoint = w.endpoint(format!("{}/hook", rx.base)).await;
    // Two writes: the create, and the `update_job` that ends it (with its outbox).
    let job = w.ended_job(None).await;
    let filter = template_filter();

    let records = stream_records(&stream_arn).await;
    assert_eq!(records.len(), 2, "create and end: {records:#?}");
    let passed: Vec<Value> = records
        .iter()
        .filter(|r| matches(&filter, r))
        .cloned()
        .collect();
    assert_eq!(passed.len(), 1, "only the write that ended the job passes");
    assert_eq!(
        passed[0]["dynamodb"]["Keys"]["pk"]["S"],
        job.job_id.as_str()
    );

    let resp = w
        .call(&serde_json::json!({ "Records": passed }))
        .await
        .unwrap();
    assert!(failures(&resp).is_empty(), "{resp:?}");
    let got = rx.got();
    assert_eq!(got.len(), 1);
    got[0].verify(&endpoint.secret).unwrap();

    // The drain's own write is on the stream too, and the filter drops it: no second invocation.
    let records = stream_records(&stream_arn).await;
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(
        records.iter().filter(|r| matches(&filter, r)).count(),
        1,
        "the drained row no longer passes the filter"
    );
}
