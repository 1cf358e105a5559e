//! Contract checks for the ports, run here against the local adapters.
//!
//! Each check takes only the port trait (plus a `ManualClock` where time
//! matters) and uses fresh ids, so the same functions can run against other
//! adapters, including ones whose tables and queues are shared between runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use coda_core::auth::UrlSigner;
use coda_core::model::{Job, JobKind, JobStatus, Owner, Session, Timestamp, Upload, UploadState};
use coda_core::ports::{
    BlobStore, Clock, JobQueue, JobRepo, ObjectCreated, ObjectEvents, SessionRepo, UploadRepo,
};
use coda_core::services::jobs::update_job;
use coda_core::{CodaError, Result};
use coda_local::{
    encode_key_path, Db, FolderBlobStore, ManualClock, QueueEvents, SqliteJobRepo, SqliteQueue,
    SqliteSessionRepo, SqliteUploadRepo,
};

// ---------- fixtures ----------

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn uid(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn session(id: &str, expires_at: Timestamp) -> Session {
    Session {
        session_id: id.to_string(),
        owner: "owner-s".to_string(),
        created_at: t0(),
        expires_at,
        history: vec![],
        files: vec![],
        current_score: None,
        current_audio: None,
        version: 0,
    }
}

fn upload(id: &str) -> Upload {
    Upload {
        upload_id: id.to_string(),
        owner: "owner-u".to_string(),
        key: format!("uploads/{id}/song.wav"),
        filename: "song.wav".to_string(),
        declared_size: 10,
        declared_content_type: "audio/wav".to_string(),
        content_type: None,
        jobs: vec![JobKind::Probe],
        session_id: None,
        state: UploadState::Pending,
        etag: None,
        job_ids: vec![],
        created_at: t0(),
        expires_at: t0() + secs(3600),
        version: 0,
    }
}

fn job(id: &str, owner: &str, created_at: Timestamp) -> Job {
    Job {
        job_id: id.to_string(),
        owner: owner.to_string(),
        kind: JobKind::Probe,
        status: JobStatus::Queued,
        progress: 0,
        params: serde_json::json!({}),
        input_key: "uploads/x/a.wav".to_string(),
        outputs: vec![],
        error: None,
        attempts: 0,
        lease_until: None,
        session_id: None,
        created_at,
        updated_at: created_at,
        version: 0,
    }
}

fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
    r.expect_err("expected an error").code()
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

// ---------- table contracts ----------

async fn check_session_conditional_writes(repo: &dyn SessionRepo) {
    let id = uid("ses");
    let s = session(&id, t0() + secs(60));
    repo.create(&s).await.unwrap();
    assert_eq!(code(repo.create(&s).await), "ALREADY_EXISTS");

    let read = repo.get(&id).await.unwrap().expect("created session");
    assert_eq!(read.version, 0);
    assert_eq!(read.owner, "owner-s", "owner survives the round trip");

    let mut first = read.clone();
    first.current_audio = Some("a.wav".into());
    let stored = repo.update(&first).await.unwrap();
    assert_eq!(stored.version, 1);
    let mut second = read.clone();
    second.current_audio = Some("b.wav".into());
    assert_eq!(code(repo.update(&second).await), "CONFLICT");

    let now = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.current_audio.as_deref()),
        (1, Some("a.wav"))
    );

    assert_eq!(
        code(repo.update(&session(&uid("ses"), t0())).await),
        "NOT_FOUND"
    );

    repo.delete(&id).await.unwrap();
    assert!(repo.get(&id).await.unwrap().is_none());
    repo.delete(&id).await.unwrap();
}

