//! Quotas and rate limits: requests per minute per user, job submissions per hour per user and kind.
//!
//! Each is a fixed window counted by the [`QuotaCounters`] port (a SQLite row
//! locally, a conditional DynamoDB update on AWS), so every API process and
//! Lambda instance shares one count. Over the limit is 429 with `Retry-After`
//! set to the seconds left in the window.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::Adapters;
use crate::model::Owner;
use crate::ports::{Clock, QuotaCounters};
use crate::{CodaError, Result};

/// Requests a user may make in one minute by default (S4).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 100;
/// Jobs of one kind a user may submit in one hour by default.
pub const DEFAULT_JOBS_PER_HOUR: u32 = 60;

/// The limits; 0 means unlimited.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaPolicy {
    /// Authenticated requests per user per minute.
    pub requests_per_minute: u32,
    /// Job submissions per user per hour, for a kind `per_kind` does not name.
    pub jobs_per_hour: u32,
    /// Job submissions per user per hour of the kinds named here.
    pub per_kind: Vec<(String, u32)>,
    /// Multiplies the windows (a minute, an hour); the tests compress them.
    pub window_scale: f64,
}

impl Default for QuotaPolicy {
    /// S4's defaults: 100 requests a minute, 10 transcriptions (and separations) an hour, 60 of any other kind.
    fn default() -> Self {
        QuotaPolicy {
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            jobs_per_hour: DEFAULT_JOBS_PER_HOUR,
            per_kind: vec![("transcribe".into(), 10), ("separate".into(), 10)],
            window_scale: 1.0,
        }
    }
}

impl QuotaPolicy {
    /// No limits at all.
    pub fn unlimited() -> Self {
        QuotaPolicy {
            requests_per_minute: 0,
            jobs_per_hour: 0,
            per_kind: vec![],
            window_scale: 1.0,
        }
    }

    /// A window of `secs` seconds, scaled, in milliseconds (at least 100).
    fn window_ms(&self, secs: u32) -> i64 {
        let ms = f64::from(secs) * 1000.0 * self.window_scale;
        if ms.is_finite() {
            (ms.round() as i64).max(100)
        } else {
            i64::from(secs) * 1000
        }
    }

    /// The hourly limit of `kind`.
    pub fn jobs_per_hour_of(&self, kind: &str) -> u32 {
        self.per_kind
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(self.jobs_per_hour, |&(_, n)| n)
    }

    /// Parses per-kind limits, `kind=n,kind=n`; an empty text names none.
    pub fn parse_per_kind(text: &str) -> std::result::Result<Vec<(String, u32)>, String> {
        let mut out: Vec<(String, u32)> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kind, n) = entry
                .split_once('=')
                .ok_or_else(|| format!("'{entry}' is not kind=count"))?;
            let kind = kind.trim();
            if kind.is_empty() {
                return Err(format!("'{entry}' names no kind"));
            }
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| format!("'{entry}': the count must be a whole number >= 0"))?;
            if out.iter().any(|(k, _)| k == kind) {
                return Err(format!("kind '{kind}' is named twice"));
            }
            out.push((kind.to_string(), n));
        }
        Ok(out)
    }
}

/// One counted use (its counter's key; none when the limit is off), to give back on failure.
#[derive(Debug)]
#[must_use = "give the use back if the request fails after it"]
pub struct Taken(Option<String>);

/// One window of one counter.
struct Window {
    key: String,
    ends: DateTime<Utc>,
}

fn window(scope: &str, owner: &Owner, ms: i64, now: DateTime<Utc>) -> Window {
    let index = now.timestamp_millis().div_euclid(ms);
    let ends = Utc
        .timestamp_millis_opt((index + 1) * ms)
        .single()
        .unwrap_or(now);
    // The owner goes last: the window index is digits, so no owner can forge another's key.
    Window {
        key: format!("{scope}#{index}#{}", owner.0),
        ends,
    }
}

