//! The shared port contracts (`coda-contract`) against the local adapters,
//! plus what only the local adapters promise: files on disk, reopening,
//! strict FIFO order, per-receive receipts, signed local URLs and events.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use coda_contract as contract;
use coda_contract::fixtures::{code, job, secs, t0, uid};
use coda_core::auth::UrlSigner;
use coda_core::ports::{
    BlobStore, Clock, JobQueue, JobRepo, ObjectCreated, ObjectEvents, SystemClock,
};
use coda_core::{CodaError, Result};
use coda_local::{
    encode_key_path, Db, FolderBlobStore, ManualClock, QueueEvents, SqliteDeliveryRepo,
    SqliteJobRepo, SqliteQueue, SqliteSessionRepo, SqliteUploadRepo, SqliteWebhookRepo,
};

// ---------- fixtures ----------

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

fn db() -> Db {
    Db::open_in_memory().unwrap()
}

/// A queue on the wall clock, as the shared real-time checks need.
fn queue(db: Db, name: &str, dead_letter: Option<(&str, u32)>) -> SqliteQueue {
    SqliteQueue::new(
        db,
        name,
        dead_letter.map(|(dlq, n)| (dlq.to_string(), n)),
        Arc::new(SystemClock),
    )
}

const BASE_URL: &str = "http://127.0.0.1:8080";
const VIS: Duration = Duration::from_secs(30);
const NO_WAIT: Duration = Duration::ZERO;

fn blob_store(dir: &tempfile::TempDir, clock: Arc<dyn Clock>) -> FolderBlobStore {
    FolderBlobStore::new(
        dir.path().join("blobs"),
        UrlSigner::new(b"test-secret".to_vec()),
        format!("{BASE_URL}/"),
        clock,
    )
    .unwrap()
}

/// Records object-created events; fails them while `fail` is set.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<ObjectCreated>>,
    fail: Mutex<bool>,
}