async fn check_session_list_expired(repo: &dyn SessionRepo) {
    let now = t0() + secs(1000);
    let past = uid("ses");
    let exact = uid("ses");
    let future = uid("ses");
    repo.create(&session(&past, now - secs(10))).await.unwrap();
    repo.create(&session(&exact, now)).await.unwrap();
    repo.create(&session(&future, now + secs(1))).await.unwrap();

    let ids = |v: Vec<Session>| v.into_iter().map(|s| s.session_id).collect::<Vec<_>>();
    let expired = ids(repo.list_expired(now, 100).await.unwrap());
    assert!(
        expired.contains(&past) && expired.contains(&exact),
        "{expired:?}"
    );
    assert!(!expired.contains(&future));
    assert_eq!(repo.list_expired(now, 1).await.unwrap().len(), 1);

    // Extending a session takes it off the list.
    let mut s = repo.get(&past).await.unwrap().unwrap();
    s.expires_at = now + secs(3600);
    repo.update(&s).await.unwrap();
    let expired = ids(repo.list_expired(now, 100).await.unwrap());
    assert!(!expired.contains(&past));
    assert!(ids(repo.list_expired(now + secs(1), 100).await.unwrap()).contains(&future));
}

async fn check_upload_conditional_writes(repo: &dyn UploadRepo) {
    let id = uid("upl");
    let u = upload(&id);
    repo.create(&u).await.unwrap();
    assert_eq!(code(repo.create(&u).await), "ALREADY_EXISTS");
    let read = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(read, u);

    let mut a = read.clone();
    a.state = UploadState::Received;
    a.etag = Some("e1".into());
    assert_eq!(repo.update(&a).await.unwrap().version, 1);
    assert_eq!(code(repo.update(&read).await), "CONFLICT");
    let now = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.state, now.etag.as_deref()),
        (1, UploadState::Received, Some("e1"))
    );
    assert_eq!(code(repo.update(&upload(&uid("upl"))).await), "NOT_FOUND");
    assert!(repo.get(&uid("upl")).await.unwrap().is_none());
}

async fn check_job_conditional_writes(repo: &dyn JobRepo) {
    let id = uid("job");
    let j = job(&id, &uid("own"), t0());
    repo.create(&j).await.unwrap();
    assert_eq!(code(repo.create(&j).await), "ALREADY_EXISTS");
    let read = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(read, j);

    let mut a = read.clone();
    a.status = JobStatus::Running;
    let stored = repo.update(&a).await.unwrap();
    assert_eq!((stored.version, stored.status), (1, JobStatus::Running));
    let mut b = read.clone();
    b.status = JobStatus::Canceled;
    assert_eq!(code(repo.update(&b).await), "CONFLICT");

    // A write based on the returned copy succeeds: its version is the stored one.
    let mut c = stored.clone();
    c.progress = 50;
    assert_eq!(repo.update(&c).await.unwrap().version, 2);
    let now = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.status, now.progress),
        (2, JobStatus::Running, 50)
    );

    assert_eq!(
        code(repo.update(&job(&uid("job"), "x", t0())).await),
        "NOT_FOUND"
    );
}

