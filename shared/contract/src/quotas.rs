//! The quota counters' contract: a count never passes its limit, even under concurrent takes.

use std::sync::Arc;

use crate::fixtures::uid;
use chrono::{Duration, Utc};
use coda_core::ports::QuotaCounters;

/// Counts up to the limit, then refuses without counting; keys are independent.
pub async fn check_quota_counters(counters: &dyn QuotaCounters) {
    let (key, other) = (uid("quota"), uid("quota"));
    let expires = Utc::now() + Duration::seconds(120);
    for n in 1..=3 {
        assert_eq!(counters.take(&key, 3, expires).await.unwrap(), Some(n));
    }
    for _ in 0..2 {
        assert_eq!(
            counters.take(&key, 3, expires).await.unwrap(),
            None,
            "at the limit"
        );
    }
    assert_eq!(
        counters.take(&other, 3, expires).await.unwrap(),
        Some(1),
        "another key counts alone"
    );
    // A higher limit (the policy was raised) lets the same window go on counting.
    assert_eq!(counters.take(&key, 4, expires).await.unwrap(), Some(4));
    // A use given back can be taken again; giving back never goes below zero.
    counters.give_back(&key).await.unwrap();
    assert_eq!(counters.take(&key, 4, expires).await.unwrap(), Some(4));
    let fresh = uid("quota");
    counters.give_back(&fresh).await.unwrap();
    counters.take(&fresh, 1, expires).await.unwrap();
    counters.give_back(&fresh).await.unwrap();
    counters.give_back(&fresh).await.unwrap();
    assert_eq!(counters.take(&fresh, 1, expires).await.unwrap(), Some(1));
    assert_eq!(counters.take(&fresh, 1, expires).await.unwrap(), None);
}

/// Concurrent takes of one key: exactly `limit` succeed, each with a distinct count.
pub async fn check_quota_counters_race(counters: Arc<dyn QuotaCounters>) {
    let key = uid("quota-race");
    let expires = Utc::now() + Duration::seconds(120);
    let takes: Vec<_> = (0..24)
        .map(|_| {
            let (counters, key) = (counters.clone(), key.clone());
            tokio::spawn(async move { counters.take(&key, 5, expires).await.unwrap() })
        })
        .collect();
    let mut counted: Vec<u64> = Vec::new();
    for t in takes {
        counted.extend(t.await.unwrap());
    }
    counted.sort_unstable();
    assert_eq!(counted, vec![1, 2, 3, 4, 5], "never past the limit");
}
