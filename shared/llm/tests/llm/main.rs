//! Both adapters against a local server replaying answers in the providers' documented wire
//! formats (fixtures/): no live LLM runs here.

use std::time::{Duration, Instant};

use coda_chat::llm::{Llm, LlmError, LlmRequest, Message, ToolCall, ToolDefinition};
use coda_chat::planner::PlanContext;
use coda_llm::bedrock::BedrockLlm;
use coda_llm::openai::OpenAiLlm;
use coda_llm::replay::{Answer, ReplayServer};
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/llm/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn request(messages: Vec<Message>) -> LlmRequest {
    LlmRequest {
        system: "You are Coda's music assistant.".into(),
        messages,
        tools: vec![
            ToolDefinition {
                name: "modify_score".into(),
                description: "Edit the score.".into(),
                parameters: json!({"type": "object", "properties": {"edits": {"type": "array"}}, "required": ["edits"]}),
            },
            ToolDefinition {
                name: "score_info".into(),
                description: "The score's summary.".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        ]
        .into(),
        context: PlanContext {
            parts: vec!["Soprano".into(), "Alto".into()],
            key_fifths: Some(1),
            key_mode: Some("major".into()),
            measures: 16,
            has_score: true,
        },
    }
}

fn softer() -> LlmRequest {
    request(vec![Message::User("make it softer".into())])
}

/// The conversation after the model's call and its result.
fn after_call(result: Value, is_error: bool) -> LlmRequest {
    request(vec![
        Message::User("make it softer".into()),
        Message::Assistant {
            text: None,
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "modify_score".into(),
                arguments: r#"{"edits":[{"op":"dynamics","step":-1}]}"#.into(),
            }],
        },
        Message::ToolResult {
            call_id: "call_1".into(),
            name: "modify_score".into(),
            content: result,
            is_error,
        },
    ])
}

const KEY: &str = "sk-test-0123456789abcdef";

#[tokio::test]
async fn openai_single_tool_call() {
    let server = ReplayServer::start(vec![Answer::ok(&fixture("openai_tool_call.json"))])
        .await
        .unwrap();
    let llm = OpenAiLlm::new(
        &format!("{}/v1/", server.base_url),
        "gpt-4o",
        Some(KEY.into()),
    );
    let turn = llm.respond(&softer()).await.unwrap();
    assert_eq!(turn.text, None);
    assert_eq!(turn.tool_calls.len(), 1);
    let c = &turn.tool_calls[0];
    assert_eq!(c.id, "call_Vd2mQ1pFz6kGz0x2HqWc3Yx9");
    assert_eq!(c.name, "modify_score");
    let args: Value = serde_json::from_str(&c.arguments).unwrap();
    assert_eq!(args, json!({"edits": [{"op": "dynamics", "step": -1}]}));
    // What was sent: the documented request shape, the key as a bearer token, the score in the prompt.
    let got = &server.received()[0];
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(
        got.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    let b = &got.body;
    assert_eq!(b["model"], "gpt-4o");
    assert_eq!(b["tool_choice"], "auto");
    assert_eq!(b["tools"][0]["type"], "function");
    assert_eq!(b["tools"][0]["function"]["name"], "modify_score");
    assert_eq!(
        b["tools"][0]["function"]["parameters"]["required"][0],
        "edits"
    );
    assert_eq!(b["messages"][0]["role"], "system");
    let system = b["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("Soprano, Alto") && system.contains("G major"),
        "{system}"
    );
    assert_eq!(
        b["messages"][1],
        json!({"role": "user", "content": "make it softer"})
    );
    // The key is in no debug print.
    assert!(!format!("{llm:?}").contains(KEY));
}

#[tokio::test]
async fn openai_parallel_tool_calls_keep_their_order() {
    let server = ReplayServer::start(vec![Answer::ok(&fixture(
        "openai_parallel_tool_calls.json",
    ))])
    .await
    .unwrap();
    let llm = OpenAiLlm::new(&server.base_url, "gpt-4o", None);
    let turn = llm.respond(&softer()).await.unwrap();
    let names: Vec<&str> = turn.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["modify_score", "score_info"]);
    assert_eq!(turn.tool_calls[1].arguments, "{}");
    assert_eq!(server.received()[0].authorization, None);
}