/// Counts uses against the policy.
#[derive(Clone)]
pub struct Quotas {
    counters: Arc<dyn QuotaCounters>,
    clock: Arc<dyn Clock>,
    policy: QuotaPolicy,
}

impl Quotas {
    /// The quotas of `policy`, counted in the adapters' counters.
    pub fn new(a: &Adapters, policy: QuotaPolicy) -> Self {
        Self::over(a.quota_counters.clone(), a.clock.clone(), policy)
    }

    /// The quotas of `policy` over these two ports.
    pub fn over(
        counters: Arc<dyn QuotaCounters>,
        clock: Arc<dyn Clock>,
        policy: QuotaPolicy,
    ) -> Self {
        Quotas {
            counters,
            clock,
            policy,
        }
    }

    /// The limits counted.
    pub fn policy(&self) -> &QuotaPolicy {
        &self.policy
    }

    /// Counts one request of `owner`: 429 `RATE_LIMITED` past `requests_per_minute`.
    pub async fn request(&self, owner: &Owner) -> Result<()> {
        let limit = self.policy.requests_per_minute;
        self.take("req", owner, limit, 60, |limit| {
            (
                "RATE_LIMITED",
                format!("more than {limit} requests in a minute"),
                json!({ "limit": limit, "window": "minute" }),
            )
        })
        .await
        .map(drop)
    }

    /// Counts one submission of each of `kinds`, all or none: a refused kind gives back the others.
    pub async fn jobs(&self, owner: &Owner, kinds: &[&str]) -> Result<Vec<Taken>> {
        let mut taken = Vec::with_capacity(kinds.len());
        for kind in kinds {
            match self.job(owner, kind).await {
                Ok(t) => taken.push(t),
                Err(e) => {
                    self.give_back(taken).await;
                    return Err(e);
                }
            }
        }
        Ok(taken)
    }

    /// Uncounts uses whose request failed after they were counted; a store error is only logged
    /// (the use then expires with its window).
    pub async fn give_back(&self, taken: impl IntoIterator<Item = Taken>) {
        for key in taken.into_iter().filter_map(|t| t.0) {
            if let Err(e) = self.counters.give_back(&key).await {
                tracing::warn!(error = %e, key, "a quota use could not be given back");
            }
        }
    }

    /// Counts one submission of a `kind` job by `owner`: 429 `QUOTA_EXCEEDED` past its hourly limit.
    ///
    /// The returned use is given back with [`Quotas::give_back`] if the submission fails later.
    pub async fn job(&self, owner: &Owner, kind: &str) -> Result<Taken> {
        let limit = self.policy.jobs_per_hour_of(kind);
        self.take(&format!("job:{kind}"), owner, limit, 3600, |limit| {
            (
                "QUOTA_EXCEEDED",
                format!("more than {limit} '{kind}' jobs in an hour"),
                json!({ "limit": limit, "window": "hour", "kind": kind }),
            )
        })
        .await
    }

