//! Note creation, ported from upstream's `note_creation.py`.
//!
//! Upstream works on float64 copies of the float32 posteriorgrams; so does
//! this port, so that thresholds and ties resolve the same way.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::Array2;

use super::{
    NoteEvent, Posteriorgrams, TranscribeParams, FFT_HOP, N_FRAMES_PER_WINDOW,
    N_FREQ_BINS_CONTOURS, N_FREQ_BINS_NOTES, SAMPLE_RATE, WINDOW_SAMPLES,
};
use coda_model_runtime::ModelError;

const MIDI_OFFSET: usize = 21;
const MAX_FREQ_IDX: usize = 87;
const CONTOURS_BINS_PER_SEMITONE: f64 = 3.0;
const ANNOTATIONS_BASE_FREQUENCY: f64 = 27.5;
/// Standard deviation (in contour bins) of the Gaussian that weights the bend search.
const PITCH_BEND_STD: f64 = 5.0;
const NB: usize = N_FREQ_BINS_NOTES;

/// A note in frame units, before pitch bends and times: `(start, end, pitch, amplitude)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FrameNote {
    pub start: usize,
    pub end: usize,
    pub pitch: u8,
    pub amplitude: f64,
}

/// Frame start times in seconds, as upstream's `model_frames_to_time` (with its magic offset).
pub fn model_frames_to_time(n_frames: usize) -> Vec<f64> {
    let window_offset = (FFT_HOP as f64 / SAMPLE_RATE as f64)
        * (N_FRAMES_PER_WINDOW as f64 - (WINDOW_SAMPLES as f64 / FFT_HOP as f64))
        + 0.0018;
    (0..n_frames)
        .map(|k| {
            let original = (k * FFT_HOP) as f64 / SAMPLE_RATE as f64;
            let window_number = (k as f64 / N_FRAMES_PER_WINDOW as f64).floor();
            original - window_offset * window_number
        })
        .collect()
}

/// Turns posteriorgrams into notes, as upstream's `model_output_to_notes`; sorted by start, then pitch.
pub fn posteriorgrams_to_notes(
    posteriorgrams: &Posteriorgrams,
    params: &TranscribeParams,
) -> Result<Vec<NoteEvent>, ModelError> {
    params.validate()?;
    let n_frames = posteriorgrams.n_frames();
    let shapes = [
        posteriorgrams.note.dim(),
        posteriorgrams.onset.dim(),
        posteriorgrams.contour.dim(),
    ];
    if shapes
        != [
            (n_frames, N_FREQ_BINS_NOTES),
            (n_frames, N_FREQ_BINS_NOTES),
            (n_frames, N_FREQ_BINS_CONTOURS),
        ]
    {
        return Err(ModelError::BadOutput(format!(
            "posteriorgram shapes {shapes:?} are not [n,88], [n,88], [n,264]"
        )));
    }
    let frames = row_major(&posteriorgrams.note);
    let onsets = row_major(&posteriorgrams.onset);
    let contours = row_major(&posteriorgrams.contour);
    for (name, values) in [
        ("note", &frames),
        ("onset", &onsets),
        ("contour", &contours),
    ] {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::BadOutput(format!(
                "the {name} posteriorgram holds NaN or infinite values"
            )));
        }
    }
    if n_frames == 0 {
        return Ok(Vec::new());
    }

    let frame_notes = output_to_notes_polyphonic(&frames, &onsets, n_frames, params);
    let times = model_frames_to_time(n_frames);
    let mut notes: Vec<NoteEvent> = frame_notes
        .iter()
        .map(|n| NoteEvent {
            start_s: times[n.start],
            end_s: times[n.end.min(n_frames - 1)],
            pitch_midi: n.pitch,
            velocity: velocity(n.amplitude),
            amplitude: n.amplitude,
            pitch_bends: if params.include_pitch_bends {
                pitch_bends(&contours, n, params.pitch_bend_tolerance_bins)
            } else {
                Vec::new()
            },
        })
        .collect();
    notes.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then(a.pitch_midi.cmp(&b.pitch_midi))
            .then(a.end_s.total_cmp(&b.end_s))
            .then(a.amplitude.total_cmp(&b.amplitude))
    });
    Ok(notes)
}

