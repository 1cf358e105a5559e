//! The AWS shape on the moto emulator: presigned PUT → real S3 notification →
//! SQS → ingest → job row → worker → status, as `coda serve --backend aws` and
//! `coda-worker` run it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{signed_put, test_config, tone_wav, TestApp};

async fn wait_job_id(app: &TestApp, user: &str, upload_id: &str) -> String {
    let u = app
        .wait_upload(user, upload_id, "ingest never created a job", |u| {
            u["job_ids"][0].is_string()
        })
        .await;
    u["job_ids"][0].as_str().unwrap().to_string()
}

/// Waits until the jobs, ingest and dead-letter queues are all empty, or panics after 15 s.
pub async fn wait_queues_empty(a: &coda_aws::AwsAdapters) {
    let t0 = Instant::now();
    loop {
        let depths = (
            a.jobs_queue.depth().await.unwrap(),
            a.ingest_queue.depth().await.unwrap(),
            a.jobs_dlq.depth().await.unwrap(),
        );
        if depths == (0, 0, 0) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "messages left (jobs, ingest, dlq): {depths:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_put_to_succeeded_job_on_the_emulator() {
    let env = coda_aws::testing::TestEnv::new(3)
        .await
        .expect("moto emulator (scripts/emulator.sh)");
    let a = &env.adapters;
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut cfg = test_config(data.path());
    cfg.jobs.run_workers = false;
    let running = coda::app::start_aws(&cfg, crate::helpers::runners(), a)
        .await
        .unwrap();
    let app = TestApp {
        base: running.base_url.clone(),
        app: Some(running),
        client: reqwest::Client::new(),
        data,
    };

    // The separate worker process's loop, as `coda-worker` runs it.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = {
        let (cfg, aws) = (cfg.clone(), env.adapters.clone());
        tokio::spawn(async move {
            coda::worker::run(&cfg, &aws, crate::helpers::runners(), stopped).await
        })
    };

    // A good upload, straight to S3 through its presigned URL.
    let wav = tone_wav(440.0, 0.5, 2.0, 44100, 2);
    let r = app
        .post_json(
            "alice",
            "/v1/uploads",
            json!({"filename": "my song é.wav", "size": wav.len(), "jobs": ["probe"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    let put_url = up["put_url"].as_str().unwrap();
    assert!(
        put_url.contains("X-Amz-Signature"),
        "an S3 presigned URL: {put_url}"
    );
    let t0 = Instant::now();
    assert_eq!(up["put_headers"]["if-none-match"], "*", "{up}");
    assert!(signed_put(&app.client, &up, wav.clone())
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let job_id = wait_job_id(&app, "alice", up["upload_id"].as_str().unwrap()).await;
    let job = app.wait_ended("alice", &job_id).await;
    let latency = t0.elapsed();
    assert_eq!(job["status"], "succeeded", "{job}");
    eprintln!("emulator: presigned PUT -> probe job succeeded in {latency:?}");
    let probe_key = job["outputs"][0]["key"].as_str().unwrap();

    // Downloads redirect to a presigned S3 GET, which serves the bytes and ranges.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(app.url(&format!("/v1/blobs/{probe_key}")))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let probe: Value = app
        .client
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        (probe["duration_s"].as_f64().unwrap() - 2.0).abs() < 0.001,
        "{probe}"
    );
    let input_key = up["key"].as_str().unwrap();
    let r = no_redirect
        .get(app.url(&format!("/v1/blobs/{input_key}")))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let part = app
        .client
        .get(&location)
        .header("Range", "bytes=0-11")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &wav[..12]);
    // Another user still gets 404, never a redirect.
    assert_eq!(
        no_redirect
            .get(app.url(&format!("/v1/blobs/{input_key}")))
            .bearer_auth(app.token("bob"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A model job on the same worker path: the 440 Hz tone is one A4 (MIDI 69).
    let r = app
        .post_json(
            "alice",
            "/v1/jobs",
            json!({"kind": "transcribe", "input_key": input_key}),
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let id = r.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = app.wait_ended("alice", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().unwrap().len(), 3, "{job}");
    let notes: Value = app
        .client
        .get(job["outputs"][0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pitches: Vec<u64> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pitch_midi"].as_u64().unwrap())
        .collect();
    assert!(pitches.contains(&69), "{notes}");

    // A score through a presigned PUT into a session: ingest reads it from S3 and makes it the
    // session's score (on DynamoDB), and the worker converts it.
    let sid = app.new_session("alice").await;
    let xml = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("shared/music/tests/data/melody_lyrics.musicxml"),
    )
    .unwrap();
    let r = app
        .post_json(
            "alice",
            "/v1/uploads",
            json!({"filename": "melody.musicxml", "size": xml.len(), "session_id": sid,
                   "jobs": [{"kind": "convert", "params": {"to": "midi"}}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    assert!(signed_put(&app.client, &up, xml)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let job_id = wait_job_id(&app, "alice", up["upload_id"].as_str().unwrap()).await;
    // The score's outcome lands on the upload just after the claim that starts the jobs.
    let upload = app
        .wait_upload(
            "alice",
            up["upload_id"].as_str().unwrap(),
            "no score outcome",
            |u| !u["score"].is_null(),
        )
        .await;
    assert_eq!(upload["score"]["rev"], 1, "{upload}");
    let score: Value = app
        .get("alice", &format!("/v1/sessions/{sid}/score"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(score["info"]["notes"], 6, "{score}");
    let job = app.wait_ended("alice", &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"][0]["name"], "score.mid", "{job}");

    // The session's score sung on the worker (a GPU kind, like separate); its audio is the
    // session's on DynamoDB and is served from S3.
    let r = app
        .post_json(
            "alice",
            "/v1/jobs",
            json!({"kind": "synthesize", "session_id": sid, "params": {"verse": 1}}),
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let sing_id = r.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = app.wait_ended("alice", &sing_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let audio = app.get("alice", &format!("/v1/sessions/{sid}/audio")).await;
    assert_eq!(audio.status(), 200);
    let audio = audio.bytes().await.unwrap();
    assert!(
        audio.starts_with(b"RIFF") && audio.len() > 100_000,
        "{} bytes",
        audio.len()
    );

    // A corrupt upload ends failed, and no message is left behind on any queue.
    let cut = wav[..wav.len() / 3].to_vec();
    let up: Value = app
        .post_json(
            "alice",
            "/v1/uploads",
            json!({"filename": "cut.wav", "size": cut.len(), "jobs": ["probe"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(signed_put(&app.client, &up, cut)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let bad = wait_job_id(&app, "alice", up["upload_id"].as_str().unwrap()).await;
    let job = app.wait_ended("alice", &bad).await;
    assert_eq!(
        (job["status"].as_str(), job["error"]["code"].as_str()),
        (Some("failed"), Some("INVALID_AUDIO")),
        "{job}"
    );
    wait_queues_empty(a).await;

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops on shutdown")
        .unwrap();
}
