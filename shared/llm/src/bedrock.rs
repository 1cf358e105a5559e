//! AWS Bedrock Converse with tool use: `toolConfig` carries the tools, the model answers with
//! `toolUse` blocks, and the results go back as `toolResult` blocks in a user message.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, Message as BrMessage, SystemContentBlock, Tool,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolResultStatus,
    ToolSpecification, ToolUseBlock,
};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::{Document, Number};
use coda_chat::llm::{Llm, LlmError, LlmRequest, LlmTurn, Message, ToolCall};
use serde_json::Value;

/// A Bedrock model through the Converse API.
#[derive(Clone, Debug)]
pub struct BedrockLlm {
    client: Client,
    model_id: String,
}

impl BedrockLlm {
    /// `model_id` through `client`; the chat retries, so the client should not (see [`Self::from_sdk_config`]).
    pub fn new(client: Client, model_id: &str) -> Self {
        BedrockLlm {
            client,
            model_id: model_id.into(),
        }
    }

    /// A client over `config` with the SDK's own retries off: the chat's loop retries, and
    /// honours the provider's wait, once.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, model_id: &str) -> Self {
        let conf = aws_sdk_bedrockruntime::config::Builder::from(config)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
            .build();
        Self::new(Client::from_conf(conf), model_id)
    }
}

/// JSON as a Smithy document.
pub fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// A Smithy document as JSON.
pub fn to_json(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
    }
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, LlmError> {
    r.map_err(|e| LlmError::Refused(format!("cannot build the Converse request: {e}")))
}

/// The conversation as Converse messages: roles alternate, so a turn's tool results share
/// one user message.
pub fn messages(request: &LlmRequest) -> Result<Vec<BrMessage>, LlmError> {
    let mut out: Vec<(ConversationRole, Vec<ContentBlock>)> = Vec::new();
    let mut push = |role: ConversationRole, block: ContentBlock| match out.last_mut() {
        Some((r, blocks)) if *r == role => blocks.push(block),
        _ => out.push((role, vec![block])),
    };
    for m in &request.messages {
        match m {
            Message::User(t) => push(ConversationRole::User, ContentBlock::Text(t.clone())),
            Message::Assistant { text, tool_calls } => {
                if let Some(t) = text.as_ref().filter(|t| !t.is_empty()) {
                    push(ConversationRole::Assistant, ContentBlock::Text(t.clone()));
                }
                for c in tool_calls {
                    let input: Value = serde_json::from_str(&c.arguments).unwrap_or_default();
                    let block = built(
                        ToolUseBlock::builder()
                            .tool_use_id(&c.id)
                            .name(&c.name)
                            .input(to_document(&input))
                            .build(),
                    )?;
                    push(ConversationRole::Assistant, ContentBlock::ToolUse(block));
                }
            }
            Message::ToolResult {
                call_id,
                content,
                is_error,
                ..
            } => {
                // Converse's json block must be an object.
                let content = if content.is_object() {
                    content.clone()
                } else {
                    serde_json::json!({ "result": content })
                };
                let block = built(
                    ToolResultBlock::builder()
                        .tool_use_id(call_id)
                        .content(ToolResultContentBlock::Json(to_document(&content)))
                        .status(if *is_error {
                            ToolResultStatus::Error
                        } else {
                            ToolResultStatus::Success
                        })
                        .build(),
                )?;
                push(ConversationRole::User, ContentBlock::ToolResult(block));
            }
        }
    }
    out.into_iter()
        .map(|(role, blocks)| {
            built(
                BrMessage::builder()
                    .role(role)
                    .set_content(Some(blocks))
                    .build(),
            )
        })
        .collect()
}

/// The tools as a `toolConfig`.
pub fn tool_config(request: &LlmRequest) -> Result<Option<ToolConfiguration>, LlmError> {
    if request.tools.is_empty() {
        return Ok(None);
    }
    let mut b = ToolConfiguration::builder();
    for t in request.tools.iter() {
        let spec = built(
            ToolSpecification::builder()
                .name(&t.name)
                .description(&t.description)
                .input_schema(ToolInputSchema::Json(to_document(&t.parameters)))
                .build(),
        )?;
        b = b.tools(Tool::ToolSpec(spec));
    }
    built(b.build()).map(Some)
}

/// The model's turn in a Converse output.
pub fn turn(output: Option<&ConverseOutput>) -> Result<LlmTurn, LlmError> {
    let Some(ConverseOutput::Message(m)) = output else {
        return Err(LlmError::Unavailable(
            "the Converse output has no message".into(),
        ));
    };
    let mut text = Vec::new();
    let mut tool_calls = Vec::new();
    for block in m.content() {
        match block {
            ContentBlock::Text(t) => text.push(t.clone()),
            ContentBlock::ToolUse(u) => tool_calls.push(ToolCall {
                id: u.tool_use_id().to_string(),
                name: u.name().to_string(),
                arguments: to_json(u.input()).to_string(),
            }),
            _ => {}
        }
    }
    let text = text.join("\n");
    Ok(LlmTurn {
        text: (!text.trim().is_empty()).then_some(text),
        tool_calls,
    })
}

fn sdk_error(
    e: SdkError<ConverseError, aws_sdk_bedrockruntime::config::http::HttpResponse>,
) -> LlmError {
    let retry_after = e
        .raw_response()
        .and_then(|r| r.headers().get("retry-after"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| s.ceil().max(0.0) as u64);
    match e {
        SdkError::ServiceError(se) => {
            let err = se.into_err();
            let message = err.meta().message().unwrap_or("no message").to_string();
            match err {
                ConverseError::ThrottlingException(_) => LlmError::RateLimited {
                    retry_after_secs: retry_after,
                },
                ConverseError::ModelTimeoutException(_) => {
                    LlmError::Unavailable(format!("the model timed out: {message}"))
                }
                ConverseError::InternalServerException(_)
                | ConverseError::ServiceUnavailableException(_)
                | ConverseError::ModelNotReadyException(_) => {
                    LlmError::Unavailable(format!("Bedrock failed: {message}"))
                }
                other => LlmError::Refused(format!(
                    "{}: {message}",
                    other.meta().code().unwrap_or("Bedrock refused the request")
                )),
            }
        }
        SdkError::ResponseError(_) => {
            LlmError::Unavailable("Bedrock's answer could not be read".into())
        }
        SdkError::TimeoutError(_) => LlmError::Unavailable("Bedrock did not answer in time".into()),
        SdkError::DispatchFailure(d) => LlmError::Unavailable(format!(
            "cannot reach Bedrock{}",
            if d.is_timeout() { " (timeout)" } else { "" }
        )),
        other => LlmError::Refused(format!("the Converse request failed: {other}")),
    }
}

#[async_trait]
impl Llm for BedrockLlm {
    fn name(&self) -> &str {
        "bedrock"
    }

    async fn respond(&self, request: &LlmRequest) -> Result<LlmTurn, LlmError> {
        let out = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(crate::system_prompt(request)))
            .set_messages(Some(messages(request)?))
            .set_tool_config(tool_config(request)?)
            .send()
            .await
            .map_err(sdk_error)?;
        turn(out.output())
    }
}
