//! The job worker: pulls the jobs queue, runs the kind's runner, records the outcome.
//!
//! Exactly-once outcomes rest on two things: every status change is a
//! conditional write, and a worker claims a job with a lease that it renews
//! together with its message's visibility. A message for a job whose lease is
//! live is a duplicate and waits; one for an ended job is acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;
use tracing::{info, warn, Instrument};

use crate::kinds::{KindRegistry, Kinds};
use crate::model::{Job, JobError, JobKind, JobOutputRef, JobStatus, Output};
use crate::ports::{BlobStore, QueueMessage};
use crate::services::chrono_dur;
use crate::services::jobs::{update_job, JobMessage};
use crate::services::Adapters;
use crate::{CodaError, Result};

/// A file a runner produced.
#[derive(Clone, Debug)]
pub struct NewOutput {
    /// File name under `results/{job_id}/`.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

/// The most warnings one job keeps.
pub const MAX_WARNINGS: usize = 50;

/// Progress and cancellation, shared between a runner and its supervisor.
///
/// Synchronous on purpose so CPU-bound runners can report from blocking threads.
pub struct Progress {
    tx: watch::Sender<u8>,
    canceled: AtomicBool,
    warnings: std::sync::Mutex<Vec<String>>,
}

impl Progress {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            tx: watch::channel(0).0,
            canceled: AtomicBool::new(false),
            warnings: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Records something the user should know about a job that still succeeds (kept on the job).
    pub fn warn(&self, message: impl Into<String>) {
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a job row must stay small.
        if w.len() < MAX_WARNINGS {
            w.push(message.into());
        }
    }

    /// The warnings recorded so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reports `done` of `total` steps as a position between `from` and `to` percent.
    pub fn set_between(&self, from: u8, to: u8, done: usize, total: usize) {
        let span = usize::from(to.saturating_sub(from));
        let pct = usize::from(from) + span * done.min(total) / total.max(1);
        self.set(pct.min(100) as u8);
    }

    /// Reports 0..=100; values never go down.
    pub fn set(&self, pct: u8) {
        self.tx.send_if_modified(|cur| {
            let new = pct.min(100);
            let changed = new > *cur;
            if changed {
                *cur = new;
            }
            changed
        });
    }

    /// Whether the job was canceled; runners check between steps.
    pub fn is_canceled(&self) -> bool {
        self.canceled.load(Ordering::Relaxed)
    }

    /// Err(canceled) once the job was canceled, for `?` between steps.
    pub fn check(&self) -> Result<()> {
        if self.is_canceled() {
            return Err(CodaError::canceled());
        }
        Ok(())
    }
}

/// What a runner sees of its job: the row, its inputs by name, progress and cancellation.
pub struct JobContext {
    job: Job,
    inputs: BTreeMap<String, String>,
    blobs: Arc<dyn BlobStore>,
    progress: Arc<Progress>,
}

impl JobContext {
    /// A context over `job` whose inputs are resolved to blob keys (tests build their own).
    pub fn new(
        job: Job,
        inputs: BTreeMap<String, String>,
        blobs: Arc<dyn BlobStore>,
        progress: Arc<Progress>,
    ) -> Self {
        JobContext {
            job,
            inputs,
            blobs,
            progress,
        }
    }

    /// The job's row as it was claimed.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The job's params as the kind's type (checked at submit, parsed again here).
    pub fn params<P: serde::de::DeserializeOwned + Default>(&self) -> Result<P> {
        crate::params::parse(&self.job.params)
    }

    /// The names of the inputs the job was given.
    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.inputs.keys().map(String::as_str)
    }

    /// Reads input `name`; a blob deleted since submit is a permanent `INPUT_MISSING`.
    pub async fn input(&self, name: &str) -> Result<Bytes> {
        let key = self.inputs.get(name).ok_or_else(|| {
            CodaError::unprocessable(
                "UNKNOWN_INPUT",
                format!("the job has no input named '{name}'"),
            )
        })?;
        match self.blobs.get(key, None).await {
            Ok(d) => Ok(d.bytes),
            Err(CodaError::NotFound(_)) => Err(CodaError::unprocessable(
                "INPUT_MISSING",
                format!("input '{key}' no longer exists"),
            )),
            Err(e) => Err(e),
        }
    }

