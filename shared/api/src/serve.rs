//! The HTTP/1.1 server loop: what `axum::serve` does, plus the limits a public server needs.
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never fires and
//! a client that sends a header slowly (slowloris) holds its connection open
//! for ever; it caps neither connections nor keeps its refusals in the error
//! envelope. Here:
//! - a request's header must arrive within `header_read_timeout`, and a kept-alive
//!   connection that sends nothing for as long is closed;
//! - at most `max_connections` are served at once; the next waits in the
//!   kernel's accept queue;
//! - hyper's own limits sit above the API's (1 MiB of header, 10,000 lines), so
//!   a large header reaches [`crate::header_limits`], which answers 431 in the
//!   envelope.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

/// Limits on connections, from the server's configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnectionLimits {
    /// Longest wait for a request's header, and for the next request on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// How long requests in flight may finish once shutdown starts.
    pub shutdown_grace: Duration,
}

/// hyper's read buffer: above the API's header limit, so that limit answers in the envelope.
const HYPER_MAX_BUF: usize = 4 * 1024 * 1024;
/// hyper's header-line limit, above the API's for the same reason.
const HYPER_MAX_HEADERS: usize = 10_000;

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; it is dropped here, before the caller's next await.
    let _ = stop.wait_for(|v| *v).await;
}

/// Serves `app` on `listener` under `limits` until `stop` turns true, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(HYPER_MAX_BUF)
            .max_headers(HYPER_MAX_HEADERS)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("requests still in flight after the grace were dropped");
    }
}
