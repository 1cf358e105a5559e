//! Webhook signing and verification (Standard Webhooks), retry schedule and destination checks.
//!
//! Pure domain code: the `notify` function does the HTTP and the storage and
//! calls in here for every decision. See <https://www.standardwebhooks.com/>.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

/// Prefix of a webhook secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a generated secret (the spec asks for 24 to 64).
pub const GENERATED_SECRET_BYTES: usize = 24;

/// Why a webhook secret could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing after the optional `whsec_` prefix.
    #[error("webhook secret is empty")]
    Empty,
    /// The key is not standard, padded base64.
    #[error("webhook secret is not valid base64")]
    BadBase64,
}

/// The HMAC key shared with one webhook endpoint.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl WebhookSecret {
    /// A fresh secret of [`GENERATED_SECRET_BYTES`] random bytes.
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_SECRET_BYTES];
        // ThreadRng is a CSPRNG reseeded from the OS.
        rand::thread_rng().fill_bytes(&mut key);
        Self { key }
    }

    /// Reads `whsec_<base64>` or bare `<base64>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let b64 = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if b64.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = STANDARD.decode(b64).map_err(|_| SecretError::BadBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { key })
    }

    /// The `whsec_<base64>` text form, for storing and showing once to the owner.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

/// Header carrying the message id (stable across retries: receivers dedupe on it).
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the send time in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying one or more space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Default clock skew a receiver accepts either side of its own clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

fn signed_mac(secret: &WebhookSecret, msg_id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // Fed piecewise so a large body is never copied to build "{id}.{ts}.{body}".
    let mut mac = secret.mac();
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp_secs}.{body}">`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mac = signed_mac(secret, msg_id, &timestamp_secs.to_string(), body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The three `(name, value)` headers to send with `body`.
pub fn signature_headers(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, msg_id.to_string()),
        (HEADER_TIMESTAMP, timestamp_secs.to_string()),
        (HEADER_SIGNATURE, sign(secret, msg_id, timestamp_secs, body)),
    ]
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Read access to request headers; names are compared ASCII case-insensitively.
///
/// Implemented for slices, arrays and `Vec`s of `(name, value)` pairs, for
/// `HashMap`/`BTreeMap`, and for any `Fn(&str) -> Option<String>`, which is how
/// an `http::HeaderMap` plugs in without this crate depending on `http`:
/// `|name: &str| map.get(name)?.to_str().ok().map(str::to_owned)`.
pub trait HeaderLookup {
    /// The first value of header `name`, if present.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;
}

fn find_pair<'a, K, V, I>(pairs: I, name: &str) -> Option<Cow<'a, str>>
where
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
    I: IntoIterator<Item = (&'a K, &'a V)>,
{
    pairs
        .into_iter()
        .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| Cow::Borrowed(v.as_ref()))
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        find_pair(self.iter().map(|(k, v)| (k, v)), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, S: BuildHasher> HeaderLookup for HashMap<K, V, S> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        find_pair(self.iter(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for BTreeMap<K, V> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        find_pair(self.iter(), name)
    }
}

impl<F: Fn(&str) -> Option<String>> HeaderLookup for F {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self(name).map(Cow::Owned)
    }
}

/// Why an incoming webhook was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required `webhook-*` header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a non-negative integer.
    #[error("webhook-timestamp is not Unix seconds")]
    BadTimestamp,
    /// The timestamp lies further in the past than the tolerance.
    #[error("webhook timestamp is too old")]
    TooOld,
    /// The timestamp lies further in the future than the tolerance.
    #[error("webhook timestamp is too far in the future")]
    TooNew,
    /// No `v1` signature matches.
    #[error("no matching webhook signature")]
    NoMatch,
    /// The receiver's own secret is unusable.
    #[error("bad webhook secret: {0}")]
    BadSecret(SecretError),
}

/// Checks a delivery's headers and raw body with a 5-minute clock tolerance.
pub fn verify<H: HeaderLookup + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), VerifyError> {
    verify_with_tolerance(secret, headers, body, now, DEFAULT_TOLERANCE)
}

/// [`verify`] with a chosen clock tolerance either side of `now`.
pub fn verify_with_tolerance<H: HeaderLookup + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let secret = WebhookSecret::parse(secret).map_err(VerifyError::BadSecret)?;
    let required =
        |name: &'static str| headers.header(name).ok_or(VerifyError::MissingHeader(name));
    let msg_id = required(HEADER_ID)?;
    let timestamp = required(HEADER_TIMESTAMP)?;
    let signatures = required(HEADER_SIGNATURE)?;

    let timestamp = timestamp.trim();
    // Digits only: `i64::from_str` would also take "+123", which the sender never signs.
    if timestamp.is_empty()
        || timestamp.len() > 18
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(VerifyError::BadTimestamp);
    }
    let sent: i64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let now = now.timestamp();
    if now.saturating_sub(sent) > tolerance {
        return Err(VerifyError::TooOld);
    }
    if sent.saturating_sub(now) > tolerance {
        return Err(VerifyError::TooNew);
    }

    let expected = signed_mac(&secret, &msg_id, timestamp, body);
    let matched = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        // Other versions (e.g. asymmetric `v1a`) are skipped so senders can add them.
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| STANDARD.decode(sig).ok())
        // verify_slice compares in constant time; every entry is checked.
        .fold(false, |found, sig| {
            expected.clone().verify_slice(&sig).is_ok() | found
        });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

