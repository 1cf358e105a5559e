//! The chat loop: the model's tool calls run in order, each routed by the registry (`cpu` in
//! this process, `gpu` as a job the chat waits on), their results go back to the model, up to
//! `max_steps`; the turns are kept in the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coda_core::kinds::Route;
use coda_core::model::{JobStatus, Owner};
use coda_core::services::jobs::NewJob;
use coda_core::services::scores::ScoreState;
use coda_core::services::Services;
use coda_core::{CodaError, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::llm::{Llm, LlmError, LlmRequest, Message, ToolCall, ToolDefinition};
use crate::planner::{describe_key, PlanContext};
use crate::registry::{split_job_args, Exec, ToolRegistry, ToolSpec};

/// The CPU tools that need this process's resources (the CMU dictionary, the voices folder).
pub trait LocalTools: Send + Sync {
    /// Runs `name` on `args`; `None` when this process cannot run it.
    fn call(&self, name: &str, args: Value) -> Option<Result<Value>>;
}

/// A process without local resources: only the session and pure tools run here.
pub struct NoLocalTools;

impl LocalTools for NoLocalTools {
    fn call(&self, _: &str, _: Value) -> Option<Result<Value>> {
        None
    }
}

/// Limits of the loop.
#[derive(Clone, Debug)]
pub struct ChatSettings {
    /// How long a `gpu` call waits for its job before the reply carries the `job_id`.
    pub tool_wait: Duration,
    /// Model turns per message at most.
    pub max_steps: usize,
    /// Earlier turns the model reads.
    pub history_limit: usize,
    /// How long one model turn may take.
    pub llm_timeout: Duration,
    /// Retries of a transient model failure (429 after its Retry-After, 5xx, timeouts).
    pub llm_retries: u32,
}

impl ChatSettings {
    /// From the `[chat]` settings, clamped to sane bounds.
    pub fn from_config(chat: &coda_config::ChatConfig) -> Self {
        Self::from_values(
            chat.chat_tool_wait_secs,
            chat.chat_max_steps,
            chat.chat_history_limit,
            chat.chat_llm_timeout_secs,
        )
    }

    /// From the limits as numbers (seconds as floats), clamped to sane bounds.
    pub fn from_values(
        tool_wait_secs: f64,
        max_steps: u32,
        history_limit: u32,
        llm_timeout_secs: f64,
    ) -> Self {
        let secs = |s: f64| {
            Duration::from_secs_f64(if s.is_finite() {
                s.clamp(0.0, 86_400.0)
            } else {
                60.0
            })
        };
        ChatSettings {
            tool_wait: secs(tool_wait_secs),
            max_steps: max_steps.clamp(1, 64) as usize,
            history_limit: history_limit.min(1000) as usize,
            llm_timeout: secs(llm_timeout_secs).max(Duration::from_millis(10)),
            llm_retries: 2,
        }
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            tool_wait: Duration::from_secs(60),
            max_steps: 8,
            history_limit: 20,
            llm_timeout: Duration::from_secs(60),
            llm_retries: 2,
        }
    }
}

/// One tool call as the reply reports it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ToolCallRecord {
    /// The tool.
    pub tool: String,
    /// Its arguments (as the model wrote them when they were not JSON).
    #[schema(value_type = Object)]
    pub args: Value,
    /// `cpu` or `gpu`.
    pub route: String,
    /// Milliseconds it took.
    pub ms: u64,
    /// Whether it succeeded (a `gpu` call still running counts as ok).
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// The job of a `gpu` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// The answer to a chat message.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChatReply {
    /// What the assistant says.
    pub reply: String,
    /// The tool calls, in the order they ran.
    pub tool_calls: Vec<ToolCallRecord>,
    /// The session's score after the calls, when one changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current_score: Option<Value>,
    /// Its revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_rev: Option<u64>,
    /// A signed URL of the audio, when synthesis ran and finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_url: Option<String>,
}

/// The chat use case over the services, the registry, a model and this process's tools.
#[derive(Clone)]
pub struct Chat {
    services: Services,
    registry: Arc<ToolRegistry>,
    llm: Arc<dyn Llm>,
    local: Arc<dyn LocalTools>,
    settings: ChatSettings,
    /// The registry as the model's tool definitions, built once.
    definitions: Arc<[ToolDefinition]>,
}

