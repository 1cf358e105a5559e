//! Coda's one configuration: typed sections, one per capability, read the same way by
//! `coda serve`, `coda-worker` and every Lambda function.
//!
//! Layers, later ones winning: the defaults, an optional TOML file, then one
//! `CODA_<SETTING>` environment variable per setting. Setting names are unique
//! across sections, so the environment stays flat (`CODA_MAX_UPLOAD_BYTES`)
//! while a file may group them (`[limits] max_upload_bytes = ...`) or list them
//! flat at the top.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coda_core::ports::{HostResolver, PinnedHosts, SystemResolver};
use coda_core::services::{Limits, QuotaPolicy};
use coda_core::webhooks::AddressPolicy;
use serde::{Deserialize, Serialize};

/// What went wrong reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// A setting nobody knows (a typo, most likely).
    #[error("unknown setting '{key}' in {path}")]
    Unknown {
        /// The setting.
        key: String,
        /// Where it was.
        path: String,
    },
    /// A value of the wrong type or outside its range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LogFormat {
    /// Human-readable lines for a terminal.
    Text,
    /// One JSON object per line (CloudWatch-friendly).
    Json,
}

/// Where `coda serve` keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Backend {
    /// A folder and SQLite in the data dir.
    Local,
    /// S3, DynamoDB and SQS named by `aws_prefix`, from the standard AWS environment.
    Aws,
}

/// Which execution provider model jobs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ModelDevice {
    /// CUDA when the installed ONNX Runtime has it and a GPU answers, else the CPU.
    Auto,
    /// Always the CPU.
    Cpu,
}

/// The HTTP server and the local process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub addr: String,
    /// Base URL put in signed URLs; defaults to `http://{bound address}`.
    pub public_url: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Lifetime of tokens printed by `coda serve` and `coda token`, in seconds.
    pub token_ttl_secs: f64,
    /// How often expired sessions are evicted, in seconds.
    pub evict_every_secs: f64,
    /// Longest wait for a request's header, and for the next request on a kept-alive connection, in seconds.
    pub header_read_timeout_secs: f64,
    /// Most HTTP connections served at once.
    pub max_connections: usize,
}

/// Where state lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Local folder/SQLite, or AWS.
    pub backend: Backend,
    /// Where the database, blobs and signing secret live (local backend).
    pub data_dir: PathBuf,
    /// Prefix of the AWS resource names (`{prefix}-blobs`, `{prefix}-jobs`, ...).
    pub aws_prefix: String,
}

/// Sizes and lifetimes the API enforces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
    /// Session lifetime in seconds.
    pub session_ttl_secs: f64,
    /// Lifetime of signed upload URLs in seconds.
    pub upload_url_ttl_secs: f64,
    /// Lifetime of signed download URLs in seconds.
    pub download_url_ttl_secs: f64,
    /// Authenticated requests a user may make per minute; 0 means unlimited.
    pub requests_per_minute: u32,
    /// Jobs of one kind a user may submit per hour, for kinds `jobs_per_hour_by_kind` does not name; 0 means unlimited.
    pub jobs_per_hour: u32,
    /// Hourly job limits of named kinds, `kind=n,kind=n` (0 means unlimited).
    pub jobs_per_hour_by_kind: String,
    /// Multiplies the quota windows (a minute for requests, an hour for jobs); tests compress them.
    pub quota_window_scale: f64,
}

/// The job queue and its workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Worker tasks pulling the jobs queue; 0 means one per core.
    pub workers: usize,
    /// Whether `coda serve` runs job workers itself (off when separate `coda-worker`s do).
    pub run_workers: bool,
    /// The kinds the workers run (comma-separated); empty means every registered kind.
    pub job_kinds: String,
    /// Visibility timeout of a received job message in seconds (renewed while the job runs).
    pub job_visibility_secs: f64,
    /// Receives after which a job message goes to the dead-letter queue.
    pub max_receives: u32,
    /// Delay before a transiently failed (or waiting) job is tried again, in seconds.
    pub retry_delay_secs: f64,
    /// On shutdown, how long running jobs may finish before they go back to the queue, in seconds.
    pub shutdown_grace_secs: f64,
}

