//! S3 `ObjectCreated` notifications (via SQS) → job rows and job messages.

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::run_ingest().await
}
