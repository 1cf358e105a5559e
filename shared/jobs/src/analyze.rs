//! `analyze`: key, keys over time, chords, tempo, beats, downbeats and time signature of a
//! recording (NNLS chroma and onsets, coda-analysis) or of a score (its notes and its own
//! timing, coda-theory): `analysis.json` and `chords.png`.
//!
//! The CLI (`coda analyze`) and the job run the same [`analysis_files`].

use coda_core::kinds::{KindParams, KindSpec, Route, Slot};
use coda_core::params::invalid_param;
use coda_core::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Kind;

#[cfg(feature = "runners")]
mod run;
#[cfg(feature = "runners")]
pub use run::*;

/// A recording or a score.
pub const ANALYZE_INPUT: &[Slot] = &[Slot {
    name: "input",
    content_types: &[
        "audio/wav",
        "audio/flac",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "audio/aiff",
        "application/vnd.recordare.musicxml+xml",
        "application/vnd.recordare.musicxml",
        "audio/midi",
    ],
    description: "a recording (WAV, FLAC, MP3, Ogg, AAC, AIFF) or a score (MusicXML, .mxl or MIDI)",
}];

/// The longest recording an `analyze` job takes, in seconds.
pub const MAX_SECONDS: f64 = 3600.0;

/// The `analyze` kind.
pub const KIND: Kind = Kind {
    spec: KindSpec::new::<AnalyzeParams>(
        "analyze",
        "Key (with confidence and runners-up), keys over time, chords, tempo, beats, downbeats and time signature of a recording or a score: analysis.json and chords.png.",
        Route::Cpu,
        "AnalyzeParams",
    )
    .inputs(ANALYZE_INPUT)
    .outputs(&[
        Slot {
            name: "analysis",
            content_types: &["application/json"],
            description: "analysis.json: key {tonic, mode, confidence, alternatives}, keys, chords [{start_s, end_s, label (Harte), display}], tempo_bpm, beats, downbeats, time_signature",
        },
        Slot {
            name: "chords",
            content_types: &["image/png"],
            description: "chords.png: the chord and key timeline over the chroma (audio) or the piano roll (a score), with beats and downbeats",
        },
    ]),
    #[cfg(feature = "runners")]
    runner: |_| std::sync::Arc::new(AnalyzeRunner),
};

/// Parameters of an `analyze` job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeParams {
    /// The key profile: `albrecht-shanahan` (default), `albrecht-shanahan-aarden`,
    /// `aarden-essen`, `bellman-budge`, `temperley-kostka-payne` or `krumhansl-kessler`.
    #[serde(default)]
    pub key_profile: Option<String>,
    /// The shortest key segment in seconds (default 16).
    #[serde(default)]
    #[schemars(range(min = 1.0, max = 3600.0))]
    pub min_key_segment_s: Option<f64>,
}

impl AnalyzeParams {
    /// The analysis options these parameters choose.
    pub fn options(&self) -> Result<coda_theory::AnalysisOptions> {
        let mut o = coda_theory::AnalysisOptions::default();
        if let Some(p) = &self.key_profile {
            o.profile = coda_theory::KeyProfile::parse(p).ok_or_else(|| {
                let names: Vec<&str> = coda_theory::KeyProfile::ALL
                    .iter()
                    .map(|p| p.name())
                    .collect();
                invalid_param(
                    "key_profile",
                    format!("unknown key profile {p:?}: one of {}", names.join(", ")),
                )
            })?;
        }
        if let Some(s) = self.min_key_segment_s {
            if !(s.is_finite() && (1.0..=3600.0).contains(&s)) {
                return Err(invalid_param(
                    "min_key_segment_s",
                    "min_key_segment_s must be 1 to 3600",
                ));
            }
            o.segments.min_segment_s = s;
        }
        Ok(o)
    }
}

impl KindParams for AnalyzeParams {
    fn check(&self) -> Result<()> {
        self.options().map(|_| ())
    }
}
