//! The registry of job kinds: each kind is declared once, as a [`KindSpec`].
//!
//! A spec names the kind, says where it runs, declares its inputs, outputs
//! and model artifacts, and carries its params type's JSON Schema and checks.
//! Everything else is derived from the registry: which kinds exist, params
//! validation at submit, the OpenAPI enum and per-kind schemas, what the model
//! installer fetches and the worker's default kinds. Runners are attached
//! separately (`coda-jobs`), so the API side (a Lambda) validates without
//! linking any model code.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::params::parse;
use crate::{CodaError, Result};

/// A job kind's wire name, e.g. `probe`; which names exist is the registry's business.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobKind(Cow<'static, str>);

impl JobKind {
    /// A kind from a name known at compile time.
    pub const fn from_static(name: &'static str) -> Self {
        JobKind(Cow::Borrowed(name))
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for JobKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // The served document replaces this with the registry's enum.
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A job kind; the served document lists them."))
            .into()
    }
}

impl utoipa::ToSchema for JobKind {}

/// Where a kind's jobs run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Cheap work that any worker (or the chat process) can do.
    Cpu,
    /// Model inference: the GPU worker's queue.
    Gpu,
}

/// A named input or output of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The name: `audio` for an input; for an output the file's stem (`notes` is `notes.json`).
    pub name: &'static str,
    /// Accepted (inputs) or produced (outputs) content types; `audio/*` matches any audio type.
    pub content_types: &'static [&'static str],
    /// What it holds, in words.
    pub description: &'static str,
}

impl Slot {
    /// Whether `content_type` fits this slot.
    pub fn accepts(&self, content_type: &str) -> bool {
        self.content_types.iter().any(|t| {
            t.strip_suffix("/*").map_or(*t == content_type, |major| {
                content_type
                    .split_once('/')
                    .is_some_and(|(m, _)| m == major)
            })
        })
    }
}

/// A kind's parameters: serde for the wire, a JSON Schema for documents, and checks the types cannot express.
pub trait KindParams: DeserializeOwned + Default + JsonSchema + 'static {
    /// Range and combination checks; a failure is a 422 `INVALID_PARAMS`.
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// Parameters of a kind that takes none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl KindParams for NoParams {}

/// One job kind, declared once.
#[derive(Clone, Copy)]
pub struct KindSpec {
    /// Wire name.
    pub name: &'static str,
    /// One line for documents and tools.
    pub description: &'static str,
    /// Where it runs.
    pub route: Route,
    /// Named inputs, in order; the first is the one `input_key` fills.
    pub inputs: &'static [Slot],
    /// What it writes under `results/{job_id}/`.
    pub outputs: &'static [Slot],
    /// Names of the model artifacts it needs (the installer's names).
    pub artifacts: &'static [&'static str],
    /// Name of the params schema in documents, e.g. `TranscribeParams`.
    pub params_name: &'static str,
    /// The output (by slot name) that becomes its session's latest audio when the job succeeds.
    pub session_audio: Option<&'static str>,
    validate: fn(&Value) -> Result<()>,
    schema: fn(&mut SchemaGenerator) -> schemars::Schema,
}

impl fmt::Debug for KindSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindSpec")
            .field("name", &self.name)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

fn validate_as<P: KindParams>(params: &Value) -> Result<()> {
    parse::<P>(params)?.check()
}

fn schema_of<P: KindParams>(generator: &mut SchemaGenerator) -> schemars::Schema {
    P::json_schema(generator)
}

impl KindSpec {
    /// A kind with params type `P`, no inputs, outputs or artifacts yet.
    pub const fn new<P: KindParams>(
        name: &'static str,
        description: &'static str,
        route: Route,
        params_name: &'static str,
    ) -> Self {
        KindSpec {
            name,
            description,
            route,
            inputs: &[],
            outputs: &[],
            artifacts: &[],
            params_name,
            session_audio: None,
            validate: validate_as::<P>,
            schema: schema_of::<P>,
        }
    }

    /// With these named inputs.
    pub const fn inputs(mut self, inputs: &'static [Slot]) -> Self {
        self.inputs = inputs;
        self
    }

    /// With these outputs.
    pub const fn outputs(mut self, outputs: &'static [Slot]) -> Self {
        self.outputs = outputs;
        self
    }