    async fn take(
        &self,
        scope: &str,
        owner: &Owner,
        limit: u32,
        window_secs: u32,
        refusal: impl FnOnce(u32) -> (&'static str, String, serde_json::Value),
    ) -> Result<Taken> {
        if limit == 0 {
            return Ok(Taken(None));
        }
        let now = self.clock.now();
        let w = window(scope, owner, self.policy.window_ms(window_secs), now);
        // A minute of slack past the window, so a clock a little behind still finds the row.
        let expires = w.ends + chrono::Duration::seconds(60);
        match self
            .counters
            .take(&w.key, u64::from(limit), expires)
            .await?
        {
            Some(_) => Ok(Taken(Some(w.key))),
            None => {
                let left = (w.ends - now).num_milliseconds().max(0);
                let retry_after_secs = u64::try_from((left + 999) / 1000).unwrap_or(1).max(1);
                let (code, message, mut details) = refusal(limit);
                details["retry_after_secs"] = json!(retry_after_secs);
                Err(CodaError::RateLimited {
                    code,
                    message: format!("{message}; retry after {retry_after_secs} s"),
                    retry_after_secs,
                    details,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_split_time_and_owners() {
        let at = |s: i64| Utc.timestamp_opt(s, 0).unwrap();
        let a = Owner("a".into());
        let w = window("req", &a, 60_000, at(125));
        assert_eq!((w.key.as_str(), w.ends), ("req#2#a", at(180)));
        assert_eq!(window("req", &a, 60_000, at(179)).key, "req#2#a");
        assert_eq!(window("req", &a, 60_000, at(180)).key, "req#3#a");
        assert_ne!(
            window("req", &Owner("b".into()), 60_000, at(125)).key,
            w.key
        );
        let scaled = QuotaPolicy {
            window_scale: 0.05,
            ..QuotaPolicy::default()
        };
        assert_eq!(scaled.window_ms(60), 3000);
        assert_eq!(QuotaPolicy::default().window_ms(3600), 3_600_000);
    }

    /// Counts in a map; the contract suite checks the real adapters.
    #[derive(Default)]
    struct Counts(std::sync::Mutex<std::collections::HashMap<String, u64>>);

    #[async_trait::async_trait]
    impl QuotaCounters for Counts {
        async fn take(&self, key: &str, limit: u64, _: DateTime<Utc>) -> Result<Option<u64>> {
            let mut m = self.0.lock().unwrap();
            let n = m.entry(key.to_string()).or_default();
            Ok((*n < limit).then(|| {
                *n += 1;
                *n
            }))
        }
        async fn give_back(&self, key: &str) -> Result<()> {
            if let Some(n) = self.0.lock().unwrap().get_mut(key) {
                *n = n.saturating_sub(1);
            }
            Ok(())
        }
    }

    struct At(DateTime<Utc>);

    impl Clock for At {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    #[tokio::test]
    async fn several_kinds_are_counted_all_or_none() {
        let policy = QuotaPolicy {
            jobs_per_hour: 5,
            per_kind: vec![("transcribe".into(), 1)],
            ..QuotaPolicy::default()
        };
        let counts = Arc::new(Counts::default());
        let q = Quotas::over(
            counts.clone(),
            Arc::new(At(Utc.timestamp_opt(7200, 0).unwrap())),
            policy,
        );
        let owner = Owner("ann".into());
        let first = q.jobs(&owner, &["probe", "transcribe"]).await.unwrap();
        assert_eq!(first.len(), 2);
        // transcribe is used up: the probe use taken before it is given back.
        let e = q.jobs(&owner, &["probe", "transcribe"]).await.unwrap_err();
        assert_eq!(e.code(), "QUOTA_EXCEEDED");
        let probe = counts.0.lock().unwrap()["job:probe#2#ann"];
        assert_eq!(probe, 1, "only the first request's probe is counted");
        match e {
            CodaError::RateLimited {
                retry_after_secs,
                details,
                ..
            } => {
                assert_eq!(retry_after_secs, 3600);
                assert_eq!(details["kind"], "transcribe");
            }
            other => panic!("{other:?}"),
        }
        q.give_back(first).await;
        assert_eq!(counts.0.lock().unwrap()["job:transcribe#2#ann"], 0);
    }

    #[test]
    fn per_kind_limits_parse_and_fall_back() {
        let p = QuotaPolicy {
            per_kind: QuotaPolicy::parse_per_kind(" transcribe=3, separate=0 ").unwrap(),
            ..QuotaPolicy::default()
        };
        assert_eq!(p.jobs_per_hour_of("transcribe"), 3);
        assert_eq!(p.jobs_per_hour_of("separate"), 0);
        assert_eq!(p.jobs_per_hour_of("probe"), DEFAULT_JOBS_PER_HOUR);
        for bad in ["transcribe", "=3", "transcribe=-1", "a=1,a=2", "a=x"] {
            assert!(QuotaPolicy::parse_per_kind(bad).is_err(), "{bad}");
        }
        assert_eq!(QuotaPolicy::parse_per_kind("").unwrap(), vec![]);
    }
}
