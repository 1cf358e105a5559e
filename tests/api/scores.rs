//! A session's score over HTTP: upload, read in every format, edits, undo and redo,
//! hostile files, racing edits, and the `convert` job.

use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("shared/music/tests/data")
            .join(name),
    )
    .unwrap()
}

/// A session holding `melody_lyrics.musicxml` (F major, 3/4, 6 notes and a rest, two verses) as revision 1.
async fn session_with_melody(app: &TestApp, user: &str) -> String {
    let sid = app.new_session(user).await;
    let r = app
        .post_file(
            user,
            &sid,
            "melody.musicxml",
            fixture("melody_lyrics.musicxml"),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["name"], "melody.musicxml", "{body}");
    assert_eq!(body["score"]["rev"], 1, "{body}");
    assert_eq!(body["score"]["can_undo"], false, "{body}");
    sid
}

async fn json_of(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn score(app: &TestApp, user: &str, sid: &str) -> Value {
    json_of(
        app.get(user, &format!("/v1/sessions/{sid}/score")).await,
        200,
    )
    .await
}

async fn edit(app: &TestApp, user: &str, sid: &str, body: Value) -> reqwest::Response {
    app.post_json(user, &format!("/v1/sessions/{sid}/score/edits"), body)
        .await
}

async fn step(app: &TestApp, user: &str, sid: &str, what: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/sessions/{sid}/score/{what}")))
        .bearer_auth(app.token(user))
        .send()
        .await
        .unwrap()
}

/// The (step, alter, octave) of every pitched note of part 0, in order.
fn spellings(score: &Value) -> Vec<(String, i64, i64)> {
    let mut out = vec![];
    for m in score["parts"][0]["measures"].as_array().unwrap() {
        for item in m["items"].as_array().unwrap() {
            if let Some(p) = item.get("pitch") {
                out.push((
                    p["step"].as_str().unwrap().to_string(),
                    p["alter"].as_f64().map_or(0, |a| a as i64),
                    p["octave"].as_i64().unwrap(),
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn upload_read_every_format_edit_undo_and_redo() {
    let app = spawn_app().await;
    let sid = session_with_melody(&app, "ana").await;

    // The session view carries the current score; GET /score the same, with its info.
    let view = json_of(app.get("ana", &format!("/v1/sessions/{sid}")).await, 200).await;
    assert_eq!(view["score_rev"], 1, "{view}");
    assert_eq!(
        view["current_score"]["title"], "Hallelujah & Amen",
        "{view}"
    );
    let r1 = score(&app, "ana", &sid).await;
    assert_eq!(r1["rev"], 1);
    assert_eq!(r1["info"]["parts"], 1, "{r1}");
    assert_eq!(r1["info"]["notes"], 6, "{r1}");
    assert_eq!(r1["info"]["lyrics"], 7, "{r1}");
    assert_eq!(r1["info"]["key_signature_fifths"], -1, "{r1}");
    assert_eq!(
        spellings(&r1["score"])[..4],
        [
            ("F".into(), 0, 4),
            ("G".into(), 0, 4),
            ("A".into(), 0, 4),
            ("B".into(), -1, 4)
        ]
    );

    // Every file format, with its content type; each reads back as the same notes.
    for (format, mime, magic) in [
        (
            "musicxml",
            "application/vnd.recordare.musicxml+xml",
            &b"<?xml"[..],
        ),
        (
            "mxl",
            "application/vnd.recordare.musicxml",
            &b"PK\x03\x04"[..],
        ),
        ("midi", "audio/midi", &b"MThd"[..]),
    ] {
        let r = app
            .get("ana", &format!("/v1/sessions/{sid}/score?format={format}"))
            .await;
        assert_eq!(r.status(), 200, "{format}");
        assert_eq!(r.headers()["content-type"], mime, "{format}");
        let disposition = r.headers()["content-disposition"].to_str().unwrap();
        assert!(disposition.contains("score-r1."), "{disposition}");
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.starts_with(magic), "{format}");
        let back = coda_music::read_score(&bytes).unwrap();
        assert_eq!(coda_music::stats(&back.score).notes, 6, "{format}");
    }
    let bad = json_of(
        app.get("ana", &format!("/v1/sessions/{sid}/score?format=pdf"))
            .await,
        400,
    )
    .await;
    assert!(bad["error"]["code"].is_string(), "{bad}");

    // Up a major second: F major becomes G major, spelled by step (B flat becomes C).
    let r2 = json_of(
        edit(
            &app,
            "ana",
            &sid,
            json!({"edits": [{"op": "transpose", "interval": "M2"}], "base_rev": 1}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r2["rev"], 2, "{r2}");
    assert_eq!(r2["info"]["key_signature_fifths"], 1, "{r2}");
    assert_eq!(
        spellings(&r2["score"])[..4],
        [
            ("G".into(), 0, 4),
            ("A".into(), 0, 4),
            ("B".into(), 0, 4),
            ("C".into(), 0, 5)
        ]
    );
    // Two edits at once are one revision; softer on a marked mf gives mp.
    let r3 = json_of(
        edit(
            &app,
            "ana",
            &sid,
            json!({"edits": [{"op": "transpose", "semitones": -2}, {"op": "dynamics", "step": -1}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r3["rev"], 3);
    assert_eq!(spellings(&r3["score"]), spellings(&r1["score"]));
    assert!(
        r3["score"].to_string().contains("\"mp\""),
        "{}",
        r3["score"]
    );

    // Undo twice gives revisions 2 and 1 exactly; then nothing to undo.
    let u = json_of(step(&app, "ana", &sid, "undo").await, 200).await;
    assert_eq!(
        (u["rev"].clone(), u["score"].clone()),
        (json!(2), r2["score"].clone())
    );
    assert_eq!(u["can_redo"], true);
    let u = json_of(step(&app, "ana", &sid, "undo").await, 200).await;
    assert_eq!(
        (u["rev"].clone(), u["score"].clone()),
        (json!(1), r1["score"].clone())
    );
    let e = json_of(step(&app, "ana", &sid, "undo").await, 409).await;
    assert_eq!(e["error"]["code"], "NOTHING_TO_UNDO", "{e}");
    // Redo back to 3, then nothing to redo.
    for rev in [2, 3] {
        let r = json_of(step(&app, "ana", &sid, "redo").await, 200).await;
        assert_eq!(r["rev"], rev);
    }
    assert_eq!(score(&app, "ana", &sid).await["score"], r3["score"]);
    let e = json_of(step(&app, "ana", &sid, "redo").await, 409).await;
    assert_eq!(e["error"]["code"], "NOTHING_TO_REDO", "{e}");
    // Any kept revision can be read by number.
    let old = json_of(
        app.get("ana", &format!("/v1/sessions/{sid}/score?rev=2"))
            .await,
        200,
    )
    .await;
    assert_eq!(old["score"], r2["score"]);

    // An edit after an undo drops the redo branch.
    json_of(step(&app, "ana", &sid, "undo").await, 200).await;
    let r = json_of(
        edit(
            &app,
            "ana",
            &sid,
            json!({"edits": [{"op": "set_tempo", "bpm": 120}]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!((r["rev"].clone(), r["head"].clone()), (json!(3), json!(3)));
    assert_eq!(r["info"]["tempo_bpm"], 120.0, "{}", r["info"]);
    assert_eq!(r["can_redo"], false);

    // A bad edit: 422 INVALID_EDIT naming the field, and the score stays where it was.
    for (bad, field) in [
        (json!([{"op": "explode"}]), "edits[0].op"),
        (
            json!([{"op": "set_tempo", "bpm": 96}, {"op": "delete_measures", "from": 3, "to": 999}]),
            "edits[1].to",
        ),
        (json!([]), "edits"),
    ] {
        let e = json_of(edit(&app, "ana", &sid, json!({ "edits": bad })).await, 422).await;
        assert_eq!(e["error"]["code"], "INVALID_EDIT", "{e}");
        assert!(
            e["error"]["details"]["field"]
                .as_str()
                .is_some_and(|f| f.starts_with(field)),
            "{field}: {e}"
        );
    }
    assert_eq!(score(&app, "ana", &sid).await["rev"], 3);
    // A stale base_rev is a conflict.
    let e = json_of(
        edit(
            &app,
            "ana",
            &sid,
            json!({"edits": [{"op": "octave", "part": 0, "by": 1}], "base_rev": 1}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "CONFLICT", "{e}");

    // Nobody else sees the score.
    let r = app.get("bob", &format!("/v1/sessions/{sid}/score")).await;
    assert_eq!(r.status(), 404);
    // A session without a score says how to get one.
    let empty = app.new_session("ana").await;
    let e = json_of(
        app.get("ana", &format!("/v1/sessions/{empty}/score")).await,
        404,
    )
    .await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("/files"),
        "{e}"
    );
    let e = json_of(step(&app, "ana", &empty, "undo").await, 404).await;
    assert_eq!(e["error"]["code"], "NOT_FOUND", "{e}");

    // The schemas are public.
    let schema = app.public_json("/v1/schemas/edit").await;
    assert!(schema.to_string().contains("transpose"), "{schema}");
    let schema = app.public_json("/v1/schemas/score").await;
    assert!(schema.to_string().contains("measures"), "{schema}");
}

#[tokio::test]
async fn midi_and_mxl_uploads_become_the_score_and_replace_it() {
    let app = spawn_app().await;
    let sid = session_with_melody(&app, "ana").await;
    let parsed = coda_music::read_score(&fixture("chords_ties_tuplets.musicxml")).unwrap();
    let mut last = 0;
    for (name, bytes) in [
        (
            "chords.mid",
            coda_music::write_score(&parsed.score, coda_music::FileFormat::Midi).unwrap(),
        ),
        (
            "chords.mxl",
            coda_music::write_score(&parsed.score, coda_music::FileFormat::Mxl).unwrap(),
        ),
    ] {
        // MIDI has no grace notes (they take no time), so count what the file holds.
        let notes = coda_music::stats(&coda_music::read_score(&bytes).unwrap().score).notes;
        assert!(notes >= 9, "{name}: {notes}");
        let r = app.post_file("ana", &sid, name, bytes).await;
        let body = json_of(r, 201).await;
        assert_eq!(body["score"]["info"]["notes"], notes, "{name}: {body}");
        last = notes;
    }
    // Each file is a new revision after the melody; undo goes back through them.
    let s = score(&app, "ana", &sid).await;
    assert_eq!(s["rev"], 3);
    assert_eq!(s["info"]["notes"], last);
    let u = json_of(step(&app, "ana", &sid, "undo").await, 200).await;
    assert_eq!(u["rev"], 2);
    let u = json_of(step(&app, "ana", &sid, "undo").await, 200).await;
    assert_eq!(u["info"]["notes"], 6);
}

/// A ZIP of stored entries whose central directory declares `declared` bytes for each.
fn zip_declaring(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, declared) in entries {
        let offset = out.len() as u32;
        let header = |sig: u32, out: &mut Vec<u8>, central: bool| {
            out.extend_from_slice(&sig.to_le_bytes());
            if central {
                out.extend_from_slice(&20u16.to_le_bytes());
            }
            // Stored when the sizes agree, else deflated (a deflated entry may declare any size).
            let method: u16 = if data.len() as u32 == *declared { 0 } else { 8 };
            for v in [20u16, 0, method, 0, 0x21] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [0u32, data.len() as u32, *declared] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
        };
        header(0x0403_4b50, &mut out, false);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        header(0x0201_4b50, &mut central, true);
        for v in [0u16, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let n = entries.len() as u16;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Hostile and broken scores, each with the code it must get.
pub fn hostile_scores() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>\
        <score-partwise><work><work-title>&lol3;</work-title></work><part-list/></score-partwise>";
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
        <score-partwise><work><work-title>&x;</work-title></work><part-list/></score-partwise>";
    let deep = format!(
        "<?xml version=\"1.0\"?><score-partwise>{}{}</score-partwise>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    let melody = String::from_utf8(fixture("melody_lyrics.musicxml")).unwrap();
    let zero_divisions = melody.replace("<divisions>2</divisions>", "<divisions>0</divisions>");
    assert_ne!(zero_divisions, melody, "the fixture declares divisions 2");
    let octave_99 = melody.replacen("<octave>4</octave>", "<octave>99</octave>", 1);
    let cut = &melody[..melody.len() / 2];
    let container = br#"<?xml version="1.0"?><container><rootfiles><rootfile full-path="a.xml"/></rootfiles></container>"#;
    let bomb = zip_declaring(&[
        ("META-INF/container.xml", container, container.len() as u32),
        ("a.xml", b"", 4_000_000_000),
    ]);
    let mut midi = b"MThd\0\0\0\x06\0\x01\0\x01\x01\xe0MTrk\xff\xff\xff\xf0".to_vec();
    midi.extend_from_slice(&[0x90; 64]);
    vec![
        (
            "laughs.musicxml",
            laughs.as_bytes().to_vec(),
            "SCORE_ENTITY",
        ),
        ("xxe.musicxml", xxe.as_bytes().to_vec(), "SCORE_ENTITY"),
        ("deep.musicxml", deep.into_bytes(), "SCORE_TOO_DEEP"),
        (
            "zero.musicxml",
            zero_divisions.into_bytes(),
            "INVALID_SCORE",
        ),
        ("octave.musicxml", octave_99.into_bytes(), "INVALID_SCORE"),
        ("cut.musicxml", cut.as_bytes().to_vec(), "INVALID_SCORE"),
        ("bomb.mxl", bomb, "MXL_TOO_LARGE"),
        ("bad.mid", midi, "INVALID_MIDI"),
    ]
}

#[tokio::test]
async fn hostile_scores_are_refused_with_their_codes_and_nothing_is_stored() {
    let app = spawn_app().await;
    let sid = session_with_melody(&app, "ana").await;
    for (name, bytes, code) in hostile_scores() {
        let e = json_of(app.post_file("ana", &sid, name, bytes).await, 422).await;
        assert_eq!(e["error"]["code"], code, "{name}: {e}");
        let details = &e["error"]["details"];
        assert_eq!(details["filename"], name, "{e}");
        match name {
            // Where: line and column for XML, part and measure for a bad value.
            "cut.musicxml" | "deep.musicxml" | "laughs.musicxml" => {
                assert!(details["line"].as_u64().is_some(), "{name}: {e}");
                assert!(details["column"].as_u64().is_some(), "{name}: {e}");
            }
            "zero.musicxml" | "octave.musicxml" => {
                assert!(!details["part"].is_null(), "{name}: {e}");
                assert_eq!(details["measure"], "1", "{name}: {e}");
            }
            _ => {}
        }
        assert!(
            !e["error"]["message"].as_str().unwrap().is_empty(),
            "{name}: {e}"
        );
    }
    // Nothing was stored: the session holds the melody alone, still at revision 1.
    let view = json_of(app.get("ana", &format!("/v1/sessions/{sid}")).await, 200).await;
    let files: Vec<&str> = view["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["melody.musicxml"], "{view}");
    assert_eq!(score(&app, "ana", &sid).await["rev"], 1);
    // The server is still up.
    let r = app.client.get(app.url("/v1/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn racing_edits_on_one_revision_give_one_winner_and_one_409() {
    let app = spawn_app().await;
    let sid = session_with_melody(&app, "ana").await;
    for round in 0..5u64 {
        let base = 1 + round;
        let up = edit(
            &app,
            "ana",
            &sid,
            json!({"edits": [{"op": "transpose", "semitones": 1}], "base_rev": base}),
        );
        let down = edit(
            &app,
            "ana",
            &sid,
            json!({"edits": [{"op": "transpose", "semitones": -1}], "base_rev": base}),
        );
        let (up, down) = tokio::join!(up, down);
        let mut statuses = [up.status().as_u16(), down.status().as_u16()];
        let bodies = [up.text().await.unwrap(), down.text().await.unwrap()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{bodies:?}");
        let winner: Value = bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .find(|v| v.get("rev").is_some())
            .unwrap();
        let loser: Value = bodies
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .find(|v| v.get("error").is_some())
            .unwrap();
        assert_eq!(loser["error"]["code"], "CONFLICT", "{loser}");
        // The winner's revision is what is stored, intact.
        let now = score(&app, "ana", &sid).await;
        assert_eq!(now["rev"], base + 1);
        assert_eq!(now["score"], winner["score"]);
    }
    // Undo walks back through the five winners to the upload.
    for rev in (1..=5).rev() {
        let u = json_of(step(&app, "ana", &sid, "undo").await, 200).await;
        assert_eq!(u["rev"], rev);
    }
}

/// The bytes of a job output.
async fn blob(app: &TestApp, output: &Value) -> bytes::Bytes {
    let key = output["key"].as_str().unwrap();
    let r = app.get("ana", &format!("/v1/blobs/{key}")).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap()
}

#[tokio::test]
async fn convert_job_writes_the_file_and_its_info_and_fails_hostile_input_once() {
    let app = spawn_app().await;
    let key = app
        .stored_input("ana", "melody.musicxml", fixture("melody_lyrics.musicxml"))
        .await;
    let id = app
        .submit_with("ana", "convert", &key, json!({"to": "midi"}))
        .await;
    let job = app.wait_ended("ana", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let outputs = job["outputs"].as_array().unwrap();
    let find = |name: &str| {
        outputs
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {job}"))
            .clone()
    };
    let midi = find("score.mid");
    let bytes = blob(&app, &midi).await;
    assert!(bytes.starts_with(b"MThd"));
    let back = coda_music::read_score(&bytes).unwrap();
    assert_eq!(coda_music::stats(&back.score).notes, 6);
    let info: Value = serde_json::from_slice(&blob(&app, &find("score-info.json")).await).unwrap();
    assert_eq!(info["notes"], 6, "{info}");
    assert_eq!(info["key_signature_fifths"], -1, "{info}");

    // Repeats played out on request: measures 1 2 2 3.
    let key_repeats = app
        .stored_input("ana", "lead.musicxml", fixture("repeats_harmony.musicxml"))
        .await;
    let id = app
        .submit_with(
            "ana",
            "convert",
            &key_repeats,
            json!({"expand_repeats": true}),
        )
        .await;
    let job = app.wait_ended("ana", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"][0]["name"], "score.musicxml", "{job}");
    let info: Value = serde_json::from_slice(&blob(&app, &job["outputs"][1]).await).unwrap();
    assert_eq!(info["measures"], 4, "{info}");

    // A bad target is refused at submit; a hostile input fails once with its code.
    let r = app
        .post_json(
            "ana",
            "/v1/jobs",
            json!({"kind": "convert", "input_key": key, "params": {"to": "pdf"}}),
        )
        .await;
    let e = json_of(r, 422).await;
    assert!(e["error"]["code"].is_string(), "{e}");
    for (name, bytes, code) in hostile_scores() {
        let key = app.stored_input("ana", name, bytes).await;
        let id = app.submit("ana", "convert", &key).await;
        app.failed_once("ana", &id, code).await;
    }
}

/// Uploads `bytes` through a signed slot into session `sid`; returns the upload once received
/// and, for a score, once its outcome is recorded (just after).
async fn upload_into(app: &TestApp, sid: &str, name: &str, bytes: Vec<u8>, score: bool) -> Value {
    let r = app
        .post_json(
            "ana",
            "/v1/uploads",
            json!({"filename": name, "size": bytes.len(), "content_type": "application/octet-stream", "jobs": [], "session_id": sid}),
        )
        .await;
    let up = json_of(r, 201).await;
    let put = crate::helpers::signed_put(&app.client, &up, bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let id = up["upload_id"].as_str().unwrap();
    app.wait_upload("ana", id, "not received, or no score outcome", |u| {
        u["state"] == "received" && (!score || !u["score"].is_null())
    })
    .await
}

#[tokio::test]
async fn a_score_uploaded_into_a_session_through_a_signed_url_becomes_its_score() {
    let app = spawn_app().await;
    let sid = session_with_melody(&app, "ana").await;
    let chords = fixture("chords_ties_tuplets.musicxml");
    let u = upload_into(&app, &sid, "chords.musicxml", chords, true).await;
    assert_eq!(u["score"]["rev"], 2, "{u}");
    let s = score(&app, "ana", &sid).await;
    assert_eq!(
        (s["rev"].clone(), s["info"]["title"].clone()),
        (json!(2), json!("Chords, Ties and Tuplets"))
    );
    // One that does not read is kept as a file, says why on the upload, and leaves the score.
    let (name, bytes, code) = hostile_scores().remove(0);
    let u = upload_into(&app, &sid, name, bytes, true).await;
    assert_eq!(u["score"]["error"]["code"], code, "{u}");
    assert!(u["score"].get("rev").is_none(), "{u}");
    assert_eq!(score(&app, "ana", &sid).await["rev"], 2);
    let view = json_of(app.get("ana", &format!("/v1/sessions/{sid}")).await, 200).await;
    assert_eq!(view["files"].as_array().unwrap().len(), 3, "{view}");
    // Audio into a session has no score outcome.
    let wav = crate::helpers::tone_wav(440.0, 0.5, 0.2, 8000, 1);
    let u = upload_into(&app, &sid, "a.wav", wav, false).await;
    assert!(u.get("score").is_none(), "{u}");
}

/// A 150-byte MIDI file whose eight tracks each hold one note for 300,000 quarters (PPQ 1):
/// read, that is eight parts of 75,000 tied whole-note measures.
fn long_notes_midi() -> Vec<u8> {
    let tracks = 8u8;
    let mut f = b"MThd\0\0\0\x06\0\x01\0".to_vec();
    f.extend([tracks, 0, 1]);
    for t in 0..tracks {
        // 300,000 as a variable-length quantity: 0x92 0xA7 0x60.
        let body = [
            0x00,
            0x90,
            60 + t,
            0x40,
            0x92,
            0xA7,
            0x60,
            0x80,
            60 + t,
            0x00,
            0x00,
            0xFF,
            0x2F,
            0x00,
        ];
        f.extend(b"MTrk");
        f.extend((body.len() as u32).to_be_bytes());
        f.extend(body);
    }
    f
}

#[tokio::test]
async fn a_tiny_midi_file_that_reads_as_a_huge_score_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let sid = session_with_melody(&app, "ana").await;
    let midi = long_notes_midi();
    assert!(midi.len() < 200);
    let e = json_of(app.post_file("ana", &sid, "long.mid", midi).await, 422).await;
    assert_eq!(e["error"]["code"], "SCORE_TOO_LARGE", "{e}");
    assert!(
        e["error"]["details"]["bytes"].as_u64().unwrap()
            > e["error"]["details"]["limit"].as_u64().unwrap(),
        "{e}"
    );
    let view = json_of(app.get("ana", &format!("/v1/sessions/{sid}")).await, 200).await;
    assert_eq!(view["files"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["score_rev"], 1, "{view}");
}
