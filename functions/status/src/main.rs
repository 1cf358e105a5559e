//! Jobs (submit, get, list, cancel), webhook endpoints, blob downloads as presigned redirects, health and OpenAPI.

use coda_api::RouteGroup;

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::run_http(&[
        RouteGroup::Jobs,
        RouteGroup::Webhooks,
        RouteGroup::Blobs,
        RouteGroup::Meta,
    ])
    .await
}
