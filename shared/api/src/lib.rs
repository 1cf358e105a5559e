//! Coda's HTTP API (`/v1`): axum routes over the core services.
//!
//! The router is built from trait objects only, so `coda serve` (local
//! adapters) and the Lambda functions (AWS adapters) serve the same handlers.

mod chat_routes;
pub mod error;
pub mod extract;
pub mod openapi;
mod openapi_kinds;
mod routes;
mod score_routes;
pub mod serve;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use coda_core::auth::{TokenSigner, UrlSigner};
use coda_core::kinds::Kinds;
use coda_core::model::Owner;
use coda_core::ports::Clock;
use coda_core::services::{Adapters, Limits, Policies, Services};
use coda_core::CodaError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::{error_response, ApiError};

/// Finds the caller of a request (a bearer JWT locally, the authorizer's claims on AWS).
pub trait Authenticator: Send + Sync {
    /// The owner, or `Unauthorized`.
    fn authenticate(&self, req: &Request) -> Result<Owner, CodaError>;
}

/// Verifies `Authorization: Bearer <HS256 JWT>` and takes the owner from `sub`.
pub struct JwtAuth {
    /// The signer holding the shared secret.
    pub signer: TokenSigner,
    /// Time source for expiry checks.
    pub clock: Arc<dyn Clock>,
}

impl Authenticator for JwtAuth {
    fn authenticate(&self, req: &Request) -> Result<Owner, CodaError> {
        let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
            CodaError::Unauthorized("missing Authorization header; send 'Bearer <token>'".into())
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                CodaError::Unauthorized("Authorization must be 'Bearer <token>'".into())
            })?;
        let claims = self.signer.verify(token.trim(), self.clock.now())?;
        Ok(Owner(claims.sub))
    }
}

/// Everything the handlers use: the services, built once in the wiring, and the adapters behind them.
pub struct AppState {
    /// The use cases.
    pub services: Services,
    /// The ports (health reads the queue depth; blob routes stream from the store).
    pub adapters: Adapters,
    /// Limits and lifetimes.
    pub limits: Limits,
    /// Job kinds this deployment knows, and those it runs.
    pub kinds: Kinds,
    /// Signs the local store's object URLs; None where the store presigns itself (S3).
    pub url_signer: Option<UrlSigner>,
    /// How callers are identified.
    pub auth: Arc<dyn Authenticator>,
    /// Worker count reported by health.
    pub workers: usize,
    /// Answer blob downloads with a redirect to a signed URL instead of the bytes (AWS: S3 serves them).
    pub redirect_downloads: bool,
    /// The chat and the tool registry.
    pub chat: coda_chat::chat::Chat,
}

impl AppState {
    /// The state over `adapters` with the services `policies` imply; no URL signer, no workers, bytes served directly.
    pub fn new(adapters: Adapters, policies: Policies, auth: Arc<dyn Authenticator>) -> Self {
        let services = Services::new(&adapters, &policies);
        let chat = coda_chat::chat::Chat::new(
            services.clone(),
            Arc::new(coda_chat::registry::ToolRegistry::builtin(
                &policies.kinds.registry,
            )),
            Arc::new(coda_chat::llm::PlannerLlm),
            Arc::new(coda_chat::chat::NoLocalTools),
            coda_chat::chat::ChatSettings::default(),
        );
        AppState {
            chat,
            services,
            adapters,
            limits: policies.limits,
            kinds: policies.kinds,
            url_signer: None,
            auth,
            workers: 0,
            redirect_downloads: false,
        }
    }
}

/// Shared state handle.
pub type SharedState = Arc<AppState>;

/// A slice of the API: on AWS each Lambda function serves one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteGroup {
    /// Sessions and their files.
    Sessions,
    /// Upload slots (and, locally, the signed object URLs).
    Uploads,
    /// Jobs: submit, read, list, cancel.
    Jobs,
    /// Blob downloads.
    Blobs,
    /// Webhook endpoints and their deliveries.
    Webhooks,
    /// The chat and the MCP server over the same tools.
    Chat,
    /// Health and the OpenAPI document.
    Meta,
}

impl RouteGroup {
    /// Every group: what `coda serve` mounts.
    pub const ALL: [RouteGroup; 7] = [
        RouteGroup::Sessions,
        RouteGroup::Uploads,
        RouteGroup::Jobs,
        RouteGroup::Blobs,
        RouteGroup::Webhooks,
        RouteGroup::Chat,
        RouteGroup::Meta,
    ];
}

/// The whole `/v1` API with its middleware.
pub fn router(state: SharedState) -> Router {
    router_for(state, &RouteGroup::ALL)
}

