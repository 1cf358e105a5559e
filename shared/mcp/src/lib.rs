//! Coda's MCP server: every tool of the chat's registry, called through
//! [`Chat::call_tool`] (cpu tools in process, gpu tools as jobs), over stdio (`coda mcp`)
//! or Streamable HTTP (`/mcp` on `coda serve`, behind the bearer token).

use std::sync::Arc;

use coda_chat::chat::Chat;
use coda_chat::registry::{Exec, ToolSpec};
use coda_core::model::Owner;
use coda_core::CodaError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, JsonObject, ListToolsResult, PaginatedRequestParams, Resource,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};

/// What the server tells a client about itself, in one line.
const INSTRUCTIONS: &str = "Coda's music tools: parse_score and modify_score work on MusicXML or Coda's score JSON; synthesize and the other job tools run as jobs (give session_id to work on a session's score) and return signed URLs of their outputs, also as resource links.";

/// The MCP handler over the chat's tools, for one owner (stdio) or the request's (HTTP).
#[derive(Clone)]
pub struct CodaMcp {
    chat: Chat,
    /// The caller when no HTTP request names one (stdio); None over HTTP, where the bearer
    /// middleware's owner must be present.
    owner: Option<Owner>,
}

impl CodaMcp {
    /// A server whose every call runs as `owner` (stdio: one local user).
    pub fn for_owner(chat: Chat, owner: Owner) -> Self {
        CodaMcp {
            chat,
            owner: Some(owner),
        }
    }

    /// A server whose calls run as the owner the HTTP request was authenticated as.
    pub fn per_request(chat: Chat) -> Self {
        CodaMcp { chat, owner: None }
    }

    fn owner(&self, ctx: &RequestContext<RoleServer>) -> Result<Owner, ErrorData> {
        ctx.extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Owner>().cloned())
            .or_else(|| self.owner.clone())
            .ok_or_else(|| ErrorData::invalid_request("no authenticated caller", None))
    }

    /// Every registry tool as an MCP tool.
    pub fn tools(&self) -> Vec<Tool> {
        self.chat.registry().tools().iter().map(mcp_tool).collect()
    }

    /// Runs tool `name` for `owner`; a failure is a result with `isError`, never a protocol error.
    pub async fn call(
        &self,
        owner: &Owner,
        name: &str,
        args: Option<JsonObject>,
    ) -> CallToolResult {
        let mut args = args.unwrap_or_default();
        let session = args
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        // The session is the call's, not an argument of a tool that does not take one
        // (parse_score's request refuses unknown fields).
        if let Some(spec) = self.chat.registry().get(name) {
            if !matches!(spec.exec, Exec::Job(_))
                && spec.parameters["properties"].get("session_id").is_none()
            {
                args.remove("session_id");
            }
        }
        let args = Value::Object(args);
        match self
            .chat
            .call_tool(owner, session.as_deref(), name, &args)
            .await
        {
            Ok(v) => success(v),
            Err(e) => {
                tracing::info!(tool = name, code = e.code(), "mcp tool call failed");
                failure(&e)
            }
        }
    }

    /// The Streamable HTTP service (stateless, JSON answers) whose calls run as the request's
    /// owner: mount it behind the bearer middleware, which puts the `Owner` in the request.
    pub fn http_service(chat: Chat) -> StreamableHttpService<CodaMcp, LocalSessionManager> {
        let config = StreamableHttpServerConfig::default()
            // No session state to lose across restarts or instances; every POST stands alone.
            .with_legacy_session_mode(false)
            .with_json_response(true)
            // rmcp's Host check guards unauthenticated local servers against DNS rebinding;
            // this endpoint needs a bearer token, and behind `public_url` the Host is not loopback.
            .disable_allowed_hosts();
        StreamableHttpService::new(
            move || Ok(CodaMcp::per_request(chat.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    }

    /// Serves MCP on this process's stdin and stdout until the client closes them.
    pub async fn serve_stdio(self) -> std::io::Result<()> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(std::io::Error::other)?;
        running.waiting().await.map_err(std::io::Error::other)?;
        Ok(())
    }
}

impl ServerHandler for CodaMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("coda", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let owner = self.owner(&ctx)?;
        Ok(self
            .call(&owner, &request.name, request.arguments)
            .await
            .into())
    }
}

