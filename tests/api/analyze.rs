//! The `analyze` job through `coda serve` (a rendered recording, a corpus chorale, bad input and
//! params), `coda analyze` on files, and `tab` on a recording (transcribed first).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::chat::corpus_dir;
use crate::helpers::{coda, not_audio_wav, spawn_app};

/// A piece of the analysis set (scripts/analysis_set.sh), and its reference.
fn rendered(name: &str) -> (Vec<u8>, Value) {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    let dir = std::env::var_os("CODA_ANALYSIS_SET")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("coda-tests/analysis-set-v1"))
        .join("tempo");
    let read = |ext: &str| {
        let p = dir.join(format!("{name}.{ext}"));
        std::fs::read(&p).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run scripts/analysis_set.sh (scripts/test.sh does)",
                p.display()
            )
        })
    };
    (read("wav"), serde_json::from_slice(&read("json")).unwrap())
}

const PIECE: &str = "t21_125bpm_4-4_dep";

fn assert_chords_well_formed(a: &Value) {
    let chords = a["chords"].as_array().unwrap();
    assert!(!chords.is_empty(), "{a}");
    let mut last_end = 0.0;
    for c in chords {
        let (s, e) = (c["start_s"].as_f64().unwrap(), c["end_s"].as_f64().unwrap());
        assert!(e > s && s >= last_end - 1e-9, "{c}");
        last_end = e;
        let label = c["label"].as_str().unwrap();
        assert!(label == "N" || label.contains(':'), "{c}");
        assert!(c["display"].is_string(), "{c}");
    }
}

