//! `spawn_app()` and friends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use coda::app::{start, RunningApp};
use coda::config::Config;
use coda_core::kinds::{KindSpec, NoParams, Route};
use coda_core::model::JobKind;
use coda_core::worker::{JobContext, JobRunner, NewOutput, Runners};
use coda_core::{CodaError, Result};
use serde_json::{json, Value};

/// A server under test with its own data dir.
pub struct TestApp {
    pub app: Option<RunningApp>,
    pub base: String,
    pub client: reqwest::Client,
    pub data: Arc<tempfile::TempDir>,
}

/// Test-friendly settings: quick timeouts, a free port, a private data dir.
pub fn test_config(data: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.server.addr = "127.0.0.1:0".into();
    c.storage.data_dir = data.to_path_buf();
    c.jobs.workers = 2;
    c.jobs.job_visibility_secs = 2.0;
    c.jobs.retry_delay_secs = 0.2;
    c.jobs.shutdown_grace_secs = 1.0;
    c.models.models_dir = models_dir();
    c.models.model_threads = 2;
    // The quota tests set their own limits; the rest poll freely.
    c.limits.requests_per_minute = 0;
    c.limits.jobs_per_hour = 0;
    c.limits.jobs_per_hour_by_kind = String::new();
    c
}

/// The models `scripts/test.sh` installs: `CODA_MODELS_DIR`, else the per-user default.
pub fn models_dir() -> std::path::PathBuf {
    coda_model_runtime::default_models_dir()
}

/// A kind registered in the tests that no server here runs: known, so 422 `JOB_KIND_UNAVAILABLE`.
pub const UNRUNNABLE: KindSpec = KindSpec::new::<NoParams>(
    "unrunnable",
    "registered in the tests, run by no worker",
    Route::Gpu,
    "UnrunnableParams",
);

/// The shipped runners, plus [`UNRUNNABLE`] in the registry; every server in this test binary shares one loaded model, as a process does.
pub fn runners() -> Runners {
    static MODEL: std::sync::OnceLock<Arc<coda_jobs::SharedModel>> = std::sync::OnceLock::new();
    let model = MODEL.get_or_init(|| {
        let settings = coda::config::model_settings(&test_config(std::path::Path::new(".")));
        Arc::new(coda_jobs::SharedModel::new(settings))
    });
    let mut runners = coda_jobs::builtin_runners(model.clone());
    runners.registry.register(UNRUNNABLE);
    runners
}

/// Starts the real server with the shipped runners.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, runners()).await
}

/// Starts the real server with adjusted settings and chosen runners.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config), runners: Runners) -> TestApp {
    let data = Arc::new(tempfile::tempdir().expect("tempdir"));
    spawn_on(data, tweak, runners).await
}

/// Starts a server on an existing data dir (a restart).
pub async fn spawn_on(
    data: Arc<tempfile::TempDir>,
    tweak: impl FnOnce(&mut Config),
    runners: Runners,
) -> TestApp {
    let mut cfg = test_config(data.path());
    tweak(&mut cfg);
    let app = start(&cfg, runners).await.expect("server starts");
    TestApp {
        base: app.base_url.clone(),
        app: Some(app),
        client: reqwest::Client::new(),
        data,
    }
}

impl TestApp {
    pub fn token(&self, user: &str) -> String {
        self.app.as_ref().expect("running").token(user)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, user: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(self.token(user))
            .send()
            .await
            .expect("request")
    }

    /// GETs a public route (no token) and parses its JSON body.
    pub async fn public_json(&self, path: &str) -> Value {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        r.json().await.unwrap()
    }

    pub async fn post_json(&self, user: &str, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(self.token(user))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, user: &str, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(self.token(user))
            .send()
            .await
            .expect("request")
    }

