//! Local mode: wires the folder/SQLite adapters to the API and the workers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coda_api::{router, AppState, JwtAuth};
use coda_core::auth::{hmac_sha256, TokenSigner, UrlSigner};
use coda_core::ports::{Clock, JobQueue, ObjectCreated, RandomIds, SystemClock};
use coda_core::services::notify::DeliverySettings;
use coda_core::services::{Adapters, Ingest, Notify, Policies, Services};
use coda_core::worker::{Runners, Worker, WorkerSettings};
use coda_local::{
    Db, FolderBlobStore, QueueEvents, SqliteDeliveryRepo, SqliteJobRepo, SqliteQueue,
    SqliteQuotaCounters, SqliteSessionItems, SqliteSessionRepo, SqliteUploadRepo,
    SqliteWebhookRepo,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{secs, Config};

/// Name of the jobs queue and of its dead-letter queue.
pub const JOBS_QUEUE: &str = "jobs";
/// Dead-letter queue of the jobs queue.
pub const JOBS_DLQ: &str = "jobs-dlq";
/// Queue carrying object-created events (the local S3 → SQS).
pub const INGEST_QUEUE: &str = "ingest";

/// The signing keys of a data dir, derived from one secret made on first run.
pub struct Keys {
    /// Signs and verifies bearer tokens.
    pub tokens: TokenSigner,
    /// Signs the local object URLs.
    pub urls: UrlSigner,
}

/// Reads `DATA/secret.key`, creating it (mode 0600) on first run.
pub fn load_keys(data_dir: &Path) -> anyhow::Result<Keys> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let path = data_dir.join("secret.key");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) => {
            let secret = hex::decode(s.trim())
                .with_context(|| format!("{} is not a hex secret", path.display()))?;
            anyhow::ensure!(
                secret.len() >= 16,
                "{} holds a secret shorter than 16 bytes",
                path.display()
            );
            secret
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand_bytes();
            write_private(&path, hex::encode(secret).as_bytes())?;
            secret.to_vec()
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    // Separate keys per use, so a leaked URL signature never forges a token.
    Ok(Keys {
        tokens: TokenSigner::new(hmac_sha256(&secret, b"coda jwt").to_vec()),
        urls: UrlSigner::new(hmac_sha256(&secret, b"coda urls").to_vec()),
    })
}

