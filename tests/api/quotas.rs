//! Quotas and rate limits, locally and on the moto emulator: the request past a
//! limit is 429 with `Retry-After` in the error envelope, and once that many
//! seconds pass a request succeeds again.
//!
//! The windows are compressed (`quota_window_scale`), so a minute is 3 s and an
//! hour 3.6 s; each check allows for one window rolling over mid-burst.

use std::sync::Arc;
use std::time::Duration;

use coda::config::Config;
use serde_json::{json, Value};

use crate::helpers::{runners, spawn_app_with, test_config, tone_wav, TestApp};

/// Requests: 5 per (3 s) minute.
fn rate_limited(c: &mut Config) {
    c.limits.requests_per_minute = 5;
    c.limits.quota_window_scale = 0.05;
}

/// Jobs: 2 `probe` per (3.6 s) hour, other kinds unlimited, requests unlimited.
fn job_limited(c: &mut Config) {
    c.limits.jobs_per_hour = 0;
    c.limits.jobs_per_hour_by_kind = "probe=2".into();
    c.limits.quota_window_scale = 0.001;
}

/// Checks a 429: the envelope with `code`, and a `Retry-After` of 1..=`max` seconds; returns it.
async fn too_many(r: reqwest::Response, code: &str, max: u64) -> u64 {
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=max).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("retry after"));
    assert_eq!(body["error"]["details"]["retry_after_secs"], retry_after);
    retry_after
}

/// Sends `send` until it is refused; returns how many passed first, and the refusal.
async fn until_refused<F, Fut>(limit: usize, mut send: F) -> (usize, reqwest::Response)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    for passed in 0..3 * limit {
        let r = send().await;
        if r.status() == 429 {
            return (passed, r);
        }
        assert!(r.status().is_success(), "{}", r.status());
    }
    panic!("never refused after {} requests", 3 * limit);
}

pub async fn check_request_rate(app: &TestApp) {
    let (passed, refused) = until_refused(5, || app.get("ria", "/v1/jobs")).await;
    // Exactly 5 fit one window; a window that rolled over mid-burst lets up to 5 more in.
    assert!((5..=10).contains(&passed), "{passed} passed");
    let wait = too_many(refused, "RATE_LIMITED", 3).await;
    // Another user has their own count.
    assert_eq!(app.get("rob", "/v1/jobs").await.status(), 200);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(app.get("ria", "/v1/jobs").await.status(), 200);
}

pub async fn check_job_quota(app: &TestApp) {
    let key = app
        .stored_input("joy", "a.wav", tone_wav(440.0, 0.2, 0.5, 44100, 1))
        .await;
    let submit = || {
        app.post_json(
            "joy",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": key}),
        )
    };
    let (passed, refused) = until_refused(2, submit).await;
    assert!((2..=4).contains(&passed), "{passed} passed");
    let wait = too_many(refused, "QUOTA_EXCEEDED", 4).await;
    // Retry-After ends the window: what follows runs at the start of a fresh one.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(submit().await.status(), 202, "a new window");
    // An upload that would start a probe job counts against the same quota, when it is asked for.
    let upload = || {
        app.post_json(
            "joy",
            "/v1/uploads",
            json!({"filename": "b.wav", "size": 100, "jobs": ["probe"]}),
        )
    };
    let (passed, refused) = until_refused(2, upload).await;
    assert!((1..=3).contains(&passed), "{passed} passed");
    let body = too_many_body(refused).await;
    assert_eq!(body["error"]["details"]["kind"], "probe", "{body}");
    // An upload with no jobs is not a job submission.
    let r = app
        .post_json(
            "joy",
            "/v1/uploads",
            json!({"filename": "c.wav", "size": 100}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

async fn too_many_body(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    r.json().await.unwrap()
}

#[tokio::test]
async fn local_requests_past_the_rate_limit_get_429_then_pass_again() {
    let app = spawn_app_with(rate_limited, runners()).await;
    check_request_rate(&app).await;
}

#[tokio::test]
async fn local_jobs_past_the_hourly_quota_get_429_then_pass_again() {
    let app = spawn_app_with(job_limited, runners()).await;
    check_job_quota(&app).await;
}

async fn aws_app(env: &coda_aws::testing::TestEnv, tweak: fn(&mut Config)) -> TestApp {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut cfg = test_config(data.path());
    cfg.jobs.run_workers = false;
    tweak(&mut cfg);
    let running = coda::app::start_aws(&cfg, runners(), &env.adapters)
        .await
        .unwrap();
    TestApp {
        base: running.base_url.clone(),
        app: Some(running),
        client: reqwest::Client::new(),
        data,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_quotas_are_counted_in_dynamodb() {
    let env = coda_aws::testing::TestEnv::new(3)
        .await
        .expect("moto emulator (scripts/emulator.sh)");
    check_request_rate(&aws_app(&env, rate_limited).await).await;
    check_job_quota(&aws_app(&env, job_limited).await).await;
    // The counts are DynamoDB items in the quotas table, with a TTL.
    let scan = aws_sdk_dynamodb::Client::new(&env.sdk_config)
        .scan()
        .table_name(&env.names.quotas_table)
        .send()
        .await
        .unwrap();
    let items = scan.items();
    assert!(
        items
            .iter()
            .any(|i| i["pk"].as_s().unwrap().starts_with("req#")),
        "{items:?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["pk"].as_s().unwrap().starts_with("job:probe#")),
        "{items:?}"
    );
    assert!(items.iter().all(|i| i.contains_key("ttl")), "{items:?}");
}
