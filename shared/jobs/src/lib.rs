//! Coda's job kinds: each module declares one kind (its spec, params and, with
//! the `runners` feature, its runner), and [`KINDS`] registers them.
//!
//! Without `runners` this crate is only the specs: what the API side (a
//! Lambda) needs to validate submissions, with no audio or model code.

pub mod analyze;
#[cfg(feature = "runners")]
pub mod chordsplot;
pub mod convert;
#[cfg(feature = "runners")]
pub mod pianoroll;
pub mod probe;
pub mod separate;
#[cfg(feature = "runners")]
pub mod stemsplot;
pub mod synthesize;
pub mod tab;
pub mod tool;
pub mod transcribe;

use coda_core::kinds::{KindRegistry, KindSpec, Slot};

#[cfg(feature = "runners")]
pub use runners::{builtin_runners, RunnerContext};
#[cfg(feature = "runners")]
pub use separate::SharedHtDemucs;
#[cfg(feature = "runners")]
pub use transcribe::{ModelSettings, SharedModel};

/// Every kind this build ships, in the order documents list them: one line per kind.
pub const KINDS: &[Kind] = &[
    probe::KIND,
    transcribe::KIND,
    separate::KIND,
    convert::KIND,
    synthesize::KIND,
    tab::KIND,
    analyze::KIND,
    tool::KIND,
];

/// A kind as a module declares it: the spec and how to build its runner.
#[derive(Clone, Copy)]
pub struct Kind {
    /// Name, route, params, inputs, outputs and artifacts.
    pub spec: KindSpec,
    /// Builds the runner from the process's shared model handles.
    #[cfg(feature = "runners")]
    pub runner: fn(&RunnerContext) -> std::sync::Arc<dyn coda_core::worker::JobRunner>,
}

/// A runner's files, (name, content type, bytes) each, as the worker stores them.
#[cfg(feature = "runners")]
pub(crate) fn outputs(
    files: Vec<(&'static str, &'static str, Vec<u8>)>,
) -> Vec<coda_core::worker::NewOutput> {
    files
        .into_iter()
        .map(|(name, content_type, bytes)| coda_core::worker::NewOutput {
            name: name.into(),
            content_type: content_type.into(),
            bytes: bytes.into(),
        })
        .collect()
}

/// The one audio input most kinds take.
pub const AUDIO_INPUT: &[Slot] = &[Slot {
    name: "audio",
    // Spelled out: `audio/midi` is not audio samples.
    content_types: &[
        "audio/wav",
        "audio/flac",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "audio/aiff",
    ],
    description: "any decodable audio file (WAV, FLAC, MP3, Ogg, M4A, AIFF)",
}];

/// The registry of [`KINDS`].
pub fn registry() -> KindRegistry {
    KindRegistry::new(KINDS.iter().map(|k| k.spec))
}

#[cfg(feature = "runners")]
mod runners {
    use std::collections::HashMap;
    use std::sync::Arc;

    use coda_core::model::JobKind;
    use coda_core::worker::{JobRunner, Runners};

    use crate::{ModelSettings, SharedModel, KINDS};

    /// What runners share within a process: settings and the lazily loaded models.
    pub struct RunnerContext {
        /// Where the model files are and how to run them.
        pub settings: ModelSettings,
        /// The one Basic Pitch session.
        pub basic_pitch: Arc<SharedModel>,
    }

    /// The registry and a runner for every shipped kind; model jobs share `model`, loaded on first use.
    pub fn builtin_runners(model: Arc<SharedModel>) -> Runners {
        let ctx = RunnerContext {
            settings: model.settings().clone(),
            basic_pitch: model,
        };
        let by_kind: HashMap<JobKind, Arc<dyn JobRunner>> = KINDS
            .iter()
            .map(|k| (k.spec.kind(), (k.runner)(&ctx)))
            .collect();
        Runners {
            registry: crate::registry(),
            by_kind,
        }
    }
}

#[cfg(test)]
mod registry_tests {
    use coda_core::sniff::Sniffed;

    use super::*;