/// A registry entry as an MCP tool: its parameters as the input schema, its result as the
/// output schema when that is an object schema (MCP's structured content is an object).
fn mcp_tool(spec: &ToolSpec) -> Tool {
    let input = match &spec.parameters {
        Value::Object(o) => o.clone(),
        _ => JsonObject::from_iter([("type".to_string(), json!("object"))]),
    };
    let mut tool = Tool::new(spec.name.clone(), spec.description.clone(), Arc::new(input));
    if let Value::Object(o) = &spec.result {
        if o.get("type").and_then(Value::as_str) == Some("object") {
            let schema = match spec.exec {
                Exec::ToolJob => or_still_running(o.clone()),
                _ => o.clone(),
            };
            tool = tool.with_raw_output_schema(Arc::new(schema));
        }
    }
    tool
}

/// A tool job's result schema widened by the answer it gives when its job outlasts the wait
/// (clients check structured content against the output schema).
fn or_still_running(mut result: JsonObject) -> JsonObject {
    // `$ref`s point at the root's `$defs`: they stay at the root.
    let defs = result.remove("$defs");
    result.remove("$schema");
    let running = json!({
        "type": "object",
        "description": "The job still running after the wait: poll it by its id.",
        "properties": {
            "job_id": {"type": "string"},
            "status": {"const": "running"},
            "message": {"type": "string"}
        },
        "required": ["job_id", "status"]
    });
    let mut out = JsonObject::new();
    out.insert("type".into(), json!("object"));
    out.insert("anyOf".into(), json!([Value::Object(result), running]));
    if let Some(d) = defs {
        out.insert("$defs".into(), d);
    }
    out
}

/// The result as text and structured content, with each output URL as a resource link.
fn success(v: Value) -> CallToolResult {
    let mut content = vec![ContentBlock::text(v.to_string())];
    content.extend(links(&v).into_iter().map(ContentBlock::resource_link));
    let mut r = CallToolResult::success(content);
    if v.is_object() {
        r.structured_content = Some(v);
    }
    r
}

/// The error JSON (`{"error":{"code","message","details"}}`, as the HTTP API shapes it) as text.
fn failure(e: &CodaError) -> CallToolResult {
    // A failed tool's own error is inside TOOL_FAILED's details: that one is the caller's.
    let details = e.details();
    let inner = if e.code() == "TOOL_FAILED" && details.get("code").is_some() {
        details
    } else {
        json!({"code": e.code(), "message": e.to_string(), "details": details})
    };
    CallToolResult::error(vec![ContentBlock::text(
        json!({ "error": inner }).to_string(),
    )])
}

/// `outputs[].url` and `audio_url` of a result, as resource links.
fn links(v: &Value) -> Vec<Resource> {
    let mut out: Vec<Resource> = v["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let url = o["url"].as_str()?;
            let name = o["name"].as_str().unwrap_or("output");
            let mut r = Resource::new(url, name);
            if let Some(t) = o["content_type"].as_str() {
                r = r.with_mime_type(t);
            }
            if let Some(n) = o["bytes"].as_u64() {
                r = r.with_size(n);
            }
            Some(r)
        })
        .collect();
    if let Some(url) = v["audio_url"].as_str() {
        if !out.iter().any(|r| r.uri == url) {
            out.push(Resource::new(url, "audio"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_become_resource_links() {
        let v = json!({"job_id": "j", "status": "succeeded", "outputs": [
            {"name": "sung.wav", "url": "http://x/a", "content_type": "audio/wav", "bytes": 10},
            {"name": "f0.json"}
        ], "audio_url": "http://x/a"});
        let l = links(&v);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, "sung.wav");
        assert_eq!(l[0].mime_type.as_deref(), Some("audio/wav"));
        let r = success(v);
        assert_eq!(r.content.len(), 2);
        assert_eq!(r.is_error, Some(false));
    }

    #[test]
    fn a_tool_jobs_output_schema_admits_a_running_job() {
        let result = json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/X"}},
            "required": ["x"], "$defs": {"X": {"type": "integer"}}});
        let out = or_still_running(result.as_object().unwrap().clone());
        assert_eq!(out["type"], "object");
        assert_eq!(out["$defs"]["X"]["type"], "integer");
        assert!(out["anyOf"][0].get("$defs").is_none());
        assert_eq!(out["anyOf"][1]["required"], json!(["job_id", "status"]));
    }

    #[test]
    fn a_failed_tool_reports_its_own_error() {
        let e = CodaError::Unprocessable {
            code: "TOOL_FAILED",
            message: "bad".into(),
            details: json!({"code": "INVALID_ARGUMENTS", "message": "bad", "details": {}}),
        };
        let r = failure(&e);
        assert_eq!(r.is_error, Some(true));
        let text = &r.content[0].as_text().unwrap().text;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["error"]["code"], "INVALID_ARGUMENTS");
    }
}
