//! OpenAI-compatible Chat Completions with tools (`POST {base}/chat/completions`): OpenAI,
//! vLLM, llama.cpp's server and Ollama speak it.

use std::time::Duration;

use async_trait::async_trait;
use coda_chat::llm::{Llm, LlmError, LlmRequest, LlmTurn, Message, ToolCall};
use serde_json::{json, Value};

/// A Chat Completions server.
#[derive(Clone)]
pub struct OpenAiLlm {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for OpenAiLlm {
    // The key stays out of every debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiLlm")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl OpenAiLlm {
    /// The server at `base_url` (e.g. `https://api.openai.com/v1`), `model`, and the key, if any.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>) -> Self {
        OpenAiLlm {
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.into(),
            api_key: api_key.filter(|k| !k.is_empty()),
        }
    }

    /// The request body for `request`.
    pub fn body(&self, request: &LlmRequest) -> Value {
        let mut messages =
            vec![json!({"role": "system", "content": crate::system_prompt(request)})];
        for m in &request.messages {
            messages.push(match m {
                Message::User(t) => json!({"role": "user", "content": t}),
                Message::Assistant { text, tool_calls } => {
                    let mut a = json!({"role": "assistant", "content": text});
                    if !tool_calls.is_empty() {
                        a["tool_calls"] = tool_calls
                            .iter()
                            .map(|c| {
                                json!({"id": c.id, "type": "function",
                                       "function": {"name": c.name, "arguments": c.arguments}})
                            })
                            .collect();
                    }
                    a
                }
                Message::ToolResult {
                    call_id, content, ..
                } => {
                    json!({"role": "tool", "tool_call_id": call_id, "content": content.to_string()})
                }
            });
        }
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        let mut body = json!({"model": self.model, "messages": messages});
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools);
            body["tool_choice"] = json!("auto");
        }
        body
    }
}

/// The model's turn in a Chat Completions response.
pub fn parse_response(body: &Value) -> Result<LlmTurn, LlmError> {
    let message = body["choices"]
        .get(0)
        .map(|c| &c["message"])
        .filter(|m| m.is_object())
        .ok_or_else(|| LlmError::Unavailable("the response has no choices[0].message".into()))?;
    let text = message["content"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
        .map(str::to_string);
    let mut tool_calls = Vec::new();
    for (n, c) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = &c["function"];
        let name = f["name"].as_str().unwrap_or_default().to_string();
        // OpenAI sends the arguments as JSON text; some servers (Ollama) as an object.
        let arguments = match &f["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            v => v.to_string(),
        };
        let id = c["id"]
            .as_str()
            .map_or_else(|| format!("call_{}", n + 1), str::to_string);
        tool_calls.push(ToolCall {
            id,
            name,
            arguments,
        });
    }
    Ok(LlmTurn { text, tool_calls })
}

/// The error a non-2xx answer means.
fn status_error(status: u16, retry_after: Option<&str>, body: &str) -> LlmError {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect());
    match status {
        429 => LlmError::RateLimited {
            retry_after_secs: retry_after
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|s| s.ceil().max(0.0) as u64),
        },
        408 | 500..=599 => LlmError::Unavailable(format!("HTTP {status}: {message}")),
        _ => LlmError::Refused(format!("HTTP {status}: {message}")),
    }
}

#[async_trait]
impl Llm for OpenAiLlm {
    fn name(&self) -> &str {
        "openai"
    }

    async fn respond(&self, request: &LlmRequest) -> Result<LlmTurn, LlmError> {
        let mut req = self.client.post(&self.url).json(&self.body(request));
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| {
            // Without the URL's query or any header: the error text carries no key.
            LlmError::Unavailable(format!("cannot reach the server: {}", e.without_url()))
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.map_err(|e| {
            LlmError::Unavailable(format!("the answer broke off: {}", e.without_url()))
        })?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, retry_after.as_deref(), &text));
        }
        let body: Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::Unavailable(format!("the answer is not JSON: {e}")))?;
        parse_response(&body)
    }
}