// ---------------------------------------------------------------------------
// Event payload
// ---------------------------------------------------------------------------

/// What happened; the `type` field of a webhook payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum WebhookEventType {
    /// A job finished with a result.
    #[serde(rename = "job.succeeded")]
    JobSucceeded,
    /// A job ended with an error.
    #[serde(rename = "job.failed")]
    JobFailed,
    /// A job was canceled before it finished.
    #[serde(rename = "job.canceled")]
    JobCanceled,
    /// A running job reported progress.
    #[serde(rename = "job.progress")]
    JobProgress,
}

impl WebhookEventType {
    /// Every event type, for subscription validation and docs.
    pub const ALL: [Self; 4] = [
        Self::JobSucceeded,
        Self::JobFailed,
        Self::JobCanceled,
        Self::JobProgress,
    ];

    /// The wire name, e.g. `job.succeeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobSucceeded => "job.succeeded",
            Self::JobFailed => "job.failed",
            Self::JobCanceled => "job.canceled",
            Self::JobProgress => "job.progress",
        }
    }

    /// The event type with wire name `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for WebhookEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of a webhook: `{"type", "timestamp", "data"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// What happened.
    pub r#type: WebhookEventType,
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// Event-specific details.
    pub data: serde_json::Value,
}

impl WebhookEvent {
    /// An event of `type` at `timestamp` carrying `data`.
    pub fn new(
        r#type: WebhookEventType,
        timestamp: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            r#type,
            timestamp,
            data,
        }
    }

    /// The exact bytes to sign and send.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a JSON value always serialises")
    }
}

mod rfc3339 {
    use std::borrow::Cow;

    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    // Pinned so the wire form is always `...Z` whatever chrono's default becomes.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------

/// Waits after each failed attempt, in seconds: the Standard Webhooks schedule (5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h), then two days more, so a receiver has about three days to recover.
pub const STANDARD_RETRY_DELAYS_SECS: [u64; 9] =
    [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 86_400, 86_400];

/// Relative jitter applied to each delay (±20 %).
pub const RETRY_JITTER: f64 = 0.2;

/// When to try a failed delivery again, and when to give up.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    scale: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::standard()
    }
}

impl RetrySchedule {
    /// The Standard Webhooks schedule at full scale.
    pub fn standard() -> Self {
        Self::new(
            STANDARD_RETRY_DELAYS_SECS
                .iter()
                .map(|&s| Duration::from_secs(s))
                .collect(),
        )
    }

    /// A schedule with these waits after each failed attempt.
    pub fn new(delays: Vec<Duration>) -> Self {
        Self { delays, scale: 1.0 }
    }

    /// The same schedule with every delay multiplied by `scale` (NaN, infinite or negative means 1).
    pub fn with_scale(mut self, scale: f64) -> Self {
        self.scale = if scale.is_finite() && scale >= 0.0 {
            scale
        } else {
            1.0
        };
        self
    }

    /// The multiplier applied to every delay.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Attempts in all, the immediate first one included.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    fn scaled(&self, d: Duration, factor: f64) -> Duration {
        Duration::try_from_secs_f64(d.as_secs_f64() * self.scale * factor).unwrap_or(Duration::MAX)
    }

    /// The wait before the next attempt once `attempts_made` have failed; `None` means give up.
    pub fn next_delay(&self, attempts_made: u32) -> Option<Duration> {
        self.next_delay_factor(attempts_made, 1.0)
    }

    /// [`next_delay`](Self::next_delay) with jitter drawn from `unit` in `[0, 1)` (0.5 = none).
    pub fn next_delay_jittered(&self, attempts_made: u32, unit: f64) -> Option<Duration> {
        let unit = if unit.is_nan() {
            0.5
        } else {
            unit.clamp(0.0, 1.0)
        };
        self.next_delay_factor(attempts_made, 1.0 + RETRY_JITTER * (2.0 * unit - 1.0))
    }

    /// [`next_delay_jittered`](Self::next_delay_jittered) with the jitter drawn from `rng`.
    pub fn next_delay_with_rng<R: Rng + ?Sized>(
        &self,
        attempts_made: u32,
        rng: &mut R,
    ) -> Option<Duration> {
        self.next_delay_jittered(attempts_made, rng.gen::<f64>())
    }

    fn next_delay_factor(&self, attempts_made: u32, factor: f64) -> Option<Duration> {
        match attempts_made {
            0 => Some(Duration::ZERO),
            n => self
                .delays
                .get(usize::try_from(n - 1).ok()?)
                .map(|&d| self.scaled(d, factor)),
        }
    }

    /// The longest scaled wait in the schedule (no jitter).
    pub fn max_delay(&self) -> Duration {
        self.delays
            .iter()
            .max()
            .map_or(Duration::ZERO, |&d| self.scaled(d, 1.0))
    }

    /// The wait a 429 or 503 response asks for in `Retry-After`, capped at [`max_delay`](Self::max_delay).
    ///
    /// Accepts delta-seconds and IMF-fixdate (read with chrono's RFC 2822 parser;
    /// the obsolete RFC 850 and asctime forms are ignored). The value is the
    /// receiver's real-time request, so `scale` does not shrink it, only the cap.
    pub fn honour_retry_after(
        &self,
        status: u16,
        retry_after: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        if status != 429 && status != 503 {
            return None;
        }
        let value = retry_after?.trim();
        let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            Duration::from_secs(value.parse().unwrap_or(u64::MAX))
        } else {
            let at = DateTime::parse_from_rfc2822(value)
                .ok()?
                .with_timezone(&Utc);
            (at - now).to_std().unwrap_or(Duration::ZERO)
        };
        Some(wait.min(self.max_delay()))
    }

    /// The wait after a retryable failure: the jittered schedule, lengthened to any `Retry-After`.
    ///
    /// `None` means the schedule is exhausted. Call it only for [`DeliveryOutcome::Retry`].
    pub fn delay_after_failure(
        &self,
        attempts_made: u32,
        status: Option<u16>,
        retry_after: Option<&str>,
        now: DateTime<Utc>,
        unit: f64,
    ) -> Option<Duration> {
        let scheduled = self.next_delay_jittered(attempts_made, unit)?;
        let asked = status.and_then(|s| self.honour_retry_after(s, retry_after, now));
        Some(asked.map_or(scheduled, |a| a.max(scheduled)))
    }
}

