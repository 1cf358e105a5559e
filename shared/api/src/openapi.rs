//! The OpenAPI document, generated from the handlers' own types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Coda's API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Coda API", description = "Asynchronous jobs for AI music work: probe, transcribe, separate, synthesize, compose."),
    paths(
        routes::health,
        routes::create_session,
        routes::get_session,
        routes::delete_session,
        routes::add_session_file,
        routes::create_upload,
        routes::get_upload,
        routes::put_signed_object,
        routes::get_signed_object,
        routes::get_blob,
        routes::create_job,
        routes::get_job,
        routes::list_jobs,
        routes::cancel_job,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Serves the document.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