/// The routes of some groups, with the same middleware and error handling as the whole API.
pub fn router_for(state: SharedState, groups: &[RouteGroup]) -> Router {
    let body_limit = usize::try_from(state.limits.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    // JSON bodies are small; only the two upload routes may carry a whole file.
    let json_limit = DefaultBodyLimit::max(1024 * 1024);
    let file_limit = DefaultBodyLimit::max(body_limit);
    let mut protected = Router::new();
    let mut public = Router::new();
    for group in groups {
        match group {
            RouteGroup::Chat => {
                protected = protected
                    .route(
                        "/v1/sessions/{id}/chat",
                        post(chat_routes::chat).layer(json_limit),
                    )
                    // MCP's Streamable HTTP: the chat's tools, run as the bearer token's owner.
                    .route_service("/mcp", coda_mcp::CodaMcp::http_service(state.chat.clone()));
            }
            RouteGroup::Sessions => {
                protected = protected
                    .route(
                        "/v1/sessions",
                        post(routes::create_session).layer(json_limit),
                    )
                    .route(
                        "/v1/sessions/{id}",
                        get(routes::get_session).delete(routes::delete_session),
                    )
                    .route(
                        "/v1/sessions/{id}/files",
                        post(routes::add_session_file).layer(file_limit),
                    )
                    .route("/v1/sessions/{id}/audio", get(routes::get_session_audio))
                    .route("/v1/sessions/{id}/score", get(score_routes::get_score))
                    .route(
                        "/v1/sessions/{id}/score/edits",
                        post(score_routes::edit_score).layer(json_limit),
                    )
                    .route(
                        "/v1/sessions/{id}/score/undo",
                        post(score_routes::undo_score).layer(json_limit),
                    )
                    .route(
                        "/v1/sessions/{id}/score/redo",
                        post(score_routes::redo_score).layer(json_limit),
                    );
                public = public
                    .route("/v1/schemas/score", get(score_routes::score_schema))
                    .route("/v1/schemas/edit", get(score_routes::edit_schema));
            }
            RouteGroup::Uploads => {
                protected = protected
                    .route("/v1/uploads", post(routes::create_upload).layer(json_limit))
                    .route("/v1/uploads/{id}", get(routes::get_upload));
                if state.url_signer.is_some() {
                    public = public.route(
                        "/v1/objects/{*key}",
                        put(routes::put_signed_object)
                            .get(routes::get_signed_object)
                            .layer(file_limit),
                    );
                }
            }
            RouteGroup::Jobs => {
                protected = protected
                    .route(
                        "/v1/jobs",
                        post(routes::create_job)
                            .get(routes::list_jobs)
                            .layer(json_limit),
                    )
                    .route(
                        "/v1/jobs/{id}",
                        get(routes::get_job).delete(routes::cancel_job),
                    );
            }
            RouteGroup::Blobs => {
                protected = protected.route("/v1/blobs/{*key}", get(routes::get_blob));
            }
            RouteGroup::Webhooks => {
                protected = protected
                    .route(
                        "/v1/webhooks",
                        post(routes::create_webhook)
                            .get(routes::list_webhooks)
                            .layer(json_limit),
                    )
                    .route(
                        "/v1/webhooks/{id}",
                        get(routes::get_webhook).delete(routes::delete_webhook),
                    )
                    .route(
                        "/v1/webhooks/{id}/rotate",
                        post(routes::rotate_webhook_secret).layer(json_limit),
                    )
                    .route(
                        "/v1/webhooks/{id}/deliveries",
                        get(routes::list_webhook_deliveries),
                    )
                    .route(
                        "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
                        post(routes::redeliver_webhook_delivery).layer(json_limit),
                    );
            }
            RouteGroup::Meta => {
                public = public
                    .route("/v1/health", get(routes::health))
                    .route("/v1/tools", get(chat_routes::list_tools))
                    .route("/v1/openapi.json", get(openapi::serve));
            }
        }
    }
    let protected =
        protected.route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let request_id = HeaderName::from_static("x-request-id");
    protected
        .merge(public)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(header_limits))
        .layer(CatchPanicLayer::custom(|_| {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error", serde_json::json!({}))
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Most header lines a request may carry.
pub const MAX_HEADERS: usize = 100;
/// Most bytes of header (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Refuses an oversized header with 431 in the error envelope (hyper's own limits sit above these, see `serve`).
pub async fn header_limits(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        let msg = format!(
            "the request header is too large: {} lines and {bytes} bytes; at most {MAX_HEADERS} lines and {MAX_HEADER_BYTES} bytes",
            headers.len()
        );
        return error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADER_TOO_LARGE",
            &msg,
            serde_json::json!({ "lines": headers.len(), "bytes": bytes, "max_lines": MAX_HEADERS, "max_bytes": MAX_HEADER_BYTES }),
        );
    }
    next.run(req).await
}

/// Authenticates the caller, then counts the request against their rate limit (429 `RATE_LIMITED`).
async fn authenticate(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let owner = match state.auth.authenticate(&req) {
        Ok(owner) => owner,
        Err(e) => return ApiError(e).into_response(),
    };
    if let Err(e) = state.services.quotas.request(&owner).await {
        return ApiError(e).into_response();
    }
    req.extensions_mut().insert(owner);
    next.run(req).await
}

async fn not_found(req: Request) -> Response {
    let msg = format!("no route for {} {}", req.method(), req.uri().path());
    error_response(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &msg,
        serde_json::json!({}),
    )
}

async fn method_not_allowed(req: Request) -> Response {
    let msg = format!("{} is not allowed on {}", req.method(), req.uri().path());
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &msg,
        serde_json::json!({}),
    )
}

/// Rewrites any error that is not already JSON (framework rejections) into the standard shape.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        s if s.is_server_error() => "INTERNAL",
        _ => "INVALID_REQUEST",
    };
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        message
    };
    let mut out = error_response(status, code, &message, serde_json::json!({}));
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
