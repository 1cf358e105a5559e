//! The handlers on the real-shaped payloads in `events/`, over the local adapters.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use coda_api::RouteGroup;
use coda_core::model::{Job, JobKind, JobStatus, Upload, UploadState};
use coda_core::ports::{Clock, JobQueue, JobRepo, SystemClock, UploadRepo};
use coda_core::services::{Adapters, Ingest, Policies, Sessions};
use coda_lambda::{handle_ingest_batch, GatewayClaimsAuth};
use coda_local::{Db, SqliteJobRepo, SqliteQueue, SqliteSessionRepo, SqliteUploadRepo};
use tower::ServiceExt;

fn event(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../events/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

struct Local {
    _dir: tempfile::TempDir,
    uploads: SqliteUploadRepo,
    jobs: SqliteJobRepo,
    sessions: SqliteSessionRepo,
    items: coda_local::SqliteSessionItems,
    queue: SqliteQueue,
    blobs: Arc<coda_local::FolderBlobStore>,
    clock: Arc<dyn Clock>,
}

fn local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("t.db")).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let blobs = Arc::new(
        coda_local::FolderBlobStore::new(
            dir.path().join("blobs"),
            coda_core::auth::UrlSigner::new(b"k".to_vec()),
            "http://localhost".into(),
            clock.clone(),
        )
        .unwrap(),
    );
    Local {
        uploads: SqliteUploadRepo::new(db.clone()),
        jobs: SqliteJobRepo::new(db.clone()),
        sessions: SqliteSessionRepo::new(db.clone()),
        items: coda_local::SqliteSessionItems::new(db.clone()),
        queue: SqliteQueue::new(db, "jobs", None, clock.clone()),
        blobs,
        clock,
        _dir: dir,
    }
}

impl Local {
    fn adapters(&self) -> Adapters {
        let db = Db::open_in_memory().unwrap();
        Adapters {
            sessions: Arc::new(self.sessions.clone()),
            session_items: Arc::new(self.items.clone()),
            uploads: Arc::new(self.uploads.clone()),
            jobs: Arc::new(self.jobs.clone()),
            webhooks: Arc::new(coda_local::SqliteWebhookRepo::new(db.clone())),
            deliveries: Arc::new(coda_local::SqliteDeliveryRepo::new(db.clone())),
            jobs_queue: Arc::new(self.queue.clone()),
            jobs_dlq: Arc::new(SqliteQueue::new(
                db.clone(),
                "jobs-dlq",
                None,
                self.clock.clone(),
            )),
            blobs: self.blobs.clone(),
            clock: self.clock.clone(),
            ids: Arc::new(coda_core::ports::RandomIds),
            resolver: Arc::new(coda_core::ports::SystemResolver::default()),
            quota_counters: Arc::new(coda_local::SqliteQuotaCounters::new(db, self.clock.clone())),
        }
    }

    fn ingest(&self) -> Ingest {
        let a = self.adapters();
        Ingest::new(&a, Sessions::new(&a, Default::default()))
    }

