//! HT-Demucs exported to ONNX in demucs-onnx's layout, run chunk by chunk with
//! demucs's overlap-add (`demucs/apply.py`, `apply_model` with `split=True`).
//!
//! The network sees fixed 7.8 s stereo windows at 44.1 kHz; everything else
//! (other rates, mono, more channels, long files) is adapted around it here.

use std::path::Path;
use std::sync::Mutex;

use coda_dsp::{threads, AudioBuffer, Input, Resampler};
use coda_model_runtime::{open_session, Device, ModelError, ModelSource, RuntimeOptions};
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::{check_input, Stem, Stems};

/// Samples per channel of one model call: HT-Demucs's training segment, `int(7.8 * 44100)`.
pub const CHUNK: usize = 343_980;
/// The rate HT-Demucs works at.
pub const SAMPLE_RATE: u32 = 44_100;
/// Fraction of each chunk shared with the next one, demucs's default.
pub const OVERLAP: f32 = 0.25;

/// The stems in the order the model outputs them (demucs's `sources`).
const MODEL_ORDER: [Stem; 4] = [Stem::Drums, Stem::Bass, Stem::Other, Stem::Vocals];

const INPUT_NAME: &str = "mix";
const OUTPUT_NAME: &str = "stems";

/// HT-Demucs in demucs-onnx's layout: input `mix` `[1,2,343980]` f32, output `stems` `[1,4,2,343980]` in the order drums, bass, other, vocals.
///
/// `Session::run` needs `&mut`, so calls are serialised by a mutex.
#[derive(Debug)]
pub struct HtDemucsModel {
    session: Mutex<Session>,
    device: Device,
}

impl HtDemucsModel {
    /// Loads `model` with ONNX Runtime from `runtime_library`, on CUDA when asked for and usable, else on the CPU.
    pub fn load(
        runtime_library: &Path,
        model: &Path,
        options: &RuntimeOptions,
    ) -> Result<Self, ModelError> {
        // ONNX Runtime's own message for a missing file does not say which file.
        let meta = std::fs::metadata(model).map_err(|e| ModelError::io(model, e))?;
        if !meta.is_file() {
            return Err(ModelError::io(
                model,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file"),
            ));
        }
        let (session, device) = open_session(runtime_library, ModelSource::File(model), options)?;
        check_signature(&session, model)?;
        Ok(HtDemucsModel {
            session: Mutex::new(session),
            device,
        })
    }

    /// The execution provider in use.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Runs one window: `stereo_planar` is `2 * CHUNK` samples (left, then right); the result is `4 * 2 * CHUNK` samples in model order.
    pub fn run_chunk(&self, stereo_planar: &[f32]) -> Result<Vec<f32>, ModelError> {
        if stereo_planar.len() != 2 * CHUNK {
            return Err(ModelError::InvalidAudio(format!(
                "one HT-Demucs chunk is {} samples (2 x {CHUNK}), got {}",
                2 * CHUNK,
                stereo_planar.len()
            )));
        }
        let tensor = TensorRef::from_array_view(([1usize, 2, CHUNK], stereo_planar))
            .map_err(|e| ModelError::Runtime(format!("input tensor: {e}")))?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(ort::inputs![INPUT_NAME => tensor])
            .map_err(|e| ModelError::Runtime(format!("run: {e}")))?;
        let value = outputs
            .get(OUTPUT_NAME)
            .ok_or_else(|| ModelError::BadOutput(format!("no output named {OUTPUT_NAME}")))?;
        let (shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| ModelError::BadOutput(format!("{OUTPUT_NAME}: {e}")))?;
        let want = [1i64, 4, 2, CHUNK as i64];
        if **shape != want || data.len() != 4 * 2 * CHUNK {
            return Err(ModelError::BadOutput(format!(
                "{OUTPUT_NAME} has shape {:?}, expected {want:?}",
                &**shape
            )));
        }
        Ok(data.to_vec())
    }
}

