//! Sessions and their files: `POST/GET/DELETE /v1/sessions...`.

use coda_api::RouteGroup;

#[tokio::main]
async fn main() -> Result<(), coda_lambda::Error> {
    coda_lambda::run_http(&[RouteGroup::Sessions]).await
}
