//! Upload slots with presigned S3 PUT URLs: `POST/GET /v1/uploads...`.

use coda_api::RouteGroup;

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::run_http(&[RouteGroup::Uploads]).await
}