/// The values of `a` in row-major order, borrowed when `a` is laid out that way (as `infer` builds it).
fn row_major(a: &Array2<f32>) -> Cow<'_, [f32]> {
    match a.as_slice() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

/// `int(np.round(127 * amplitude))`, where upstream's amplitude is a float32 mean.
pub(crate) fn velocity(amplitude: f64) -> u8 {
    let v = (amplitude as f32 * 127.0f32).round_ties_even();
    // MIDI velocities are 7-bit; amplitudes from the network are within 0..1 anyway.
    v.clamp(0.0, 127.0) as u8
}

/// Python's handling of a slice bound `i` on a sequence of length `len`.
fn py_bound(i: i64, len: usize) -> usize {
    let len = len as i64;
    let j = if i < 0 { (i + len).max(0) } else { i.min(len) };
    j as usize
}

/// librosa's `hz_to_midi`.
fn hz_to_midi(hz: f64) -> f64 {
    12.0 * (hz.log2() - 440.0f64.log2()) + 69.0
}

/// Upstream's `constrain_frequency` (in place, with Python slice semantics for out-of-range bins).
fn constrain_frequency(
    onsets: &mut [f64],
    frames: &mut [f64],
    max_freq: Option<f64>,
    min_freq: Option<f64>,
) {
    let bin = |hz: f64| (hz_to_midi(hz) - MIDI_OFFSET as f64).round_ties_even() as i64;
    if let Some(hz) = max_freq {
        let from = py_bound(bin(hz), NB);
        for row in 0..frames.len() / NB {
            onsets[row * NB + from..(row + 1) * NB].fill(0.0);
            frames[row * NB + from..(row + 1) * NB].fill(0.0);
        }
    }
    if let Some(hz) = min_freq {
        let to = py_bound(bin(hz), NB);
        for row in 0..frames.len() / NB {
            onsets[row * NB..row * NB + to].fill(0.0);
            frames[row * NB..row * NB + to].fill(0.0);
        }
    }
}

/// numpy's `maximum`: NaN wins.
fn np_maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Upstream's `get_infered_onsets` with `n_diff = 2`.
///
/// When the frames never rise, upstream divides 0 by 0 and every onset becomes
/// NaN, which then matches no peak; the IEEE arithmetic here does the same.
fn inferred_onsets(onsets: &[f64], frames: &[f64], n_frames: usize) -> Vec<f64> {
    const N_DIFF: usize = 2;
    let mut frame_diff = vec![0.0f64; frames.len()];
    for t in 0..n_frames {
        for f in 0..NB {
            let cur = frames[t * NB + f];
            let mut min_diff = f64::INFINITY;
            for n in 1..=N_DIFF {
                let prev = if t >= n {
                    frames[(t - n) * NB + f]
                } else {
                    0.0
                };
                min_diff = min_diff.min(cur - prev);
            }
            frame_diff[t * NB + f] = if t < N_DIFF || min_diff < 0.0 {
                0.0
            } else {
                min_diff
            };
        }
    }
    let max_onset = onsets.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let max_diff = frame_diff.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    onsets
        .iter()
        .zip(&frame_diff)
        .map(|(&onset, &diff)| np_maximum(onset, max_onset * diff / max_diff))
        .collect()
}

/// A candidate seed for the melodia pass: the largest remaining energy, first in row-major order on ties.
#[derive(Debug, PartialEq)]
struct Seed {
    value: f64,
    index: usize,
}

impl Eq for Seed {}

impl Ord for Seed {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value
            .total_cmp(&other.value)
            .then(other.index.cmp(&self.index))
    }
}

