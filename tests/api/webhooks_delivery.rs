//! Webhook delivery end to end: the real server, a real receiver on loopback, signatures, retries.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{runners, spawn_app_with, tone_wav, TestApp};
use crate::receiver::{distinct_jobs, Received, Receiver};

/// A server whose retry schedule runs a thousand times faster (5 s → 5 ms, 5 min → 0.3 s).
async fn fast_retry_app() -> TestApp {
    spawn_app_with(|c| c.webhooks.webhook_retry_scale = 0.001, runners()).await
}

async fn create_webhook(app: &TestApp, user: &str, url: &str, events: &[&str]) -> Value {
    let r = app
        .post_json(user, "/v1/webhooks", json!({"url": url, "events": events}))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

fn truncated_wav() -> Vec<u8> {
    let wav = tone_wav(440.0, 0.5, 1.0, 44100, 2);
    wav[..wav.len() / 3].to_vec()
}

async fn deliveries(app: &TestApp, user: &str, webhook_id: &str) -> Vec<Value> {
    let r = app
        .get(user, &format!("/v1/webhooks/{webhook_id}/deliveries"))
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

fn by_job(received: &[Received]) -> HashMap<String, Vec<Received>> {
    let mut m: HashMap<String, Vec<Received>> = HashMap::new();
    for r in received {
        m.entry(r.job_id()).or_default().push(r.clone());
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_arrive_once_per_job() {
    let app = fast_retry_app().await;
    let rx = Receiver::start().await;
    let hook = create_webhook(&app, "wes", &rx.url(), &["job.succeeded", "job.failed"]).await;
    let secret = hook["secret"].as_str().unwrap().to_string();

    let good = app
        .stored_input("wes", "a.wav", tone_wav(440.0, 0.5, 1.0, 44100, 2))
        .await;
    let bad = app.stored_input("wes", "b.wav", truncated_wav()).await;
    let ok_id = app.submit("wes", "probe", &good).await;
    let bad_id = app.submit("wes", "probe", &bad).await;
    assert_eq!(app.wait_ended("wes", &ok_id).await["status"], "succeeded");
    assert_eq!(app.wait_ended("wes", &bad_id).await["status"], "failed");

    let got = rx
        .wait_for(Duration::from_secs(10), "two events", |r| r.len() >= 2)
        .await;
    // Nothing more arrives: one event per ended job.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if rx.received().len() > got.len() {
        rx.received()
    } else {
        got
    };
    assert_eq!(got.len(), 2, "{got:?}");
    let ids: HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "each event has its own webhook-id");
    for r in &got {
        r.verify(&secret).expect("signature verifies");
        assert!(r.id.starts_with("msg_"), "{}", r.id);
        let body = r.json();
        let (job, want) = match body["data"]["job_id"].as_str().unwrap() {
            id if id == ok_id => (id, "job.succeeded"),
            id if id == bad_id => (id, "job.failed"),
            other => panic!("unexpected job {other}"),
        };
        assert_eq!(body["type"], want, "{job}: {body}");
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        if want == "job.failed" {
            assert_eq!(body["data"]["error"]["code"], "INVALID_AUDIO");
        } else {
            assert_eq!(body["data"]["outputs"][0]["name"], "probe.json");
        }
        // A wrong secret does not verify.
        assert!(r.verify("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
    }

    // The endpoint's deliveries record each attempt.
    let list = deliveries(&app, "wes", hook["id"].as_str().unwrap()).await;
    assert_eq!(list.len(), 2, "{list:?}");
    for d in &list {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(d["attempts"][0]["status_code"], 200);
        assert!(d["attempts"][0]["latency_ms"].as_u64().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_retries_with_the_same_id_until_delivered() {
    let app = fast_retry_app().await;
    let rx = Receiver::start().await;
    rx.script(&[500, 500]);
    let hook = create_webhook(&app, "rae", &rx.url(), &["job.succeeded"]).await;
    let key = app
        .stored_input("rae", "a.wav", tone_wav(440.0, 0.5, 1.0, 44100, 2))
        .await;
    let job = app.submit("rae", "probe", &key).await;
    app.wait_ended("rae", &job).await;

    let got = rx
        .wait_for(Duration::from_secs(15), "a 200 after two 500s", |r| {
            r.iter().any(|x| x.answered == 200)
        })
        .await;
    let answered: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [500, 500, 200]);
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "webhook-id is stable across retries"
    );
    let secret = hook["secret"].as_str().unwrap();
    for r in &got {
        r.verify(secret).unwrap();
    }
    let hook_id = hook["id"].as_str().unwrap();
    let mut list = deliveries(&app, "rae", hook_id).await;
    for _ in 0..50 {
        if list[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        list = deliveries(&app, "rae", hook_id).await;
    }
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "delivered", "{}", list[0]);
    let codes: Vec<Value> = list[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(500), json!(200)]);

    // Redelivery sends the same event (same webhook-id) once more.
    let d_id = list[0]["id"].as_str().unwrap();
    let r = app
        .post_json(
            "rae",
            &format!("/v1/webhooks/{hook_id}/deliveries/{d_id}/redeliver"),
            json!({}),
        )
        .await;
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    let again = rx
        .wait_for(Duration::from_secs(10), "the redelivery", |r| r.len() >= 4)
        .await;
    assert_eq!(again[3].id, got[0].id);
    again[3].verify(secret).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_endpoint_and_a_job_url_gets_its_own_signed_event() {
    let app = fast_retry_app().await;
    let rx = Receiver::start().await;
    rx.script(&[410]);
    let hook = create_webhook(&app, "gus", &rx.url(), &["job.succeeded"]).await;
    let key = app
        .stored_input("gus", "a.wav", tone_wav(440.0, 0.5, 1.0, 44100, 2))
        .await;
    let first = app.submit("gus", "probe", &key).await;
    app.wait_ended("gus", &first).await;
    rx.wait_for(Duration::from_secs(10), "the 410", |r| r.len() == 1)
        .await;
    let hooks: Value = app.get("gus", "/v1/webhooks").await.json().await.unwrap();
    let mut status = hooks["webhooks"][0]["status"].clone();
    for _ in 0..50 {
        if status == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let hooks: Value = app.get("gus", "/v1/webhooks").await.json().await.unwrap();
        status = hooks["webhooks"][0]["status"].clone();
    }
    assert_eq!(status, "disabled");

    // A disabled endpoint gets nothing more; a job's own URL still does.
    let own = Receiver::start().await;
    let r = app
        .post_json(
            "gus",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": key, "webhook_url": own.url()}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    let secret = body["webhook_secret"].as_str().unwrap().to_string();
    let job = body["job_id"].as_str().unwrap();
    app.wait_ended("gus", job).await;
    let got = own
        .wait_for(Duration::from_secs(10), "the job's own event", |r| {
            !r.is_empty()
        })
        .await;
    got[0].verify(&secret).unwrap();
    assert_eq!(got[0].json()["data"]["job_id"], job);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 1, "the disabled endpoint got more");
    let _ = hook;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_out_a_receiver_outage() {
    let app = fast_retry_app().await;
    let rx = Receiver::start().await;
    let hook = create_webhook(&app, "ola", &rx.url(), &["job.succeeded"]).await;
    let stopped = rx.stop().await;
    let key = app
        .stored_input("ola", "a.wav", tone_wav(440.0, 0.5, 1.0, 44100, 2))
        .await;
    let mut jobs = vec![];
    for _ in 0..5 {
        jobs.push(app.submit("ola", "probe", &key).await);
    }
    for j in &jobs {
        assert_eq!(app.wait_ended("ola", j).await["status"], "succeeded");
    }
    // Let the first attempts fail against the closed port.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rx = Receiver::restart(stopped).await;
    // Attempts 1-4 of the compressed schedule are 5 ms, 0.3 s, 1.8 s and 7.2 s apart.
    let got = rx
        .wait_for(Duration::from_secs(30), "five events after recovery", |r| {
            distinct_jobs(r) == 5
        })
        .await;
    let per_job = by_job(&got);
    for j in &jobs {
        let events = &per_job[j];
        let ids: HashSet<&str> = events.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 1, "one webhook-id per job: {events:?}");
        events[0].verify(hook["secret"].as_str().unwrap()).unwrap();
    }
    let list = deliveries(&app, "ola", hook["id"].as_str().unwrap()).await;
    assert_eq!(list.len(), 5);
    assert!(list
        .iter()
        .all(|d| d["attempts"].as_array().unwrap().len() >= 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_latency_from_job_end_to_receiver() {
    let app = fast_retry_app().await;
    let rx = Receiver::start().await;
    create_webhook(&app, "lat", &rx.url(), &["job.succeeded"]).await;
    let key = app
        .stored_input("lat", "a.wav", tone_wav(440.0, 0.5, 0.5, 44100, 2))
        .await;
    let n = 30;
    let mut ended = HashMap::new();
    for _ in 0..n {
        let id = app.submit("lat", "probe", &key).await;
        let job = app.wait_ended("lat", &id).await;
        let at: chrono::DateTime<chrono::Utc> =
            job["updated_at"].as_str().unwrap().parse().unwrap();
        ended.insert(id, at);
    }
    let got = rx
        .wait_for(Duration::from_secs(20), "all events", |r| r.len() >= n)
        .await;
    let mut ms: Vec<f64> = got
        .iter()
        .map(|r| {
            let job = r.json()["data"]["job_id"].as_str().unwrap().to_string();
            (r.at_utc - ended[&job]).num_microseconds().unwrap() as f64 / 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    eprintln!(
        "webhook latency, job end -> receiver, {} events: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        pct(0.5),
        pct(0.99),
        ms[ms.len() - 1]
    );
    assert!(
        ms.iter().all(|m| *m >= 0.0),
        "arrived before the job ended: {ms:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_on_429() {
    let app = fast_retry_app().await;
    let rx = Receiver::start().await;
    rx.script_retry_after(429, "1");
    create_webhook(&app, "ria", &rx.url(), &["job.succeeded"]).await;
    let key = app
        .stored_input("ria", "a.wav", tone_wav(440.0, 0.5, 0.5, 44100, 2))
        .await;
    let job = app.submit("ria", "probe", &key).await;
    app.wait_ended("ria", &job).await;
    let got = rx
        .wait_for(Duration::from_secs(10), "the retry after 429", |r| {
            r.len() >= 2
        })
        .await;
    assert_eq!((got[0].answered, got[1].answered), (429, 200));
    // The compressed schedule alone would retry after 5 ms; Retry-After asked for a second.
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_fires_job_failed_and_a_cancel_fires_job_canceled() {
    use crate::helpers::{runners_with, FlakyRunner, SlowRunner};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    // Always transient: dead-lettered after max_receives (3), then job.failed.
    let flaky = Arc::new(FlakyRunner {
        runs: AtomicUsize::new(0),
    });
    let app = spawn_app_with(
        |c| c.webhooks.webhook_retry_scale = 0.001,
        runners_with(flaky),
    )
    .await;
    let rx = Receiver::start().await;
    let hook = create_webhook(&app, "pia", &rx.url(), &["job.failed"]).await;
    let key = app
        .stored_input("pia", "a.wav", tone_wav(440.0, 0.5, 0.5, 44100, 2))
        .await;
    let id = app.submit("pia", "probe", &key).await;
    let job = app.wait_ended("pia", &id).await;
    assert_eq!(job["error"]["code"], "RETRIES_EXHAUSTED", "{job}");
    let got = rx
        .wait_for(Duration::from_secs(10), "job.failed", |r| !r.is_empty())
        .await;
    got[0].verify(hook["secret"].as_str().unwrap()).unwrap();
    let body = got[0].json();
    assert_eq!(body["type"], "job.failed");
    assert_eq!(body["data"]["error"]["code"], "RETRIES_EXHAUSTED");
    assert_eq!(body["data"]["attempts"], 3);

    // Canceled while running: job.canceled, and nothing else.
    let slow = Arc::new(SlowRunner {
        steps: 100,
        runs: AtomicUsize::new(0),
    });
    let app = spawn_app_with(
        |c| c.webhooks.webhook_retry_scale = 0.001,
        runners_with(slow),
    )
    .await;
    let rx = Receiver::start().await;
    create_webhook(
        &app,
        "cal",
        &rx.url(),
        &["job.succeeded", "job.failed", "job.canceled"],
    )
    .await;
    let key = app
        .stored_input("cal", "a.wav", tone_wav(440.0, 0.5, 0.5, 44100, 2))
        .await;
    let id = app.submit("cal", "probe", &key).await;
    app.wait_job("cal", &id, Duration::from_secs(10), |s| s == "running")
        .await;
    let r = app.delete("cal", &format!("/v1/jobs/{id}")).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(app.wait_ended("cal", &id).await["status"], "canceled");
    let got = rx
        .wait_for(Duration::from_secs(10), "job.canceled", |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 1, "{got:?}");
    assert_eq!(got[0].json()["type"], "job.canceled");
    assert_eq!(got[0].json()["data"]["job_id"], id.as_str());
}