    async fn pending_upload(&self, id: &str, filename: &str) {
        let now = self.clock.now();
        self.uploads
            .create(&Upload {
                owner: "alice".into(),
                key: format!("uploads/{id}/{filename}"),
                filename: filename.into(),
                declared_size: 1,
                declared_content_type: String::new(),
                created_at: now,
                expires_at: now + chrono::Duration::hours(1),
                ..coda_contract::fixtures::upload(id)
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn ingest_batch_creates_jobs_once_and_decodes_keys() {
    let l = local();
    l.pending_upload("upl_0123456789abcdef", "my song (final) café.wav")
        .await;
    l.pending_upload("upl_fedcba9876543210", "take2.flac").await;
    let batch: SqsEvent = serde_json::from_str(&event("sqs-s3-put.json")).unwrap();

    let resp = handle_ingest_batch(&l.ingest(), batch.clone()).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    let first = l
        .uploads
        .get("upl_0123456789abcdef")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.state,
        UploadState::Received,
        "the S3-encoded key was decoded and matched"
    );
    assert_eq!(first.job_ids.len(), 1);
    let job = l.jobs.get(&first.job_ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (job.kind, job.status, job.owner.as_str()),
        (JobKind::from_static("probe"), JobStatus::Queued, "alice")
    );
    assert_eq!(l.queue.depth().await.unwrap(), 2);

    // SQS delivers at least once: the same batch again creates no second job.
    let resp = handle_ingest_batch(&l.ingest(), batch).await;
    assert!(resp.batch_item_failures.is_empty());
    let again = l
        .uploads
        .get("upl_0123456789abcdef")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.job_ids, first.job_ids);

    // A second write to the same slot (a presigned S3 PUT cannot refuse it) starts no jobs.
    let depth = l.queue.depth().await.unwrap();
    let rewritten =
        serde_json::to_string(&batch_with_etag(&event("sqs-s3-put.json"), "0ther")).unwrap();
    let batch: SqsEvent = serde_json::from_str(&rewritten).unwrap();
    let resp = handle_ingest_batch(&l.ingest(), batch).await;
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    let after = l.uploads.get("upl_0123456789abcdef").await;
    let after = after.unwrap().unwrap();
    assert_eq!((after.job_ids, after.etag), (first.job_ids, first.etag));
    assert_eq!(
        l.queue.depth().await.unwrap(),
        depth,
        "no job for the second write"
    );
}

/// The SQS batch `raw` with every S3 record's object etag replaced by `etag`.
fn batch_with_etag(raw: &str, etag: &str) -> serde_json::Value {
    let mut batch: serde_json::Value = serde_json::from_str(raw).unwrap();
    for record in batch["Records"].as_array_mut().unwrap() {
        let mut body: serde_json::Value =
            serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        for r in body["Records"].as_array_mut().into_iter().flatten() {
            r["s3"]["object"]["eTag"] = serde_json::Value::String(etag.into());
        }
        record["body"] = serde_json::Value::String(body.to_string());
    }
    batch
}

#[tokio::test]
async fn test_events_are_tolerated_and_malformed_records_are_reported_alone() {
    let l = local();
    let test_event: SqsEvent = serde_json::from_str(&event("sqs-s3-test-event.json")).unwrap();
    let resp = handle_ingest_batch(&l.ingest(), test_event).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(l.queue.depth().await.unwrap(), 0);

    l.pending_upload("upl_0123456789abcdef", "a.wav").await;
    let mixed: SqsEvent = serde_json::from_str(&event("sqs-s3-malformed.json")).unwrap();
    let resp = handle_ingest_batch(&l.ingest(), mixed).await;
    let failed: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["bbbbbbbb-0000-4000-8000-00000000000b"]);
    let json = serde_json::to_value(&resp).unwrap();
    assert_eq!(
        json["batchItemFailures"][0]["itemIdentifier"],
        "bbbbbbbb-0000-4000-8000-00000000000b"
    );
    assert_eq!(
        l.uploads
            .get("upl_0123456789abcdef")
            .await
            .unwrap()
            .unwrap()
            .state,
        UploadState::Received
    );
}

fn state(l: &Local) -> coda_api::SharedState {
    let policies = Policies {
        limits: Default::default(),
        kinds: coda_core::kinds::Kinds::new(
            coda_jobs::registry(),
            &[JobKind::from_static("probe")],
        ),
        webhook_policy: Default::default(),
        quotas: coda_core::services::QuotaPolicy::unlimited(),
    };
    Arc::new(coda_api::AppState {
        redirect_downloads: true,
        ..coda_api::AppState::new(l.adapters(), policies, Arc::new(GatewayClaimsAuth))
    })
}

async fn call(l: &Local, raw: &str) -> (u16, serde_json::Value) {
    let req = lambda_http::request::from_str(raw).unwrap();
    let app = coda_api::router_for(
        state(l),
        &[RouteGroup::Jobs, RouteGroup::Blobs, RouteGroup::Meta],
    );
    respond(app, req).await
}

/// Runs `req` through `app`: the status and the JSON body (null when the body is not JSON).
async fn respond(app: axum::Router, req: lambda_http::Request) -> (u16, serde_json::Value) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn api_gateway_requests_take_the_owner_from_jwt_claims() {
    let l = local();
    let raw = event("apigw-v2-get-job.json");
    let (status, body) = call(&l, &raw).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    let now = l.clock.now();
    let job = Job {
        input_key: "uploads/upl_x/a.wav".into(),
        ..coda_contract::fixtures::job("job_0123456789abcdef", "alice", now)
    };
    l.jobs.create(&job).await.unwrap();
    let (status, body) = call(&l, &raw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["job_id"], "job_0123456789abcdef");

    // Another user's claims: 404, never 403. No claims at all: 401.
    let (status, _) = call(&l, &raw.replace("\"sub\": \"alice\"", "\"sub\": \"bob\"")).await;
    assert_eq!(status, 404);
    let mut v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    v["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let (status, body) = call(&l, &v.to_string()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );

    // Routes of other groups are not served by this function.
    let sessions = raw
        .replace("/v1/jobs/job_0123456789abcdef", "/v1/sessions/ses_1")
        .replace("GET /v1/jobs/{id}", "GET /v1/sessions/{id}");
    let (status, body) = call(&l, &sessions).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
}

/// `POST /v1/uploads` as API Gateway hands it to the upload function, for user `alice`.
fn upload_request(size: u64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&event("apigw-v2-get-job.json")).unwrap();
    v["routeKey"] = "POST /v1/uploads".into();
    v["rawPath"] = "/v1/uploads".into();
    v["requestContext"]["http"]["method"] = "POST".into();
    v["requestContext"]["http"]["path"] = "/v1/uploads".into();
    v["requestContext"]["routeKey"] = "POST /v1/uploads".into();
    v["headers"]["content-type"] = "application/json".into();
    v.as_object_mut().unwrap().remove("pathParameters");
    v["body"] = serde_json::json!({"filename": "a.wav", "size": size, "jobs": ["probe"]})
        .to_string()
        .into();
    v.to_string()
}

#[tokio::test]
async fn the_upload_function_honours_its_configured_limit_on_moto() {
    let env = coda_aws::testing::TestEnv::new(3)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let vars = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let post = |config: coda_config::Config, size: u64| {
        let kinds = coda_lambda::kinds_from_config(&config).unwrap();
        let state =
            coda_lambda::http_state(&env.adapters, &config, kinds, Arc::new(GatewayClaimsAuth));
        let app = coda_api::router_for(state, &[RouteGroup::Uploads]);
        let req = lambda_http::request::from_str(&upload_request(size)).unwrap();
        respond(app, req)
    };
    // The defaults take 5000 bytes; CODA_MAX_UPLOAD_BYTES=1000 makes the same request a 413.
    let (status, body) = post(coda_config::Config::for_lambda(vars(&[])).unwrap(), 5000).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["put_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature"),
        "{body}"
    );
    let lowered =
        coda_config::Config::for_lambda(vars(&[("CODA_MAX_UPLOAD_BYTES", "1000")])).unwrap();
    let (status, body) = post(lowered.clone(), 5000).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{body}"
    );
    let (status, body) = post(lowered, 900).await;
    assert_eq!(status, 201, "{body}");
    // CODA_JOB_KINDS narrows what the API accepts to what the workers run.
    let narrowed =
        coda_config::Config::for_lambda(vars(&[("CODA_JOB_KINDS", "transcribe")])).unwrap();
    let (status, body) = post(narrowed, 900).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("JOB_KIND_UNAVAILABLE")),
        "{body}"
    );
}

