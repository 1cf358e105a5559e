//! `coda-worker`: the GPU worker process. It consumes the jobs queue on AWS
//! with the same worker loop and runners as local mode, and on SIGTERM hands
//! its in-flight messages back to the queue.

use std::sync::Arc;

use coda_core::worker::{Runners, Worker};
use tokio::sync::watch;
use tracing::info;

use crate::app::worker_settings;
use crate::config::Config;

/// Runs `config.worker_count()` workers and the dead-letter loop until `shutdown` turns true.
pub async fn run(
    config: &Config,
    aws: &coda_aws::AwsAdapters,
    runners: Runners,
    shutdown: watch::Receiver<bool>,
) {
    let worker = Arc::new(Worker::new(&aws.core(), runners, worker_settings(config)));
    let n = config.worker_count();
    info!(workers = n, prefix = %config.storage.aws_prefix, kinds = ?worker.kinds(), "coda-worker started");
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(tokio::spawn(worker.clone().run(i, shutdown.clone())));
    }
    tasks.push(tokio::spawn(worker.clone().run_dead_letters(shutdown)));
    for t in tasks {
        let _ = t.await;
    }
    info!("coda-worker stopped");
}

/// Resolves on SIGTERM (ECS stopping the task) or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
