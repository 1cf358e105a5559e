//! The chat's LLM providers, adapters of coda-chat's [`Llm`](coda_chat::llm::Llm) port:
//! an OpenAI-compatible Chat Completions server (OpenAI, vLLM, llama.cpp, Ollama) and AWS
//! Bedrock Converse. Keys come from the environment only and never reach a log or an error.

pub mod bedrock;
pub mod openai;

use std::sync::Arc;

use coda_chat::llm::{Llm, LlmRequest, PlannerLlm};

/// The system prompt with what the session's score is, so a model need not ask.
pub fn system_prompt(request: &LlmRequest) -> String {
    let c = &request.context;
    if !c.has_score {
        return format!(
            "{}\nThe session has no score yet: ask the user to upload one.",
            request.system
        );
    }
    let key = c
        .key_fifths
        .map(|f| coda_chat::planner::describe_key(f, c.key_mode.as_deref()))
        .unwrap_or_else(|| "not written".into());
    format!(
        "{}\nThe session's score: parts {} (part numbers from 0 in this order), {} measures, key {}.",
        request.system,
        if c.parts.is_empty() {
            "unnamed".to_string()
        } else {
            c.parts.join(", ")
        },
        c.measures,
        key
    )
}

pub mod replay;

/// The model a deployment's `[chat]` settings name: `planner`, `openai` (its key read from the
/// variable `api_key_env` names, here and nowhere else) or `bedrock` (the AWS SDK's usual
/// credentials and region).
pub async fn from_settings(
    provider: &str,
    base_url: &str,
    model: &str,
    api_key_env: &str,
) -> Arc<dyn Llm> {
    match provider {
        "openai" => {
            let key = std::env::var(api_key_env).ok();
            if key.is_none() {
                tracing::warn!(
                    variable = %api_key_env,
                    "chat_provider is openai and the key variable is unset: requests go without a key"
                );
            }
            Arc::new(openai::OpenAiLlm::new(base_url, model, key))
        }
        "bedrock" => {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            Arc::new(bedrock::BedrockLlm::from_sdk_config(&sdk, model))
        }
        _ => Arc::new(PlannerLlm),
    }
}

/// The model `[chat]` names (`chat_provider`, `chat_base_url`, `chat_model`, `chat_api_key_env`).
pub async fn from_config(chat: &coda_config::ChatConfig) -> Arc<dyn Llm> {
    from_settings(
        &chat.chat_provider,
        &chat.chat_base_url,
        &chat.chat_model,
        &chat.chat_api_key_env,
    )
    .await
}
