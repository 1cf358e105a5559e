//! The `tab` job through `coda serve` (a score, notes.json, bad params) and `coda tab` on files.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::helpers::spawn_app;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shared/music/tests/data")
        .join(name)
}

/// Every note of tab.json is on a string of `open` (high to low) at a fret within `frets`, and
/// sounds its pitch there.
fn assert_playable(tab: &Value, open: &[u8], capo: u8, frets: u8) -> usize {
    let notes = tab["notes"].as_array().unwrap();
    for n in notes {
        let s = n["string"].as_u64().unwrap() as usize;
        let f = n["fret"].as_u64().unwrap() as u8;
        assert!((1..=open.len()).contains(&s), "{n}");
        assert!(f <= frets, "{n}");
        assert_eq!(
            u64::from(open[s - 1] + capo + f),
            n["pitch_midi"].as_u64().unwrap(),
            "{n}"
        );
        assert!(n["end_s"].as_f64() > n["start_s"].as_f64(), "{n}");
    }
    notes.len()
}

#[tokio::test]
async fn tab_job_fingers_a_score_and_notes_json_and_refuses_bad_params() {
    let app = spawn_app().await;
    let score = std::fs::read(fixture("melody_lyrics.musicxml")).unwrap();
    let key = app.stored_input("tia", "melody.musicxml", score).await;
    let id = app
        .submit_with("tia", "tab", &key, json!({"tuning": "drop-d", "capo": 2}))
        .await;
    let job = app.wait_ended("tia", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100, "{job}");
    let names: Vec<&str> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["tab.txt", "tab.json", "tab.musicxml", "tab.alphatex"]
    );
    let tab: Value = serde_json::from_slice(&app.output("tia", &job, "tab.json").await).unwrap();
    // Drop D, high to low: E4 B3 G3 D3 A2 D2; capo 2.
    assert_eq!(assert_playable(&tab, &[64, 59, 55, 50, 45, 38], 2, 22), 6);
    let xml = String::from_utf8(app.output("tia", &job, "tab.musicxml").await.to_vec()).unwrap();
    assert!(xml.contains("<capo>2</capo>"), "{xml}");
    assert!(
        xml.contains("<tuning-step>D</tuning-step><tuning-octave>2</tuning-octave>")
            || xml.contains("<tuning-step>D</tuning-step>\n"),
        "no low D string in {xml}"
    );
    let text = String::from_utf8(app.output("tia", &job, "tab.txt").await.to_vec()).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.contains('|')).count() % 6,
        0,
        "{text}"
    );
    let tex = String::from_utf8(app.output("tia", &job, "tab.alphatex").await.to_vec()).unwrap();
    assert!(tex.contains("\\capo 2"), "{tex}");

    // notes.json, as a transcribe job writes it, on a bass: a low E1 is below its range and
    // moves up an octave with a warning.
    let notes = json!([
        {"start_s": 0.0, "end_s": 0.5, "pitch_midi": 28, "velocity": 90},
        {"start_s": 0.5, "end_s": 1.0, "pitch_midi": 33},
        {"start_s": 1.0, "end_s": 1.5, "pitch_midi": 24}
    ]);
    let key = app
        .stored_input("tia", "notes.json", serde_json::to_vec(&notes).unwrap())
        .await;
    let id = app
        .submit_with("tia", "tab", &key, json!({"tuning": "bass"}))
        .await;
    let job = app.wait_ended("tia", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let tab: Value = serde_json::from_slice(&app.output("tia", &job, "tab.json").await).unwrap();
    assert_eq!(assert_playable(&tab, &[43, 38, 33, 28], 0, 20), 3);
    assert_eq!(tab["notes"][2]["pitch_midi"], 36, "{tab}");
    let warned = job["warnings"].to_string() + &tab["warnings"].to_string();
    assert!(warned.contains("octave"), "{job} {tab}");

    // Bad params are refused at submit; a part the score lacks, or a list that is not notes,
    // fails once with its code.
    for params in [
        json!({"tuning": "banjo-ish"}),
        json!({"strings": 3}),
        json!({"capo": 30}),
        json!({"tempo_bpm": 0}),
        json!({"tunning": "standard"}),
    ] {
        let r = app
            .post_json(
                "tia",
                "/v1/jobs",
                json!({"kind": "tab", "input_key": key, "params": params}),
            )
            .await;
        assert_eq!(r.status(), 422, "{params}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].is_string(), "{e}");
    }
    let score = std::fs::read(fixture("melody_lyrics.musicxml")).unwrap();
    let key = app.stored_input("tia", "melody.musicxml", score).await;
    let id = app
        .submit_with("tia", "tab", &key, json!({"part": 3}))
        .await;
    let job = app.failed_once("tia", &id, "INVALID_PARAMS").await;
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has one part"),
        "{job}"
    );
    let key = app
        .stored_input("tia", "notes.json", br#"[{"start": 0}]"#.to_vec())
        .await;
    let id = app.submit("tia", "tab", &key).await;
    app.failed_once("tia", &id, "INVALID_NOTES").await;
    let key = app.stored_input("tia", "empty.json", b"[]".to_vec()).await;
    let id = app.submit("tia", "tab", &key).await;
    app.failed_once("tia", &id, "NO_NOTES").await;
}

fn coda(args: &[&str], dir: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coda"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("coda runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn coda_tab_writes_the_four_files_and_names_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let melody = fixture("melody_lyrics.musicxml");
    let (ok, text, err) = coda(&["tab", melody.to_str().unwrap()], dir.path());
    assert!(ok, "{err}");
    // Six strings of tab, named e B G D A E.
    let strings: Vec<&str> = text.lines().filter(|l| l.contains('|')).collect();
    assert_eq!(strings.len() % 6, 0, "{text}");
    assert!(
        strings[0].starts_with('e') && strings[5].starts_with('E'),
        "{text}"
    );
    let out = dir.path().join("melody_lyrics.musicxml.tab");
    for name in ["tab.txt", "tab.json", "tab.musicxml", "tab.alphatex"] {
        assert!(out.join(name).is_file(), "no {name}: {err}");
    }
    let tab: Value = serde_json::from_slice(&std::fs::read(out.join("tab.json")).unwrap()).unwrap();
    assert_eq!(assert_playable(&tab, &[64, 59, 55, 50, 45, 40], 0, 22), 6);

    // A seven-string with a custom out folder.
    let (ok, _, err) = coda(
        &[
            "tab",
            melody.to_str().unwrap(),
            "--strings",
            "7",
            "--out",
            "seven",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    let tab: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("seven/tab.json")).unwrap()).unwrap();
    assert_eq!(
        assert_playable(&tab, &[64, 59, 55, 50, 45, 40, 35], 0, 22),
        6
    );

    for (args, says) in [
        (vec!["tab", "missing.musicxml"], "missing.musicxml"),
        (
            vec!["tab", melody.to_str().unwrap(), "--tuning", "banjo-ish"],
            "banjo-ish",
        ),
        (
            vec!["tab", melody.to_str().unwrap(), "--part", "2"],
            "part 2",
        ),
    ] {
        let (ok, _, err) = coda(&args, dir.path());
        assert!(!ok, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
