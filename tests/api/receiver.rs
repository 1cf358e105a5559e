//! A real webhook receiver on loopback: records every request and answers from a script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
    /// Wall-clock arrival.
    pub at_utc: chrono::DateTime<chrono::Utc>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    /// The `data.job_id` of the event.
    pub fn job_id(&self) -> String {
        self.json()["data"]["job_id"]
            .as_str()
            .expect("event names its job")
            .to_string()
    }

    /// Checks the Standard Webhooks signature with `secret`.
    pub fn verify(&self, secret: &str) -> Result<(), coda_core::webhooks::VerifyError> {
        let headers = vec![
            ("webhook-id", self.id.as_str()),
            ("webhook-timestamp", self.timestamp.as_str()),
            ("webhook-signature", self.signature.as_str()),
        ];
        coda_core::webhooks::verify(secret, &headers, &self.body, chrono::Utc::now())
    }
}

#[derive(Default)]
pub struct Inner {
    received: Vec<Received>,
    /// Statuses (and an optional Retry-After) to answer with, in order; 200 once empty.
    script: VecDeque<(u16, Option<String>)>,
}

/// A stopped receiver: its port and what it received.
pub struct Stopped {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// A receiver running on a loopback port until dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts on a free port.
    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap(), Arc::default()).await
    }

    /// Starts on `addr`, sharing `inner` with an earlier receiver (a restart).
    async fn start_on(addr: SocketAddr, inner: Arc<Mutex<Inner>>) -> Receiver {
        let app = Router::new()
            .route("/hook", post(handle))
            .route("/hook/{*rest}", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner, task }
    }

    /// The URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers the next requests with these statuses, then 200.
    pub fn script(&self, statuses: &[u16]) {
        let mut inner = self.inner.lock().unwrap();
        inner.script = statuses.iter().map(|s| (*s, None)).collect();
    }

    /// Answers the next request with `status` and a `Retry-After` header.
    pub fn script_retry_after(&self, status: u16, retry_after: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner
            .script
            .push_back((status, Some(retry_after.to_string())));
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Stops listening; `restart` brings it back on the same port with the same record.
    pub async fn stop(self) -> Stopped {
        self.task.abort();
        let _ = self.task.await;
        Stopped {
            addr: self.addr,
            inner: self.inner,
        }
    }

    /// Listens again where a stopped receiver was.
    pub async fn restart(stopped: Stopped) -> Receiver {
        Self::start_on(stopped.addr, stopped.inner).await
    }

    /// Waits until `pred` holds for what was received, or panics after `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let t0 = Instant::now();
        loop {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            assert!(
                t0.elapsed() < within,
                "receiver: still waiting for {what} after {within:?}; got {} requests: {:?}",
                got.len(),
                got.iter()
                    .map(|r| (r.id.clone(), r.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut inner = inner.lock().unwrap();
    let (status, retry_after) = inner.script.pop_front().unwrap_or((200, None));
    inner.received.push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body,
        at: Instant::now(),
        at_utc: chrono::Utc::now(),
        answered: status,
    });
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match retry_after {
        Some(v) => (code, [("retry-after", v)]).into_response(),
        None => code.into_response(),
    }
}

/// How many different jobs the requests carry events for.
pub fn distinct_jobs(received: &[Received]) -> usize {
    received
        .iter()
        .map(Received::job_id)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// The `webhook-id`s that arrived per job, after checking every signature with `secret` and every type.
pub fn ids_by_job(
    received: &[Received],
    secret: &str,
    event_type: &str,
) -> std::collections::HashMap<String, Vec<String>> {
    let mut per_job: std::collections::HashMap<String, Vec<String>> = Default::default();
    for r in received {
        r.verify(secret).expect("signature verifies");
        let body = r.json();
        assert_eq!(body["type"], event_type, "{body}");
        per_job.entry(r.job_id()).or_default().push(r.id.clone());
    }
    per_job
}
