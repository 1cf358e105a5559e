//! The chat's LLM providers, adapters of coda-chat's [`Llm`](coda_chat::llm::Llm) port:
//! an OpenAI-compatible Chat Completions server (OpenAI, vLLM, llama.cpp, Ollama) and AWS
//! Bedrock Converse. Keys come from the environment only and never reach a log or an error.

pub mod bedrock;
pub mod openai;

use coda_chat::llm::LlmRequest;

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