    #[test]
    fn the_audio_input_takes_exactly_the_sniffed_audio_types() {
        let all = [
            Sniffed::Wav,
            Sniffed::Flac,
            Sniffed::Mp3,
            Sniffed::Ogg,
            Sniffed::Mp4,
            Sniffed::Aiff,
            Sniffed::Midi,
            Sniffed::Xml,
            Sniffed::Zip,
            Sniffed::Json,
        ];
        for s in all {
            assert_eq!(AUDIO_INPUT[0].accepts(s.mime()), s.is_audio(), "{s:?}");
        }
    }

    #[test]
    fn every_shipped_kind_is_registered_once_with_its_artifacts() {
        let r = registry();
        let names: Vec<&str> = r.specs().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "probe",
                "transcribe",
                "separate",
                "convert",
                "synthesize",
                "tab",
                "analyze",
                "tool"
            ]
        );
        assert_eq!(
            r.artifacts_of(&r.kinds()),
            ["onnxruntime", "basic-pitch", "cmudict"]
        );
        for spec in r.specs() {
            assert!(!spec.outputs.is_empty(), "{}", spec.name);
            if spec.name == "tool" {
                // The one kind whose params are required: which tool to run.
                assert!(spec.validate(&serde_json::Value::Null).is_err());
                spec.validate(&serde_json::json!({"tool": "predict_pitch", "args": {}}))
                    .unwrap();
                assert!(spec
                    .validate(&serde_json::json!({"tool": "parse_score"}))
                    .is_err());
            } else {
                spec.validate(&serde_json::Value::Null).unwrap();
            }
        }
    }
}

#[cfg(test)]
mod params_tests {
    use coda_core::params::parse;
    use coda_core::Result;
    use serde_json::{json, Value};

    use crate::separate::{SeparateOptions, SeparationModel, StemFormat};
    use crate::transcribe::TranscribeOptions;

    fn validate(kind: &str, params: &Value) -> Result<()> {
        super::registry().parse(kind)?.validate(params)
    }

    #[test]
    fn transcribe_options_accept_defaults_and_valid_values() {
        validate("transcribe", &Value::Null).unwrap();
        validate("transcribe", &json!({})).unwrap();
        validate(
            "transcribe",
            &json!({"onset_threshold": 0.6, "minimum_frequency": 80.0, "maximum_frequency": 1000.0, "melodia_trick": false}),
        )
        .unwrap();
        let parsed: TranscribeOptions = parse(&json!({"frame_threshold": 0.25})).unwrap();
        assert_eq!(parsed.frame_threshold, Some(0.25));
        assert_eq!(parsed.onset_threshold, None);
    }

    #[test]
    fn separate_options_parse_and_refuse_bad_values() {
        validate("separate", &Value::Null).unwrap();
        let parsed: SeparateOptions =
            parse(&json!({"model": "htdemucs", "format": "flac"})).unwrap();
        assert_eq!(parsed.model, Some(SeparationModel::Htdemucs));
        assert_eq!(parsed.format, Some(StemFormat::Flac));
        validate("separate", &json!({"vocal_method": "repet"})).unwrap();
        for params in [
            json!({"model": "spleeter"}),
            json!({"format": "mp3"}),
            json!({"stems": 2}),
            json!({"model": "htdemucs", "vocal_method": "centre"}),
        ] {
            let err = validate("separate", &params).unwrap_err();
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
            let err = validate("transcribe", &params).unwrap_err();
            assert_eq!(err.code(), "INVALID_PARAMS", "{params}");
            if let Some(field) = field {
                assert_eq!(err.details()["field"], field, "{params}");
            }
        }
    }

    #[test]
    fn kinds_without_options_refuse_any() {
        validate("probe", &json!({})).unwrap();
        let err = validate("probe", &json!({"foo": 1})).unwrap_err();
        assert_eq!(err.code(), "INVALID_PARAMS");
        let err = validate("probe", &json!([1])).unwrap_err();
        assert_eq!(err.code(), "INVALID_PARAMS");
    }
}
