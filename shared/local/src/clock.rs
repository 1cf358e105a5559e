//! A clock that moves only when told to, for deterministic tests.

use std::sync::Mutex;
use std::time::Duration;

use coda_core::model::Timestamp;
use coda_core::ports::Clock;

/// A `Clock` that stands still until `advance` or `set` moves it.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by` (saturating at the largest instant chrono can hold).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        *now = now
            .checked_add_signed(by)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    }

    /// Sets the clock to `to`, forwards or backwards.
    pub fn set(&self, to: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn advances_and_sets() {
        let t0 = Utc.timestamp_opt(1_000, 0).unwrap();
        let c = ManualClock::new(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_millis(1_500));
        assert_eq!(c.now().timestamp_millis(), 1_001_500);
        c.set(t0);
        assert_eq!(c.now(), t0);
    }
}
