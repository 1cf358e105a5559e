//! The `transcribe` job and `coda transcribe` on the Basic Pitch fixture, with the real model.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::helpers::{coda, not_audio_wav, spawn_app, tone_wav};
use crate::process::{get_bytes, serve, upload_and_wait};

/// One model frame: how far an onset may move with our resampler instead of librosa's.
const FRAME_S: f64 = 0.0116;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/transcription/tests/data/basic-pitch")
        .join(name)
}

#[derive(Debug, Deserialize)]
struct Note {
    start_s: f64,
    end_s: f64,
    pitch_midi: u8,
    velocity: Option<u8>,
    amplitude: f64,
    pitch_bends: Vec<i32>,
}

fn upstream_notes() -> Vec<Note> {
    serde_json::from_slice(&std::fs::read(fixture("vocadito_10.note_events.json")).unwrap())
        .unwrap()
}

/// Every upstream note has one of ours with the same pitch and an onset within a frame, and nothing is extra.
fn assert_matches_upstream(ours: &[Note]) {
    let upstream = upstream_notes();
    assert_eq!(upstream.len(), 28, "fixture");
    let mut used = vec![false; ours.len()];
    for u in &upstream {
        let found = ours.iter().enumerate().position(|(i, n)| {
            !used[i] && n.pitch_midi == u.pitch_midi && (n.start_s - u.start_s).abs() <= FRAME_S
        });
        let i = found.unwrap_or_else(|| panic!("upstream note {u:?} has no match"));
        used[i] = true;
    }
    assert_eq!(ours.len(), upstream.len(), "extra notes: {ours:?}");
    for n in ours {
        assert!(n.end_s > n.start_s && (0.0..=1.0).contains(&n.amplitude));
        assert_eq!(n.velocity, Some((n.amplitude * 127.0).round() as u8));
        assert!(!n.pitch_bends.is_empty(), "bends are on by default");
    }
    // Sorted by start, then pitch.
    for w in ours.windows(2) {
        assert!((w[0].start_s, w[0].pitch_midi) <= (w[1].start_s, w[1].pitch_midi));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcribe_job_through_coda_serve_matches_upstream() {
    let data = tempfile::tempdir().unwrap();
    let s = serve(data.path());
    let c = reqwest::Client::new();
    let wav = std::fs::read(fixture("vocadito_10.wav")).unwrap();

    // The upload names the job, so ingest starts it as soon as the bytes land.
    let (job, seen_progress) = upload_and_wait(&c, &s, "vocadito_10.wav", wav, "transcribe").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "transcribe");
    assert_eq!(job["progress"], 100);
    assert!(
        seen_progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went down: {seen_progress:?}"
    );
    let names: Vec<&str> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notes.json", "transcription.mid", "pianoroll.png"]);

    let url = |i: usize| job["outputs"][i]["url"].as_str().unwrap().to_string();
    let (ct, notes) = get_bytes(&c, &url(0)).await;
    assert_eq!(ct, "application/json");
    assert_matches_upstream(&serde_json::from_slice::<Vec<Note>>(&notes).unwrap());
    let (ct, midi) = get_bytes(&c, &url(1)).await;
    assert_eq!(ct, "audio/midi");
    assert_eq!(&midi[..4], b"MThd");
    let (ct, png) = get_bytes(&c, &url(2)).await;
    assert_eq!(ct, "image/png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcribe_bad_input_and_params() {
    let app = spawn_app().await;
    let notes_of = |job: &Value| job["outputs"][0]["key"].as_str().unwrap().to_string();

    // Silence: no notes and no error.
    let silence = tone_wav(440.0, 0.0, 3.0, 44100, 2);
    let key = app.stored_input("ann", "silence.wav", silence).await;
    let id = app.submit("ann", "transcribe", &key).await;
    let job = app.wait_ended("ann", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let notes: Value = app
        .get("ann", &format!("/v1/blobs/{}", notes_of(&job)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes, json!([]));

    // A 0.1 s clip is shorter than one window, and still works.
    let clip = tone_wav(440.0, 0.5, 0.1, 44100, 1);
    let key = app.stored_input("ann", "clip.wav", clip).await;
    let id = app.submit("ann", "transcribe", &key).await;
    let job = app.wait_ended("ann", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().unwrap().len(), 3);

    // Bytes behind a RIFF/WAVE header pass sniffing but are not audio: permanent, first attempt.
    let key = app.stored_input("ann", "fake.wav", not_audio_wav()).await;
    let id = app.submit("ann", "transcribe", &key).await;
    app.failed_once("ann", &id, "INVALID_AUDIO").await;

    // Parameters are checked at submit time.
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "transcribe", "input_key": key, "params": {"onset_threshold": 2}}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_PARAMS", "{body}");
    assert_eq!(body["error"]["details"]["field"], "onset_threshold");
    let r = app
        .post_json(
            "ann",
            "/v1/jobs",
            json!({"kind": "transcribe", "input_key": key, "params": {"onset_treshold": 0.4}}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("onset_treshold"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcribe_params_change_the_notes() {
    let app = spawn_app().await;
    let wav = std::fs::read(fixture("vocadito_10.wav")).unwrap();
    let key = app.stored_input("bo", "v.wav", wav).await;
    // The singer stays below 500 Hz (MIDI 71); a 500 Hz floor leaves only what is above it.
    let r = app
        .post_json(
            "bo",
            "/v1/jobs",
            json!({"kind": "transcribe", "input_key": key, "params": {"minimum_frequency": 500.0, "include_pitch_bends": false}}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = app.wait_ended("bo", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let notes: Vec<Note> = app
        .get(
            "bo",
            &format!("/v1/blobs/{}", job["outputs"][0]["key"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(notes.len() < upstream_notes().len(), "{notes:?}");
    assert!(notes
        .iter()
        .all(|n| n.pitch_midi >= 71 && n.pitch_bends.is_empty()));
}

#[test]
fn coda_transcribe_writes_the_three_files_quietly_when_piped() {
    let out = tempfile::tempdir().unwrap();
    let run = coda()
        .arg("transcribe")
        .arg(fixture("vocadito_10.wav"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // No progress bar, no escape codes: stderr is a pipe here.
    assert!(stderr.trim().is_empty(), "stderr: {stderr:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.starts_with("28 notes: "), "{stdout}");
    let notes: Vec<Note> =
        serde_json::from_slice(&std::fs::read(out.path().join("notes.json")).unwrap()).unwrap();
    assert_matches_upstream(&notes);
    let midi = std::fs::read(out.path().join("transcription.mid")).unwrap();
    assert_eq!(&midi[..4], b"MThd");
    let png = std::fs::read(out.path().join("pianoroll.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn coda_transcribe_errors_name_the_cause() {
    let out = tempfile::tempdir().unwrap();
    // No models: the error names the install command.
    let run = coda()
        .env("CODA_MODELS_DIR", out.path().join("nothing-here"))
        .arg("transcribe")
        .arg(fixture("vocadito_10.wav"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("coda models install"), "{stderr}");

    // Not audio.
    let text = out.path().join("notes.txt");
    std::fs::write(&text, "these are not the notes you are looking for").unwrap();
    let run = coda()
        .arg("transcribe")
        .arg(&text)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("INVALID_AUDIO"), "{stderr}");

    // A bad parameter.
    let run = coda()
        .args(["transcribe", "x.wav", "--onset-threshold", "1.5"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("onset_threshold"), "{stderr}");
    assert!(!out.path().join("notes.json").exists());
}

#[test]
fn coda_transcribe_finds_the_installed_models_from_another_folder() {
    // As a new user would run it: no CODA_MODELS_DIR, a folder other than the checkout.
    // The data home links to wherever the tests' models are, so this holds with any CODA_MODELS_DIR.
    let data_home = tempfile::tempdir().unwrap();
    std::fs::create_dir(data_home.path().join("coda")).unwrap();
    let models = std::fs::canonicalize(crate::helpers::models_dir()).unwrap();
    std::os::unix::fs::symlink(models, data_home.path().join("coda/models")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let song = elsewhere.path().join("song.wav");
    std::fs::copy(fixture("vocadito_10.wav"), &song).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_coda"))
        .current_dir(elsewhere.path())
        .env_remove("CODA_MODELS_DIR")
        .env("XDG_DATA_HOME", data_home.path())
        .env("CODA_MODEL_THREADS", "2")
        .args(["transcribe", "song.wav"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(elsewhere
        .path()
        .join("song.transcription/notes.json")
        .is_file());

    // An empty data home has no models: the error names the folder it looked in.
    let empty = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_coda"))
        .current_dir(elsewhere.path())
        .env_remove("CODA_MODELS_DIR")
        .env("XDG_DATA_HOME", empty.path())
        .args(["transcribe", "song.wav", "--out", "again"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&*empty.path().join("coda/models").to_string_lossy()),
        "{stderr}"
    );
}
