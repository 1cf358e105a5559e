//! Named inputs: jobs with none, pipelines through another job's output, and upload jobs with params.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coda_core::kinds::{KindParams, KindSpec, Route, Slot};
use coda_core::model::JobKind;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::helpers::{runners, spawn_app_with, TestApp};

/// Params of the test-only `count` kind.
#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    /// Count up to this, 1..=1000 (default 3).
    #[schemars(range(min = 1, max = 1000))]
    pub to: Option<u32>,
}

impl KindParams for CountParams {
    fn check(&self) -> Result<()> {
        match self.to {
            Some(n) if !(1..=1000).contains(&n) => Err(coda_core::params::invalid_param(
                "to",
                "to must be between 1 and 1000",
            )),
            _ => Ok(()),
        }
    }
}

/// A kind registered only in the tests, with no inputs: it writes `count.json`, the numbers 1..=to.
pub const COUNT: KindSpec = KindSpec::new::<CountParams>(
    "count",
    "writes 1..=to; takes no input (registered in the tests)",
    Route::Cpu,
    "CountParams",
)
.outputs(&[Slot {
    name: "count",
    content_types: &["application/json"],
    description: "the numbers",
}]);

/// Runs `count` jobs.
pub struct CountRunner;

#[async_trait]
impl JobRunner for CountRunner {
    fn kind(&self) -> JobKind {
        COUNT.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let params: CountParams = ctx.params()?;
        if ctx.input_names().next().is_some() {
            return Err(CodaError::Internal("count got an input".into()));
        }
        let numbers: Vec<u32> = (1..=params.to.unwrap_or(3)).collect();
        ctx.progress().set(50);
        Ok(vec![NewOutput {
            name: "count.json".into(),
            content_type: "application/json".into(),
            bytes: serde_json::to_vec(&numbers).unwrap().into(),
        }])
    }
}

/// The shipped kinds plus `count`.
pub async fn app_with_count() -> TestApp {
    let mut r = runners().with(Arc::new(CountRunner));
    r.registry.register(COUNT);
    spawn_app_with(|_| {}, r).await
}

async fn error_code(r: reqwest::Response) -> (u16, String, Value) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
        body["error"]["details"].clone(),
    )
}

async fn output_json(app: &TestApp, job: &Value, name: &str) -> Value {
    let key = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {job}"))["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.get("ann", &format!("/v1/blobs/{key}")).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_with_no_input_runs_from_its_params_alone() {
    let app = app_with_count().await;
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "count", "params": {"to": 4}}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = app.wait_ended("ann", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        (job["input_key"].as_str(), &job["inputs"]),
        (Some(""), &json!({}))
    );
    assert_eq!(
        output_json(&app, &job, "count.json").await,
        json!([1, 2, 3, 4])
    );

    // An input it does not declare, or bad params, are refused at submit.
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "count", "input_key": "uploads/upl_x/a.wav"}),
        )
        .await;
    assert_eq!(error_code(r).await.0, 422);
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "count", "inputs": {"audio": "uploads/upl_x/a.wav"}}),
        )
        .await;
    let (status, code, details) = error_code(r).await;
    assert_eq!((status, code.as_str()), (422, "UNKNOWN_INPUT"));
    assert_eq!(details["input"], "audio");
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "count", "params": {"to": 0}}),
        )
        .await;
    assert_eq!(error_code(r).await.1, "INVALID_PARAMS");
    // Nor can an upload start it: it has nothing to take from the file.
    let r = app
        .post_json(
            "ann",
            "/v1/uploads",
            json!({"filename": "a.wav", "size": 10, "jobs": ["count"]}),
        )
        .await;
    assert_eq!(
        error_code(r).await,
        (422, "KIND_TAKES_NO_INPUT".into(), json!({}))
    );
    // And the served document knows the test kind and its params.
    let doc: Value = app.public_json("/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["JobKind"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("count")));
    assert_eq!(schemas["CountParams"]["properties"]["to"]["maximum"], 1000);
}