/// A file with another signature would only fail at the first chunk, minutes
/// into a job; say so at load time instead.
fn check_signature(session: &Session, model: &Path) -> Result<(), ModelError> {
    let not_htdemucs = |why: String| {
        ModelError::BadOutput(format!(
            "{} is not an HT-Demucs export in the demucs-onnx layout: {why}",
            model.display()
        ))
    };
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == INPUT_NAME)
        .ok_or_else(|| not_htdemucs(format!("no input named {INPUT_NAME} (inputs: {inputs:?})")))?;
    if inputs.len() != 1 {
        return Err(not_htdemucs(format!(
            "it needs inputs {inputs:?}, only {INPUT_NAME} is fed"
        )));
    }
    check_tensor(input.dtype(), &[1, 2, CHUNK as i64])
        .map_err(|why| not_htdemucs(format!("input {INPUT_NAME}: {why}")))?;
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let output = session
        .outputs()
        .iter()
        .find(|o| o.name() == OUTPUT_NAME)
        .ok_or_else(|| {
            not_htdemucs(format!(
                "no output named {OUTPUT_NAME} (outputs: {outputs:?})"
            ))
        })?;
    check_tensor(output.dtype(), &[1, 4, 2, CHUNK as i64])
        .map_err(|why| not_htdemucs(format!("output {OUTPUT_NAME}: {why}")))
}

/// Symbolic dimensions (reported as -1) are accepted; fixed ones must match.
fn check_tensor(dtype: &ValueType, want: &[i64]) -> Result<(), String> {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => {
            if *ty != TensorElementType::Float32 {
                return Err(format!("element type {ty:?}, expected f32"));
            }
            let fits = shape.len() == want.len()
                && shape.iter().zip(want).all(|(&got, &w)| got < 0 || got == w);
            if fits {
                Ok(())
            } else {
                Err(format!("shape {:?}, expected {want:?}", &**shape))
            }
        }
        other => Err(format!("{other:?} instead of a tensor")),
    }
}

