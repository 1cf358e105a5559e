//! The chat loop through `coda serve` with `chat_provider = "openai"`, against a local server
//! that replays Chat Completions answers in their documented format (no live LLM runs here):
//! results go back to the model, bad calls come back to it as tool errors, 429 waits its
//! Retry-After, a model that does not answer in time gets an honest reply, and nothing is lost.
//! Then the same loop with Bedrock Converse replayed (the app's chat with its model swapped,
//! since the SDK's endpoint and credentials are not settings): toolUse, toolResult, throttling,
//! input that does not fit the schema, a timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coda_chat::chat::Chat;
use coda_core::model::Owner;
use coda_llm::replay::{Answer, ReplayServer};
use serde_json::{json, Value};

use crate::helpers::{runners, spawn_app_with, TestApp};
use crate::sing::melody;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shared/llm/tests/llm/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn app_for(server: &ReplayServer, llm_timeout: f64) -> TestApp {
    let base = server.base_url.clone();
    spawn_app_with(
        move |c| {
            c.chat.chat_provider = "openai".into();
            c.chat.chat_base_url = format!("{base}/v1");
            c.chat.chat_model = "gpt-4o".into();
            c.chat.chat_api_key_env = "CODA_TEST_UNSET_KEY_VARIABLE".into();
            c.chat.chat_llm_timeout_secs = llm_timeout;
        },
        runners(),
    )
    .await
}

async fn session_with_score(app: &TestApp) -> String {
    let sid = app.new_session("ana").await;
    let score = melody(&[
        ("C", 4, 1, Some("la")),
        ("D", 4, 1, Some("la")),
        ("E", 4, 2, Some("la")),
    ]);
    let r = app.post_file("ana", &sid, "song.musicxml", score).await;
    assert_eq!(r.status(), 201);
    sid
}

