//! The one tool registry: every job kind is a tool, and S0's tools that are not jobs, with the
//! session tools, are registered beside them. It feeds the LLM's tool definitions, the MCP
//! server, the routing table and `GET /v1/tools`.

use coda_core::kinds::{KindRegistry, KindSpec, Route};
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// How a tool runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exec {
    /// In the calling process (the chat, the MCP server): pure code over the session.
    Local,
    /// As a job of this kind (its args are the kind's params and named inputs).
    Job(&'static str),
    /// As a `tool` job: the worker runs the tool by name (S0's predictors and renderers).
    ToolJob,
}

/// One tool, registered once.
#[derive(Clone, Debug, Serialize)]
pub struct ToolSpec {
    /// Its name, as the LLM and MCP clients call it.
    pub name: String,
    /// One line for the LLM and documents.
    pub description: String,
    /// `cpu` (runs in the chat process) or `gpu` (a job on the model service's queue).
    pub route: Route,
    /// How it runs.
    #[serde(skip)]
    pub exec: Exec,
    /// The arguments' JSON Schema (2020-12, self-contained).
    pub parameters: Value,
    /// The result's JSON Schema.
    pub result: Value,
}

/// The tools of a deployment, in the order documents list them.
#[derive(Clone, Debug, Default)]
pub struct ToolRegistry {
    tools: Vec<ToolSpec>,
}

/// The session tools, which are not S0's: what the chat's undo, redo and questions call.
const SESSION_TOOLS: &[(&str, &str)] = &[
    (
        "undo_score",
        "Go back to the session score's previous revision.",
    ),
    (
        "redo_score",
        "Go forward again to the revision an undo left.",
    ),
    (
        "score_info",
        "The session score's summary: parts, measures, key, tempo, duration.",
    ),
];

/// S0's tools that the chat runs in its own process.
const LOCAL_S0: &[&str] = &[
    "parse_score",
    "modify_score",
    "phonemize",
    "align_phonemes_to_notes",
    "list_voicebanks",
    "get_voicebank_info",
];

impl ToolRegistry {
    /// S0's tools, the session tools, and a tool per kind of `kinds` (a kind named like an S0
    /// tool, `synthesize`, replaces it: the job carries progress, webhooks and the session's audio).
    pub fn builtin(kinds: &KindRegistry) -> Self {
        let s0: Value =
            serde_json::from_str(coda_jobs::synthesize::S0_TOOL_SCHEMAS).unwrap_or(json!({}));
        let mut tools = Vec::new();
        if let Some(s0) = s0.as_object() {
            for (name, t) in s0 {
                if kinds.get(name).is_some() {
                    continue;
                }
                let local = LOCAL_S0.contains(&name.as_str());
                tools.push(ToolSpec {
                    name: name.clone(),
                    description: t["description"].as_str().unwrap_or_default().to_string(),
                    route: if local { Route::Cpu } else { Route::Gpu },
                    exec: if local { Exec::Local } else { Exec::ToolJob },
                    parameters: session_form(&t["request"]),
                    result: t["response"].clone(),
                });
            }
        }
        for (name, description) in SESSION_TOOLS {
            tools.push(ToolSpec {
                name: (*name).into(),
                description: (*description).into(),
                route: Route::Cpu,
                exec: Exec::Local,
                parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
                result: session_result_schema(name),
            });
        }
        // `tool` is the vehicle of the ToolJob tools, not a tool of its own.
        for spec in kinds.specs().iter().filter(|s| s.name != "tool") {
            tools.push(kind_tool(spec));
        }
        let order = |t: &ToolSpec| match S0_ORDER.iter().position(|n| *n == t.name) {
            Some(i) => i,
            None => S0_ORDER.len(),
        };
        tools.sort_by_key(order);
        ToolRegistry { tools }
    }

    /// Adds a tool, replacing one of the same name.
    pub fn register(&mut self, spec: ToolSpec) {
        self.tools.retain(|t| t.name != spec.name);
        self.tools.push(spec);
    }

    /// Every tool.
    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    /// The tool named `name`.
    pub fn get(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// The names, in order (for "unknown tool" errors).
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name.as_str()).collect()
    }
}

/// S0's order; the rest follow in registration order (a stable sort keeps it).
const S0_ORDER: &[&str] = &[
    "parse_score",
    "modify_score",
    "phonemize",
    "align_phonemes_to_notes",
    "list_voicebanks",
    "get_voicebank_info",
    "predict_durations",
    "predict_pitch",
    "predict_variance",
    "synthesize_audio",
    "synthesize",
    "save_audio",
];