/// Webhook delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether webhooks may target loopback addresses (on for local use and tests).
    pub webhook_allow_loopback: bool,
    /// Whether webhooks may target private networks (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10).
    pub webhook_allow_private: bool,
    /// Time limit of one webhook attempt, in seconds.
    pub webhook_timeout_secs: f64,
    /// Multiplies the webhook retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 24 h, 24 h); tests compress it.
    pub webhook_retry_scale: f64,
    /// Host names pinned to addresses, `name=ip[|ip],name=ip` (like curl's `--resolve`); each is checked like a resolved name.
    pub webhook_pinned_hosts: String,
}

/// Model files and how they run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Where `coda models install` puts the model files and ONNX Runtime (default `$XDG_DATA_HOME/coda/models`, else `~/.local/share/coda/models`).
    pub models_dir: PathBuf,
    /// Threads ONNX Runtime uses per model call; 0 means one per core.
    pub model_threads: usize,
    /// `auto` (CUDA when available) or `cpu`.
    pub model_device: ModelDevice,
}

/// `transcribe` jobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscribeConfig {
    /// Basic Pitch windows per model call.
    pub transcribe_batch: usize,
}

/// `separate` jobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeparateConfig {
    /// An HT-Demucs ONNX export (demucs-onnx layout) for `separate` jobs with `model: htdemucs`; unset means `htdemucs.onnx` in `models_dir`.
    pub htdemucs_model: Option<PathBuf>,
    /// Longest input a `separate` job accepts, in seconds (its memory grows with the length).
    pub separate_max_seconds: f64,
}

/// `synthesize` jobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SingConfig {
    /// The folder of DiffSinger voicebanks (one subfolder each, as OpenUtau lays them out).
    pub voices_dir: PathBuf,
}

impl Default for SingConfig {
    fn default() -> Self {
        Self {
            voices_dir: user_voices_dir(),
        }
    }
}

/// The chat (`POST /v1/sessions/{id}/chat`) and its tool calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// How long a `gpu` tool call waits for its job before the reply carries its `job_id`, in seconds.
    pub chat_tool_wait_secs: f64,
    /// Model turns per message at most.
    pub chat_max_steps: u32,
    /// Earlier chat turns the model reads.
    pub chat_history_limit: u32,
    /// How long one model turn may take, in seconds.
    pub chat_llm_timeout_secs: f64,
    /// The model: `planner` (built in, no network), `openai` (any Chat Completions server) or `bedrock`.
    pub chat_provider: String,
    /// The Chat Completions server's base URL (`openai`).
    pub chat_base_url: String,
    /// The model's name (`openai`) or model id (`bedrock`).
    pub chat_model: String,
    /// The environment variable that holds the API key (`openai`); the key itself is never configured.
    pub chat_api_key_env: String,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            chat_tool_wait_secs: 60.0,
            chat_max_steps: 8,
            chat_history_limit: 20,
            chat_llm_timeout_secs: 60.0,
            chat_provider: "planner".into(),
            chat_base_url: "https://api.openai.com/v1".into(),
            chat_model: String::new(),
            chat_api_key_env: "OPENAI_API_KEY".into(),
        }
    }
}

/// `$XDG_DATA_HOME/coda/voices`, else `~/.local/share/coda/voices`: beside the models folder.
pub fn user_voices_dir() -> PathBuf {
    let models = user_models_dir();
    match models.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join("voices"),
        _ => PathBuf::from(".voices"),
    }
}

