//! The AWS adapters on the moto emulator: every shared port contract, plus
//! what only AWS has (bootstrap, DynamoDB item layout, S3 → SQS notifications).
//!
//! One moto server serves the whole binary; each test bootstraps its own
//! resource prefix. Without moto these tests fail and say to run
//! `scripts/emulator.sh`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use bytes::Bytes;
use coda_aws::bootstrap::{IndexSpec, DELIVERIES_INDEXES, JOBS_INDEXES, WEBHOOKS_INDEXES};
use coda_aws::dynamo::{created_key, due_key, SESSION_TTL_GRACE, UPLOAD_TTL_GRACE};
use coda_aws::names::JOBS_BY_OWNER_INDEX;
use coda_aws::testing::{sdk_config_for, unique_prefix, TestEnv};
use coda_aws::{
    bootstrap, object_created_from_s3_event, AwsAdapters, AwsNames, DynamoJobRepo, S3BlobStore,
    SqsJobQueue,
};
use coda_contract as contract;
use coda_contract::fixtures::{delivery, job, outbox_event, session, t0, uid, upload, webhook};
use coda_core::model::DeliveryStatus;
use coda_core::ports::{BlobStore, JobQueue, JobRepo, ObjectCreated, WebhookRepo};

/// The jobs queue's redrive count in these tests.
const MAX_RECEIVES: u32 = 3;

async fn env() -> TestEnv {
    TestEnv::new(MAX_RECEIVES)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

// ---------- the shared contract ----------

#[tokio::test]
async fn sessions_conditional_writes() {
    contract::check_session_conditional_writes(env().await.adapters.sessions.as_ref()).await;
}

#[tokio::test]
async fn sessions_expiry() {
    contract::check_session_expiry(env().await.adapters.sessions.as_ref()).await;
}

#[tokio::test]
async fn uploads_conditional_writes() {
    contract::check_upload_conditional_writes(env().await.adapters.uploads.as_ref()).await;
}

#[tokio::test]
async fn jobs_conditional_writes() {
    contract::check_job_conditional_writes(env().await.adapters.jobs.as_ref()).await;
}

#[tokio::test]
async fn jobs_pagination() {
    contract::check_job_pagination(env().await.adapters.jobs.as_ref()).await;
}

// `check_job_concurrent_updates` is not run here: moto's threaded server evaluates a
// ConditionExpression and writes the item without one lock around both, so two concurrent
// writers can both pass `version = :expected` (seen here: 159 of 160 increments). DynamoDB
// evaluates conditions atomically. The conflict semantics are checked sequentially above,
// and the concurrent check runs against SQLite in shared/local/tests/contract.rs.

#[tokio::test]
async fn webhooks_repo() {
    contract::check_webhook_repo(env().await.adapters.webhooks.as_ref()).await;
}

#[tokio::test]
async fn deliveries_repo() {
    contract::check_delivery_repo(env().await.adapters.deliveries.as_ref()).await;
}

#[tokio::test]
async fn deliveries_due() {
    contract::check_delivery_due(env().await.adapters.deliveries.as_ref()).await;
}

#[tokio::test]
async fn jobs_outbox() {
    contract::check_job_outbox(env().await.adapters.jobs.as_ref()).await;
}

#[tokio::test]
async fn queue_visibility() {
    contract::check_queue_visibility(env().await.adapters.jobs_queue.as_ref()).await;
}

#[tokio::test]
async fn session_items() {
    contract::check_session_items(env().await.adapters.session_items.as_ref()).await;
}

#[tokio::test]
async fn quota_counters() {
    let counters = env().await.adapters.quota_counters.clone();
    contract::check_quota_counters(counters.as_ref()).await;
    contract::check_quota_counters_race(counters).await;
}

#[tokio::test]
async fn sessions_scale() {
    contract::check_session_scales(&env().await.adapters.core()).await;
}

#[tokio::test]
async fn score_revisions() {
    contract::check_score_revisions(&env().await.adapters.core()).await;
}

#[tokio::test]
async fn queue_delay() {
    contract::check_queue_delay(env().await.adapters.jobs_queue.as_ref()).await;
}

#[tokio::test]
async fn queue_delivery() {
    contract::check_queue_delivery(env().await.adapters.jobs_queue.as_ref()).await;
}

#[tokio::test]
async fn queue_dead_letter() {
    let a = env().await.adapters;
    contract::check_queue_dead_letter(a.jobs_queue.as_ref(), a.jobs_dlq.as_ref(), MAX_RECEIVES)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_wait() {
    contract::check_queue_wait(env().await.adapters.jobs_queue).await;
}

#[tokio::test]
async fn blob_put_new() {
    contract::check_blob_put_new(env().await.adapters.blobs.as_ref()).await;
}

#[tokio::test]
async fn blob_basics() {
    contract::check_blob_basics(env().await.adapters.blobs.as_ref()).await;
}

#[tokio::test]
async fn blob_ranges() {
    contract::check_blob_ranges(env().await.adapters.blobs.as_ref()).await;
}

#[tokio::test]
async fn blob_keys() {
    contract::check_blob_keys(env().await.adapters.blobs.as_ref()).await;
}

#[tokio::test]
async fn blob_delete_prefix() {
    contract::check_blob_delete_prefix(env().await.adapters.blobs.as_ref()).await;
}

#[tokio::test]
async fn blob_presign_urls() {
    contract::check_blob_presign_urls(env().await.adapters.blobs.as_ref()).await;
}

// ---------- AWS only ----------

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().unwrap(),
        other => panic!("{name} is not a number: {other:?}"),
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v,
        other => panic!("{name} is not a string: {other:?}"),
    }
}

