//! MCP: the official Python SDK's client (tests/api/mcp_client.py) against `coda mcp` over
//! stdio and `/mcp` on `coda serve` over Streamable HTTP: the registry's tools with their
//! schemas, parse_score on a Bach chorale's MusicXML, a tool error as an `isError` result, and
//! synthesize whose sung.wav comes back as a resource link that plain HTTP serves.

use std::path::{Path, PathBuf};
use std::time::Duration;

use coda_music::{read_score, write_score, FileFormat};
use serde_json::Value;

use crate::chat::{chorale, corpus_dir};
use crate::helpers::{models_dir, spawn_app};

/// A Bach chorale that the corpus holds as MusicXML text (the rest are .mxl archives).
fn chorale_xml() -> PathBuf {
    corpus_dir().join("bwv67.4.xml")
}

/// Runs the client with `head` (its mode and target), the chorale to parse and `tail`.
async fn client(head: &[&str], tail: &[&str], env: &[(&str, &Path)]) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test.sh, which installs mcp into .venv",
        python.display()
    );
    let xml = chorale_xml();
    assert!(
        xml.exists(),
        "{}: run scripts/score_corpus.sh (scripts/test.sh does)",
        xml.display()
    );
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(root.join("tests/api/mcp_client.py"))
        .args(head)
        .args(["--", "--xml"])
        .arg(&xml)
        .args(tail)
        .env("CODA_MODELS_DIR", models_dir())
        .env("CODA_MODEL_THREADS", "2")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .expect("the MCP client finishes within 240 s")
        .expect("the MCP client runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the MCP client failed:\n{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)))
}

/// What both transports answer alike; returns the synthesize result's structured content.
fn check_report(r: &Value) -> Value {
    assert_eq!(r["server"]["name"], "coda", "{}", r["server"]);
    assert_eq!(r["server"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(r["server"]["instructions"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));

    let tools = r["tools"].as_object().expect("tools");
    let parse = &tools["parse_score"];
    assert!(parse["input"]["properties"]["file"].is_object(), "{parse}");
    assert_eq!(parse["output"]["type"], "object", "{parse}");
    let synth = &tools["synthesize"];
    assert!(synth["input"]["properties"]["score"].is_object(), "{synth}");
    assert!(
        synth["input"]["properties"]["session_id"].is_object(),
        "{synth}"
    );
    assert!(
        synth["output"]["properties"]["outputs"].is_object(),
        "{synth}"
    );
    for t in ["modify_score", "undo_score", "score_info", "convert"] {
        assert!(tools.contains_key(t), "no {t}: {:?}", tools.keys());
    }

    // parse_score on the chorale's text: its four voices, the JSON as text and structured alike.
    let parsed = &r["parse"];
    assert_eq!(parsed["is_error"], false, "{parsed}");
    let info = &parsed["structured"]["info"];
    assert_eq!(info["parts"], 4, "{info}");
    assert!(info["notes"].as_u64().unwrap() > 100, "{info}");
    let text: Value = serde_json::from_str(parsed["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(text, parsed["structured"]);

    // A tool error is a result with isError and the API's error JSON, not a protocol error.
    let bad = &r["bad"];
    assert_eq!(bad["is_error"], true, "{bad}");
    let err: Value = serde_json::from_str(bad["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(err["error"]["code"], "INVALID_SCORE", "{err}");
    assert!(err["error"]["message"].is_string(), "{err}");

    // synthesize: the job ran; each output is a resource link; the WAV was served as one.
    let sung = &r["synth"];
    assert_eq!(sung["is_error"], false, "{sung}");
    let s = sung["structured"].clone();
    assert_eq!(s["status"], "succeeded", "{s}");
    let outputs = s["outputs"].as_array().unwrap();
    let links = sung["links"].as_array().unwrap();
    assert_eq!(links.len(), outputs.len(), "{sung}");
    for o in outputs {
        let link = links
            .iter()
            .find(|l| l["name"] == o["name"])
            .unwrap_or_else(|| panic!("no link for {o}"));
        assert_eq!(link["uri"], o["url"]);
        assert_eq!(link["mime_type"], o["content_type"]);
    }
    let wav = &r["fetched"]["sung.wav"];
    assert_eq!(wav["status"], 200, "{wav}");
    let head = wav["head"].as_str().unwrap();
    assert!(
        head.starts_with("52494646") && head.ends_with("57415645"),
        "not RIFF/WAVE: {head}"
    );
    assert!(wav["bytes"].as_u64().unwrap() > 44_100, "{wav}");
    s
}

#[tokio::test]
async fn coda_mcp_over_stdio_parses_a_chorale_and_sings_one_given_as_text() {
    let dir = tempfile::tempdir().unwrap();
    // The sung chorale as MusicXML text: stdio has no upload, so the score travels inline.
    let (name, mxl) = chorale();
    let score = read_score(&mxl).unwrap().score;
    let text = dir.path().join("chorale.musicxml");
    std::fs::write(&text, write_score(&score, FileFormat::MusicXml).unwrap()).unwrap();
    let data = dir.path().join("data");
    let report = client(
        &["stdio", env!("CARGO_BIN_EXE_coda"), "mcp"],
        &["--synth-xml", text.to_str().unwrap()],
        &[("CODA_DATA_DIR", &data), ("CODA_WORKERS", Path::new("1"))],
    )
    .await;
    let sung = check_report(&report);
    // Without a session, the inline score got one of its own.
    assert!(
        sung["session_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("ses_")),
        "{name}: {sung}"
    );
    assert!(
        data.join("coda.db").exists(),
        "the data dir is the configured one"
    );
}

#[tokio::test]
async fn mcp_over_streamable_http_runs_as_the_token_owner_on_its_session() {
    let app = spawn_app().await;
    let (name, mxl) = chorale();
    let sid = app.new_session("mia").await;
    let r = app.post_file("mia", &sid, &name, mxl).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let url = app.url("/mcp");
    let token = app.token("mia");
    let report = client(&["http", &url, &token], &["--session", &sid], &[]).await;
    let sung = check_report(&report);

    // The same tools as GET /v1/tools.
    let listed = app.public_json("/v1/tools").await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut mcp_names: Vec<&str> = report["tools"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = names.clone();
    mcp_names.sort_unstable();
    want.sort_unstable();
    assert_eq!(mcp_names, want);

    // The job is mia's, in her session; its WAV is served to plain HTTP by its signed URL.
    let job = app.job("mia", sung["job_id"].as_str().unwrap()).await;
    assert_eq!(job["session_id"], sid.as_str(), "{job}");
    assert!(
        sung.get("session_id").is_none(),
        "no session was made: {sung}"
    );
    let url = report["synth"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "sung.wav")
        .unwrap()["uri"]
        .as_str()
        .unwrap()
        .to_string();
    let wav = app.client.get(&url).send().await.unwrap();
    assert_eq!(wav.status(), 200);
    let bytes = wav.bytes().await.unwrap();
    assert!(bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WAVE");

    // The owner is the token's: ola's call on mia's session finds no such session.
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "synthesize", "arguments": {"session_id": sid}}});
    let r = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(app.token("ola"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["isError"], true, "{body}");
    let err: Value =
        serde_json::from_str(body["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(err["error"]["code"], "NOT_FOUND", "{err}");
}

#[tokio::test]
async fn mcp_over_http_without_a_valid_token_is_401_in_the_error_envelope() {
    let app = spawn_app().await;
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    for auth in [None, Some("Bearer not-a-token")] {
        let mut req = app
            .client
            .post(app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    // With a token, the same request initializes.
    let r = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(app.token("mia"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "coda", "{body}");
}
