//! Webhook delivery: the jobs table's stream (ended jobs' outboxes) and a
//! one-minute schedule (retries, and anything the stream missed). The logic is
//! `coda_lambda::notify`.

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::run_notify().await
}