/// Every setting; see the README's configuration table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server and the local process.
    pub server: ServerConfig,
    /// Where state lives.
    pub storage: StorageConfig,
    /// Sizes and lifetimes the API enforces.
    pub limits: LimitsConfig,
    /// The job queue and its workers.
    pub jobs: JobsConfig,
    /// Webhook delivery.
    pub webhooks: WebhooksConfig,
    /// Model files and how they run.
    pub models: ModelsConfig,
    /// `transcribe` jobs.
    pub transcribe: TranscribeConfig,
    /// `separate` jobs.
    pub separate: SeparateConfig,
    /// `synthesize` jobs.
    pub sing: SingConfig,
    /// The chat.
    pub chat: ChatConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            public_url: None,
            log_format: LogFormat::Text,
            token_ttl_secs: 30.0 * 24.0 * 3600.0,
            evict_every_secs: 60.0,
            header_read_timeout_secs: 10.0,
            max_connections: 1024,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Local,
            data_dir: PathBuf::from(".coda"),
            aws_prefix: "coda".into(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let (l, q) = (Limits::default(), QuotaPolicy::default());
        Self {
            max_upload_bytes: l.max_upload_bytes,
            session_ttl_secs: l.session_ttl.as_secs_f64(),
            upload_url_ttl_secs: l.upload_url_ttl.as_secs_f64(),
            download_url_ttl_secs: l.download_url_ttl.as_secs_f64(),
            requests_per_minute: q.requests_per_minute,
            jobs_per_hour: q.jobs_per_hour,
            jobs_per_hour_by_kind: q
                .per_kind
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(","),
            quota_window_scale: q.window_scale,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            run_workers: true,
            job_kinds: String::new(),
            job_visibility_secs: 60.0,
            max_receives: 3,
            retry_delay_secs: 5.0,
            shutdown_grace_secs: 10.0,
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            webhook_allow_loopback: true,
            webhook_allow_private: false,
            webhook_timeout_secs: 15.0,
            webhook_retry_scale: 1.0,
            webhook_pinned_hosts: String::new(),
        }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            models_dir: user_models_dir(),
            model_threads: 0,
            model_device: ModelDevice::Auto,
        }
    }
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            transcribe_batch: 8,
        }
    }
}

impl Default for SeparateConfig {
    fn default() -> Self {
        Self {
            htdemucs_model: None,
            separate_max_seconds: 1800.0,
        }
    }
}

