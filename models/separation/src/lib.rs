//! Stem separation: vocals, drums, bass and other from a mixture.
//!
//! Two separators share one output type: [`dsp`], a classical STFT-mask
//! separator that needs no weights (the default), and [`htdemucs`], HT-Demucs
//! exported to ONNX in demucs-onnx's layout, for users who have that file.
//!
//! The STFT, the resampler and the threads are `coda-dsp`'s; the ONNX Runtime
//! session is opened by `coda-model-runtime`.

#![warn(missing_docs)]

pub mod dsp;
pub mod htdemucs;
pub mod onnx_graph;

pub use coda_model_runtime::{Device, ModelError, RuntimeOptions};

/// One of the four stems, in the order files and APIs list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stem {
    /// The lead voice (or lead instrument), usually panned to the centre.
    Vocals,
    /// Drums and other percussive, broadband onsets.
    Drums,
    /// The low band of the pitched accompaniment.
    Bass,
    /// Everything else; what makes the four stems add up to the mixture.
    Other,
}

impl Stem {
    /// Every stem, in output order.
    pub const ALL: [Stem; 4] = [Stem::Vocals, Stem::Drums, Stem::Bass, Stem::Other];

    /// The file stem and wire name: `vocals`, `drums`, `bass`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            Stem::Vocals => "vocals",
            Stem::Drums => "drums",
            Stem::Bass => "bass",
            Stem::Other => "other",
        }
    }

    /// Position in [`Stem::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Four stems at the source's sample rate and channel count, interleaved like the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Stems {
    /// Sample rate in Hz, the same as the mixture's.
    pub sample_rate: u32,
    /// Channels, the same as the mixture's.
    pub channels: u16,
    /// Interleaved samples per stem, indexed by [`Stem::index`]; each as long as the mixture.
    pub samples: [Vec<f32>; 4],
}

impl Stems {
    /// The samples of one stem.
    pub fn get(&self, stem: Stem) -> &[f32] {
        &self.samples[stem.index()]
    }
}

/// Largest sample magnitude accepted: +80 dB over full scale.
pub const MAX_ABS_SAMPLE: f32 = 1e4;

/// Checks interleaved input the way every separator needs it: a valid layout
/// ([`coda_dsp::AudioBuffer`]'s check) and finite samples of a sane size.
pub fn check_input(samples: &[f32], sample_rate: u32, channels: u16) -> Result<(), ModelError> {
    coda_dsp::check_layout(samples.len(), sample_rate, channels)?;
    // Float files may exceed full scale a little; values this far out are corrupt
    // and would overflow the spectra into NaN.
    if let Some(i) = samples
        .iter()
        .position(|s| !s.is_finite() || s.abs() > MAX_ABS_SAMPLE)
    {
        return Err(ModelError::InvalidAudio(format!(
            "sample {i} is {}: not audio (NaN, infinite or beyond ±{MAX_ABS_SAMPLE})",
            samples[i]
        )));
    }
    Ok(())
}
