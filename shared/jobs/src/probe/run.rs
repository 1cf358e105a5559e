//! The `probe` runner and the report it writes.

use async_trait::async_trait;
use coda_audio::{decode, measure, AudioError};
use coda_core::model::JobKind;
use coda_core::sniff::sniff;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
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
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let progress = ctx.progress();
        let input = ctx.input("audio").await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_a_known_tone() {
        let wav =
            coda_audio::wav_bytes_i16(&coda_audio::sine(1000.0, 0.25, 2.0, 48000, 1), 48000, 1);
        let r = probe_bytes(&wav).unwrap();
        assert_eq!(
            (r.sample_rate, r.channels, r.codec.as_str()),
            (48000, 1, "pcm_s16le")
        );
        assert!((r.duration_s - 2.0).abs() < 1e-9);
        assert!((r.peak_dbfs - 20.0 * 0.25f64.log10()).abs() < 0.1, "{r:?}");
        // A sine's RMS is 3.01 dB under its peak.
        assert!((r.rms_dbfs - (r.peak_dbfs - 3.0103)).abs() < 0.05, "{r:?}");
        // BS.1770 of a 1 kHz mono sine: about peak - 3.01 dB.
        let lufs = r.loudness_lufs.unwrap();
        assert!((lufs - (r.peak_dbfs - 3.01)).abs() < 0.2, "{r:?}");
    }

    #[test]
    fn non_audio_and_truncated_are_invalid_audio() {
        assert_eq!(
            probe_bytes(b"definitely not audio").unwrap_err().code(),
            "INVALID_AUDIO"
        );
        let wav = coda_audio::wav_bytes_i16(&coda_audio::sine(440.0, 0.5, 1.0, 8000, 1), 8000, 1);
        let e = probe_bytes(&wav[..wav.len() / 3]).unwrap_err();
        assert_eq!(e.code(), "INVALID_AUDIO");
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