/// The last tool message the model was sent in request `n`.
fn tool_message(server: &ReplayServer, n: usize) -> Value {
    let body = &server.received()[n].body;
    let m = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap_or_else(|| panic!("no tool message in {body}"));
    serde_json::from_str(m["content"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_tool_call_runs_its_result_goes_back_and_429_waits_its_retry_after() {
    let server = ReplayServer::start(vec![
        Answer::ok(&fixture("openai_tool_call.json")),
        Answer::status(429, &fixture("openai_rate_limited.json")).header("retry-after", "1"),
        Answer::ok(&fixture("openai_final_answer.json")),
    ])
    .await
    .unwrap();
    let app = app_for(&server, 10.0).await;
    let sid = session_with_score(&app).await;
    let started = Instant::now();
    let reply = app
        .chat("ana", &sid, "could you make it a bit softer?")
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(
        reply["reply"],
        "Done: the chorale now starts at mp in every part (revision 2)."
    );
    let calls = reply["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{reply}");
    assert_eq!(calls[0]["tool"], "modify_score");
    assert_eq!(calls[0]["route"], "cpu");
    assert_eq!(calls[0]["ok"], true);
    assert_eq!(reply["score_rev"], 2);
    assert!(reply["current_score"].is_object());
    let got = server.received();
    assert_eq!(got.len(), 3);
    // The tools the model was offered are the registry's.
    let offered: Vec<&str> = got[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"modify_score") && offered.contains(&"synthesize"));
    // The retried request is the same; the last one carries the result.
    assert_eq!(got[1].body, got[2].body);
    assert_eq!(tool_message(&server, 2)["rev"], 2);
    // The unset key variable means no Authorization header at all.
    assert_eq!(got[0].authorization, None);
}

#[tokio::test]
async fn parallel_calls_run_in_order_and_bad_calls_go_back_as_tool_errors() {
    let unknown =
        fixture("openai_tool_call.json").replace("\"modify_score\"", "\"delete_everything\"");
    let server = ReplayServer::start(vec![
        Answer::ok(&fixture("openai_parallel_tool_calls.json")),
        Answer::ok(&fixture("openai_final_answer.json")),
        Answer::ok(&fixture("openai_malformed_arguments.json")),
        Answer::ok(&fixture("openai_final_answer.json")),
        Answer::ok(&unknown),
        Answer::ok(&fixture("openai_final_answer.json")),
    ])
    .await
    .unwrap();
    let app = app_for(&server, 10.0).await;
    let sid = session_with_score(&app).await;

    let reply = app
        .chat("ana", &sid, "up a tone, and what key is it in?")
        .await;
    let tools: Vec<&str> = reply["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["modify_score", "score_info"], "{reply}");
    assert!(reply["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    // score_info ran after the transposition: it reports revision 2.
    assert_eq!(tool_message(&server, 1)["rev"], 2);
    let first_note = &reply["current_score"]["parts"][0]["measures"][0]["items"];
    assert!(
        first_note.to_string().contains("\"D\""),
        "C4 went up a tone: {first_note}"
    );

    // Arguments that are not JSON: no edit, the model hears why.
    let reply = app.chat("ana", &sid, "softer").await;
    let call = &reply["tool_calls"][0];
    assert_eq!(call["ok"], false, "{reply}");
    assert_eq!(call["error"]["code"], "INVALID_ARGUMENTS");
    assert!(call["args"].is_string(), "the raw text is kept: {call}");
    assert!(reply["current_score"].is_null());
    assert_eq!(
        tool_message(&server, 3)["error"]["code"],
        "INVALID_ARGUMENTS"
    );

    // A tool nobody registered.
    let reply = app.chat("ana", &sid, "wipe it").await;
    assert_eq!(
        reply["tool_calls"][0]["error"]["code"], "UNKNOWN_TOOL",
        "{reply}"
    );
    let err = tool_message(&server, 5);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("modify_score"),
        "the error lists the tools: {err}"
    );
    let view: Value = app
        .get("ana", &format!("/v1/sessions/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["score_rev"], 2,
        "only the transposition changed the score"
    );
}

#[tokio::test]
async fn a_model_that_does_not_answer_in_time_gets_an_honest_reply_and_loses_nothing() {
    let server = ReplayServer::start(vec![
        Answer::ok(&fixture("openai_final_answer.json")).after(Duration::from_secs(5))
    ])
    .await
    .unwrap();
    let app = app_for(&server, 0.2).await;
    let sid = session_with_score(&app).await;
    let started = Instant::now();
    let reply = app.chat("ana", &sid, "make it softer").await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded retries"
    );
    assert_eq!(server.received().len(), 3, "one try and two retries");
    let text = reply["reply"].as_str().unwrap();
    assert!(text.contains("could not reach the model"), "{text}");
    assert_eq!(reply["tool_calls"], json!([]));
    let view: Value = app
        .get("ana", &format!("/v1/sessions/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    let history = view["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{view}");
    assert_eq!(history[0]["role"], "user");
    assert_eq!(history[0]["content"], "make it softer");
    assert_eq!(history[1]["role"], "assistant");
    assert_eq!(view["score_rev"], 1);
}

/// The app's chat with its model swapped for Bedrock against `server`: the same services,
/// registry and loop that `POST /v1/sessions/{id}/chat` runs.
async fn bedrock_chat(app: &TestApp, server: &ReplayServer, llm_timeout: f64) -> Chat {
    let running = app.app.as_ref().unwrap();
    let mut config = coda::config::Config::default();
    config.chat.chat_llm_timeout_secs = llm_timeout;
    let llm =
        coda_llm::replay::bedrock_against(server, "anthropic.claude-3-5-sonnet-20240620-v1:0")
            .await;
    coda::chat_tools::chat_with(
        &config,
        &running.services,
        &running.services.jobs.kinds().registry,
        Arc::new(llm),
    )
}

/// The `toolResult` block of the last user message in Bedrock request `n`.
fn tool_result(server: &ReplayServer, n: usize) -> Value {
    let body = &server.received()[n].body;
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|m| {
            m["content"]
                .as_array()?
                .iter()
                .find_map(|c| c.get("toolResult").cloned())
        })
        .unwrap_or_else(|| panic!("no toolResult in {body}"))
}

#[tokio::test]
async fn the_bedrock_loop_sends_tool_results_back_refuses_bad_input_and_waits_out_throttling() {
    let bad_input = fixture("bedrock_tool_use.json").replace(
        r#""input": {"edits": [{"op": "dynamics", "step": -1}]}"#,
        r#""input": {"edits": "softer please"}"#,
    );
    assert_ne!(bad_input, fixture("bedrock_tool_use.json"));
    let server = ReplayServer::start(vec![
        Answer::ok(&fixture("bedrock_tool_use.json")),
        Answer::status(429, &fixture("bedrock_throttled.json"))
            .header(
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            )
            .header("retry-after", "1"),
        Answer::ok(&fixture("bedrock_final_answer.json")),
        Answer::ok(&bad_input),
        Answer::ok(&fixture("bedrock_final_answer.json")),
    ])
    .await
    .unwrap();
    let app = spawn_app_with(|_| {}, runners()).await;
    let sid = session_with_score(&app).await;
    let chat = bedrock_chat(&app, &server, 10.0).await;
    let owner = Owner("ana".into());

    // toolUse runs, the throttled turn waits its Retry-After, the toolResult goes back.
    let started = Instant::now();
    let reply = chat.send(&owner, &sid, "make it softer").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1"
    );
    assert_eq!(reply.reply, "Done: it now starts at mp in every part.");
    assert_eq!(reply.tool_calls.len(), 1);
    let call = &reply.tool_calls[0];
    assert_eq!(
        (call.tool.as_str(), call.route.as_str(), call.ok),
        ("modify_score", "cpu", true)
    );
    assert_eq!(reply.score_rev, Some(2));
    let first_dynamic = reply.current_score.as_ref().unwrap().to_string();
    assert!(first_dynamic.contains("\"mp\""), "softer: {first_dynamic}");
    assert_eq!(server.received().len(), 3);
    assert_eq!(server.received()[1].body, server.received()[2].body);
    let result = tool_result(&server, 2);
    assert_eq!(result["toolUseId"], "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    assert_eq!(result["status"], "success");
    assert_eq!(result["content"][0]["json"]["rev"], 2);

    // Input that does not fit the tool's schema: no edit; the model hears why.
    let reply = chat.send(&owner, &sid, "softer").await.unwrap();
    let call = &reply.tool_calls[0];
    assert!(!call.ok, "{call:?}");
    assert_eq!(call.error.as_ref().unwrap()["code"], "INVALID_EDIT");
    assert_eq!(reply.current_score, None);
    let result = tool_result(&server, 4);
    assert_eq!(result["status"], "error");
    assert_eq!(
        result["content"][0]["json"]["error"]["code"],
        "INVALID_EDIT"
    );

    // Both turns are in the history, and only the first edit changed the score.
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
        ["user", "tool", "assistant", "user", "tool", "assistant"]
    );
    assert_eq!(view["score_rev"], 2);
}

#[tokio::test]
async fn a_bedrock_model_that_does_not_answer_in_time_gets_an_honest_reply() {
    let server = ReplayServer::start(vec![
        Answer::ok(&fixture("bedrock_final_answer.json")).after(Duration::from_secs(5))
    ])
    .await
    .unwrap();
    let app = spawn_app_with(|_| {}, runners()).await;
    let sid = session_with_score(&app).await;
    let chat = bedrock_chat(&app, &server, 0.2).await;
    let started = Instant::now();
    let reply = chat
        .send(&Owner("ana".into()), &sid, "make it softer")
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded retries"
    );
    assert_eq!(server.received().len(), 3, "one try and two retries");
    assert!(
        reply.reply.contains("could not reach the model"),
        "{}",
        reply.reply
    );
    assert!(reply.tool_calls.is_empty());
}
