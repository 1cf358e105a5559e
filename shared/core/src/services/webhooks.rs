//! Webhook endpoint use cases: create, list, delete, rotate the secret, list and redeliver deliveries.
//!
//! Sending is `notify`'s work; this module only writes the rows it reads.
//! Another owner's endpoint or delivery is not found, as everywhere in the API.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::Adapters;
use crate::model::{Delivery, DeliveryAttempt, DeliveryStatus, Owner, Page, Webhook};
use crate::ports::HostResolver;
use crate::webhooks::{
    check_ip, check_url_with_policy, AddressPolicy, Host, WebhookEventType, WebhookSecret,
};
use crate::{CodaError, Result};

/// Endpoints one owner may have.
pub const MAX_WEBHOOKS_PER_OWNER: usize = 20;

/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// A new endpoint.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewWebhook {
    /// Where events are posted: `http(s)://host[:port][/path]`, a public address, at most
    /// 2048 bytes.
    #[schema(
        max_length = 2048,
        pattern = r"^[hH][tT][tT][pP][sS]?://[^\x00-\x20\x7f\\]+$"
    )]
    pub url: String,
    /// The event types to receive; at least one (duplicates are ignored).
    #[schema(schema_with = subscribable_events)]
    pub events: Vec<String>,
    /// Free text, at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// The schema of `NewWebhook.events`: at least one of the event types [`parse_events`] accepts.
fn subscribable_events() -> utoipa::openapi::Array {
    use utoipa::openapi::{ArrayBuilder, ObjectBuilder, Type};
    let offered = WebhookEventType::ALL
        .into_iter()
        .filter(|t| *t != WebhookEventType::JobProgress)
        .map(|t| t.as_str());
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(offered)),
        )
        .min_items(Some(1))
        .build()
}

/// Whether an endpoint receives deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    /// Deliveries are made.
    Active,
    /// The receiver answered `410 Gone`; nothing is delivered any more.
    Disabled,
}

/// An endpoint as its owner sees it; the secret is never shown here.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    /// Endpoint id (`wh_...`).
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<WebhookEventType>,
    /// Free text from the owner.
    pub description: Option<String>,
    /// `active` or `disabled`.
    pub status: WebhookState,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.webhook_id.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            description: w.description.clone(),
            status: if w.disabled_reason.is_some() {
                WebhookState::Disabled
            } else {
                WebhookState::Active
            },
            disabled_reason: w.disabled_reason.clone(),
            created_at: w.created_at,
        }
    }
}

/// An endpoint with its signing secret: the answer to create and rotate, the only times it is shown.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_<base64>`: verify the `webhook-signature` header with it. Shown only this once.
    pub secret: String,
}

impl From<&Webhook> for WebhookWithSecret {
    fn from(w: &Webhook) -> Self {
        Self {
            webhook: w.into(),
            secret: w.secret.clone(),
        }
    }
}

/// A delivery as the endpoint's owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// Delivery id (`dlv_...`).
    pub id: String,
    /// The `webhook-id` header: the same on every attempt and redelivery of the event.
    pub event_id: String,
    /// What happened.
    pub event_type: WebhookEventType,
    /// The job the event is about.
    pub job_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: DeliveryStatus,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.delivery_id,
            event_id: d.event_id,
            event_type: d.event_type,
            job_id: d.job_id,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}

/// Refuses a webhook URL `policy` does not allow: 422 `INVALID_WEBHOOK_URL`, the reason in `details.reason`.
///
/// `field` names the request field in `details.field`. Only the URL's text is
/// checked; [`Destinations::check`] also resolves its host.
pub fn check_destination(url: &str, policy: &AddressPolicy, field: &str) -> Result<()> {
    check_url_with_policy(url, policy)
        .map(|_| ())
        .map_err(|e| refused(field, e.to_string()))
}

fn refused(field: &str, reason: String) -> CodaError {
    CodaError::Unprocessable {
        code: "INVALID_WEBHOOK_URL",
        message: format!("{field} is not an acceptable webhook URL: {reason}"),
        details: json!({ "field": field, "reason": reason }),
    }
}