async fn check_job_pagination(repo: &dyn JobRepo) {
    let (a, b) = (uid("own"), uid("own"));
    let mut a_ids = Vec::new();
    for i in 0..25 {
        let id = uid("job");
        repo.create(&job(&id, &a, t0() + secs(i * 10)))
            .await
            .unwrap();
        a_ids.push(id);
        if i % 3 == 0 {
            repo.create(&job(&uid("job"), &b, t0() + secs(i * 10 + 5)))
                .await
                .unwrap();
        }
    }
    let newest_first: Vec<String> = a_ids.iter().rev().cloned().collect();

    let owner = Owner(a.clone());
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = repo
            .list_by_owner(&owner, 10, cursor.as_deref())
            .await
            .unwrap();
        assert!(
            page.items.iter().all(|j| j.owner == a),
            "another owner's job leaked"
        );
        sizes.push(page.items.len());
        seen.extend(page.items.into_iter().map(|j| j.job_id));
        match page.next_cursor {
            Some(c) => {
                assert!(
                    c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                    "not URL-safe: {c}"
                );
                cursor = Some(c);
            }
            None => break,
        }
        assert!(sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(seen, newest_first);

    let exact = repo.list_by_owner(&owner, 25, None).await.unwrap();
    assert_eq!(exact.items.len(), 25);
    assert!(
        exact.next_cursor.is_none(),
        "no cursor when nothing is left"
    );

    let nobody = repo
        .list_by_owner(&Owner(uid("own")), 10, None)
        .await
        .unwrap();
    assert!(nobody.items.is_empty() && nobody.next_cursor.is_none());

    for bad in ["garbage!", "AAAA", "eyJ4IjoxfQ"] {
        assert_eq!(
            code(repo.list_by_owner(&owner, 10, Some(bad)).await),
            "INVALID_CURSOR",
            "{bad}"
        );
    }
}

async fn check_concurrent_increments(repo: Arc<dyn JobRepo>) {
    let id = uid("job");
    repo.create(&job(&id, "owner-c", t0())).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (repo, id) = (repo.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                update_job(repo.as_ref(), &id, |j| {
                    j.attempts += 1;
                    Ok(true)
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let j = repo.get(&id).await.unwrap().unwrap();
    assert_eq!(j.attempts, 160);
    assert_eq!(j.version, 160);
}

// ---------- queue contracts ----------

const VIS: Duration = Duration::from_secs(30);
const NO_WAIT: Duration = Duration::ZERO;

async fn check_queue_visibility(q: &dyn JobQueue, clock: &ManualClock) {
    let id = q.send("hello").await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 1);

    let got = q.receive(1, VIS, NO_WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    let first = &got[0];
    assert_eq!(
        (
            first.message_id.as_str(),
            first.body.as_str(),
            first.receive_count
        ),
        (id.as_str(), "hello", 1)
    );
    assert!(
        q.receive(1, VIS, NO_WAIT).await.unwrap().is_empty(),
        "in flight means hidden"
    );
    assert_eq!(
        q.depth().await.unwrap(),
        1,
        "depth counts in-flight messages"
    );

    // Extending pushes the deadline past the original 30 s.
    q.extend(&first.receipt, Duration::from_secs(60))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(45));
    assert!(
        q.receive(1, VIS, NO_WAIT).await.unwrap().is_empty(),
        "extend keeps it hidden"
    );

    // Not acked in time: delivered again with a new receipt.
    clock.advance(Duration::from_secs(20));
    let again = q.receive(1, VIS, NO_WAIT).await.unwrap();
    assert_eq!(again.len(), 1);
    let second = &again[0];
    assert_eq!(
        (second.message_id.as_str(), second.receive_count),
        (id.as_str(), 2)
    );
    assert_ne!(second.receipt, first.receipt);

    assert_eq!(code(q.extend(&first.receipt, VIS).await), "NOT_FOUND");
    q.ack(&first.receipt).await.unwrap();
    assert_eq!(
        q.depth().await.unwrap(),
        1,
        "a stale receipt deletes nothing"
    );

    q.ack(&second.receipt).await.unwrap();
    assert_eq!(q.depth().await.unwrap(), 0);
    q.ack(&second.receipt).await.unwrap();
    assert_eq!(code(q.extend(&second.receipt, VIS).await), "NOT_FOUND");
    clock.advance(Duration::from_secs(120));
    assert!(
        q.receive(1, VIS, NO_WAIT).await.unwrap().is_empty(),
        "acked is gone for good"
    );

    // A zero extension hands the message back at once.
    q.send("retry me").await.unwrap();
    let m = q.receive(1, VIS, NO_WAIT).await.unwrap().remove(0);
    q.extend(&m.receipt, Duration::ZERO).await.unwrap();
    let back = q.receive(1, VIS, NO_WAIT).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        (back[0].message_id.as_str(), back[0].receive_count),
        (m.message_id.as_str(), 2)
    );
    q.ack(&back[0].receipt).await.unwrap();
}

async fn check_queue_fifo(q: &dyn JobQueue) {
    let bodies: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    for b in &bodies {
        q.send(b).await.unwrap();
    }
    assert_eq!(q.depth().await.unwrap(), 5);
    let first = q.receive(2, VIS, NO_WAIT).await.unwrap();
    let rest = q.receive(10, VIS, NO_WAIT).await.unwrap();
    let got: Vec<String> = first.iter().chain(&rest).map(|m| m.body.clone()).collect();
    assert_eq!(first.len(), 2);
    assert_eq!(got, bodies);
    for m in first.iter().chain(&rest) {
        q.ack(&m.receipt).await.unwrap();
    }
    assert_eq!(q.depth().await.unwrap(), 0);
}

async fn check_queue_dead_letter(
    q: &dyn JobQueue,
    dlq: &dyn JobQueue,
    max_receives: u32,
    clock: &ManualClock,
) {
    let id = q.send("poison").await.unwrap();
    let survivor = q.send("fine").await.unwrap();
    for n in 1..=max_receives {
        let got = q.receive(10, VIS, NO_WAIT).await.unwrap();
        let poison = got
            .iter()
            .find(|m| m.message_id == id)
            .expect("poison message delivered");
        assert_eq!(poison.receive_count, n);
        if let Some(ok) = got.iter().find(|m| m.message_id == survivor) {
            q.ack(&ok.receipt).await.unwrap();
        }
        clock.advance(VIS + Duration::from_secs(1));
    }
    assert_eq!(dlq.depth().await.unwrap(), 0);
    assert!(
        q.receive(10, VIS, NO_WAIT).await.unwrap().is_empty(),
        "dead-lettered, not delivered"
    );
    assert_eq!(q.depth().await.unwrap(), 0);
    assert_eq!(dlq.depth().await.unwrap(), 1);
    let dead = dlq.receive(10, VIS, NO_WAIT).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].message_id.as_str(),
            dead[0].body.as_str(),
            dead[0].receive_count
        ),
        (id.as_str(), "poison", 1)
    );
    dlq.ack(&dead[0].receipt).await.unwrap();
    assert_eq!(dlq.depth().await.unwrap(), 0);
}