impl PartialOrd for Seed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// Upstream's `output_to_notes_polyphonic`: onset-driven notes, then the melodia trick.
pub(crate) fn output_to_notes_polyphonic(
    frames32: &[f32],
    onsets32: &[f32],
    n_frames: usize,
    params: &TranscribeParams,
) -> Vec<FrameNote> {
    let frame_thresh = params.frame_threshold;
    let onset_thresh = params.onset_threshold;
    let min_note_len = params.min_note_frames();
    let energy_tol = params.energy_tolerance;

    let mut frames: Vec<f64> = frames32.iter().map(|&v| f64::from(v)).collect();
    let mut onsets: Vec<f64> = onsets32.iter().map(|&v| f64::from(v)).collect();
    constrain_frequency(
        &mut onsets,
        &mut frames,
        params.maximum_frequency,
        params.minimum_frequency,
    );
    if params.infer_onsets {
        onsets = inferred_onsets(&onsets, &frames, n_frames);
    }

    // scipy.signal.argrelmax(onsets, axis=0) with mode 'clip': the first and last
    // frames never count as peaks. Non-peaks are 0 in `peak_thresh_mat`, which
    // still passes a threshold <= 0, as upstream.
    let peak_value = |t: usize, f: usize| -> f64 {
        let v = onsets[t * NB + f];
        if t > 0 && t + 1 < n_frames && v > onsets[(t - 1) * NB + f] && v > onsets[(t + 1) * NB + f]
        {
            v
        } else {
            0.0
        }
    };

    let mut remaining = frames.clone();
    let mut notes = Vec::new();
    let n = n_frames;
    // np.where walks row-major; upstream then reverses to go backwards in time.
    for start in (0..n).rev() {
        for freq in (0..NB).rev() {
            if peak_value(start, freq) < onset_thresh {
                continue;
            }
            if start + 1 >= n {
                continue;
            }
            let mut i = start + 1;
            let mut k = 0;
            while i < n - 1 && k < energy_tol {
                if remaining[i * NB + freq] < frame_thresh {
                    k += 1;
                } else {
                    k = 0;
                }
                i += 1;
            }
            i -= k;
            if i - start <= min_note_len {
                continue;
            }
            for t in start..i {
                remaining[t * NB + freq] = 0.0;
                if freq < MAX_FREQ_IDX {
                    remaining[t * NB + freq + 1] = 0.0;
                }
                if freq > 0 {
                    remaining[t * NB + freq - 1] = 0.0;
                }
            }
            notes.push(FrameNote {
                start,
                end: i,
                pitch: (freq + MIDI_OFFSET) as u8,
                amplitude: mean((start..i).map(|t| frames[t * NB + freq])),
            });
        }
    }

    if params.melodia_trick {
        melodia(
            &frames,
            &mut remaining,
            n,
            frame_thresh,
            min_note_len,
            energy_tol,
            &mut notes,
        );
    }
    notes
}

