//! Spotify's Basic Pitch (basic-pitch 0.4.0) inference, ported from
//! `basic_pitch/inference.py`, `note_creation.py` and `constants.py`.
//!
//! The numbers and the order of operations follow upstream, including its
//! quirks, so that the same posteriorgrams give the same notes and the same
//! MIDI bytes as the Python package.
//!
//! The network runs in an ONNX Runtime session from `coda-model-runtime`
//! ([`BasicPitchModel`]); audio at other rates and channel counts goes
//! through `coda-dsp`'s resampler first ([`to_model_input`]).

#![warn(missing_docs)]

pub(crate) mod contour_graph;
mod midi;
pub mod model;
mod notes;

use std::time::{Duration, Instant};

use coda_dsp::{AudioBuffer, Input};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

pub use coda_model_runtime::{Device, Installed, ModelError, RuntimeOptions};
pub use midi::{notes_to_midi, notes_to_midi_with};
pub use model::{BasicPitchModel, GraphForm, RawBatch};
pub use notes::{model_frames_to_time, posteriorgrams_to_notes};

/// Sample rate the network was trained on.
pub const SAMPLE_RATE: u32 = 22_050;
/// Hop of the network's time-frequency front end, in samples.
pub const FFT_HOP: usize = 256;
/// Samples in one model window (`AUDIO_N_SAMPLES`: two seconds less one hop).
pub const WINDOW_SAMPLES: usize = SAMPLE_RATE as usize * 2 - FFT_HOP;
/// Output frames per second as upstream counts them (integer division: 86).
pub const ANNOTATIONS_FPS: usize = SAMPLE_RATE as usize / FFT_HOP;
/// Output frames per model window (`ANNOT_N_FRAMES`).
pub const N_FRAMES_PER_WINDOW: usize = ANNOTATIONS_FPS * 2;
/// Frames shared by consecutive windows.
pub const N_OVERLAPPING_FRAMES: usize = 30;
/// Samples shared by consecutive windows.
pub const OVERLAP_SAMPLES: usize = N_OVERLAPPING_FRAMES * FFT_HOP;
/// Distance between window starts, in samples.
pub const HOP_SAMPLES: usize = WINDOW_SAMPLES - OVERLAP_SAMPLES;
/// Note and onset bins: the 88 piano keys.
pub const N_FREQ_BINS_NOTES: usize = 88;
/// Contour bins: three per semitone.
pub const N_FREQ_BINS_CONTOURS: usize = N_FREQ_BINS_NOTES * 3;

/// Downmixes interleaved samples to mono (channel mean, as librosa) and resamples to 22050 Hz.
///
/// The resampler is `coda-dsp`'s ([`coda_dsp::Resampler`]): rubato's
/// synchronous FFT resampler with its delay trimmed, so the output is aligned
/// with the input, as librosa's is, and as long as rubato's and librosa's:
/// `ceil(frames * 22050 / rate)` with the ratio and the product taken in f64.
///
/// A NaN or infinite sample is an error, and so is a channel mean that
/// overflows although the samples are finite.
pub fn to_model_input(
    samples_interleaved: &[f32],
    rate: u32,
    channels: u16,
) -> Result<Vec<f32>, ModelError> {
    let audio = AudioBuffer::new(samples_interleaved, rate, channels)?;
    Ok(coda_dsp::resample(&audio, SAMPLE_RATE, Input::Mean)?)
}

/// Frames dropped at each end of every window before concatenation.
const HALF_OVERLAP_FRAMES: usize = N_OVERLAPPING_FRAMES / 2;
/// Frames each window contributes after unwrapping.
const FRAMES_KEPT_PER_WINDOW: usize = N_FRAMES_PER_WINDOW - 2 * HALF_OVERLAP_FRAMES;
/// Zeros put before the audio so that the first frames are not lost to the overlap.
const LEADING_ZEROS: usize = OVERLAP_SAMPLES / 2;

/// Settings of one transcription; `Default` is upstream's `predict` defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeParams {
    /// Minimum onset activation to start a note.
    pub onset_threshold: f64,
    /// Minimum frame activation to keep a note going.
    pub frame_threshold: f64,
    /// Notes this short or shorter are dropped (milliseconds; 127.70 is 11 frames).
    pub minimum_note_length_ms: f64,
    /// Lowest frequency kept, in Hz.
    pub minimum_frequency: Option<f64>,
    /// Highest frequency kept, in Hz.
    pub maximum_frequency: Option<f64>,
    /// Add onsets where frame activations jump (`get_infered_onsets`).
    pub infer_onsets: bool,
    /// Find notes without onsets from the remaining energy.
    pub melodia_trick: bool,
    /// Estimate pitch bends from the contour.
    pub include_pitch_bends: bool,
    /// In MIDI, give each pitch its own track so overlapping notes keep their bends.
    pub multiple_pitch_bends: bool,
    /// Frames below the frame threshold that end a note.
    pub energy_tolerance: usize,
    /// Contour bins searched either side of a note for its bend.
    pub pitch_bend_tolerance_bins: usize,
    /// Tempo written to the MIDI file, in beats per minute.
    pub midi_tempo: f64,
    /// Windows per model call.
    pub batch_size: usize,
}