/// What a delivery attempt's result means for the message and the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A 2xx: done.
    Delivered,
    /// A 410 Gone: the receiver asks to be disabled; do not retry.
    Disable,
    /// Anything else, a network error or timeout included (`None`); redirects are not followed.
    Retry,
}

/// Classifies an attempt by its HTTP status (`None`: no response).
pub fn classify(status: Option<u16>) -> DeliveryOutcome {
    match status {
        Some(200..=299) => DeliveryOutcome::Delivered,
        Some(410) => DeliveryOutcome::Disable,
        _ => DeliveryOutcome::Retry,
    }
}

// ---------------------------------------------------------------------------
// Destinations (SSRF guard)
// ---------------------------------------------------------------------------

/// Which non-public destinations a deployment may deliver to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow 127.0.0.0/8 and ::1 (local development).
    pub allow_loopback: bool,
    /// Allow 10/8, 172.16/12, 192.168/16, 100.64/10 and fc00::/7.
    pub allow_private: bool,
}

/// The kind of range an IP address falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// Globally routable unicast.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, CGNAT 100.64.0.0/10, unique-local fc00::/7, deprecated site-local fec0::/10.
    Private,
    /// 169.254.0.0/16 (cloud metadata lives here), fe80::/10.
    LinkLocal,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// Other special-purpose ranges: 240/4, benchmarking, IETF blocks, Teredo, unassigned IPv6.
    Reserved,
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::Multicast => "multicast",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
        })
    }
}

/// Why a webhook destination is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// The URL is longer than [`MAX_URL_LEN`] bytes.
    #[error("URL is longer than {MAX_URL_LEN} bytes")]
    TooLong,
    /// The URL holds whitespace, control characters, backslashes or non-ASCII in its authority.
    #[error("URL contains a forbidden character")]
    BadCharacter,
    /// The scheme is not http or https.
    #[error("only http and https URLs are accepted")]
    BadScheme,
    /// The URL is not of the form `scheme://authority...`.
    #[error("URL must be of the form http(s)://host[:port][/path]")]
    Malformed,
    /// The URL carries `user:password@`.
    #[error("URL must not contain credentials")]
    UserInfo,
    /// The host is empty.
    #[error("URL has no host")]
    MissingHost,
    /// The host is neither a DNS name nor an IP literal.
    #[error("URL host is not a valid host name")]
    BadHost,
    /// The host is a numeric form other than a dotted quad (e.g. `2130706433`, `0x7f.1`).
    #[error("URL host is a non-canonical numeric address")]
    NumericHost,
    /// The port is not 1 to 65535.
    #[error("URL port is invalid")]
    BadPort,
    /// The host name is local by definition (`localhost`).
    #[error("destination host {0} is local")]
    LocalName(String),
    /// The address is in a range the policy refuses.
    #[error("destination address {ip} is {kind}")]
    Forbidden {
        /// The refused address.
        ip: IpAddr,
        /// Its range.
        kind: AddressKind,
    },
}

/// Classifies `ip`, looking through IPv4-mapped, NAT64 and 6to4 forms to the IPv4 inside.
pub fn address_kind(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => ipv4_kind(v4),
        IpAddr::V6(v6) => ipv6_kind(v6),
    }
}

fn in_v4(ip: u32, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    ip & mask == u32::from_be_bytes(net) & mask
}

fn ipv4_kind(ip: Ipv4Addr) -> AddressKind {
    use AddressKind::*;
    let n = u32::from(ip);
    let table: &[([u8; 4], u32, AddressKind)] = &[
        ([255, 255, 255, 255], 32, Broadcast),
        ([0, 0, 0, 0], 8, Unspecified),
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([100, 64, 0, 0], 10, Private),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([192, 0, 2, 0], 24, Documentation),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Reserved),
    ];
    table
        .iter()
        .find(|(net, len, _)| in_v4(n, *net, *len))
        .map_or(Public, |&(_, _, kind)| kind)
}

