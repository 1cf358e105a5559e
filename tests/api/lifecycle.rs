//! Jobs across crashes, retries, dead letters and cancellation, in process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{runners_with, spawn_app_with, spawn_on, tone_wav, FlakyRunner, SlowRunner};

fn slow(steps: u32) -> Arc<SlowRunner> {
    Arc::new(SlowRunner {
        steps,
        runs: AtomicUsize::new(0),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_job_loses_nothing() {
    let runner = slow(15);
    let mut app = spawn_app_with(
        |c| c.jobs.job_visibility_secs = 1.0,
        runners_with(runner.clone()),
    )
    .await;
    let key = app
        .stored_input("ivy", "a.wav", tone_wav(440.0, 0.5, 0.2, 8000, 1))
        .await;
    let id = app.submit("ivy", "probe", &key).await;
    let running = app
        .wait_job("ivy", &id, Duration::from_secs(10), |s| s == "running")
        .await;
    assert_eq!(running["attempts"], 1);

    // Crash: tasks die where they stand, nothing is released or acknowledged.
    app.app.take().unwrap().abort();
    let data = app.data.clone();
    let app = spawn_on(
        data,
        |c| c.jobs.job_visibility_secs = 1.0,
        runners_with(runner.clone()),
    )
    .await;
    let job = app
        .wait_job("ivy", &id, Duration::from_secs(20), |s| s == "succeeded")
        .await;
    assert_eq!(
        job["attempts"], 2,
        "the message came back once and ran again: {job}"
    );
    assert_eq!(job["outputs"].as_array().unwrap().len(), 1);
    let out: Value = app
        .get(
            "ivy",
            &format!("/v1/blobs/{}", job["outputs"][0]["key"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        out["attempt"], 2,
        "outputs come from the attempt that succeeded"
    );
    let files = std::fs::read_dir(app.data.path().join("blobs/objects/results").join(&id))
        .unwrap()
        .count();
    assert_eq!(files, 1, "no duplicate or orphan outputs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_returns_running_jobs_to_the_queue() {
    let runner = slow(40);
    let mut app = spawn_app_with(
        |c| c.jobs.shutdown_grace_secs = 0.3,
        runners_with(runner.clone()),
    )
    .await;
    let key = app
        .stored_input("jon", "a.wav", tone_wav(440.0, 0.5, 0.2, 8000, 1))
        .await;
    let id = app.submit("jon", "probe", &key).await;
    app.wait_job("jon", &id, Duration::from_secs(10), |s| s == "running")
        .await;
    let t0 = Instant::now();
    app.app.take().unwrap().shutdown().await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t0.elapsed()
    );

    // Released, not lost: visible again at once, so the restart picks it up without waiting for a timeout.
    let app = spawn_on(
        app.data.clone(),
        |c| c.jobs.job_visibility_secs = 60.0,
        runners_with(slow(2)),
    )
    .await;
    let job = app
        .wait_job("jon", &id, Duration::from_secs(10), |s| s == "succeeded")
        .await;
    assert_eq!(job["attempts"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_dead_letter_after_max_receives() {
    let flaky = Arc::new(FlakyRunner {
        runs: AtomicUsize::new(0),
    });
    let app = spawn_app_with(|c| c.jobs.max_receives = 3, runners_with(flaky.clone())).await;
    let key = app
        .stored_input("kim", "a.wav", tone_wav(440.0, 0.5, 0.2, 8000, 1))
        .await;
    let id = app.submit("kim", "probe", &key).await;
    let job = app.wait_ended("kim", &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "RETRIES_EXHAUSTED");
    let msg = job["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("after 3 attempts") && msg.contains("storage timed out (attempt 3)"),
        "{msg}"
    );
    assert_eq!(flaky.runs.load(Ordering::SeqCst), 3);
    assert_eq!(job["attempts"], 3);
    // Nothing is left on either queue.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let h: Value = app.public_json("/v1/health").await;
    assert_eq!(h["queue_depth"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_queued_and_while_running() {
    let runner = slow(100);
    let app = spawn_app_with(|c| c.jobs.workers = 1, runners_with(runner.clone())).await;
    let key = app
        .stored_input("lee", "a.wav", tone_wav(440.0, 0.5, 0.2, 8000, 1))
        .await;
    let first = app.submit("lee", "probe", &key).await;
    let second = app.submit("lee", "probe", &key).await;
    app.wait_job("lee", &first, Duration::from_secs(10), |s| s == "running")
        .await;

    // The second waits behind the first on the only worker; cancel it while queued.
    let r = app.delete("lee", &format!("/v1/jobs/{second}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "canceled");

    // Cancel the running one: the worker stops within a second and writes nothing.
    let t0 = Instant::now();
    assert_eq!(
        app.delete("lee", &format!("/v1/jobs/{first}"))
            .await
            .status(),
        200
    );
    let runs_at_cancel = runner.runs.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let j = app.job("lee", &first).await;
    assert_eq!(j["status"], "canceled");
    assert_eq!(j["outputs"].as_array().unwrap().len(), 0);
    assert!(!app
        .data
        .path()
        .join("blobs/objects/results")
        .join(&first)
        .exists());
    assert_eq!(runs_at_cancel, 1);
    assert_eq!(
        runner.runs.load(Ordering::SeqCst),
        1,
        "the canceled queued job never ran"
    );
    assert_eq!(app.job("lee", &second).await["status"], "canceled");
    assert!(t0.elapsed() < Duration::from_secs(3));
    // Ended jobs cannot be canceled again.
    let r = app.delete("lee", &format!("/v1/jobs/{first}")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "JOB_ENDED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queue_messages_are_dropped_without_harm() {
    use coda_core::ports::{JobQueue, SystemClock};
    let app = crate::helpers::spawn_app().await;
    // Write garbage straight into the live queues, as a buggy producer or a tampered DB might.
    let db = coda_local::Db::open(&app.data.path().join("coda.db")).unwrap();
    let clock = Arc::new(SystemClock);
    let jobs = coda_local::SqliteQueue::new(db.clone(), "jobs", None, clock.clone());
    let ingest = coda_local::SqliteQueue::new(db, "ingest", None, clock);
    for body in [
        "",
        "not json",
        "{\"job_id\": 7}",
        "{\"job_id\": \"job_missing\"}",
        "\u{0}\u{1}",
    ] {
        jobs.send(body).await.unwrap();
    }
    for body in [
        "",
        "[]",
        "{\"bucket\":\"local\",\"key\":\"uploads/nope/x.wav\",\"size\":1,\"etag\":\"x\"}",
        "{\"key\":\"../../etc\"}",
    ] {
        ingest.send(body).await.unwrap();
    }
    // The server keeps serving and running real jobs, and the bad messages are consumed.
    let key = app
        .stored_input("max", "a.wav", tone_wav(440.0, 0.5, 0.3, 8000, 1))
        .await;
    let id = app.submit("max", "probe", &key).await;
    assert_eq!(app.wait_ended("max", &id).await["status"], "succeeded");
    let t0 = Instant::now();
    loop {
        let depth = jobs.depth().await.unwrap() + ingest.depth().await.unwrap();
        if depth == 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{depth} messages never consumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h: Value = app.public_json("/v1/health").await;
    assert_eq!(h["status"], "ok");
}
