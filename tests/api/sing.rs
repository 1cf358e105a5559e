//! `synthesize` over HTTP: a session's score sung, its audio served with `Range`, the
//! warnings a demanding user needs, and scores that do not parse.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// A one-part MusicXML score: `notes` are (step, octave, quarters, lyric) at 120 BPM in 4/4.
pub fn melody(notes: &[(&str, i32, u32, Option<&str>)]) -> Vec<u8> {
    let mut body = String::new();
    for (step, octave, q, lyric) in notes {
        if *step == "R" {
            body.push_str(&format!("<note><rest/><duration>{q}</duration></note>"));
            continue;
        }
        let lyric = lyric.map_or(String::new(), |l| {
            format!("<lyric number=\"1\"><syllabic>single</syllabic><text>{l}</text></lyric>")
        });
        body.push_str(&format!(
            "<note><pitch><step>{step}</step><octave>{octave}</octave></pitch><duration>{q}</duration>{lyric}</note>"
        ));
    }
    format!(
        r#"<?xml version="1.0"?><score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Voice</part-name></score-part></part-list>
        <part id="P1"><measure number="1"><attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
        <direction><sound tempo="120"/></direction>{body}</measure></part></score-partwise>"#
    )
    .into_bytes()
}

async fn sing_in_session(
    app: &TestApp,
    user: &str,
    score: Vec<u8>,
    params: Value,
) -> (String, Value) {
    let sid = app.new_session(user).await;
    let r = app.post_file(user, &sid, "song.musicxml", score).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = app
        .post_json(
            user,
            "/v1/jobs",
            json!({"kind": "synthesize", "session_id": sid, "params": params}),
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let id = r.json::<Value>().await.unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = app.wait_ended(user, &id).await;
    (sid, job)
}

fn output<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {job}"))
}

