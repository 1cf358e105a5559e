//! `coda serve` as a real child process: signals, kills and restarts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::tone_wav;

/// A `coda serve` child process; killed when dropped.
pub struct Served {
    pub child: Child,
    pub base: String,
    pub token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `coda serve` on a free port over `data` and reads its address and token.
pub fn serve(data: &std::path::Path) -> Served {
    serve_with(data, None, &[])
}

/// [`serve`] with `env` on top, under `prlimit --as=BYTES` when `address_space` is given (as a Lambda or an ECS task caps memory).
pub fn serve_with(
    data: &std::path::Path,
    address_space: Option<u64>,
    env: &[(&str, &str)],
) -> Served {
    let mut command = match address_space {
        Some(bytes) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--as={bytes}"))
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_coda"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_coda")),
    };
    let mut child = command
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("CODA_JOB_VISIBILITY_SECS", "1")
        .env("CODA_WORKERS", "2")
        .env("CODA_MODELS_DIR", crate::helpers::models_dir())
        .env("CODA_MODEL_THREADS", "2")
        .env("CODA_WEBHOOK_RETRY_SCALE", "0.001")
        // These tests poll and submit freely; tests/api/quotas.rs checks the limits.
        .env("CODA_REQUESTS_PER_MINUTE", "0")
        .env("CODA_JOBS_PER_HOUR", "0")
        .env("CODA_JOBS_PER_HOUR_BY_KIND", "")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("coda serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = String::new();
    let mut token = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(b) = line.strip_prefix("coda listening on ") {
            base = b.trim().to_string();
        }
        if let Some(t) = line.strip_prefix("token for user 'local': ") {
            token = t.trim().to_string();
            break;
        }
    }
    assert!(
        !base.is_empty() && !token.is_empty(),
        "serve printed no address or token"
    );
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Served { child, base, token }
}

/// Sends `sig` to a child process.
pub fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
}

