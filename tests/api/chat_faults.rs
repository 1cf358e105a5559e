//! The chat's gpu tool calls when the job goes wrong: the worker dies under it (the chat
//! submits one more job), and the job outlives the chat's wait (the reply carries its id).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coda_core::model::JobKind;
use coda_core::worker::{JobContext, JobRunner, NewOutput, Runners};
use coda_core::Result;
use serde_json::Value;

use crate::helpers::{runners, spawn_app_with, TestApp};
use crate::sing::melody;

const USER: &str = "fay";

/// The shipped synthesize runner, wrapped: the first job it sees kills its worker (the
/// worker's task panics, as a crashed process would leave the message unacknowledged); later
/// jobs wait `delay` and then run normally.
struct Synth {
    inner: Arc<dyn JobRunner>,
    die_first: bool,
    delay: Duration,
    runs: AtomicUsize,
}

#[async_trait]
impl JobRunner for Synth {
    fn kind(&self) -> JobKind {
        self.inner.kind()
    }
    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        if self.die_first && n == 0 {
            panic!(
                "chat_faults: the worker dies during job {}",
                ctx.job().job_id
            );
        }
        tokio::time::sleep(self.delay).await;
        self.inner.run(ctx).await
    }
}

/// The shipped runners with synthesize wrapped in [`Synth`].
fn synth_runners(die_first: bool, delay: Duration) -> (Runners, Arc<Synth>) {
    let mut r = runners();
    let kind = JobKind::from_static("synthesize");
    let inner = r.by_kind.get(&kind).expect("a synthesize runner").clone();
    let synth = Arc::new(Synth {
        inner,
        die_first,
        delay,
        runs: AtomicUsize::new(0),
    });
    r.by_kind.insert(kind, synth.clone());
    (r, synth)
}

/// A session holding a three-note song with lyrics.
async fn song_session(app: &TestApp) -> String {
    let sid = app.new_session(USER).await;
    let score = melody(&[
        ("C", 4, 1, Some("hello")),
        ("E", 4, 1, Some("sunny")),
        ("G", 4, 2, Some("world")),
    ]);
    let r = app.post_file(USER, &sid, "song.musicxml", score).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    sid
}

/// GETs `url` (signed, or a route with the token) and checks it serves a WAV.
async fn assert_wav(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 200, "{what}");
    let wav = r.bytes().await.unwrap();
    assert!(
        wav.starts_with(b"RIFF") && &wav[8..12] == b"WAVE",
        "{what}: not a WAV"
    );
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).unwrap();
    assert!(reader.len() > 44_100, "{what}: {} samples", reader.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_under_a_gpu_tool_call_costs_one_more_job() {
    let (runners, synth) = synth_runners(true, Duration::ZERO);
    // One receive per message: the dead worker's unacknowledged message goes to the
    // dead letters once its visibility lapses, and the job fails RETRIES_EXHAUSTED.
    let app = spawn_app_with(
        |c| {
            c.jobs.max_receives = 1;
            c.jobs.job_visibility_secs = 1.0;
        },
        runners,
    )
    .await;
    let sid = song_session(&app).await;

    let sung = app.chat(USER, &sid, "sing it").await;
    let calls = sung["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{sung}");
    let call = &calls[0];
    assert_eq!(call["tool"], "synthesize", "{sung}");
    assert_eq!(call["route"], "gpu", "{sung}");
    assert_eq!(call["ok"], true, "{sung}");
    let second = call["job_id"].as_str().expect("job_id").to_string();
    let url = sung["audio_url"].as_str().expect("audio_url");
    assert_wav(app.client.get(url).send().await.unwrap(), "audio_url").await;
    assert_eq!(synth.runs.load(Ordering::SeqCst), 2, "one death, one run");

    // Two jobs: the one the worker took with it, failed, and the one that sang.
    let listed: Value = app.get(USER, "/v1/jobs").await.json().await.unwrap();
    let jobs = listed["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{listed}");
    let failed = jobs
        .iter()
        .find(|j| j["job_id"] != second.as_str())
        .unwrap_or_else(|| panic!("no first job in {listed}"));
    let first = app.job(USER, failed["job_id"].as_str().unwrap()).await;
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(first["error"]["code"], "RETRIES_EXHAUSTED", "{first}");
    assert_eq!(first["kind"], "synthesize", "{first}");
    assert_eq!(first["session_id"], sid.as_str(), "{first}");
    let sang = app.job(USER, &second).await;
    assert_eq!(sang["status"], "succeeded", "{sang}");
    assert_eq!(sang["kind"], "synthesize", "{sang}");
    assert_eq!(sang["attempts"], 1, "{sang}");
    assert!(
        sung["reply"]
            .as_str()
            .unwrap()
            .contains("the audio is ready"),
        "{sung}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_tool_call_that_outlives_the_wait_replies_with_its_job() {
    let (runners, _) = synth_runners(false, Duration::from_millis(1500));
    let app = spawn_app_with(|c| c.chat.chat_tool_wait_secs = 0.2, runners).await;
    let sid = song_session(&app).await;

    let sung = app.chat(USER, &sid, "sing it").await;
    let calls = sung["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{sung}");
    let call = &calls[0];
    assert_eq!(call["tool"], "synthesize", "{sung}");
    assert_eq!(
        call["ok"], true,
        "a job still running is no failure: {sung}"
    );
    assert!(call["error"].is_null(), "{sung}");
    let id = call["job_id"].as_str().expect("job_id").to_string();
    assert!(sung["audio_url"].is_null(), "{sung}");
    assert!(
        sung["reply"].as_str().unwrap().contains(&id),
        "the reply names the job: {sung}"
    );
    assert!(
        call["ms"].as_u64().unwrap() < 1500,
        "the chat did not wait for the job: {sung}"
    );
    // No audio yet.
    let r = app.get(USER, &format!("/v1/sessions/{sid}/audio")).await;
    assert_eq!(r.status(), 404);

    let job = app
        .wait_job(USER, &id, Duration::from_secs(30), |s| {
            matches!(s, "succeeded" | "failed" | "canceled")
        })
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["session_id"], sid.as_str(), "{job}");
    let r = app.get(USER, &format!("/v1/sessions/{sid}/audio")).await;
    assert_wav(r, "the session's audio").await;
    let listed: Value = app.get(USER, "/v1/jobs").await.json().await.unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1, "{listed}");
}
