//! Handlers of the chat and the tool registry.

use axum::extract::{Path, State};
use axum::Json;
use coda_chat::chat::ChatReply;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Caller, JsonBody};
use crate::SharedState;

/// A chat message.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// What the user says ("make it softer", "sing the alto").
    pub message: String,
}

/// One tool of the registry.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ToolView {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// `cpu` (runs in the chat process) or `gpu` (a job on the model service's queue).
    pub route: String,
    /// Its arguments' JSON Schema.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// Its result's JSON Schema.
    #[schema(value_type = Object)]
    pub result: Value,
}

/// Every tool.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ToolList {
    /// The model provider the chat uses (`planner`, `openai`, `bedrock`).
    pub provider: String,
    /// The tools, S0's first.
    pub tools: Vec<ToolView>,
}

/// Sends a chat message: the model's tool calls run (edits here, synthesis as a job) and the answer comes back.
#[utoipa::path(post, path = "/v1/sessions/{id}/chat", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    request_body = ChatRequest,
    responses((status = 200, description = "the reply, the tool calls, and the score and audio when they changed", body = ChatReply),
        (status = 404, description = "no such live session of the caller", body = ErrorBody),
        (status = 422, description = "a message over 16 KiB", body = ErrorBody)))]
pub async fn chat(
    State(s): State<SharedState>,
    Caller(owner): Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ChatRequest>,
) -> ApiResult<Json<ChatReply>> {
    Ok(Json(s.chat.send(&owner, &id, &req.message).await?))
}

/// Lists the tools: the LLM's definitions, the MCP server's tools and the routing table in one.
#[utoipa::path(get, path = "/v1/tools", tag = "chat",
    responses((status = 200, description = "every tool with its route and schemas", body = ToolList)))]
pub async fn list_tools(State(s): State<SharedState>) -> Json<ToolList> {
    let r = s.chat.registry();
    Json(ToolList {
        provider: s.chat.provider().to_string(),
        tools: r
            .tools()
            .iter()
            .map(|t| ToolView {
                name: t.name.clone(),
                description: t.description.clone(),
                route: serde_json::to_value(t.route)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                parameters: t.parameters.clone(),
                result: t.result.clone(),
            })
            .collect(),
    })
}
