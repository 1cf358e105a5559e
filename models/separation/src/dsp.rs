//! The built-in separator: soft masks on an STFT, no weights.
//!
//! - **drums**: harmonic/percussive separation by median filtering (Fitzgerald 2010):
//!   a median across time keeps sustained partials, a median across frequency keeps
//!   broadband onsets; the percussive share is a Wiener-style soft mask.
//! - **bass**: the low band of the harmonic part.
//! - **vocals**: of the harmonic part above the bass band, what sits in the centre of a stereo image
//!   (same level and phase in both channels, Avendano & Jot 2002), or, for mono
//!   input, what does not repeat (REPET-SIM, Rafii & Pardo 2012); both gated above
//!   the lowest voice range.
//! - **other**: the mixture minus the three, so the four stems add up to the input.
//!
//! One mask set is computed from the channels together and applied to every
//! channel, so the stereo image of each stem follows the mixture's.

use std::f32::consts::PI;

use coda_dsp::parallel::{fill_rows, map, map_chunks, run_tasks};
use coda_dsp::{DspError, Spectrogram, Stft};
use coda_model_runtime::ModelError;
use realfft::num_complex::Complex32;

use crate::{check_input, Stem, Stems};

/// How the vocal mask is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VocalMethod {
    /// Centre extraction for stereo input with a real stereo image, REPET-SIM otherwise.
    #[default]
    Auto,
    /// Stereo centre extraction (mono input falls back to REPET-SIM).
    Centre,
    /// REPET-SIM on the channel mean: the non-repeating part of the harmonic layer.
    Repet,
}

/// Settings of the built-in separator; the defaults are what the tests measure.
#[derive(Clone, Debug, PartialEq)]
pub struct DspOptions {
    /// How vocals are found.
    pub vocal_method: VocalMethod,
    /// Harmonic content below this goes to bass entirely (Hz).
    pub bass_full_below_hz: f32,
    /// Harmonic content above this never goes to bass (Hz); between the two a raised-cosine crossover.
    pub bass_none_above_hz: f32,
    /// Worker threads for the median filters and the resynthesis.
    pub threads: usize,
}

impl Default for DspOptions {
    fn default() -> Self {
        DspOptions {
            vocal_method: VocalMethod::Auto,
            bass_full_below_hz: 150.0,
            bass_none_above_hz: 300.0,
            threads: coda_dsp::threads(),
        }
    }
}

/// Length of the harmonic median, in seconds of frames.
const HARMONIC_KERNEL_S: f32 = 0.36;
/// Width of the percussive median, in Hz.
const PERCUSSIVE_KERNEL_HZ: f32 = 370.0;
/// Vocal content is assumed absent below the first and present above the second frequency (Hz).
const VOICE_LOW_HZ: (f32, f32) = (90.0, 180.0);
/// Half-width of the pan window counted as centre, as |L| / (|L| + |R|) − 0.5.
const CENTRE_WIDTH: f32 = 0.08;
/// Mean inter-channel coherence above which a stereo file is treated as mono.
const NEARLY_MONO: f32 = 0.995;

