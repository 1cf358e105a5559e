//! The built-in planner against phrasings as users write them: each one's expected tool
//! calls, or an honest refusal.

use coda_chat::planner::{plan, Plan, PlanContext};
use serde_json::{json, Value};

fn chorale() -> PlanContext {
    PlanContext {
        parts: vec![
            "Soprano".into(),
            "Alto".into(),
            "Tenor".into(),
            "Bass".into(),
        ],
        key_fifths: Some(1),
        key_mode: Some("major".into()),
        measures: 20,
        has_score: true,
    }
}

fn edits(e: Value) -> Value {
    json!([["modify_score", {"edits": e}]])
}

/// (message, expected calls as [[tool, args], ...]).
fn table() -> Vec<(&'static str, Value)> {
    vec![
        // Dynamics.
        (
            "make it softer",
            edits(json!([{"op": "dynamics", "step": -1}])),
        ),
        (
            "Make it softer please.",
            edits(json!([{"op": "dynamics", "step": -1}])),
        ),
        ("softer", edits(json!([{"op": "dynamics", "step": -1}]))),
        (
            "make it sofer",
            edits(json!([{"op": "dynamics", "step": -1}])),
        ),
        (
            "a bit quieter",
            edits(json!([{"op": "dynamics", "step": -1}])),
        ),
        (
            "much softer",
            edits(json!([{"op": "dynamics", "step": -2}])),
        ),
        ("louder", edits(json!([{"op": "dynamics", "step": 1}]))),
        (
            "make it lowder",
            edits(json!([{"op": "dynamics", "step": 1}])),
        ),
        ("way louder!", edits(json!([{"op": "dynamics", "step": 2}]))),
        (
            "pianissimo in bars 3–8",
            edits(json!([{"op": "dynamics", "level": "pp", "measures": {"from": 3, "to": 8}}])),
        ),
        (
            "pianissimo in bars 3-8",
            edits(json!([{"op": "dynamics", "level": "pp", "measures": {"from": 3, "to": 8}}])),
        ),
        (
            "pianisimo in measures 3 to 8",
            edits(json!([{"op": "dynamics", "level": "pp", "measures": {"from": 3, "to": 8}}])),
        ),
        (
            "forte from bar 5 to 6",
            edits(json!([{"op": "dynamics", "level": "f", "measures": {"from": 5, "to": 6}}])),
        ),
        (
            "make bar 2 mezzo forte",
            edits(json!([{"op": "dynamics", "level": "mf", "measures": {"from": 2, "to": 2}}])),
        ),
        (
            "the alto softer",
            edits(json!([{"op": "dynamics", "step": -1, "part": 1}])),
        ),
        (
            "fortissimo for the bass in bars 10-12",
            edits(
                json!([{"op": "dynamics", "level": "ff", "part": 3, "measures": {"from": 10, "to": 12}}]),
            ),
        ),
        ("mp", edits(json!([{"op": "dynamics", "level": "mp"}]))),
        // Tempo.
        (
            "slower",
            edits(json!([{"op": "scale_tempo", "factor": "90/100"}])),
        ),
        (
            "make it slower",
            edits(json!([{"op": "scale_tempo", "factor": "90/100"}])),
        ),
        (
            "a little faster",
            edits(json!([{"op": "scale_tempo", "factor": "110/100"}])),
        ),
        (
            "much slower",
            edits(json!([{"op": "scale_tempo", "factor": "75/100"}])),
        ),
        (
            "10 % faster",
            edits(json!([{"op": "scale_tempo", "factor": "110/100"}])),
        ),
        (
            "10% faster",
            edits(json!([{"op": "scale_tempo", "factor": "110/100"}])),
        ),
        (
            "20 percent slower",
            edits(json!([{"op": "scale_tempo", "factor": "80/100"}])),
        ),
        ("80 bpm", edits(json!([{"op": "set_tempo", "bpm": 80.0}]))),
        (
            "set the tempo to 96",
            edits(json!([{"op": "set_tempo", "bpm": 96.0}])),
        ),
        (
            "tempo 72 from bar 9",
            edits(json!([{"op": "set_tempo", "bpm": 72.0, "measure": 9}])),
        ),
        ("120bpm", edits(json!([{"op": "set_tempo", "bpm": 120.0}]))),
        (
            "half speed",
            edits(json!([{"op": "scale_tempo", "factor": "1/2"}])),
        ),
        (
            "slowr",
            edits(json!([{"op": "scale_tempo", "factor": "90/100"}])),
        ),
        // Transposition.
        (
            "transpose it up a tone",
            edits(json!([{"op": "transpose", "semitones": 2}])),
        ),
        (
            "transpose up 2 semitones",
            edits(json!([{"op": "transpose", "semitones": 2}])),
        ),
        (
            "down 3 semitones",
            edits(json!([{"op": "transpose", "semitones": -3}])),
        ),
        (
            "transpoze down a semitone",
            edits(json!([{"op": "transpose", "semitones": -1}])),
        ),
        (
            "up a half step",
            edits(json!([{"op": "transpose", "semitones": 1}])),
        ),
        (
            "up a whole step",
            edits(json!([{"op": "transpose", "semitones": 2}])),
        ),
        (
            "transpose up a fifth",
            edits(json!([{"op": "transpose", "semitones": 7}])),
        ),
        (
            "down a minor third",
            edits(json!([{"op": "transpose", "semitones": -3}])),
        ),
        (
            "transpose to A major",
            edits(json!([{"op": "transpose", "semitones": 2}])),
        ),
        (
            "transpose it to F major",
            edits(json!([{"op": "transpose", "semitones": -2}])),
        ),
        (
            "to E flat major",
            edits(json!([{"op": "transpose", "semitones": -4}])),
        ),
        (
            "transpose the tenor up 2 semitones",
            edits(json!([{"op": "transpose", "semitones": 2, "part": 2}])),
        ),
        (
            "up an octave",
            edits(json!([{"op": "transpose", "semitones": 12}])),
        ),
        (
            "the bass an octave lower",
            edits(json!([{"op": "octave", "part": 3, "by": -1}])),
        ),
        (
            "move the soprano up an octave",
            edits(json!([{"op": "octave", "part": 0, "by": 1}])),
        ),
        (
            "part 2 down two octaves",
            edits(json!([{"op": "octave", "part": 1, "by": -2}])),
        ),
        // Lyrics and selection.
        (
            "set the lyrics of bars 1-2 to \"la la la\"",
            edits(
                json!([{"op": "set_lyrics", "part": 0, "text": "la la la", "measures": {"from": 1, "to": 2}}]),
            ),
        ),
        (
            "lyrics for the alto: \"Hap-py birth-day\"",
            edits(json!([{"op": "set_lyrics", "part": 1, "text": "Hap-py birth-day"}])),
        ),
        (
            "verse 2 lyrics of the soprano to \"O my love\"",
            edits(json!([{"op": "set_lyrics", "part": 0, "text": "O my love", "verse": 2}])),
        ),
        (
            "keep only the soprano",
            edits(json!([{"op": "select_part", "part": 0}])),
        ),
        (
            "use only verse 2",
            edits(json!([{"op": "select_verse", "verse": 2}])),
        ),
        // Combined.
        (
            "softer and slower",
            edits(
                json!([{"op": "dynamics", "step": -1}, {"op": "scale_tempo", "factor": "90/100"}]),
            ),
        ),
        (
            "make it softer, slower, and up a tone",
            edits(
                json!([{"op": "dynamics", "step": -1}, {"op": "scale_tempo", "factor": "90/100"}, {"op": "transpose", "semitones": 2}]),
            ),
        ),
        (
            "louder then 100 bpm",
            edits(json!([{"op": "dynamics", "step": 1}, {"op": "set_tempo", "bpm": 100.0}])),
        ),
        (
            "make it softer and sing it",
            json!([["modify_score", {"edits": [{"op": "dynamics", "step": -1}]}], ["synthesize", {}]]),
        ),
        // Singing.
        ("sing it", json!([["synthesize", {}]])),
        ("sing the soprano", json!([["synthesize", {"part": 0}]])),
        ("sign the alto", json!([["synthesize", {"part": 1}]])),
        (
            "sing the tenor, verse 2",
            json!([["synthesize", {"part": 2, "verse": 2}]]),
        ),
        (
            "sing the second verse",
            json!([["synthesize", {"verse": 2}]]),
        ),
        (
            "render it more legato",
            json!([["synthesize", {"articulation": -0.7}]]),
        ),
        (
            "sing the alto breathier",
            json!([["synthesize", {"part": 1, "airiness": 0.6}]]),
        ),
        ("breathier", json!([["synthesize", {"airiness": 0.6}]])),
        (
            "sing it softly with more vibrato",
            json!([["synthesize", {"intensity": 0.3, "vibrato": {"depth": 50}}]]),
        ),
        (
            "sing the bass staccato and brighter",
            json!([["synthesize", {"part": 3, "articulation": 0.7, "clarity": 0.8}]]),
        ),
        (
            "sing it with the voice builtin",
            json!([["synthesize", {"voice": "builtin"}]]),
        ),
        (
            "sing it up a tone",
            json!([["modify_score", {"edits": [{"op": "transpose", "semitones": 2}]}], ["synthesize", {}]]),
        ),
        ("let me hear the alto", json!([["synthesize", {"part": 1}]])),
        // Undo, redo, the key.
        ("undo", json!([["undo_score", {}]])),
        ("undo that", json!([["undo_score", {}]])),
        ("go back", json!([["undo_score", {}]])),
        ("redo", json!([["redo_score", {}]])),
        ("what key is it in?", json!([["score_info", {}]])),
        ("which key is this in", json!([["score_info", {}]])),
    ]
}