/// The chat function's router (the Chat group only) over `l`.
async fn call_chat(l: &Local, raw: &str) -> (u16, serde_json::Value) {
    let req = lambda_http::request::from_str(raw).unwrap();
    respond(coda_api::router_for(state(l), &[RouteGroup::Chat]), req).await
}

#[tokio::test]
async fn the_chat_function_answers_api_gateways_chat_event_and_keeps_the_history() {
    let l = local();
    let st = state(&l);
    let owner = coda_core::model::Owner("alice".into());
    let sid = st
        .services
        .sessions
        .create(&owner)
        .await
        .unwrap()
        .session_id;
    let raw = event("apigw-v2-chat.json").replace("ses_0123456789abcdef", &sid);
    // No score yet: the planner says so and calls nothing.
    let (status, body) = call_chat(&l, &raw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tool_calls"], serde_json::json!([]));
    assert!(body["reply"].as_str().unwrap().contains("upload"), "{body}");
    // A cpu tool runs in the function; its failure is reported, not raised.
    let undo = raw.replace("make it softer, then sing it", "undo it");
    let mut v: serde_json::Value = serde_json::from_str(&undo).unwrap();
    v["headers"]
        .as_object_mut()
        .unwrap()
        .remove("content-length");
    let (status, body) = call_chat(&l, &v.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tool_calls"][0]["tool"], "undo_score", "{body}");
    assert_eq!(body["tool_calls"][0]["route"], "cpu");
    assert_eq!(body["tool_calls"][0]["ok"], false);
    let history = st
        .services
        .sessions
        .view(&owner, &sid)
        .await
        .unwrap()
        .history;
    let roles: Vec<&str> = history.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "tool", "assistant"]);
    // Another user's claims: 404; the function serves no other group's routes.
    let (status, _) = call_chat(&l, &raw.replace("\"sub\": \"alice\"", "\"sub\": \"bob\"")).await;
    assert_eq!(status, 404);
    let job = event("apigw-v2-get-job.json");
    let (status, body) = call_chat(&l, &job).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
}