/// Separates interleaved audio at any rate and channel count with HT-Demucs; progress is (chunks done, chunks total), (0, total) first; `cancel` is checked between chunks.
///
/// Mono is duplicated to stereo for the model and the stems averaged back;
/// more than two channels are processed in pairs (0,1), (2,3), ... with a lone
/// last channel as mono. Other rates are resampled to 44.1 kHz and the stems
/// back to the source rate and length. Empty input reports (0, 0) and calls no model.
pub fn separate_htdemucs(
    model: &HtDemucsModel,
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    on_progress: &mut dyn FnMut(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<Stems, ModelError> {
    separate_with(
        samples,
        sample_rate,
        channels,
        CHUNK,
        &mut |window| model.run_chunk(window),
        on_progress,
        cancel,
    )
}

/// [`separate_htdemucs`] over any chunk runner, so the channel, rate and stem
/// handling is testable without ONNX.
#[allow(clippy::type_complexity)] // the runner is spelled out as in `overlap_add`'s agreed signature
fn separate_with(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    chunk: usize,
    run: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>, ModelError>,
    on_progress: &mut dyn FnMut(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<Stems, ModelError> {
    check_input(samples, sample_rate, channels)?;
    let n_channels = usize::from(channels);
    let frames = samples.len() / n_channels;
    let mut out: [Vec<f32>; 4] = std::array::from_fn(|_| vec![0.0f32; samples.len()]);
    if frames == 0 {
        on_progress(0, 0);
        return Ok(Stems {
            sample_rate,
            channels,
            samples: out,
        });
    }
    let model_frames = resampled_len(frames, sample_rate, SAMPLE_RATE);
    let per_group = chunk_count(model_frames, stride_of(chunk, OVERLAP)?);
    let groups: Vec<Vec<usize>> = (0..n_channels)
        .step_by(2)
        .map(|first| (first..(first + 2).min(n_channels)).collect())
        .collect();
    let total = per_group * groups.len();
    let audio = AudioBuffer::new(samples, sample_rate, channels)?;
    let to_model = Resampler::new(sample_rate, SAMPLE_RATE)?;
    let from_model = Resampler::new(SAMPLE_RATE, sample_rate)?;
    for (g, group) in groups.iter().enumerate() {
        // Each channel is read straight from the interleaved input: no planar copy.
        let mut at_model_rate = Vec::with_capacity(group.len());
        for &c in group {
            let mut channel = to_model.process(&audio, Input::Channel(c), threads())?;
            channel.resize(model_frames, 0.0);
            at_model_rate.push(channel);
        }
        let Some(left) = at_model_rate.first() else {
            return Err(ModelError::InvalidAudio("an empty channel group".into()));
        };
        // A lone channel is duplicated to stereo.
        let right = at_model_rate.get(1).unwrap_or(left);
        let done_before = g * per_group;
        let separated = overlap_add(
            left,
            right,
            chunk,
            OVERLAP,
            run,
            &mut |done, _| {
                // (0, total) is reported once, by the first group.
                if done > 0 || g == 0 {
                    on_progress(done_before + done, total);
                }
            },
            cancel,
        )?;
        drop(at_model_rate);
        for (model_index, stereo) in separated.into_iter().enumerate() {
            let stem = MODEL_ORDER[model_index];
            let [left, right] = stereo;
            let left = fit(&from_model, &left, frames)?;
            let right = fit(&from_model, &right, frames)?;
            let dest = &mut out[stem.index()];
            if let [c] = group.as_slice() {
                for (f, (l, r)) in left.iter().zip(&right).enumerate() {
                    dest[f * n_channels + c] = 0.5 * (l + r);
                }
            } else {
                for (k, channel) in [left, right].iter().enumerate() {
                    let c = group[k];
                    for (f, s) in channel.iter().enumerate() {
                        dest[f * n_channels + c] = *s;
                    }
                }
            }
        }
    }
    Ok(Stems {
        sample_rate,
        channels,
        samples: out,
    })
}

fn stride_of(chunk: usize, overlap: f32) -> Result<usize, ModelError> {
    if chunk == 0 {
        return Err(ModelError::InvalidParams("chunk must not be 0".into()));
    }
    if !(0.0..1.0).contains(&overlap) {
        return Err(ModelError::InvalidParams(format!(
            "overlap {overlap} is outside 0..1"
        )));
    }
    // demucs: int((1 - overlap) * segment).
    let stride = (f64::from(1.0 - overlap) * chunk as f64) as usize;
    if stride == 0 {
        return Err(ModelError::InvalidParams(format!(
            "overlap {overlap} leaves no stride for a chunk of {chunk}"
        )));
    }
    Ok(stride)
}

/// `len(range(0, length, stride))`.
fn chunk_count(length: usize, stride: usize) -> usize {
    length.div_ceil(stride)
}

/// demucs's transition weight: a triangle peaking mid-chunk, normalised by its maximum (transition_power 1).
fn chunk_weight(chunk: usize) -> Vec<f32> {
    let half = chunk / 2;
    let max = (chunk - half) as f32;
    (1..=half)
        .chain((1..=chunk - half).rev())
        .map(|v| v as f32 / max)
        .collect()
}

/// The chunking core, generic over the model so it is unit-testable without ONNX; returns stems in model order (drums, bass, other, vocals), each channel as long as the input.
///
/// As demucs: chunks start every `(1 - overlap) * chunk` samples while inside
/// the input; a chunk shorter than `chunk` (near the end) is fed centred in a
/// full window taken from the mix (`TensorChunk.padded`: real samples before
/// it, zeros past the end of the input) and its output is centre-trimmed back;
/// outputs are blended with the triangular weight and divided by the summed
/// weight. `run` gets `2 * chunk` planar samples and must return `4 * 2 * chunk`.
/// Progress is (0, n), then (k, n) after each chunk; `cancel` is checked before each chunk.
#[allow(clippy::type_complexity)] // the signature other code is written against
pub fn overlap_add(
    left: &[f32],
    right: &[f32],
    chunk: usize,
    overlap: f32,
    run: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>, ModelError>,
    on_progress: &mut dyn FnMut(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<[[Vec<f32>; 2]; 4], ModelError> {
    if left.len() != right.len() {
        return Err(ModelError::InvalidAudio(format!(
            "left has {} samples, right {}",
            left.len(),
            right.len()
        )));
    }
    let stride = stride_of(chunk, overlap)?;
    let length = left.len();
    let mut out: [[Vec<f32>; 2]; 4] =
        std::array::from_fn(|_| std::array::from_fn(|_| vec![0.0f32; length]));
    let total = chunk_count(length, stride);
    on_progress(0, total);
    if length == 0 {
        return Ok(out);
    }
    let weight = chunk_weight(chunk);
    let mut sum_weight = vec![0.0f32; length];
    let mut window = vec![0.0f32; 2 * chunk];
    for (done, offset) in (0..length).step_by(stride).enumerate() {
        if cancel() {
            return Err(ModelError::Canceled);
        }
        let len = chunk.min(length - offset);
        // TensorChunk.padded: centre the chunk, filling around it from the mix.
        let lead = (chunk - len) / 2;
        let start = offset as isize - lead as isize;
        for (c, channel) in [left, right].into_iter().enumerate() {
            let dest = &mut window[c * chunk..(c + 1) * chunk];
            for (j, d) in dest.iter_mut().enumerate() {
                let pos = start + j as isize;
                *d = if pos >= 0 {
                    channel.get(pos as usize).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
            }
        }
        let result = run(&window)?;
        if result.len() != 4 * 2 * chunk {
            return Err(ModelError::BadOutput(format!(
                "a chunk gave {} samples, expected {} (4 stems x 2 channels x {chunk})",
                result.len(),
                4 * 2 * chunk
            )));
        }
        let w = &weight[..len];
        for (s, stem) in out.iter_mut().enumerate() {
            for (c, channel) in stem.iter_mut().enumerate() {
                let base = (s * 2 + c) * chunk + lead;
                let source = &result[base..base + len];
                for ((o, &y), &wi) in channel[offset..offset + len].iter_mut().zip(source).zip(w) {
                    *o += wi * y;
                }
            }
        }
        for (acc, &wi) in sum_weight[offset..offset + len].iter_mut().zip(w) {
            *acc += wi;
        }
        on_progress(done + 1, total);
    }
    for stem in out.iter_mut() {
        for channel in stem.iter_mut() {
            for (o, &sw) in channel.iter_mut().zip(&sum_weight) {
                *o /= sw;
            }
        }
    }
    Ok(out)
}

/// `ceil(frames * to / from)`, the length rubato's `process_all` produces.
fn resampled_len(frames: usize, from: u32, to: u32) -> usize {
    if from == to {
        return frames;
    }
    (frames as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize
}

/// Resamples one model-rate channel with `resampler` and cuts or zero-pads it to `len`.
fn fit(resampler: &Resampler, signal: &[f32], len: usize) -> Result<Vec<f32>, ModelError> {
    let audio = AudioBuffer::new(signal, resampler.from_rate(), 1)?;
    let mut out = resampler.process(&audio, Input::Channel(0), threads())?;
    out.resize(len, 0.0);
    Ok(out)
}

/// Resamples one channel (delay trimmed, `coda-dsp`'s resampler) and cuts or zero-pads it to `len`.
#[cfg(test)]
fn resample_fit(signal: &[f32], from: u32, to: u32, len: usize) -> Result<Vec<f32>, ModelError> {
    fit(&Resampler::new(from, to)?, signal, len)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const SMALL: usize = 1000;
    const GAINS: [[f32; 2]; 4] = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]];

    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// A stand-in model: stem s, channel c is `GAINS[s][c]` times the window.
    fn gain_run(chunk: usize) -> impl FnMut(&[f32]) -> Result<Vec<f32>, ModelError> {
        move |window: &[f32]| {
            assert_eq!(window.len(), 2 * chunk);
            let mut out = Vec::with_capacity(8 * chunk);
            for stem in GAINS {
                for (c, g) in stem.into_iter().enumerate() {
                    out.extend(window[c * chunk..(c + 1) * chunk].iter().map(|x| g * x));
                }
            }
            Ok(out)
        }
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn a_gain_model_is_reproduced_at_every_length_and_progress_counts_chunks() {
        let stride = 750;
        for len in [0, 1, SMALL - 1, SMALL, SMALL + 1, 3300] {
            let left = noise(len, 1);
            let right = noise(len, 2);
            let mut progress = Vec::new();
            let calls = Cell::new(0);
            let mut run = gain_run(SMALL);
            let out = overlap_add(
                &left,
                &right,
                SMALL,
                OVERLAP,
                &mut |w| {
                    calls.set(calls.get() + 1);
                    run(w)
                },
                &mut |d, n| progress.push((d, n)),
                &never,
            )
            .unwrap();
            let n = len.div_ceil(stride);
            assert_eq!(calls.get(), n, "len {len}");
            let want: Vec<(usize, usize)> = (0..=n).map(|d| (d, n)).collect();
            assert_eq!(progress, want, "len {len}");
            for (s, stem) in out.iter().enumerate() {
                for (c, input) in [&left, &right].into_iter().enumerate() {
                    assert_eq!(stem[c].len(), len);
                    let max_err = stem[c]
                        .iter()
                        .zip(input.iter())
                        .map(|(y, x)| (y - GAINS[s][c] * x).abs())
                        .fold(0.0f32, f32::max);
                    assert!(max_err < 1e-6, "len {len} stem {s} ch {c}: {max_err}");
                }
            }
        }
    }

    /// Expected output when the model answers each window with the position
    /// inside it (plus a per-stem/channel offset), from demucs's formula
    /// written independently: weight min(i+1, chunk-i) / ceil(chunk/2).
    fn expected_ramp(length: usize, chunk: usize, stride: usize, tag: f64) -> Vec<f64> {
        let max = chunk.div_ceil(2) as f64;
        let mut num = vec![0.0f64; length];
        let mut den = vec![0.0f64; length];
        let mut offset = 0;
        while offset < length {
            let len = chunk.min(length - offset);
            let lead = (chunk - len) / 2;
            for i in 0..len {
                let w = ((i + 1).min(chunk - i)) as f64 / max;
                num[offset + i] += w * ((lead + i) as f64 + tag);
                den[offset + i] += w;
            }
            offset += stride;
        }
        num.iter().zip(&den).map(|(n, d)| n / d).collect()
    }

    #[test]
    fn position_dependent_outputs_follow_demucs_weights_offsets_and_padding() {
        for length in [400, 2600, 3300] {
            let zeros = vec![0.0f32; length];
            let mut run = |_: &[f32]| -> Result<Vec<f32>, ModelError> {
                let mut out = Vec::with_capacity(8 * SMALL);
                for k in 0..8 {
                    out.extend((0..SMALL).map(|j| j as f32 + 10_000.0 * k as f32));
                }
                Ok(out)
            };
            let out = overlap_add(
                &zeros,
                &zeros,
                SMALL,
                OVERLAP,
                &mut run,
                &mut |_, _| {},
                &never,
            )
            .unwrap();
            for (s, stem) in out.iter().enumerate() {
                for (c, got) in stem.iter().enumerate() {
                    let tag = 10_000.0 * (s * 2 + c) as f64;
                    let want = expected_ramp(length, SMALL, 750, tag);
                    for (t, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            // f32 rounding only; a one-sample shift is off by about 1.
                            (f64::from(*g) - w).abs() < 1e-3 + 4e-6 * w.abs(),
                            "length {length} stem {s} ch {c} t {t}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_short_last_chunk_sees_the_mix_before_it_and_zeros_after_the_end() {
        let left: Vec<f32> = (0..1200).map(|i| i as f32 + 1.0).collect();
        let right: Vec<f32> = left.iter().map(|x| -x).collect();
        let mut windows = Vec::new();
        let mut run = |w: &[f32]| {
            windows.push(w.to_vec());
            Ok(vec![0.0; 8 * SMALL])
        };
        overlap_add(
            &left,
            &right,
            SMALL,
            OVERLAP,
            &mut run,
            &mut |_, _| {},
            &never,
        )
        .unwrap();
        assert_eq!(windows.len(), 2);
        // The second chunk holds samples 750..1200 (450), centred: it starts 275 before 750.
        let second = &windows[1];
        assert_eq!(second[0], 476.0);
        assert_eq!(second[724], 1200.0);
        assert!(second[725..SMALL].iter().all(|&x| x == 0.0));
        assert_eq!(second[SMALL], -476.0);
        assert!(second[SMALL + 725..].iter().all(|&x| x == 0.0));
        // The first chunk is full: samples 0..1000 as they are.
        assert_eq!(windows[0][..SMALL], left[..SMALL]);
    }

    #[test]
    fn cancel_stops_between_chunks() {
        let input = noise(5000, 3);
        let calls = Cell::new(0);
        let mut run = gain_run(SMALL);
        let err = overlap_add(
            &input,
            &input,
            SMALL,
            OVERLAP,
            &mut |w| {
                calls.set(calls.get() + 1);
                run(w)
            },
            &mut |_, _| {},
            &|| calls.get() >= 2,
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::Canceled), "{err:?}");
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn bad_runner_output_and_bad_parameters_are_errors() {
        let input = noise(1500, 4);
        let err = overlap_add(
            &input,
            &input,
            SMALL,
            OVERLAP,
            &mut |_| Ok(vec![0.0; 8 * SMALL - 1]),
            &mut |_, _| {},
            &never,
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::BadOutput(_)), "{err:?}");
        let mut run = gain_run(SMALL);
        assert!(matches!(
            overlap_add(
                &input,
                &input[1..],
                SMALL,
                OVERLAP,
                &mut run,
                &mut |_, _| {},
                &never
            ),
            Err(ModelError::InvalidAudio(_))
        ));
        assert!(matches!(
            overlap_add(&input, &input, 0, OVERLAP, &mut run, &mut |_, _| {}, &never),
            Err(ModelError::InvalidParams(_))
        ));
        assert!(matches!(
            overlap_add(&input, &input, SMALL, 1.0, &mut run, &mut |_, _| {}, &never),
            Err(ModelError::InvalidParams(_))
        ));
    }

    #[test]
    fn the_weight_is_demucs_triangle() {
        assert_eq!(
            chunk_weight(5),
            [1.0 / 3.0, 2.0 / 3.0, 1.0, 2.0 / 3.0, 1.0 / 3.0]
        );
        assert_eq!(chunk_weight(4), [0.5, 1.0, 1.0, 0.5]);
        assert_eq!(stride_of(CHUNK, OVERLAP).unwrap(), 257_985);
    }

    #[test]
    fn stems_come_out_in_stem_order_with_channels_kept() {
        // Stem order is vocals, drums, bass, other; the model's is drums, bass, other, vocals.
        let want_gain = |stem: Stem| GAINS[MODEL_ORDER.iter().position(|&s| s == stem).unwrap()];
        assert_eq!(want_gain(Stem::Vocals), [0.7, 0.8]);
        assert_eq!(want_gain(Stem::Drums), [0.1, 0.2]);
        let frames = 2345;
        for channels in [1u16, 2, 3] {
            let n = usize::from(channels);
            let input = noise(frames * n, 5);
            let mut progress = Vec::new();
            let mut run = gain_run(SMALL);
            let stems = separate_with(
                &input,
                SAMPLE_RATE,
                channels,
                SMALL,
                &mut run,
                &mut |d, t| progress.push((d, t)),
                &never,
            )
            .unwrap();
            assert_eq!((stems.sample_rate, stems.channels), (SAMPLE_RATE, channels));
            let groups = n.div_ceil(2);
            let per = frames.div_ceil(750);
            let want: Vec<_> = (0..=groups * per).map(|d| (d, groups * per)).collect();
            assert_eq!(progress, want);
            for stem in Stem::ALL {
                let g = want_gain(stem);
                let got = stems.get(stem);
                assert_eq!(got.len(), input.len());
                for (i, (y, x)) in got.iter().zip(&input).enumerate() {
                    let c = i % n;
                    // A lone channel goes through both model channels and is averaged.
                    let gain = if c == n - 1 && n % 2 == 1 {
                        0.5 * (g[0] + g[1])
                    } else {
                        g[c % 2]
                    };
                    assert!(
                        (y - gain * x).abs() < 1e-6,
                        "{stem:?} ch {c} at {i}: {y} vs {}",
                        gain * x
                    );
                }
            }
        }
    }

    #[test]
    fn empty_and_invalid_input() {
        let mut calls = 0;
        let mut progress = Vec::new();
        let stems = separate_with(
            &[],
            48_000,
            2,
            SMALL,
            &mut |_| {
                calls += 1;
                Ok(vec![])
            },
            &mut |d, t| progress.push((d, t)),
            &never,
        )
        .unwrap();
        assert_eq!(calls, 0);
        assert_eq!(progress, [(0, 0)]);
        assert!(stems.samples.iter().all(Vec::is_empty));
        let mut run = gain_run(SMALL);
        for (samples, rate, channels) in [
            (vec![0.0; 4], 44_100, 0u16),
            (vec![0.0; 3], 44_100, 2),
            (vec![0.0, f32::NAN], 44_100, 1),
            (vec![0.0; 4], 10, 1),
        ] {
            assert!(matches!(
                separate_with(
                    &samples,
                    rate,
                    channels,
                    SMALL,
                    &mut run,
                    &mut |_, _| {},
                    &never
                ),
                Err(ModelError::InvalidAudio(_))
            ));
        }
    }

    #[test]
    fn resampled_length_matches_rubato() {
        let signal = noise(4410, 6);
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (22_050, 44_100),
            (8_000, 44_100),
        ] {
            let want = resampled_len(signal.len(), from, to);
            // rubato's own resampler with the shared sizing rule.
            let got = coda_dsp::testing::rubato_resample(&signal, from, to);
            assert_eq!(got.len(), want, "{from} -> {to}");
            let ours = Resampler::new(from, to).unwrap().output_len(signal.len());
            assert_eq!(ours, want, "{from} -> {to}");
        }
    }

    #[test]
    fn resampling_keeps_sines_aligned_between_44k_and_other_rates() {
        let sine = |freq: f64, rate: u32, len: usize| -> Vec<f32> {
            (0..len)
                .map(|i| {
                    (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32
                })
                .collect()
        };
        for rate in [48_000, 22_050, 96_000, 8_000, 44_101] {
            let frames = 2 * rate as usize;
            let input = sine(1000.0, rate, frames);
            let len = resampled_len(frames, rate, SAMPLE_RATE);
            let up = resample_fit(&input, rate, SAMPLE_RATE, len).unwrap();
            let ideal = sine(1000.0, SAMPLE_RATE, len);
            // Half a sample of lag would be an error of about 0.07 here.
            let err = (len / 4..3 * len / 4)
                .map(|i| (up[i] - ideal[i]).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-4, "{rate} Hz -> 44.1 kHz: max error {err}");
            let back = resample_fit(&up, SAMPLE_RATE, rate, frames).unwrap();
            let err = (frames / 4..3 * frames / 4)
                .map(|i| (back[i] - input[i]).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-4, "44.1 kHz -> {rate} Hz: max error {err}");
        }
    }
}