/// Requests it must refuse, each with a word the reply must carry.
fn refusals() -> Vec<(&'static str, &'static str)> {
    vec![
        ("write me a poem", "did not understand"),
        ("add drums", "no drums part"),
        ("make it jazzier", "did not understand"),
        ("translate the lyrics to French", "quotes"),
        ("what's the weather like", "did not understand"),
        ("hello", "did not understand"),
        ("", "empty"),
        ("transpose it", "how much"),
        ("set the tempo to 5000 bpm", "out of range"),
        ("sing part 9", "no part 9"),
        ("transpose to E minor", "mode"),
        ("make the viola louder", "no viola part"),
        ("pianissimo in bars 8-3", "not a range"),
        ("transpose to G major", "already in G major"),
        ("delete everything and start over", "did not understand"),
        ("verse 2", "What should I do"),
    ]
}

fn calls_of(p: &Plan) -> Value {
    match p {
        Plan::Calls(c) => Value::Array(c.iter().map(|c| json!([c.tool, c.args])).collect()),
        Plan::Refuse(r) => json!({ "refused": r }),
    }
}

#[test]
fn the_phrasing_table_plans_the_expected_tool_calls() {
    let ctx = chorale();
    let table = table();
    assert!(table.len() >= 60, "{} phrasings", table.len());
    let mut wrong = Vec::new();
    for (message, expected) in &table {
        let got = calls_of(&plan(message, &ctx));
        if &got != expected {
            wrong.push(format!(
                "{message:?}\n    expected {expected}\n    got      {got}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        table.len(),
        wrong.join("\n")
    );
}

#[test]
fn requests_it_cannot_do_are_refused_honestly_with_what_it_can_do() {
    let ctx = chorale();
    let mut wrong = Vec::new();
    let refusals = refusals();
    assert!(refusals.len() >= 10);
    for (message, must) in &refusals {
        match plan(message, &ctx) {
            Plan::Refuse(r) if r.contains(must) && r.contains("I can:") => {}
            other => wrong.push(format!("{message:?}: {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn edits_need_a_score_and_summaries_say_what_was_done() {
    let empty = PlanContext::default();
    match plan("make it softer", &empty) {
        Plan::Refuse(r) => assert!(r.contains("upload"), "{r}"),
        p => panic!("{p:?}"),
    }
    match plan("softer and 10% slower", &chorale()) {
        Plan::Calls(c) => assert_eq!(c[0].summary, "made it softer; made it 10 % slower"),
        p => panic!("{p:?}"),
    }
    // Undo needs no score on the planner's side: the session answers.
    assert!(matches!(plan("undo", &empty), Plan::Calls(_)));
}