/// Uploads a 20 s tone and submits `n` probe jobs on it.
pub async fn submit_probes(c: &reqwest::Client, s: &Served, n: usize) -> Vec<String> {
    let wav = tone_wav(440.0, 0.5, 20.0, 44100, 2);
    let up: Value = c
        .post(format!("{}/v1/uploads", s.base))
        .bearer_auth(&s.token)
        .json(&json!({"filename": "long.wav", "size": wav.len(), "jobs": []}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        c.put(up["put_url"].as_str().unwrap())
            .body(wav)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut ids = vec![];
    for _ in 0..n {
        let r: Value = c
            .post(format!("{}/v1/jobs", s.base))
            .bearer_auth(&s.token)
            .json(&json!({"kind": "probe", "input_key": up["key"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["job_id"].as_str().unwrap().to_string());
    }
    ids
}

async fn wait_all_succeeded(c: &reqwest::Client, s: &Served, ids: &[String]) {
    for id in ids {
        let mut last = Value::Null;
        for _ in 0..400 {
            last = c
                .get(format!("{}/v1/jobs/{id}", s.base))
                .bearer_auth(&s.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if last["status"] == "succeeded" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(last["status"], "succeeded", "{last}");
        assert_eq!(last["outputs"].as_array().unwrap().len(), 1);
        let probe: Value = c
            .get(last["outputs"][0]["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!((probe["duration_s"].as_f64().unwrap() - 20.0).abs() < 0.001);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_sigint_restarts_lose_no_job() {
    let data = tempfile::tempdir().unwrap();
    let c = reqwest::Client::new();

    // SIGKILL right after submitting: whatever was running is redelivered after the visibility timeout.
    let mut s = serve(data.path());
    let ids = submit_probes(&c, &s, 6).await;
    signal(&s.child, libc::SIGKILL);
    s.child.wait().unwrap();
    let mut s = serve(data.path());
    // The secret persists, so the old token still works on the new process.
    let more = submit_probes(&c, &s, 4).await;

    // SIGINT: a graceful stop that exits 0.
    signal(&s.child, libc::SIGINT);
    let status = s.child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exit status {status}");

    let s = serve(data.path());
    wait_all_succeeded(&c, &s, &ids).await;
    wait_all_succeeded(&c, &s, &more).await;
    let mut s = s;
    signal(&s.child, libc::SIGINT);
    s.child.wait().unwrap();
}

/// Uploads `bytes` to a served `coda serve` naming one job `kind`, polls it to its end
/// and returns the job with every progress value seen on the way.
pub async fn upload_and_wait(
    c: &reqwest::Client,
    s: &Served,
    filename: &str,
    bytes: Vec<u8>,
    kind: &str,
) -> (Value, Vec<u64>) {
    let upload_url = upload_file(c, s, filename, bytes, kind).await;
    let mut job = Value::Null;
    let mut seen_progress = vec![];
    for _ in 0..1200 {
        if let Some(j) = job_of_upload(c, s, &upload_url).await {
            job = j;
            seen_progress.push(job["progress"].as_u64().unwrap());
            if matches!(
                job["status"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            ) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (job, seen_progress)
}

/// Creates an upload slot that starts `kind`, PUTs `bytes` to it, and returns the slot's URL.
pub async fn upload_file(
    c: &reqwest::Client,
    s: &Served,
    filename: &str,
    bytes: Vec<u8>,
    kind: &str,
) -> String {
    let up: Value = c
        .post(format!("{}/v1/uploads", s.base))
        .bearer_auth(&s.token)
        .json(&json!({"filename": filename, "size": bytes.len(), "jobs": [kind]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let put = c
        .put(up["put_url"].as_str().unwrap())
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    format!(
        "{}/v1/uploads/{}",
        s.base,
        up["upload_id"].as_str().unwrap()
    )
}

/// The upload's first job, once ingest has made it.
pub async fn job_of_upload(c: &reqwest::Client, s: &Served, upload_url: &str) -> Option<Value> {
    let get = |url: String| async move {
        let r = c.get(url).bearer_auth(&s.token).send().await.unwrap();
        r.json::<Value>().await.unwrap()
    };
    let u = get(upload_url.to_string()).await;
    let id = u["job_ids"][0].as_str()?;
    Some(get(format!("{}/v1/jobs/{id}", s.base)).await)
}

/// GETs a signed output URL and returns its content type and bytes.
pub async fn get_bytes(c: &reqwest::Client, url: &str) -> (String, Vec<u8>) {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.bytes().await.unwrap().to_vec())
}

/// The crafted files of `shared/audio/tests/data/hostile-audio` (see its README).
fn hostile(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shared/audio/tests/data/hostile-audio")
        .join(name)
}

/// The files that made symphonia ask for 3.3 to 4.3 GB, and one that overflowed a capacity.
const ALLOCATION_BOMBS: [&str; 4] = [
    "probe_signal_SIGABRT_c246b4bb50ff.m4a",
    "probe_signal_SIGABRT_32f943d39a2c.flac",
    "probe_signal_SIGABRT_d5b3ddbf8a44.flac",
    "probe_panic_33f380541e82.m4a",
];

/// Under a 3 GiB address-space cap these aborted the whole server; now each fails its job once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_audio_fails_its_job_and_kills_no_server_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve_with(dir.path(), Some(3 << 30), &[]);
    let c = reqwest::Client::new();
    for name in ALLOCATION_BOMBS
        .into_iter()
        .chain(["probe_panic_20e571cc8e3c.wav"])
    {
        let bytes = std::fs::read(hostile(name)).unwrap();
        let (job, _) = upload_and_wait(&c, &s, name, bytes, "probe").await;
        assert_eq!(job["status"], "failed", "{name}: {job}");
        assert_eq!(job["error"]["code"], "INVALID_AUDIO", "{name}: {job}");
        assert_eq!(job["attempts"], 1, "{name}: {job}");
        assert!(
            s.child.try_wait().unwrap().is_none(),
            "{name} killed the server"
        );
    }
    let health = c.get(format!("{}/v1/health", s.base)).send().await.unwrap();
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
}

/// `coda probe` under the same cap: a clean INVALID_AUDIO exit, not a signal.
#[test]
fn coda_probe_refuses_hostile_audio_under_a_memory_limit() {
    for name in ALLOCATION_BOMBS {
        let out = Command::new("prlimit")
            .arg(format!("--as={}", 3u64 << 30))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_coda"))
            .arg("probe")
            .arg(hostile(name))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {:?} {stderr}",
            out.status
        );
        assert!(stderr.contains("INVALID_AUDIO"), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// SIGTERM with a 1 s grace while a long job computes: the job is released and told to stop, and
/// the process does not wait on its blocking work, so it exits soon after the grace (#13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_soon_after_the_grace_while_a_long_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve_with(dir.path(), None, &[("CODA_SHUTDOWN_GRACE_SECS", "1")]);
    let c = reqwest::Client::new();
    let wav = tone_wav(440.0, 0.5, 600.0, 22_050, 1);
    let upload_url = upload_file(&c, &s, "long.wav", wav, "separate").await;
    let mut status = Value::Null;
    for _ in 0..600 {
        if let Some(j) = job_of_upload(&c, &s, &upload_url).await {
            status = j["status"].clone();
            if status != "queued" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status, "running",
        "the job must still be running when SIGTERM comes"
    );
    let asked = std::time::Instant::now();
    signal(&s.child, libc::SIGTERM);
    let exited = loop {
        if let Some(code) = s.child.try_wait().unwrap() {
            break code;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "coda serve never exited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = asked.elapsed();
    assert!(exited.success(), "{exited:?}");
    // The 1 s grace, the half second the runtime waits for blocking work, and slack for a busy machine.
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?} after SIGTERM"
    );
}
