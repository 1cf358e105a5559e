//! Configuration: one typed struct from defaults, an optional TOML file, then `CODA_*` variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines for a terminal.
    Text,
    /// One JSON object per line (CloudWatch-friendly).
    Json,
}

/// Where `coda serve` keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A folder and SQLite in the data dir.
    Local,
    /// S3, DynamoDB and SQS named by `aws_prefix`, from the standard AWS environment.
    Aws,
}

/// Which execution provider model jobs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelDevice {
    /// CUDA when the installed ONNX Runtime has it and a GPU answers, else the CPU.
    Auto,
    /// Always the CPU.
    Cpu,
}

/// Every setting of `coda serve`; see the README's configuration table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub addr: String,
    /// Where the database, blobs and signing secret live.
    pub data_dir: PathBuf,
    /// Worker tasks pulling the jobs queue; 0 means one per core.
    pub workers: usize,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
    /// Session lifetime in seconds.
    pub session_ttl_secs: f64,
    /// Lifetime of signed upload URLs in seconds.
    pub upload_url_ttl_secs: f64,
    /// Lifetime of signed download URLs in seconds.
    pub download_url_ttl_secs: f64,
    /// Lifetime of tokens printed by `coda serve` and `coda token`, in seconds.
    pub token_ttl_secs: f64,
    /// Visibility timeout of a received job message in seconds (renewed while the job runs).
    pub job_visibility_secs: f64,
    /// Receives after which a job message goes to the dead-letter queue.
    pub max_receives: u32,
    /// Delay before a transiently failed job is retried, in seconds.
    pub retry_delay_secs: f64,
    /// On shutdown, how long running jobs may finish before they go back to the queue, in seconds.
    pub shutdown_grace_secs: f64,
    /// How often expired sessions are evicted, in seconds.
    pub evict_every_secs: f64,
    /// Base URL put in signed URLs; defaults to `http://{bound address}`.
    pub public_url: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Local folder/SQLite, or AWS.
    pub backend: Backend,
    /// Prefix of the AWS resource names (`{prefix}-blobs`, `{prefix}-jobs`, ...).
    pub aws_prefix: String,
    /// Whether `coda serve` runs job workers itself (off when separate `coda-worker`s do).
    pub run_workers: bool,
    /// Where `coda models install` puts the model files and ONNX Runtime (default `$XDG_DATA_HOME/coda/models`, else `~/.local/share/coda/models`).
    pub models_dir: PathBuf,
    /// Threads ONNX Runtime uses per model call; 0 means one per core.
    pub model_threads: usize,
    /// `auto` (CUDA when available) or `cpu`.
    pub model_device: ModelDevice,
    /// Basic Pitch windows per model call.
    pub transcribe_batch: usize,
    /// An HT-Demucs ONNX export (demucs-onnx layout) for `separate` jobs with `model: htdemucs`; unset means `htdemucs.onnx` in `models_dir`.
    pub htdemucs_model: Option<PathBuf>,
    /// Longest input a `separate` job accepts, in seconds (its memory grows with the length).
    pub separate_max_seconds: f64,
    /// Whether webhooks may target loopback addresses (on for local use and tests).
    pub webhook_allow_loopback: bool,
    /// Whether webhooks may target private networks (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10).
    pub webhook_allow_private: bool,
    /// Time limit of one webhook attempt, in seconds.
    pub webhook_timeout_secs: f64,
    /// Multiplies the webhook retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 24 h, 24 h); tests compress it.
    pub webhook_retry_scale: f64,
}

/// Settings whose default is "unset": serialising the defaults leaves them out, yet they are known keys.
const OPTIONAL_KEYS: [&str; 2] = ["public_url", "htdemucs_model"];

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from(".coda"),
            workers: 0,
            max_upload_bytes: 200 * 1024 * 1024,
            session_ttl_secs: 24.0 * 3600.0,
            upload_url_ttl_secs: 3600.0,
            download_url_ttl_secs: 3600.0,
            token_ttl_secs: 30.0 * 24.0 * 3600.0,
            job_visibility_secs: 60.0,
            max_receives: 3,
            retry_delay_secs: 5.0,
            shutdown_grace_secs: 10.0,
            evict_every_secs: 60.0,
            public_url: None,
            log_format: LogFormat::Text,
            backend: Backend::Local,
            aws_prefix: "coda".into(),
            run_workers: true,
            models_dir: coda_models::user_models_dir(),
            model_threads: 0,
            model_device: ModelDevice::Auto,
            transcribe_batch: 8,
            htdemucs_model: None,
            separate_max_seconds: 1800.0,
            webhook_allow_loopback: true,
            webhook_allow_private: false,
            webhook_timeout_secs: 15.0,
            webhook_retry_scale: 1.0,
        }
    }
}