    /// Progress and cancellation, shareable with blocking threads.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}

/// Runs one kind of job.
#[async_trait]
pub trait JobRunner: Send + Sync {
    /// The kind it runs.
    fn kind(&self) -> JobKind;
    /// Turns the inputs into outputs. Transient errors are retried; others fail the job.
    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>>;
}

/// The kinds a process knows (its registry) and the runners it has for some of them.
#[derive(Clone, Default)]
pub struct Runners {
    /// Every known kind: what submissions are validated against.
    pub registry: KindRegistry,
    /// The runners, by kind: what this process's workers run.
    pub by_kind: HashMap<JobKind, Arc<dyn JobRunner>>,
}

impl Runners {
    /// No runners yet over `registry`.
    pub fn new(registry: KindRegistry) -> Self {
        Runners {
            registry,
            by_kind: HashMap::new(),
        }
    }

    /// With `runner` for its kind (replacing any other).
    pub fn with(mut self, runner: Arc<dyn JobRunner>) -> Self {
        self.by_kind.insert(runner.kind(), runner);
        self
    }

    /// The registry and the kinds these runners make available.
    pub fn kinds(&self) -> Kinds {
        Kinds::new(
            self.registry.clone(),
            &self.by_kind.keys().cloned().collect::<Vec<_>>(),
        )
    }
}

/// Timing knobs of a worker.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// How long a received message stays hidden; renewed at a third of it.
    pub visibility: Duration,
    /// Longest wait for a message per receive call.
    pub poll_wait: Duration,
    /// How long a running job may finish after shutdown starts before it is released.
    pub shutdown_grace: Duration,
    /// How often the supervisor checks for cancellation and writes progress.
    pub supervise_every: Duration,
    /// Delay before a transiently failed job is tried again.
    pub retry_delay: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            visibility: Duration::from_secs(60),
            poll_wait: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            supervise_every: Duration::from_millis(250),
            retry_delay: Duration::from_secs(5),
        }
    }
}

/// What a worker needs: the ports it uses (the jobs table, the jobs queue and its dead letters, blobs, time) and the runners by kind.
pub struct Worker {
    a: Adapters,
    /// The registry (for input names) and the runners by kind.
    pub runners: Runners,
    /// Timing knobs.
    pub settings: WorkerSettings,
}

/// How the handling of one message ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// The job succeeded.
    Succeeded,
    /// The job failed for good.
    Failed,
    /// Failed transiently; the message comes back after the retry delay.
    Retrying,
    /// The job was canceled.
    Canceled,
    /// Shutdown came first; the job went back to the queue.
    Released,
    /// An input is another job's output that is not written yet; the message comes back later.
    Waiting,
    /// Nothing to run: a duplicate, an ended job or a malformed message.
    Skipped,
}

enum Ending {
    /// The runner returned: its outputs (and the warnings it recorded), or its error.
    Done(Result<(Vec<NewOutput>, Vec<String>)>),
    Canceled,
    Released,
}

impl Worker {
    /// A worker over these adapters' jobs table, queues and blobs, running `runners`.
    pub fn new(a: &Adapters, runners: Runners, settings: WorkerSettings) -> Self {
        Worker {
            a: a.clone(),
            runners,
            settings,
        }
    }

    /// The kinds this worker can run.
    pub fn kinds(&self) -> Vec<JobKind> {
        self.runners.kinds().available
    }

