//! The OpenAPI document, generated from the handlers' own types.

use axum::extract::State;
use axum::Json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
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

/// The responses any operation can give besides its own, so handlers list only theirs:
///
/// - 401 on every bearer-protected operation: the auth layer answers before the handler;
/// - 429 on every bearer-protected operation: the auth layer counts the request (`requests_per_minute`),
///   and a job submission counts against its kind's hourly quota;
/// - 400 where a path, query, header or body is parsed: a malformed one is refused;
/// - 500 and 503 everywhere: a failing or busy store.
///
/// Each is a shared response in `components/responses`, with the standard error body.
/// Every response, these included, carries `x-request-id`.
struct CommonResponses;

/// (status, name in `components/responses`, description) of the shared error responses.
const BAD_REQUEST: (&str, &str, &str) = (
    "400",
    "BadRequest",
    "a malformed path, query, header or body",
);
const UNAUTHORIZED: (&str, &str, &str) = (
    "401",
    "Unauthorized",
    "no valid bearer token: missing, malformed, badly signed or expired",
);
const TOO_MANY: (&str, &str, &str) = (
    "429",
    "TooManyRequests",
    "over the caller's rate limit (`RATE_LIMITED`) or a job kind's hourly quota (`QUOTA_EXCEEDED`); retry after `Retry-After` seconds",
);
const INTERNAL: (&str, &str, &str) = (
    "500",
    "InternalError",
    "an unexpected failure; details are in the server's logs",
);
const UNAVAILABLE: (&str, &str, &str) = (
    "503",
    "Unavailable",
    "a dependency is busy or out of space; worth retrying",
);

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(utoipa::openapi::Object::with_type(
            utoipa::openapi::Type::String,
        ))
        .description(Some(description))
        .build()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn with_request_id(r: &mut Response) {
    r.headers.insert(
        "x-request-id".into(),
        string_header("the request's id: the client's own `x-request-id`, else a new UUID"),
    );
}

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (_, name, description) in [BAD_REQUEST, INTERNAL, UNAVAILABLE] {
            components
                .responses
                .insert(name.into(), RefOr::T(error_response(description).build()));
        }
        let (_, name, description) = UNAUTHORIZED;
        let unauthorized = error_response(description)
            .header("WWW-Authenticate", string_header("`Bearer`"))
            .build();
        components
            .responses
            .insert(name.into(), RefOr::T(unauthorized));
        let (_, name, description) = TOO_MANY;
        let too_many = error_response(description)
            .header(
                "Retry-After",
                string_header("seconds until the window ends, when a request will pass again"),
            )
            .build();
        components.responses.insert(name.into(), RefOr::T(too_many));
        for r in components.responses.values_mut() {
            if let RefOr::T(r) = r {
                with_request_id(r);
            }
        }
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let parses_input = op.parameters.as_ref().is_some_and(|p| !p.is_empty())
                    || op.request_body.is_some();
                let mut common = vec![INTERNAL, UNAVAILABLE];
                if secured {
                    common.push(UNAUTHORIZED);
                    common.push(TOO_MANY);
                }
                if parses_input {
                    common.push(BAD_REQUEST);
                }
                for (status, name, _) in common {
                    op.responses
                        .responses
                        .entry(status.into())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
                }
                for r in op.responses.responses.values_mut() {
                    if let RefOr::T(r) = r {
                        with_request_id(r);
                    }
                }
            }
        }
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
        routes::get_session_audio,
        crate::chat_routes::chat,
        crate::chat_routes::list_tools,
        crate::score_routes::get_score,
        crate::score_routes::edit_score,
        crate::score_routes::undo_score,
        crate::score_routes::redo_score,
        crate::score_routes::score_schema,
        crate::score_routes::edit_schema,
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
    modifiers(&BearerAuth, &CommonResponses)
)]
pub struct ApiDoc;