/// Separates interleaved audio into four stems that sum to it.
///
/// Progress is reported as `(steps done, steps in all)`, starting at `(0, n)`;
/// `cancel` is checked between steps.
pub fn separate_dsp(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    options: &DspOptions,
    on_progress: &mut dyn FnMut(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<Stems, ModelError> {
    check_input(samples, sample_rate, channels)?;
    let n_ch = usize::from(channels);
    let len = samples.len() / n_ch;
    // Steps: analysis, median filters, vocal mask, then one per (stem, channel) resynthesis.
    let total = 3 + 3 * n_ch;
    on_progress(0, total);
    if len == 0 {
        on_progress(total, total);
        return Ok(Stems {
            sample_rate,
            channels,
            samples: Default::default(),
        });
    }
    let threads = options.threads.max(1);
    let stft = stft_for_rate(sample_rate);
    let check = || {
        if cancel() {
            Err(ModelError::Canceled)
        } else {
            Ok(())
        }
    };

    let planar: Vec<Vec<f32>> = (0..n_ch)
        .map(|c| samples.iter().skip(c).step_by(n_ch).copied().collect())
        .collect();
    let mut specs: Vec<Spectrogram> = map("stft", &planar, threads, |x| stft.forward(x))?;
    drop(planar);
    let frames = specs[0].frames;
    let bins = specs[0].bins;
    let magnitude = mean_magnitude(&specs, threads)?;
    on_progress(1, total);
    check()?;

    let bin_hz = sample_rate as f32 / stft.n_fft() as f32;
    let frame_s = stft.hop() as f32 / sample_rate as f32;
    let kt = odd((HARMONIC_KERNEL_S / frame_s).round() as usize);
    let kf = odd((PERCUSSIVE_KERNEL_HZ / bin_hz).round() as usize);
    let harmonic = harmonic_median(&magnitude, frames, bins, kt, threads)?;
    let mut drums = percussive_median(&magnitude, frames, bins, kf, threads)?;
    // Soft mask, Wiener-style with power 2: the percussive share of each bin.
    par_fill(&mut drums, threads, |offset, chunk| {
        for (p, h) in chunk.iter_mut().zip(&harmonic[offset..]) {
            let (p2, h2) = (*p * *p, *h * *h);
            *p = if p2 + h2 > 0.0 { p2 / (p2 + h2) } else { 0.0 };
        }
    })?;
    drop(harmonic);
    on_progress(2, total);
    check()?;

    let use_centre = match options.vocal_method {
        VocalMethod::Repet => false,
        VocalMethod::Centre => n_ch >= 2,
        VocalMethod::Auto => n_ch >= 2 && coherence(&specs[0], &specs[1]) < NEARLY_MONO,
    };
    let mut vocals = if use_centre {
        centre_mask(&specs[0], &specs[1], threads)?
    } else {
        let harmonic_part: Vec<f32> = magnitude
            .iter()
            .zip(&drums)
            .map(|(m, d)| m * (1.0 - d))
            .collect();
        repet_sim_vocal_mask(&harmonic_part, frames, bins, frame_s, threads)?
    };
    drop(magnitude);
    let voice_gate: Vec<f32> = (0..bins)
        .map(|b| rising(b as f32 * bin_hz, VOICE_LOW_HZ.0, VOICE_LOW_HZ.1))
        .collect();
    let bass_band: Vec<f32> = (0..bins)
        .map(|b| {
            1.0 - rising(
                b as f32 * bin_hz,
                options.bass_full_below_hz,
                options.bass_none_above_hz,
            )
        })
        .collect();
    for row in vocals.chunks_exact_mut(bins) {
        for (v, g) in row.iter_mut().zip(&voice_gate) {
            *v *= g;
        }
    }
    on_progress(3, total);
    check()?;

    // Each stem's share of a bin: drums d, bass (1-d)b, vocals (1-d)(1-b)v; other is the rest.
    let masks = Masks {
        drums: &drums,
        vocals: &vocals,
        bass_band: &bass_band,
        bins,
    };
    // Stems are written straight into their interleaved outputs and each
    // channel's spectrogram is freed once its three stems exist: long files
    // otherwise hold several copies of the whole song at once.
    let mut out: [Vec<f32>; 4] = Default::default();
    for stem in &mut out[..3] {
        *stem = vec![0.0; samples.len()];
    }
    let tasks: Vec<(usize, usize)> = (0..n_ch)
        .flat_map(|c| (0..3).map(move |s| (c, s)))
        .collect();
    let mut finished = vec![0usize; n_ch];
    let mut done = 3;
    for batch in tasks.chunks(threads) {
        check()?;
        // A panic is "a resynthesis thread panicked", a runtime error, as before.
        let outputs = run_tasks("resynthesis", batch.to_vec(), threads, |(c, s)| {
            let spec = &specs[c];
            let out = stft.inverse_with(frames, len, &mut |t, out| {
                masks.apply(s, t, &spec.data[t * bins..(t + 1) * bins], out)
            });
            (c, s, out)
        })?;
        for (c, s, planar) in outputs {
            // Task s is vocals (0), drums (1) or bass (2), the first three stems in output order.
            for (slot, x) in out[s].iter_mut().skip(c).step_by(n_ch).zip(&planar) {
                *slot = *x;
            }
            finished[c] += 1;
            if finished[c] == 3 {
                specs[c].data = Vec::new();
            }
            done += 1;
            on_progress(done, total);
        }
    }
    // The remainder, so the four stems add up to the mixture exactly.
    let [vocal, drum, bass, _] = &out;
    let other: Vec<f32> = samples
        .iter()
        .zip(vocal)
        .zip(drum)
        .zip(bass)
        .map(|(((x, v), d), b)| x - v - d - b)
        .collect();
    out[Stem::Other.index()] = other;
    Ok(Stems {
        sample_rate,
        channels,
        samples: out,
    })
}

/// The three resynthesised stems' masks, shared by the resynthesis threads.
struct Masks<'a> {
    drums: &'a [f32],
    vocals: &'a [f32],
    bass_band: &'a [f32],
    bins: usize,
}

impl Masks<'_> {
    /// Fills `out` with frame `t` of stem `stem` (0 vocals, 1 drums, 2 bass).
    fn apply(&self, stem: usize, t: usize, frame: &[Complex32], out: &mut [Complex32]) {
        let row = t * self.bins..(t + 1) * self.bins;
        let drums = &self.drums[row.clone()];
        let vocals = &self.vocals[row];
        for b in 0..self.bins {
            let d = drums[b];
            let share = match stem {
                0 => (1.0 - d) * (1.0 - self.bass_band[b]) * vocals[b],
                1 => d,
                _ => (1.0 - d) * self.bass_band[b],
            };
            out[b] = frame[b] * share;
        }
    }
}

