//! The chat and the MCP server: `POST /v1/sessions/{id}/chat`, `/mcp`.

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::run_chat(|config| async move { coda_llm::from_config(&config.chat).await }).await
}