fn in_v6(ip: u128, net: u128, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    ip & mask == net & mask
}

fn ipv6_kind(ip: Ipv6Addr) -> AddressKind {
    use AddressKind::*;
    let n = u128::from(ip);
    if n == 0 {
        return Unspecified;
    }
    if n == 1 {
        return Loopback;
    }
    // The kernel or a NAT64 gateway turns these into IPv4 traffic.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_kind(v4);
    }
    if in_v6(n, 0x0064_ff9b_u128 << 96, 96) {
        return ipv4_kind(Ipv4Addr::from(n as u32));
    }
    if in_v6(n, 0x2002_u128 << 112, 16) {
        return ipv4_kind(Ipv4Addr::from((n >> 80) as u32));
    }
    let table: &[(u128, u32, AddressKind)] = &[
        (0xfc00 << 112, 7, Private),
        (0xfec0 << 112, 10, Private),
        (0xfe80 << 112, 10, LinkLocal),
        (0xff00 << 112, 8, Multicast),
        (0x2001_0db8 << 96, 32, Documentation),
        (0x3fff << 112, 20, Documentation),
        // Teredo, benchmarking, ORCHID and other IETF assignments.
        (0x2001 << 112, 23, Reserved),
    ];
    if let Some(&(_, _, kind)) = table.iter().find(|(net, len, _)| in_v6(n, *net, *len)) {
        return kind;
    }
    // Only 2000::/3 is allocated for global unicast; the rest (incl. ::a.b.c.d) has no business here.
    if in_v6(n, 0x2000 << 112, 3) {
        Public
    } else {
        Reserved
    }
}

/// Refuses `ip` unless it is public or its range is allowed by `policy`.
pub fn check_ip(ip: IpAddr, policy: &AddressPolicy) -> Result<(), DestinationError> {
    let kind = address_kind(ip);
    let allowed = match kind {
        AddressKind::Public => true,
        AddressKind::Loopback => policy.allow_loopback,
        AddressKind::Private => policy.allow_private,
        // Link-local stays refused whatever the policy: it reaches cloud metadata.
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(DestinationError::Forbidden { ip, kind })
    }
}

/// Longest webhook URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (port 80 by default).
    Http,
    /// HTTP over TLS (port 443 by default).
    Https,
}

impl Scheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// A URL's host: a DNS name to resolve, or an IP literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A lower-cased DNS name; check every address it resolves to with [`check_ip`].
    Domain(String),
    /// A dotted-quad IPv4 or bracketed IPv6 literal.
    Ip(IpAddr),
}

/// The parts of a webhook URL that decide where it connects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParsedTarget {
    /// The scheme.
    pub scheme: Scheme,
    /// The host.
    pub host: Host,
    /// The explicit port, or the scheme's default.
    pub port: u16,
}

/// Parses a webhook URL strictly: http(s) only, no credentials, a host, at most 2048 bytes.
///
/// Anything a WHATWG parser (reqwest's) would read differently is refused
/// rather than reinterpreted: backslashes, percent-encoded hosts, tabs and
/// newlines, `http:host` without `//`, and numeric hosts other than a
/// canonical dotted quad.
pub fn check_url(url: &str) -> Result<ParsedTarget, DestinationError> {
    use DestinationError::*;
    if url.len() > MAX_URL_LEN {
        return Err(TooLong);
    }
    if url.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'\\') {
        return Err(BadCharacter);
    }
    let (scheme, rest) = url.split_once(':').ok_or(Malformed)?;
    let scheme = if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        return Err(BadScheme);
    };
    let rest = rest.strip_prefix("//").ok_or(Malformed)?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if !authority.is_ascii() {
        return Err(BadCharacter);
    }
    if authority.contains('@') {
        return Err(UserInfo);
    }

    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed.split_once(']').ok_or(BadHost)?;
        let ip: Ipv6Addr = literal.parse().map_err(|_| BadHost)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(BadHost)?),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        (parse_host_name(name)?, port)
    };
    let port = match port {
        None => scheme.default_port(),
        Some(p) => parse_port(p)?,
    };
    Ok(ParsedTarget { scheme, host, port })
}

/// [`check_url`], then refuses IP-literal hosts and `localhost` names that `policy` forbids.
///
/// A [`Host::Domain`] still has to be checked address by address after
/// resolution, on the addresses actually connected to (DNS rebinding).
pub fn check_url_with_policy(
    url: &str,
    policy: &AddressPolicy,
) -> Result<ParsedTarget, DestinationError> {
    let target = check_url(url)?;
    match &target.host {
        Host::Ip(ip) => check_ip(*ip, policy)?,
        Host::Domain(name) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            if !policy.allow_loopback && (name == "localhost" || name.ends_with(".localhost")) {
                return Err(DestinationError::LocalName(name.to_string()));
            }
        }
    }
    Ok(target)
}

fn parse_port(text: &str) -> Result<u16, DestinationError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DestinationError::BadPort);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(DestinationError::BadPort),
        Ok(port) => Ok(port),
    }
}