async fn check_queue_wait(q: Arc<dyn JobQueue>) {
    let started = Instant::now();
    assert!(q
        .receive(1, VIS, Duration::from_millis(200))
        .await
        .unwrap()
        .is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "an empty receive waits"
    );

    let sender = q.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sender.send("late").await.unwrap()
    });
    let started = Instant::now();
    let got = q.receive(1, VIS, Duration::from_secs(5)).await.unwrap();
    let waited = started.elapsed();
    let id = task.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, id);
    assert!(
        waited < Duration::from_secs(2),
        "waited {waited:?} for a message sent after 200 ms"
    );
    q.ack(&got[0].receipt).await.unwrap();
}

// ---------- blob store contracts ----------

async fn check_blob_basics(store: &dyn BlobStore) {
    let key = format!("{}/a.bin", uid("t"));
    assert!(store.head(&key).await.unwrap().is_none());
    assert_eq!(code(store.get(&key, None).await), "NOT_FOUND");

    let meta = store
        .put(
            &key,
            Bytes::from_static(b"hello world"),
            "application/octet-stream",
        )
        .await
        .unwrap();
    assert_eq!(
        (meta.key.as_str(), meta.size, meta.content_type.as_str()),
        (key.as_str(), 11, "application/octet-stream")
    );
    assert!(!meta.etag.is_empty());
    assert_eq!(store.head(&key).await.unwrap(), Some(meta.clone()));
    let data = store.get(&key, None).await.unwrap();
    assert_eq!(
        (&data.bytes[..], data.meta.clone()),
        (&b"hello world"[..], meta.clone())
    );

    let meta2 = store
        .put(&key, Bytes::from_static(b"bye"), "text/plain")
        .await
        .unwrap();
    assert_ne!(meta2.etag, meta.etag, "overwrite changes the etag");
    assert_eq!(
        store.get(&key, None).await.unwrap().bytes,
        Bytes::from_static(b"bye")
    );
    assert_eq!(store.head(&key).await.unwrap(), Some(meta2));
    // The same bytes give the same etag.
    let again = store
        .put(&key, Bytes::from_static(b"hello world"), "x/y")
        .await
        .unwrap();
    assert_eq!(again.etag, meta.etag);

    let empty = format!("{}/empty", uid("t"));
    assert_eq!(
        store
            .put(&empty, Bytes::new(), "text/plain")
            .await
            .unwrap()
            .size,
        0
    );
    assert!(store.get(&empty, None).await.unwrap().bytes.is_empty());

    store.delete(&key).await.unwrap();
    assert!(store.head(&key).await.unwrap().is_none());
    assert_eq!(code(store.get(&key, None).await), "NOT_FOUND");
    store.delete(&key).await.unwrap();
    store.delete(&empty).await.unwrap();
}

