//! Chat through `coda serve`: a corpus chorale made softer, transposed and sung by talking
//! to it, with the built-in planner; the sung soprano measured by Praat; undo; the registry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use coda_music::{read_score, Item, Score};
use serde_json::{json, Value};

use crate::helpers::spawn_app;

/// The music21 corpus set (scripts/score_corpus.sh).
pub(crate) fn corpus_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("coda-tests/music21-corpus-v1/files/bach")
}

/// The first chorale (by file name) whose soprano has lyrics.
pub(crate) fn chorale() -> (String, Vec<u8>) {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run scripts/score_corpus.sh (scripts/test.sh does)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".mxl"))
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        let Ok(parsed) = read_score(&bytes) else {
            continue;
        };
        let lyrics = parsed.score.parts.first().is_some_and(|p| {
            p.measures
                .iter()
                .flat_map(|m| &m.items)
                .any(|i| matches!(i, Item::Note(n) if !n.lyrics.is_empty()))
        });
        if lyrics {
            return (name, bytes);
        }
    }
    panic!("no chorale with lyrics in {}", dir.display());
}

/// The MIDI pitches of a part's notes, in order.
fn pitches(score: &Score, part: usize) -> Vec<i32> {
    score.parts[part]
        .measures
        .iter()
        .flat_map(|m| &m.items)
        .filter_map(|i| match i {
            Item::Note(n) => n.pitch.as_ref().map(|p| p.midi()),
            _ => None,
        })
        .collect()
}

/// The ladder marks of the dynamics directions at the start of each part's first measure.
fn opening_dynamics(score: &Score) -> Vec<Vec<String>> {
    score
        .parts
        .iter()
        .map(|p| {
            p.measures[0]
                .items
                .iter()
                .take_while(|i| !matches!(i, Item::Note(_)))
                .filter_map(|i| match i {
                    Item::Direction(d) => Some(d.kinds.iter().filter_map(|k| match k {
                        coda_music::DirectionKind::Dynamics { marks } => Some(marks.clone()),
                        _ => None,
                    })),
                    _ => None,
                })
                .flatten()
                .flatten()
                .collect()
        })
        .collect()
}

fn as_score(v: &Value) -> Score {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("current_score: {e}"))
}