async fn bytes(app: &TestApp, user: &str, o: &Value) -> bytes::Bytes {
    let r = app
        .get(user, &format!("/v1/blobs/{}", o["key"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap()
}

fn wav_samples(b: &[u8]) -> Vec<i16> {
    let reader = hound::WavReader::new(std::io::Cursor::new(b.to_vec())).unwrap();
    assert_eq!(reader.spec().sample_rate, 44_100);
    assert_eq!(reader.spec().channels, 1);
    reader.into_samples::<i16>().map(|s| s.unwrap()).collect()
}

#[tokio::test]
async fn a_session_score_is_sung_and_its_audio_served_with_range() {
    let app = spawn_app().await;
    let score = melody(&[
        ("C", 4, 1, Some("hello")),
        ("E", 4, 1, Some("sunny")),
        ("G", 4, 2, Some("world")),
    ]);
    let (sid, job) = sing_in_session(&app, "ana", score, json!({"vibrato": {"depth": 0}})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["session_id"], sid.as_str(), "{job}");
    assert_eq!(job["warnings"], json!([]), "{job}");
    for name in ["sung.wav", "alignment.json", "f0.json", "pitch.png"] {
        output(&job, name);
    }
    let wav = bytes(&app, "ana", output(&job, "sung.wav")).await;
    let samples = wav_samples(&wav);
    // 2 s of score at 120 BPM, plus the lead-in for "hello"'s /h/.
    let seconds = samples.len() as f64 / 44_100.0;
    assert!((2.0..2.2).contains(&seconds), "{seconds} s");
    assert!(
        samples.iter().any(|&s| s.unsigned_abs() > 3000),
        "the render is audible"
    );
    let alignment: Value =
        serde_json::from_slice(&bytes(&app, "ana", output(&job, "alignment.json")).await).unwrap();
    let phones: Vec<&str> = alignment["phonemes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phone"].as_str().unwrap())
        .collect();
    assert_eq!(
        phones,
        ["hh", "ah", "l", "ow", "s", "ah", "n", "iy", "w", "er", "l", "d"],
        "{alignment}"
    );
    let f0: Value =
        serde_json::from_slice(&bytes(&app, "ana", output(&job, "f0.json")).await).unwrap();
    let curve = f0["f0"].as_array().unwrap();
    assert_eq!(curve.len(), samples.len() / 512);
    // The last note is G4 (392 Hz) with vibrato off: its middle sits on the pitch.
    let mid = curve[curve.len() - 40].as_f64().unwrap();
    assert!((mid - 392.0).abs() < 0.5, "{mid}");
    let png = bytes(&app, "ana", output(&job, "pitch.png")).await;
    assert!(png.starts_with(b"\x89PNG"));

    // The session's audio: the same file, whole or by range.
    let r = app.get("ana", &format!("/v1/sessions/{sid}/audio")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), wav);
    let r = app
        .client
        .get(app.url(&format!("/v1/sessions/{sid}/audio")))
        .bearer_auth(app.token("ana"))
        .header("range", "bytes=0-43")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-43/{}", wav.len())
    );
    assert_eq!(&r.bytes().await.unwrap()[..], &wav[..44]);
    let s: Value = app
        .get("ana", &format!("/v1/sessions/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["current_audio"], output(&job, "sung.wav")["key"], "{s}");
    // Nobody else's, and none before a render.
    assert_eq!(
        app.get("bob", &format!("/v1/sessions/{sid}/audio"))
            .await
            .status(),
        404
    );
    let fresh = app.new_session("ana").await;
    let r = app.get("ana", &format!("/v1/sessions/{fresh}/audio")).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "NOT_FOUND", "{e}");
    // A session without a score cannot be sung from.
    let r = app
        .post_json(
            "ana",
            "/v1/jobs",
            json!({"kind": "synthesize", "session_id": fresh}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "MISSING_INPUT", "{e}");
}

#[tokio::test]
async fn odd_inputs_are_sung_with_warnings_and_bad_ones_refused() {
    let app = spawn_app().await;
    // No lyrics: sung on "a".
    let (_, job) = sing_in_session(
        &app,
        "ana",
        melody(&[("A", 4, 2, None), ("B", 4, 2, None)]),
        json!({}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let w = job["warnings"].to_string();
    assert!(w.contains("no lyrics"), "{job}");
    // A word the dictionary lacks, and a note far above the voice.
    let (_, job) = sing_in_session(
        &app,
        "ana",
        melody(&[("C", 4, 2, Some("blorptastic")), ("C", 7, 2, Some("la"))]),
        json!({}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let w = job["warnings"].to_string();
    assert!(
        w.contains("'blorptastic' is not in the dictionary"),
        "{job}"
    );
    assert!(w.contains("outside the built-in voice's range"), "{job}");
    assert!(w.contains("C7"), "{job}");
    // Only rests: silence, and a warning.
    let (_, job) = sing_in_session(&app, "ana", melody(&[("R", 0, 4, None)]), json!({})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["warnings"].to_string().contains("no notes to sing"),
        "{job}"
    );
    let samples = wav_samples(&bytes(&app, "ana", output(&job, "sung.wav")).await);
    assert!(!samples.is_empty() && samples.iter().all(|&s| s == 0));

    // Parameters are checked at submit, with the field named.
    let key = app
        .stored_input("ana", "song.musicxml", melody(&[("C", 4, 4, Some("la"))]))
        .await;
    for (params, field) in [
        (json!({"airiness": 2}), "airiness"),
        (json!({"articulation": -1.5}), "articulation"),
        (json!({"vibrato": {"rate": 50}}), "vibrato.rate"),
        (json!({"voice": "../etc"}), "voice"),
    ] {
        let r = app
            .post_json(
                "ana",
                "/v1/jobs",
                json!({"kind": "synthesize", "input_key": key, "params": params}),
            )
            .await;
        assert_eq!(r.status(), 422, "{params}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "INVALID_PARAMS", "{e}");
        assert_eq!(e["error"]["details"]["field"], field, "{e}");
    }
    // A part or voice that is not there fails the job once, saying which exist.
    let id = app
        .submit_with("ana", "synthesize", &key, json!({"part": 3}))
        .await;
    let job = app.failed_once("ana", &id, "INVALID_PARAMS").await;
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("0: Voice (P1)"),
        "{job}"
    );
    let id = app
        .submit_with("ana", "synthesize", &key, json!({"part": "voice"}))
        .await;
    assert_eq!(app.wait_ended("ana", &id).await["status"], "succeeded");
    let id = app
        .submit_with("ana", "synthesize", &key, json!({"voice": "nobody"}))
        .await;
    app.failed_once("ana", &id, "INVALID_PARAMS").await;
    // A score that does not parse fails with INVALID_SCORE.
    let broken = b"<?xml version=\"1.0\"?><score-partwise version=\"4.0\"><part-list><score-part id=\"P1\"/></part-list><part id=\"P1\"><measure number=\"1\"><note><pitch><step>H</step><octave>4</octave></pitch><duration>1</duration></note></measure></part></score-partwise>".to_vec();
    let key = app.stored_input("ana", "broken.musicxml", broken).await;
    let id = app.submit("ana", "synthesize", &key).await;
    app.failed_once("ana", &id, "INVALID_SCORE").await;
}

#[test]
fn coda_sing_writes_the_four_files_and_prints_the_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let score = dir.path().join("song.musicxml");
    std::fs::write(
        &score,
        melody(&[("D", 4, 2, Some("zorblat")), ("F", 4, 2, Some("day"))]),
    )
    .unwrap();
    let out = dir.path().join("out/sung.wav");
    let run = crate::helpers::coda()
        .args([
            "sing",
            score.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--part",
            "Voice",
            "--intensity",
            "0.8",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: 'zorblat' is not in the dictionary"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.starts_with("2.1 s sung: "), "{stdout}");
    for f in [
        "sung.wav",
        "sung.alignment.json",
        "sung.f0.json",
        "sung.pitch.png",
    ] {
        let p = dir.path().join("out").join(f);
        assert!(p.metadata().map(|m| m.len() > 0).unwrap_or(false), "{f}");
    }
    let samples = wav_samples(&std::fs::read(&out).unwrap());
    assert!(samples.iter().any(|&s| s.unsigned_abs() > 3000));
    // Bad values are refused before anything is written.
    let run = crate::helpers::coda()
        .args([
            "sing",
            score.to_str().unwrap(),
            "--out",
            dir.path().join("x.wav").to_str().unwrap(),
            "--part",
            "7",
        ])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("INVALID_PARAMS") && stderr.contains("no part 7"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.wav").exists());
}

/// A voices folder with a voicebank of every predictor (`tiny`), one with none (`plain`) and a broken one.
fn voices_folder() -> tempfile::TempDir {
    use coda_singing::diffsinger::testing::{
        write_test_voicebank, TestBreakage, TestVoicebankOptions,
    };
    let dir = tempfile::tempdir().unwrap();
    write_test_voicebank(&dir.path().join("tiny"), &TestVoicebankOptions::full()).unwrap();
    write_test_voicebank(&dir.path().join("plain"), &TestVoicebankOptions::default()).unwrap();
    let broken = TestVoicebankOptions {
        breakage: Some(TestBreakage::MelMismatch),
        ..TestVoicebankOptions::default()
    };
    write_test_voicebank(&dir.path().join("broken"), &broken).unwrap();
    dir
}

#[tokio::test]
async fn a_diffsinger_voicebank_sings_through_the_job_as_the_library_does() {
    use coda_jobs::synthesize::{sing_score, SharedSinging, SynthesizeParams, SynthesizeRunner};
    let voices = voices_folder();
    let mut settings =
        coda::config::model_settings(&crate::helpers::test_config(std::path::Path::new(".")));
    settings.voices_dir = voices.path().to_path_buf();
    let runners =
        crate::helpers::runners_with(std::sync::Arc::new(SynthesizeRunner::new(settings.clone())));
    let app = crate::helpers::spawn_app_with(|_| {}, runners).await;
    let score = melody(&[
        ("E", 4, 1, Some("sunny")),
        ("G", 4, 1, Some("day")),
        ("R", 0, 1, None),
    ]);
    let key = app
        .stored_input("ana", "song.musicxml", score.clone())
        .await;
    for voice in ["tiny", "plain"] {
        let id = app
            .submit_with("ana", "synthesize", &key, json!({"voice": voice}))
            .await;
        let job = app.wait_ended("ana", &id).await;
        assert_eq!(job["status"], "succeeded", "{voice}: {job}");
        let wav = bytes(&app, "ana", output(&job, "sung.wav")).await;
        let samples = wav_samples(&wav);
        // The same chain called as a library gives the same samples: the job adds nothing.
        let params = SynthesizeParams {
            voice: Some(voice.into()),
            ..Default::default()
        };
        let direct = sing_score(
            &score,
            &params,
            &SharedSinging::new(settings.clone()),
            &|_| {},
            &|| false,
        )
        .unwrap();
        assert_eq!(wav_samples(&direct.wav), samples, "{voice}");
        let alignment: Value =
            serde_json::from_slice(&bytes(&app, "ana", output(&job, "alignment.json")).await)
                .unwrap();
        assert_eq!(alignment["voice"], voice);
        let frames = alignment["phonemes"].as_array().unwrap().last().unwrap()["end"]
            .as_u64()
            .unwrap();
        assert_eq!(samples.len() as u64, frames * 512, "{voice}");
        // The stand-in vocoder's output follows the mel ramp: not silence.
        assert!(samples.iter().any(|&s| s != 0), "{voice}");
    }
    // A voicebank that is not valid fails the job with the reason.
    let id = app
        .submit_with("ana", "synthesize", &key, json!({"voice": "broken"}))
        .await;
    let job = app.failed_once("ana", &id, "INVALID_VOICEBANK").await;
    assert!(
        job["error"]["message"].as_str().unwrap().contains("mel"),
        "{job}"
    );
    let id = app
        .submit_with("ana", "synthesize", &key, json!({"voice": "absent"}))
        .await;
    let job = app.failed_once("ana", &id, "INVALID_PARAMS").await;
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("voicebank folder"),
        "{job}"
    );
}

#[test]
fn coda_voices_lists_every_voicebank_and_why_one_cannot_sing() {
    let voices = voices_folder();
    let run = crate::helpers::coda()
        .args(["voices", "--json"])
        .env("CODA_VOICES_DIR", voices.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let list: Value = serde_json::from_slice(&run.stdout).unwrap();
    let names: Vec<(&str, bool)> = list["voices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["valid"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("builtin", true),
            ("broken", false),
            ("plain", true),
            ("tiny", true)
        ],
        "{list}"
    );
    let broken = &list["voices"][1]["summary"];
    assert!(broken.as_str().unwrap().contains("mel"), "{broken}");
    assert_eq!(
        list["voices"][3]["info"]["predictors"]["duration"], true,
        "{list}"
    );
    // The table form, and `coda sing --voice DIR` with a folder anywhere.
    let run = crate::helpers::coda()
        .arg("voices")
        .env("CODA_VOICES_DIR", voices.path())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(
        table.contains("broken") && table.contains("invalid"),
        "{table}"
    );
    let dir = tempfile::tempdir().unwrap();
    let score = dir.path().join("s.musicxml");
    std::fs::write(&score, melody(&[("C", 4, 2, Some("la"))])).unwrap();
    let out = dir.path().join("s.wav");
    let run = crate::helpers::coda()
        .args([
            "sing",
            score.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--voice",
        ])
        .arg(voices.path().join("plain"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let a: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("s.alignment.json")).unwrap())
            .unwrap();
    assert_eq!(a["voice"], "plain");
}

#[test]
fn the_s0_tools_run_the_chain_step_by_step_as_synthesize_does() {
    use coda_jobs::synthesize::tools::{call_tool, tool_schemas, TOOLS};
    use coda_jobs::synthesize::SharedSinging;
    let voices = voices_folder();
    let mut settings =
        coda::config::model_settings(&crate::helpers::test_config(std::path::Path::new(".")));
    settings.voices_dir = voices.path().to_path_buf();
    let singing = SharedSinging::new(settings);
    let call = |name: &str, args: Value| {
        call_tool(name, args, &singing).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let xml = String::from_utf8(melody(&[
        ("C", 4, 1, Some("hello")),
        ("E", 4, 1, Some("world")),
        ("R", 0, 2, None),
    ]))
    .unwrap();

    let parsed = call("parse_score", json!({"file": xml, "part_index": 0}));
    assert_eq!(parsed["info"]["notes"], 2, "{parsed}");
    assert_eq!(parsed["line"]["notes"][0]["lyric"]["text"], "hello");
    let up = call(
        "modify_score",
        json!({"score": parsed["score"], "edits": [{"op": "transpose", "semitones": 2}]}),
    );
    assert_eq!(up["applied"], 1);
    assert_eq!(
        up["score"]["parts"][0]["measures"][0]["items"][1]["pitch"]["step"], "D",
        "{up}"
    );
    let ph = call("phonemize", json!({"lyrics": ["hello world"]}));
    assert_eq!(
        ph["phonemes"],
        json!(["hh", "ah", "l", "ow", "w", "er", "l", "d"])
    );
    assert_eq!(ph["word_boundaries"], json!([0, 4]));
    let ph = call(
        "phonemize",
        json!({"lyrics": ["hello"], "voicebank": "tiny"}),
    );
    assert_eq!(
        ph["phoneme_ids"],
        json!([17, 4, 22, 26]),
        "ids from the voicebank's phonemes.txt: {ph}"
    );

    let aligned = call("align_phonemes_to_notes", json!({"score": parsed["score"]}));
    let alignment = aligned["alignment"].clone();
    let d = call("predict_durations", json!({"alignment": alignment}));
    assert_eq!(d["predicted_by"], "rules");
    assert_eq!(d["alignment"], alignment);
    let p = call(
        "predict_pitch",
        json!({"alignment": alignment, "vibrato": {"depth": 0}}),
    );
    let frames = alignment["frames"].as_u64().unwrap() as usize;
    assert_eq!(p["f0"].as_array().unwrap().len(), frames);
    let v = call("predict_variance", json!({"alignment": alignment}));
    assert_eq!(v["energy"].as_array().unwrap().len(), frames);
    let audio = call(
        "synthesize_audio",
        json!({"alignment": alignment, "f0": p["f0"], "energy": v["energy"], "breathiness": v["breathiness"], "vibrato": {"depth": 0}}),
    );
    // The whole chain in one call renders the same samples (its WAV is 16-bit).
    let whole = call(
        "synthesize",
        json!({"score": parsed["score"], "vibrato": {"depth": 0}}),
    );
    let samples = |w: &Value| -> Vec<f32> {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD
            .decode(w["samples_base64"].as_str().unwrap())
            .unwrap();
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let (step, chain) = (samples(&audio["waveform"]), samples(&whole["waveform"]));
    assert_eq!(step.len(), frames * 512);
    assert_eq!(step.len(), chain.len());
    let worst = step
        .iter()
        .zip(&chain)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst <= 1.0 / 32768.0 + 1e-6, "{worst}");
    for (format, magic) in [("wav", &b"RIFF"[..]), ("flac", &b"fLaC"[..])] {
        let saved = call(
            "save_audio",
            json!({"waveform": audio["waveform"], "format": format}),
        );
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(saved["data_base64"].as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(magic), "{format}");
        assert_eq!(saved["bytes"], bytes.len());
    }

    // A voicebank's own predictors: durations move phonemes but not the vowels off their notes.
    let aligned = call(
        "align_phonemes_to_notes",
        json!({"score": parsed["score"], "voicebank": "tiny"}),
    );
    let alignment = aligned["alignment"].clone();
    let d = call(
        "predict_durations",
        json!({"alignment": alignment, "voicebank": "tiny"}),
    );
    assert_eq!(d["predicted_by"], "voicebank");
    assert_ne!(
        d["durations"],
        json!(alignment["phonemes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["end"].as_u64().unwrap() - p["start"].as_u64().unwrap())
            .collect::<Vec<_>>())
    );
    for (before, after) in alignment["phonemes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(d["alignment"]["phonemes"].as_array().unwrap())
    {
        if before["on_note"] == true {
            assert_eq!(before["start"], after["start"], "{before} {after}");
        }
    }
    let p = call(
        "predict_pitch",
        json!({"alignment": alignment, "voicebank": "tiny"}),
    );
    assert_eq!(p["predicted_by"], "voicebank");
    let v = call(
        "predict_variance",
        json!({"alignment": alignment, "voicebank": "tiny"}),
    );
    assert_eq!(v["predicted_by"], "voicebank");
    assert!(
        v["voicing"].as_array().is_some_and(|c| c.len() == frames),
        "{}",
        v["voicing"]
    );
    let info = call("get_voicebank_info", json!({"voicebank": "tiny"}));
    assert_eq!(info["info"]["name"], "Test Singer", "{info}");
    let list = call("list_voicebanks", json!({}));
    assert_eq!(list["voices"].as_array().unwrap().len(), 4);

    // Bad calls are errors with codes, never panics.
    let e = call_tool("sing_louder", json!({}), &singing).unwrap_err();
    assert_eq!(e.code(), "UNKNOWN_TOOL");
    let e = call_tool(
        "predict_pitch",
        json!({"alignment": {"frames": 3}}),
        &singing,
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_PARAMS");
    let mut broken = alignment.clone();
    broken["frames"] = json!(5);
    let e = call_tool(
        "synthesize_audio",
        json!({"alignment": broken, "f0": vec![220.0; 5]}),
        &singing,
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_PARAMS");

    // Every tool has its schemas and route.
    let schemas = tool_schemas();
    assert_eq!(schemas.as_object().unwrap().len(), TOOLS.len());
    assert_eq!(TOOLS.len(), 12);
    for t in TOOLS {
        let s = &schemas[t.name];
        assert!(
            s["request"].is_object() && s["response"].is_object(),
            "{}",
            t.name
        );
        assert!(s["route"] == "cpu" || s["route"] == "gpu");
    }
    assert!(schemas["synthesize"]["request"]["properties"]["score"].is_object());
}