/// Seconds as a Duration, clamped to something sane.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 10.0 * 365.0 * 86400.0))
}

impl Config {
    /// Defaults, then `file` (TOML) if given, then every `CODA_<FIELD>` variable in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table = toml::Table::try_from(Config::default()).context("serialising defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            let from_file: toml::Table = text
                .parse()
                .with_context(|| format!("parsing {}", path.display()))?;
            for (k, v) in from_file {
                if !table.contains_key(&k) && !OPTIONAL_KEYS.contains(&k.as_str()) {
                    bail!("unknown setting '{k}' in {}", path.display());
                }
                table.insert(k, v);
            }
        }
        for (name, raw) in env {
            let Some(field) = name.strip_prefix("CODA_") else {
                continue;
            };
            let key = field.to_ascii_lowercase();
            if key == "config" {
                continue;
            }
            if !table.contains_key(&key) && !OPTIONAL_KEYS.contains(&key.as_str()) {
                continue;
            }
            table.insert(key, env_value(&raw));
        }
        let cfg: Config = table.try_into().context("invalid configuration")?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.max_upload_bytes == 0 {
            bail!("max_upload_bytes must be at least 1");
        }
        if self.max_receives == 0 {
            bail!("max_receives must be at least 1");
        }
        if self.job_visibility_secs < 0.3 {
            bail!("job_visibility_secs must be at least 0.3");
        }
        if !(self.webhook_timeout_secs > 0.0 && self.webhook_timeout_secs <= 300.0) {
            bail!("webhook_timeout_secs must be in (0, 300]");
        }
        if !(self.webhook_retry_scale.is_finite() && self.webhook_retry_scale >= 0.0) {
            bail!("webhook_retry_scale must be a finite number >= 0");
        }
        if !(self.separate_max_seconds.is_finite() && self.separate_max_seconds > 0.0) {
            bail!("separate_max_seconds must be a positive number of seconds");
        }
        if !(1..=256).contains(&self.transcribe_batch) {
            bail!("transcribe_batch must be between 1 and 256");
        }
        Ok(())
    }

    /// Which webhook destinations are allowed besides public addresses.
    pub fn webhook_policy(&self) -> coda_core::webhooks::AddressPolicy {
        coda_core::webhooks::AddressPolicy {
            allow_loopback: self.webhook_allow_loopback,
            allow_private: self.webhook_allow_private,
        }
    }

    /// How model jobs find and run their models.
    pub fn model_settings(&self) -> coda_jobs::ModelSettings {
        let threads = if self.model_threads > 0 {
            self.model_threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        };
        coda_jobs::ModelSettings {
            models_dir: self.models_dir.clone(),
            runtime: coda_models::RuntimeOptions {
                intra_threads: threads,
                cuda: self.model_device == ModelDevice::Auto,
            },
            batch_size: self.transcribe_batch,
            htdemucs_model: self.htdemucs_model.clone(),
            separate_max_seconds: self.separate_max_seconds,
        }
    }

    /// Worker count with 0 resolved to the number of cores.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }
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
        assert_eq!(c.workers, 5);
        assert_eq!(c.max_upload_bytes, 1000);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.session_ttl_secs, 86400.0);
        let c = Config::load(
            None,
            env(&[
                ("CODA_SESSION_TTL_SECS", "2.5"),
                ("CODA_PUBLIC_URL", "https://x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.session_ttl_secs, 2.5);
        assert_eq!(c.public_url.as_deref(), Some("https://x"));
        assert_eq!(c.htdemucs_model, None);
    }

    #[test]
    fn unset_by_default_settings_load_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("coda.toml");
        std::fs::write(&f, "htdemucs_model = \"/models/a.onnx\"\n").unwrap();
        let c = Config::load(Some(&f), env(&[])).unwrap();
        assert_eq!(c.htdemucs_model, Some(PathBuf::from("/models/a.onnx")));
        assert_eq!(
            c.model_settings().htdemucs_model,
            Some(PathBuf::from("/models/a.onnx"))
        );
        let c = Config::load(
            Some(&f),
            env(&[("CODA_HTDEMUCS_MODEL", "/elsewhere/b.onnx")]),
        )
        .unwrap();
        assert_eq!(c.htdemucs_model, Some(PathBuf::from("/elsewhere/b.onnx")));
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
}
