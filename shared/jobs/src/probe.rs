//! `probe`: decode the whole input and report its format, levels and loudness.

use coda_core::kinds::{NoParams, Route, Slot};

use crate::{Kind, AUDIO_INPUT};

#[cfg(feature = "runners")]
mod run;
#[cfg(feature = "runners")]
pub use run::*;

/// The `probe` kind.
pub const KIND: Kind = Kind {
    spec: coda_core::kinds::KindSpec::new::<NoParams>(
        "probe",
        "Decode the audio and measure duration, levels and loudness.",
        Route::Cpu,
        "ProbeParams",
    )
    .inputs(AUDIO_INPUT)
    .outputs(&[Slot {
        name: "probe",
        content_types: &["application/json"],
        description: "duration, sample rate, channels, codec, peak and RMS dBFS, loudness (LUFS)",
    }]),
    #[cfg(feature = "runners")]
    runner: |_| std::sync::Arc::new(ProbeRunner),
};