fn parse_host_name(name: &str) -> Result<Host, DestinationError> {
    use DestinationError::*;
    if name.is_empty() {
        return Err(MissingHost);
    }
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    // WHATWG and inet_aton read a host whose last label is numeric as IPv4
    // ("2130706433", "127.1", "0177.0.0.1", "0x7f.1"); no real TLD looks like that.
    let last = trimmed.rsplit('.').next().unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())) {
        return Err(NumericHost);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if trimmed.len() > 253 || !trimmed.split('.').all(label_ok) {
        return Err(BadHost);
    }
    Ok(Host::Domain(name.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;

    const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SPEC_TS: i64 = 1_649_367_553;
    const SPEC_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SPEC_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn spec_headers(sig: &str) -> Vec<(String, String)> {
        vec![
            (HEADER_ID.into(), SPEC_ID.into()),
            (HEADER_TIMESTAMP.into(), SPEC_TS.to_string()),
            (HEADER_SIGNATURE.into(), sig.into()),
        ]
    }

    // --- secrets ---

    #[test]
    fn generated_secret_round_trips_and_has_24_bytes() {
        let s = WebhookSecret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&text[6..]).unwrap().len(), 24);
        assert_eq!(WebhookSecret::parse(&text).unwrap().expose(), text);
        assert_ne!(WebhookSecret::generate().expose(), text);
    }

    #[test]
    fn secret_parses_with_and_without_prefix() {
        let with = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let without = WebhookSecret::parse(&SPEC_SECRET[6..]).unwrap();
        assert_eq!(with.expose(), without.expose());
        assert_eq!(with.expose(), SPEC_SECRET);
    }

    #[test]
    fn secret_rejects_bad_input() {
        assert_eq!(WebhookSecret::parse("").unwrap_err(), SecretError::Empty);
        assert_eq!(
            WebhookSecret::parse("whsec_").unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!").unwrap_err(),
            SecretError::BadBase64
        );
        // Unpadded and URL-safe alphabets are not the spec's encoding.
        assert_eq!(
            WebhookSecret::parse("whsec_YWJj-_").unwrap_err(),
            SecretError::BadBase64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_YWI").unwrap_err(),
            SecretError::BadBase64
        );
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("C2FVsBQ"), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    // --- signing ---

    #[test]
    fn sign_matches_reference_vector() {
        let s = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(sign(&s, SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
    }

    #[test]
    fn signature_headers_are_the_three_standard_ones() {
        let s = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let h = signature_headers(&s, SPEC_ID, SPEC_TS, SPEC_BODY);
        assert_eq!(
            h,
            [
                ("webhook-id", SPEC_ID.to_string()),
                ("webhook-timestamp", "1649367553".to_string()),
                ("webhook-signature", SPEC_SIG.to_string()),
            ]
        );
        assert_eq!(verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS)), Ok(()));
    }

    // --- verification ---

    #[test]
    fn verify_accepts_reference_vector() {
        assert_eq!(
            verify(
                SPEC_SECRET,
                &spec_headers(SPEC_SIG),
                SPEC_BODY,
                at(SPEC_TS + 10)
            ),
            Ok(())
        );
    }

    #[test]
    fn verify_header_names_are_case_insensitive_in_every_lookup() {
        let upper: Vec<(String, String)> = spec_headers(SPEC_SIG)
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect();
        assert_eq!(verify(SPEC_SECRET, &upper, SPEC_BODY, at(SPEC_TS)), Ok(()));
        assert_eq!(
            verify(SPEC_SECRET, upper.as_slice(), SPEC_BODY, at(SPEC_TS)),
            Ok(())
        );
        let map: HashMap<String, String> = upper.iter().cloned().collect();
        assert_eq!(verify(SPEC_SECRET, &map, SPEC_BODY, at(SPEC_TS)), Ok(()));
        let tree: BTreeMap<&str, &str> = [
            ("Webhook-Id", SPEC_ID),
            ("Webhook-Timestamp", "1649367553"),
            ("Webhook-Signature", SPEC_SIG),
        ]
        .into();
        assert_eq!(verify(SPEC_SECRET, &tree, SPEC_BODY, at(SPEC_TS)), Ok(()));
        // The closure form is how a case-insensitive http::HeaderMap plugs in.
        let lookup = |name: &str| map.header(name).map(Cow::into_owned);
        assert_eq!(verify(SPEC_SECRET, &lookup, SPEC_BODY, at(SPEC_TS)), Ok(()));
    }

    #[test]
    fn verify_rejects_tampered_body() {
        let body = br#"{"email":"test@example.com","username":"test_user2"}"#;
        assert_eq!(
            verify(SPEC_SECRET, &spec_headers(SPEC_SIG), body, at(SPEC_TS)),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn verify_rejects_tampered_id_and_timestamp() {
        let mut h = spec_headers(SPEC_SIG);
        h[0].1 = "msg_other".into();
        assert_eq!(
            verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS)),
            Err(VerifyError::NoMatch)
        );
        let mut h = spec_headers(SPEC_SIG);
        h[1].1 = (SPEC_TS + 1).to_string();
        assert_eq!(
            verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS)),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn verify_rejects_wrong_secret() {
        let other = WebhookSecret::generate().expose();
        assert_eq!(
            verify(&other, &spec_headers(SPEC_SIG), SPEC_BODY, at(SPEC_TS)),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify("whsec_!!", &spec_headers(SPEC_SIG), SPEC_BODY, at(SPEC_TS)),
            Err(VerifyError::BadSecret(SecretError::BadBase64))
        );
    }

    #[test]
    fn verify_enforces_tolerance_both_ways() {
        let h = spec_headers(SPEC_SIG);
        assert_eq!(
            verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS + 300)),
            Ok(())
        );
        assert_eq!(
            verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS - 300)),
            Ok(())
        );
        assert_eq!(
            verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS + 301)),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS - 301)),
            Err(VerifyError::TooNew)
        );
        assert_eq!(
            verify_with_tolerance(
                SPEC_SECRET,
                &h,
                SPEC_BODY,
                at(SPEC_TS + 3600),
                Duration::from_secs(3600)
            ),
            Ok(())
        );
        assert_eq!(
            verify_with_tolerance(
                SPEC_SECRET,
                &h,
                SPEC_BODY,
                at(SPEC_TS + 2),
                Duration::from_secs(1)
            ),
            Err(VerifyError::TooOld)
        );
    }

    #[test]
    fn verify_rejects_bad_timestamps() {
        for bad in [
            "",
            "abc",
            "+1649367553",
            "-5",
            "1649367553.0",
            "99999999999999999999999",
        ] {
            let mut h = spec_headers(SPEC_SIG);
            h[1].1 = bad.into();
            assert_eq!(
                verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS)),
                Err(VerifyError::BadTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn verify_accepts_any_of_several_signatures_and_skips_unknown_versions() {
        let other = sign(&WebhookSecret::generate(), SPEC_ID, SPEC_TS, SPEC_BODY);
        let many = format!(
            "v1a,AAAA {other} v2,{} garbage v1,!!! {SPEC_SIG}",
            &SPEC_SIG[3..]
        );
        assert_eq!(
            verify(SPEC_SECRET, &spec_headers(&many), SPEC_BODY, at(SPEC_TS)),
            Ok(())
        );
        // The right bytes under another version label do not count.
        let relabelled = format!("v2,{}", &SPEC_SIG[3..]);
        assert_eq!(
            verify(
                SPEC_SECRET,
                &spec_headers(&relabelled),
                SPEC_BODY,
                at(SPEC_TS)
            ),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(SPEC_SECRET, &spec_headers(""), SPEC_BODY, at(SPEC_TS)),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn verify_reports_each_missing_header() {
        for (i, name) in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE]
            .into_iter()
            .enumerate()
        {
            let mut h = spec_headers(SPEC_SIG);
            h.remove(i);
            assert_eq!(
                verify(SPEC_SECRET, &h, SPEC_BODY, at(SPEC_TS)),
                Err(VerifyError::MissingHeader(name))
            );
        }
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            verify(SPEC_SECRET, &none, SPEC_BODY, at(SPEC_TS)),
            Err(VerifyError::MissingHeader(HEADER_ID))
        );
    }

    // --- events ---

    #[test]
    fn event_types_have_wire_names() {
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(
            WebhookEventType::parse("job.succeeded"),
            Some(WebhookEventType::JobSucceeded)
        );
        assert_eq!(
            WebhookEventType::parse("job.canceled"),
            Some(WebhookEventType::JobCanceled)
        );
        assert_eq!(WebhookEventType::parse("job.cancelled"), None);
        assert_eq!(WebhookEventType::parse("Job.Failed"), None);
    }

    #[test]
    fn event_serialises_to_type_timestamp_data() {
        let ev = WebhookEvent::new(
            WebhookEventType::JobFailed,
            Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap(),
            serde_json::json!({"job_id": "j1", "error": "boom"}),
        );
        let v: serde_json::Value = serde_json::from_slice(&ev.to_body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "job.failed",
                "timestamp": "2024-05-06T07:08:09Z",
                "data": {"job_id": "j1", "error": "boom"},
            })
        );
        let back: WebhookEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
        let offset: WebhookEvent = serde_json::from_str(
            r#"{"type":"job.progress","timestamp":"2024-05-06T09:08:09.5+02:00","data":null}"#,
        )
        .unwrap();
        assert_eq!(
            offset.timestamp,
            Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
                + chrono::Duration::milliseconds(500)
        );
        assert!(serde_json::from_str::<WebhookEvent>(
            r#"{"type":"job.progress","timestamp":"yesterday","data":null}"#
        )
        .is_err());
    }

    // --- retries ---

    #[test]
    fn standard_schedule_delays_then_gives_up() {
        let s = RetrySchedule::standard();
        assert_eq!(s.max_attempts(), 10);
        assert_eq!(s.next_delay(0), Some(Duration::ZERO));
        let secs: Vec<u64> = (1..=9)
            .map(|n| s.next_delay(n).unwrap().as_secs())
            .collect();
        assert_eq!(
            secs,
            [5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400]
        );
        // About three days from the first attempt to the last.
        let total: u64 = secs.iter().sum();
        assert!((259_200..=280_000).contains(&total), "{total}");
        assert_eq!(s.next_delay(10), None);
        assert_eq!(s.next_delay(u32::MAX), None);
        assert_eq!(s.max_delay(), Duration::from_secs(86_400));
        assert_eq!(RetrySchedule::default(), s);
    }

    #[test]
    fn scale_compresses_the_schedule() {
        let s = RetrySchedule::standard().with_scale(0.001);
        assert_eq!(s.next_delay(1), Some(Duration::from_millis(5)));
        assert_eq!(s.next_delay(7), Some(Duration::from_secs(36)));
        assert_eq!(s.max_delay(), Duration::from_millis(86_400));
        assert_eq!(RetrySchedule::standard().with_scale(f64::NAN).scale(), 1.0);
        assert_eq!(RetrySchedule::standard().with_scale(-1.0).scale(), 1.0);
        assert_eq!(
            RetrySchedule::standard().with_scale(0.0).next_delay(3),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = RetrySchedule::standard();
        assert_eq!(
            s.next_delay_jittered(2, 0.0),
            Some(Duration::from_secs(240))
        );
        assert_eq!(
            s.next_delay_jittered(2, 0.5),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            s.next_delay_jittered(2, f64::NAN),
            Some(Duration::from_secs(300))
        );
        assert!(s.next_delay_jittered(2, 0.999_999).unwrap() < Duration::from_secs(360));
        assert_eq!(s.next_delay_jittered(0, 0.0), Some(Duration::ZERO));
        assert_eq!(s.next_delay_jittered(10, 0.3), None);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let d = s.next_delay_with_rng(1, &mut rng).unwrap();
            assert!(
                d >= Duration::from_secs(4) && d < Duration::from_secs(6),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let s = RetrySchedule::standard();
        let now = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 0).unwrap();
        assert_eq!(
            s.honour_retry_after(429, Some("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            s.honour_retry_after(503, Some(" 7 "), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            s.honour_retry_after(503, Some("Sun, 06 Nov 1994 08:49:37 GMT"), now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            s.honour_retry_after(429, Some("Sun, 06 Nov 1994 08:48:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(s.honour_retry_after(500, Some("120"), now), None);
        assert_eq!(s.honour_retry_after(429, None, now), None);
        assert_eq!(s.honour_retry_after(429, Some("soon"), now), None);
        assert_eq!(s.honour_retry_after(429, Some("-5"), now), None);
        assert_eq!(
            s.honour_retry_after(429, Some("99999999999999999999999"), now),
            Some(Duration::from_secs(86_400))
        );
        let fast = RetrySchedule::standard().with_scale(0.001);
        assert_eq!(
            fast.honour_retry_after(429, Some("120"), now),
            Some(Duration::from_millis(86_400))
        );
    }

    #[test]
    fn delay_after_failure_takes_the_longer_wait() {
        let s = RetrySchedule::standard();
        let now = at(0);
        assert_eq!(
            s.delay_after_failure(1, Some(500), None, now, 0.5),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            s.delay_after_failure(1, Some(429), Some("60"), now, 0.5),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            s.delay_after_failure(2, Some(429), Some("60"), now, 0.5),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            s.delay_after_failure(1, None, Some("60"), now, 0.5),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            s.delay_after_failure(10, Some(429), Some("60"), now, 0.5),
            None
        );
    }

    #[test]
    fn classify_statuses() {
        assert_eq!(classify(Some(200)), DeliveryOutcome::Delivered);
        assert_eq!(classify(Some(204)), DeliveryOutcome::Delivered);
        assert_eq!(classify(Some(299)), DeliveryOutcome::Delivered);
        assert_eq!(classify(Some(410)), DeliveryOutcome::Disable);
        for s in [100, 301, 302, 400, 401, 404, 429, 500, 503] {
            assert_eq!(classify(Some(s)), DeliveryOutcome::Retry, "{s}");
        }
        assert_eq!(classify(None), DeliveryOutcome::Retry);
    }

    // --- destinations ---

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn address_kinds_v4() {
        use AddressKind::*;
        let cases = [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("100.63.255.255", Public),
            ("100.128.0.0", Public),
            ("172.15.255.255", Public),
            ("172.32.0.0", Public),
            ("169.253.255.255", Public),
            ("223.255.255.255", Public),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("100.127.255.255", Private),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("255.255.255.255", Broadcast),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("240.0.0.1", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.0.8", Reserved),
        ];
        for (addr, kind) in cases {
            assert_eq!(address_kind(ip(addr)), kind, "{addr}");
        }
    }

    #[test]
    fn address_kinds_v6_and_embedded_v4() {
        use AddressKind::*;
        let cases = [
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001::200e", Public),
            ("::1", Loopback),
            ("::", Unspecified),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fec0::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001::1", Reserved),
            ("100::1", Reserved),
            ("::7f00:1", Reserved),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:8.8.8.8", Public),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::8.8.8.8", Public),
            ("2002:7f00:1::", Loopback),
            ("2002:a9fe:a9fe::1", LinkLocal),
            ("2002:808:808::", Public),
        ];
        for (addr, kind) in cases {
            assert_eq!(address_kind(ip(addr)), kind, "{addr}");
        }
    }

    #[test]
    fn check_ip_follows_policy() {
        let strict = AddressPolicy::default();
        let dev = AddressPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        assert_eq!(check_ip(ip("8.8.8.8"), &strict), Ok(()));
        for addr in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(
                check_ip(ip(addr), &strict),
                Err(DestinationError::Forbidden {
                    ip: ip(addr),
                    kind: AddressKind::Loopback
                })
            );
            assert_eq!(check_ip(ip(addr), &dev), Ok(()));
        }
        for addr in [
            "10.1.2.3",
            "192.168.0.10",
            "fd00::5",
            "100.64.1.1",
            "::ffff:172.20.0.1",
        ] {
            assert!(check_ip(ip(addr), &strict).is_err(), "{addr}");
            assert_eq!(check_ip(ip(addr), &dev), Ok(()), "{addr}");
        }
        let loopback_only = AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert!(check_ip(ip("10.0.0.1"), &loopback_only).is_err());
        // Never reachable, whatever the policy.
        for addr in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
            "192.0.2.1",
            "2001:db8::1",
            "240.0.0.1",
        ] {
            assert!(check_ip(ip(addr), &dev).is_err(), "{addr}");
        }
    }

    #[test]
    fn check_url_parses_good_urls() {
        let t = check_url("https://hooks.example.com/coda?x=1#f").unwrap();
        assert_eq!(
            t,
            ParsedTarget {
                scheme: Scheme::Https,
                host: Host::Domain("hooks.example.com".into()),
                port: 443
            }
        );
        let t = check_url("HTTP://Example.COM:8080").unwrap();
        assert_eq!(
            (t.scheme, t.host, t.port),
            (Scheme::Http, Host::Domain("example.com".into()), 8080)
        );
        let t = check_url("http://93.184.216.34/x").unwrap();
        assert_eq!(t.host, Host::Ip(ip("93.184.216.34")));
        let t = check_url("https://[2606:4700::1111]:8443/").unwrap();
        assert_eq!((t.host, t.port), (Host::Ip(ip("2606:4700::1111")), 8443));
        assert!(check_url("https://my_host.example.com./ünïcode-path").is_ok());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN - 20));
        assert_eq!(long.len(), MAX_URL_LEN);
        assert!(check_url(&long).is_ok());
    }

    #[test]
    fn check_url_rejects_bad_urls() {
        use DestinationError::*;
        let too_long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        let cases: &[(&str, DestinationError)] = &[
            (&too_long, TooLong),
            ("ftp://example.com/", BadScheme),
            ("file:///etc/passwd", BadScheme),
            ("gopher://127.0.0.1:6379/", BadScheme),
            ("example.com/hook", Malformed),
            ("http:example.com", Malformed),
            ("http:/example.com", Malformed),
            ("https://user:pw@example.com/", UserInfo),
            ("https://@example.com/", UserInfo),
            ("https://example.com@127.0.0.1/", UserInfo),
            ("https://", MissingHost),
            ("https:///path", MissingHost),
            ("https://:443/", MissingHost),
            ("https://exa mple.com/", BadCharacter),
            ("https://example.com\\@127.0.0.1/", BadCharacter),
            ("https://exam\tple.com/", BadCharacter),
            ("https://example.com/\n", BadCharacter),
            ("https://ex\u{e4}mple.com/", BadCharacter),
            ("https://%31%32%37.0.0.1/", NumericHost),
            ("https://ex%61mple.com/", BadHost),
            ("https://-bad.example.com/", BadHost),
            ("https://a..b/", BadHost),
            ("https://[::1/", BadHost),
            ("https://[fe80::1%25eth0]/", BadHost),
            ("https://[::1]x/", BadHost),
            ("https://a:b:c/", BadPort),
            ("https://example.com:0/", BadPort),
            ("https://example.com:65536/", BadPort),
            ("https://example.com:/", BadPort),
            ("https://example.com:+80/", BadPort),
            ("http://2130706433/", NumericHost),
            ("http://0x7f000001/", NumericHost),
            ("http://0177.0.0.1/", NumericHost),
            ("http://127.1/", NumericHost),
            ("http://127.0.0.1.5/", NumericHost),
            ("http://127.000.000.001/", NumericHost),
            ("http://foo.0x10/", NumericHost),
            ("http://example.123/", NumericHost),
        ];
        for (url, err) in cases {
            assert_eq!(check_url(url).as_ref(), Err(err), "{url}");
        }
    }

    #[test]
    fn check_url_with_policy_checks_literals_and_localhost() {
        let strict = AddressPolicy::default();
        let dev = AddressPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        for url in [
            "http://127.0.0.1:3000/hook",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://0.0.0.0/",
        ] {
            assert!(
                matches!(
                    check_url_with_policy(url, &strict),
                    Err(DestinationError::Forbidden { .. })
                ),
                "{url}"
            );
        }
        for url in [
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert!(
                matches!(
                    check_url_with_policy(url, &strict),
                    Err(DestinationError::LocalName(_))
                ),
                "{url}"
            );
            assert!(check_url_with_policy(url, &dev).is_ok(), "{url}");
        }
        assert!(check_url_with_policy("http://127.0.0.1:3000/hook", &dev).is_ok());
        assert!(check_url_with_policy("http://169.254.169.254/", &dev).is_err());
        assert!(check_url_with_policy("https://hooks.example.com/", &strict).is_ok());
        assert!(check_url_with_policy("https://notlocalhost.com/", &strict).is_ok());
    }
}
