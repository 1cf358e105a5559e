//! The webhook endpoints' API: create, list, rotate, delete, deliveries, and a job's own webhook.
//! Sending is covered by `webhooks_delivery`; nothing here needs a receiver.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, tone_wav, TestApp};

const HOOK_URL: &str = "https://hooks.example.com/coda";

async fn create(app: &TestApp, user: &str, body: Value) -> reqwest::Response {
    app.post_json(user, "/v1/webhooks", body).await
}

async fn create_ok(app: &TestApp, user: &str) -> Value {
    let r = create(
        app,
        user,
        json!({"url": HOOK_URL, "events": ["job.succeeded"]}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

async fn error_code(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().is_some(), "{body}");
    assert!(body["error"]["details"].is_object(), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_rotate_delete() {
    let app = spawn_app().await;
    let r = create(
        &app,
        "wanda",
        json!({
            "url": HOOK_URL,
            "events": ["job.succeeded", "job.failed", "job.succeeded"],
            "description": "CI notifications"
        }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let hook: Value = r.json().await.unwrap();
    let id = hook["id"].as_str().unwrap();
    assert!(id.starts_with("wh_"), "{hook}");
    let secret = hook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!(hook["url"], HOOK_URL);
    assert_eq!(hook["events"], json!(["job.succeeded", "job.failed"]));
    assert_eq!(hook["description"], "CI notifications");
    assert_eq!(hook["status"], "active");
    assert!(hook["disabled_reason"].is_null());
    assert!(hook["created_at"].as_str().is_some());

    // Listing and reading never show the secret.
    let r = app.get("wanda", "/v1/webhooks").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(secret), "the list leaks the secret");
    let list: Value = serde_json::from_str(&text).unwrap();
    let hooks = list["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["id"], id);
    assert!(hooks[0].get("secret").is_none());
    let r = app.get("wanda", &format!("/v1/webhooks/{id}")).await;
    assert_eq!(r.status(), 200);
    let one: Value = r.json().await.unwrap();
    assert_eq!(one["id"], id);
    assert!(one.get("secret").is_none());

    // Rotation returns a new secret once.
    let r = app
        .post_json("wanda", &format!("/v1/webhooks/{id}/rotate"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["id"], id);
    let text = app.get("wanda", "/v1/webhooks").await.text().await.unwrap();
    assert!(!text.contains(new_secret));

    // A fresh endpoint has no deliveries.
    let r = app
        .get("wanda", &format!("/v1/webhooks/{id}/deliveries"))
        .await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["deliveries"], json!([]));
    assert!(page["next_cursor"].is_null());
    let r = app
        .get("wanda", &format!("/v1/webhooks/{id}/deliveries?limit=500"))
        .await;
    assert_eq!(r.status(), 200);

    // Redelivering an unknown delivery is not found.
    let r = app
        .post_json(
            "wanda",
            &format!("/v1/webhooks/{id}/deliveries/dlv_nope/redeliver"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(r, 404).await["error"]["code"], "NOT_FOUND");

    // Delete, then it is gone.
    let r = app.delete("wanda", &format!("/v1/webhooks/{id}")).await;
    assert_eq!(r.status(), 204);
    let r = app.delete("wanda", &format!("/v1/webhooks/{id}")).await;
    assert_eq!(error_code(r, 404).await["error"]["code"], "NOT_FOUND");
    let r = app.get("wanda", &format!("/v1/webhooks/{id}")).await;
    assert_eq!(r.status(), 404);
    let list: Value = app.get("wanda", "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_endpoint_is_not_found_on_every_route() {
    let app = spawn_app().await;
    let hook = create_ok(&app, "olive").await;
    let id = hook["id"].as_str().unwrap();

    let responses = [
        app.get("mallory", &format!("/v1/webhooks/{id}")).await,
        app.delete("mallory", &format!("/v1/webhooks/{id}")).await,
        app.post_json("mallory", &format!("/v1/webhooks/{id}/rotate"), json!({}))
            .await,
        app.get("mallory", &format!("/v1/webhooks/{id}/deliveries"))
            .await,
        app.post_json(
            "mallory",
            &format!("/v1/webhooks/{id}/deliveries/dlv_x/redeliver"),
            json!({}),
        )
        .await,
    ];
    for r in responses {
        let url = r.url().to_string();
        let body = error_code(r, 404).await;
        assert_eq!(body["error"]["code"], "NOT_FOUND", "{url}");
    }
    let list: Value = app
        .get("mallory", "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["webhooks"], json!([]));

    // The owner's endpoint is untouched, secret included.
    let list: Value = app.get("olive", "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(list["webhooks"][0]["id"], id);

    // Without a token: 401.
    let r = app
        .client
        .get(app.url("/v1/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 401).await["error"]["code"], "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_events_and_descriptions_are_refused() {
    let app = spawn_app().await;
    for url in [
        "ftp://example.com/hook",
        "http:///hook",
        "https://",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[fd00::1]/",
        "http://user:pw@example.com/",
        "not a url",
        "",
    ] {
        let r = create(&app, "vic", json!({"url": url, "events": ["job.failed"]})).await;
        let body = error_code(r, 422).await;
        assert_eq!(
            body["error"]["code"], "INVALID_WEBHOOK_URL",
            "{url}: {body}"
        );
        let reason = body["error"]["details"]["reason"].as_str().unwrap();
        assert!(!reason.is_empty());
        assert!(
            body["error"]["message"].as_str().unwrap().contains(reason),
            "{body}"
        );
    }

    // Loopback is allowed by default in local mode (webhook_allow_loopback).
    for url in ["http://127.0.0.1:9/hook", "http://localhost:8080/"] {
        let r = create(&app, "vic", json!({"url": url, "events": ["job.failed"]})).await;
        assert_eq!(r.status(), 201, "{url}");
    }

    for events in [
        json!([]),
        json!(["job.done"]),
        json!(["job.failed", "JOB.FAILED"]),
        json!(["job.succeeded", "job.progress"]),
    ] {
        let r = create(&app, "vic", json!({"url": HOOK_URL, "events": events})).await;
        let body = error_code(r, 422).await;
        assert_eq!(body["error"]["code"], "INVALID_EVENTS", "{events}");
    }
    // Missing or mistyped fields are a malformed request.
    for body in [
        json!({"url": HOOK_URL}),
        json!({"events": ["job.failed"]}),
        json!({"url": HOOK_URL, "events": "job.failed"}),
    ] {
        let r = create(&app, "vic", body.clone()).await;
        assert_eq!(
            error_code(r, 400).await["error"]["code"],
            "INVALID_REQUEST",
            "{body}"
        );
    }

    let r = create(
        &app,
        "vic",
        json!({"url": HOOK_URL, "events": ["job.failed"], "description": "x".repeat(501)}),
    )
    .await;
    assert_eq!(
        error_code(r, 422).await["error"]["code"],
        "INVALID_DESCRIPTION"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twenty_first_endpoint_is_refused() {
    let app = spawn_app().await;
    for _ in 0..20 {
        create_ok(&app, "tess").await;
    }
    let r = create(
        &app,
        "tess",
        json!({"url": HOOK_URL, "events": ["job.failed"]}),
    )
    .await;
    let body = error_code(r, 422).await;
    assert_eq!(body["error"]["code"], "TOO_MANY_WEBHOOKS");
    assert_eq!(body["error"]["details"]["max"], 20);
    // The limit is per owner.
    create_ok(&app, "uma").await;
    // Deleting one makes room again.
    let list: Value = app.get("tess", "/v1/webhooks").await.json().await.unwrap();
    let first = list["webhooks"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete("tess", &format!("/v1/webhooks/{first}"))
            .await
            .status(),
        204
    );
    create_ok(&app, "tess").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_webhook_secret_is_shown_once_at_submit() {
    let app = spawn_app().await;
    let key = app
        .stored_input("joe", "a.wav", tone_wav(440.0, 0.5, 0.5, 44100, 2))
        .await;

    let r = app
        .post_json(
            "joe",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": key, "webhook_url": "http://127.0.0.1:9/job-hook"}),
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let accepted: Value = r.json().await.unwrap();
    let secret = accepted["webhook_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let job_id = accepted["job_id"].as_str().unwrap();

    let r = app.get("joe", &format!("/v1/jobs/{job_id}")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(secret), "the job view leaks the secret");
    assert!(!text.contains("webhook_secret"));
    let list = app.get("joe", "/v1/jobs").await.text().await.unwrap();
    assert!(!list.contains(secret), "the job list leaks the secret");

    // Without a webhook_url, no secret.
    let r = app
        .post_json(
            "joe",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": key}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.unwrap();
    assert!(accepted.get("webhook_secret").is_none(), "{accepted}");

    // A refused URL refuses the job, and creates none.
    let before: Value = app.get("joe", "/v1/jobs").await.json().await.unwrap();
    for url in [
        "http://169.254.169.254/",
        "ftp://example.com/",
        "http://10.1.2.3/",
    ] {
        let r = app
            .post_json(
                "joe",
                "/v1/jobs",
                json!({"kind": "probe", "input_key": key, "webhook_url": url}),
            )
            .await;
        let body = error_code(r, 422).await;
        assert_eq!(body["error"]["code"], "INVALID_WEBHOOK_URL", "{url}");
        assert_eq!(body["error"]["details"]["field"], "webhook_url");
    }
    let after: Value = app.get("joe", "/v1/jobs").await.json().await.unwrap();
    assert_eq!(
        before["jobs"].as_array().unwrap().len(),
        after["jobs"].as_array().unwrap().len()
    );
}

#[tokio::test]
async fn names_are_resolved_at_creation_and_a_refused_address_is_422() {
    use crate::helpers::{runners, spawn_app_with};
    // Pinned names stand in for /etc/hosts and DNS: `internal.example` points
    // at loopback (refused here), `public.example` at a public address.
    let app = spawn_app_with(
        |c| {
            c.webhooks.webhook_allow_loopback = false;
            c.webhooks.webhook_pinned_hosts =
                "internal.example=127.0.0.1,mixed.example=93.184.215.14|10.0.0.7,public.example=93.184.215.14".into();
        },
        runners(),
    )
    .await;
    for (url, address) in [
        ("http://internal.example:8080/hook", "127.0.0.1"),
        ("https://MIXED.example./hook", "10.0.0.7"),
    ] {
        let r = create(&app, "rex", json!({"url": url, "events": ["job.failed"]})).await;
        let body = error_code(r, 422).await;
        assert_eq!(
            body["error"]["code"], "INVALID_WEBHOOK_URL",
            "{url}: {body}"
        );
        let reason = body["error"]["details"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("resolves to a refused address") && reason.contains(address),
            "{url}: {reason}"
        );
    }
    // A public address, and a name that does not resolve now (it may later), are accepted.
    for url in [
        "https://public.example/hook",
        "https://not-yet.invalid/hook",
    ] {
        let r = create(&app, "rex", json!({"url": url, "events": ["job.failed"]})).await;
        assert_eq!(r.status(), 201, "{url}");
    }
    // The same check guards a job's own webhook_url.
    let key = app
        .stored_input("rex", "a.wav", tone_wav(440.0, 0.2, 0.5, 44100, 1))
        .await;
    let r = app
        .post_json(
            "rex",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": key, "webhook_url": "http://internal.example/"}),
        )
        .await;
    let body = error_code(r, 422).await;
    assert_eq!(body["error"]["code"], "INVALID_WEBHOOK_URL", "{body}");
    assert_eq!(body["error"]["details"]["field"], "webhook_url");
    let jobs: Value = app.get("rex", "/v1/jobs").await.json().await.unwrap();
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "{jobs}");
}