impl Recorder {
    fn taken(&self) -> Vec<ObjectCreated> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

#[async_trait]
impl ObjectEvents for Recorder {
    async fn object_created(&self, event: ObjectCreated) -> Result<()> {
        if *self.fail.lock().unwrap() {
            return Err(CodaError::Unavailable("events are down".into()));
        }
        self.events.lock().unwrap().push(event);
        Ok(())
    }
}

// ---------- the shared contract ----------

#[tokio::test]
async fn sessions_conditional_writes() {
    contract::check_session_conditional_writes(&SqliteSessionRepo::new(db())).await;
}

#[tokio::test]
async fn sessions_expiry() {
    contract::check_session_expiry(&SqliteSessionRepo::new(db())).await;
}

#[tokio::test]
async fn uploads_conditional_writes() {
    contract::check_upload_conditional_writes(&SqliteUploadRepo::new(db())).await;
}

#[tokio::test]
async fn jobs_conditional_writes() {
    contract::check_job_conditional_writes(&SqliteJobRepo::new(db())).await;
}

#[tokio::test]
async fn jobs_pagination() {
    contract::check_job_pagination(&SqliteJobRepo::new(db())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_concurrent_updates() {
    contract::check_job_concurrent_updates(Arc::new(SqliteJobRepo::new(db()))).await;
}

#[tokio::test]
async fn webhooks_repo() {
    contract::check_webhook_repo(&SqliteWebhookRepo::new(db())).await;
}

#[tokio::test]
async fn deliveries_repo() {
    contract::check_delivery_repo(&SqliteDeliveryRepo::new(db())).await;
}

#[tokio::test]
async fn deliveries_due() {
    contract::check_delivery_due(&SqliteDeliveryRepo::new(db())).await;
}

#[tokio::test]
async fn jobs_outbox() {
    contract::check_job_outbox(&SqliteJobRepo::new(db())).await;
}

/// The webhook checks share one database, as the AWS ones share tables, and run twice to catch leftovers.
#[tokio::test]
async fn webhook_checks_share_tables() {
    let db = db();
    let (jobs, webhooks, deliveries) = (
        SqliteJobRepo::new(db.clone()),
        SqliteWebhookRepo::new(db.clone()),
        SqliteDeliveryRepo::new(db),
    );
    for _ in 0..2 {
        contract::check_webhook_repo(&webhooks).await;
        contract::check_delivery_repo(&deliveries).await;
        contract::check_delivery_due(&deliveries).await;
        contract::check_job_outbox(&jobs).await;
        contract::check_job_pagination(&jobs).await;
    }
}

#[tokio::test]
async fn queue_visibility() {
    contract::check_queue_visibility(&queue(db(), "jobs", None)).await;
}

#[tokio::test]
async fn session_items() {
    contract::check_session_items(&coda_local::SqliteSessionItems::new(db())).await;
}

#[tokio::test]
async fn quota_counters() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let counters = Arc::new(coda_local::SqliteQuotaCounters::new(db(), clock));
    contract::check_quota_counters(counters.as_ref()).await;
    contract::check_quota_counters_race(counters).await;
}

#[tokio::test]
async fn sessions_scale() {
    let dir = tempfile::tempdir().unwrap();
    let db = db();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let adapters = coda_core::services::Adapters {
        sessions: Arc::new(SqliteSessionRepo::new(db.clone())),
        session_items: Arc::new(coda_local::SqliteSessionItems::new(db.clone())),
        uploads: Arc::new(SqliteUploadRepo::new(db.clone())),
        jobs: Arc::new(SqliteJobRepo::new(db.clone())),
        webhooks: Arc::new(SqliteWebhookRepo::new(db.clone())),
        deliveries: Arc::new(SqliteDeliveryRepo::new(db.clone())),
        jobs_queue: Arc::new(queue(db.clone(), "jobs", None)),
        jobs_dlq: Arc::new(queue(db.clone(), "jobs-dlq", None)),
        blobs: Arc::new(blob_store(&dir, clock.clone())),
        quota_counters: Arc::new(coda_local::SqliteQuotaCounters::new(db, clock.clone())),
        clock,
        ids: Arc::new(coda_core::ports::RandomIds),
        resolver: Arc::new(coda_core::ports::SystemResolver::default()),
    };
    contract::check_session_scales(&adapters).await;
    contract::check_score_revisions(&adapters).await;
    contract::check_score_edit_race(&adapters).await;
}

#[tokio::test]
async fn queue_delay() {
    contract::check_queue_delay(&queue(db(), "jobs", None)).await;
}

#[tokio::test]
async fn queue_delivery() {
    contract::check_queue_delivery(&queue(db(), "jobs", None)).await;
}

#[tokio::test]
async fn queue_dead_letter() {
    let db = db();
    let q = queue(db.clone(), "jobs", Some(("jobs-dlq", 3)));
    let dlq = queue(db, "jobs-dlq", None);
    contract::check_queue_dead_letter(&q, &dlq, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_wait() {
    contract::check_queue_wait(Arc::new(queue(db(), "jobs", None))).await;
}

#[tokio::test]
async fn blob_put_new() {
    let dir = tempfile::tempdir().unwrap();
    contract::check_blob_put_new(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_basics() {
    let dir = tempfile::tempdir().unwrap();
    contract::check_blob_basics(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_ranges() {
    let dir = tempfile::tempdir().unwrap();
    contract::check_blob_ranges(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_keys() {
    let dir = tempfile::tempdir().unwrap();
    contract::check_blob_keys(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_delete_prefix() {
    let dir = tempfile::tempdir().unwrap();
    contract::check_blob_delete_prefix(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_presign_urls() {
    let dir = tempfile::tempdir().unwrap();
    contract::check_blob_presign_urls(&blob_store(&dir, manual_clock())).await;
}

// ---------- local only: tables ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_concurrent_updates_on_file() {
    let dir = tempfile::tempdir().unwrap();
    contract::check_job_concurrent_updates(Arc::new(SqliteJobRepo::new(
        Db::open(&dir.path().join("coda.db")).unwrap(),
    )))
    .await;
}

#[tokio::test]
async fn tables_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coda.db");
    let id = uid("job");
    SqliteJobRepo::new(Db::open(&path).unwrap())
        .create(&job(&id, "o", t0()))
        .await
        .unwrap();
    let again = SqliteJobRepo::new(Db::open(&path).unwrap());
    assert_eq!(again.get(&id).await.unwrap().unwrap().job_id, id);
}

// ---------- local only: queues ----------

/// The SQLite queue is strictly FIFO and queues sharing a table stay apart (SQS promises neither order nor a table).
#[tokio::test]
async fn queue_fifo_and_separation() {
    let db = db();
    let clock = manual_clock();
    let other = SqliteQueue::new(db.clone(), "other", None, clock.clone());
    other.send("not mine").await.unwrap();
    let q = SqliteQueue::new(db, "jobs", None, clock);
    let bodies: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    for b in &bodies {
        q.send(b).await.unwrap();
    }
    let first = q.receive(2, VIS, NO_WAIT).await.unwrap();
    let rest = q.receive(10, VIS, NO_WAIT).await.unwrap();
    let got: Vec<String> = first.iter().chain(&rest).map(|m| m.body.clone()).collect();
    assert_eq!(first.len(), 2);
    assert_eq!(got, bodies);
    for m in first.iter().chain(&rest) {
        q.ack(&m.receipt).await.unwrap();
    }
    assert_eq!(q.depth().await.unwrap(), 0);
    assert_eq!(
        other.depth().await.unwrap(),
        1,
        "queues sharing a table stay apart"
    );
}

/// Receipts are per receive: an older one neither extends nor deletes (SQS may honour it), checked on a manual clock.
#[tokio::test]
async fn queue_stale_receipts_do_nothing() {
    let clock = manual_clock();
    let q = SqliteQueue::new(db(), "jobs", None, clock.clone());
    let id = q.send("hello").await.unwrap();
    let first = q.receive(1, VIS, NO_WAIT).await.unwrap().remove(0);
    q.extend(&first.receipt, Duration::from_secs(60))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(45));
    assert!(
        q.receive(1, VIS, NO_WAIT).await.unwrap().is_empty(),
        "extended"
    );
    clock.advance(Duration::from_secs(20));
    let second = q.receive(1, VIS, NO_WAIT).await.unwrap().remove(0);
    assert_eq!(
        (second.message_id.as_str(), second.receive_count),
        (id.as_str(), 2)
    );

    assert_eq!(code(q.extend(&first.receipt, VIS).await), "NOT_FOUND");
    q.ack(&first.receipt).await.unwrap();
    assert_eq!(
        q.depth().await.unwrap(),
        1,
        "a stale receipt deletes nothing"
    );
    q.ack(&second.receipt).await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 0);
    clock.advance(Duration::from_secs(120));
    assert!(q.receive(1, VIS, NO_WAIT).await.unwrap().is_empty());
}

/// A dead-lettered message starts over on the DLQ with a receive count of 1.
#[tokio::test]
async fn queue_dead_letter_restarts_count() {
    let db = db();
    let clock = manual_clock();
    let q = SqliteQueue::new(
        db.clone(),
        "jobs",
        Some(("jobs-dlq".into(), 2)),
        clock.clone(),
    );
    let dlq = SqliteQueue::new(db, "jobs-dlq", None, clock.clone());
    let id = q.send("poison").await.unwrap();
    for n in 1..=2 {
        assert_eq!(
            q.receive(1, VIS, NO_WAIT).await.unwrap()[0].receive_count,
            n
        );
        clock.advance(VIS + Duration::from_secs(1));
    }
    assert!(q.receive(1, VIS, NO_WAIT).await.unwrap().is_empty());
    let dead = dlq.receive(1, VIS, NO_WAIT).await.unwrap();
    assert_eq!(
        (dead[0].message_id.as_str(), dead[0].receive_count),
        (id.as_str(), 1)
    );
}

#[tokio::test]
async fn queue_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let clock = manual_clock();
    let id = SqliteQueue::new(Db::open(&path).unwrap(), "jobs", None, clock.clone())
        .send("kept")
        .await
        .unwrap();
    let q = SqliteQueue::new(Db::open(&path).unwrap(), "jobs", None, clock);
    let got = q.receive(1, VIS, NO_WAIT).await.unwrap();
    assert_eq!(
        (got[0].message_id.as_str(), got[0].body.as_str()),
        (id.as_str(), "kept")
    );
}

#[tokio::test]
async fn queue_wait_sees_other_queue_objects_on_same_db() {
    // A sender with its own SqliteQueue value (as ingest and the worker have) still wakes the receiver.
    let db = db();
    let clock = manual_clock();
    let receiver = SqliteQueue::new(db.clone(), "jobs", None, clock.clone());
    let sender = SqliteQueue::new(db, "jobs", None, clock);
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sender.send("x").await.unwrap();
    });
    let started = Instant::now();
    assert_eq!(
        receiver
            .receive(1, VIS, Duration::from_secs(5))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    task.await.unwrap();
}

// ---------- local only: blobs ----------

#[tokio::test]
async fn blob_delete_prefix_prunes_folders() {
    let dir = tempfile::tempdir().unwrap();
    let store = blob_store(&dir, manual_clock());
    store
        .put(
            "results/j1/deep/er/x",
            Bytes::from_static(b"x"),
            "text/plain",
        )
        .await
        .unwrap();
    store
        .put("results/j2/x", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    assert_eq!(store.delete_prefix("results/j1/").await.unwrap(), 1);
    let root = dir.path().join("blobs");
    for tree in ["objects", "meta"] {
        assert!(
            !root.join(tree).join("results/j1").exists(),
            "empty {tree} folders are pruned"
        );
        assert!(root.join(tree).join("results/j2").exists());
    }
    store.delete("results/j2/x").await.unwrap();
    assert!(!root.join("objects/results").exists(), "delete prunes too");
    assert!(root.join("objects").is_dir(), "the root folders stay");
}

#[tokio::test]
async fn blob_presign_signs_local_urls() {
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let store = blob_store(&dir, clock.clone());
    let signer = UrlSigner::new(b"test-secret".to_vec());
    let key = "uploads/x/Café + ünï.wav";
    let ttl = Duration::from_secs(900);
    for (method, url) in [
        (
            "PUT",
            store.presign_put(key, "audio/wav", ttl).await.unwrap().url,
        ),
        ("GET", store.presign_get(key, ttl).await.unwrap()),
    ] {
        let (path, query) = url.split_once('?').expect("query string");
        assert_eq!(
            path,
            format!("{BASE_URL}/v1/objects/{}", encode_key_path(key))
        );
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
                .unwrap()
        };
        let expires: i64 = param("expires").parse().unwrap();
        assert_eq!(expires, clock.now().timestamp() + 900);
        let sig = param("signature");
        signer
            .verify(method, key, expires, &sig, clock.now())
            .unwrap();
        let other = if method == "PUT" { "GET" } else { "PUT" };
        assert!(signer
            .verify(other, key, expires, &sig, clock.now())
            .is_err());
        assert!(signer
            .verify(method, key, expires, &sig, clock.now() + secs(900))
            .is_err());
    }
}

#[tokio::test]
async fn blob_events() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let store = blob_store(&dir, manual_clock()).with_events(recorder.clone(), "uploads/");
    let key = format!("uploads/{}/song.wav", uid("u"));
    let meta = store
        .put(&key, Bytes::from_static(b"RIFF"), "audio/wav")
        .await
        .unwrap();
    assert_eq!(
        recorder.taken(),
        vec![ObjectCreated {
            bucket: "local".into(),
            key: key.clone(),
            size: 4,
            etag: meta.etag
        }]
    );

    store
        .put(
            &format!("other/{}", uid("x")),
            Bytes::from_static(b"x"),
            "text/plain",
        )
        .await
        .unwrap();
    assert!(recorder.taken().is_empty(), "no event outside the prefix");

    // A failing consumer fails the put, but the object is there, and a retry raises the event again.
    *recorder.fail.lock().unwrap() = true;
    let err = store
        .put(&key, Bytes::from_static(b"RIFF2"), "audio/wav")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UNAVAILABLE");
    assert_eq!(store.head(&key).await.unwrap().unwrap().size, 5);
    *recorder.fail.lock().unwrap() = false;
    store
        .put(&key, Bytes::from_static(b"RIFF2"), "audio/wav")
        .await
        .unwrap();
    assert_eq!(recorder.taken().len(), 1);
}

#[tokio::test]
async fn blob_local_details() {
    let dir = tempfile::tempdir().unwrap();
    let store = blob_store(&dir, manual_clock());
    let meta = store
        .put("a/b", Bytes::from_static(b"abc"), "text/plain")
        .await
        .unwrap();
    // The folder store's etag is the first 32 hex characters of the SHA-256.
    assert_eq!(meta.etag, "ba7816bf8f01cfea414140de5dae2223");
    let root = dir.path().join("blobs");
    assert_eq!(std::fs::read(root.join("objects/a/b")).unwrap(), b"abc");
    assert!(root.join("meta/a/b.json").is_file());
    assert_eq!(
        std::fs::read_dir(root.join("tmp")).unwrap().count(),
        0,
        "no temporary files left behind"
    );
    // A file system cannot hold both "a/b" and "a/b/c", nor "a" beside "a/b".
    assert_eq!(
        code(
            store
                .put("a/b/c", Bytes::from_static(b"x"), "text/plain")
                .await
        ),
        "KEY_CONFLICT"
    );
    assert_eq!(
        code(store.put("a", Bytes::from_static(b"x"), "text/plain").await),
        "KEY_CONFLICT"
    );
    assert_eq!(
        std::fs::read_dir(root.join("tmp")).unwrap().count(),
        0,
        "a refused put cleans up"
    );
    assert_eq!(&store.get("a/b", None).await.unwrap().bytes[..], b"abc");
}

#[tokio::test]
async fn blob_events_through_queue() {
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let queue: Arc<dyn JobQueue> = Arc::new(SqliteQueue::new(db(), "uploads", None, clock.clone()));
    let store =
        blob_store(&dir, clock).with_events(Arc::new(QueueEvents::new(queue.clone())), "uploads/");
    let meta = store
        .put(
            "uploads/u1/song.wav",
            Bytes::from_static(b"RIFF"),
            "audio/wav",
        )
        .await
        .unwrap();
    store
        .put("results/j/x", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    let got = queue.receive(10, VIS, NO_WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    let event: ObjectCreated = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        event,
        ObjectCreated {
            bucket: "local".into(),
            key: "uploads/u1/song.wav".into(),
            size: 4,
            etag: meta.etag
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blob_concurrent_overwrites_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(blob_store(&dir, manual_clock()));
    let mut tasks = Vec::new();
    for i in 0..4u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..25usize {
                let body = vec![i; 100 + n * 37 + usize::from(i)];
                store
                    .put("shared/key", Bytes::from(body), "x/y")
                    .await
                    .unwrap();
                let d = store.get("shared/key", None).await.unwrap();
                assert_eq!(
                    d.bytes.len() as u64,
                    d.meta.size,
                    "bytes and meta come from the same write"
                );
                assert!(d.bytes.iter().all(|b| *b == d.bytes[0]));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