/// The whole document for a deployment: the handlers' types plus its kinds.
///
/// utoipa 5 writes a link's fields in snake case (`operation_id`); OpenAPI spells them
/// `operationId`, `operationRef` and `requestBody`, so they are renamed here.
pub fn document(kinds: &coda_core::kinds::Kinds) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    crate::openapi_kinds::add_kinds(&mut doc, kinds);
    let mut responses: Vec<&mut serde_json::Value> = vec![];
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for op in paths.values_mut().filter_map(|i| i.as_object_mut()) {
            for op in op.values_mut() {
                if let Some(r) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
                    responses.extend(r.values_mut());
                }
            }
        }
    }
    for response in responses {
        let links = response.get_mut("links").and_then(|l| l.as_object_mut());
        for link in links.into_iter().flat_map(|l| l.values_mut()) {
            let Some(link) = link.as_object_mut() else {
                continue;
            };
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(snake) {
                    link.insert(camel.into(), v);
                }
            }
        }
    }
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

    fn each_operation(doc: &serde_json::Value) -> Vec<(String, String, &serde_json::Value)> {
        let mut ops = vec![];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ops.push((method.to_uppercase(), path.clone(), op));
            }
        }
        ops
    }

    #[test]
    fn every_operation_documents_the_errors_it_shares_with_all() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (method, path, op) in each_operation(&doc) {
            let responses = &op["responses"];
            for status in ["500", "503"] {
                assert!(
                    responses.get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
            let secured = op.get("security").is_some();
            assert_eq!(
                responses.get("401").is_some(),
                secured || path.starts_with("/v1/objects/"),
                "{method} {path}: 401"
            );
            let parses = op.get("parameters").is_some() || op.get("requestBody").is_some();
            assert_eq!(
                responses.get("400").is_some(),
                parses,
                "{method} {path}: 400"
            );
            for (status, r) in responses.as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let r = match r.get("$ref").and_then(|r| r.as_str()) {
                        Some(name) => {
                            &doc["components"]["responses"]
                                [name.trim_start_matches("#/components/responses/")]
                        }
                        None => r,
                    };
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                    assert!(r["headers"].get("x-request-id").is_some());
                }
            }
        }
        let unauthorized = &doc["components"]["responses"]["Unauthorized"];
        assert!(unauthorized["headers"].get("WWW-Authenticate").is_some());
    }

    #[test]
    fn paging_and_signatures_are_query_parameters() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut seen = 0;
        for (method, path, op) in each_operation(&doc) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let want = match name {
                    "limit" | "cursor" | "expires" | "signature" | "format" | "rev" => "query",
                    "Range" => "header",
                    _ => "path",
                };
                assert_eq!(p["in"], want, "{method} {path} {name}");
                if want == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path} {name}"
                    );
                }
                seen += 1;
            }
        }
        assert!(seen > 20);
    }

    #[test]
    fn creates_link_to_their_reads() {
        let doc = document(&coda_core::kinds::Kinds::default());
        let ids: Vec<String> = each_operation(&doc)
            .iter()
            .map(|(_, _, op)| op["operationId"].as_str().unwrap().to_string())
            .collect();
        for (path, status, links) in [
            (
                "/v1/sessions",
                "201",
                &["get_session", "delete_session", "add_session_file"][..],
            ),
            ("/v1/uploads", "201", &["get_upload"][..]),
            ("/v1/jobs", "202", &["get_job", "cancel_job"][..]),
            (
                "/v1/webhooks",
                "201",
                &[
                    "get_webhook",
                    "delete_webhook",
                    "rotate_webhook_secret",
                    "list_webhook_deliveries",
                ][..],
            ),
        ] {
            let got = doc["paths"][path]["post"]["responses"][status]["links"]
                .as_object()
                .unwrap_or_else(|| panic!("POST {path} has no links"));
            let targets: Vec<&str> = got
                .values()
                .map(|l| l["operationId"].as_str().unwrap())
                .collect();
            for want in links {
                assert!(targets.contains(want), "POST {path} does not link {want}");
                assert!(ids.iter().any(|i| i == want), "no operation {want}");
            }
            for l in got.values() {
                for value in l["parameters"].as_object().unwrap().values() {
                    let value = value.as_str().unwrap();
                    assert!(value.starts_with("$response.body#/"), "{value}");
                }
            }
        }
    }
}
