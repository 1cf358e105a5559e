//! Bad input: each case asserts the status and the error code, and nothing panics.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, tone_wav};

/// Status and error code of an error response, after checking its shape.
async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error body is JSON");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {body}"
    );
    assert!(
        e["details"].is_object(),
        "details must be an object: {body}"
    );
    (status, e["code"].as_str().unwrap_or("").to_string())
}

fn is(expected_status: u16, expected_code: &str) -> (u16, String) {
    (expected_status, expected_code.to_string())
}

/// Deterministic noise, no rand crate needed.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_bad_requests_with_clear_codes() {
    let app = spawn_app().await;

    // Random bytes as audio: refused at the PUT, nothing stored, the slot stays usable.
    let (up, put) = app
        .upload("erin", "noise.wav", noise(4096), &["probe"])
        .await;
    assert_eq!(error_of(put).await, is(415, "UNSUPPORTED_MEDIA_TYPE"));
    let uid = up["upload_id"].as_str().unwrap();
    let u: Value = app
        .get("erin", &format!("/v1/uploads/{uid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["state"], "pending");
    assert_eq!(
        app.get(
            "erin",
            &format!("/v1/blobs/{}", up["key"].as_str().unwrap())
        )
        .await
        .status(),
        404
    );

    // Traversal and control characters in names.
    for name in ["../../etc/passwd", "a/b.wav", "bad\u{7}.wav", ".."] {
        let r = app
            .post_json(
                "erin",
                "/v1/uploads",
                json!({"filename": name, "size": 10, "jobs": ["probe"]}),
            )
            .await;
        assert_eq!(error_of(r).await, is(400, "INVALID_FILENAME"), "{name:?}");
    }

    // Oversize declared size.
    let r = app
        .post_json(
            "erin",
            "/v1/uploads",
            json!({"filename": "big.wav", "size": 300u64 << 20, "jobs": ["probe"]}),
        )
        .await;
    assert_eq!(error_of(r).await, is(413, "PAYLOAD_TOO_LARGE"));

    // Malformed JSON, wrong shape, unknown kind, unavailable kind.
    let r = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(app.token("erin"))
        .body("{\"filename\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, is(400, "INVALID_JSON"));
    let r = app
        .post_json("erin", "/v1/uploads", json!({"filename": 7}))
        .await;
    assert_eq!(error_of(r).await, is(400, "INVALID_REQUEST"));
    let r = app
        .post_json(
            "erin",
            "/v1/jobs",
            json!({"kind": "dance", "input_key": "uploads/x/y.wav"}),
        )
        .await;
    assert_eq!(error_of(r).await, is(422, "UNKNOWN_JOB_KIND"));
    let r = app
        .post_json(
            "erin",
            "/v1/uploads",
            json!({"filename": "a.wav", "size": 10, "jobs": [crate::helpers::UNRUNNABLE.name]}),
        )
        .await;
    assert_eq!(error_of(r).await, is(422, "JOB_KIND_UNAVAILABLE"));

    // Unknown ids and keys outside the caller's areas.
    assert_eq!(
        error_of(app.get("erin", "/v1/jobs/job_doesnotexist").await).await,
        is(404, "NOT_FOUND")
    );
    for key in [
        "uploads/upl_nope/a.wav",
        "../../secret.key",
        "results",
        "coda.db",
    ] {
        let r = app
            .post_json(
                "erin",
                "/v1/jobs",
                json!({"kind": "probe", "input_key": key}),
            )
            .await;
        assert_eq!(error_of(r).await, is(404, "NOT_FOUND"), "{key}");
    }

    // Auth: none, garbage, and a token signed by another server.
    assert_eq!(
        error_of(app.client.get(app.url("/v1/jobs")).send().await.unwrap()).await,
        is(401, "UNAUTHORIZED")
    );
    let r = app
        .client
        .get(app.url("/v1/jobs"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, is(401, "UNAUTHORIZED"));
    let other = spawn_app().await;
    let r = app
        .client
        .get(app.url("/v1/jobs"))
        .bearer_auth(other.token("erin"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, is(401, "UNAUTHORIZED"));

    // Unknown routes and methods keep the error shape.
    assert_eq!(
        error_of(app.get("erin", "/v1/nothing").await).await,
        is(404, "NOT_FOUND")
    );
    let r = app
        .client
        .patch(app.url("/v1/jobs"))
        .bearer_auth(app.token("erin"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, is(405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_refuse_tampering_and_wrong_sizes() {
    let app = spawn_app().await;
    let wav = tone_wav(440.0, 0.5, 0.5, 16000, 1);
    let r = app
        .post_json(
            "fay",
            "/v1/uploads",
            json!({"filename": "t.wav", "size": wav.len(), "jobs": ["probe"]}),
        )
        .await;
    let up: Value = r.json().await.unwrap();
    let url = up["put_url"].as_str().unwrap().to_string();

    let tampered = url.replace("t.wav", "u.wav");
    let r = app
        .client
        .put(&tampered)
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, is(401, "UNAUTHORIZED"));
    let later = url.replace("expires=", "expires=9");
    let r = app
        .client
        .put(&later)
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, is(401, "UNAUTHORIZED"));

    let r = app
        .client
        .put(&url)
        .body(wav[..wav.len() - 10].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, is(400, "SIZE_MISMATCH"));
    assert_eq!(
        app.client
            .put(&url)
            .body(wav.clone())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = app.client.put(&url).body(wav).send().await.unwrap();
    assert_eq!(error_of(r).await, is(409, "ALREADY_UPLOADED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_audio_fails_the_job_with_invalid_audio() {
    let app = spawn_app().await;
    // A truncated WAV: the header promises 1 s, half of it arrives.
    let wav = tone_wav(440.0, 0.5, 1.0, 44100, 2);
    let cut = wav[..wav.len() / 2].to_vec();
    // Random bytes behind a valid RIFF/WAVE magic pass sniffing but not decoding.
    let mut fake = b"RIFF\x24\x00\x01\x00WAVE".to_vec();
    fake.extend(noise(8000));
    for (name, bytes, needle) in [("cut.wav", cut, "truncated"), ("fake.wav", fake, "")] {
        let (up, put) = app.upload("gus", name, bytes, &["probe"]).await;
        assert_eq!(put.status(), 200, "{name}");
        let uid = up["upload_id"].as_str().unwrap();
        let mut job_id = None;
        for _ in 0..100 {
            let u: Value = app
                .get("gus", &format!("/v1/uploads/{uid}"))
                .await
                .json()
                .await
                .unwrap();
            if let Some(id) = u["job_ids"][0].as_str() {
                job_id = Some(id.to_string());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let job = app.wait_ended("gus", &job_id.expect("job created")).await;
        assert_eq!(job["status"], "failed", "{name}: {job}");
        assert_eq!(job["error"]["code"], "INVALID_AUDIO", "{name}: {job}");
        assert_eq!(job["attempts"], 1, "a permanent error must not be retried");
        assert!(
            job["error"]["message"].as_str().unwrap().contains(needle),
            "{name}: {job}"
        );
        assert_eq!(job["outputs"].as_array().unwrap().len(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_limit_applies_to_multipart_too() {
    let app = spawn_app_with(
        |c| c.limits.max_upload_bytes = 10_000,
        crate::helpers::runners(),
    )
    .await;
    let sid = app.new_session("hal").await;
    let big = tone_wav(440.0, 0.5, 1.0, 44100, 1);
    let r = app.post_file("hal", &sid, "big.wav", big).await;
    assert_eq!(error_of(r).await, is(413, "PAYLOAD_TOO_LARGE"));
    let r = app.post_file("hal", &sid, "n.bin", noise(500)).await;
    assert_eq!(error_of(r).await, is(415, "UNSUPPORTED_MEDIA_TYPE"));
    let r = app.post_file("hal", &sid, "../x.wav", vec![1, 2]).await;
    assert_eq!(error_of(r).await, is(400, "INVALID_FILENAME"));
}

/// Eight PUTs at once to one signed URL: the slot takes exactly one, the rest are 409 (#13 defect 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upload_slot_takes_one_write() {
    let app = spawn_app().await;
    let wav = tone_wav(440.0, 0.5, 0.5, 8000, 1);
    let r = app
        .post_json(
            "hal",
            "/v1/uploads",
            json!({"filename": "a.wav", "size": wav.len(), "jobs": ["probe"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    let url = up["put_url"].as_str().unwrap().to_string();
    let puts: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, body) = (app.client.clone(), url.clone(), wav.clone());
            tokio::spawn(async move { client.put(url).body(body).send().await.unwrap() })
        })
        .collect();
    let mut statuses = vec![];
    for p in puts {
        let r = p.await.unwrap();
        statuses.push(match r.status().as_u16() {
            200 => (200, String::new()),
            _ => error_of(r).await,
        });
    }
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{statuses:?}");
    for (status, code) in statuses.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(
            (*status, code.as_str()),
            (409, "ALREADY_UPLOADED"),
            "{statuses:?}"
        );
    }
    // The one write starts the one probe.
    let id = up["upload_id"].as_str().unwrap();
    let mut job_ids = Value::Null;
    for _ in 0..200 {
        let u: Value = app
            .get("hal", &format!("/v1/uploads/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if u["state"] == "received" {
            job_ids = u["job_ids"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(job_ids.as_array().map(Vec::len), Some(1), "{job_ids}");
}

/// Reads from `stream` until it closes or `wait` passes; true when the server closed it.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A response (a 408, say) before the close.
            Ok(Ok(_)) => continue,
        }
    }
}

/// Slowloris (#13 defect 4): connections that send half a header, or go quiet after a request,
/// are closed once `header_read_timeout_secs` passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(
        |c| c.server.header_read_timeout_secs = 1.0,
        crate::helpers::runners(),
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = vec![];
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    for s in &mut slow {
        assert!(
            closed_within(s, std::time::Duration::from_secs(5)).await,
            "a half-sent header kept its connection"
        );
    }
    assert!(
        closed_within(&mut idle, std::time::Duration::from_secs(5)).await,
        "an idle kept-alive connection stayed open"
    );
    // The server still answers.
    assert_eq!(app.public_json("/v1/health").await["status"], "ok");
}

/// A header of 5,000 lines or of 1 MiB is a 431 in the error envelope (#13 defect 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_431_in_the_envelope() {
    let app = spawn_app().await;
    let mut many = reqwest::header::HeaderMap::new();
    for i in 0..5000 {
        many.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_static("1"),
        );
    }
    let big = "a".repeat(1 << 20);
    for req in [
        app.client.get(app.url("/v1/health")).headers(many),
        app.client.get(app.url("/v1/health")).header("x-big", big),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 431);
        let (status, code) = error_of(r).await;
        assert_eq!((status, code.as_str()), (431, "HEADER_TOO_LARGE"));
    }
}

/// What hyper refuses before the app (a 100 KB cursor, a request line that is not HTTP) is in the envelope too (#13 defect 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_hyper_refuses_get_the_envelope() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let token = app.token("ivy");
    // Raw requests: the http crate (reqwest's) will not even build a URI this long.
    let cursor = "c".repeat(100_000);
    for (request, status, code) in [
        (
            format!("GET /v1/jobs?cursor={cursor} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"),
            414,
            "URI_TOO_LONG",
        ),
        (
            "GET /v1/health HTTP/1.1\r\nHost x\r\n\r\n".to_string(),
            400,
            "INVALID_REQUEST",
        ),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
        assert!(answer.contains("content-type: application/json"), "{answer}");
        let body: serde_json::Value =
            serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], code, "{answer}");
        assert!(body["error"]["details"].is_object(), "{answer}");
    }
    // The server still answers.
    assert_eq!(app.public_json("/v1/health").await["status"], "ok");
}

/// Framework rejections (a query that does not parse, a key that is not UTF-8) use a documented code (#13 defect 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_rejections_use_documented_codes() {
    let app = spawn_app().await;
    for path in ["/v1/jobs?limit=abc", "/v1/blobs/uploads/%FF%FE/a.wav"] {
        let (status, code) = error_of(app.get("ivy", path).await).await;
        assert_eq!((status, code.as_str()), (400, "INVALID_REQUEST"), "{path}");
    }
}

/// `max_connections` caps the connections served at once: a third waits until one of two ends (#13 defect 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_their_turn() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|c| c.server.max_connections = 2, crate::helpers::runners()).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let early =
        tokio::time::timeout(std::time::Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the third connection was served while two were open"
    );
    drop(first);
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a connection ended")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(second);
}