/// A window of about 46 ms (2048 at 44.1 kHz), a power of two, with a quarter hop.
fn stft_for_rate(sample_rate: u32) -> Stft {
    let target = (sample_rate as f32 * 0.0464).max(16.0);
    let n_fft = 1usize << (target.log2().round() as u32);
    Stft::new(n_fft, n_fft / 4)
}

fn odd(n: usize) -> usize {
    n.max(1) | 1
}

/// 0 below `lo`, 1 above `hi`, a raised cosine between.
fn rising(x: f32, lo: f32, hi: f32) -> f32 {
    if x <= lo {
        0.0
    } else if x >= hi {
        1.0
    } else {
        0.5 - 0.5 * (PI * (x - lo) / (hi - lo)).cos()
    }
}

/// |z| without `hypot`'s overflow care, which costs several times more and is not needed for audio.
fn magnitude_of(z: &Complex32) -> f32 {
    (z.re * z.re + z.im * z.im).sqrt()
}

/// Mean of the channels' magnitudes, frame-major.
fn mean_magnitude(specs: &[Spectrogram], threads: usize) -> Result<Vec<f32>, DspError> {
    let scale = 1.0 / specs.len() as f32;
    let mut out = vec![0.0f32; specs[0].data.len()];
    par_fill(&mut out, threads, |offset, chunk| {
        for spec in specs {
            for (o, z) in chunk.iter_mut().zip(&spec.data[offset..]) {
                *o += magnitude_of(z) * scale;
            }
        }
    })?;
    Ok(out)
}

/// Fills `out` in `threads` contiguous pieces; `f` gets each piece's offset and the piece.
fn par_fill(
    out: &mut [f32],
    threads: usize,
    f: impl Fn(usize, &mut [f32]) + Sync,
) -> Result<(), DspError> {
    fill_rows("separate", out, 1, threads, f)
}

/// Energy-weighted inter-channel correlation: 1 only when both channels carry the same signal.
fn coherence(left: &Spectrogram, right: &Spectrogram) -> f32 {
    let (mut cross, mut energy) = (0.0f64, 0.0f64);
    // A decision statistic: every fourth value is plenty and a quarter of the memory traffic.
    for (l, r) in left.data.iter().zip(&right.data).step_by(4) {
        cross += 2.0 * f64::from(l.re * r.re + l.im * r.im);
        energy += f64::from(l.norm_sqr() + r.norm_sqr());
    }
    if energy > 0.0 {
        (cross / energy) as f32
    } else {
        1.0
    }
}

/// Share of each bin that is panned to the centre: equal level and equal phase in both channels.
fn centre_mask(
    left: &Spectrogram,
    right: &Spectrogram,
    threads: usize,
) -> Result<Vec<f32>, DspError> {
    let mut out = vec![0.0f32; left.data.len()];
    par_fill(&mut out, threads, |offset, chunk| {
        let pairs = left.data[offset..].iter().zip(&right.data[offset..]);
        for (o, (l, r)) in chunk.iter_mut().zip(pairs) {
            let (nl, nr) = (magnitude_of(l), magnitude_of(r));
            if nl * nr <= 1e-20 {
                *o = 0.0;
                continue;
            }
            // Pan position (0 = centre) and the cosine of the phase difference
            // (1 for a source mixed to both sides alike; lower for reverb and wide stereo).
            let pan = (nl / (nl + nr) - 0.5) / CENTRE_WIDTH;
            let in_phase = ((l.re * r.re + l.im * r.im) / (nl * nr)).max(0.0);
            *o = in_phase * in_phase * (-pan * pan).exp();
        }
    })?;
    Ok(out)
}