impl Default for TranscribeParams {
    fn default() -> Self {
        TranscribeParams {
            onset_threshold: 0.5,
            frame_threshold: 0.3,
            minimum_note_length_ms: 127.70,
            minimum_frequency: None,
            maximum_frequency: None,
            infer_onsets: true,
            melodia_trick: true,
            include_pitch_bends: true,
            multiple_pitch_bends: false,
            energy_tolerance: 11,
            pitch_bend_tolerance_bins: 25,
            midi_tempo: 120.0,
            batch_size: 8,
        }
    }
}

impl TranscribeParams {
    /// Minimum note length in frames, rounded as upstream (half to even).
    pub fn min_note_frames(&self) -> usize {
        let frames = (self.minimum_note_length_ms / 1000.0 * (SAMPLE_RATE as f64 / FFT_HOP as f64))
            .round_ties_even();
        if frames.is_finite() && frames > 0.0 {
            frames as usize
        } else {
            0
        }
    }

    /// Rejects values for which upstream would crash, loop forever or do nonsense.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |msg: String| Err(ModelError::InvalidParams(msg));
        if !self.onset_threshold.is_finite() {
            return bad(format!(
                "onset_threshold {} is not finite",
                self.onset_threshold
            ));
        }
        // A negative frame threshold makes the melodia loop never end upstream.
        if !(self.frame_threshold.is_finite() && self.frame_threshold >= 0.0) {
            return bad(format!(
                "frame_threshold {} must be finite and >= 0",
                self.frame_threshold
            ));
        }
        if !(self.minimum_note_length_ms.is_finite() && self.minimum_note_length_ms >= 0.0) {
            return bad(format!(
                "minimum_note_length_ms {} must be finite and >= 0",
                self.minimum_note_length_ms
            ));
        }
        for (name, value) in [
            ("minimum_frequency", self.minimum_frequency),
            ("maximum_frequency", self.maximum_frequency),
        ] {
            if let Some(hz) = value {
                if !(hz.is_finite() && hz > 0.0) {
                    return bad(format!("{name} {hz} must be a positive frequency in Hz"));
                }
            }
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        midi::tempo_micros(self.midi_tempo)?;
        Ok(())
    }
}

/// The network's three outputs, unwrapped to one row per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Posteriorgrams {
    /// Note activations, `[frames, 88]`.
    pub note: Array2<f32>,
    /// Onset activations, `[frames, 88]`.
    pub onset: Array2<f32>,
    /// Pitch contour, `[frames, 264]` (three bins per semitone from A0).
    pub contour: Array2<f32>,
}

impl Posteriorgrams {
    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.note.nrows()
    }
}

/// One detected note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteEvent {
    /// Start, in seconds.
    pub start_s: f64,
    /// End, in seconds.
    pub end_s: f64,
    /// MIDI key number (21 = A0 ... 108 = C8).
    pub pitch_midi: u8,
    /// MIDI velocity, `round(127 * amplitude)`.
    pub velocity: u8,
    /// Mean note activation over the note, 0..1.
    pub amplitude: f64,
    /// Bend per frame in thirds of a semitone, evenly spaced from start to end (empty when off).
    pub pitch_bends: Vec<i32>,
}

/// Timing of one transcription.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TranscribeStats {
    /// Windows the model ran on.
    pub windows: usize,
    /// Sum of the `session.run` calls.
    pub model_time: Duration,
    /// Windowing, model and unwrapping.
    pub inference_time: Duration,
    /// Note creation and pitch bends.
    pub notes_time: Duration,
}

/// Everything one transcription produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    /// The unwrapped model outputs.
    pub posteriorgrams: Posteriorgrams,
    /// Notes sorted by start, then pitch.
    pub notes: Vec<NoteEvent>,
    /// Where the time went.
    pub stats: TranscribeStats,
}

/// Number of model windows upstream cuts `n_samples` of audio into.
pub fn window_count(n_samples: usize) -> usize {
    (n_samples + LEADING_ZEROS).div_ceil(HOP_SAMPLES)
}

/// Number of output frames upstream keeps for `n_samples` of audio.
pub fn frame_count(n_samples: usize) -> usize {
    // Upstream computes this in floating point; keep that, since the float
    // product can land just under an integer where exact arithmetic would not.
    (n_samples as f64 * (ANNOTATIONS_FPS as f64 / SAMPLE_RATE as f64)).floor() as usize
}