fn session_result_schema(name: &str) -> Value {
    match name {
        "score_info" => json!({
            "type": "object",
            "description": "The score's summary (parse_score's `info`) and its key in words.",
            "properties": {
                "rev": {"type": "integer"},
                "key": {"type": ["string", "null"], "description": "\"G major\", from the first key signature"},
                "info": {"type": "object"}
            }
        }),
        _ => json!({
            "type": "object",
            "description": "The revision now current.",
            "properties": { "rev": {"type": "integer"}, "head": {"type": "integer"} }
        }),
    }
}

/// A `score` argument made optional (in a session it is the current score) and the large
/// score schema dropped: an LLM need not, and should not, send a whole score back.
fn session_form(request: &Value) -> Value {
    let mut r = request.clone();
    let Some(o) = r.as_object_mut() else {
        return r;
    };
    o.remove("$schema");
    if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
        if props.contains_key("score") {
            props.insert(
                "score".into(),
                json!({"description": "The score in Coda's JSON form; omitted in a session: the session's current score", "type": "object"}),
            );
        }
    }
    if let Some(req) = o.get_mut("required").and_then(Value::as_array_mut) {
        req.retain(|v| v != "score");
    }
    prune_defs(&mut r);
    r
}

/// Drops `$defs` entries nothing references any more.
fn prune_defs(schema: &mut Value) {
    let Some(defs) = schema.get("$defs").and_then(Value::as_object).cloned() else {
        return;
    };
    let mut body = schema.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("$defs");
    }
    let mut keep: Vec<String> = Vec::new();
    let mut todo = vec![body];
    while let Some(v) = todo.pop() {
        let mut refs = Vec::new();
        collect_refs(&v, &mut refs);
        for r in refs {
            if let Some(name) = r.strip_prefix("#/$defs/") {
                if !keep.iter().any(|k| k == name) {
                    keep.push(name.to_string());
                    if let Some(d) = defs.get(name) {
                        todo.push(d.clone());
                    }
                }
            }
        }
    }
    let kept: Map<String, Value> = defs.into_iter().filter(|(k, _)| keep.contains(k)).collect();
    if let Some(o) = schema.as_object_mut() {
        if kept.is_empty() {
            o.remove("$defs");
        } else {
            o.insert("$defs".into(), Value::Object(kept));
        }
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// A kind as a tool: its params, its named inputs and `session_id` as arguments.
fn kind_tool(spec: &KindSpec) -> ToolSpec {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut params = serde_json::to_value(spec.params_schema(&mut generator)).unwrap_or(json!({}));
    let o = params
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut props = o
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for slot in spec.inputs {
        props.insert(
            slot.name.into(),
            json!({"type": "string", "description": format!(
                "{}: a blob key you own, `job:{{id}}/{{output}}`, or a file of the session by name{}",
                slot.description,
                if slot.name == "score" { "; in a session, omitted means its current score; MusicXML text or a score's JSON form is stored as the session's next revision (in a new session when none is given: its id comes back as `session_id`)" } else { "" }
            )}),
        );
    }
    props.insert(
        "session_id".into(),
        json!({"type": "string", "description": "The session the job belongs to (the chat fills it in)."}),
    );
    let parameters = json!({
        "type": "object",
        "description": format!("A `{}` job: its parameters and its inputs.", spec.name),
        "properties": props,
        "additionalProperties": false,
    });
    ToolSpec {
        name: spec.name.into(),
        description: spec.description.into(),
        route: spec.route,
        exec: Exec::Job(spec.name),
        parameters,
        result: json!({
            "type": "object",
            "description": "The job: its id and status; when it ended within the wait, its outputs with signed URLs.",
            "properties": {
                "job_id": {"type": "string"},
                "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
                "outputs": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "url": {"type": "string"},
                    "content_type": {"type": "string"}, "bytes": {"type": "integer"}}}},
                "warnings": {"type": "array", "items": {"type": "string"}},
                "session_id": {"type": "string", "description": "The session made to hold a score given as text, when none was given"},
                "error": {"type": ["object", "null"]}
            },
            "required": ["job_id", "status"]
        }),
    }
}

/// The job params and named inputs a kind tool's arguments hold.
pub fn split_job_args(
    spec: &KindSpec,
    args: &Value,
) -> (
    Value,
    std::collections::BTreeMap<String, String>,
    Option<String>,
) {
    let mut params = Map::new();
    let mut inputs = std::collections::BTreeMap::new();
    let mut session = None;
    if let Some(o) = args.as_object() {
        for (k, v) in o {
            if k == "session_id" {
                session = v.as_str().map(str::to_string);
            } else if spec.inputs.iter().any(|s| s.name == k) {
                if let Some(s) = v.as_str() {
                    inputs.insert(k.clone(), s.to_string());
                } else {
                    // Left for the params check to refuse with the field named.
                    params.insert(k.clone(), v.clone());
                }
            } else {
                params.insert(k.clone(), v.clone());
            }
        }
    }
    (Value::Object(params), inputs, session)
}