/// Four seconds of a low A (55 Hz) an octave under a quiet A 440, stereo: the bass stem holds the 55 Hz.
fn bass_and_lead() -> Vec<u8> {
    let rate = 44_100u32;
    let n = (rate * 4) as usize;
    let mut samples = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let bass = 0.5 * (2.0 * std::f64::consts::PI * 55.0 * t).sin();
        let lead = 0.15 * (2.0 * std::f64::consts::PI * 440.0 * t).sin();
        let s = (bass + lead) as f32;
        samples.push(s);
        samples.push(s);
    }
    coda_audio::wav_bytes_i16(&samples, rate, 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcribe_runs_on_the_bass_stem_of_a_separation() {
    let app = app_with_count().await;
    let key = app.stored_input("ann", "mix.wav", bass_and_lead()).await;
    let sep = app.submit("ann", "separate", &key).await;
    // Submitted at once: the transcription waits for the stem instead of failing.
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "transcribe", "inputs": {"audio": format!("job:{sep}/bass")}}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let tr = r.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sep_job = app
        .wait_job("ann", &sep, Duration::from_secs(60), |s| {
            s != "queued" && s != "running"
        })
        .await;
    assert_eq!(sep_job["status"], "succeeded", "{sep_job}");
    let tr_job = app
        .wait_job("ann", &tr, Duration::from_secs(60), |s| {
            s != "queued" && s != "running"
        })
        .await;
    assert_eq!(tr_job["status"], "succeeded", "{tr_job}");
    assert_eq!(tr_job["attempts"], 1, "waiting spent no attempt: {tr_job}");
    assert_eq!(tr_job["input_key"], format!("job:{sep}/bass"));
    let notes = output_json(&app, &tr_job, "notes.json").await;
    let pitches: Vec<u64> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pitch_midi"].as_u64().unwrap())
        .collect();
    // A1 is MIDI 33; the 440 Hz lead (MIDI 69) stayed out of the bass stem.
    assert!(pitches.contains(&33), "{pitches:?}");
    assert!(pitches.iter().all(|p| *p < 60), "{pitches:?}");

    // Outputs that do not exist, and other owners' jobs, are refused at submit.
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": format!("job:{sep}/flute")}),
        )
        .await;
    let (status, code, details) = error_code(r).await;
    assert_eq!((status, code.as_str()), (422, "UNKNOWN_OUTPUT"));
    assert_eq!(details["output"], "flute");
    let r = app
        .post_json(
            "bob",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": format!("job:{sep}/bass")}),
        )
        .await;
    assert_eq!(error_code(r).await.0, 404);
    // Both spellings of the first input at once is ambiguous.
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": key, "inputs": {"audio": key}}),
        )
        .await;
    assert_eq!(error_code(r).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_on_a_failed_job_fails_with_the_reason() {
    let app = app_with_count().await;
    // Not audio that decodes: the separation fails, so its stems never exist.
    let mut junk = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    junk.extend(std::iter::repeat_n(7u8, 64));
    let key = app.stored_input("ann", "junk.wav", junk).await;
    let sep = app.submit("ann", "separate", &key).await;
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "probe", "input_key": format!("job:{sep}/bass")}),
        )
        .await;
    let id = match r.status().as_u16() {
        202 => r.json::<Value>().await.unwrap()["job_id"]
            .as_str()
            .unwrap()
            .to_string(),
        // The separation may already have failed: then the submit says so.
        _ => {
            assert_eq!(error_code(r).await.1, "INPUT_FAILED");
            return;
        }
    };
    let job = app.wait_ended("ann", &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "INPUT_FAILED", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_jobs_carry_their_params() {
    let app = app_with_count().await;
    let wav = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/transcription/tests/data/basic-pitch/vocadito_10.wav"),
    )
    .unwrap();
    let r = app
        .post_json(
            "ann",
            "/v1/uploads",
            json!({"filename": "song.wav", "size": wav.len(), "jobs": [
                "probe",
                {"kind": "transcribe", "params": {"minimum_frequency": 140.0, "include_pitch_bends": false}}
            ]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    let put = app
        .client
        .put(up["put_url"].as_str().unwrap())
        .body(wav)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let upload_id = up["upload_id"].as_str().unwrap();
    let mut ids = vec![];
    for _ in 0..200 {
        let u: Value = app
            .get("ann", &format!("/v1/uploads/{upload_id}"))
            .await
            .json()
            .await
            .unwrap();
        ids = u["job_ids"].as_array().cloned().unwrap_or_default();
        if !ids.is_empty() {
            assert_eq!(u["jobs"], json!(["probe", "transcribe"]));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids.len(), 2);
    let mut by_kind = std::collections::BTreeMap::new();
    for id in ids {
        let j = app.wait_ended("ann", id.as_str().unwrap()).await;
        assert_eq!(j["status"], "succeeded", "{j}");
        by_kind.insert(j["kind"].as_str().unwrap().to_string(), j);
    }
    assert_eq!(by_kind["probe"]["params"], json!({}));
    let tr = &by_kind["transcribe"];
    assert_eq!(
        tr["params"],
        json!({"minimum_frequency": 140.0, "include_pitch_bends": false})
    );
    let notes = output_json(&app, tr, "notes.json").await;
    let notes = notes.as_array().unwrap();
    // The singer spans MIDI 45..=56 (28 notes by default); 140 Hz is just above MIDI 49,
    // so the params reached the model if the low notes went and the rest have no bends.
    assert!((1..28).contains(&notes.len()), "{notes:?}");
    assert!(
        notes
            .iter()
            .all(|n| n["pitch_midi"].as_u64().unwrap() >= 49 && n["pitch_bends"] == json!([])),
        "{notes:?}"
    );

    // Bad params fail the upload slot, before any bytes move.
    for jobs in [
        json!([{"kind": "transcribe", "params": {"onset_threshold": 2}}]),
        json!([{"kind": "transcribe", "params": {"no_such": 1}}]),
        json!([{"kind": "transcribe", "params": {"onset_threshold": 0.2}}, {"kind": "transcribe", "params": {"onset_threshold": 0.3}}]),
    ] {
        let r = app
            .post_json(
                "ann",
                "/v1/uploads",
                json!({"filename": "a.wav", "size": 10, "jobs": jobs}),
            )
            .await;
        assert_eq!(error_code(r).await.1, "INVALID_PARAMS", "{jobs}");
    }
}
