//! Webhook delivery on job completion.
//!
//! A stub until the webhooks issue lands: it accepts any event, logs it and
//! delivers nothing. The SAM template gives it no event source yet.

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::init_logging();
    lambda_runtime::run(lambda_runtime::service_fn(|ev: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
        tracing::warn!(event = %ev.payload, "notify is a stub: webhooks are not implemented yet");
        Ok::<_, coda_lambda::Error>(serde_json::json!({ "delivered": 0 }))
    }))
    .await
}