    /// Sends `message` to session `sid`'s chat as `user`; asserts 200 and returns the reply.
    pub async fn chat(&self, user: &str, sid: &str, message: &str) -> Value {
        let r = self
            .post_json(
                user,
                &format!("/v1/sessions/{sid}/chat"),
                json!({ "message": message }),
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{message}: {body}");
        body
    }

    /// Creates a session and returns its id.
    pub async fn new_session(&self, user: &str) -> String {
        let r = self.post_json(user, "/v1/sessions", json!({})).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Posts one multipart part named `file` to a session.
    pub async fn post_file(
        &self,
        user: &str,
        sid: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        self.client
            .post(self.url(&format!("/v1/sessions/{sid}/files")))
            .bearer_auth(self.token(user))
            .multipart(form)
            .send()
            .await
            .expect("request")
    }

    /// Opens an upload and PUTs `bytes` to its signed URL; returns the upload JSON and the PUT response.
    pub async fn upload(
        &self,
        user: &str,
        name: &str,
        bytes: Vec<u8>,
        jobs: &[&str],
    ) -> (Value, reqwest::Response) {
        let r = self
            .post_json(user, "/v1/uploads", json!({"filename": name, "size": bytes.len(), "content_type": "audio/wav", "jobs": jobs}))
            .await;
        assert_eq!(
            r.status(),
            201,
            "upload slot: {}",
            r.text().await.unwrap_or_default()
        );
        let up: Value = r.json().await.unwrap();
        let put = signed_put(&self.client, &up, bytes)
            .send()
            .await
            .expect("put");
        (up, put)
    }

    /// Uploads a file with no jobs and returns its key, ready for `POST /v1/jobs`.
    pub async fn stored_input(&self, user: &str, name: &str, bytes: Vec<u8>) -> String {
        let (up, put) = self.upload(user, name, bytes, &[]).await;
        assert_eq!(
            put.status(),
            200,
            "{}",
            put.text().await.unwrap_or_default()
        );
        up["key"].as_str().unwrap().to_string()
    }

    pub async fn submit(&self, user: &str, kind: &str, key: &str) -> String {
        self.submit_with(user, kind, key, Value::Null).await
    }

    /// Submits a job with `params`, expecting 202, and returns its id.
    pub async fn submit_with(&self, user: &str, kind: &str, key: &str, params: Value) -> String {
        let r = self
            .post_json(
                user,
                "/v1/jobs",
                json!({"kind": kind, "input_key": key, "params": params}),
            )
            .await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
        r.json::<Value>().await.unwrap()["job_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The bytes of the output named `name` of an ended `job`.
    pub async fn output(&self, user: &str, job: &Value, name: &str) -> bytes::Bytes {
        let key = job["outputs"]
            .as_array()
            .unwrap_or_else(|| panic!("no outputs in {job}"))
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {job}"))["key"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self.get(user, &format!("/v1/blobs/{key}")).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap()
    }

    pub async fn job(&self, user: &str, id: &str) -> Value {
        let r = self.get(user, &format!("/v1/jobs/{id}")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Polls until the job's status satisfies `done`, or panics after `within`.
    pub async fn wait_job(
        &self,
        user: &str,
        id: &str,
        within: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Value {
        let t0 = Instant::now();
        loop {
            let j = self.job(user, id).await;
            if done(j["status"].as_str().unwrap_or("")) {
                return j;
            }
            assert!(
                t0.elapsed() < within,
                "job {id} still {} after {within:?}: {j}",
                j["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls `GET /v1/uploads/{id}` until the upload satisfies `done`, or panics after 30 s
    /// naming `what` it waited for.
    pub async fn wait_upload(
        &self,
        user: &str,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let t0 = Instant::now();
        loop {
            let r = self.get(user, &format!("/v1/uploads/{id}")).await;
            assert_eq!(r.status(), 200);
            let u: Value = r.json().await.unwrap();
            if done(&u) {
                return u;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "{what}: {u}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for job `id` and checks that it failed with `code` on its first attempt (a permanent error is never retried).
    pub async fn failed_once(&self, user: &str, id: &str, code: &str) -> Value {
        let job = self.wait_ended(user, id).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], code, "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
        job
    }

    pub async fn wait_ended(&self, user: &str, id: &str) -> Value {
        self.wait_job(user, id, Duration::from_secs(30), |s| {
            matches!(s, "succeeded" | "failed" | "canceled")
        })
        .await
    }
}

/// A 16-bit stereo WAV of a sine.
/// The `coda` binary on the installed models, two model threads, no stdin.
pub fn coda() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coda"));
    cmd.env("CODA_MODELS_DIR", models_dir())
        .env("CODA_MODEL_THREADS", "2")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Bytes behind a RIFF/WAVE magic: they pass sniffing but do not decode.
pub fn not_audio_wav() -> Vec<u8> {
    let mut fake = b"RIFF\x24\x00\x01\x00WAVE".to_vec();
    fake.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    fake
}

pub fn tone_wav(freq: f64, amplitude: f32, seconds: f64, rate: u32, channels: u16) -> Vec<u8> {
    coda_audio::wav_bytes_i16(
        &coda_audio::sine(freq, amplitude, seconds, rate, channels),
        rate,
        channels,
    )
}

/// A runner that takes `steps` x 100 ms, reporting progress and honouring cancel.
pub struct SlowRunner {
    pub steps: u32,
    pub runs: AtomicUsize,
}

#[async_trait]
impl JobRunner for SlowRunner {
    fn kind(&self) -> JobKind {
        JobKind::from_static("probe")
    }
    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let (job, progress) = (ctx.job(), ctx.progress());
        self.runs.fetch_add(1, Ordering::SeqCst);
        for i in 0..self.steps {
            progress.check()?;
            progress.set((i * 100 / self.steps) as u8);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(vec![NewOutput {
            name: "slow.json".into(),
            content_type: "application/json".into(),
            bytes: serde_json::to_vec(&json!({"job": job.job_id, "attempt": job.attempts}))
                .unwrap()
                .into(),
        }])
    }
}

/// A runner that always fails with a transient error.
pub struct FlakyRunner {
    pub runs: AtomicUsize,
}

#[async_trait]
impl JobRunner for FlakyRunner {
    fn kind(&self) -> JobKind {
        JobKind::from_static("probe")
    }
    async fn run(&self, _ctx: JobContext) -> Result<Vec<NewOutput>> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        Err(CodaError::Unavailable(format!(
            "storage timed out (attempt {n})"
        )))
    }
}

/// The shipped kinds' registry with `r` as the only runner.
pub fn runners_with(r: Arc<dyn JobRunner>) -> Runners {
    Runners::new(coda_jobs::registry()).with(r)
}

/// The PUT an upload slot signed: its `put_url` with its `put_headers` (S3 signs `if-none-match`).
pub fn signed_put(client: &reqwest::Client, up: &Value, body: Vec<u8>) -> reqwest::RequestBuilder {
    let mut req = client.put(up["put_url"].as_str().unwrap()).body(body);
    for (k, v) in up["put_headers"].as_object().expect("put_headers") {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    req
}