async fn raw_item(env: &TestEnv, table: &str, id: &str) -> HashMap<String, AttributeValue> {
    aws_sdk_dynamodb::Client::new(&env.sdk_config)
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(id.to_string()))
        .send()
        .await
        .unwrap()
        .item
        .expect("item exists")
}

#[tokio::test]
async fn bootstrap_twice_updates_settings_and_keeps_data() {
    let env = env().await;
    let id = uid("job");
    env.adapters
        .jobs
        .create(&job(&id, "o", t0()))
        .await
        .unwrap();
    env.adapters
        .blobs
        .put("uploads/u/x", Bytes::from_static(b"x"), "a/b")
        .await
        .unwrap();

    bootstrap(&env.names, &env.sdk_config, MAX_RECEIVES)
        .await
        .unwrap();
    bootstrap(&env.names, &env.sdk_config, 7).await.unwrap();
    assert!(
        env.adapters.jobs.get(&id).await.unwrap().is_some(),
        "rows survive"
    );
    assert!(
        env.adapters
            .blobs
            .head("uploads/u/x")
            .await
            .unwrap()
            .is_some(),
        "objects survive"
    );

    let sqs = aws_sdk_sqs::Client::new(&env.sdk_config);
    let redrive = |url: String| {
        let sqs = sqs.clone();
        async move {
            let out = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            let attrs = out.attributes().unwrap();
            let policy: serde_json::Value =
                serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
            (policy, attrs.get(&QueueAttributeName::Policy).cloned())
        }
    };
    let url = |name: &str| {
        let sqs = sqs.clone();
        let name = name.to_string();
        async move {
            sqs.get_queue_url()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url()
                .unwrap()
                .to_string()
        }
    };
    let (jobs_redrive, _) = redrive(url(&env.names.jobs_queue).await).await;
    assert_eq!(
        jobs_redrive["maxReceiveCount"]
            .to_string()
            .trim_matches('"'),
        "7"
    );
    assert!(jobs_redrive["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{}", env.names.jobs_dlq)));
    let (ingest_redrive, ingest_policy) = redrive(url(&env.names.ingest_queue).await).await;
    assert_eq!(
        ingest_redrive["maxReceiveCount"]
            .to_string()
            .trim_matches('"'),
        "5"
    );
    assert!(ingest_redrive["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{}", env.names.ingest_dlq)));
    let policy = ingest_policy.expect("the ingest queue lets S3 send");
    assert!(
        policy.contains("s3.amazonaws.com") && policy.contains(&env.names.bucket),
        "{policy}"
    );

    let dynamo = aws_sdk_dynamodb::Client::new(&env.sdk_config);
    for table in [&env.names.sessions_table, &env.names.uploads_table] {
        let ttl = dynamo
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .unwrap();
        let d = ttl.time_to_live_description().unwrap();
        assert_eq!(
            d.time_to_live_status(),
            Some(&TimeToLiveStatus::Enabled),
            "{table}"
        );
        assert_eq!(d.attribute_name(), Some("ttl"));
    }
    for (table, indexes) in [
        (&env.names.jobs_table, JOBS_INDEXES),
        (&env.names.webhooks_table, WEBHOOKS_INDEXES),
        (&env.names.deliveries_table, DELIVERIES_INDEXES),
    ] {
        assert_eq!(
            index_keys(&env.sdk_config, table).await,
            expected_keys(indexes),
            "{table}"
        );
    }
    assert_eq!(
        JOBS_INDEXES[0],
        IndexSpec {
            name: JOBS_BY_OWNER_INDEX,
            hash: "owner",
            range: "created_key"
        }
    );

    let s3 = S3BlobStore::new(&env.sdk_config, &env.names.bucket);
    let notification = s3
        .client()
        .get_bucket_notification_configuration()
        .bucket(&env.names.bucket)
        .send()
        .await
        .unwrap();
    let queues = notification.queue_configurations();
    assert_eq!(queues.len(), 1, "re-running replaces, not adds: {queues:?}");
    assert!(queues[0]
        .queue_arn()
        .ends_with(&format!(":{}", env.names.ingest_queue)));
    let rules = queues[0].filter().unwrap().key().unwrap().filter_rules();
    assert_eq!(rules[0].value(), Some("uploads/"));

    assert_eq!(
        bootstrap(&env.names, &env.sdk_config, 0)
            .await
            .unwrap_err()
            .code(),
        "INVALID_MAX_RECEIVES"
    );
}