/// `$XDG_DATA_HOME/coda/models`, else `~/.local/share/coda/models`, else `./.models`.
///
/// The one definition of the rule: the model installer (`coda-model-runtime`)
/// uses it too, and it lives here so the Lambdas need no model crate to read
/// their configuration.
pub fn user_models_dir() -> PathBuf {
    models_dir_from(
        std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// The XDG rule: a relative `XDG_DATA_HOME` is ignored, as the spec says; with no home either, `./.models`.
fn models_dir_from(xdg_data_home: Option<PathBuf>, home: Option<PathBuf>) -> PathBuf {
    let base = match (xdg_data_home, home) {
        (Some(xdg), _) if xdg.is_absolute() => xdg,
        (_, Some(home)) if !home.as_os_str().is_empty() => home.join(".local/share"),
        _ => return PathBuf::from(".models"),
    };
    base.join("coda").join("models")
}

/// Settings whose default is "unset": serialising the defaults leaves them out, yet they are known keys.
const OPTIONAL_KEYS: [(&str, &str); 2] = [("server", "public_url"), ("separate", "htdemucs_model")];

/// Seconds as a Duration, clamped to something sane.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() { s } else { 0.0 }.clamp(0.0, 10.0 * 365.0 * 86400.0))
}

impl Config {
    /// Defaults, then `file` (TOML) if given, then every `CODA_<SETTING>` variable in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::load_over(Config::default(), file, env)
    }

    /// The same layers over other defaults (a Lambda's, which allow no loopback webhooks).
    pub fn load_over(
        defaults: Config,
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::try_from(&defaults)
            .map_err(|e| ConfigError::Invalid(format!("serialising defaults: {e}")))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let from_file: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?;
            let place = path.display().to_string();
            for (k, v) in from_file {
                match v {
                    // A section: each of its settings must belong to it.
                    toml::Value::Table(t) if table.get(&k).is_some_and(toml::Value::is_table) => {
                        for (field, value) in t {
                            if section_of(&table, &field) != Some(k.clone()) {
                                return Err(ConfigError::Unknown {
                                    key: format!("{k}.{field}"),
                                    path: place,
                                });
                            }
                            set(&mut table, &k, field, value);
                        }
                    }
                    // A setting at the top: its name says its section.
                    value => {
                        let Some(section) = section_of(&table, &k) else {
                            return Err(ConfigError::Unknown {
                                key: k,
                                path: place,
                            });
                        };
                        set(&mut table, &section, k, value);
                    }
                }
            }
        }
        let before_env = table.clone();
        let mut from_env = Vec::new();
        for (name, raw) in env {
            let Some(field) = name.strip_prefix("CODA_") else {
                continue;
            };
            let key = field.to_ascii_lowercase();
            if let Some(section) = section_of(&table, &key) {
                set(&mut table, &section, key.clone(), env_value(&raw));
                from_env.push((name, raw, section, key));
            }
        }
        match finish(table.clone()) {
            Ok(cfg) => Ok(cfg),
            Err(e) => {
                // Name the variable that broke it: the first whose value alone fails.
                for (name, raw, section, key) in &from_env {
                    let mut alone = before_env.clone();
                    set(&mut alone, section, key.clone(), env_value(raw));
                    if let Err(why) = finish(alone) {
                        return Err(ConfigError::Invalid(format!(
                            "{name}={raw:?} is not valid: {}",
                            why.to_string()
                                .trim_start_matches("invalid configuration: ")
                        )));
                    }
                }
                Err(e)
            }
        }
    }

    /// The configuration of a Lambda function, from its environment alone.
    ///
    /// Its defaults differ in one respect: webhooks may not target loopback
    /// addresses, since a function in a VPC must not be pointed at its neighbours.
    pub fn for_lambda(
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut defaults = Config::default();
        defaults.webhooks.webhook_allow_loopback = false;
        defaults.storage.backend = Backend::Aws;
        Config::load_over(defaults, None, env)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        match self.chat.chat_provider.as_str() {
            "planner" => {}
            "openai" | "bedrock" if self.chat.chat_model.trim().is_empty() => {
                return bad(
                    "chat_model must name the model when chat_provider is openai or bedrock",
                )
            }
            "openai" | "bedrock" => {}
            other => {
                return Err(ConfigError::Invalid(format!(
                    "chat_provider {other:?} is not one of planner, openai, bedrock"
                )))
            }
        }
        if self.limits.max_upload_bytes == 0 {
            return bad("max_upload_bytes must be at least 1");
        }
        if self.jobs.max_receives == 0 {
            return bad("max_receives must be at least 1");
        }
        if self.jobs.job_visibility_secs < 0.3 {
            return bad("job_visibility_secs must be at least 0.3");
        }
        let w = &self.webhooks;
        if !(w.webhook_timeout_secs > 0.0 && w.webhook_timeout_secs <= 300.0) {
            return bad("webhook_timeout_secs must be in (0, 300]");
        }
        if !(w.webhook_retry_scale.is_finite() && w.webhook_retry_scale >= 0.0) {
            return bad("webhook_retry_scale must be a finite number >= 0");
        }
        let q = self.limits.quota_window_scale;
        if !(q.is_finite() && q > 0.0 && q <= 1000.0) {
            return bad("quota_window_scale must be in (0, 1000]");
        }
        if let Err(e) = QuotaPolicy::parse_per_kind(&self.limits.jobs_per_hour_by_kind) {
            return bad(&format!("jobs_per_hour_by_kind: {e}"));
        }
        if let Err(e) =
            PinnedHosts::parse(&w.webhook_pinned_hosts, Arc::new(SystemResolver::default()))
        {
            return bad(&format!("webhook_pinned_hosts: {e}"));
        }
        let s = self.separate.separate_max_seconds;
        if !(s.is_finite() && s > 0.0) {
            return bad("separate_max_seconds must be a positive number of seconds");
        }
        if !(1..=256).contains(&self.transcribe.transcribe_batch) {
            return bad("transcribe_batch must be between 1 and 256");
        }
        Ok(())
    }

    /// Which webhook destinations are allowed besides public addresses.
    pub fn webhook_policy(&self) -> AddressPolicy {
        AddressPolicy {
            allow_loopback: self.webhooks.webhook_allow_loopback,
            allow_private: self.webhooks.webhook_allow_private,
        }
    }

    /// How webhook host names are looked up: the pinned names, then the system resolver.
    pub fn webhook_resolver(&self) -> Arc<dyn HostResolver> {
        let system: Arc<dyn HostResolver> = Arc::new(SystemResolver::default());
        // validate() refused a malformed list, so this parse succeeds.
        match PinnedHosts::parse(&self.webhooks.webhook_pinned_hosts, system.clone()) {
            Ok(pinned) if !pinned.is_empty() => Arc::new(pinned),
            _ => system,
        }
    }

    /// The requests and job submissions each user may make.
    pub fn quota_policy(&self) -> QuotaPolicy {
        let l = &self.limits;
        QuotaPolicy {
            requests_per_minute: l.requests_per_minute,
            jobs_per_hour: l.jobs_per_hour,
            // validate() refused a malformed list.
            per_kind: QuotaPolicy::parse_per_kind(&l.jobs_per_hour_by_kind).unwrap_or_default(),
            window_scale: l.quota_window_scale,
        }
    }

    /// The limits and lifetimes the services enforce.
    pub fn limits(&self) -> Limits {
        Limits {
            max_upload_bytes: self.limits.max_upload_bytes,
            session_ttl: secs(self.limits.session_ttl_secs),
            upload_url_ttl: secs(self.limits.upload_url_ttl_secs),
            download_url_ttl: secs(self.limits.download_url_ttl_secs),
        }
    }

    /// Worker count with 0 resolved to the number of cores.
    pub fn worker_count(&self) -> usize {
        if self.jobs.workers > 0 {
            self.jobs.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }
    }

    /// Model threads with 0 resolved to the number of cores.
    pub fn model_threads(&self) -> usize {
        if self.models.model_threads > 0 {
            self.models.model_threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

fn finish(table: toml::Table) -> Result<Config, ConfigError> {
    let cfg: Config = table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string().trim().to_string()))?;
    cfg.validate()?;
    Ok(cfg)
}