/// REPET-SIM: each frame's repeating part is the median of its most similar frames;
/// what exceeds it is taken as the voice. Returns the non-repeating share per bin.
fn repet_sim_vocal_mask(
    magnitude: &[f32],
    frames: usize,
    bins: usize,
    frame_s: f32,
    threads: usize,
) -> Result<Vec<f32>, DspError> {
    // Frames are compared on a few coarse bands: cheaper, and robust to vibrato.
    const BANDS: usize = 32;
    const NEIGHBOURS: usize = 10;
    let search = (12.0 / frame_s) as usize;
    let spacing = ((0.25 / frame_s) as usize).max(1);
    let band_of = |b: usize| (b * BANDS / bins).min(BANDS - 1);
    let mut features = vec![0.0f32; frames * BANDS];
    for t in 0..frames {
        let feat = &mut features[t * BANDS..(t + 1) * BANDS];
        for (b, m) in magnitude[t * bins..(t + 1) * bins].iter().enumerate() {
            feat[band_of(b)] += m;
        }
        let norm = feat.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            feat.iter_mut().for_each(|x| *x /= norm);
        }
    }
    let rows: Vec<usize> = (0..frames).collect();
    let masks = map_chunks("separate", &rows, threads, |chunk| {
        let mut out = Vec::with_capacity(chunk.len() * bins);
        let mut candidates: Vec<(f32, usize)> = Vec::new();
        let mut chosen: Vec<usize> = Vec::with_capacity(NEIGHBOURS);
        let mut column = Vec::with_capacity(NEIGHBOURS);
        for &t in chunk {
            let feat = &features[t * BANDS..(t + 1) * BANDS];
            candidates.clear();
            let lo = t.saturating_sub(search);
            let hi = (t + search + 1).min(frames);
            for u in lo..hi {
                if u.abs_diff(t) < spacing {
                    continue;
                }
                let other = &features[u * BANDS..(u + 1) * BANDS];
                let sim: f32 = feat.iter().zip(other).map(|(a, b)| a * b).sum();
                if sim > 0.0 {
                    candidates.push((sim, u));
                }
            }
            let keep = candidates.len().min(8 * NEIGHBOURS);
            if keep > 0 && keep < candidates.len() {
                candidates.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
                candidates.truncate(keep);
            }
            candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            chosen.clear();
            for &(_, u) in &candidates {
                if chosen.len() == NEIGHBOURS {
                    break;
                }
                if chosen.iter().all(|&c| c.abs_diff(u) >= spacing) {
                    chosen.push(u);
                }
            }
            let row = &magnitude[t * bins..(t + 1) * bins];
            for (b, &m) in row.iter().enumerate() {
                if chosen.is_empty() || m <= 0.0 {
                    out.push(0.0);
                    continue;
                }
                column.clear();
                column.extend(chosen.iter().map(|&u| magnitude[u * bins + b]));
                let mid = column.len() / 2;
                let (_, median, _) = column.select_nth_unstable_by(mid, f32::total_cmp);
                let repeating = median.min(m);
                out.push(1.0 - repeating / m);
            }
        }
        out
    })?;
    Ok(masks.concat())
}

