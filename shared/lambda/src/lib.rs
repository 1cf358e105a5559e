//! What every Coda Lambda function shares: AWS adapters from the environment,
//! identity from the API Gateway JWT authorizer, the ingest batch handler, the
//! webhook notifier ([`notify`]) and JSON logs. Each function's `main.rs` picks
//! one entry point from here.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use coda_api::{router_for, AppState, Authenticator, RouteGroup, SharedState};
use coda_aws::{object_created_from_s3_event, AwsAdapters, AwsNames};
use coda_config::Config;
use coda_core::kinds::Kinds;
use coda_core::model::Owner;
use coda_core::services::ingest::IngestOutcome;
use coda_core::services::{Ingest, Policies, Sessions};
use coda_core::CodaError;
use lambda_http::request::RequestContext;
use tracing::{info, warn};

pub mod notify;

pub use notify::{
    handle_notify, run_notify, NotifyEvent, NotifyResponse, NotifySettings, SweepReport,
};

/// Boxed error type the Lambda runtime accepts.
pub type Error = lambda_runtime::Error;

/// JSON log lines, with the span fields (the runtime's `requestId`, a job's `job_id`) on every line.
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter(tracing_subscriber::EnvFilter::new(level.to_lowercase()))
        .without_time()
        .try_init();
    coda_core::panics::log_panics();
}

/// The configuration of a function: defaults for Lambda, then its `CODA_*` environment.
pub fn config_from_env() -> Result<Config, CodaError> {
    Config::for_lambda(std::env::vars()).map_err(notify::setting_error)
}

/// Connects the AWS adapters named by `aws_prefix` (`CODA_AWS_PREFIX`, default `coda`), using the standard AWS environment.
pub async fn adapters_from_env(config: &Config) -> Result<AwsAdapters, Error> {
    let names = AwsNames::new(&config.storage.aws_prefix)?;
    let sdk = coda_aws::load_sdk_config().await;
    Ok(AwsAdapters::connect(&names, &sdk).await?)
}

/// The kinds the API accepts: the registry, running those of `job_kinds` (`CODA_JOB_KINDS`; empty means all).
pub fn kinds_from_config(config: &Config) -> Result<Kinds, CodaError> {
    let registry = coda_jobs::registry();
    let available = registry.parse_list(&config.jobs.job_kinds)?;
    Ok(Kinds::new(registry, &available))
}

/// Takes the owner from the claims the API Gateway JWT authorizer verified.
pub struct GatewayClaimsAuth;

impl Authenticator for GatewayClaimsAuth {
    fn authenticate(&self, req: &axum::extract::Request) -> Result<Owner, CodaError> {
        let sub = match req.extensions().get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .and_then(|jwt| jwt.claims.get("sub"))
                .cloned(),
            _ => None,
        };
        match sub {
            Some(s) if !s.is_empty() => Ok(Owner(s)),
            _ => Err(CodaError::Unauthorized(
                "no verified JWT claims on the request".into(),
            )),
        }
    }
}

/// The API state over the AWS adapters: downloads redirect to S3, identity comes from the authorizer.
pub fn http_state(
    a: &AwsAdapters,
    config: &Config,
    kinds: Kinds,
    auth: Arc<dyn Authenticator>,
) -> SharedState {
    Arc::new(app_state(a, config, kinds, auth))
}

fn app_state(
    a: &AwsAdapters,
    config: &Config,
    kinds: Kinds,
    auth: Arc<dyn Authenticator>,
) -> AppState {
    AppState {
        redirect_downloads: true,
        ..AppState::new(
            coda_core::services::Adapters {
                resolver: config.webhook_resolver(),
                ..a.core()
            },
            policies(config, kinds),
            auth,
        )
    }
}

/// What the services enforce on AWS: the configured limits, `kinds`, and (Lambda defaults)
/// only public webhook destinations, so a function in a VPC is never pointed at its neighbours.
pub fn policies(config: &Config, kinds: Kinds) -> Policies {
    Policies {
        limits: config.limits(),
        kinds,
        webhook_policy: config.webhook_policy(),
        quotas: config.quota_policy(),
    }
}

/// Runs the chat function (the Chat group): its model is what `llm` builds from the
/// configuration (a crate of its own, so the other functions do not link the providers).
pub async fn run_chat<F, Fut>(llm: F) -> Result<(), Error>
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = Arc<dyn coda_chat::llm::Llm>>,
{
    init_logging();
    let config = config_from_env()?;
    let adapters = adapters_from_env(&config).await?;
    let state = app_state(
        &adapters,
        &config,
        kinds_from_config(&config)?,
        Arc::new(GatewayClaimsAuth),
    );
    let settings = coda_chat::chat::ChatSettings::from_config(&config.chat);
    let chat = coda_chat::chat::Chat::new(
        state.services.clone(),
        Arc::new(coda_chat::registry::ToolRegistry::builtin(
            &state.kinds.registry,
        )),
        llm(config.clone()).await,
        // No CMU dictionary or voices folder in this function: those tools answer 503.
        Arc::new(coda_chat::chat::NoLocalTools),
        settings,
    );
    let state = Arc::new(AppState { chat, ..state });
    lambda_http::run(router_for(state, &[RouteGroup::Chat])).await
}

/// Runs an HTTP function serving `groups` of the API.
pub async fn run_http(groups: &[RouteGroup]) -> Result<(), Error> {
    init_logging();
    let config = config_from_env()?;
    let adapters = adapters_from_env(&config).await?;
    let state = http_state(
        &adapters,
        &config,
        kinds_from_config(&config)?,
        Arc::new(GatewayClaimsAuth),
    );
    lambda_http::run(router_for(state, groups)).await
}

/// Ingest over the AWS adapters.
pub fn ingest_service(a: &AwsAdapters, config: &Config) -> Ingest {
    let core = a.core();
    Ingest::new(&core, Sessions::new(&core, config.limits()))
}

/// Ingests one SQS message body (an S3 event notification); a test event is a no-op.
pub async fn ingest_s3_message(ingest: &Ingest, body: &str) -> Result<usize, CodaError> {
    let events = object_created_from_s3_event(body)?;
    let mut created = 0;
    for e in &events {
        let outcome = ingest.handle_object_created(e).await?;
        info!(bucket = %e.bucket, key = %e.key, ?outcome, "ingested");
        if let IngestOutcome::Created(ids) = outcome {
            created += ids.len();
        }
    }
    Ok(created)
}

/// Handles an SQS batch, reporting each failed message in `batchItemFailures` so only those come back.
pub async fn handle_ingest_batch(ingest: &Ingest, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for msg in event.records {
        let id = msg.message_id.clone().unwrap_or_default();
        let result = match msg.body.as_deref() {
            Some(body) => ingest_s3_message(ingest, body).await.map(|_| ()),
            None => Err(CodaError::bad_request(
                "INVALID_S3_EVENT",
                "SQS message without a body",
            )),
        };
        if let Err(e) = result {
            warn!(message_id = %id, code = e.code(), error = %e, "ingest failed; the message goes back to the queue");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Runs the ingest function: SQS batches of S3 notifications → job rows and job messages.
pub async fn run_ingest() -> Result<(), Error> {
    init_logging();
    let config = config_from_env()?;
    let a = adapters_from_env(&config).await?;
    let ingest = Arc::new(ingest_service(&a, &config));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |ev: lambda_runtime::LambdaEvent<SqsEvent>| {
            let ingest = ingest.clone();
            async move { Ok::<_, Error>(handle_ingest_batch(&ingest, ev.payload).await) }
        },
    ))
    .await
}
