//! Kind-specific job parameters, checked when a job is submitted.
//!
//! The API side (a Lambda or `coda serve`) has no model code, yet a bad
//! parameter must be a 422 at submit time rather than a failed job minutes
//! later, so the parameter contract lives here in the domain.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::model::JobKind;
use crate::{CodaError, Result};

/// Parameters of a `transcribe` job; anything left out takes upstream Basic Pitch's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscribeOptions {
    /// Minimum onset activation that starts a note, 0..=1 (default 0.5).
    pub onset_threshold: Option<f64>,
    /// Minimum frame activation that keeps a note going, 0..=1 (default 0.3).
    pub frame_threshold: Option<f64>,
    /// Shorter notes are dropped, in milliseconds (default 127.70).
    pub minimum_note_length_ms: Option<f64>,
    /// Lowest pitch kept, in Hz.
    pub minimum_frequency: Option<f64>,
    /// Highest pitch kept, in Hz.
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
    pub midi_tempo: Option<f64>,
}

/// Which separator a `separate` job runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeparationModel {
    /// The built-in DSP separator: no weights needed (default).
    #[default]
    Dsp,
    /// HT-Demucs through ONNX; the server must have the model file configured.
    Htdemucs,
}

impl SeparationModel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeparationModel::Dsp => "dsp",
            SeparationModel::Htdemucs => "htdemucs",
        }
    }
}

/// File format of the stems.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StemFormat {
    /// 32-bit float WAV: lossless, and the stems add up to the mixture exactly (default).
    #[default]
    Wav,
    /// 24-bit FLAC: about half the size; samples beyond full scale are clipped.
    Flac,
}

impl StemFormat {
    /// File extension and content type.
    pub fn extension_and_type(self) -> (&'static str, &'static str) {
        match self {
            StemFormat::Wav => ("wav", "audio/wav"),
            StemFormat::Flac => ("flac", "audio/flac"),
        }
    }
}

/// How the built-in separator finds the vocals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VocalMethodOption {
    /// Centre extraction for stereo input, repetition (REPET-SIM) for mono (default).
    #[default]
    Auto,
    /// What sits in the centre of the stereo image.
    Centre,
    /// What does not repeat (REPET-SIM).
    Repet,
}

/// Parameters of a `separate` job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeparateOptions {
    /// `dsp` (default) or `htdemucs`.
    pub model: Option<SeparationModel>,
    /// `wav` (default) or `flac`.
    pub format: Option<StemFormat>,
    /// For `dsp` only: `auto` (default), `centre` or `repet`.
    pub vocal_method: Option<VocalMethodOption>,
}

impl SeparateOptions {
    /// Checks combinations the types alone cannot.
    pub fn validate(&self) -> Result<()> {
        if self.model == Some(SeparationModel::Htdemucs) && self.vocal_method.is_some() {
            return Err(invalid(
                "vocal_method",
                "vocal_method applies to the dsp model only",
            ));
        }
        Ok(())
    }
}

/// Parameters of a job kind that takes none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

impl TranscribeOptions {
    /// Checks every given value against its valid range.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("onset_threshold", self.onset_threshold),
            ("frame_threshold", self.frame_threshold),
        ] {
            if let Some(v) = value {
                if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                    return Err(invalid(name, format!("{name} must be between 0 and 1")));
                }
            }
        }
        if let Some(ms) = self.minimum_note_length_ms {
            if !(ms.is_finite() && (0.0..=60_000.0).contains(&ms)) {
                return Err(invalid(
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
                    return Err(invalid(
                        name,
                        format!("{name} must be a frequency in Hz between 0 and 22050"),
                    ));
                }
            }
        }
        if let (Some(lo), Some(hi)) = (self.minimum_frequency, self.maximum_frequency) {
            if lo >= hi {
                return Err(invalid(
                    "minimum_frequency",
                    "minimum_frequency must be below maximum_frequency",
                ));
            }
        }
        if let Some(bpm) = self.midi_tempo {
            if !(bpm.is_finite() && (4.0..=1000.0).contains(&bpm)) {
                return Err(invalid(
                    "midi_tempo",
                    "midi_tempo must be between 4 and 1000",
                ));
            }
        }
        Ok(())
    }
}