#[tokio::test]
async fn analyze_job_reads_a_recording_and_a_score_and_refuses_bad_input() {
    let app = spawn_app().await;

    // A rendered piece at a known tempo: through upload, the worker, analysis.json and chords.png.
    let (wav, truth) = rendered(PIECE);
    let key = app.stored_input("ida", "piece.wav", wav).await;
    let id = app.submit("ida", "analyze", &key).await;
    let job = app.wait_ended("ida", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100, "{job}");
    let names: Vec<&str> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["analysis.json", "chords.png"]);
    let a: Value = serde_json::from_slice(&app.output("ida", &job, "analysis.json").await).unwrap();
    assert_eq!(a["source"], "audio");
    let tempo = a["tempo_bpm"].as_f64().unwrap();
    let want = truth["tempo_bpm"].as_f64().unwrap();
    assert!(
        (tempo / want - 1.0).abs() < 0.04,
        "tempo {tempo} against {want}"
    );
    assert_eq!(a["time_signature"], "4/4");
    let beats = a["beats"].as_array().unwrap();
    let truth_beats = truth["beats"].as_array().unwrap();
    assert!(
        beats.len().abs_diff(truth_beats.len()) <= 3,
        "{} beats against {}",
        beats.len(),
        truth_beats.len()
    );
    assert!(beats.windows(2).all(|w| w[1].as_f64() > w[0].as_f64()));
    let downbeats = a["downbeats"].as_array().unwrap();
    assert!(
        downbeats.len() * 4 <= beats.len() + 4 && downbeats.len() * 4 + 8 >= beats.len(),
        "{a}"
    );
    assert!(
        a["key"]["tonic"].is_string() && a["key"]["confidence"].is_number(),
        "{a}"
    );
    assert_eq!(a["key"]["alternatives"].as_array().unwrap().len(), 4);
    assert!(!a["keys"].as_array().unwrap().is_empty());
    assert_chords_well_formed(&a);
    let png = app.output("ida", &job, "chords.png").await;
    assert!(png.starts_with(b"\x89PNG"));

    // A corpus chorale (bwv10.7, G minor, 4/4): the score's own timing and a key from notes.
    let chorale = std::fs::read(corpus_dir().join("bwv10.7.mxl"))
        .unwrap_or_else(|e| panic!("{e}: run scripts/score_corpus.sh (scripts/test.sh does)"));
    let key = app.stored_input("ida", "bwv10.7.mxl", chorale).await;
    let id = app
        .submit_with(
            "ida",
            "analyze",
            &key,
            json!({"key_profile": "aarden-essen"}),
        )
        .await;
    let job = app.wait_ended("ida", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let a: Value = serde_json::from_slice(&app.output("ida", &job, "analysis.json").await).unwrap();
    assert_eq!(a["source"], "score");
    assert_eq!(
        (a["key"]["tonic"].as_str(), a["key"]["mode"].as_str()),
        (Some("G"), Some("minor")),
        "{}",
        a["key"]
    );
    assert_eq!(a["key"]["profile"], "aarden-essen", "{}", a["key"]);
    assert_eq!(a["time_signature"], "4/4");
    let beats = a["beats"].as_array().unwrap().len();
    let downbeats = a["downbeats"].as_array().unwrap().len();
    assert!(
        downbeats >= 8 && beats >= 4 * downbeats - 4 && beats <= 4 * downbeats + 4,
        "{beats} beats, {downbeats} downbeats"
    );
    assert_chords_well_formed(&a);
    // Chorales end on the tonic chord (G minor, or G major with a Picardy third).
    let last = a["chords"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|c| c["label"] != "N")
        .unwrap();
    assert!(last["label"].as_str().unwrap().starts_with("G:"), "{last}");

    // Not audio, not a score: the job fails once with its code.
    let key = app.stored_input("ida", "fake.wav", not_audio_wav()).await;
    let id = app.submit("ida", "analyze", &key).await;
    let job = app.wait_ended("ida", &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"]["code"].is_string(), "{job}");

    // Bad params are refused at submit with the usual envelope.
    for params in [
        json!({"key_profile": "temperley-ish"}),
        json!({"min_key_segment_s": 0}),
        json!({"profile": "kk"}),
    ] {
        let r = app
            .post_json(
                "ida",
                "/v1/jobs",
                json!({"kind": "analyze", "input_key": key, "params": params}),
            )
            .await;
        assert_eq!(r.status(), 422, "{params}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].is_string(), "{e}");
    }
}

#[tokio::test]
async fn tab_job_transcribes_a_recording_first() {
    let app = spawn_app().await;
    let wav = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/transcription/tests/data/basic-pitch/vocadito_10.wav"),
    )
    .unwrap();
    let key = app.stored_input("ida", "sung.wav", wav).await;
    let id = app.submit("ida", "tab", &key).await;
    let job = app.wait_ended("ida", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["warnings"].to_string().contains("transcription"),
        "{job}"
    );
    let tab: Value = serde_json::from_slice(&app.output("ida", &job, "tab.json").await).unwrap();
    let notes = tab["notes"].as_array().unwrap();
    assert!(notes.len() >= 10, "{tab}");
    // Standard tuning, high to low: every note sounds its pitch on its string and fret.
    let open = [64u64, 59, 55, 50, 45, 40];
    for n in notes {
        let s = n["string"].as_u64().unwrap() as usize;
        assert_eq!(
            open[s - 1] + n["fret"].as_u64().unwrap(),
            n["pitch_midi"].as_u64().unwrap(),
            "{n}"
        );
    }
}

#[test]
fn coda_analyze_prints_a_summary_or_the_json_and_writes_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, _) = rendered(PIECE);
    let input = dir.path().join("piece.wav");
    std::fs::write(&input, wav).unwrap();
    let out = coda()
        .current_dir(dir.path())
        .args(["analyze", "piece.wav"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("key ") && text.contains("bpm") && text.contains("chords "),
        "{text}"
    );
    for f in ["analysis.json", "chords.png"] {
        assert!(dir.path().join("piece.analysis").join(f).is_file(), "{f}");
    }
    let out = coda()
        .current_dir(dir.path())
        .args([
            "analyze",
            "piece.wav",
            "--json",
            "--out",
            "again",
            "--timings",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["source"], "audio");
    let written: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("again/analysis.json")).unwrap())
            .unwrap();
    assert_eq!(a, written);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for stage in ["decode", "onsets", "chroma", "beats", "chords", "total"] {
        assert!(stderr.contains(stage), "{stage} not in {stderr}");
    }

    // A missing file and a bad profile say what is wrong.
    let out = coda()
        .current_dir(dir.path())
        .args(["analyze", "nope.wav"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.wav"));
    let out = coda()
        .current_dir(dir.path())
        .args(["analyze", "piece.wav", "--key-profile", "nonsense"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown key profile"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
