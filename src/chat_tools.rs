//! The chat's CPU tools that need this process's resources: the CMU dictionary and the voices
//! folder, loaded once, through the same `call_tool` the worker runs.

use std::sync::Arc;
use std::time::Duration;

use coda_chat::chat::{Chat, ChatSettings, LocalTools};
use coda_chat::llm::{Llm, PlannerLlm};
use coda_chat::registry::ToolRegistry;
use coda_core::kinds::KindRegistry;
use coda_core::services::Services;
use coda_core::Result;
use coda_jobs::synthesize::SharedSinging;
use coda_llm::bedrock::BedrockLlm;
use coda_llm::openai::OpenAiLlm;
use serde_json::Value;

use crate::config::{secs, Config};

/// `phonemize`, `align_phonemes_to_notes`, `list_voicebanks` and `get_voicebank_info` here.
pub struct SingingTools {
    singing: SharedSinging,
}

impl SingingTools {
    /// Over `config`'s models and voices folders; nothing loads until a call needs it.
    pub fn new(config: &Config) -> Self {
        SingingTools {
            singing: SharedSinging::new(crate::config::model_settings(config)),
        }
    }
}

impl LocalTools for SingingTools {
    fn call(&self, name: &str, args: Value) -> Option<Result<Value>> {
        matches!(
            name,
            "phonemize" | "align_phonemes_to_notes" | "list_voicebanks" | "get_voicebank_info"
        )
        .then(|| coda_jobs::synthesize::tools::call_tool(name, args, &self.singing))
    }
}

/// The chat's limits from the configuration.
pub fn chat_settings(config: &Config) -> ChatSettings {
    let c = &config.chat;
    ChatSettings {
        tool_wait: secs(c.chat_tool_wait_secs),
        max_steps: c.chat_max_steps.clamp(1, 64) as usize,
        history_limit: c.chat_history_limit.min(1000) as usize,
        llm_timeout: secs(c.chat_llm_timeout_secs).max(Duration::from_millis(10)),
        llm_retries: 2,
    }
}

/// The model `[chat] chat_provider` names; an `openai` key is read from the variable
/// `chat_api_key_env` names, here and nowhere else.
pub async fn llm(config: &Config) -> Arc<dyn Llm> {
    let c = &config.chat;
    match c.chat_provider.as_str() {
        "openai" => {
            let key = std::env::var(&c.chat_api_key_env).ok();
            if key.is_none() {
                tracing::warn!(
                    variable = %c.chat_api_key_env,
                    "chat_provider is openai and the key variable is unset: requests go without a key"
                );
            }
            Arc::new(OpenAiLlm::new(&c.chat_base_url, &c.chat_model, key))
        }
        "bedrock" => {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            Arc::new(BedrockLlm::from_sdk_config(&sdk, &c.chat_model))
        }
        _ => Arc::new(PlannerLlm),
    }
}

/// The chat of a `coda serve` process: the configured model over the deployment's registry.
pub async fn chat(config: &Config, services: &Services, kinds: &KindRegistry) -> Chat {
    Chat::new(
        services.clone(),
        Arc::new(ToolRegistry::builtin(kinds)),
        llm(config).await,
        Arc::new(SingingTools::new(config)),
        chat_settings(config),
    )
}