fn check_audio(audio: &[f32]) -> Result<(), ModelError> {
    if audio.is_empty() {
        return Err(ModelError::InvalidAudio("the audio is empty".into()));
    }
    if let Some(i) = audio.iter().position(|s| !s.is_finite()) {
        return Err(ModelError::InvalidAudio(format!(
            "sample {i} is {} (NaN or infinite)",
            audio[i]
        )));
    }
    Ok(())
}

/// Runs the network over mono 22050 Hz audio and unwraps its outputs, as upstream's `run_inference`.
///
/// `progress(done, total)` is called after every batch; `cancel()` is checked
/// before every batch and stops with [`ModelError::Canceled`].
pub fn infer(
    model: &BasicPitchModel,
    audio: &[f32],
    batch_size: usize,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<(Posteriorgrams, TranscribeStats), ModelError> {
    let started = Instant::now();
    check_audio(audio)?;
    if batch_size == 0 {
        return Err(ModelError::InvalidParams(
            "batch_size must be at least 1".into(),
        ));
    }
    let n_frames = frame_count(audio.len());
    // Upstream also runs windows whose frames are all trimmed away; skipping them
    // changes no output.
    let total = window_count(audio.len()).min(n_frames.div_ceil(FRAMES_KEPT_PER_WINDOW));
    let mut note = Vec::with_capacity(n_frames * N_FREQ_BINS_NOTES);
    let mut onset = Vec::with_capacity(n_frames * N_FREQ_BINS_NOTES);
    let mut contour = Vec::with_capacity(n_frames * N_FREQ_BINS_CONTOURS);
    let mut model_time = Duration::ZERO;
    let mut input = Vec::new();
    let mut done = 0;
    progress(0, total);
    while done < total {
        if cancel() {
            return Err(ModelError::Canceled);
        }
        let batch = batch_size.min(total - done);
        input.clear();
        input.resize(batch * WINDOW_SAMPLES, 0.0);
        for (w, window) in input.chunks_exact_mut(WINDOW_SAMPLES).enumerate() {
            fill_window(audio, done + w, window);
        }
        let out = model.run(&input, batch)?;
        model_time += out.run_time;
        for w in 0..batch {
            for frame in HALF_OVERLAP_FRAMES..N_FRAMES_PER_WINDOW - HALF_OVERLAP_FRAMES {
                if note.len() >= n_frames * N_FREQ_BINS_NOTES {
                    break;
                }
                let row = w * N_FRAMES_PER_WINDOW + frame;
                note.extend_from_slice(
                    &out.note[row * N_FREQ_BINS_NOTES..(row + 1) * N_FREQ_BINS_NOTES],
                );
                onset.extend_from_slice(
                    &out.onset[row * N_FREQ_BINS_NOTES..(row + 1) * N_FREQ_BINS_NOTES],
                );
                contour.extend_from_slice(
                    &out.contour[row * N_FREQ_BINS_CONTOURS..(row + 1) * N_FREQ_BINS_CONTOURS],
                );
            }
        }
        done += batch;
        progress(done, total);
    }
    let frames = note.len() / N_FREQ_BINS_NOTES;
    let shape_err = |e: ndarray::ShapeError| ModelError::BadOutput(e.to_string());
    let posteriorgrams = Posteriorgrams {
        note: Array2::from_shape_vec((frames, N_FREQ_BINS_NOTES), note).map_err(shape_err)?,
        onset: Array2::from_shape_vec((frames, N_FREQ_BINS_NOTES), onset).map_err(shape_err)?,
        contour: Array2::from_shape_vec((frames, N_FREQ_BINS_CONTOURS), contour)
            .map_err(shape_err)?,
    };
    let stats = TranscribeStats {
        windows: total,
        model_time,
        inference_time: started.elapsed(),
        notes_time: Duration::ZERO,
    };
    Ok((posteriorgrams, stats))
}

/// Copies window `index` of the zero-padded signal into `window` (already zeroed).
fn fill_window(audio: &[f32], index: usize, window: &mut [f32]) {
    // Window positions are in the padded signal: LEADING_ZEROS zeros, then the audio.
    let start = index * HOP_SAMPLES;
    let end = start + WINDOW_SAMPLES;
    let src_start = start.saturating_sub(LEADING_ZEROS);
    let src_end = end.saturating_sub(LEADING_ZEROS).min(audio.len());
    if src_start >= src_end {
        return;
    }
    let dst_start = (src_start + LEADING_ZEROS) - start;
    window[dst_start..dst_start + (src_end - src_start)]
        .copy_from_slice(&audio[src_start..src_end]);
}

/// Transcribes mono 22050 Hz audio to notes, as upstream's `predict`.
///
/// Use [`to_model_input`] first for other rates or channel counts.
pub fn transcribe(
    model: &BasicPitchModel,
    audio: &[f32],
    params: &TranscribeParams,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<Transcription, ModelError> {
    params.validate()?;
    let (posteriorgrams, mut stats) = infer(model, audio, params.batch_size, progress, cancel)?;
    if cancel() {
        return Err(ModelError::Canceled);
    }
    let started = Instant::now();
    let notes = posteriorgrams_to_notes(&posteriorgrams, params)?;
    stats.notes_time = started.elapsed();
    Ok(Transcription {
        posteriorgrams,
        notes,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_upstream() {
        assert_eq!(WINDOW_SAMPLES, 43_844);
        assert_eq!(ANNOTATIONS_FPS, 86);
        assert_eq!(N_FRAMES_PER_WINDOW, 172);
        assert_eq!(HOP_SAMPLES, 36_164);
        assert_eq!(LEADING_ZEROS, 3_840);
        assert_eq!(FRAMES_KEPT_PER_WINDOW, 142);
        assert_eq!(TranscribeParams::default().min_note_frames(), 11);
    }

    #[test]
    fn window_and_frame_counts_follow_upstream() {
        // The vocadito fixture: 200607 samples, 6 windows, 782 frames.
        assert_eq!(window_count(200_607), 6);
        assert_eq!(frame_count(200_607), 782);
        assert_eq!(window_count(1), 1);
        assert_eq!(frame_count(256), 0);
        assert_eq!(frame_count(257), 1);
        // 11025 * 43 samples are exactly 43 * 43 frames in exact arithmetic; the
        // float product upstream uses falls just short of that.
        let exact = 11_025 * 43 * 86 / 22_050;
        assert!(frame_count(11_025 * 43) == exact || frame_count(11_025 * 43) == exact - 1);
    }

    #[test]
    fn windows_are_cut_from_the_zero_padded_signal() {
        let audio: Vec<f32> = (1..=100_000).map(|i| i as f32).collect();
        let mut w0 = vec![0.0; WINDOW_SAMPLES];
        fill_window(&audio, 0, &mut w0);
        assert!(w0[..LEADING_ZEROS].iter().all(|&s| s == 0.0));
        assert_eq!(w0[LEADING_ZEROS], 1.0);
        assert_eq!(
            w0[WINDOW_SAMPLES - 1],
            (WINDOW_SAMPLES - LEADING_ZEROS) as f32
        );

        let mut w1 = vec![0.0; WINDOW_SAMPLES];
        fill_window(&audio, 1, &mut w1);
        assert_eq!(w1[0], (HOP_SAMPLES - LEADING_ZEROS + 1) as f32);

        // The last window runs past the end and is zero-filled there.
        let mut w2 = vec![0.0; WINDOW_SAMPLES];
        fill_window(&audio, 2, &mut w2);
        let first = 2 * HOP_SAMPLES - LEADING_ZEROS;
        assert_eq!(w2[0], (first + 1) as f32);
        let valid = audio.len() - first;
        assert_eq!(w2[valid - 1], 100_000.0);
        assert!(w2[valid..].iter().all(|&s| s == 0.0));
    }

    #[test]
    fn params_are_validated() {
        assert!(TranscribeParams::default().validate().is_ok());
        let cases = [
            TranscribeParams {
                frame_threshold: -0.1,
                ..Default::default()
            },
            TranscribeParams {
                onset_threshold: f64::NAN,
                ..Default::default()
            },
            TranscribeParams {
                minimum_note_length_ms: f64::INFINITY,
                ..Default::default()
            },
            TranscribeParams {
                minimum_frequency: Some(0.0),
                ..Default::default()
            },
            TranscribeParams {
                maximum_frequency: Some(f64::NAN),
                ..Default::default()
            },
            TranscribeParams {
                batch_size: 0,
                ..Default::default()
            },
            TranscribeParams {
                midi_tempo: 0.0,
                ..Default::default()
            },
        ];
        for params in cases {
            let err = params.validate().unwrap_err();
            assert!(
                matches!(err, ModelError::InvalidParams(_)),
                "{params:?}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_audio_is_rejected_before_the_model() {
        assert!(matches!(check_audio(&[]), Err(ModelError::InvalidAudio(_))));
        assert!(matches!(
            check_audio(&[0.0, f32::NAN]),
            Err(ModelError::InvalidAudio(_))
        ));
        assert!(matches!(
            check_audio(&[f32::NEG_INFINITY]),
            Err(ModelError::InvalidAudio(_))
        ));
        assert!(check_audio(&[0.0, 0.5]).is_ok());
    }
}
