//! Coda's job runners, one per job kind.

pub mod probe;

use std::collections::HashMap;
use std::sync::Arc;

use coda_core::model::JobKind;
use coda_core::worker::JobRunner;

/// The runners this build ships, by kind.
pub fn builtin_runners() -> HashMap<JobKind, Arc<dyn JobRunner>> {
    let mut m: HashMap<JobKind, Arc<dyn JobRunner>> = HashMap::new();
    m.insert(JobKind::Probe, Arc::new(probe::ProbeRunner));
    m
}