/// The tools called, with their routes, and that each succeeded.
fn calls(reply: &Value) -> Vec<(String, String)> {
    reply["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["ok"], true, "{c}");
            (
                c["tool"].as_str().unwrap().to_string(),
                c["route"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(tool: &str, route: &str) -> (String, String) {
    (tool.into(), route.into())
}

/// Praat's f0 of a WAV (scripts/sing_measure.py, the singing tests' judge).
fn praat_pitch(wav: &Path) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test.sh, which installs praat-parselmouth into .venv",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(root.join("scripts/sing_measure.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let req = json!([{"op": "pitch", "wav": wav, "floor": 100, "ceiling": 1200}]);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sing_measure.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers.remove(0)
}

/// The share of Praat's voiced frames within 50 cents of the aligned note, 40 ms from changes.
fn share_in_tune(pitch: &Value, alignment: &Value) -> (f64, usize) {
    let fr = alignment["frame_rate"].as_f64().unwrap();
    let notes: Vec<(u32, u32, Option<i64>)> = alignment["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["start"].as_u64().unwrap() as u32,
                n["end"].as_u64().unwrap() as u32,
                n["midi"].as_i64(),
            )
        })
        .collect();
    let (mut good, mut total) = (0usize, 0usize);
    let times = pitch["times"].as_array().unwrap();
    for (t, f) in times.iter().zip(pitch["f0"].as_array().unwrap()) {
        let (t, f) = (t.as_f64().unwrap(), f.as_f64().unwrap());
        if f <= 0.0 {
            continue;
        }
        let frame = (t * fr) as u32;
        let Some(&(_, _, Some(midi))) = notes.iter().find(|n| n.0 <= frame && frame < n.1) else {
            continue;
        };
        if notes.iter().any(|n| (t - f64::from(n.0) / fr).abs() < 0.04) {
            continue;
        }
        total += 1;
        let cents = 1200.0 * (f / (440.0 * 2f64.powf((midi as f64 - 69.0) / 12.0))).log2();
        if cents.abs() <= 50.0 {
            good += 1;
        }
    }
    (good as f64 / total.max(1) as f64, total)
}

#[tokio::test]
async fn a_chorale_is_made_softer_transposed_sung_and_undone_by_chat() {
    let app = spawn_app().await;
    let (name, bytes) = chorale();
    let sid = app.new_session("ana").await;
    let r = app.post_file("ana", &sid, &name, bytes).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let view: Value = app
        .get("ana", &format!("/v1/sessions/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    let original = as_score(&view["current_score"]);
    let soprano = pitches(&original, 0);
    assert!(soprano.len() > 20, "{name}: {} notes", soprano.len());
    assert!(
        opening_dynamics(&original).iter().all(Vec::is_empty),
        "{name} starts marked"
    );

    // "make it softer": a cpu edit; an unmarked chorale (mf) starts at mp in every part.
    let softer = app.chat("ana", &sid, "make it softer").await;
    assert_eq!(calls(&softer), [pair("modify_score", "cpu")], "{softer}");
    assert_eq!(softer["score_rev"], 2, "{softer}");
    assert!(softer["audio_url"].is_null());
    let s = as_score(&softer["current_score"]);
    for marks in opening_dynamics(&s) {
        assert_eq!(marks, ["mp"], "{name}");
    }
    assert_eq!(pitches(&s, 0), soprano);
    assert!(
        softer["reply"].as_str().unwrap().contains("softer"),
        "{softer}"
    );

    // "transpose up 2 semitones": the pitches rise, the dynamics stay.
    let up = app.chat("ana", &sid, "transpose up 2 semitones").await;
    assert_eq!(calls(&up), [pair("modify_score", "cpu")], "{up}");
    assert_eq!(up["score_rev"], 3);
    let s = as_score(&up["current_score"]);
    let raised: Vec<i32> = soprano.iter().map(|m| m + 2).collect();
    assert_eq!(pitches(&s, 0), raised);
    assert_eq!(pitches(&s, 3).len(), pitches(&original, 3).len());
    for marks in opening_dynamics(&s) {
        assert_eq!(marks, ["mp"]);
    }

    // "sing the soprano": a gpu job; its audio follows the transposed line, softly.
    let sung = app.chat("ana", &sid, "sing the soprano").await;
    assert_eq!(calls(&sung), [pair("synthesize", "gpu")], "{sung}");
    let job_id = sung["tool_calls"][0]["job_id"].as_str().unwrap();
    let url = sung["audio_url"].as_str().expect("audio_url");
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let wav = r.bytes().await.unwrap();
    assert!(wav.starts_with(b"RIFF"), "not a WAV");
    let job: Value = app
        .get("ana", &format!("/v1/jobs/{job_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["session_id"], sid.as_str());
    let alignment_key = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "alignment.json")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let alignment: Value = app
        .get("ana", &format!("/v1/blobs/{alignment_key}"))
        .await
        .json()
        .await
        .unwrap();
    let mut sung_pitches: Vec<i64> = alignment["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["midi"].as_i64())
        .collect();
    let mut want: Vec<i64> = raised.iter().map(|&m| i64::from(m)).collect();
    sung_pitches.sort_unstable();
    sung_pitches.dedup();
    want.sort_unstable();
    want.dedup();
    assert_eq!(
        sung_pitches, want,
        "the sung line is the transposed soprano"
    );
    // mp, not the mf (velocity 80) of the unmarked score.
    for n in alignment["notes"].as_array().unwrap() {
        if n["midi"].is_i64() {
            assert!(n["velocity"].as_u64().unwrap() < 80, "{n}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sung.wav");
    std::fs::write(&path, &wav).unwrap();
    let (share, frames) = share_in_tune(&praat_pitch(&path), &alignment);
    println!(
        "{name}: {:.1} % of {frames} voiced frames within 50 cents of the transposed soprano",
        100.0 * share
    );
    assert!(frames > 500, "{frames} voiced frames");
    assert!(share >= 0.95, "{:.1} % in tune", 100.0 * share);

    // "undo": the transposition is gone, the softer dynamics are back in force.
    let undone = app.chat("ana", &sid, "undo").await;
    assert_eq!(calls(&undone), [pair("undo_score", "cpu")], "{undone}");
    assert_eq!(undone["score_rev"], 2);
    let s = as_score(&undone["current_score"]);
    assert_eq!(pitches(&s, 0), soprano);
    for marks in opening_dynamics(&s) {
        assert_eq!(marks, ["mp"]);
    }
    let redone = app.chat("ana", &sid, "redo").await;
    assert_eq!(redone["score_rev"], 3);

    // A request the planner does not know: no call, and what it can do.
    let no = app
        .chat("ana", &sid, "write me a symphony in the style of Mahler")
        .await;
    assert_eq!(no["tool_calls"], json!([]), "{no}");
    assert!(no["current_score"].is_null());
    assert!(no["reply"].as_str().unwrap().contains("transpose"), "{no}");

    // The session keeps the conversation: each message, each call and each reply.
    let view: Value = app
        .get("ana", &format!("/v1/sessions/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    let roles: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "tool",
            "assistant",
            "user",
            "tool",
            "assistant",
            "user",
            "tool",
            "assistant",
            "user",
            "tool",
            "assistant",
            "user",
            "tool",
            "assistant",
            "user",
            "assistant"
        ],
        "{view}"
    );
    assert_eq!(view["current_audio"], job["outputs"][0]["key"]);

    // Another user's session is not there to chat with.
    let r = app
        .post_json(
            "bob",
            &format!("/v1/sessions/{sid}/chat"),
            json!({"message": "softer"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "NOT_FOUND", "{e}");
}

#[tokio::test]
async fn the_tool_registry_lists_every_tool_with_its_route_and_schemas() {
    let app = spawn_app().await;
    let r = app.get("ana", "/v1/tools").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["provider"], "planner");
    let tools = body["tools"].as_array().unwrap();
    let route = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no tool {name} in {body}"))["route"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for name in [
        "parse_score",
        "modify_score",
        "phonemize",
        "align_phonemes_to_notes",
        "list_voicebanks",
        "get_voicebank_info",
        "convert",
        "undo_score",
        "tab",
    ] {
        assert_eq!(route(name), "cpu", "{name}");
    }
    for name in [
        "predict_durations",
        "predict_pitch",
        "predict_variance",
        "synthesize_audio",
        "synthesize",
        "save_audio",
        "separate",
        "transcribe",
    ] {
        assert_eq!(route(name), "gpu", "{name}");
    }
    // S0's order first; the `tool` job kind is the vehicle of the gpu S0 tools, not a tool.
    assert_eq!(tools[0]["name"], "parse_score");
    assert!(tools.iter().all(|t| t["name"] != "tool"));
    for t in tools {
        assert_eq!(t["parameters"]["type"], "object", "{t}");
        assert!(t["result"].is_object(), "{t}");
        assert!(!t["description"].as_str().unwrap().is_empty(), "{t}");
    }
    // In a session the score is the session's: modify_score does not require one.
    let modify = tools.iter().find(|t| t["name"] == "modify_score").unwrap();
    let required = modify["parameters"]["required"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!required.contains(&json!("score")), "{modify}");
    // Health reports both routes, counted from the same registry.
    let h = app.public_json("/v1/health").await;
    let count = |route: &str| tools.iter().filter(|t| t["route"] == route).count();
    assert_eq!(h["routes"]["cpu"]["tools"], count("cpu"), "{h}");
    assert_eq!(h["routes"]["gpu"]["tools"], count("gpu"), "{h}");
    assert_eq!(
        h["routes"]["gpu"]["status"], "ok",
        "local workers run the gpu route: {h}"
    );
    assert_eq!(h["chat_provider"], "planner");
    // Like the job kinds, the catalogue is public: a client reads it before it signs in.
    assert_eq!(app.public_json("/v1/tools").await, body);
}