type IndexKeys = Vec<(String, Vec<(String, KeyType)>)>;

/// Every index of `table` with its keys, sorted by name.
async fn index_keys(sdk_config: &SdkConfig, table: &str) -> IndexKeys {
    let out = aws_sdk_dynamodb::Client::new(sdk_config)
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let mut found: IndexKeys = out
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let keys = i
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
                .collect();
            (i.index_name().unwrap().to_string(), keys)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn expected_keys(indexes: &[IndexSpec]) -> IndexKeys {
    let mut want: IndexKeys = indexes
        .iter()
        .map(|i| {
            (
                i.name.to_string(),
                vec![
                    (i.hash.to_string(), KeyType::Hash),
                    (i.range.to_string(), KeyType::Range),
                ],
            )
        })
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    want
}

fn string_key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

/// Creates `table` keyed by `pk` with one index, as an older bootstrap (or another tool) might have.
async fn create_table_with_index(
    sdk_config: &SdkConfig,
    table: &str,
    index: &str,
    keys: [&str; 2],
) {
    let definition = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    aws_sdk_dynamodb::Client::new(sdk_config)
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition("pk"))
        .attribute_definitions(definition(keys[0]))
        .attribute_definitions(definition(keys[1]))
        .key_schema(string_key("pk", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(string_key(keys[0], KeyType::Hash))
                .key_schema(string_key(keys[1], KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn bootstrap_adds_the_outbox_index_to_an_existing_jobs_table() {
    let emulator = coda_aws::testing::emulator().unwrap_or_else(|e| panic!("{e}"));
    let sdk_config = emulator.sdk_config().await;
    let names = AwsNames::new(&unique_prefix()).unwrap();
    // The jobs table as the previous bootstrap made it: the owner index only.
    create_table_with_index(
        &sdk_config,
        &names.jobs_table,
        JOBS_BY_OWNER_INDEX,
        ["owner", "created_key"],
    )
    .await;
    // A job written before the index exists (its item already has the sparse attributes).
    let jobs = DynamoJobRepo::new(
        aws_sdk_dynamodb::Client::new(&sdk_config),
        &names.jobs_table,
    );
    let mut waiting = job(&uid("job"), "o", t0());
    waiting.outbox = vec![outbox_event(t0())];
    jobs.create(&waiting).await.unwrap();
    let plain = job(&uid("job"), "o", t0());
    jobs.create(&plain).await.unwrap();

    bootstrap(&names, &sdk_config, MAX_RECEIVES).await.unwrap();
    assert_eq!(
        index_keys(&sdk_config, &names.jobs_table).await,
        expected_keys(JOBS_INDEXES)
    );
    bootstrap(&names, &sdk_config, MAX_RECEIVES).await.unwrap();
    assert_eq!(
        index_keys(&sdk_config, &names.jobs_table).await,
        expected_keys(JOBS_INDEXES),
        "a second run changes nothing"
    );
    let listed: Vec<String> = jobs
        .list_with_outbox(10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(
        listed,
        vec![waiting.job_id.clone()],
        "existing items are indexed"
    );
    let page = jobs
        .list_by_owner(&coda_core::model::Owner("o".into()), 10, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2, "the old index still answers");
}

#[tokio::test]
async fn bootstrap_refuses_an_index_with_other_keys() {
    let env = env().await;
    let names = AwsNames::new(&unique_prefix()).unwrap();
    create_table_with_index(
        &env.sdk_config,
        &names.deliveries_table,
        coda_aws::names::DELIVERIES_DUE_INDEX,
        ["due", "created_key"],
    )
    .await;
    let err = bootstrap(&names, &env.sdk_config, MAX_RECEIVES)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INTERNAL");
    let message = err.to_string();
    assert!(
        message.contains("index 'due'") && message.contains(&names.deliveries_table),
        "{message}"
    );
}

#[tokio::test]
async fn sparse_attributes_follow_outbox_and_status() {
    let env = env().await;
    let a = &env.adapters;

    let mut j = job(&uid("job"), "owner-j", t0());
    a.jobs.create(&j).await.unwrap();
    let item = raw_item(&env, &env.names.jobs_table, &j.job_id).await;
    assert!(!item.contains_key("outbox") && !item.contains_key("outbox_key"));
    j.status = coda_core::model::JobStatus::Succeeded;
    j.updated_at = t0() + chrono::Duration::seconds(30);
    j.outbox = vec![outbox_event(j.updated_at)];
    let j = a.jobs.update(&j).await.unwrap();
    let item = raw_item(&env, &env.names.jobs_table, &j.job_id).await;
    assert_eq!(text(&item, "outbox"), "pending");
    assert_eq!(
        text(&item, "outbox_key"),
        created_key(j.updated_at, &j.job_id)
    );
    let body: serde_json::Value = serde_json::from_str(text(&item, "body")).unwrap();
    assert_eq!(body["status"], "succeeded", "one write: status and outbox");
    let mut drained = j.clone();
    drained.outbox.clear();
    a.jobs.update(&drained).await.unwrap();
    let item = raw_item(&env, &env.names.jobs_table, &j.job_id).await;
    assert!(!item.contains_key("outbox") && !item.contains_key("outbox_key"));

    let w = webhook(&uid("wh"), "owner-w", t0());
    a.webhooks.create(&w).await.unwrap();
    let item = raw_item(&env, &env.names.webhooks_table, &w.webhook_id).await;
    assert_eq!(text(&item, "owner"), "owner-w");
    assert_eq!(
        text(&item, "created_key"),
        created_key(w.created_at, &w.webhook_id)
    );
    assert_eq!(number(&item, "version"), 0);

    let d = delivery(&uid("dlv"), Some(&w.webhook_id), t0());
    a.deliveries.create(&d).await.unwrap();
    let item = raw_item(&env, &env.names.deliveries_table, &d.delivery_id).await;
    assert_eq!(text(&item, "webhook_id"), w.webhook_id);
    assert_eq!(text(&item, "due"), "pending");
    assert_eq!(
        text(&item, "due_key"),
        due_key(d.next_attempt_at.unwrap(), &d.delivery_id)
    );
    let mut done = d.clone();
    done.status = DeliveryStatus::Delivered;
    done.next_attempt_at = None;
    a.deliveries.update(&done).await.unwrap();
    let item = raw_item(&env, &env.names.deliveries_table, &d.delivery_id).await;
    assert!(!item.contains_key("due") && !item.contains_key("due_key"));
    assert_eq!(text(&item, "webhook_id"), w.webhook_id, "still listed");

    let own = delivery(&uid("dlv"), None, t0());
    a.deliveries.create(&own).await.unwrap();
    let item = raw_item(&env, &env.names.deliveries_table, &own.delivery_id).await;
    assert!(
        !item.contains_key("webhook_id"),
        "a job's own webhook has no endpoint"
    );
    assert_eq!(text(&item, "due"), "pending");
}

#[tokio::test]
async fn due_listing_is_exact_to_the_nanosecond() {
    let env = env().await;
    let repo = env.adapters.deliveries.as_ref();
    let now = t0() + chrono::Duration::nanoseconds(1_234_567);
    let mut at_now = delivery(&uid("dlv"), None, t0());
    at_now.next_attempt_at = Some(now);
    let mut just_after = delivery(&uid("dlv"), None, t0());
    just_after.next_attempt_at = Some(now + chrono::Duration::nanoseconds(1));
    let mut just_before = delivery(&uid("dlv"), None, t0());
    just_before.next_attempt_at = Some(now - chrono::Duration::nanoseconds(1));
    for d in [&at_now, &just_after, &just_before] {
        repo.create(d).await.unwrap();
    }
    let due: Vec<String> = repo
        .list_due(now, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    assert_eq!(due, vec![just_before.delivery_id, at_now.delivery_id]);
    assert!(repo.list_due(now, 10).await.unwrap()[0].next_attempt_at < Some(now));
    assert!(
        WebhookRepo::list_by_owner(
            env.adapters.webhooks.as_ref(),
            &coda_core::model::Owner(String::new())
        )
        .await
        .unwrap()
        .is_empty(),
        "an empty owner lists nothing rather than failing"
    );
    let page = repo.list_by_webhook("", 10, None).await.unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
}

#[tokio::test]
async fn items_carry_keys_version_and_ttl() {
    let env = env().await;
    let a = &env.adapters;
    let ses = session(&uid("ses"), t0() + chrono::Duration::seconds(90));
    a.sessions.create(&ses).await.unwrap();
    let item = raw_item(&env, &env.names.sessions_table, &ses.session_id).await;
    assert_eq!(
        number(&item, "ttl"),
        ses.expires_at.timestamp() + SESSION_TTL_GRACE.as_secs() as i64
    );
    assert_eq!(
        number(&item, "expires_at_ms"),
        ses.expires_at.timestamp_millis()
    );
    assert_eq!(number(&item, "version"), 0);
    assert_eq!(text(&item, "owner"), "owner-s");
    let body: serde_json::Value = serde_json::from_str(text(&item, "body")).unwrap();
    assert_eq!(body["session_id"], ses.session_id.as_str());

    let mut moved = ses.clone();
    moved.expires_at = t0() + chrono::Duration::seconds(500);
    a.sessions.update(&moved).await.unwrap();
    let item = raw_item(&env, &env.names.sessions_table, &ses.session_id).await;
    assert_eq!(
        (number(&item, "ttl"), number(&item, "version")),
        (
            moved.expires_at.timestamp() + SESSION_TTL_GRACE.as_secs() as i64,
            1
        ),
        "updates move the TTL"
    );

    let upl = upload(&uid("upl"));
    a.uploads.create(&upl).await.unwrap();
    let item = raw_item(&env, &env.names.uploads_table, &upl.upload_id).await;
    assert_eq!(
        number(&item, "ttl"),
        upl.expires_at.timestamp() + UPLOAD_TTL_GRACE.as_secs() as i64
    );

    let j = job(&uid("job"), "owner-j", t0());
    a.jobs.create(&j).await.unwrap();
    let item = raw_item(&env, &env.names.jobs_table, &j.job_id).await;
    assert_eq!(
        text(&item, "created_key"),
        created_key(j.created_at, &j.job_id)
    );
    assert!(!item.contains_key("ttl"), "jobs never expire");
}

/// Drains the ingest queue for `within`, skipping S3 test events; returns the object events.
async fn ingest_events(queue: &dyn JobQueue, want: usize, within: Duration) -> Vec<ObjectCreated> {
    let deadline = Instant::now() + within;
    let mut events = Vec::new();
    while events.len() < want && Instant::now() < deadline {
        for m in queue
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap()
        {
            events.extend(object_created_from_s3_event(&m.body).unwrap());
            queue.ack(&m.receipt).await.unwrap();
        }
    }
    events
}

#[tokio::test]
async fn presigned_put_notifies_ingest_with_the_decoded_key() {
    let env = env().await;
    let a = &env.adapters;
    let key = format!("uploads/{}/my song ünï+1 曲.wav", uid("upl"));
    let body = Bytes::from_static(b"RIFF....WAVEfmt ");
    let signed = a
        .blobs
        .presign_put(&key, "audio/wav", Duration::from_secs(300))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let send = |bytes: Bytes| {
        let mut req = http.put(&signed.url).body(bytes);
        for (k, v) in &signed.headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let put = send(body.clone()).await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    // The slot takes one PUT: S3 refuses a second one (If-None-Match: * is signed), the bytes stay.
    let again = send(Bytes::from_static(b"RIFF....WAVEother"))
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        412,
        "{}",
        again.text().await.unwrap_or_default()
    );
    // moto checks no signatures, so the 403 S3 gives a PUT without the header is not seen here;
    // that the header is signed is: SigV4 lists it in X-Amz-SignedHeaders.
    let signed_headers = signed
        .url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
        .expect("a SigV4 URL");
    assert!(signed_headers.contains("if-none-match"), "{signed_headers}");
    // Outside uploads/ nothing is announced.
    a.blobs
        .put(
            "results/j/out.json",
            Bytes::from_static(b"{}"),
            "application/json",
        )
        .await
        .unwrap();

    let meta = a.blobs.head(&key).await.unwrap().expect("the PUT landed");
    assert_eq!(meta.size, body.len() as u64);
    let events = ingest_events(a.ingest_queue.as_ref(), 1, Duration::from_secs(15)).await;
    assert_eq!(
        events,
        vec![ObjectCreated {
            bucket: env.names.bucket.clone(),
            key: key.clone(),
            size: meta.size,
            etag: meta.etag.clone(),
        }]
    );
    assert!(
        ingest_events(a.ingest_queue.as_ref(), 1, Duration::from_secs(2))
            .await
            .is_empty(),
        "one event per upload, none for results/"
    );

    let get_url = a
        .blobs
        .presign_get(&key, Duration::from_secs(300))
        .await
        .unwrap();
    let got = http.get(&get_url).send().await.unwrap();
    assert!(got.status().is_success());
    assert_eq!(got.bytes().await.unwrap(), body);
}

#[tokio::test]
async fn connect_before_bootstrap_is_not_found() {
    let emulator = coda_aws::testing::emulator().unwrap_or_else(|e| panic!("{e}"));
    let names = AwsNames::new(&unique_prefix()).unwrap();
    let err = AwsAdapters::connect(&names, &emulator.sdk_config().await)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    assert!(err.to_string().contains(&names.jobs_queue), "{err}");
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    // A port nothing listens on: bound, read, released.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = sdk_config_for(&format!("http://127.0.0.1:{port}"))
        .await
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    let blobs = S3BlobStore::new(&config, "b");
    assert_eq!(blobs.head("k").await.unwrap_err().code(), "UNAVAILABLE");
    let jobs = DynamoJobRepo::new(aws_sdk_dynamodb::Client::new(&config), "t");
    assert_eq!(jobs.get("job_1").await.unwrap_err().code(), "UNAVAILABLE");
    let queue = SqsJobQueue::new(
        aws_sdk_sqs::Client::new(&config),
        &format!("http://127.0.0.1:{port}/123456789012/q"),
    );
    assert_eq!(queue.send("x").await.unwrap_err().code(), "UNAVAILABLE");
}
