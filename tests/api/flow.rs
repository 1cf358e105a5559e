//! The whole happy path, and isolation between users.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, tone_wav};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_probe_download_and_isolation() {
    let app = spawn_app().await;
    // Session.
    let r = app.post_json("alice", "/v1/sessions", json!({})).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("x-request-id"));
    let ses: Value = r.json().await.unwrap();
    let sid = ses["session_id"].as_str().unwrap().to_string();

    // A known tone: 440 Hz at half scale (-6.02 dBFS), 2.5 s, 44.1 kHz stereo.
    let wav = tone_wav(440.0, 0.5, 2.5, 44100, 2);
    let r = app
        .post_json(
            "alice",
            "/v1/uploads",
            json!({"filename": "tone 440 + ü.wav", "size": wav.len(), "content_type": "text/plain", "jobs": ["probe"], "session_id": sid}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    let put = app
        .client
        .put(up["put_url"].as_str().unwrap())
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let stored: Value = put.json().await.unwrap();
    assert_eq!(
        stored["content_type"], "audio/wav",
        "declared text/plain must be overridden by sniffing"
    );

    // Ingest creates the job; the upload names it.
    let upload_id = up["upload_id"].as_str().unwrap();
    let mut job_id = String::new();
    for _ in 0..100 {
        let u: Value = app
            .get("alice", &format!("/v1/uploads/{upload_id}"))
            .await
            .json()
            .await
            .unwrap();
        if let Some(id) = u["job_ids"].get(0).and_then(|v| v.as_str()) {
            assert_eq!(u["state"], "received");
            job_id = id.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!job_id.is_empty(), "ingest never created the job");
    let job = app.wait_ended("alice", &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100);
    assert_eq!(job["kind"], "probe");
    assert_eq!(job["outputs"][0]["name"], "probe.json");

    // probe.json against what we wrote.
    let key = job["outputs"][0]["key"].as_str().unwrap();
    let probe: Value = app
        .get("alice", &format!("/v1/blobs/{key}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        (probe["duration_s"].as_f64().unwrap() - 2.5).abs() < 0.001,
        "{probe}"
    );
    assert!(
        (probe["peak_dbfs"].as_f64().unwrap() - (-6.0206)).abs() < 0.1,
        "{probe}"
    );
    assert_eq!(probe["sample_rate"], 44100);
    assert_eq!(probe["channels"], 2);
    assert_eq!(probe["codec"], "pcm_s16le");
    assert!(probe["loudness_lufs"].as_f64().is_some());
    // The signed output URL works without a token.
    let signed = app
        .client
        .get(job["outputs"][0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    assert_eq!(signed.json::<Value>().await.unwrap(), probe);

    // A byte range of the upload.
    let input_key = up["key"].as_str().unwrap();
    let r = app
        .client
        .get(app.url(&format!("/v1/blobs/{input_key}")))
        .bearer_auth(app.token("alice"))
        .header("Range", "bytes=100-1099")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-1099/{}", wav.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &wav[100..1100]);
    let r = app
        .client
        .get(app.url(&format!("/v1/blobs/{input_key}")))
        .bearer_auth(app.token("alice"))
        .header("Range", format!("bytes={}-", wav.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", wav.len()).as_str()
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "RANGE_NOT_SATISFIABLE"
    );

    // The session lists the file.
    let s: Value = app
        .get("alice", &format!("/v1/sessions/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["files"][0]["key"], input_key);
    assert!(
        s.get("owner").is_none() && s.get("version").is_none(),
        "internal fields leak: {s}"
    );

    // Bob sees none of it: 404 everywhere, never 403.
    let bob_paths = [
        format!("/v1/sessions/{sid}"),
        format!("/v1/jobs/{job_id}"),
        format!("/v1/uploads/{upload_id}"),
        format!("/v1/blobs/{key}"),
        format!("/v1/blobs/{input_key}"),
    ];
    for p in &bob_paths {
        let r = app.get("bob", p).await;
        assert_eq!(r.status(), 404, "{p}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "NOT_FOUND",
            "{p}"
        );
    }
    assert_eq!(
        app.delete("bob", &format!("/v1/jobs/{job_id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.delete("bob", &format!("/v1/sessions/{sid}"))
            .await
            .status(),
        404
    );
    let r = app
        .post_json(
            "bob",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": input_key}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let bob_jobs: Value = app.get("bob", "/v1/jobs").await.json().await.unwrap();
    assert_eq!(bob_jobs["jobs"].as_array().unwrap().len(), 0);

    // Alice deletes the session; its file goes too.
    assert_eq!(
        app.delete("alice", &format!("/v1/sessions/{sid}"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.get("alice", &format!("/v1/sessions/{sid}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("alice", &format!("/v1/blobs/{input_key}"))
            .await
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_files_and_session_expiry() {
    let app = crate::helpers::spawn_app_with(
        |c| {
            c.limits.session_ttl_secs = 1.0;
            c.server.evict_every_secs = 0.2;
        },
        crate::helpers::runners(),
    )
    .await;
    let sid = app.new_session("carol").await;
    let wav = tone_wav(220.0, 0.25, 0.5, 22050, 1);
    let r = app.post_file("carol", &sid, "voice.wav", wav.clone()).await;
    assert_eq!(r.status(), 201);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["content_type"], "audio/wav");
    assert_eq!(f["bytes"], wav.len() as u64);
    let key = f["key"].as_str().unwrap().to_string();
    let got = app
        .get("carol", &format!("/v1/blobs/{key}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), &wav[..]);
    // A job straight on a session file.
    let job_id = app.submit("carol", "probe", &key).await;
    let job = app.wait_ended("carol", &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");

    // After the TTL the session and its file are gone.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        app.get("carol", &format!("/v1/sessions/{sid}"))
            .await
            .status(),
        404
    );
    let files = app.data.path().join("blobs/objects/sessions").join(&sid);
    assert!(
        !files.join("files/voice.wav").exists(),
        "evicted session's file still on disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_list_paginates_newest_first() {
    let app = spawn_app().await;
    let key = app
        .stored_input("dave", "a.wav", tone_wav(440.0, 0.5, 0.2, 8000, 1))
        .await;
    let mut ids = vec![];
    for _ in 0..7 {
        ids.push(app.submit("dave", "probe", &key).await);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=3&cursor={c}"),
            None => "/v1/jobs?limit=3".into(),
        };
        let page: Value = app.get("dave", &path).await.json().await.unwrap();
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 3);
        seen.extend(
            jobs.iter()
                .map(|j| j["job_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let r = app.get("dave", "/v1/jobs?cursor=not-a-cursor").await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "INVALID_CURSOR"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_openapi_are_public() {
    let app = spawn_app().await;
    let h: Value = app.public_json("/v1/health").await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["workers"], 2);
    assert!(h["queue_depth"].as_u64().is_some());
    let doc: Value = app.public_json("/v1/openapi.json").await;
    for p in [
        "/v1/sessions",
        "/v1/sessions/{id}",
        "/v1/sessions/{id}/files",
        "/v1/uploads",
        "/v1/uploads/{id}",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/blobs/{key}",
        "/v1/health",
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/rotate",
        "/v1/webhooks/{id}/deliveries",
        "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
    assert!(doc["components"]["schemas"].get("JobView").is_some());
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    assert!(doc["components"]["schemas"]
        .get("WebhookWithSecret")
        .is_some());
    assert!(doc["components"]["schemas"].get("DeliveryView").is_some());
}