/// Which webhook URLs are accepted: the policy over the URL's text, and over
/// every address its host name resolves to now.
#[derive(Clone)]
pub struct Destinations {
    policy: AddressPolicy,
    resolver: Arc<dyn HostResolver>,
}

impl Destinations {
    /// Checks against `policy`, looking names up with `resolver`.
    pub fn new(policy: AddressPolicy, resolver: Arc<dyn HostResolver>) -> Self {
        Destinations { policy, resolver }
    }

    /// Refuses `url` (422 `INVALID_WEBHOOK_URL`) when its text is refused or its
    /// host resolves to any refused address.
    ///
    /// A name that does not resolve is accepted: DNS may change before the first
    /// event, and every connection checks the addresses again.
    pub async fn check(&self, url: &str, field: &str) -> Result<()> {
        let target =
            check_url_with_policy(url, &self.policy).map_err(|e| refused(field, e.to_string()))?;
        let Host::Domain(name) = &target.host else {
            return Ok(());
        };
        let Ok(ips) = self.resolver.lookup(name).await else {
            return Ok(());
        };
        // Any refused address refuses the name: a mix of public and internal
        // records is how rebinding attacks start.
        for ip in ips {
            if let Err(e) = check_ip(ip, &self.policy) {
                return Err(refused(
                    field,
                    format!("{name} resolves to a refused address: {e}"),
                ));
            }
        }
        Ok(())
    }
}

/// Parses event names: at least one, every one known; duplicates are dropped, first order kept.
pub fn parse_events(names: &[String]) -> Result<Vec<WebhookEventType>> {
    let known: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
    if names.is_empty() {
        return Err(CodaError::Unprocessable {
            code: "INVALID_EVENTS",
            message: "events must name at least one event type".into(),
            details: json!({ "field": "events", "known": known }),
        });
    }
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| WebhookEventType::parse(n).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(CodaError::Unprocessable {
            code: "INVALID_EVENTS",
            message: format!("unknown event types: {}", unknown.join(", ")),
            details: json!({ "field": "events", "unknown": unknown, "known": known }),
        });
    }
    // Progress events are part of the wire format, but jobs do not emit them yet:
    // accepting a subscription that never fires would fail silently.
    if names
        .iter()
        .any(|n| n == WebhookEventType::JobProgress.as_str())
    {
        return Err(CodaError::Unprocessable {
            code: "INVALID_EVENTS",
            message: "job.progress events are not offered yet; poll GET /v1/jobs/{id} for progress"
                .into(),
            details: json!({ "field": "events", "unsupported": ["job.progress"] }),
        });
    }
    let mut out = Vec::with_capacity(names.len());
    for t in names.iter().filter_map(|n| WebhookEventType::parse(n)) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_description(description: Option<&str>) -> Result<()> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => Err(CodaError::Unprocessable {
            code: "INVALID_DESCRIPTION",
            message: format!("description is longer than {MAX_DESCRIPTION_CHARS} characters"),
            details: json!({ "field": "description", "max_chars": MAX_DESCRIPTION_CHARS }),
        }),
        _ => Ok(()),
    }
}

/// Webhook endpoint use cases over the ports they need, built once in the wiring.
#[derive(Clone)]
pub struct Webhooks {
    a: Adapters,
    destinations: Destinations,
}

impl Webhooks {
    /// The service over these adapters, accepting destinations `policy` allows.
    pub fn new(a: &Adapters, policy: AddressPolicy) -> Self {
        Webhooks {
            a: a.clone(),
            destinations: Destinations::new(policy, a.resolver.clone()),
        }
    }