    /// Needing these model artifacts.
    pub const fn artifacts(mut self, artifacts: &'static [&'static str]) -> Self {
        self.artifacts = artifacts;
        self
    }

    /// Whose output `slot` becomes the session's audio (`GET /v1/sessions/{id}/audio`).
    pub const fn session_audio(mut self, slot: &'static str) -> Self {
        self.session_audio = Some(slot);
        self
    }

    /// The kind's id.
    pub const fn kind(&self) -> JobKind {
        JobKind::from_static(self.name)
    }

    /// Checks `params` (null or an object): unknown fields, wrong types and bad values are 422 `INVALID_PARAMS`.
    pub fn validate(&self, params: &Value) -> Result<()> {
        (self.validate)(params)
    }

    /// The params' JSON Schema (2020-12); named subschemas go to `generator`'s definitions.
    pub fn params_schema(&self, generator: &mut SchemaGenerator) -> schemars::Schema {
        (self.schema)(generator)
    }

    /// Whether an input of `content_type` suits the kind's first input.
    pub fn accepts_input(&self, content_type: &str) -> bool {
        self.inputs.first().is_none_or(|s| s.accepts(content_type))
    }
}

/// The kinds a build knows, in the order documents list them.
#[derive(Clone, Debug, Default)]
pub struct KindRegistry {
    specs: Vec<KindSpec>,
}

impl KindRegistry {
    /// A registry of these specs; a later spec with a taken name replaces the earlier one.
    pub fn new(specs: impl IntoIterator<Item = KindSpec>) -> Self {
        let mut r = KindRegistry::default();
        for s in specs {
            r.register(s);
        }
        r
    }

    /// Adds a spec (or replaces the one with its name).
    pub fn register(&mut self, spec: KindSpec) {
        match self.specs.iter_mut().find(|s| s.name == spec.name) {
            Some(slot) => *slot = spec,
            None => self.specs.push(spec),
        }
    }

    /// With one more spec, for chaining.
    pub fn with(mut self, spec: KindSpec) -> Self {
        self.register(spec);
        self
    }

    /// Every spec, in order.
    pub fn specs(&self) -> &[KindSpec] {
        &self.specs
    }

    /// Every kind, in order.
    pub fn kinds(&self) -> Vec<JobKind> {
        self.specs.iter().map(KindSpec::kind).collect()
    }

    /// The spec of `kind`, if registered.
    pub fn get(&self, kind: &str) -> Option<&KindSpec> {
        self.specs.iter().find(|s| s.name == kind)
    }

    /// The spec of a wire name; an unknown name is a 422 `UNKNOWN_JOB_KIND` listing the known ones.
    pub fn parse(&self, name: &str) -> Result<&KindSpec> {
        self.get(name).ok_or_else(|| CodaError::Unprocessable {
            code: "UNKNOWN_JOB_KIND",
            message: format!("unknown job kind '{name}'"),
            details: json!({
                "kind": name,
                "known": self.specs.iter().map(|s| s.name).collect::<Vec<_>>()
            }),
        })
    }

    /// Parses comma-separated kind names (as `CODA_JOB_KINDS` holds them); empty means every kind.
    pub fn parse_list(&self, list: &str) -> Result<Vec<JobKind>> {
        let names: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(self.kinds());
        }
        names
            .into_iter()
            .map(|n| self.parse(n).map(KindSpec::kind))
            .collect()
    }

    /// The distinct artifact names of `kinds`, in registry order.
    pub fn artifacts_of(&self, kinds: &[JobKind]) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for spec in self.specs.iter().filter(|s| kinds.contains(&s.kind())) {
            for a in spec.artifacts {
                if !out.contains(a) {
                    out.push(a);
                }
            }
        }
        out
    }
}

/// The kinds a deployment knows (its registry) and the ones it runs.
#[derive(Clone, Debug, Default)]
pub struct Kinds {
    /// Every known kind.
    pub registry: KindRegistry,
    /// The kinds with a worker behind them, in registry order.
    pub available: Vec<JobKind>,
}

impl Kinds {
    /// `registry`, running those of `available` that it knows.
    pub fn new(registry: KindRegistry, available: &[JobKind]) -> Self {
        let available = registry
            .kinds()
            .into_iter()
            .filter(|k| available.contains(k))
            .collect();
        Kinds {
            registry,
            available,
        }
    }

