//! The chat and the MCP server: `POST /v1/sessions/{id}/chat`, `/mcp`.

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::run_chat(|config| async move {
        let c = &config.chat;
        coda_llm::from_settings(
            &c.chat_provider,
            &c.chat_base_url,
            &c.chat_model,
            &c.chat_api_key_env,
        )
        .await
    })
    .await
}
