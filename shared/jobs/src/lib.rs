//! Coda's job runners, one per job kind.

pub mod pianoroll;
pub mod probe;
pub mod separate;
pub mod stemsplot;
pub mod transcribe;

use std::collections::HashMap;
use std::sync::Arc;

use coda_core::model::JobKind;
use coda_core::worker::JobRunner;

pub use separate::SharedHtDemucs;
pub use transcribe::{ModelSettings, SharedModel};

/// The runners this build ships, by kind; model jobs share `model`, loaded on first use.
pub fn builtin_runners(model: Arc<SharedModel>) -> HashMap<JobKind, Arc<dyn JobRunner>> {
    let htdemucs = Arc::new(SharedHtDemucs::new(model.settings().clone()));
    let mut m: HashMap<JobKind, Arc<dyn JobRunner>> = HashMap::new();
    m.insert(JobKind::Probe, Arc::new(probe::ProbeRunner));
    m.insert(
        JobKind::Transcribe,
        Arc::new(transcribe::TranscribeRunner::new(model)),
    );
    m.insert(
        JobKind::Separate,
        Arc::new(separate::SeparateRunner::new(htdemucs)),
    );
    m
}