fn rand_bytes() -> [u8; 32] {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(a.as_bytes());
    out[16..].copy_from_slice(b.as_bytes());
    out
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// A running local server with its workers.
pub struct RunningApp {
    /// The bound address.
    pub addr: SocketAddr,
    /// Base URL of the API.
    pub base_url: String,
    /// Issues tokens for this server's users.
    pub tokens: TokenSigner,
    /// The chat and its tools, as the API serves them (`coda mcp` serves them on stdio).
    pub chat: coda_chat::chat::Chat,
    /// The use cases the API calls (the chat benchmark times `scores.edit` beside the chat).
    pub services: Services,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningApp {
    /// A bearer token for `user`, valid for a day.
    pub fn token(&self, user: &str) -> String {
        self.tokens.issue(user, chrono::Utc::now(), 86400)
    }

    /// Graceful stop: no new requests, running jobs finish or go back to the queue.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Abrupt stop, as a crash would do: nothing is finished or released.
    pub fn abort(self) {
        self.server.abort();
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Resolves when the server task ends.
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }
}

/// The adapters behind every port the server, the workers and ingest use.
#[derive(Clone)]
pub struct Ports {
    /// Every port the services use.
    pub adapters: Adapters,
    /// The queue of object-created events.
    pub ingest_queue: Arc<dyn JobQueue>,
}

/// How a message on the ingest queue encodes its object-created events.
pub type EventParser = fn(&str) -> coda_core::Result<Vec<ObjectCreated>>;

fn local_event(body: &str) -> coda_core::Result<Vec<ObjectCreated>> {
    serde_json::from_str(body)
        .map(|e| vec![e])
        .map_err(|e| coda_core::CodaError::bad_request("INVALID_EVENT", e.to_string()))
}

/// Starts the API and the workers on the local adapters.
pub async fn start(config: &Config, runners: Runners) -> anyhow::Result<RunningApp> {
    let keys = load_keys(&config.storage.data_dir)?;
    let listener = bind(config).await?;
    let base_url = base_url(config, &listener)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let db = Db::open(&config.storage.data_dir.join("coda.db")).context("opening the database")?;
    let ingest_queue: Arc<dyn JobQueue> = Arc::new(SqliteQueue::new(
        db.clone(),
        INGEST_QUEUE,
        Some(("ingest-dlq".into(), 10)),
        clock.clone(),
    ));
    let ports = Ports {
        adapters: Adapters {
            sessions: Arc::new(SqliteSessionRepo::new(db.clone())),
            session_items: Arc::new(SqliteSessionItems::new(db.clone())),
            uploads: Arc::new(SqliteUploadRepo::new(db.clone())),
            jobs: Arc::new(SqliteJobRepo::new(db.clone())),
            webhooks: Arc::new(SqliteWebhookRepo::new(db.clone())),
            deliveries: Arc::new(SqliteDeliveryRepo::new(db.clone())),
            jobs_queue: Arc::new(SqliteQueue::new(
                db.clone(),
                JOBS_QUEUE,
                Some((JOBS_DLQ.into(), config.jobs.max_receives)),
                clock.clone(),
            )),
            jobs_dlq: Arc::new(SqliteQueue::new(db.clone(), JOBS_DLQ, None, clock.clone())),
            blobs: Arc::new(
                FolderBlobStore::new(
                    config.storage.data_dir.join("blobs"),
                    keys.urls.clone(),
                    base_url.clone(),
                    clock.clone(),
                )
                .context("opening the blob store")?
                .with_events(Arc::new(QueueEvents::new(ingest_queue.clone())), "uploads/"),
            ),
            quota_counters: Arc::new(SqliteQuotaCounters::new(db.clone(), clock.clone())),
            clock,
            ids: Arc::new(RandomIds),
            resolver: config.webhook_resolver(),
        },
        ingest_queue,
    };
    let mode = Mode {
        url_signer: Some(keys.urls.clone()),
        redirect_downloads: false,
        parse_event: local_event,
    };
    run(config, keys, listener, base_url, ports, runners, mode).await
}

/// Starts the same API, workers and an ingest poller on AWS adapters (`coda serve --backend aws`).
///
/// The poller stands in for the ingest Lambda's SQS event source mapping; S3 serves uploads and downloads.
pub async fn start_aws(
    config: &Config,
    runners: Runners,
    aws: &coda_aws::AwsAdapters,
) -> anyhow::Result<RunningApp> {
    let keys = load_keys(&config.storage.data_dir)?;
    let listener = bind(config).await?;
    let base_url = base_url(config, &listener)?;
    let ports = Ports {
        adapters: coda_core::services::Adapters {
            resolver: config.webhook_resolver(),
            ..aws.core()
        },
        ingest_queue: aws.ingest_queue.clone(),
    };
    let mode = Mode {
        url_signer: None,
        redirect_downloads: true,
        parse_event: coda_aws::object_created_from_s3_event,
    };
    run(config, keys, listener, base_url, ports, runners, mode).await
}

async fn bind(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(&config.server.addr)
        .await
        .with_context(|| format!("binding {}", config.server.addr))
}

fn base_url(config: &Config, listener: &tokio::net::TcpListener) -> anyhow::Result<String> {
    let addr = listener.local_addr()?;
    Ok(config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}")))
}

/// What differs between the backends beyond the ports.
struct Mode {
    url_signer: Option<UrlSigner>,
    redirect_downloads: bool,
    parse_event: EventParser,
}

/// How webhook deliveries are retried and claimed.
pub fn delivery_settings(config: &Config) -> DeliverySettings {
    let timeout = secs(config.webhooks.webhook_timeout_secs);
    DeliverySettings {
        schedule: coda_core::webhooks::RetrySchedule::standard()
            .with_scale(config.webhooks.webhook_retry_scale),
        // Longer than one attempt can take, so a live sender is never overtaken.
        lease: timeout + Duration::from_secs(15),
    }
}

/// The runners this build ships for the configured `job_kinds` (every kind when empty), sharing one lazily loaded model; warns when the models are not installed.
pub fn builtin_runners(config: &Config) -> anyhow::Result<Runners> {
    let settings = crate::config::model_settings(config);
    if let Err(e) = coda_model_runtime::locate(&settings.models_dir) {
        warn!("transcribe jobs will fail until the models are installed: {e}");
    }
    let mut runners = coda_jobs::builtin_runners(Arc::new(coda_jobs::SharedModel::new(settings)));
    let wanted = runners
        .registry
        .parse_list(&config.jobs.job_kinds)
        .map_err(|e| anyhow::anyhow!("job_kinds: {e}"))?;
    runners.by_kind.retain(|k, _| wanted.contains(k));
    Ok(runners)
}

/// The worker settings a config implies.
pub fn worker_settings(config: &Config) -> WorkerSettings {
    WorkerSettings {
        visibility: secs(config.jobs.job_visibility_secs),
        poll_wait: Duration::from_millis(500),
        shutdown_grace: secs(config.jobs.shutdown_grace_secs),
        supervise_every: Duration::from_millis(200),
        retry_delay: secs(config.jobs.retry_delay_secs),
    }
}

async fn run(
    config: &Config,
    keys: Keys,
    listener: tokio::net::TcpListener,
    base_url: String,
    ports: Ports,
    runners: Runners,
    mode: Mode,
) -> anyhow::Result<RunningApp> {
    let addr = listener.local_addr()?;
    let Ports {
        adapters,
        ingest_queue: ingest_q,
    } = ports;
    let policies = Policies {
        limits: config.limits(),
        kinds: runners.kinds(),
        webhook_policy: config.webhook_policy(),
        quotas: config.quota_policy(),
    };
    let services = Services::new(&adapters, &policies);
    let worker_count = if config.jobs.run_workers {
        config.worker_count()
    } else {
        0
    };
    let worker = Arc::new(Worker::new(
        &adapters,
        runners.clone(),
        worker_settings(config),
    ));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..worker_count {
        tasks.push(tokio::spawn(worker.clone().run(i, shutdown_rx.clone())));
    }
    if config.jobs.run_workers {
        tasks.push(tokio::spawn(
            worker.clone().run_dead_letters(shutdown_rx.clone()),
        ));
    }
    {
        let (ingest, events) = (services.ingest.clone(), ingest_q.clone());
        let shutdown = shutdown_rx.clone();
        let parse = mode.parse_event;
        tasks.push(tokio::spawn(async move {
            ingest_loop(parse, &*events, &ingest, shutdown).await
        }));
    }
    {
        let service = services.sessions.clone();
        let every = secs(config.server.evict_every_secs).max(Duration::from_millis(100));
        let mut shutdown = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.changed() => break,
                }
                match service.evict_expired().await {
                    Ok(0) => {}
                    Ok(n) => info!(evicted = n, "expired sessions evicted"),
                    Err(e) => warn!(error = %e, "session eviction failed"),
                }
            }
        }));
    }

    {
        let sender = coda_notify::HttpWebhookSender::with_resolver(
            secs(config.webhooks.webhook_timeout_secs),
            config.webhook_policy(),
            adapters.resolver.clone(),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let notify = Notify {
            jobs: adapters.jobs.clone(),
            webhooks: adapters.webhooks.clone(),
            deliveries: adapters.deliveries.clone(),
            sender: Arc::new(sender),
            clock: adapters.clock.clone(),
            settings: delivery_settings(config),
        };
        tasks.push(tokio::spawn(coda_notify::run(
            notify,
            coda_notify::NotifierSettings::default(),
            shutdown_rx.clone(),
        )));
    }

    let clock = adapters.clock.clone();
    let base = AppState::new(
        adapters,
        policies,
        Arc::new(JwtAuth {
            signer: keys.tokens.clone(),
            clock,
        }),
    );
    let chat = crate::chat_tools::chat(config, &base.services, &base.kinds.registry).await;
    let services = base.services.clone();
    let state = Arc::new(AppState {
        url_signer: mode.url_signer,
        workers: worker_count,
        redirect_downloads: mode.redirect_downloads,
        chat: chat.clone(),
        ..base
    });
    let app = router(state);
    let limits = coda_api::serve::ConnectionLimits {
        header_read_timeout: secs(config.server.header_read_timeout_secs),
        max_connections: config.server.max_connections,
        shutdown_grace: secs(config.jobs.shutdown_grace_secs),
    };
    let server = tokio::spawn(coda_api::serve::serve(
        listener,
        app,
        limits,
        shutdown_rx.clone(),
    ));
    info!(%addr, workers = worker_count, data_dir = %config.storage.data_dir.display(), "coda is serving");
    Ok(RunningApp {
        addr,
        base_url,
        tokens: keys.tokens,
        chat,
        services,
        shutdown: shutdown_tx,
        server,
        tasks,
    })
}

async fn ingest_loop(
    parse: EventParser,
    events: &dyn JobQueue,
    ingest: &Ingest,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let msgs = tokio::select! {
            r = events.receive(10, Duration::from_secs(30), Duration::from_millis(500)) => r,
            _ = shutdown.changed() => break,
        };
        let msgs = match msgs {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "ingest receive failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for m in msgs {
            let parsed = match parse(&m.body) {
                Ok(p) => p,
                Err(e) => {
                    warn!(message_id = %m.message_id, error = %e, "malformed object event dropped");
                    let _ = events.ack(&m.receipt).await;
                    continue;
                }
            };
            let mut ok = true;
            for event in &parsed {
                match ingest.handle_object_created(event).await {
                    Ok(outcome) => info!(key = %event.key, ?outcome, "ingested"),
                    Err(e) => {
                        warn!(key = %event.key, error = %e, "ingest failed; will retry");
                        ok = false;
                    }
                }
            }
            if ok {
                let _ = events.ack(&m.receipt).await;
            }
        }
    }
}