    /// The spec of a kind a client asked for: 422 `UNKNOWN_JOB_KIND`, or `JOB_KIND_UNAVAILABLE` when nothing runs it here.
    pub fn runnable(&self, name: &str) -> Result<&KindSpec> {
        let spec = self.registry.parse(name)?;
        if self.available.iter().any(|k| k.as_str() == name) {
            return Ok(spec);
        }
        Err(CodaError::Unprocessable {
            code: "JOB_KIND_UNAVAILABLE",
            message: format!("job kind '{name}' is not available on this server"),
            details: json!({
                "kind": name,
                "available": self.available.iter().map(JobKind::as_str).collect::<Vec<_>>()
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Speed {
        rate: Option<f64>,
    }

    impl KindParams for Speed {
        fn check(&self) -> Result<()> {
            match self.rate {
                Some(r) if r <= 0.0 => Err(CodaError::unprocessable(
                    "INVALID_PARAMS",
                    "rate must be positive",
                )),
                _ => Ok(()),
            }
        }
    }

    const AUDIO: &[Slot] = &[Slot {
        name: "audio",
        content_types: &["audio/*"],
        description: "any decodable audio",
    }];

    fn registry() -> KindRegistry {
        KindRegistry::new([
            KindSpec::new::<NoParams>("tick", "no input", Route::Cpu, "TickParams"),
            KindSpec::new::<Speed>("speed", "audio in", Route::Gpu, "SpeedParams")
                .inputs(AUDIO)
                .artifacts(&["runtime", "weights"]),
            KindSpec::new::<NoParams>("late", "", Route::Cpu, "LateParams").artifacts(&["runtime"]),
        ])
    }

    #[test]
    fn specs_validate_with_their_params_type() {
        let r = registry();
        let speed = r.parse("speed").unwrap();
        speed.validate(&Value::Null).unwrap();
        speed.validate(&json!({"rate": 2.0})).unwrap();
        for bad in [json!({"rate": -1.0}), json!({"rat": 1}), json!([1])] {
            assert_eq!(speed.validate(&bad).unwrap_err().code(), "INVALID_PARAMS");
        }
        assert_eq!(
            r.parse("tick")
                .unwrap()
                .validate(&json!({"x": 1}))
                .unwrap_err()
                .code(),
            "INVALID_PARAMS"
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = registry().parse("dance").unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_JOB_KIND");
        assert_eq!(err.details()["known"], json!(["tick", "speed", "late"]));
    }

    #[test]
    fn lists_artifacts_and_slots_come_from_the_specs() {
        let r = registry();
        assert_eq!(r.parse_list(" ").unwrap(), r.kinds());
        assert_eq!(
            r.parse_list("speed, tick").unwrap(),
            vec![JobKind::from_static("speed"), JobKind::from_static("tick")]
        );
        assert_eq!(
            r.parse_list("speed,nope").unwrap_err().code(),
            "UNKNOWN_JOB_KIND"
        );
        assert_eq!(r.artifacts_of(&r.kinds()), vec!["runtime", "weights"]);
        assert_eq!(
            r.artifacts_of(&[JobKind::from_static("late")]),
            vec!["runtime"]
        );
        let speed = r.get("speed").unwrap();
        assert!(speed.accepts_input("audio/flac"));
        assert!(!speed.accepts_input("application/vnd.recordare.musicxml"));
        assert!(r.get("tick").unwrap().accepts_input("anything/at-all"));
    }

    #[test]
    fn kinds_without_a_runner_are_known_but_unavailable() {
        let kinds = Kinds::new(
            registry(),
            &[JobKind::from_static("speed"), JobKind::from_static("nope")],
        );
        assert_eq!(kinds.available, vec![JobKind::from_static("speed")]);
        assert_eq!(kinds.runnable("speed").unwrap().name, "speed");
        let err = kinds.runnable("tick").unwrap_err();
        assert_eq!(err.code(), "JOB_KIND_UNAVAILABLE");
        assert_eq!(err.details()["available"], json!(["speed"]));
        assert_eq!(
            kinds.runnable("dance").unwrap_err().code(),
            "UNKNOWN_JOB_KIND"
        );
    }

    #[test]
    fn registering_a_taken_name_replaces_it() {
        let r = registry().with(KindSpec::new::<NoParams>("tick", "again", Route::Gpu, "T"));
        assert_eq!(r.specs().len(), 3);
        assert_eq!(r.get("tick").unwrap().description, "again");
    }

    #[test]
    fn params_schemas_come_from_the_type() {
        let mut g = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let schema = registry().get("speed").unwrap().params_schema(&mut g);
        let v = serde_json::to_value(schema).unwrap();
        assert!(v["properties"].get("rate").is_some(), "{v}");
        assert_eq!(v["additionalProperties"], json!(false), "{v}");
    }

    #[test]
    fn kinds_serialise_as_their_name() {
        let k: JobKind = serde_json::from_str("\"probe\"").unwrap();
        assert_eq!(k, JobKind::from_static("probe"));
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"probe\"");
    }
}