/// The median across `kernel` frames for every bin.
///
/// Both medians are smooth by design (that is what separates them from the
/// transients and partials they reject), so each is taken on every other
/// frame (here) or bin (below) with half the kernel and interpolated back:
/// a quarter of the work, which is most of the separator's time.
fn harmonic_median(
    magnitude: &[f32],
    frames: usize,
    bins: usize,
    kernel: usize,
    threads: usize,
) -> Result<Vec<f32>, DspError> {
    let kept = frames.div_ceil(2);
    // Bin-major series of the even frames, so each bin's median runs over contiguous memory.
    // Both reshuffles go in blocks of frames so that the strided side stays in cache.
    const BLOCK: usize = 64;
    let mut series = vec![0.0f32; kept * bins];
    for j0 in (0..kept).step_by(BLOCK) {
        let j1 = (j0 + BLOCK).min(kept);
        for b in 0..bins {
            for j in j0..j1 {
                series[b * kept + j] = magnitude[2 * j * bins + b];
            }
        }
    }
    let filtered = median_filter_rows(&series, bins, kept, odd(kernel / 2), threads)?;
    drop(series);
    let mut out = vec![0.0f32; frames * bins];
    fill_rows("separate", &mut out, bins, threads, |first_row, chunk| {
        let rows = chunk.len() / bins;
        for r0 in (0..rows).step_by(BLOCK) {
            let r1 = (r0 + BLOCK).min(rows);
            for b in 0..bins {
                let base = &filtered[b * kept..(b + 1) * kept];
                for r in r0..r1 {
                    let t = first_row + r;
                    let j = t / 2;
                    chunk[r * bins + b] = if t % 2 == 1 {
                        0.5 * (base[j] + base[(j + 1).min(kept - 1)])
                    } else {
                        base[j]
                    };
                }
            }
        }
    })?;
    Ok(out)
}

/// The median across `kernel` bins for every frame, on every other bin (see [`harmonic_median`]).
fn percussive_median(
    magnitude: &[f32],
    frames: usize,
    bins: usize,
    kernel: usize,
    threads: usize,
) -> Result<Vec<f32>, DspError> {
    let kept = bins.div_ceil(2);
    let even: Vec<f32> = magnitude
        .chunks_exact(bins)
        .flat_map(|row| row.iter().step_by(2).copied())
        .collect();
    let filtered = median_filter_rows(&even, frames, kept, odd(kernel / 2), threads)?;
    drop(even);
    let mut out = vec![0.0f32; frames * bins];
    for (row, base) in out.chunks_exact_mut(bins).zip(filtered.chunks_exact(kept)) {
        for (b, o) in row.iter_mut().enumerate() {
            let j = b / 2;
            *o = if b % 2 == 1 {
                0.5 * (base[j] + base[(j + 1).min(kept - 1)])
            } else {
                base[j]
            };
        }
    }
    Ok(out)
}

/// A running median of odd width `kernel` along each row, edges reflected (scipy's `reflect`).
pub fn median_filter_rows(
    data: &[f32],
    rows: usize,
    cols: usize,
    kernel: usize,
    threads: usize,
) -> Result<Vec<f32>, DspError> {
    let row_ids: Vec<usize> = (0..rows).collect();
    let parts = map_chunks("median", &row_ids, threads, |chunk| {
        let mut out = Vec::with_capacity(chunk.len() * cols);
        let mut window: Vec<f32> = Vec::with_capacity(kernel);
        for &r in chunk {
            let row = &data[r * cols..(r + 1) * cols];
            running_median(row, kernel, &mut window, &mut out);
        }
        out
    })?;
    Ok(parts.concat())
}