/// What running one call gave.
struct Outcome {
    result: std::result::Result<Value, Value>,
    job_id: Option<String>,
    /// The score's state after an edit, undo or redo.
    score: Option<ScoreState>,
    audio_url: Option<String>,
}

impl Outcome {
    fn ok(v: Value) -> Self {
        Outcome {
            result: Ok(v),
            job_id: None,
            score: None,
            audio_url: None,
        }
    }

    fn err(e: &CodaError) -> Self {
        Outcome {
            result: Err(error_json(e)),
            job_id: None,
            score: None,
            audio_url: None,
        }
    }
}

fn error_json(e: &CodaError) -> Value {
    json!({"code": e.code(), "message": e.to_string(), "details": e.details()})
}

const SYSTEM: &str = "You are Coda's music assistant. The user has a score in this session and edits it by talking to you. Use the tools: modify_score for edits (its score is the session's, leave it out), undo_score and redo_score, score_info for questions, synthesize to sing a part. Answer briefly and say what you changed.";

impl Chat {
    /// The chat over these parts, built once in the wiring.
    pub fn new(
        services: Services,
        registry: Arc<ToolRegistry>,
        llm: Arc<dyn Llm>,
        local: Arc<dyn LocalTools>,
        settings: ChatSettings,
    ) -> Self {
        let definitions = registry
            .tools()
            .iter()
            .map(|t| ToolDefinition {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
            })
            .collect();
        Chat {
            services,
            registry,
            llm,
            local,
            settings,
            definitions,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// The model's provider name.
    pub fn provider(&self) -> &str {
        self.llm.name()
    }

    /// Handles one user message in session `id`.
    pub async fn send(&self, owner: &Owner, id: &str, message: &str) -> Result<ChatReply> {
        if message.len() > 16 * 1024 {
            return Err(CodaError::Unprocessable {
                code: "INVALID_REQUEST",
                message: format!("the message is {} bytes; at most 16384", message.len()),
                details: json!({"field": "message"}),
            });
        }
        let sessions = &self.services.sessions;
        // The user's message is kept before anything runs (the turn's records follow in one
        // write), while the score is read for the planner: the score as the message found it,
        // since the planner re-plans the same message on its second turn and must get the same
        // plan (after "to G major" the key has changed).
        let (history, context) = tokio::join!(
            async {
                let history = sessions
                    .recent_messages(owner, id, self.settings.history_limit)
                    .await?;
                sessions.add_message(owner, id, "user", message).await?;
                Ok::<_, CodaError>(history)
            },
            self.context(owner, id)
        );
        let history = history?;
        let mut messages: Vec<Message> = history
            .iter()
            .filter_map(|m| match m.role.as_str() {
                "user" => Some(Message::User(m.content.clone())),
                "assistant" => Some(Message::Assistant {
                    text: Some(m.content.clone()),
                    tool_calls: vec![],
                }),
                _ => None,
            })
            .collect();
        messages.push(Message::User(message.to_string()));
        let mut records = Vec::new();
        let mut logged: Vec<String> = Vec::new();
        let mut score: Option<ScoreState> = None;
        let mut audio_url = None;
        let mut reply = None;
        for _ in 0..self.settings.max_steps.max(1) {
            let request = LlmRequest {
                system: SYSTEM.into(),
                messages: messages.clone(),
                tools: self.definitions.clone(),
                context: context.clone(),
            };
            let turn = match self.respond(&request).await {
                Ok(t) => t,
                Err(e) => {
                    reply = Some(format!(
                        "I could not reach the model ({e}); nothing more was done. Your message is kept: send it again in a moment."
                    ));
                    break;
                }
            };
            if turn.tool_calls.is_empty() {
                reply = turn.text;
                break;
            }
            messages.push(Message::Assistant {
                text: turn.text.clone(),
                tool_calls: turn.tool_calls.clone(),
            });
            for call in &turn.tool_calls {
                let (record, mut outcome) = self.run_call(owner, id, call).await;
                if let Some(s) = outcome.score.take() {
                    score = Some(s);
                }
                if outcome.audio_url.is_some() {
                    audio_url = outcome.audio_url.clone();
                }
                let (content, is_error) = match &outcome.result {
                    Ok(v) => (v.clone(), false),
                    Err(e) => (json!({"error": e}), true),
                };
                logged.push(serde_json::to_string(&record).unwrap_or_default());
                records.push(record);
                messages.push(Message::ToolResult {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    content,
                    is_error,
                });
            }
        }
        let reply = reply.unwrap_or_else(|| {
            format!(
                "I stopped after {} steps without a final answer; the calls above ran.",
                self.settings.max_steps
            )
        });
        let mut turn: Vec<(&str, &str)> = logged.iter().map(|r| ("tool", r.as_str())).collect();
        turn.push(("assistant", &reply));
        sessions.add_messages(owner, id, &turn).await?;
        // The state the last edit, undo or redo answered: the score as this turn left it.
        let (current_score, score_rev) = match score {
            Some(s) => (Some(s.score), Some(s.rev)),
            None => (None, None),
        };
        Ok(ChatReply {
            reply,
            tool_calls: records,
            current_score,
            score_rev,
            audio_url,
        })
    }

    /// One model turn, with a timeout and bounded retries of transient failures.
    async fn respond(
        &self,
        request: &LlmRequest,
    ) -> std::result::Result<crate::llm::LlmTurn, LlmError> {
        let mut attempt = 0;
        loop {
            let r = match tokio::time::timeout(self.settings.llm_timeout, self.llm.respond(request))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(LlmError::Timeout(self.settings.llm_timeout)),
            };
            match r {
                Err(e) if e.is_transient() && attempt < self.settings.llm_retries => {
                    attempt += 1;
                    let wait = match &e {
                        LlmError::RateLimited {
                            retry_after_secs: Some(s),
                        } => Duration::from_secs((*s).min(30)),
                        _ => Duration::from_millis(200 * u64::from(attempt)),
                    };
                    tracing::warn!(provider = self.llm.name(), error = %e, attempt, "model turn failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// What the planner (and a provider's prompt) knows of the session's score.
    async fn context(&self, owner: &Owner, id: &str) -> PlanContext {
        let Ok(state) = self.services.scores.summary(owner, id).await else {
            return PlanContext::default();
        };
        let parts = state
            .score
            .parts
            .iter()
            .map(|p| p.name.clone().unwrap_or_default())
            .collect();
        PlanContext {
            parts,
            key_fifths: state.info.key_signature_fifths,
            key_mode: first_mode(&state.score),
            measures: state.info.measures,
            has_score: true,
        }
    }

    /// Runs one call, logs it, and reports it.
    async fn run_call(
        &self,
        owner: &Owner,
        id: &str,
        call: &ToolCall,
    ) -> (ToolCallRecord, Outcome) {
        let started = Instant::now();
        let spec = self.registry.get(&call.name);
        let parsed: std::result::Result<Value, String> = if call.arguments.trim().is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_str(&call.arguments).map_err(|e| e.to_string())
        };
        let (args, outcome, route) = match (spec, parsed) {
            (None, parsed) => {
                let e = CodaError::Unprocessable {
                    code: "UNKNOWN_TOOL",
                    message: format!(
                        "no tool named {:?}; the tools are {}",
                        call.name,
                        self.registry.names().join(", ")
                    ),
                    details: json!({"tool": call.name}),
                };
                (
                    parsed.unwrap_or(Value::String(call.arguments.clone())),
                    Outcome::err(&e),
                    "cpu",
                )
            }
            (Some(spec), Err(why)) => {
                let e = CodaError::Unprocessable {
                    code: "INVALID_ARGUMENTS",
                    message: format!("the arguments of {} are not JSON: {why}", spec.name),
                    details: json!({"tool": spec.name}),
                };
                (
                    Value::String(call.arguments.clone()),
                    Outcome::err(&e),
                    route_name(spec.route),
                )
            }
            (Some(spec), Ok(args)) => {
                let outcome = self.execute(owner, id, spec, &args).await;
                (args, outcome, route_name(spec.route))
            }
        };
        let ms = started.elapsed().as_millis() as u64;
        let ok = outcome.result.is_ok();
        tracing::info!(tool = %call.name, route, ms, ok, job_id = outcome.job_id.as_deref().unwrap_or("-"), "tool call");
        let record = ToolCallRecord {
            tool: call.name.clone(),
            args,
            route: route.into(),
            ms,
            ok,
            error: outcome.result.as_ref().err().cloned(),
            job_id: outcome.job_id.clone(),
        };
        (record, outcome)
    }

    /// Runs a tool for `owner` in session `id`, as its registry entry routes it.
    pub async fn call_tool(
        &self,
        owner: &Owner,
        id: Option<&str>,
        name: &str,
        args: &Value,
    ) -> Result<Value> {
        let spec = self
            .registry
            .get(name)
            .ok_or_else(|| CodaError::Unprocessable {
                code: "UNKNOWN_TOOL",
                message: format!(
                    "no tool named {name:?}; the tools are {}",
                    self.registry.names().join(", ")
                ),
                details: json!({"tool": name}),
            })?;
        let outcome = self
            .execute(owner, id.unwrap_or_default(), spec, args)
            .await;
        outcome.result.map_err(|e| CodaError::Unprocessable {
            code: "TOOL_FAILED",
            message: e["message"]
                .as_str()
                .unwrap_or("the tool failed")
                .to_string(),
            details: e,
        })
    }

    async fn execute(&self, owner: &Owner, id: &str, spec: &ToolSpec, args: &Value) -> Outcome {
        let r = match spec.exec {
            Exec::Local => self.local_tool(owner, id, spec, args).await,
            Exec::Job(kind) => return self.job_tool(owner, id, kind, args).await,
            Exec::ToolJob => {
                return self
                    .job_tool(owner, id, "tool", &json!({"tool": spec.name, "args": args}))
                    .await
            }
        };
        match r {
            Ok(o) => o,
            Err(e) => Outcome::err(&e),
        }
    }

    async fn local_tool(
        &self,
        owner: &Owner,
        id: &str,
        spec: &ToolSpec,
        args: &Value,
    ) -> Result<Outcome> {
        let scores = &self.services.scores;
        let in_session = !id.is_empty();
        let edited = |s: ScoreState| Outcome {
            result: Ok(
                json!({"rev": s.rev, "head": s.head, "can_undo": s.can_undo, "can_redo": s.can_redo, "info": s.info}),
            ),
            job_id: None,
            score: Some(s),
            audio_url: None,
        };
        match spec.name.as_str() {
            "modify_score" if in_session && args.get("score").is_none() => {
                let edits = args.get("edits").cloned().unwrap_or(Value::Null);
                Ok(edited(scores.edit(owner, id, &edits, None).await?))
            }
            "undo_score" | "redo_score" if in_session => {
                let s = if spec.name == "undo_score" {
                    scores.undo(owner, id, None).await?
                } else {
                    scores.redo(owner, id, None).await?
                };
                Ok(edited(s))
            }
            "score_info" if in_session => {
                let s = scores.summary(owner, id).await?;
                let key = s
                    .info
                    .key_signature_fifths
                    .map(|f| describe_key(f, first_mode(&s.score).as_deref()));
                Ok(Outcome::ok(
                    json!({"rev": s.rev, "key": key, "info": s.info}),
                ))
            }
            "undo_score" | "redo_score" | "score_info" => Err(no_session(&spec.name)),
            "parse_score" => {
                let req: coda_vocal::tools::ParseScoreRequest = tool_args(args)?;
                let bytes = match self.session_file(owner, id, &req.file).await? {
                    Some(b) => b,
                    None => req.file.clone().into_bytes(),
                };
                let r = blocking(move || {
                    coda_vocal::tools::parse_score(&bytes, &req).map_err(tool_error)
                })
                .await?;
                Ok(Outcome::ok(
                    serde_json::to_value(r).map_err(CodaError::internal)?,
                ))
            }
            "modify_score" => {
                let req: coda_vocal::tools::ModifyScoreRequest = tool_args(args)?;
                let r = blocking(move || coda_vocal::tools::modify_score(&req).map_err(tool_error))
                    .await?;
                Ok(Outcome::ok(
                    serde_json::to_value(r).map_err(CodaError::internal)?,
                ))
            }
            name => {
                let local = self.local.clone();
                let name2 = name.to_string();
                let mut args = args.clone();
                // In a session, a tool that reads a score reads the current one.
                if in_session
                    && args.get("score").is_none()
                    && spec.parameters["properties"].get("score").is_some()
                {
                    let s = scores.state(owner, id, None).await?;
                    args["score"] = s.score;
                }
                let r = blocking(move || match local.call(&name2, args) {
                    Some(r) => r,
                    None => Err(CodaError::Unavailable(format!(
                        "the tool {name2} cannot run in this process (it needs the CMU dictionary or the voices folder)"
                    ))),
                })
                .await?;
                Ok(Outcome::ok(r))
            }
        }
    }

    async fn session_file(&self, owner: &Owner, id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        if id.is_empty() || name.len() > 200 || name.contains(['<', '{', '\n']) {
            return Ok(None);
        }
        let view = self.services.sessions.view(owner, id).await?;
        match view.files.iter().find(|f| f.name == name) {
            Some(f) => {
                let data = self.services.access.blob(owner, &f.key, None).await?;
                Ok(Some(data.bytes.to_vec()))
            }
            None => Ok(None),
        }
    }

    async fn job_tool(&self, owner: &Owner, id: &str, kind: &str, args: &Value) -> Outcome {
        let Some(spec) = self.services.jobs.kinds().registry.get(kind).copied() else {
            return Outcome::err(&CodaError::Unprocessable {
                code: "UNKNOWN_JOB_KIND",
                message: format!("job kind '{kind}' is not registered here"),
                details: json!({"kind": kind}),
            });
        };
        let (params, mut inputs, session) = if kind == "tool" {
            (args.clone(), Default::default(), None)
        } else {
            split_job_args(&spec, args)
        };
        let mut session = session.or_else(|| (!id.is_empty()).then(|| id.to_string()));
        // A score given as text (an MCP client has no upload) becomes a session's next revision,
        // which the job then reads as the session's score; without a session, one is made.
        let mut made_session = None;
        if let Some(text) = inputs.get("score").filter(|v| is_inline_score(v)).cloned() {
            let sid = match &session {
                Some(s) => s.clone(),
                None => match self.services.sessions.create(owner).await {
                    Ok(s) => {
                        made_session = Some(s.session_id.clone());
                        s.session_id
                    }
                    Err(e) => return Outcome::err(&e),
                },
            };
            if let Err(e) = self.store_inline_score(owner, &sid, text).await {
                return Outcome::err(&e);
            }
            inputs.remove("score");
            session = Some(sid);
        }
        // A session file named by its name.
        if let Some(sid) = &session {
            for v in inputs.values_mut() {
                if !v.contains('/') && !v.starts_with("job:") {
                    *v = format!("sessions/{sid}/files/{v}");
                }
            }
        }
        let job = NewJob {
            kind: kind.into(),
            input_key: None,
            inputs,
            params,
            webhook_url: None,
            session_id: session,
        };
        let mut tries = 0;
        loop {
            tries += 1;
            let job = match self.services.jobs.submit(owner, job.clone()).await {
                Ok(j) => j,
                Err(e) => return Outcome::err(&e),
            };
            let job_id = job.job_id.clone();
            let ended = self.wait(owner, &job_id).await;
            let view = match ended {
                Ok(Some(j)) => match self.services.jobs.view(j).await {
                    Ok(v) => v,
                    Err(e) => {
                        return Outcome {
                            job_id: Some(job_id),
                            ..Outcome::err(&e)
                        }
                    }
                },
                Ok(None) => {
                    return Outcome {
                        result: Ok(
                            json!({"job_id": job_id, "status": "running", "message": format!(
                            "still running after {:.1} s: poll GET /v1/jobs/{job_id} or wait for its webhook",
                            self.settings.tool_wait.as_secs_f64())}),
                        ),
                        job_id: Some(job_id),
                        score: None,
                        audio_url: None,
                    }
                }
                Err(e) => {
                    return Outcome {
                        job_id: Some(job_id),
                        ..Outcome::err(&e)
                    }
                }
            };
            match view.status {
                JobStatus::Succeeded => {
                    let audio_url = spec.session_audio.and_then(|slot| {
                        view.outputs
                            .iter()
                            .find(|o| o.name.split('.').next() == Some(slot))
                            .map(|o| o.url.clone())
                    });
                    let mut result = json!({
                        "job_id": view.job_id, "status": "succeeded",
                        "outputs": view.outputs.iter().map(|o| json!({"name": o.name, "url": o.url, "content_type": o.content_type, "bytes": o.bytes})).collect::<Vec<_>>(),
                        "warnings": view.warnings,
                    });
                    if let Some(sid) = &made_session {
                        result["session_id"] = json!(sid);
                    }
                    if kind == "tool" {
                        if let Some(o) = view.outputs.iter().find(|o| o.name == "result.json") {
                            if let Ok(d) = self.services.access.blob(owner, &o.key, None).await {
                                result = serde_json::from_slice(&d.bytes).unwrap_or(result);
                            }
                        }
                    }
                    return Outcome {
                        result: Ok(result),
                        job_id: Some(view.job_id),
                        score: None,
                        audio_url,
                    };
                }
                // A worker that died took its attempts with it: one more job.
                JobStatus::Failed
                    if tries < 2
                        && view
                            .error
                            .as_ref()
                            .is_some_and(|e| e.code == "RETRIES_EXHAUSTED") =>
                {
                    tracing::warn!(job_id = %view.job_id, "the tool's job lost its worker; retrying once");
                    continue;
                }
                status => {
                    let error = view.error.clone();
                    return Outcome {
                        result: Err(json!({
                            "code": error.as_ref().map_or("JOB_FAILED", |e| e.code.as_str()),
                            "message": error.as_ref().map_or_else(|| format!("the job ended {status:?}"), |e| e.message.clone()),
                            "details": {"job_id": view.job_id},
                        })),
                        job_id: Some(view.job_id),
                        score: None,
                        audio_url: None,
                    };
                }
            }
        }
    }

    /// Reads `text` (MusicXML, or a score's JSON form) and stores it as session `sid`'s next revision.
    async fn store_inline_score(&self, owner: &Owner, sid: &str, text: String) -> Result<()> {
        let json_form = text.trim_start().starts_with('{');
        let parsed = blocking(move || {
            let format = json_form.then_some(coda_music::FileFormat::Json);
            coda_music::read_score_file(text.as_bytes(), format)
                .map_err(|e| coda_core::services::scores::invalid_score("score", &e))
        })
        .await?;
        self.services
            .scores
            .replace(owner, sid, &parsed.score, parsed.warnings)
            .await?;
        Ok(())
    }

    /// The job once it ended, or `None` when the wait ran out.
    async fn wait(&self, owner: &Owner, job_id: &str) -> Result<Option<coda_core::model::Job>> {
        let until = Instant::now() + self.settings.tool_wait;
        let mut pause = Duration::from_millis(10);
        loop {
            let j = self.services.jobs.get(owner, job_id).await?;
            if j.status.is_terminal() {
                return Ok(Some(j));
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            tokio::time::sleep(pause.min(until.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}

/// A `score` input that is the score itself rather than a reference to one (keys and session
/// file names never start with `<` or `{`).
fn is_inline_score(v: &str) -> bool {
    v.trim_start().starts_with(['<', '{'])
}

fn route_name(r: Route) -> &'static str {
    match r {
        Route::Cpu => "cpu",
        Route::Gpu => "gpu",
    }
}

fn no_session(tool: &str) -> CodaError {
    CodaError::Unprocessable {
        code: "NO_SESSION",
        message: format!("{tool} works on a session's score: call it in a session"),
        details: json!({"tool": tool}),
    }
}

fn tool_args<T: serde::de::DeserializeOwned>(args: &Value) -> Result<T> {
    serde_json::from_value(if args.is_null() {
        json!({})
    } else {
        args.clone()
    })
    .map_err(|e| CodaError::Unprocessable {
        code: "INVALID_ARGUMENTS",
        message: format!("bad arguments: {e}"),
        details: json!({}),
    })
}

fn tool_error(e: coda_vocal::tools::ToolError) -> CodaError {
    CodaError::Unprocessable {
        code: e.code,
        message: e.message,
        details: json!({"field": e.field}),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CodaError::Internal(format!("tool task failed: {e}")))?
}

/// The mode of the score's first key signature, when written.
fn first_mode(score: &coda_music::Score) -> Option<String> {
    let key = score.parts.iter().flat_map(|p| &p.measures).find_map(|m| {
        m.attributes
            .as_ref()
            .and_then(|a| a.key.as_ref())
            .or_else(|| {
                m.items.iter().find_map(|i| match i {
                    coda_music::Item::Attributes(a) => a.key.as_ref(),
                    _ => None,
                })
            })
    })?;
    key.mode.clone()
}