    /// Pulls and handles messages until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, id: usize, mut shutdown: watch::Receiver<bool>) {
        info!(worker = id, "worker started");
        while !*shutdown.borrow() {
            let received = tokio::select! {
                r = self.a.jobs_queue.receive(1, self.settings.visibility, self.settings.poll_wait) => r,
                _ = shutdown.changed() => break,
            };
            match received {
                Ok(msgs) => {
                    for m in msgs {
                        self.handle(m, shutdown.clone()).await;
                    }
                }
                Err(e) => {
                    warn!(worker = id, error = %e, "receive failed; backing off");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        info!(worker = id, "worker stopped");
    }

    /// Handles one message from the jobs queue.
    pub async fn handle(&self, msg: QueueMessage, shutdown: watch::Receiver<bool>) -> Handled {
        let Ok(JobMessage { job_id }) = serde_json::from_str::<JobMessage>(&msg.body) else {
            warn!(message_id = %msg.message_id, "malformed job message dropped");
            self.ack(&msg).await;
            return Handled::Skipped;
        };
        let span = tracing::info_span!("job", job_id = %job_id);
        self.handle_job(&job_id, msg, shutdown)
            .instrument(span)
            .await
    }

    async fn handle_job(
        &self,
        job_id: &str,
        msg: QueueMessage,
        shutdown: watch::Receiver<bool>,
    ) -> Handled {
        // Before claiming, so waiting on another job spends no attempt.
        if self.upstream_pending(job_id).await {
            return self.retry_later(&msg).await;
        }
        let job = match self.claim(job_id).await {
            Ok(Claim::Claimed(job)) => job,
            Ok(Claim::Ended) => {
                self.ack(&msg).await;
                return Handled::Skipped;
            }
            Ok(Claim::HeldUntil(wait)) => {
                // Another worker holds it; look again once its lease could have lapsed.
                let _ = self
                    .a
                    .jobs_queue
                    .extend(&msg.receipt, wait + Duration::from_secs(1))
                    .await;
                return Handled::Skipped;
            }
            Err(e) => {
                warn!(error = %e, "could not claim job; it will be redelivered");
                return Handled::Skipped;
            }
        };
        let started = Instant::now();
        info!(
            kind = job.kind.as_str(),
            attempt = job.attempts,
            "job started"
        );
        let ending = self.execute(&job, &msg, shutdown).await;
        let outcome = self.finish(&job, &msg, ending).await;
        info!(
            kind = job.kind.as_str(),
            attempt = job.attempts,
            outcome = ?outcome,
            duration_ms = started.elapsed().as_millis() as u64,
            "job ended"
        );
        outcome
    }

    /// Whether any `job:{id}/{output}` input of the job names a job that has not ended.
    async fn upstream_pending(&self, job_id: &str) -> bool {
        let Ok(Some(job)) = self.a.jobs.get(job_id).await else {
            return false;
        };
        if job.status.is_terminal() {
            return false;
        }
        for r in job.inputs.values().filter_map(|v| JobOutputRef::parse(v)) {
            match self.a.jobs.get(&r.job_id).await {
                Ok(Some(up)) if !up.status.is_terminal() => return true,
                // Read errors: the claim and the resolution below report them.
                _ => {}
            }
        }
        false
    }

    /// Hands the message back as a new one that shows up after the retry delay, so its receive count starts again.
    async fn retry_later(&self, msg: &QueueMessage) -> Handled {
        match self
            .a
            .jobs_queue
            .send_delayed(&msg.body, self.settings.retry_delay)
            .await
        {
            Ok(_) => self.ack(msg).await,
            Err(e) => {
                warn!(error = %e, "could not re-queue a waiting job; it comes back after its visibility")
            }
        }
        Handled::Waiting
    }

    /// The job's inputs as blob keys: the `input_key` shorthand named, other jobs' outputs looked up.
    async fn resolve_inputs(&self, job: &Job) -> Result<BTreeMap<String, String>> {
        let mut inputs = job.inputs.clone();
        if inputs.is_empty() && !job.input_key.is_empty() {
            let name = self
                .runners
                .registry
                .get(job.kind.as_str())
                .and_then(|s| s.inputs.first())
                .map_or("input", |s| s.name);
            inputs.insert(name.to_string(), job.input_key.clone());
        }
        for (name, value) in inputs.iter_mut() {
            let Some(r) = JobOutputRef::parse(value) else {
                continue;
            };
            let up = self.a.jobs.get(&r.job_id).await?;
            let Some(up) = up.filter(|u| u.owner == job.owner) else {
                return Err(CodaError::unprocessable(
                    "INPUT_MISSING",
                    format!("input '{name}': job '{}' no longer exists", r.job_id),
                ));
            };
            if up.status != JobStatus::Succeeded {
                return Err(crate::services::jobs::input_failed(
                    &r.job_id, up.status, &r.output,
                ));
            }
            let Some(output) = r.find(&up) else {
                return Err(CodaError::Unprocessable {
                    code: "UNKNOWN_OUTPUT",
                    message: format!(
                        "input '{name}': job '{}' wrote no output '{}'",
                        r.job_id, r.output
                    ),
                    details: serde_json::json!({
                        "job_id": r.job_id,
                        "outputs": up.outputs.iter().map(|o| o.name.clone()).collect::<Vec<_>>()
                    }),
                });
            };
            *value = output.key.clone();
        }
        Ok(inputs)
    }

    async fn claim(&self, job_id: &str) -> Result<Claim> {
        let now = self.a.clock.now();
        let lease = chrono_dur(self.settings.visibility.mul_f64(0.9));
        let mut held = None;
        let job = update_job(self.a.jobs.as_ref(), job_id, |j| {
            held = None;
            match j.status {
                s if s.is_terminal() => Ok(false),
                JobStatus::Running if j.lease_until.is_some_and(|l| l > now) => {
                    held = j
                        .lease_until
                        .map(|l| (l - now).to_std().unwrap_or_default());
                    Ok(false)
                }
                _ => {
                    j.status = JobStatus::Running;
                    j.attempts += 1;
                    j.progress = 0;
                    j.outputs.clear();
                    j.lease_until = Some(now + lease);
                    j.updated_at = now;
                    Ok(true)
                }
            }
        })
        .await;
        let job = match job {
            Ok(j) => j,
            Err(CodaError::NotFound(_)) => return Ok(Claim::Ended),
            Err(e) => return Err(e),
        };
        Ok(match (job.status, held) {
            (_, Some(wait)) => Claim::HeldUntil(wait),
            (s, _) if s.is_terminal() => Claim::Ended,
            _ => Claim::Claimed(Box::new(job)),
        })
    }

    async fn execute(
        &self,
        job: &Job,
        msg: &QueueMessage,
        mut shutdown: watch::Receiver<bool>,
    ) -> Ending {
        let Some(runner) = self.runners.by_kind.get(&job.kind).cloned() else {
            return Ending::Done(Err(CodaError::unprocessable(
                "JOB_KIND_UNAVAILABLE",
                format!("no runner for job kind '{}'", job.kind.as_str()),
            )));
        };
        let inputs = match self.resolve_inputs(job).await {
            Ok(i) => i,
            Err(e) => return Ending::Done(Err(e)),
        };
        // Read first, so an input removed before the run fails the job without running it.
        for key in inputs.values() {
            match self.a.blobs.head(key).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Ending::Done(Err(CodaError::unprocessable(
                        "INPUT_MISSING",
                        format!("input '{key}' no longer exists"),
                    )))
                }
                Err(e) => return Ending::Done(Err(e)),
            }
        }
        let progress = Progress::new();
        let ctx = JobContext::new(job.clone(), inputs, self.a.blobs.clone(), progress.clone());
        let run = runner.run(ctx);
        tokio::pin!(run);
        let mut tick = tokio::time::interval(self.settings.supervise_every);
        let mut last_beat = Instant::now();
        let mut written_progress = 0u8;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                r = &mut run => return Ending::Done(r.map(|o| (o, progress.warnings()))),
                _ = tick.tick() => {
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        // The job goes back to the queue; its runner stops at its next check
                        // instead of computing on after the process means to exit.
                        progress.canceled.store(true, Ordering::Relaxed);
                        return Ending::Released;
                    }
                    if last_beat.elapsed() >= self.settings.visibility / 3 {
                        last_beat = Instant::now();
                        self.heartbeat(job, msg).await;
                    }
                    match self.a.jobs.get(&job.job_id).await {
                        Ok(Some(j)) if j.status == JobStatus::Canceled => {
                            progress.canceled.store(true, Ordering::Relaxed);
                            return Ending::Canceled;
                        }
                        Ok(Some(j)) if j.attempts != job.attempts => {
                            warn!("lost the lease to another worker; abandoning this attempt");
                            return Ending::Canceled;
                        }
                        _ => {}
                    }
                    let p = *progress.tx.borrow();
                    if p > written_progress {
                        written_progress = p;
                        self.write_progress(job, p).await;
                    }
                }
                _ = shutdown.changed(), if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + self.settings.shutdown_grace);
                }
            }
        }
    }

    async fn heartbeat(&self, job: &Job, msg: &QueueMessage) {
        if let Err(e) = self
            .a
            .jobs_queue
            .extend(&msg.receipt, self.settings.visibility)
            .await
        {
            warn!(error = %e, "heartbeat could not extend visibility");
        }
        let lease = self.a.clock.now() + chrono_dur(self.settings.visibility.mul_f64(0.9));
        let r = update_job(self.a.jobs.as_ref(), &job.job_id, |j| {
            if j.status != JobStatus::Running || j.attempts != job.attempts {
                return Ok(false);
            }
            j.lease_until = Some(lease);
            Ok(true)
        })
        .await;
        if let Err(e) = r {
            warn!(error = %e, "heartbeat could not renew the lease");
        }
    }

    async fn write_progress(&self, job: &Job, pct: u8) {
        let now = self.a.clock.now();
        let _ = update_job(self.a.jobs.as_ref(), &job.job_id, |j| {
            if j.status != JobStatus::Running || j.attempts != job.attempts || j.progress >= pct {
                return Ok(false);
            }
            j.progress = pct;
            j.updated_at = now;
            Ok(true)
        })
        .await;
    }

    async fn finish(&self, job: &Job, msg: &QueueMessage, ending: Ending) -> Handled {
        let results_prefix = format!("results/{}/", job.job_id);
        match ending {
            Ending::Done(Ok((outputs, warnings))) => match self.store_outputs(job, outputs).await {
                Ok(stored) => {
                    // Before the success is visible: a client that sees `succeeded` finds the
                    // session's audio already in place.
                    let mut done = job.clone();
                    done.outputs = stored.clone();
                    self.record_session_audio(&done).await;
                    let now = self.a.clock.now();
                    let r = update_job(self.a.jobs.as_ref(), &job.job_id, |j| {
                        if j.status != JobStatus::Running || j.attempts != job.attempts {
                            return Ok(false);
                        }
                        j.status = JobStatus::Succeeded;
                        j.progress = 100;
                        j.outputs = stored.clone();
                        j.warnings = warnings.clone();
                        j.error = None;
                        j.lease_until = None;
                        j.updated_at = now;
                        Ok(true)
                    })
                    .await;
                    match r {
                        Ok(j) if j.status == JobStatus::Succeeded && j.attempts == job.attempts => {
                            self.ack(msg).await;
                            Handled::Succeeded
                        }
                        Ok(j) => {
                            // Canceled or taken over meanwhile: our files must not linger.
                            if j.status == JobStatus::Canceled {
                                let _ = self.a.blobs.delete_prefix(&results_prefix).await;
                                self.ack(msg).await;
                            }
                            Handled::Canceled
                        }
                        Err(e) => {
                            warn!(error = %e, "could not record success; the job will be redelivered");
                            Handled::Retrying
                        }
                    }
                }
                Err(e) => self.fail(job, msg, e).await,
            },
            Ending::Done(Err(CodaError::Canceled(_))) => self.canceled(job, msg).await,
            Ending::Done(Err(e)) => self.fail(job, msg, e).await,
            Ending::Canceled => self.canceled(job, msg).await,
            Ending::Released => {
                let _ = update_job(self.a.jobs.as_ref(), &job.job_id, |j| {
                    if j.status != JobStatus::Running || j.attempts != job.attempts {
                        return Ok(false);
                    }
                    j.status = JobStatus::Queued;
                    j.lease_until = None;
                    j.progress = 0;
                    Ok(true)
                })
                .await;
                let _ = self.a.jobs_queue.extend(&msg.receipt, Duration::ZERO).await;
                Handled::Released
            }
        }
    }

    /// A finished job of a kind with a `session_audio` output makes it its session's latest audio.
    ///
    /// Best effort: the job succeeds either way, and a gone session is no error.
    async fn record_session_audio(&self, job: &Job) {
        let Some(session_id) = &job.session_id else {
            return;
        };
        let Some(slot) = self
            .runners
            .registry
            .get(job.kind.as_str())
            .and_then(|s| s.session_audio)
        else {
            return;
        };
        let Some(key) = job
            .outputs
            .iter()
            .find(|o| o.name.split('.').next() == Some(slot))
            .map(|o| o.key.clone())
        else {
            return;
        };
        for _ in 0..8 {
            let mut session = match self.a.sessions.get(session_id).await {
                Ok(Some(s)) if s.owner == job.owner => s,
                Ok(_) => return,
                Err(e) => {
                    warn!(error = %e, session = %session_id, "could not read the session to record its audio");
                    return;
                }
            };
            session.current_audio = Some(key.clone());
            match self.a.sessions.update(&session).await {
                Err(CodaError::Stale(_)) => continue,
                Err(e) => {
                    warn!(error = %e, session = %session_id, "could not record the session's audio");
                    return;
                }
                Ok(_) => return,
            }
        }
    }

    async fn store_outputs(&self, job: &Job, outputs: Vec<NewOutput>) -> Result<Vec<Output>> {
        // A retry replaces what an earlier attempt left behind instead of adding to it.
        self.a
            .blobs
            .delete_prefix(&format!("results/{}/", job.job_id))
            .await?;
        let mut stored = Vec::with_capacity(outputs.len());
        for o in outputs {
            let key = format!("results/{}/{}", job.job_id, o.name);
            let meta = self.a.blobs.put(&key, o.bytes, &o.content_type).await?;
            stored.push(Output {
                name: o.name,
                key,
                content_type: o.content_type,
                bytes: meta.size,
            });
        }
        Ok(stored)
    }

    async fn canceled(&self, job: &Job, msg: &QueueMessage) -> Handled {
        let _ = self
            .a
            .blobs
            .delete_prefix(&format!("results/{}/", job.job_id))
            .await;
        self.ack(msg).await;
        Handled::Canceled
    }

    async fn fail(&self, job: &Job, msg: &QueueMessage, e: CodaError) -> Handled {
        let transient = e.is_transient();
        let error = JobError {
            code: e.code().to_string(),
            message: e.to_string(),
        };
        let now = self.a.clock.now();
        let r = update_job(self.a.jobs.as_ref(), &job.job_id, |j| {
            if j.status != JobStatus::Running || j.attempts != job.attempts {
                return Ok(false);
            }
            j.status = if transient {
                JobStatus::Queued
            } else {
                JobStatus::Failed
            };
            j.error = Some(error.clone());
            j.lease_until = None;
            j.updated_at = now;
            Ok(true)
        })
        .await;
        if let Err(e) = r {
            warn!(error = %e, "could not record failure; the job will be redelivered");
            return Handled::Retrying;
        }
        if transient {
            warn!(code = %error.code, error = %error.message, "transient failure; will retry");
            let _ = self
                .a
                .jobs_queue
                .extend(&msg.receipt, self.settings.retry_delay)
                .await;
            Handled::Retrying
        } else {
            let _ = self
                .a
                .blobs
                .delete_prefix(&format!("results/{}/", job.job_id))
                .await;
            self.ack(msg).await;
            Handled::Failed
        }
    }

    async fn ack(&self, msg: &QueueMessage) {
        if let Err(e) = self.a.jobs_queue.ack(&msg.receipt).await {
            warn!(error = %e, message_id = %msg.message_id, "ack failed; the message will be seen again");
        }
    }

    /// Drains the dead-letter queue until shutdown: each dead job ends `failed`.
    pub async fn run_dead_letters(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let received = tokio::select! {
                r = self.a.jobs_dlq.receive(10, self.settings.visibility, self.settings.poll_wait) => r,
                _ = shutdown.changed() => break,
            };
            match received {
                Ok(msgs) => {
                    for m in msgs {
                        self.handle_dead_letter(&m).await;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "dead-letter receive failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Fails the job of one dead-lettered message, unless it ended or is held.
    pub async fn handle_dead_letter(&self, msg: &QueueMessage) {
        let Ok(JobMessage { job_id }) = serde_json::from_str::<JobMessage>(&msg.body) else {
            let _ = self.a.jobs_dlq.ack(&msg.receipt).await;
            return;
        };
        let now = self.a.clock.now();
        let r = update_job(self.a.jobs.as_ref(), &job_id, |j| {
            let held = j.status == JobStatus::Running && j.lease_until.is_some_and(|l| l > now);
            if j.status.is_terminal() || held {
                return Ok(false);
            }
            let last = j
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "no error recorded".into());
            j.error = Some(JobError {
                code: "RETRIES_EXHAUSTED".into(),
                message: format!("gave up after {} attempts; last error: {last}", j.attempts),
            });
            j.status = JobStatus::Failed;
            j.lease_until = None;
            j.updated_at = now;
            Ok(true)
        })
        .await;
        match r {
            Ok(j) => {
                if j.status == JobStatus::Failed {
                    warn!(job_id = %job_id, "job dead-lettered and failed");
                }
                let _ = self.a.jobs_dlq.ack(&msg.receipt).await;
            }
            Err(CodaError::NotFound(_)) => {
                let _ = self.a.jobs_dlq.ack(&msg.receipt).await;
            }
            Err(e) => warn!(job_id = %job_id, error = %e, "could not fail dead-lettered job"),
        }
    }
}

enum Claim {
    Claimed(Box<Job>),
    Ended,
    HeldUntil(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_between_maps_steps_into_its_range() {
        let p = Progress::new();
        p.set_between(5, 85, 0, 4);
        assert_eq!(*p.tx.borrow(), 5);
        p.set_between(5, 85, 2, 4);
        assert_eq!(*p.tx.borrow(), 45);
        p.set_between(5, 85, 9, 4);
        assert_eq!(*p.tx.borrow(), 85);
        // Progress never goes back, even for a later, lower report.
        p.set_between(5, 85, 0, 0);
        assert_eq!(*p.tx.borrow(), 85);
    }
}
