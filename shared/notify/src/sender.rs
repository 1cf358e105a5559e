//! `HttpWebhookSender`: POSTs with a per-attempt timeout, no redirects, and the SSRF guard.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use coda_core::ports::{HostResolver, SendResult, SystemResolver, WebhookSender};
use coda_core::webhooks::{check_ip, check_url_with_policy, AddressPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A name resolved only to addresses the policy refuses; retrying cannot help.
#[derive(Debug)]
struct RefusedName(String);

impl std::fmt::Display for RefusedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedName {}

/// Resolves names and keeps only the addresses the policy allows, so a name
/// that points at 169.254.169.254 or, later, re-points there (DNS rebinding)
/// never gets a connection.
struct GuardedResolver {
    policy: AddressPolicy,
    resolver: Arc<dyn HostResolver>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, resolver) = (self.policy, self.resolver.clone());
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<IpAddr> = resolver.lookup(&host).await?;
            let allowed: Vec<SocketAddr> = found
                .iter()
                .filter(|ip| check_ip(**ip, &policy).is_ok())
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            if allowed.is_empty() {
                let why = match found.first().map(|ip| check_ip(*ip, &policy)) {
                    Some(Err(e)) => format!("{host} resolves to a refused address: {e}"),
                    _ => format!("{host} has no allowed address"),
                };
                return Err(Box::new(RefusedName(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Sends webhook POSTs with reqwest.
pub struct HttpWebhookSender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl HttpWebhookSender {
    /// A sender with a time limit per attempt and the destination policy, resolving with the system resolver.
    pub fn new(timeout: Duration, policy: AddressPolicy) -> Result<Self, String> {
        Self::with_resolver(timeout, policy, Arc::new(SystemResolver::default()))
    }

    /// A sender that looks names up with `resolver`.
    pub fn with_resolver(
        timeout: Duration,
        policy: AddressPolicy,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect could lead anywhere, the guarded resolver aside; a 3xx is a failed attempt.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { policy, resolver }))
            .user_agent(concat!("coda-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(HttpWebhookSender { client, policy })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, url: &str, headers: &[(&'static str, String)], body: &[u8]) -> SendResult {
        let started = Instant::now();
        // Literal addresses never reach the resolver, so they are checked here.
        if let Err(e) = check_url_with_policy(url, &self.policy) {
            return SendResult {
                error: Some(format!("refused destination: {e}")),
                refused: true,
                latency: started.elapsed(),
                ..SendResult::default()
            };
        }
        let mut request = self.client.post(url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let status = response.status().as_u16();
                // Drain (a little of) the body so the connection can be reused; its content is ignored.
                let _ = tokio::time::timeout(Duration::from_secs(1), response.bytes()).await;
                SendResult {
                    status: Some(status),
                    retry_after,
                    latency: started.elapsed(),
                    error: (!(200..300).contains(&status))
                        .then(|| format!("the receiver answered {status}")),
                    refused: false,
                }
            }
            Err(e) => SendResult {
                status: None,
                retry_after: None,
                latency: started.elapsed(),
                error: Some(describe(&e)),
                refused: is_refused_name(&e),
            },
        }
    }
}

/// Whether the resolver refused every address of the name (somewhere in the error's causes).
fn is_refused_name(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<RefusedName>() {
            return true;
        }
        cause = c.source();
    }
    false
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut msg = format!("{kind}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use axum::Router;
    use std::str::FromStr;

    const LOOPBACK_OK: AddressPolicy = AddressPolicy {
        allow_loopback: true,
        allow_private: false,
    };
    const PUBLIC_ONLY: AddressPolicy = AddressPolicy {
        allow_loopback: false,
        allow_private: false,
    };

    async fn server() -> String {
        let app = Router::new()
            .route(
                "/ok",
                post(|headers: HeaderMap, body: String| async move {
                    let id = headers["webhook-id"].to_str().unwrap().to_string();
                    (StatusCode::OK, format!("{id}:{body}"))
                }),
            )
            .route(
                "/busy",
                post(|| async {
                    (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "7")]).into_response()
                }),
            )
            .route(
                "/moved",
                post(|| async {
                    (StatusCode::FOUND, [("location", "http://169.254.169.254/")]).into_response()
                }),
            )
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    StatusCode::OK
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn posts_with_headers_and_reports_status_and_retry_after() {
        let base = server().await;
        let sender = HttpWebhookSender::new(Duration::from_secs(5), LOOPBACK_OK).unwrap();
        let headers = [("webhook-id", "msg_1".to_string())];
        let r = sender.send(&format!("{base}/ok"), &headers, b"{}").await;
        assert_eq!(r.status, Some(200), "{r:?}");
        assert_eq!(r.error, None);
        let r = sender.send(&format!("{base}/busy"), &headers, b"{}").await;
        assert_eq!(r.status, Some(503));
        assert_eq!(r.retry_after.as_deref(), Some("7"));
        assert!(r.error.unwrap().contains("503"));
        // Redirects are not followed: the 302 is the answer.
        let r = sender.send(&format!("{base}/moved"), &headers, b"{}").await;
        assert_eq!(r.status, Some(302));
    }

    #[tokio::test]
    async fn an_attempt_times_out() {
        let base = server().await;
        let sender = HttpWebhookSender::new(Duration::from_millis(300), LOOPBACK_OK).unwrap();
        let r = sender.send(&format!("{base}/slow"), &[], b"{}").await;
        assert_eq!(r.status, None);
        assert!(r.error.as_deref().unwrap().contains("timed out"), "{r:?}");
        assert!(r.latency < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn refused_destinations_are_never_contacted() {
        let base = server().await;
        let sender = HttpWebhookSender::new(Duration::from_secs(2), PUBLIC_ONLY).unwrap();
        for url in [
            format!("{base}/ok"),
            "http://169.254.169.254/latest/meta-data".to_string(),
            "http://10.1.2.3/hook".to_string(),
            "http://[::1]:9/hook".to_string(),
            "http://localhost:9/hook".to_string(),
            "ftp://example.com/".to_string(),
        ] {
            let r = sender.send(&url, &[], b"{}").await;
            assert_eq!(r.status, None, "{url}");
            assert!(
                r.error
                    .as_deref()
                    .unwrap()
                    .starts_with("refused destination"),
                "{url}: {r:?}"
            );
            assert!(r.refused, "{url}: {r:?}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_refused_addresses_is_refused_not_retried() {
        let base = server().await;
        let port = base.rsplit(':').next().unwrap().to_string();
        let pinned = coda_core::ports::PinnedHosts::parse(
            "hooks.example=127.0.0.1,gone.invalid=10.0.0.1|127.0.0.2",
            Arc::new(SystemResolver::default()),
        )
        .unwrap();
        let sender =
            HttpWebhookSender::with_resolver(Duration::from_secs(2), PUBLIC_ONLY, Arc::new(pinned))
                .unwrap();
        for host in ["hooks.example", "gone.invalid"] {
            let r = sender
                .send(&format!("http://{host}:{port}/ok"), &[], b"{}")
                .await;
            assert_eq!(r.status, None, "{r:?}");
            assert!(r.refused, "{host}: {r:?}");
            assert!(
                r.error.as_deref().unwrap().contains("refused address"),
                "{r:?}"
            );
        }
        // A name that does not resolve at all may resolve later: a retry, not a refusal.
        let r = sender
            .send("http://no-such-host.invalid/ok", &[], b"{}")
            .await;
        assert_eq!((r.status, r.refused), (None, false), "{r:?}");
        // Under a policy that allows loopback the pinned name is delivered to.
        let pinned = coda_core::ports::PinnedHosts::parse(
            "hooks.example=127.0.0.1",
            Arc::new(SystemResolver::default()),
        )
        .unwrap();
        let open =
            HttpWebhookSender::with_resolver(Duration::from_secs(2), LOOPBACK_OK, Arc::new(pinned))
                .unwrap();
        let id = [("webhook-id", "msg_1".to_string())];
        let r = open
            .send(&format!("http://hooks.example:{port}/ok"), &id, b"{}")
            .await;
        assert_eq!((r.status, r.refused), (Some(200), false), "{r:?}");
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_dropped() {
        let resolver = GuardedResolver {
            policy: PUBLIC_ONLY,
            resolver: Arc::new(SystemResolver::default()),
        };
        let err = match resolver.resolve(Name::from_str("localhost").unwrap()).await {
            Ok(_) => panic!("localhost resolved under a public-only policy"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("refused address"), "{err}");
        let open = GuardedResolver {
            policy: LOOPBACK_OK,
            resolver: Arc::new(SystemResolver::default()),
        };
        let addrs: Vec<SocketAddr> = open
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