/// Checks `params` for `kind`: unknown fields, wrong types and out-of-range values are 422 `INVALID_PARAMS`.
pub fn validate(kind: JobKind, params: &Value) -> Result<()> {
    match kind {
        JobKind::Transcribe => parse::<TranscribeOptions>(params)?.validate(),
        JobKind::Separate => parse::<SeparateOptions>(params)?.validate(),
        _ => parse::<NoOptions>(params).map(|_| ()),
    }
}

/// Parses `params` (null or an object) into a kind's options type.
pub fn parse<T: DeserializeOwned + Default>(params: &Value) -> Result<T> {
    match params {
        Value::Null => Ok(T::default()),
        Value::Object(_) => {
            serde_json::from_value(params.clone()).map_err(|e| CodaError::Unprocessable {
                code: "INVALID_PARAMS",
                message: format!("invalid params: {e}"),
                details: json!({}),
            })
        }
        _ => Err(CodaError::bad_request(
            "INVALID_PARAMS",
            "params must be a JSON object",
        )),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> CodaError {
    CodaError::Unprocessable {
        code: "INVALID_PARAMS",
        message: message.into(),
        details: json!({ "field": field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcribe_options_accept_defaults_and_valid_values() {
        validate(JobKind::Transcribe, &Value::Null).unwrap();
        validate(JobKind::Transcribe, &json!({})).unwrap();
        validate(
            JobKind::Transcribe,
            &json!({"onset_threshold": 0.6, "minimum_frequency": 80.0, "maximum_frequency": 1000.0, "melodia_trick": false}),
        )
        .unwrap();
        let parsed: TranscribeOptions = parse(&json!({"frame_threshold": 0.25})).unwrap();
        assert_eq!(parsed.frame_threshold, Some(0.25));
        assert_eq!(parsed.onset_threshold, None);
    }

    #[test]
    fn separate_options_parse_and_refuse_bad_values() {
        validate(JobKind::Separate, &Value::Null).unwrap();
        let parsed: SeparateOptions =
            parse(&json!({"model": "htdemucs", "format": "flac"})).unwrap();
        assert_eq!(parsed.model, Some(SeparationModel::Htdemucs));
        assert_eq!(parsed.format, Some(StemFormat::Flac));
        validate(JobKind::Separate, &json!({"vocal_method": "repet"})).unwrap();
        for params in [
            json!({"model": "spleeter"}),
            json!({"format": "mp3"}),
            json!({"stems": 2}),
            json!({"model": "htdemucs", "vocal_method": "centre"}),
        ] {
            let err = validate(JobKind::Separate, &params).unwrap_err();
            assert_eq!(err.code(), "INVALID_PARAMS", "{params}");
        }
    }

    #[test]
    fn bad_transcribe_options_are_422_with_the_field() {
        for (params, field) in [
            (json!({"onset_threshold": 1.5}), Some("onset_threshold")),
            (json!({"frame_threshold": -0.1}), Some("frame_threshold")),
            (
                json!({"minimum_note_length_ms": -1}),
                Some("minimum_note_length_ms"),
            ),
            (json!({"minimum_frequency": 0}), Some("minimum_frequency")),
            (
                json!({"minimum_frequency": 500, "maximum_frequency": 100}),
                Some("minimum_frequency"),
            ),
            (json!({"midi_tempo": 0}), Some("midi_tempo")),
            (json!({"onset_treshold": 0.5}), None),
            (json!({"melodia_trick": "yes"}), None),
        ] {
            let err = validate(JobKind::Transcribe, &params).unwrap_err();
            assert_eq!(err.code(), "INVALID_PARAMS", "{params}");
            if let Some(field) = field {
                assert_eq!(err.details()["field"], field, "{params}");
            }
        }
    }

    #[test]
    fn kinds_without_options_refuse_any() {
        validate(JobKind::Probe, &json!({})).unwrap();
        let err = validate(JobKind::Probe, &json!({"foo": 1})).unwrap_err();
        assert_eq!(err.code(), "INVALID_PARAMS");
        let err = validate(JobKind::Probe, &json!([1])).unwrap_err();
        assert_eq!(err.code(), "INVALID_PARAMS");
    }
}