async fn check_blob_ranges(store: &dyn BlobStore) {
    let key = format!("{}/digits", uid("t"));
    store
        .put(&key, Bytes::from_static(b"0123456789"), "text/plain")
        .await
        .unwrap();
    let r = |s, e| store.get(&key, Some((s, e)));
    let d = r(0, 3).await.unwrap();
    assert_eq!((&d.bytes[..], d.meta.size), (&b"0123"[..], 10));
    assert_eq!(&r(5, 9).await.unwrap().bytes[..], b"56789");
    assert_eq!(
        &r(5, 100).await.unwrap().bytes[..],
        b"56789",
        "end clamps to the last byte"
    );
    assert_eq!(&r(9, 9).await.unwrap().bytes[..], b"9");
    assert_eq!(code(r(10, 12).await), "RANGE_NOT_SATISFIABLE");
    assert_eq!(code(r(4, 3).await), "RANGE_NOT_SATISFIABLE");
    store.delete(&key).await.unwrap();
}

async fn check_blob_keys(store: &dyn BlobStore) {
    let base = uid("k");
    for name in [
        "with space.wav",
        "a+b.wav",
        "Café + ünï.wav",
        "日本語/曲.mid",
    ] {
        let key = format!("uploads/{base}/{name}");
        store
            .put(&key, Bytes::from(name.as_bytes().to_vec()), "audio/wav")
            .await
            .unwrap();
        assert_eq!(
            &store.get(&key, None).await.unwrap().bytes[..],
            name.as_bytes(),
            "{key}"
        );
        assert_eq!(store.head(&key).await.unwrap().unwrap().key, key);
    }
    for bad in ["../x", "a//b", "/abs", "a/./b", "a/", "", "a\\b", "a\u{1}b"] {
        assert_eq!(
            code(store.put(bad, Bytes::from_static(b"x"), "text/plain").await),
            "INVALID_KEY",
            "{bad:?}"
        );
        assert_eq!(code(store.get(bad, None).await), "INVALID_KEY", "{bad:?}");
    }
    let too_long = "k".repeat(1025);
    assert_eq!(
        code(store.put(&too_long, Bytes::new(), "text/plain").await),
        "INVALID_KEY"
    );
    assert_eq!(
        store
            .delete_prefix(&format!("uploads/{base}/"))
            .await
            .unwrap(),
        4
    );
}

