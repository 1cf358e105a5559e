//! `coda score info` and `coda convert` as a user runs them (the binary, on files).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shared/music/tests/data")
        .join(name)
}

fn coda(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coda"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("coda runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn info(path: &Path) -> Value {
    let (ok, out, err) = coda(&["score", "info", path.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn score_info_and_convert_between_every_format() {
    let melody = fixture("melody_lyrics.musicxml");
    let i = info(&melody);
    let expected = serde_json::json!({
        "title": "Hallelujah & Amen", "parts": 1, "measures": 3, "notes": 6, "rests": 1,
        "lyrics": 7, "key_signature_fifths": -1, "tempo_bpm": 96.0, "duration_s": 5.625,
        "warnings": []
    });
    assert_eq!(i, expected);
    let (ok, text, _) = coda(&["score", "info", melody.to_str().unwrap()]);
    assert!(
        ok && text.contains("6 notes, 1 rests, 7 lyric syllables"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    for name in ["m.mxl", "m.json", "m.musicxml", "m.mid"] {
        let out = dir.path().join(name);
        let (ok, _, err) = coda(&["convert", melody.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(ok, "{name}: {err}");
        let back = info(&out);
        for field in [
            "parts",
            "measures",
            "notes",
            "rests",
            "key_signature_fifths",
            "tempo_bpm",
            "duration_s",
        ] {
            assert_eq!(back[field], i[field], "{name}: {field}");
        }
        // MIDI carries no lyrics; every other format keeps them.
        let lyrics = if name.ends_with(".mid") { 0 } else { 7 };
        assert_eq!(back["lyrics"], lyrics, "{name}");
    }
    // And back from MIDI and JSON to MusicXML.
    let again = dir.path().join("again.musicxml");
    for from in ["m.mid", "m.json"] {
        let src = dir.path().join(from);
        let (ok, _, err) = coda(&["convert", src.to_str().unwrap(), again.to_str().unwrap()]);
        assert!(ok, "{from}: {err}");
        assert_eq!(info(&again)["notes"], 6, "{from}");
    }
}

#[test]
fn bad_scores_and_names_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let laughs = dir.path().join("laughs.musicxml");
    std::fs::write(
        &laughs,
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>\
         <score-partwise><part-list/></score-partwise>",
    )
    .unwrap();
    let (ok, _, err) = coda(&["score", "info", laughs.to_str().unwrap()]);
    assert!(!ok && err.contains("SCORE_ENTITY"), "{err}");
    let cut = dir.path().join("cut.musicxml");
    std::fs::write(&cut, "<score-partwise version=\"4.0\"><part-list>").unwrap();
    let (ok, _, err) = coda(&["score", "info", cut.to_str().unwrap()]);
    assert!(!ok && err.contains("INVALID_SCORE"), "{err}");
    let melody = fixture("melody_lyrics.musicxml");
    let (ok, _, err) = coda(&["convert", melody.to_str().unwrap(), "/tmp/out.txt"]);
    assert!(
        !ok && err.contains(".musicxml, .xml, .mxl, .mid, .midi or .json"),
        "{err}"
    );
}

#[test]
fn score_edit_transposes_softens_and_refuses_bad_edits() {
    let dir = tempfile::tempdir().unwrap();
    let melody = fixture("melody_lyrics.musicxml");
    let up = dir.path().join("up.mxl");
    let (ok, _, err) = coda(&[
        "score",
        "edit",
        melody.to_str().unwrap(),
        "--edit",
        r#"{"op":"transpose","interval":"M2"}"#,
        "--edit",
        r#"[{"op":"dynamics","step":-1},{"op":"set_tempo","bpm":120}]"#,
        "--out",
        up.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let edited = info(&up);
    assert_eq!(edited["key_signature_fifths"], 1, "{edited}");
    assert_eq!(edited["tempo_bpm"], 120.0, "{edited}");
    assert_eq!(edited["notes"], 6, "{edited}");
    // And back down from the MXL it wrote, to MIDI: the same sounding notes as the original.
    let back = dir.path().join("back.mid");
    let (ok, _, err) = coda(&[
        "score",
        "edit",
        up.to_str().unwrap(),
        "--edit",
        r#"{"op":"transpose","semitones":-2}"#,
        "--out",
        back.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let keys = |p: &Path| -> Vec<i32> {
        let parsed = coda_music::read_score(&std::fs::read(p).unwrap()).unwrap();
        let mut keys = vec![];
        for m in &parsed.score.parts[0].measures {
            for item in &m.items {
                if let coda_music::Item::Note(n) = item {
                    keys.extend(n.pitch.as_ref().map(|p| p.midi()));
                }
            }
        }
        keys
    };
    assert_eq!(keys(&back), keys(&melody));
    // An unknown op and an out-of-range measure: INVALID_EDIT with the field, nothing written.
    for (edit, field) in [
        (r#"{"op":"explode"}"#, "op"),
        (r#"{"op":"delete_measures","from":2,"to":99}"#, "to"),
    ] {
        let out = dir.path().join("never.musicxml");
        let (ok, _, err) = coda(&[
            "score",
            "edit",
            melody.to_str().unwrap(),
            "--edit",
            edit,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            !ok && err.contains("INVALID_EDIT") && err.contains(field),
            "{err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn hostile_scores_fail_with_their_codes_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, code) in crate::scores::hostile_scores() {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (ok, _, err) = coda(&["score", "info", path.to_str().unwrap()]);
        assert!(!ok && err.contains(code), "{name}: {err}");
        let out = dir.path().join(format!("{name}.json"));
        let (ok, _, err) = coda(&["convert", path.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(!ok && err.contains(code), "{name}: {err}");
        assert!(!out.exists(), "{name}");
    }
}

#[test]
fn convert_expands_repeats_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("repeats_harmony.musicxml");
    let plain = dir.path().join("plain.json");
    let played = dir.path().join("played.json");
    let (ok, _, err) = coda(&["convert", src.to_str().unwrap(), plain.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = coda(&[
        "convert",
        "--expand-repeats",
        src.to_str().unwrap(),
        played.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // Measures 1-3 with a repeat of measure 2: 1 2 2 3, and the repeat marks are gone.
    assert_eq!(info(&plain)["measures"], 3);
    assert_eq!(info(&played)["measures"], 4);
    assert_eq!(info(&played)["notes"], 5);
    let text = std::fs::read_to_string(&played).unwrap();
    assert!(
        !text.contains("\"repeat\""),
        "no repeat barlines are left: {text}"
    );
}