/// The section a setting belongs to, if any.
fn section_of(table: &toml::Table, field: &str) -> Option<String> {
    table
        .iter()
        .find(|(_, v)| v.as_table().is_some_and(|t| t.contains_key(field)))
        .map(|(k, _)| k.clone())
        .or_else(|| {
            OPTIONAL_KEYS
                .iter()
                .find(|(_, f)| *f == field)
                .map(|(s, _)| s.to_string())
        })
}

fn set(table: &mut toml::Table, section: &str, field: String, value: toml::Value) {
    if let Some(t) = table.get_mut(section).and_then(toml::Value::as_table_mut) {
        t.insert(field, value);
    }
}

/// Environment values are TOML scalars when they parse as one (numbers, booleans), else strings.
fn env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)),
            ) => v,
            _ => toml::Value::String(raw.to_string()),
        },
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_folder_follows_xdg_and_not_the_working_directory() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            models_dir_from(p("/data"), p("/home/ann")),
            PathBuf::from("/data/coda/models")
        );
        assert_eq!(
            models_dir_from(None, p("/home/ann")),
            PathBuf::from("/home/ann/.local/share/coda/models")
        );
        // A relative XDG_DATA_HOME is invalid by the spec and ignored.
        assert_eq!(
            models_dir_from(p("rel/data"), p("/home/ann")),
            PathBuf::from("/home/ann/.local/share/coda/models")
        );
        assert_eq!(models_dir_from(None, None), PathBuf::from(".models"));
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("coda.toml");
        std::fs::write(
            &f,
            "workers = 3\nmax_upload_bytes = 1000\nlog_format = \"json\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&f),
            env(&[
                ("CODA_WORKERS", "5"),
                ("CODA_DATA_DIR", "/tmp/x"),
                ("OTHER", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.jobs.workers, 5);
        assert_eq!(c.limits.max_upload_bytes, 1000);
        assert_eq!(c.server.log_format, LogFormat::Json);
        assert_eq!(c.storage.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.limits.session_ttl_secs, 86400.0);
        let c = Config::load(
            None,
            env(&[
                ("CODA_SESSION_TTL_SECS", "2.5"),
                ("CODA_PUBLIC_URL", "https://x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.limits.session_ttl_secs, 2.5);
        assert_eq!(c.server.public_url.as_deref(), Some("https://x"));
        assert_eq!(c.separate.htdemucs_model, None);
    }

    #[test]
    fn a_file_may_group_settings_in_their_sections() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("coda.toml");
        std::fs::write(
            &f,
            "[limits]\nmax_upload_bytes = 77\n[webhooks]\nwebhook_allow_private = true\n[jobs]\njob_kinds = \"probe\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), env(&[])).unwrap();
        assert_eq!(c.limits.max_upload_bytes, 77);
        assert!(c.webhook_policy().allow_private);
        assert_eq!(c.jobs.job_kinds, "probe");
        assert_eq!(c.limits().max_upload_bytes, 77);
        // A setting in the wrong section is as unknown as a typo.
        std::fs::write(&f, "[limits]\nworkers = 2\n").unwrap();
        let err = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
        assert!(err.contains("limits.workers"), "{err}");
    }

    #[test]
    fn unset_by_default_settings_load_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("coda.toml");
        std::fs::write(&f, "htdemucs_model = \"/models/a.onnx\"\n").unwrap();
        let c = Config::load(Some(&f), env(&[])).unwrap();
        assert_eq!(
            c.separate.htdemucs_model,
            Some(PathBuf::from("/models/a.onnx"))
        );
        let c = Config::load(
            Some(&f),
            env(&[("CODA_HTDEMUCS_MODEL", "/elsewhere/b.onnx")]),
        )
        .unwrap();
        assert_eq!(
            c.separate.htdemucs_model,
            Some(PathBuf::from("/elsewhere/b.onnx"))
        );
        assert!(Config::load(None, env(&[("CODA_SEPARATE_MAX_SECONDS", "0")])).is_err());
    }

    #[test]
    fn rejects_bad_settings() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("coda.toml");
        std::fs::write(&f, "wokers = 3\n").unwrap();
        assert!(Config::load(Some(&f), env(&[]))
            .unwrap_err()
            .to_string()
            .contains("wokers"));
        assert!(Config::load(None, env(&[("CODA_WORKERS", "many")])).is_err());
        assert!(Config::load(None, env(&[("CODA_MAX_RECEIVES", "0")])).is_err());
    }

    #[test]
    fn lambdas_refuse_loopback_webhooks_unless_told() {
        let c = Config::for_lambda(env(&[("CODA_MAX_UPLOAD_BYTES", "1000")])).unwrap();
        assert!(!c.webhook_policy().allow_loopback);
        assert_eq!(c.limits().max_upload_bytes, 1000);
        assert_eq!(c.storage.backend, Backend::Aws);
        let c = Config::for_lambda(env(&[("CODA_WEBHOOK_ALLOW_LOOPBACK", "true")])).unwrap();
        assert!(c.webhook_policy().allow_loopback);
        // A bad value names its variable, among good ones.
        let err = Config::for_lambda(env(&[
            ("CODA_WORKERS", "2"),
            ("CODA_WEBHOOK_TIMEOUT_SECS", "0"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("CODA_WEBHOOK_TIMEOUT_SECS=\"0\""), "{err}");
    }

    #[test]
    fn pinned_hosts_parse_or_name_the_bad_entry() {
        let c = Config::load(
            None,
            env(&[(
                "CODA_WEBHOOK_PINNED_HOSTS",
                "a.example=10.0.0.1|::1, b.example=1.2.3.4",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.webhooks.webhook_pinned_hosts,
            "a.example=10.0.0.1|::1, b.example=1.2.3.4"
        );
        for (bad, names) in [
            ("a.example", "a.example"),
            ("a.example=10.0.0", "10.0.0"),
            ("=1.2.3.4", "no name"),
        ] {
            let err = Config::load(None, env(&[("CODA_WEBHOOK_PINNED_HOSTS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("webhook_pinned_hosts") && err.contains(names),
                "{bad}: {err}"
            );
        }
    }
}