fn reflect(j: isize, n: usize) -> usize {
    let n = n as isize;
    let m = j.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// Appends the running median of `row` to `out`, keeping `window` sorted as it slides.
fn running_median(row: &[f32], kernel: usize, window: &mut Vec<f32>, out: &mut Vec<f32>) {
    let n = row.len();
    if n == 0 {
        return;
    }
    let half = (kernel / 2) as isize;
    window.clear();
    window.extend((-half..=half).map(|j| row[reflect(j, n)]));
    window.sort_unstable_by(f32::total_cmp);
    let mid = window.len() / 2;
    for i in 0..n {
        out.push(window[mid]);
        if i + 1 == n {
            break;
        }
        // Only the edges need reflecting; the integer division in `reflect` is not free.
        let (out_at, in_at) = (i as isize - half, i as isize + half + 1);
        let leaving = if out_at >= 0 {
            row[out_at as usize]
        } else {
            row[reflect(out_at, n)]
        };
        let entering = if (in_at as usize) < n {
            row[in_at as usize]
        } else {
            row[reflect(in_at, n)]
        };
        // Counting instead of searching: branch-free, and the compiler vectorises it.
        let from = count_below(window, leaving);
        let below = count_below(window, entering);
        if from >= window.len() {
            // Unreachable for finite input (the leaving value is in the window); keep it sorted anyway.
            window.sort_unstable_by(f32::total_cmp);
            continue;
        }
        if below > from {
            window.copy_within(from + 1..below, from);
            window[below - 1] = entering;
        } else {
            window.copy_within(below..from, below + 1);
            window[below] = entering;
        }
    }
}

/// How many values are below `v`, as a sum of 0/1 so it compiles to vector code without branches.
fn count_below(window: &[f32], v: f32) -> usize {
    window.iter().map(|&x| usize::from(x < v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coda_dsp::testing::noise;

    fn naive_median(row: &[f32], kernel: usize) -> Vec<f32> {
        let half = (kernel / 2) as isize;
        (0..row.len())
            .map(|i| {
                let mut w: Vec<f32> = (-half..=half)
                    .map(|j| row[reflect(i as isize + j, row.len())])
                    .collect();
                w.sort_by(f32::total_cmp);
                w[w.len() / 2]
            })
            .collect()
    }

    #[test]
    fn running_median_matches_a_naive_one() {
        for (n, k) in [(1, 3), (2, 5), (5, 17), (100, 17), (1000, 31), (37, 1)] {
            let mut row = noise(n, n as u32);
            // Ties must be handled too.
            for v in row.iter_mut().step_by(3) {
                *v = 0.25;
            }
            let fast = median_filter_rows(&row, 1, n, k, 1).unwrap();
            assert_eq!(fast, naive_median(&row, k), "n {n} k {k}");
        }
        let data = noise(40 * 50, 9);
        let one = median_filter_rows(&data, 40, 50, 7, 1).unwrap();
        let many = median_filter_rows(&data, 40, 50, 7, 3).unwrap();
        assert_eq!(one, many);
    }

    fn tone(freq: f32, rate: u32, len: usize, gain: f32) -> Vec<f32> {
        (0..len)
            .map(|i| gain * (2.0 * PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn clicks(rate: u32, len: usize, every_s: f32, gain: f32) -> Vec<f32> {
        let period = (every_s * rate as f32) as usize;
        let burst = noise(len, 7);
        (0..len)
            .map(|i| {
                if i % period < 64 {
                    gain * burst[i] * 2.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn energy(x: &[f32]) -> f64 {
        x.iter().map(|v| f64::from(*v) * f64::from(*v)).sum()
    }

    fn run(samples: &[f32], rate: u32, channels: u16, options: &DspOptions) -> Stems {
        separate_dsp(samples, rate, channels, options, &mut |_, _| {}, &|| false).unwrap()
    }

    #[test]
    fn stems_sum_to_the_mixture_and_keep_the_shape() {
        let rate = 22_050;
        let len = rate as usize * 2 + 17;
        for channels in [1u16, 2, 3] {
            let x = noise(len * usize::from(channels), 3);
            let stems = run(&x, rate, channels, &DspOptions::default());
            assert_eq!((stems.sample_rate, stems.channels), (rate, channels));
            for s in &stems.samples {
                assert_eq!(s.len(), x.len());
            }
            let err = (0..x.len())
                .map(|i| (stems.samples.iter().map(|s| s[i]).sum::<f32>() - x[i]).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-5, "{channels} channels: max error {err}");
            // Masks lie in [0, 1], so no resynthesised stem carries more than the mixture.
            for stem in [Stem::Vocals, Stem::Drums, Stem::Bass] {
                let e = energy(stems.get(stem));
                assert!(e <= 1.01 * energy(&x), "{stem:?}: {e} > {}", energy(&x));
            }
        }
    }

    #[test]
    fn a_bass_tone_clicks_and_a_centre_melody_land_in_their_stems() {
        let rate = 44_100;
        let len = rate as usize * 4;
        let bass = tone(55.0, rate, len, 0.3);
        let drum = clicks(rate, len, 0.25, 0.5);
        let lead = tone(660.0, rate, len, 0.2);
        // A pad panned hard left at 440 Hz: stereo but off-centre.
        let pad = tone(440.0, rate, len, 0.2);
        let mut x = vec![0.0f32; len * 2];
        for i in 0..len {
            let centre = bass[i] + drum[i] + lead[i];
            x[2 * i] = centre + pad[i];
            x[2 * i + 1] = centre;
        }
        let stems = run(&x, rate, 2, &DspOptions::default());
        let left = |s: Stem| -> Vec<f32> { stems.get(s).iter().step_by(2).copied().collect() };
        // Each stem holds most of its own source's energy, measured by correlation.
        let share = |s: Stem, source: &[f32]| {
            let est = left(s);
            let dot: f64 = est
                .iter()
                .zip(source)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            dot / energy(source)
        };
        assert!(
            share(Stem::Bass, &bass) > 0.8,
            "bass {}",
            share(Stem::Bass, &bass)
        );
        assert!(
            share(Stem::Drums, &drum) > 0.5,
            "drums {}",
            share(Stem::Drums, &drum)
        );
        assert!(
            share(Stem::Vocals, &lead) > 0.7,
            "vocals {}",
            share(Stem::Vocals, &lead)
        );
        assert!(
            share(Stem::Other, &pad) > 0.7,
            "other {}",
            share(Stem::Other, &pad)
        );
        assert!(
            share(Stem::Vocals, &pad) < 0.2,
            "pad in vocals {}",
            share(Stem::Vocals, &pad)
        );
    }

    #[test]
    fn mono_input_uses_repetition_and_still_partitions() {
        let rate = 22_050;
        let len = rate as usize * 6;
        // A repeating accompaniment (a two-note loop) and a non-repeating glide.
        let a = tone(330.0, rate, len, 0.2);
        let b = tone(392.0, rate, len, 0.2);
        let half_s = rate as usize / 2;
        let glide: Vec<f32> = (0..len)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let f = 500.0 + 60.0 * t;
                0.2 * (2.0 * PI * f * t).sin()
            })
            .collect();
        let x: Vec<f32> = (0..len)
            .map(|i| if (i / half_s).is_multiple_of(2) { a[i] } else { b[i] } + glide[i])
            .collect();
        let stems = run(&x, rate, 1, &DspOptions::default());
        let vocal = stems.get(Stem::Vocals);
        let dot: f64 = vocal
            .iter()
            .zip(&glide)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        assert!(
            dot / energy(&glide) > 0.3,
            "glide share {}",
            dot / energy(&glide)
        );
        let sum_err = (0..len)
            .map(|i| (stems.samples.iter().map(|s| s[i]).sum::<f32>() - x[i]).abs())
            .fold(0.0, f32::max);
        assert!(sum_err < 1e-5);
    }

    #[test]
    fn silence_empty_and_bad_input() {
        let stems = run(&[], 44_100, 2, &DspOptions::default());
        assert!(stems.samples.iter().all(|s| s.is_empty()));
        let stems = run(&vec![0.0; 2 * 4410], 44_100, 2, &DspOptions::default());
        assert!(stems.samples.iter().all(|s| s.iter().all(|v| *v == 0.0)));
        let short = run(&[0.5, -0.5, 0.25], 8_000, 1, &DspOptions::default());
        assert_eq!(short.get(Stem::Other).len(), 3);
        let opts = DspOptions::default();
        let no = |x: &[f32], rate, ch| separate_dsp(x, rate, ch, &opts, &mut |_, _| {}, &|| false);
        assert!(matches!(
            no(&[0.0; 3], 44_100, 2),
            Err(ModelError::InvalidAudio(_))
        ));
        assert!(matches!(
            no(&[0.0, 3e9], 44_100, 1),
            Err(ModelError::InvalidAudio(_))
        ));
        assert!(matches!(
            no(&[f32::NAN], 44_100, 1),
            Err(ModelError::InvalidAudio(_))
        ));
        assert!(matches!(
            no(&[0.0], 44_100, 0),
            Err(ModelError::InvalidAudio(_))
        ));
        assert!(matches!(
            no(&[0.0], 10, 1),
            Err(ModelError::InvalidAudio(_))
        ));
    }

    #[test]
    fn progress_runs_to_the_end_and_cancel_stops() {
        let x = noise(2 * 22_050, 5);
        let mut seen = vec![];
        separate_dsp(
            &x,
            22_050,
            2,
            &DspOptions::default(),
            &mut |d, t| seen.push((d, t)),
            &|| false,
        )
        .unwrap();
        assert_eq!(seen.first(), Some(&(0, 9)));
        assert_eq!(seen.last(), Some(&(9, 9)));
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
        let calls = std::cell::Cell::new(0);
        let err = separate_dsp(
            &x,
            22_050,
            2,
            &DspOptions::default(),
            &mut |d, _| calls.set(d),
            &|| calls.get() >= 2,
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::Canceled));
        assert_eq!(calls.get(), 2);
    }
}
