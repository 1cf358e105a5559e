//! The chat's CPU tools that need this process's resources: the CMU dictionary and the voices
//! folder, loaded once, through the same `call_tool` the worker runs.

use std::sync::Arc;

use coda_chat::chat::{Chat, ChatSettings, LocalTools};
use coda_chat::registry::ToolRegistry;
use coda_core::kinds::KindRegistry;
use coda_core::services::Services;
use coda_core::Result;
use coda_jobs::synthesize::SharedSinging;
use serde_json::Value;

use crate::config::Config;

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
    ChatSettings::from_config(&config.chat)
}

/// The chat of a `coda serve` process: the configured model over the deployment's registry.
pub async fn chat(config: &Config, services: &Services, kinds: &KindRegistry) -> Chat {
    chat_with(
        config,
        services,
        kinds,
        coda_llm::from_config(&config.chat).await,
    )
}

/// The same chat over a given model (a test's replayed provider).
pub fn chat_with(
    config: &Config,
    services: &Services,
    kinds: &KindRegistry,
    llm: Arc<dyn coda_chat::llm::Llm>,
) -> Chat {
    Chat::new(
        services.clone(),
        Arc::new(ToolRegistry::builtin(kinds)),
        llm,
        Arc::new(SingingTools::new(config)),
        chat_settings(config),
    )
}
