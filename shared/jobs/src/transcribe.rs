//! `transcribe`: Basic Pitch notes, a MIDI file and a piano roll from any decodable audio.
//!
//! The CLI (`coda transcribe`) and the job share [`transcribe_audio`] and
//! [`TranscriptionFiles`], so both write byte-for-byte the same files.

use coda_core::kinds::{KindParams, KindSpec, Route, Slot};
use coda_core::params::invalid_param;
use coda_core::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Kind, AUDIO_INPUT};

#[cfg(feature = "runners")]
mod run;
#[cfg(feature = "runners")]
pub use run::*;

/// The `transcribe` kind.
pub const KIND: Kind = Kind {
    spec: KindSpec::new::<TranscribeOptions>(
        "transcribe",
        "Audio to notes with Basic Pitch: notes.json, a MIDI file and a piano roll.",
        Route::Gpu,
        "TranscribeParams",
    )
    .inputs(AUDIO_INPUT)
    .outputs(&[
        Slot {
            name: "notes",
            content_types: &["application/json"],
            description: "the notes, sorted by start then pitch",
        },
        Slot {
            name: "transcription",
            content_types: &["audio/midi"],
            description: "the notes as a standard MIDI file",
        },
        Slot {
            name: "pianoroll",
            content_types: &["image/png"],
            description: "a piano-roll picture of the notes",
        },
    ])
    .artifacts(&["onnxruntime", "basic-pitch"]),
    #[cfg(feature = "runners")]
    runner: |ctx| std::sync::Arc::new(TranscribeRunner::new(ctx.basic_pitch.clone())),
};

/// Parameters of a `transcribe` job; anything left out takes upstream Basic Pitch's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscribeOptions {
    /// Minimum onset activation that starts a note, 0..=1 (default 0.5).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub onset_threshold: Option<f64>,
    /// Minimum frame activation that keeps a note going, 0..=1 (default 0.3).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub frame_threshold: Option<f64>,
    /// Shorter notes are dropped, in milliseconds (default 127.70).
    #[schemars(range(min = 0.0, max = 60000.0))]
    pub minimum_note_length_ms: Option<f64>,
    /// Lowest pitch kept, in Hz.
    #[schemars(range(max = 22050.0), extend("exclusiveMinimum" = 0.0))]
    pub minimum_frequency: Option<f64>,
    /// Highest pitch kept, in Hz.
    #[schemars(range(max = 22050.0), extend("exclusiveMinimum" = 0.0))]
    pub maximum_frequency: Option<f64>,
    /// Add onsets where frame activations jump (default true).
    pub infer_onsets: Option<bool>,
    /// Also find notes without a clear onset (default true).
    pub melodia_trick: Option<bool>,
    /// Estimate pitch bends (default true).
    pub include_pitch_bends: Option<bool>,
    /// One MIDI track per pitch so overlapping notes keep their own bends (default false).
    pub multiple_pitch_bends: Option<bool>,
    /// Tempo written into the MIDI file, in beats per minute (default 120).
    #[schemars(range(min = 4.0, max = 1000.0))]
    pub midi_tempo: Option<f64>,
}

impl KindParams for TranscribeOptions {
    /// Checks every given value against its valid range.
    fn check(&self) -> Result<()> {
        for (name, value) in [
            ("onset_threshold", self.onset_threshold),
            ("frame_threshold", self.frame_threshold),
        ] {
            if let Some(v) = value {
                if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                    return Err(invalid_param(
                        name,
                        format!("{name} must be between 0 and 1"),
                    ));
                }
            }
        }
        if let Some(ms) = self.minimum_note_length_ms {
            if !(ms.is_finite() && (0.0..=60_000.0).contains(&ms)) {
                return Err(invalid_param(
                    "minimum_note_length_ms",
                    "minimum_note_length_ms must be between 0 and 60000",
                ));
            }
        }
        for (name, value) in [
            ("minimum_frequency", self.minimum_frequency),
            ("maximum_frequency", self.maximum_frequency),
        ] {
            if let Some(hz) = value {
                if !(hz.is_finite() && hz > 0.0 && hz <= 22_050.0) {
                    return Err(invalid_param(
                        name,
                        format!("{name} must be a frequency in Hz between 0 and 22050"),
                    ));
                }
            }
        }
        if let (Some(lo), Some(hi)) = (self.minimum_frequency, self.maximum_frequency) {
            if lo >= hi {
                return Err(invalid_param(
                    "minimum_frequency",
                    "minimum_frequency must be below maximum_frequency",
                ));
            }
        }
        if let Some(bpm) = self.midi_tempo {
            if !(bpm.is_finite() && (4.0..=1000.0).contains(&bpm)) {
                return Err(invalid_param(
                    "midi_tempo",
                    "midi_tempo must be between 4 and 1000",
                ));
            }
        }
        Ok(())
    }
}
