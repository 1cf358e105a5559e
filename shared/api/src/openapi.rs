//! The OpenAPI document, generated from the handlers' own types.

use axum::extract::State;
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
        routes::create_webhook,
        routes::list_webhooks,
        routes::get_webhook,
        routes::delete_webhook,
        routes::rotate_webhook_secret,
        routes::list_webhook_deliveries,
        routes::redeliver_webhook_delivery,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The whole document for a deployment: the handlers' types plus its kinds.
pub fn document(kinds: &coda_core::kinds::Kinds) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    crate::openapi_kinds::add_kinds(&mut doc, kinds);
    doc
}

/// Serves the document.
pub async fn serve(State(s): State<crate::SharedState>) -> Json<serde_json::Value> {
    Json(document(&s.kinds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_the_webhook_routes() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (path, method) in [
            ("/v1/webhooks", "post"),
            ("/v1/webhooks", "get"),
            ("/v1/webhooks/{id}", "get"),
            ("/v1/webhooks/{id}", "delete"),
            ("/v1/webhooks/{id}/rotate", "post"),
            ("/v1/webhooks/{id}/deliveries", "get"),
            (
                "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
                "post",
            ),
        ] {
            assert!(
                doc["paths"][path].get(method).is_some(),
                "openapi lacks {method} {path}"
            );
        }
        let schemas = &doc["components"]["schemas"];
        for name in [
            "WebhookView",
            "WebhookWithSecret",
            "DeliveryView",
            "NewWebhook",
        ] {
            assert!(schemas.get(name).is_some(), "openapi lacks schema {name}");
        }
        assert!(schemas["WebhookView"]["properties"].get("secret").is_none());
        assert!(schemas["JobAccepted"]["properties"]
            .get("webhook_secret")
            .is_some());
        assert!(schemas["NewJob"]["properties"].get("webhook_url").is_some());
    }
}
