//! `probe`: decode the whole input and report its format, levels and loudness.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use coda_audio::{decode, measure, AudioError};
use coda_core::model::{Job, JobKind};
use coda_core::sniff::sniff;
use coda_core::worker::{JobRunner, NewOutput, Progress};
use coda_core::{CodaError, Result};
use serde::{Deserialize, Serialize};

/// The content of `probe.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Decoded length in seconds.
    pub duration_s: f64,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Codec short name, e.g. `pcm_s16le`, `flac`, `mp3`.
    pub codec: String,
    /// Highest absolute sample, dBFS.
    pub peak_dbfs: f64,
    /// RMS over all samples and channels, dBFS.
    pub rms_dbfs: f64,
    /// Integrated loudness (ITU-R BS.1770), LUFS; null when too short or silent to gate.
    pub loudness_lufs: Option<f64>,
}

/// Measures one file; the whole of it is decoded, not just the header.
pub fn probe_bytes(bytes: &[u8]) -> Result<ProbeReport> {
    let hint = sniff(bytes).map(|s| s.extension());
    let audio = decode(bytes, hint).map_err(|e| match e {
        AudioError::Invalid(m) => CodaError::InvalidAudio(m),
        other => CodaError::Internal(other.to_string()),
    })?;
    let levels = measure(&audio);
    Ok(ProbeReport {
        duration_s: audio.duration_s(),
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        codec: audio.codec.clone(),
        peak_dbfs: levels.peak_dbfs,
        rms_dbfs: levels.rms_dbfs,
        loudness_lufs: levels.loudness_lufs,
    })
}

/// Runs `probe` jobs.
pub struct ProbeRunner;

#[async_trait]
impl JobRunner for ProbeRunner {
    fn kind(&self) -> JobKind {
        JobKind::Probe
    }

    async fn run(
        &self,
        _job: &Job,
        input: Bytes,
        progress: Arc<Progress>,
    ) -> Result<Vec<NewOutput>> {
        progress.set(5);
        // Decoding is CPU-bound; keep it off the async threads.
        let report = tokio::task::spawn_blocking(move || probe_bytes(&input))
            .await
            .map_err(|e| CodaError::Internal(format!("probe task failed: {e}")))??;
        progress.check()?;
        progress.set(95);
        let json = serde_json::to_vec_pretty(&report).map_err(CodaError::internal)?;
        Ok(vec![NewOutput {
            name: "probe.json".into(),
            content_type: "application/json".into(),
            bytes: json.into(),
        }])
    }
}