/// The melodia pass: grow notes from the strongest remaining energy until none passes the threshold.
///
/// Upstream takes `argmax` over the whole matrix on every iteration; energy
/// only ever drops to zero, so a heap of the cells above the threshold (stale
/// entries skipped) picks the same cell each time, in far less time.
fn melodia(
    frames: &[f64],
    remaining: &mut [f64],
    n: usize,
    frame_thresh: f64,
    min_note_len: usize,
    energy_tol: usize,
    notes: &mut Vec<FrameNote>,
) {
    let mut heap: BinaryHeap<Seed> = remaining
        .iter()
        .enumerate()
        .filter(|(_, &v)| v > frame_thresh)
        .map(|(index, &value)| Seed { value, index })
        .collect();
    let zero_around = |remaining: &mut [f64], i: usize, freq: usize| {
        remaining[i * NB + freq] = 0.0;
        if freq < MAX_FREQ_IDX {
            remaining[i * NB + freq + 1] = 0.0;
        }
        if freq > 0 {
            remaining[i * NB + freq - 1] = 0.0;
        }
    };
    while let Some(seed) = heap.pop() {
        // Cells only ever change by being zeroed, and seeds are > threshold >= 0.
        if remaining[seed.index] != seed.value {
            continue;
        }
        let i_mid = seed.index / NB;
        let freq = seed.index % NB;
        remaining[seed.index] = 0.0;

        let mut i = i_mid + 1;
        let mut k = 0;
        while i + 1 < n && k < energy_tol {
            if remaining[i * NB + freq] < frame_thresh {
                k += 1;
            } else {
                k = 0;
            }
            zero_around(remaining, i, freq);
            i += 1;
        }
        let i_end = i as isize - 1 - k as isize;

        let mut i = i_mid as isize - 1;
        let mut k = 0;
        while i > 0 && k < energy_tol {
            let t = i as usize;
            if remaining[t * NB + freq] < frame_thresh {
                k += 1;
            } else {
                k = 0;
            }
            zero_around(remaining, t, freq);
            i -= 1;
        }
        let i_start = i + 1 + k as isize;

        if i_end - i_start <= min_note_len as isize {
            continue;
        }
        let (start, end) = (i_start as usize, i_end as usize);
        notes.push(FrameNote {
            start,
            end,
            pitch: (freq + MIDI_OFFSET) as u8,
            amplitude: mean((start..end).map(|t| frames[t * NB + freq])),
        });
    }
}

