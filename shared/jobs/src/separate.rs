//! `separate`: vocals, drums, bass and other stems, and a picture of the split.
//!
//! The CLI (`coda separate`) and the job share [`separate_decoded`] and
//! [`StemFiles`], so both write the same files.

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

/// The `separate` kind.
pub const KIND: Kind = Kind {
    spec: KindSpec::new::<SeparateOptions>(
        "separate",
        "Stem separation: vocals, drums, bass and other, and a picture of the split.",
        Route::Gpu,
        "SeparateParams",
    )
    .inputs(AUDIO_INPUT)
    .outputs(&[
        stem(
            "vocals",
            "the centred lead (built-in) or the vocals (HT-Demucs)",
        ),
        stem("drums", "percussive sounds"),
        stem("bass", "the low band of the harmonic part"),
        stem(
            "other",
            "everything else; the four stems add up to the input",
        ),
        Slot {
            name: "stems",
            content_types: &["image/png"],
            description: "the mixture and the four stems as envelopes on one scale",
        },
    ])
    // HT-Demucs weights are the operator's file (`htdemucs_model`); only the runtime is installed.
    .artifacts(&["onnxruntime"]),
    #[cfg(feature = "runners")]
    runner: |ctx| {
        let htdemucs = std::sync::Arc::new(SharedHtDemucs::new(ctx.settings.clone()));
        std::sync::Arc::new(SeparateRunner::new(htdemucs))
    },
};

/// A stem output: `NAME.wav` or `NAME.flac` by the `format` param.
const fn stem(name: &'static str, description: &'static str) -> Slot {
    Slot {
        name,
        content_types: &["audio/wav", "audio/flac"],
        description,
    }
}

/// Which separator a `separate` job runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// What `check` refuses, said in the schema too: no `vocal_method` with HT-Demucs.
#[schemars(extend("not" = {
    "required": ["model", "vocal_method"],
    "properties": {"model": {"const": "htdemucs"}, "vocal_method": {"type": "string"}}
}))]
pub struct SeparateOptions {
    /// `dsp` (default) or `htdemucs`.
    pub model: Option<SeparationModel>,
    /// `wav` (default) or `flac`.
    pub format: Option<StemFormat>,
    /// For `dsp` only: `auto` (default), `centre` or `repet`.
    pub vocal_method: Option<VocalMethodOption>,
}

impl KindParams for SeparateOptions {
    /// Checks combinations the types alone cannot.
    fn check(&self) -> Result<()> {
        if self.model == Some(SeparationModel::Htdemucs) && self.vocal_method.is_some() {
            return Err(invalid_param(
                "vocal_method",
                "vocal_method applies to the dsp model only",
            ));
        }
        Ok(())
    }
}
