//! The `Llm` port: a model that reads the conversation and the tool definitions and answers with
//! text or tool calls. The built-in [`PlannerLlm`] needs no network; the providers (an
//! OpenAI-compatible server, AWS Bedrock) implement the same trait.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::planner::{plan, Plan, PlanContext};

/// One tool as the model sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// The name it calls.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its arguments' JSON Schema.
    pub parameters: Value,
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id of the call, echoed with its result.
    pub id: String,
    /// The tool.
    pub name: String,
    /// Its arguments as the model wrote them: JSON text, perhaps not valid.
    pub arguments: String,
}

/// One message of the conversation the model reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// What the user wrote.
    User(String),
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// Its text.
        text: Option<String>,
        /// Its calls.
        tool_calls: Vec<ToolCall>,
    },
    /// A call's result (or its error, with `is_error`).
    ToolResult {
        /// The call's id.
        call_id: String,
        /// The tool.
        name: String,
        /// The result or `{"error": {...}}`.
        content: Value,
        /// Whether it failed.
        is_error: bool,
    },
}

/// What the model is asked.
#[derive(Clone, Debug)]
pub struct LlmRequest {
    /// The system prompt.
    pub system: String,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// The tools it may call (shared: built once, sent every turn).
    pub tools: std::sync::Arc<[ToolDefinition]>,
    /// The session's score as the planner sees it (providers get it in the system prompt).
    pub context: PlanContext,
}

/// The model's answer: tool calls to run, or the final text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlmTurn {
    /// Text for the user.
    pub text: Option<String>,
    /// Calls to run, in order.
    pub tool_calls: Vec<ToolCall>,
}

/// Why the model gave no answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// It did not answer in time.
    #[error("the model did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// It refused for a while (429): retry after this many seconds.
    #[error("the model's provider is rate limiting (retry after {retry_after_secs:?} s)")]
    RateLimited {
        /// `Retry-After`, when sent.
        retry_after_secs: Option<u64>,
    },
    /// The provider failed (5xx) or could not be reached.
    #[error("the model's provider failed: {0}")]
    Unavailable(String),
    /// The request was refused (4xx other than 429): retrying will not help.
    #[error("the model's provider refused the request: {0}")]
    Refused(String),
}

impl LlmError {
    /// Whether another try may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, LlmError::Refused(_))
    }
}

/// A model that reads a conversation and answers with text or tool calls.
#[async_trait]
pub trait Llm: Send + Sync {
    /// The provider's name for logs and health (`planner`, `openai`, `bedrock`).
    fn name(&self) -> &str;
    /// One turn.
    async fn respond(&self, request: &LlmRequest) -> Result<LlmTurn, LlmError>;
}

/// The built-in planner as an [`Llm`]: it plans the last user message; once the results of its
/// calls are in, it answers with what was done.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlannerLlm;

#[async_trait]
impl Llm for PlannerLlm {
    fn name(&self) -> &str {
        "planner"
    }

    async fn respond(&self, request: &LlmRequest) -> Result<LlmTurn, LlmError> {
        Ok(planner_turn(request))
    }
}

/// The planner's answer to `request` (synchronous: it is pure).
pub fn planner_turn(request: &LlmRequest) -> LlmTurn {
    let last_user = request
        .messages
        .iter()
        .rposition(|m| matches!(m, Message::User(_)));
    let Some(i) = last_user else {
        return LlmTurn {
            text: Some(crate::planner::CAPABILITIES.into()),
            tool_calls: vec![],
        };
    };
    let Message::User(text) = &request.messages[i] else {
        unreachable!("rposition found a user message")
    };
    let plan = plan(text, &request.context);
    let results: Vec<&Message> = request.messages[i + 1..]
        .iter()
        .filter(|m| matches!(m, Message::ToolResult { .. }))
        .collect();
    match plan {
        Plan::Refuse(why) => LlmTurn {
            text: Some(why),
            tool_calls: vec![],
        },
        Plan::Calls(calls) if results.is_empty() => LlmTurn {
            text: None,
            tool_calls: calls
                .iter()
                .enumerate()
                .map(|(n, c)| ToolCall {
                    id: format!("call_{}", n + 1),
                    name: c.tool.into(),
                    arguments: c.args.to_string(),
                })
                .collect(),
        },
        Plan::Calls(calls) => {
            let mut parts = Vec::new();
            for (n, c) in calls.iter().enumerate() {
                let id = format!("call_{}", n + 1);
                let result = results.iter().find_map(|m| match m {
                    Message::ToolResult {
                        call_id,
                        content,
                        is_error,
                        ..
                    } if *call_id == id => Some((content, *is_error)),
                    _ => None,
                });
                parts.push(match result {
                    None => format!("I did not get to: {}.", c.summary),
                    Some((content, true)) => format!(
                        "I could not do that ({}): {}.",
                        c.summary,
                        content["error"]["message"].as_str().unwrap_or("it failed")
                    ),
                    Some((content, false)) => describe(c.tool, &c.summary, content),
                });
            }
            LlmTurn {
                text: Some(parts.join(" ")),
                tool_calls: vec![],
            }
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn describe(tool: &str, summary: &str, content: &Value) -> String {
    match tool {
        "score_info" => match content["key"].as_str() {
            Some(k) => format!("It is in {k}."),
            None => "The score has no key signature.".into(),
        },
        "modify_score" | "undo_score" | "redo_score" => match content["rev"].as_u64() {
            Some(rev) => format!("{} (revision {rev}).", capitalized(summary)),
            None => format!("{}.", capitalized(summary)),
        },
        "synthesize" => match content["status"].as_str() {
            Some("succeeded") => format!("{}: done, the audio is ready.", capitalized(summary)),
            Some(status) => format!(
                "{}: the job {} is {status}; poll it or wait for its webhook.",
                capitalized(summary),
                content["job_id"].as_str().unwrap_or("?")
            ),
            None => format!("{}.", capitalized(summary)),
        },
        _ => format!("{}.", capitalized(summary)),
    }
}
