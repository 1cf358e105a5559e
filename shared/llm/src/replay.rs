//! A local HTTP server that replays providers' answers in order and records what it was sent:
//! the tests' stand-in for a hosted LLM, which cannot run here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Its HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Its body (JSON text).
    pub body: String,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Answer {
    /// A 200 with `body`.
    pub fn ok(body: &str) -> Self {
        Self::status(200, body)
    }

    /// `status` with `body`.
    pub fn status(status: u16, body: &str) -> Self {
        Answer {
            status,
            headers: vec![],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Answering after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request the server got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its path.
    pub path: String,
    /// Its `Authorization` header.
    pub authorization: Option<String>,
    /// Its body as JSON (Null when it was not).
    pub body: Value,
}

#[derive(Default)]
struct Script {
    answers: Vec<Answer>,
    next: usize,
    received: Vec<Received>,
}

/// The running server.
pub struct ReplayServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ReplayServer {
    /// Serves `answers` in order on a free loopback port (the last one again once they run out).
    pub async fn start(answers: Vec<Answer>) -> std::io::Result<Self> {
        let script = Arc::new(Mutex::new(Script {
            answers,
            ..Script::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ReplayServer {
            base_url,
            script,
            task,
        })
    }

    /// What it was sent, in order.
    pub fn received(&self) -> Vec<Received> {
        self.script
            .lock()
            .map(|s| s.received.clone())
            .unwrap_or_default()
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let a = {
        let Ok(mut s) = script.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        s.received.push(Received {
            path: uri.path().to_string(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let i = s.next.min(s.answers.len().saturating_sub(1));
        s.next += 1;
        s.answers.get(i).cloned()
    };
    let Some(a) = a else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    tokio::time::sleep(a.delay).await;
    let mut r = (
        StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        a.body,
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    for (k, v) in a.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(&v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// A Bedrock model that talks to `server` instead of AWS: signed with fixed test credentials
/// in `us-east-1`, so the requests are the SDK's real ones.
pub async fn bedrock_against(server: &ReplayServer, model_id: &str) -> crate::bedrock::BedrockLlm {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&server.base_url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "replay",
        ))
        .load()
        .await;
    crate::bedrock::BedrockLlm::from_sdk_config(&config, model_id)
}