/// Upstream's `get_pitch_bends` for one note: the Gaussian-weighted contour peak
/// near the note's pitch, per frame, in contour bins relative to the pitch.
pub(crate) fn pitch_bends(contours: &[f32], note: &FrameNote, tolerance: usize) -> Vec<i32> {
    const NC: usize = N_FREQ_BINS_CONTOURS;
    let window_length = tolerance * 2 + 1;
    let sig2 = 2.0 * PITCH_BEND_STD * PITCH_BEND_STD;
    let gaussian: Vec<f64> = (0..window_length)
        .map(|i| {
            let x = i as f64 - (window_length as f64 - 1.0) / 2.0;
            (-(x * x) / sig2).exp()
        })
        .collect();
    // librosa.midi_to_hz then 36 * log2(hz / 27.5): exactly 3 * (pitch - 21) up to rounding.
    let hz = 440.0 * 2.0f64.powf((f64::from(note.pitch) - 69.0) / 12.0);
    let bin = 12.0 * CONTOURS_BINS_PER_SEMITONE * (hz / ANNOTATIONS_BASE_FREQUENCY).log2();
    let freq_idx = bin.round_ties_even().max(0.0) as usize;
    let tol = tolerance;
    let freq_start = freq_idx.saturating_sub(tol);
    let freq_end = NC.min(freq_idx + tol + 1);
    let gauss_start = tol.saturating_sub(freq_idx);
    let pb_shift = tol as i64 - gauss_start as i64;
    let width = freq_end.saturating_sub(freq_start);
    (note.start..note.end)
        .map(|t| {
            let row = &contours[t * NC + freq_start..t * NC + freq_start + width];
            let mut best = 0usize;
            let mut best_value = f64::NEG_INFINITY;
            for (j, &c) in row.iter().enumerate() {
                let v = f64::from(c) * gaussian[gauss_start + j];
                // np.argmax keeps the first of equal maxima.
                if v > best_value {
                    best_value = v;
                    best = j;
                }
            }
            (best as i64 - pb_shift) as i32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn params() -> TranscribeParams {
        TranscribeParams::default()
    }

    fn grams(n: usize) -> (Vec<f32>, Vec<f32>) {
        (vec![0.0; n * NB], vec![0.0; n * NB])
    }

    #[test]
    fn frame_times_match_upstream_values() {
        let t = model_frames_to_time(400);
        assert_eq!(t[0], 0.0);
        assert!((t[1] - 256.0 / 22050.0).abs() < 1e-15);
        // Frame 172 starts the second window: shifted back by the magic offset.
        let offset = (256.0 / 22050.0) * (172.0 - 43844.0 / 256.0) + 0.0018;
        assert!((t[172] - (172.0 * 256.0 / 22050.0 - offset)).abs() < 1e-15);
        assert!((t[344] - (344.0 * 256.0 / 22050.0 - 2.0 * offset)).abs() < 1e-15);
        // Upstream's fixture: the first vocadito note starts at frame 55, 0.638549 s.
        assert!((t[55] - 0.638549).abs() < 1e-6);
    }

    #[test]
    fn an_onset_peak_followed_by_frames_makes_one_note() {
        let n = 60;
        let (mut frames, mut onsets) = grams(n);
        let pitch_bin = 39; // C4 = 60
        for t in 10..40 {
            frames[t * NB + pitch_bin] = 0.8;
        }
        onsets[10 * NB + pitch_bin] = 0.9;
        let p = TranscribeParams {
            infer_onsets: false,
            melodia_trick: false,
            ..params()
        };
        let notes = output_to_notes_polyphonic(&frames, &onsets, n, &p);
        assert_eq!(notes.len(), 1);
        let note = notes[0];
        assert_eq!((note.start, note.end, note.pitch), (10, 40, 60));
        assert!((note.amplitude - f64::from(0.8f32)).abs() < 1e-12);
    }

    #[test]
    fn short_notes_are_dropped_and_the_gap_tolerance_is_eleven_frames() {
        let n = 80;
        let (mut frames, mut onsets) = grams(n);
        // 11 frames long: dropped (length must exceed min_note_len = 11).
        for t in 5..16 {
            frames[t * NB + 10] = 0.9;
        }
        onsets[5 * NB + 10] = 0.9;
        // A note with a 10-frame dip survives as one note.
        for t in (20..30).chain(40..50) {
            frames[t * NB + 50] = 0.9;
        }
        onsets[20 * NB + 50] = 0.9;
        let p = TranscribeParams {
            infer_onsets: false,
            melodia_trick: false,
            ..params()
        };
        let notes = output_to_notes_polyphonic(&frames, &onsets, n, &p);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!((notes[0].start, notes[0].end), (20, 50));
        assert_eq!(notes[0].pitch, 71);
    }

    #[test]
    fn melodia_finds_notes_without_onsets() {
        let n = 100;
        let (mut frames, onsets) = grams(n);
        for t in 30..60 {
            frames[t * NB + 20] = 0.6;
        }
        frames[45 * NB + 20] = 0.7;
        let p = TranscribeParams {
            infer_onsets: false,
            ..params()
        };
        let notes = output_to_notes_polyphonic(&frames, &onsets, n, &p);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!((notes[0].start, notes[0].end, notes[0].pitch), (30, 59, 41));
        let off = TranscribeParams {
            melodia_trick: false,
            ..p
        };
        assert!(output_to_notes_polyphonic(&frames, &onsets, n, &off).is_empty());
    }

    #[test]
    fn inferred_onsets_start_a_note_where_frames_jump() {
        let n = 60;
        let (mut frames, mut onsets) = grams(n);
        for t in 20..50 {
            frames[t * NB + 30] = 0.9;
        }
        // The network's own onset is weak, but sets the scale of the inferred ones.
        onsets[5 * NB + 60] = 0.6;
        let p = TranscribeParams {
            melodia_trick: false,
            ..params()
        };
        let notes = output_to_notes_polyphonic(&frames, &onsets, n, &p);
        assert!(
            notes.iter().any(|n| n.start == 20 && n.pitch == 51),
            "{notes:?}"
        );
        let without = TranscribeParams {
            infer_onsets: false,
            ..p
        };
        assert!(!output_to_notes_polyphonic(&frames, &onsets, n, &without)
            .iter()
            .any(|n| n.pitch == 51));
    }

    #[test]
    fn flat_frames_give_nan_onsets_and_no_peaks_as_upstream() {
        let n = 30;
        let (frames, mut onsets) = grams(n);
        onsets[10 * NB + 5] = 0.9;
        let inferred = inferred_onsets(
            &onsets.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            &frames.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            n,
        );
        assert!(inferred.iter().all(|v| v.is_nan()));
        assert!(output_to_notes_polyphonic(&frames, &onsets, n, &params()).is_empty());
    }

    #[test]
    fn frequency_limits_use_python_slice_bounds() {
        let mut onsets = vec![1.0; 2 * NB];
        let mut frames = vec![1.0; 2 * NB];
        // 440 Hz is MIDI 69, bin 48: keep bins below 48.
        constrain_frequency(&mut onsets, &mut frames, Some(440.0), None);
        assert_eq!(frames[47], 1.0);
        assert_eq!(frames[48], 0.0);
        assert_eq!(frames[NB + 87], 0.0);
        let mut frames = vec![1.0; NB];
        let mut onsets = vec![1.0; NB];
        constrain_frequency(&mut onsets, &mut frames, None, Some(440.0));
        assert_eq!(frames[47], 0.0);
        assert_eq!(frames[48], 1.0);
        // A maximum below A0 gives a negative bin (10 Hz is MIDI 3.49, bin -18):
        // Python then counts from the end and only the top 18 bins go.
        let mut frames = vec![1.0; NB];
        let mut onsets = vec![1.0; NB];
        constrain_frequency(&mut onsets, &mut frames, Some(10.0), None);
        let kept = frames.iter().filter(|&&v| v == 1.0).count();
        assert_eq!(kept, NB - 18);
    }

    #[test]
    fn pitch_bends_follow_the_contour_peak() {
        let n = 4;
        let mut contours = vec![0.0f32; n * N_FREQ_BINS_CONTOURS];
        let pitch = 60u8;
        let centre = 3 * (usize::from(pitch) - 21);
        contours[centre] = 1.0; // frame 0: on pitch
        contours[N_FREQ_BINS_CONTOURS + centre + 2] = 1.0; // frame 1: +2/3 semitone
        contours[2 * N_FREQ_BINS_CONTOURS + centre - 4] = 1.0; // frame 2: -4/3
        let note = FrameNote {
            start: 0,
            end: 3,
            pitch,
            amplitude: 0.5,
        };
        assert_eq!(pitch_bends(&contours, &note, 25), vec![0, 2, -4]);
        // Near the top edge the window is clipped and the shift stays relative to the pitch.
        let top = FrameNote { pitch: 108, ..note };
        let mut contours = vec![0.0f32; n * N_FREQ_BINS_CONTOURS];
        contours[N_FREQ_BINS_CONTOURS - 1] = 1.0;
        assert_eq!(pitch_bends(&contours, &top, 25)[0], 2);
        // And at the bottom edge.
        let bottom = FrameNote { pitch: 21, ..note };
        let mut contours = vec![0.0f32; n * N_FREQ_BINS_CONTOURS];
        contours[1] = 1.0;
        assert_eq!(pitch_bends(&contours, &bottom, 25)[0], 1);
    }

    #[test]
    fn non_finite_posteriorgrams_are_an_error_not_a_panic() {
        let n = 20;
        let mut note = Array2::<f32>::zeros((n, NB));
        note[[3, 4]] = f32::NAN;
        let pg = Posteriorgrams {
            note,
            onset: Array2::zeros((n, NB)),
            contour: Array2::zeros((n, N_FREQ_BINS_CONTOURS)),
        };
        assert!(matches!(
            posteriorgrams_to_notes(&pg, &params()),
            Err(ModelError::BadOutput(_))
        ));
        let wrong = Posteriorgrams {
            note: Array2::zeros((n, NB)),
            onset: Array2::zeros((n, NB)),
            contour: Array2::zeros((n, 10)),
        };
        assert!(matches!(
            posteriorgrams_to_notes(&wrong, &params()),
            Err(ModelError::BadOutput(_))
        ));
        let empty = Posteriorgrams {
            note: Array2::zeros((0, NB)),
            onset: Array2::zeros((0, NB)),
            contour: Array2::zeros((0, N_FREQ_BINS_CONTOURS)),
        };
        assert_eq!(posteriorgrams_to_notes(&empty, &params()).unwrap(), vec![]);
    }

    #[test]
    fn tiny_inputs_do_not_panic() {
        for n in 1..4 {
            let frames = vec![0.9f32; n * NB];
            let onsets = vec![0.9f32; n * NB];
            let p = TranscribeParams {
                minimum_note_length_ms: 0.0,
                ..params()
            };
            let notes = output_to_notes_polyphonic(&frames, &onsets, n, &p);
            assert!(notes.iter().all(|note| note.end <= n), "{notes:?}");
        }
    }

    /// Upstream's melodia loop verbatim: a full argmax on every iteration.
    fn naive_melodia(
        frames: &[f64],
        remaining: &mut [f64],
        n: usize,
        thresh: f64,
        min_len: usize,
        tol: usize,
    ) -> Vec<FrameNote> {
        let mut notes = Vec::new();
        loop {
            let (mut best, mut best_v) = (0, f64::NEG_INFINITY);
            for (i, &v) in remaining.iter().enumerate() {
                if v > best_v {
                    best_v = v;
                    best = i;
                }
            }
            if best_v <= thresh {
                break;
            }
            let (i_mid, f) = (best / NB, best % NB);
            remaining[best] = 0.0;
            let zero = |r: &mut [f64], i: usize| {
                r[i * NB + f] = 0.0;
                if f < MAX_FREQ_IDX {
                    r[i * NB + f + 1] = 0.0;
                }
                if f > 0 {
                    r[i * NB + f - 1] = 0.0;
                }
            };
            let (mut i, mut k) = (i_mid as isize + 1, 0usize);
            while i < n as isize - 1 && k < tol {
                k = if remaining[i as usize * NB + f] < thresh {
                    k + 1
                } else {
                    0
                };
                zero(remaining, i as usize);
                i += 1;
            }
            let i_end = i - 1 - k as isize;
            let (mut i, mut k) = (i_mid as isize - 1, 0usize);
            while i > 0 && k < tol {
                k = if remaining[i as usize * NB + f] < thresh {
                    k + 1
                } else {
                    0
                };
                zero(remaining, i as usize);
                i -= 1;
            }
            let i_start = i + 1 + k as isize;
            if i_end - i_start <= min_len as isize {
                continue;
            }
            let (s, e) = (i_start as usize, i_end as usize);
            notes.push(FrameNote {
                start: s,
                end: e,
                pitch: (f + MIDI_OFFSET) as u8,
                amplitude: mean((s..e).map(|t| frames[t * NB + f])),
            });
        }
        notes
    }

    #[test]
    fn heap_melodia_picks_the_same_seeds_as_upstreams_argmax() {
        // Coarse random values make many exact ties, which argmax breaks by position.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 20) as f64 / 20.0
        };
        let mut found = 0;
        for n in [1, 2, 15, 40, 120] {
            let frames: Vec<f64> = (0..n * NB).map(|_| next()).collect();
            for (thresh, min_len, tol) in [(0.3, 11, 11), (0.5, 2, 3), (0.0, 0, 1)] {
                let mut fast_rem = frames.clone();
                let mut fast = Vec::new();
                melodia(&frames, &mut fast_rem, n, thresh, min_len, tol, &mut fast);
                let mut slow_rem = frames.clone();
                let slow = naive_melodia(&frames, &mut slow_rem, n, thresh, min_len, tol);
                assert_eq!(fast, slow, "n {n}, thresh {thresh}");
                assert_eq!(fast_rem, slow_rem);
                found += fast.len();
            }
        }
        assert!(
            found > 50,
            "the comparison should cover many notes, got {found}"
        );
    }

    #[test]
    fn velocity_rounds_half_to_even_like_numpy() {
        assert_eq!(velocity(0.0), 0);
        assert_eq!(velocity(1.0), 127);
        assert_eq!(velocity(0.5), 64); // 63.5 -> 64 (even)
        assert_eq!(velocity(2.0), 127);
    }
}