async fn check_blob_delete_prefix(store: &dyn BlobStore) {
    let base = uid("results");
    for k in ["j1/a", "j1/sub/b", "j10/c", "j2/d"] {
        store
            .put(
                &format!("{base}/{k}"),
                Bytes::from_static(b"x"),
                "text/plain",
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.delete_prefix(&format!("{base}/j1/")).await.unwrap(),
        2
    );
    assert!(store.head(&format!("{base}/j1/a")).await.unwrap().is_none());
    assert!(store
        .head(&format!("{base}/j1/sub/b"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .head(&format!("{base}/j10/c"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.delete_prefix(&format!("{base}/j1/")).await.unwrap(),
        0
    );
    // A prefix need not end at a folder boundary.
    assert_eq!(store.delete_prefix(&format!("{base}/j1")).await.unwrap(), 1);
    assert_eq!(store.delete_prefix(&format!("{base}/")).await.unwrap(), 1);
    assert_eq!(code(store.delete_prefix("../").await), "INVALID_KEY");
}

async fn check_blob_presign(
    store: &dyn BlobStore,
    signer: &UrlSigner,
    clock: &ManualClock,
    base_url: &str,
) {
    let key = "uploads/x/Café + ünï.wav";
    let ttl = Duration::from_secs(900);
    for (method, url) in [
        (
            "PUT",
            store.presign_put(key, "audio/wav", ttl).await.unwrap(),
        ),
        ("GET", store.presign_get(key, ttl).await.unwrap()),
    ] {
        let (path, query) = url.split_once('?').expect("query string");
        assert_eq!(
            path,
            format!("{base_url}/v1/objects/{}", encode_key_path(key))
        );
        assert!(
            path.ends_with("/uploads/x/Caf%C3%A9%20%2B%20%C3%BCn%C3%AF.wav"),
            "{path}"
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
    assert_eq!(
        code(store.presign_put("../x", "a/b", ttl).await),
        "INVALID_KEY"
    );
}

async fn check_blob_events(store: &dyn BlobStore, recorder: &Recorder, prefix: &str) {
    let key = format!("{prefix}{}/song.wav", uid("u"));
    let meta = store
        .put(&key, Bytes::from_static(b"RIFF"), "audio/wav")
        .await
        .unwrap();
    let events = recorder.taken();
    assert_eq!(
        events,
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

// ---------- local wiring ----------

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

fn db() -> Db {
    Db::open_in_memory().unwrap()
}

const BASE_URL: &str = "http://127.0.0.1:8080";

fn blob_store(dir: &tempfile::TempDir, clock: Arc<ManualClock>) -> FolderBlobStore {
    FolderBlobStore::new(
        dir.path().join("blobs"),
        UrlSigner::new(b"test-secret".to_vec()),
        format!("{BASE_URL}/"),
        clock,
    )
    .unwrap()
}

#[tokio::test]
async fn sessions_conditional_writes() {
    check_session_conditional_writes(&SqliteSessionRepo::new(db())).await;
}

#[tokio::test]
async fn sessions_list_expired() {
    check_session_list_expired(&SqliteSessionRepo::new(db())).await;
}

#[tokio::test]
async fn uploads_conditional_writes() {
    check_upload_conditional_writes(&SqliteUploadRepo::new(db())).await;
}

#[tokio::test]
async fn jobs_conditional_writes() {
    check_job_conditional_writes(&SqliteJobRepo::new(db())).await;
}

#[tokio::test]
async fn jobs_pagination() {
    check_job_pagination(&SqliteJobRepo::new(db())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_concurrent_increments() {
    check_concurrent_increments(Arc::new(SqliteJobRepo::new(db()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_concurrent_increments_on_file() {
    let dir = tempfile::tempdir().unwrap();
    check_concurrent_increments(Arc::new(SqliteJobRepo::new(
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

#[tokio::test]
async fn queue_visibility_receipts_and_ack() {
    let clock = manual_clock();
    check_queue_visibility(&SqliteQueue::new(db(), "jobs", None, clock.clone()), &clock).await;
}

#[tokio::test]
async fn queue_fifo_and_depth() {
    let db = db();
    let clock = manual_clock();
    let other = SqliteQueue::new(db.clone(), "other", None, clock.clone());
    other.send("not mine").await.unwrap();
    check_queue_fifo(&SqliteQueue::new(db, "jobs", None, clock)).await;
    assert_eq!(
        other.depth().await.unwrap(),
        1,
        "queues sharing a table stay apart"
    );
}

#[tokio::test]
async fn queue_dead_letter_after_max_receives() {
    let db = db();
    let clock = manual_clock();
    let q = SqliteQueue::new(
        db.clone(),
        "jobs",
        Some(("jobs-dlq".into(), 3)),
        clock.clone(),
    );
    let dlq = SqliteQueue::new(db, "jobs-dlq", None, clock.clone());
    check_queue_dead_letter(&q, &dlq, 3, &clock).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_wait_wakes_on_send() {
    let q: Arc<dyn JobQueue> = Arc::new(SqliteQueue::new(db(), "jobs", None, manual_clock()));
    check_queue_wait(q).await;
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

#[tokio::test]
async fn blob_basics() {
    let dir = tempfile::tempdir().unwrap();
    check_blob_basics(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_ranges() {
    let dir = tempfile::tempdir().unwrap();
    check_blob_ranges(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_keys() {
    let dir = tempfile::tempdir().unwrap();
    check_blob_keys(&blob_store(&dir, manual_clock())).await;
}

#[tokio::test]
async fn blob_delete_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = blob_store(&dir, manual_clock());
    check_blob_delete_prefix(&store).await;
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
async fn blob_presign() {
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let store = blob_store(&dir, clock.clone());
    check_blob_presign(
        &store,
        &UrlSigner::new(b"test-secret".to_vec()),
        &clock,
        BASE_URL,
    )
    .await;
}

#[tokio::test]
async fn blob_events() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let store = blob_store(&dir, manual_clock()).with_events(recorder.clone(), "uploads/");
    check_blob_events(&store, &recorder, "uploads/").await;
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