    /// Creates an endpoint with a fresh secret; the returned row holds the secret to show once.
    pub async fn create(&self, owner: &Owner, req: NewWebhook) -> Result<Webhook> {
        let repo = &self.a.webhooks;
        self.destinations.check(&req.url, "url").await?;
        let events = parse_events(&req.events)?;
        check_description(req.description.as_deref())?;
        let existing = repo.list_by_owner(owner).await?.len();
        if existing >= MAX_WEBHOOKS_PER_OWNER {
            return Err(CodaError::Unprocessable {
                code: "TOO_MANY_WEBHOOKS",
                message: format!(
                    "an account may have at most {MAX_WEBHOOKS_PER_OWNER} webhook endpoints; delete one first"
                ),
                details: json!({ "max": MAX_WEBHOOKS_PER_OWNER }),
            });
        }
        let now = self.a.clock.now();
        let webhook = Webhook {
            webhook_id: self.a.ids.new_id("wh"),
            owner: owner.0.clone(),
            url: req.url,
            events,
            description: req.description,
            secret: WebhookSecret::generate().expose(),
            disabled_reason: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        repo.create(&webhook).await?;
        Ok(webhook)
    }

    /// Reads the caller's endpoint; another owner's is not found.
    pub async fn get(&self, owner: &Owner, id: &str) -> Result<Webhook> {
        match self.a.webhooks.get(id).await? {
            Some(w) if w.owner == owner.0 => Ok(w),
            _ => Err(CodaError::NotFound(format!("webhook '{id}'"))),
        }
    }

    /// The caller's endpoints, oldest first.
    pub async fn list(&self, owner: &Owner) -> Result<Vec<Webhook>> {
        let mut all = self.a.webhooks.list_by_owner(owner).await?;
        all.retain(|w| w.owner == owner.0);
        Ok(all)
    }

    /// Removes the caller's endpoint. Its deliveries stay listed nowhere and are not sent again.
    pub async fn delete(&self, owner: &Owner, id: &str) -> Result<()> {
        self.get(owner, id).await?;
        self.a.webhooks.delete(id).await
    }

    /// Gives the caller's endpoint a new secret; the returned row holds it, to show once.
    ///
    /// Every attempt from now on is signed with the new secret, retries of older events included.
    pub async fn rotate(&self, owner: &Owner, id: &str) -> Result<Webhook> {
        let mut retry = super::ConflictRetry::new(format!("webhook '{id}'"), 16);
        loop {
            let mut w = self.get(owner, id).await?;
            w.secret = WebhookSecret::generate().expose();
            w.updated_at = self.a.clock.now();
            match self.a.webhooks.update(&w).await {
                Ok(stored) => return Ok(stored),
                Err(CodaError::Stale(_)) => retry.wait().await?,
                Err(CodaError::NotFound(_)) => {
                    return Err(CodaError::NotFound(format!("webhook '{id}'")))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The deliveries of the caller's endpoint, newest first; `limit` is clamped to 1..=100 (default 20).
    pub async fn list_deliveries(
        &self,
        owner: &Owner,
        id: &str,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>> {
        self.get(owner, id).await?;
        let mut page = self
            .a
            .deliveries
            .list_by_webhook(id, limit.unwrap_or(20).clamp(1, 100), cursor)
            .await?;
        page.items.retain(|d| d.owner == owner.0);
        Ok(page)
    }

    /// Sends an event again: a new pending delivery of the same event (same `webhook-id`, same body)
    /// to the endpoint's current URL, due now.
    ///
    /// A disabled endpoint is a 409 `WEBHOOK_DISABLED`; a delivery of another endpoint is not found.
    pub async fn redeliver(&self, owner: &Owner, id: &str, delivery_id: &str) -> Result<Delivery> {
        let webhook = self.get(owner, id).await?;
        let original = match self.a.deliveries.get(delivery_id).await? {
            Some(d) if d.owner == owner.0 && d.webhook_id.as_deref() == Some(id) => d,
            _ => {
                return Err(CodaError::NotFound(format!(
                    "delivery '{delivery_id}' of webhook '{id}'"
                )))
            }
        };
        if let Some(reason) = &webhook.disabled_reason {
            return Err(CodaError::Conflict {
                code: "WEBHOOK_DISABLED",
                message: format!("webhook '{id}' is disabled ({reason}); create a new endpoint"),
            });
        }
        let now = self.a.clock.now();
        let delivery = Delivery {
            delivery_id: self.a.ids.new_id("dlv"),
            owner: owner.0.clone(),
            webhook_id: Some(webhook.webhook_id),
            job_id: original.job_id,
            event_id: original.event_id,
            event_type: original.event_type,
            url: webhook.url,
            body: original.body,
            status: DeliveryStatus::Pending,
            attempts: vec![],
            next_attempt_at: Some(now),
            lease_until: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        self.a.deliveries.create(&delivery).await?;
        Ok(delivery)
    }
}