#[tokio::test]
async fn openai_tool_call_then_final_answer() {
    let server = ReplayServer::start(vec![Answer::ok(&fixture("openai_final_answer.json"))])
        .await
        .unwrap();
    let llm = OpenAiLlm::new(&server.base_url, "gpt-4o", None);
    let turn = llm
        .respond(&after_call(json!({"rev": 2, "head": 2}), false))
        .await
        .unwrap();
    assert!(turn.tool_calls.is_empty());
    assert_eq!(
        turn.text.as_deref(),
        Some("Done: the chorale now starts at mp in every part (revision 2).")
    );
    let m = &server.received()[0].body["messages"];
    assert_eq!(m[2]["role"], "assistant");
    assert_eq!(m[2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(m[2]["tool_calls"][0]["function"]["name"], "modify_score");
    assert_eq!(m[3]["role"], "tool");
    assert_eq!(m[3]["tool_call_id"], "call_1");
    let content: Value = serde_json::from_str(m[3]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["rev"], 2);
}

#[tokio::test]
async fn openai_malformed_arguments_pass_through_for_the_chat_to_refuse() {
    let server = ReplayServer::start(vec![Answer::ok(&fixture(
        "openai_malformed_arguments.json",
    ))])
    .await
    .unwrap();
    let llm = OpenAiLlm::new(&server.base_url, "gpt-4o-mini", None);
    let turn = llm.respond(&softer()).await.unwrap();
    let args = &turn.tool_calls[0].arguments;
    assert!(serde_json::from_str::<Value>(args).is_err(), "{args}");
    assert_eq!(args, r#"{"edits":[{"op":"dynamics","step":-1}"#);
}

#[tokio::test]
async fn openai_429_carries_retry_after_then_succeeds() {
    let server = ReplayServer::start(vec![
        Answer::status(429, &fixture("openai_rate_limited.json")).header("retry-after", "1"),
        Answer::ok(&fixture("openai_tool_call.json")),
    ])
    .await
    .unwrap();
    let llm = OpenAiLlm::new(&server.base_url, "gpt-4o", Some(KEY.into()));
    let e = llm.respond(&softer()).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::RateLimited {
            retry_after_secs: Some(1)
        }
    );
    assert!(e.is_transient());
    let turn = llm.respond(&softer()).await.unwrap();
    assert_eq!(turn.tool_calls[0].name, "modify_score");
}

#[tokio::test]
async fn openai_errors_are_typed_and_carry_no_key() {
    let server = ReplayServer::start(vec![
        Answer::status(401, &fixture("openai_invalid_key.json")),
        Answer::status(503, r#"{"error":{"message":"The server is overloaded"}}"#),
        Answer::ok("not json"),
    ])
    .await
    .unwrap();
    let llm = OpenAiLlm::new(&server.base_url, "gpt-4o", Some(KEY.into()));
    let e = llm.respond(&softer()).await.unwrap_err();
    assert!(
        matches!(&e, LlmError::Refused(m) if m.contains("Incorrect API key")),
        "{e}"
    );
    assert!(!e.is_transient());
    let e = llm.respond(&softer()).await.unwrap_err();
    assert!(
        matches!(&e, LlmError::Unavailable(m) if m.contains("503")),
        "{e}"
    );
    let e = llm.respond(&softer()).await.unwrap_err();
    assert!(
        matches!(&e, LlmError::Unavailable(m) if m.contains("not JSON")),
        "{e}"
    );
    // Nobody listening.
    let gone = OpenAiLlm::new("http://127.0.0.1:9", "gpt-4o", Some(KEY.into()));
    let e = gone.respond(&softer()).await.unwrap_err();
    assert!(matches!(e, LlmError::Unavailable(_)), "{e}");
    assert!(!e.to_string().contains(KEY));
}

#[tokio::test]
async fn openai_a_slow_server_is_cut_off_by_the_callers_timeout() {
    let server = ReplayServer::start(vec![
        Answer::ok(&fixture("openai_final_answer.json")).after(Duration::from_secs(5))
    ])
    .await
    .unwrap();
    let llm = OpenAiLlm::new(&server.base_url, "gpt-4o", None);
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_millis(200), llm.respond(&softer())).await;
    assert!(r.is_err(), "answered: {r:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

async fn bedrock(server: &ReplayServer) -> BedrockLlm {
    coda_llm::replay::bedrock_against(server, "anthropic.claude-3-5-sonnet-20240620-v1:0").await
}

#[tokio::test]
async fn bedrock_single_tool_use() {
    let server = ReplayServer::start(vec![Answer::ok(&fixture("bedrock_tool_use.json"))])
        .await
        .unwrap();
    let llm = bedrock(&server).await;
    let turn = llm.respond(&softer()).await.unwrap();
    assert_eq!(turn.text.as_deref(), Some("I'll make the chorale softer."));
    assert_eq!(turn.tool_calls.len(), 1);
    let c = &turn.tool_calls[0];
    assert_eq!(c.id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    let args: Value = serde_json::from_str(&c.arguments).unwrap();
    assert_eq!(args, json!({"edits": [{"op": "dynamics", "step": -1}]}));
    let got = &server.received()[0];
    assert_eq!(
        got.path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert!(
        got.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")),
        "signed: {:?}",
        got.authorization
    );
    let b = &got.body;
    assert!(b["system"][0]["text"].as_str().unwrap().contains("G major"));
    assert_eq!(b["messages"][0]["role"], "user");
    assert_eq!(b["messages"][0]["content"][0]["text"], "make it softer");
    let spec = &b["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(spec["name"], "modify_score");
    assert_eq!(spec["inputSchema"]["json"]["required"][0], "edits");
}

#[tokio::test]
async fn bedrock_parallel_tool_use_keeps_its_order() {
    let server = ReplayServer::start(vec![Answer::ok(&fixture("bedrock_parallel_tool_use.json"))])
        .await
        .unwrap();
    let turn = bedrock(&server).await.respond(&softer()).await.unwrap();
    assert_eq!(turn.text, None);
    let names: Vec<&str> = turn.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["modify_score", "synthesize"]);
    assert_eq!(turn.tool_calls[1].arguments, r#"{"part":0}"#);
}

#[tokio::test]
async fn bedrock_tool_result_then_final_answer() {
    let server = ReplayServer::start(vec![Answer::ok(&fixture("bedrock_final_answer.json"))])
        .await
        .unwrap();
    let llm = bedrock(&server).await;
    let turn = llm
        .respond(&after_call(
            json!({"error": {"code": "INVALID_ARGUMENTS", "message": "bad"}}),
            true,
        ))
        .await
        .unwrap();
    assert_eq!(
        turn.text.as_deref(),
        Some("Done: it now starts at mp in every part.")
    );
    let m = &server.received()[0].body["messages"];
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["content"][0]["toolUse"]["toolUseId"], "call_1");
    assert_eq!(
        m[1]["content"][0]["toolUse"]["input"]["edits"][0]["step"],
        -1
    );
    // The result goes back in a user message, flagged as an error.
    assert_eq!(m[2]["role"], "user");
    let r = &m[2]["content"][0]["toolResult"];
    assert_eq!(r["toolUseId"], "call_1");
    assert_eq!(r["status"], "error");
    assert_eq!(
        r["content"][0]["json"]["error"]["code"],
        "INVALID_ARGUMENTS"
    );
}

#[tokio::test]
async fn bedrock_throttling_then_success_and_refusals() {
    let server = ReplayServer::start(vec![
        Answer::status(429, &fixture("bedrock_throttled.json"))
            .header(
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            )
            .header("retry-after", "2"),
        Answer::ok(&fixture("bedrock_tool_use.json")),
        Answer::status(400, &fixture("bedrock_validation.json")).header(
            "x-amzn-errortype",
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ),
        Answer::status(
            503,
            r#"{"message":"Bedrock is unable to process your request."}"#,
        )
        .header(
            "x-amzn-errortype",
            "ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ),
    ])
    .await
    .unwrap();
    let llm = bedrock(&server).await;
    let e = llm.respond(&softer()).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::RateLimited {
            retry_after_secs: Some(2)
        }
    );
    // The SDK's own retries are off: one request each, the chat's loop decides.
    assert_eq!(server.received().len(), 1);
    let turn = llm.respond(&softer()).await.unwrap();
    assert_eq!(turn.tool_calls[0].name, "modify_score");
    let e = llm.respond(&softer()).await.unwrap_err();
    assert!(
        matches!(&e, LlmError::Refused(m) if m.contains("model identifier")),
        "{e}"
    );
    let e = llm.respond(&softer()).await.unwrap_err();
    assert!(matches!(&e, LlmError::Unavailable(_)), "{e}");
    assert_eq!(server.received().len(), 4);
}
