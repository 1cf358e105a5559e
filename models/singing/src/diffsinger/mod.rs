//! DiffSinger voicebanks in the layout OpenUtau loads, run on ONNX Runtime.
//!
//! The behaviour follows OpenUtau's sources (`stakira/OpenUtau`,
//! `OpenUtau.Core/DiffSinger/`):
//!
//! - configuration: `DiffSingerConfig.cs` (snake_case keys and their
//!   defaults), `DiffSingerVocoder.cs` (`vocoder.yaml`), `DiffSingerUtils.cs`
//!   (phoneme lists as `.txt` or `.json`, language ids), `DiffSingerSinger.cs`
//!   (where each model is looked for) — see [`config`] and [`inspect`];
//! - the acoustic model and vocoder: `DiffSingerRenderer.cs` — 100 ms of `SP`
//!   before and after the phrase, curves padded with their end values, the
//!   `speedup` / `depth` / `steps` rules, the mel checks between acoustic
//!   model and vocoder and the `mel_base` conversion (×2.30259 from base 10 to
//!   e, ×0.434294 from e to 10) — see [`Voicebank::synthesize`];
//! - the predictors: `DiffSingerBasePhonemizer.cs` (duration: word-mode
//!   encoder, `ph_midi`, fitting the predictions into the words),
//!   `DiffSingerPitch.cs` (`note_midi` with rests filled, `note_dur`, `retake`,
//!   `expr`, `note_rest`), `DiffSingerVariance.cs` (`pitch` in MIDI, zero
//!   curves, `retake` masks), `DiffSingerSpeakerEmbedManager.cs` (`NAME.emb`
//!   speaker embeddings) — see [`Voicebank::predict_durations`],
//!   [`Voicebank::predict_pitch`], [`Voicebank::predict_variance`].
//!
//! Where this module differs: a phrase has one speaker (OpenUtau mixes them
//! per frame with voice-colour curves); `gender` and `velocity` are phrase-wide
//! values; the vocoder sits in the voicebank's `dsvocoder/` folder (or
//! `vocoder:` is a path to one) instead of being looked up by name among
//! installed packages; the waveform is trimmed to the phrase; an unknown speaker
//! or phoneme is an error.
//!
//! [`inspect`] and [`list_voicebanks`] read folders without opening a model;
//! [`Voicebank::load`] opens the sessions and checks their signatures against
//! the configuration; [`testing`] writes small valid voicebanks whose models
//! compute known functions of their inputs.

pub mod config;
mod error;
mod phrase;
mod run;
pub mod testing;
mod timing;
mod voicebank;

pub use error::{Predictor, VoicebankError};
pub use phrase::{
    DsExpression, DsNote, DsPhrase, DsVariance, PhraseError, MAX_F0_HZ, MAX_FRAMES, MAX_NOTES,
    MAX_PHONEMES,
};
pub use run::Voicebank;
pub use voicebank::{
    inspect, list_voicebanks, Acceleration, AcousticInputs, MelBaseConversion, Predictors,
    VarianceCurves, VoicebankEntry, VoicebankInfo, VoicebankStatus,
};
