//! The one resampler of the model crates: any rate to any rate, from the
//! channel mean of interleaved PCM or from one of its channels.
//!
//! It is rubato's synchronous FFT resampler (`Fft`, BlackmanHarris2) re-run
//! block by block in f32 on several threads; it matches rubato's f64 result
//! to a few 1e-7. That resampler filters each input block of `n_in` frames in
//! the frequency domain and overlap-adds the `2 * n_out` frames that come out,
//! so output block `k` depends on input blocks `k - 1` and `k` only: a thread
//! that starts at block `k` runs block `k - 1` first to get its overlap and
//! produces the same numbers as one pass over the whole signal. Two real
//! blocks share one complex transform, and the downmix (or the choice of a
//! channel) is fused into reading the blocks, so neither a mono copy nor an
//! f64 copy of the input is made.
//!
//! Like rubato's `process_all`, the output is delay-trimmed (aligned with the
//! input) and `ceil(frames * to / from)` frames long, with the ratio and the
//! product taken in f64: the exact ceiling for common rates, and one more
//! where the product rounds up past a whole number (173 frames at 1038 Hz to
//! 22050 Hz give 3676 samples, not 3675).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};

use crate::buffer::AudioBuffer;
use crate::error::DspError;
use crate::parallel::{run_tasks, threads};

/// Input frames per FFT block, at least: long enough for a steep anti-aliasing
/// filter (rubato's cutoff fit is made for 32..2048 points), short enough to stay cheap.
const FFT_CHUNK: usize = 2048;
/// Fewest blocks (about 1.5 s at 44.1 kHz) worth a thread of their own.
const MIN_BLOCKS_PER_THREAD: usize = 32;
/// More threads than this stop paying for themselves on a memory-bound pass.
const MAX_THREADS: usize = 8;

/// Input frames per block for `from -> to`: the smallest even number of
/// minimal blocks (`from / gcd(from, to)` frames each) that holds [`FFT_CHUNK`].
///
/// This is the one sizing rule, for every caller. rubato trims
/// `fft_size_out / 2` frames of delay, rounded down, so an odd output block
/// leaves the output half a sample late: 48 kHz -> 22050 Hz at rubato's own
/// sizing (7 minimal blocks of 320 in, 147 out) gives 1029 frames out per
/// block, and 48 kHz -> 44.1 kHz gives 1911. An even count of minimal blocks
/// makes both block sizes even and the trim exact. Where rubato's count is
/// already even (44.1 kHz -> 22050 Hz: 1024 blocks of 2 frames) the blocks
/// are the same as rubato's. Passed as the chunk size to rubato's
/// `Fft::new_custom` with one sub-chunk, it gives the same blocks as this
/// resampler, which is how the tests compare the two.
pub fn block_frames(from: u32, to: u32) -> usize {
    let (from, to) = (from as usize, to as usize);
    let min_in = from / gcd(from, to);
    let blocks = FFT_CHUNK.div_ceil(min_in);
    (blocks + blocks % 2) * min_in
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Which signal of an interleaved buffer is resampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The mean of the channels in each frame (a downmix, as librosa's `to_mono`).
    Mean,
    /// One channel, by index.
    Channel(usize),
}

/// A resampler from one rate to another, planned once and usable for many signals.
pub struct Resampler {
    from: u32,
    to: u32,
    /// `None` when the rates are equal: the input is passed through.
    engine: Option<Engine>,
}

impl Resampler {
    /// Plans `from -> to`; both rates must lie in [`crate::MIN_RATE`]..=[`crate::MAX_RATE`].
    pub fn new(from: u32, to: u32) -> Result<Self, DspError> {
        for rate in [from, to] {
            crate::buffer::check_layout(0, rate, 1)?;
        }
        let engine = if from == to {
            None
        } else {
            Some(Engine::new(from, to)?)
        };
        Ok(Resampler { from, to, engine })
    }

    /// The rate it reads.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// The rate it writes.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// How many frames `frames` input frames become (rubato's `process_all` length).
    pub fn output_len(&self, frames: usize) -> usize {
        match &self.engine {
            None => frames,
            Some(e) => (e.n_out as f64 / e.n_in as f64 * frames as f64).ceil() as usize,
        }
    }

    /// Resamples `input` of `audio` (which must be at [`Resampler::from_rate`]) on up to `threads` threads.
    ///
    /// A NaN or infinite sample is an error, and so is a channel mean that
    /// overflows although the samples are finite. The result does not depend
    /// on `threads`, bit for bit.
    pub fn process(
        &self,
        audio: &AudioBuffer<&[f32]>,
        input: Input,
        threads: usize,
    ) -> Result<Vec<f32>, DspError> {
        if audio.sample_rate() != self.from {
            return Err(DspError::InvalidAudio(format!(
                "a resampler from {} Hz was given audio at {} Hz",
                self.from,
                audio.sample_rate()
            )));
        }
        let channels = usize::from(audio.channels());
        if let Input::Channel(c) = input {
            if c >= channels {
                return Err(DspError::InvalidAudio(format!(
                    "channel {c} of {channels} asked for"
                )));
            }
        }
        let source = Source {
            samples: audio.samples(),
            channels,
            frames: audio.frames(),
            input,
        };
        let out = match &self.engine {
            Some(engine) if source.frames > 0 => engine.run(&source, threads)?,
            _ => {
                let mut out = vec![0.0; source.frames];
                if source.read(0, &mut out) {
                    return Ok(out);
                }
                return Err(source.non_finite_error());
            }
        };
        out.ok_or_else(|| source.non_finite_error())
    }
}

/// Resamples `input` of `audio` to `to` Hz on every core ([`Resampler::process`]).
pub fn resample(audio: &AudioBuffer<&[f32]>, to: u32, input: Input) -> Result<Vec<f32>, DspError> {
    Resampler::new(audio.sample_rate(), to)?.process(audio, input, threads())
}

/// Whether every sample is finite.
fn all_finite(samples: &[f32]) -> bool {
    // A branch-free fold per chunk vectorizes.
    samples
        .chunks(4096)
        .all(|c| c.iter().fold(true, |ok, s| ok & s.is_finite()))
}

/// The mean of one frame's samples.
fn frame_mean(frame: &[f32]) -> f32 {
    frame.iter().sum::<f32>() / frame.len() as f32
}

fn resample_error(e: &dyn std::fmt::Display) -> DspError {
    DspError::InvalidAudio(format!("resampling: {e}"))
}

/// Interleaved PCM read block by block as one signal.
struct Source<'a> {
    samples: &'a [f32],
    channels: usize,
    frames: usize,
    input: Input,
}

impl Source<'_> {
    /// Writes frames `start..start + dst.len()` (which must exist unless
    /// `dst` is empty) of the chosen signal to `dst`; false if a result is NaN or infinite.
    fn read(&self, start: usize, dst: &mut [f32]) -> bool {
        if dst.is_empty() {
            return true;
        }
        let ch = self.channels;
        let src = &self.samples[start * ch..(start + dst.len()) * ch];
        match (ch, self.input) {
            (1, _) => dst.copy_from_slice(src),
            (_, Input::Channel(c)) => {
                for (d, f) in dst.iter_mut().zip(src.chunks_exact(ch)) {
                    *d = f[c];
                }
            }
            // The same sum and division as `frame_mean`; halving is exact either way.
            (2, Input::Mean) => {
                for (d, f) in dst.iter_mut().zip(src.chunks_exact(2)) {
                    *d = (f[0] + f[1]) * 0.5;
                }
            }
            (_, Input::Mean) => {
                for (d, f) in dst.iter_mut().zip(src.chunks_exact(ch)) {
                    *d = frame_mean(f);
                }
            }
        }
        dst.iter().fold(true, |ok, s| ok & s.is_finite())
    }

    /// The error for a signal that read as NaN or infinite somewhere: the
    /// first bad sample it reads, or, when every sample is finite, the first
    /// frame whose channel mean overflowed (samples near `f32::MAX` can sum past it).
    fn non_finite_error(&self) -> DspError {
        let (first, step) = match self.input {
            Input::Channel(c) => (c, self.channels),
            Input::Mean => (0, 1),
        };
        if !all_finite(self.samples) {
            if let Some(i) = self
                .samples
                .iter()
                .enumerate()
                .skip(first)
                .step_by(step)
                .position(|(_, s)| !s.is_finite())
            {
                return DspError::InvalidAudio(format!(
                    "sample {} is NaN or infinite",
                    first + i * step
                ));
            }
        }
        let frame = self
            .samples
            .chunks_exact(self.channels)
            .position(|f| !frame_mean(f).is_finite())
            .unwrap_or(0);
        DspError::InvalidAudio(format!(
            "the channel mean of frame {frame} overflowed: its samples are finite but too large \
             to mix (corrupt float data?)"
        ))
    }
}

/// One rate's block transform: rubato's filter, applied in f32.
struct Engine {
    /// Input frames per block.
    n_in: usize,
    /// Output frames per block.
    n_out: usize,
    /// The filter's spectrum over the bins that carry over from input to output.
    filter: Vec<Complex<f32>>,
    /// The same at the mirror-image (negative) frequencies, lowest first: `conj(filter[keep - 1 - i])`.
    mirror: Vec<Complex<f32>>,
    /// Complex transforms of the padded blocks: `2 * n_in` forward, `2 * n_out` inverse.
    fft: Arc<dyn rustfft::Fft<f32>>,
    ifft: Arc<dyn rustfft::Fft<f32>>,
}

impl Engine {
    fn new(from: u32, to: u32) -> Result<Self, DspError> {
        // `Both` makes rubato take exactly one block per call; its block sizes
        // are those of the `Input` resampler with one sub-chunk.
        let mut rubato = Fft::<f64>::new_custom(
            from as usize,
            to as usize,
            block_frames(from, to),
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| resample_error(&e))?;
        let (n_in, n_out) = (rubato.fft_size_in(), rubato.fft_size_out());
        // The block response to an impulse at its first frame is the inverse
        // transform of the filter's spectrum (the impulse's spectrum is all ones):
        // it comes out as this block's output followed by the next one's overlap.
        let mut impulse = vec![0.0f64; n_in];
        let mut response = vec![0.0f64; 2 * n_out];
        for (half, input) in response.chunks_exact_mut(n_out).zip([1.0, 0.0]) {
            impulse[0] = input;
            let adapter_in =
                InterleavedSlice::new(&impulse, 1, n_in).map_err(|e| resample_error(&e))?;
            let mut adapter_out =
                InterleavedSlice::new_mut(half, 1, n_out).map_err(|e| resample_error(&e))?;
            rubato
                .process_into_buffer(&adapter_in, &mut adapter_out, None)
                .map_err(|e| resample_error(&e))?;
        }
        let forward64 = RealFftPlanner::<f64>::new().plan_fft_forward(2 * n_out);
        let mut spectrum = forward64.make_output_vec();
        forward64
            .process(&mut response, &mut spectrum)
            .map_err(|e| resample_error(&e))?;
        // Input bins below the output's Nyquist carry over (all of them when
        // upsampling); the rest, and the output's Nyquist bin, are zero.
        let keep = if n_in < n_out { n_in + 1 } else { n_out };
        let scale = 1.0 / (2 * n_out) as f64;
        let mut filter: Vec<Complex<f32>> = spectrum[..keep]
            .iter()
            .map(|c| Complex::new((c.re * scale) as f32, (c.im * scale) as f32))
            .collect();
        // A real filter has a real DC bin.
        filter[0].im = 0.0;
        let mirror = filter[1..].iter().rev().map(|g| g.conj()).collect();
        let mut planner = rustfft::FftPlanner::<f32>::new();
        Ok(Engine {
            n_in,
            n_out,
            filter,
            mirror,
            fft: planner.plan_fft_forward(2 * n_in),
            ifft: planner.plan_fft_inverse(2 * n_out),
        })
    }
}

/// Per-thread buffers for running blocks through an [`Engine`].
///
/// Blocks go two at a time, one as the real and one as the imaginary part of a
/// complex transform (blocks `2p` and `2p + 1`, whichever thread runs them, so
/// every thread computes the same numbers for a block).
struct Worker<'a> {
    engine: &'a Engine,
    /// The two input blocks, downmixed and padded to `n_in`.
    mono: [Vec<f32>; 2],
    spec_in: Vec<Complex<f32>>,
    spec_out: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// The second half of the previous block's output, still to be added.
    overlap: Vec<f32>,
    /// Output blocks `2p` and `2p + 1` of the last pair run.
    out: [Vec<f32>; 2],
    /// Whether a downmixed sample was NaN or infinite.
    non_finite: bool,
}

impl<'a> Worker<'a> {
    fn new(engine: &'a Engine) -> Self {
        let zero = Complex::new(0.0, 0.0);
        let scratch = engine
            .fft
            .get_inplace_scratch_len()
            .max(engine.ifft.get_inplace_scratch_len());
        Worker {
            engine,
            mono: [vec![0.0; engine.n_in], vec![0.0; engine.n_in]],
            spec_in: vec![zero; 2 * engine.n_in],
            spec_out: vec![zero; 2 * engine.n_out],
            scratch: vec![zero; scratch],
            overlap: vec![0.0; engine.n_out],
            out: [vec![0.0; engine.n_out], vec![0.0; engine.n_out]],
            non_finite: false,
        }
    }

    /// Runs input blocks `2p` and `2p + 1` into `self.out`.
    fn pair(&mut self, source: &Source, p: usize) {
        let (n_in, n_out) = (self.engine.n_in, self.engine.n_out);
        let mut lens = [0; 2];
        for (b, (len, mono)) in lens.iter_mut().zip(&mut self.mono).enumerate() {
            let start = (2 * p + b) * n_in;
            *len = n_in.min(source.frames.saturating_sub(start));
            self.non_finite |= !source.read(start, &mut mono[..*len]);
        }
        if lens == [0, 0] {
            // Past the end the input is silence: only the overlap is left.
            self.out[0].copy_from_slice(&self.overlap);
            self.out[1].fill(0.0);
            self.overlap.fill(0.0);
            return;
        }
        // Both blocks padded with zeros to 2 * n_in, as rubato does.
        for (mono, &len) in self.mono.iter_mut().zip(&lens) {
            mono[len..].fill(0.0);
        }
        let (packed, padding) = self.spec_in.split_at_mut(n_in);
        for ((z, &a), &b) in packed.iter_mut().zip(&self.mono[0]).zip(&self.mono[1]) {
            *z = Complex::new(a, b);
        }
        padding.fill(Complex::new(0.0, 0.0));
        self.engine
            .fft
            .process_with_scratch(&mut self.spec_in, &mut self.scratch);
        // The filter's impulse response is real, so it acts on the real and
        // imaginary parts separately: the packed spectrum is filtered as a
        // whole, with the filter's mirror image on the negative frequencies,
        // and truncated or zero-padded to the output's length.
        let keep = self.engine.filter.len();
        let (nn, mm) = (2 * n_in, 2 * n_out);
        let (low, high) = self.spec_out.split_at_mut(mm - keep + 1);
        for ((o, z), g) in low[..keep]
            .iter_mut()
            .zip(&self.spec_in[..keep])
            .zip(&self.engine.filter)
        {
            *o = z * g;
        }
        low[keep..].fill(Complex::new(0.0, 0.0));
        for ((o, z), g) in high
            .iter_mut()
            .zip(&self.spec_in[nn - keep + 1..])
            .zip(&self.engine.mirror)
        {
            *o = z * g;
        }
        self.engine
            .ifft
            .process_with_scratch(&mut self.spec_out, &mut self.scratch);
        let (head, tail) = self.spec_out.split_at(n_out);
        let [out_a, out_b] = &mut self.out;
        for (((oa, ob), (h, t)), ov) in out_a
            .iter_mut()
            .zip(out_b.iter_mut())
            .zip(head.iter().zip(tail))
            .zip(self.overlap.iter_mut())
        {
            *oa = h.re + *ov;
            *ob = h.im + t.re;
            *ov = t.im;
        }
    }

    /// Runs blocks `blocks` (starting at an even block) into `out`, which
    /// holds the trimmed output from index `out_start` on; returns whether a
    /// NaN or infinity was met.
    fn run(
        mut self,
        source: &Source,
        blocks: std::ops::Range<usize>,
        delay: usize,
        out_start: usize,
        out: &mut [f32],
    ) -> bool {
        let n_out = self.engine.n_out;
        if blocks.start > 0 {
            // Only its overlap is wanted.
            self.pair(source, blocks.start / 2 - 1);
        }
        // Output block k is frames k * n_out.. of the untrimmed output, which
        // starts `delay` frames before the trimmed one.
        let end = (out_start + out.len()) + delay;
        for p in blocks.start / 2..blocks.end.div_ceil(2) {
            self.pair(source, p);
            for (k, y) in [2 * p, 2 * p + 1].into_iter().zip(&self.out) {
                let first = k * n_out;
                let lo = (out_start + delay).max(first);
                let hi = end.min(first + n_out);
                if lo < hi {
                    out[lo - delay - out_start..hi - delay - out_start]
                        .copy_from_slice(&y[lo - first..hi - first]);
                }
            }
        }
        self.non_finite
    }
}

impl Engine {
    /// Runs the whole signal (non-empty) on up to `threads` threads; `None` if a value read was NaN or infinite.
    fn run(&self, source: &Source, threads: usize) -> Result<Option<Vec<f32>>, DspError> {
        let (n_in, n_out) = (self.n_in, self.n_out);
        // rubato's `process_all` length and delay: ceil(ratio * frames) frames
        // starting half an output block in (exact, as the blocks are even).
        let len = (n_out as f64 / n_in as f64 * source.frames as f64).ceil() as usize;
        let delay = n_out / 2;
        let blocks = (delay + len).div_ceil(n_out);
        let threads = threads
            .min(MAX_THREADS)
            .min(blocks / MIN_BLOCKS_PER_THREAD)
            .max(1);

        let mut out = vec![0.0f32; len];
        // Segment t runs blocks bounds[t]..bounds[t + 1] and writes the frames they produce.
        // Segments start at even blocks, as the workers pair blocks.
        let bounds: Vec<usize> = (0..=threads)
            .map(|t| (blocks * t / threads).next_multiple_of(2).min(blocks))
            .collect();
        let out_at = |block: usize| (block * n_out).saturating_sub(delay).min(len);
        let mut segments = Vec::with_capacity(threads);
        let mut rest: &mut [f32] = &mut out;
        for t in 0..threads {
            let (this, next) = rest.split_at_mut(out_at(bounds[t + 1]) - out_at(bounds[t]));
            segments.push((bounds[t]..bounds[t + 1], out_at(bounds[t]), this));
            rest = next;
        }
        let non_finite = run_tasks("resample", segments, threads, |(blocks, start, out)| {
            Worker::new(self).run(source, blocks, delay, start, out)
        })?;
        Ok((!non_finite.contains(&true)).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Basic Pitch's rate, which most of these tests were written for.
    const SAMPLE_RATE: u32 = 22_050;

    /// What Basic Pitch's `to_model_input` does with this resampler: the channel mean at 22050 Hz.
    fn to_model_input(samples: &[f32], rate: u32, channels: u16) -> Result<Vec<f32>, DspError> {
        super::resample(
            &AudioBuffer::new(samples, rate, channels)?,
            SAMPLE_RATE,
            Input::Mean,
        )
    }

    /// The channel mean of `samples` at 22050 Hz on exactly `threads` threads (when there are blocks enough).
    fn resample(
        samples: &[f32],
        channels: usize,
        rate: u32,
        threads: usize,
    ) -> Result<Vec<f32>, DspError> {
        let audio = AudioBuffer::new(samples, rate, channels as u16)?;
        Resampler::new(rate, SAMPLE_RATE)?.process(&audio, Input::Mean, threads)
    }

    fn downmix(samples: &[f32], channels: usize) -> Vec<f32> {
        samples.chunks_exact(channels).map(frame_mean).collect()
    }

    /// rubato's `process_all` in f64 in one pass over `signal`, with the same block sizing.
    fn rubato_f64(signal: &[f32], from: u32, to: u32) -> Vec<f32> {
        crate::testing::rubato_resample(signal, from, to)
    }

    /// The straightforward implementation: downmix, then rubato's `process_all` in f64 in one pass.
    fn reference(samples: &[f32], rate: u32, channels: u16) -> Vec<f32> {
        rubato_f64(&downmix(samples, usize::from(channels)), rate, SAMPLE_RATE)
    }

    /// Noise plus a few sines, peaking near full scale.
    fn test_signal(frames: usize, channels: usize, rate: u32, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut noise = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut out = Vec::with_capacity(frames * channels);
        for i in 0..frames {
            let t = i as f64 / f64::from(rate);
            for c in 0..channels {
                let tones: f64 = [110.0, 440.0 * (c + 1) as f64, 3_150.0, 9_000.0]
                    .iter()
                    .map(|f| (2.0 * std::f64::consts::PI * f * t).sin())
                    .sum();
                out.push((0.15 * tones + 0.3 * noise()) as f32);
            }
        }
        out
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn segmented_f32_blocks_match_the_sequential_f64_resampler() {
        for (rate, frames, channels) in [
            (44_100, 300_001, 1),
            (48_000, 250_123, 2),
            (8_000, 60_007, 1),
            (96_000, 333_337, 3),
            (44_099, 150_001, 1),
            (22_051, 70_001, 2),
        ] {
            let samples = test_signal(frames, channels, rate, u64::from(rate));
            let expected = reference(&samples, rate, channels as u16);
            let single = resample(&samples, channels, rate, 1).unwrap();
            assert_eq!(single.len(), expected.len(), "{rate} Hz");
            assert_eq!(
                single.len(),
                (frames * SAMPLE_RATE as usize).div_ceil(rate as usize),
                "{rate} Hz"
            );
            let diff = max_diff(&single, &expected);
            assert!(diff < 1e-6, "{rate} Hz: max difference {diff}");
            for threads in [2, 3, 7] {
                let split = resample(&samples, channels, rate, threads).unwrap();
                // Every block is computed the same way whichever thread runs it.
                assert_eq!(split, single, "{rate} Hz on {threads} threads");
            }
        }
    }

    #[test]
    fn short_clips_match_the_sequential_resampler() {
        for rate in [8_000, 44_100, 48_000, 96_000] {
            for frames in [1, 2, 3, 100, 2047, 2048, 2049, 5000, 2240 * 3 + 1] {
                let samples = test_signal(frames, 1, rate, frames as u64);
                let expected = reference(&samples, rate, 1);
                let got = to_model_input(&samples, rate, 1).unwrap();
                assert_eq!(got.len(), expected.len(), "{rate} Hz, {frames} frames");
                let diff = max_diff(&got, &expected);
                assert!(diff < 1e-6, "{rate} Hz, {frames} frames: {diff}");
            }
        }
    }

    #[test]
    fn output_length_is_rubatos_ceiling_in_f64() {
        // 173 * 22050 / 1038 is 3675 exactly, but 3675.0000000000005 in f64.
        let samples = test_signal(173, 1, 1_038, 5);
        let out = to_model_input(&samples, 1_038, 1).unwrap();
        assert_eq!(out.len(), 3_676);
        let expected = reference(&samples, 1_038, 1);
        assert_eq!(expected.len(), 3_676);
        assert!(max_diff(&out, &expected) < 1e-6);
        // For common rates it is the exact ceiling.
        for rate in [
            8_000, 16_000, 32_000, 44_100, 48_000, 88_200, 96_000, 192_000,
        ] {
            for frames in [1, 173, 1_000, 44_101, 123_457] {
                let want = (frames * SAMPLE_RATE as usize).div_ceil(rate);
                let got = to_model_input(&vec![0.0; frames], rate as u32, 1).unwrap();
                assert_eq!(got.len(), want, "{rate} Hz, {frames} frames");
            }
        }
    }

    #[test]
    fn block_sizes_match_the_input_driven_resampler() {
        for rate in [8_000, 16_000, 44_100, 48_000, 96_000, 44_099] {
            let sizes = |fixed| {
                let r = Fft::<f64>::new_custom(
                    rate,
                    SAMPLE_RATE as usize,
                    block_frames(rate as u32, SAMPLE_RATE),
                    1,
                    1,
                    WindowFunction::BlackmanHarris2,
                    fixed,
                )
                .unwrap();
                (r.fft_size_in(), r.fft_size_out())
            };
            assert_eq!(sizes(FixedSync::Both), sizes(FixedSync::Input), "{rate} Hz");
        }
    }

    fn sine(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (seconds * f64::from(rate)) as usize;
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    #[test]
    fn a_sine_keeps_its_frequency_phase_and_length() {
        let rate = 44_100;
        let input = sine(440.0, rate, 1.0);
        let out = to_model_input(&input, rate, 1).unwrap();
        assert_eq!(out.len(), 22_050);
        let expected = sine(440.0, SAMPLE_RATE, 1.0);
        // Away from the edges the resampled sine must match the ideal one closely:
        // this checks amplitude, frequency and that the delay was trimmed.
        let max_err = out[1000..21_000]
            .iter()
            .zip(&expected[1000..21_000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_err < 1e-3, "max error {max_err}");
    }

    #[test]
    fn content_above_the_new_nyquist_is_removed() {
        let rate = 48_000;
        let input = sine(15_000.0, rate, 1.0);
        let out = to_model_input(&input, rate, 1).unwrap();
        assert_eq!(out.len(), 22_050);
        let rms = (out[2000..20_000].iter().map(|s| s * s).sum::<f32>() / 18_000.0).sqrt();
        assert!(rms < 1e-3, "aliased energy left: rms {rms}");
    }

    #[test]
    fn stereo_is_averaged_to_mono() {
        let stereo = [1.0f32, 0.0, 0.5, 0.5, -1.0, 1.0];
        assert_eq!(
            to_model_input(&stereo, SAMPLE_RATE, 2).unwrap(),
            vec![0.5, 0.5, 0.0]
        );
    }

    #[test]
    fn upsampling_and_short_clips_work() {
        let out = to_model_input(&sine(100.0, 8_000, 0.5), 8_000, 1).unwrap();
        assert_eq!(out.len(), (4_000usize * 22_050).div_ceil(8_000));
        let out = to_model_input(&[0.25; 3], 44_100, 1).unwrap();
        assert_eq!(out.len(), 2);
        assert!(to_model_input(&[], 44_100, 2).unwrap().is_empty());
    }

    #[test]
    fn invalid_input_is_an_error() {
        assert!(to_model_input(&[0.0; 4], 44_100, 0).is_err());
        assert!(to_model_input(&[0.0; 4], 0, 1).is_err());
        assert!(to_model_input(&[0.0; 3], 44_100, 2).is_err());
        assert!(to_model_input(&[0.0, f32::NAN], 44_100, 1).is_err());
        assert!(to_model_input(&[f32::INFINITY], SAMPLE_RATE, 1).is_err());
        // Past the first blocks and on another thread, and in a multichannel frame.
        let mut long = vec![0.1f32; 2 * 400_000];
        long[2 * 399_000 + 1] = f32::NAN;
        let err = to_model_input(&long, 48_000, 2).unwrap_err().to_string();
        assert!(err.contains("sample 798001 is NaN"), "{err}");
        // Finite samples whose mean overflows: the samples are not to blame.
        for rate in [44_100, SAMPLE_RATE] {
            let err = to_model_input(&[0.5, 0.5, f32::MAX, f32::MAX], rate, 2)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("channel mean of frame 1 overflowed") && !err.contains("NaN"),
                "{rate} Hz: {err}"
            );
        }
        let mut loud = vec![0.1f32; 3 * 400_000];
        loud[3 * 399_000..3 * 399_000 + 3].copy_from_slice(&[3e38, 3e38, -3e38]);
        let err = to_model_input(&loud, 48_000, 3).unwrap_err().to_string();
        assert!(
            err.contains("channel mean of frame 399000 overflowed"),
            "{err}"
        );
        assert!(resample(&loud, 3, 48_000, 4).is_err());
    }

    #[test]
    fn one_channel_at_any_rate_matches_rubato_on_any_thread_count() {
        for (from, to, frames, channels, c) in [
            (48_000, 44_100, 300_007, 2, 1),
            (44_100, 48_000, 250_001, 2, 0),
            (22_050, 44_100, 200_003, 1, 0),
            (8_000, 44_100, 90_001, 3, 2),
            (96_000, 44_100, 400_009, 1, 0),
        ] {
            let samples = test_signal(frames, channels, from, u64::from(from ^ to));
            let channel: Vec<f32> = samples.iter().skip(c).step_by(channels).copied().collect();
            let expected = rubato_f64(&channel, from, to);
            let audio = AudioBuffer::new(&samples[..], from, channels as u16).unwrap();
            let resampler = Resampler::new(from, to).unwrap();
            let single = resampler.process(&audio, Input::Channel(c), 1).unwrap();
            assert_eq!(single.len(), expected.len(), "{from} -> {to}");
            assert_eq!(single.len(), resampler.output_len(frames), "{from} -> {to}");
            let diff = max_diff(&single, &expected);
            assert!(diff < 1e-6, "{from} -> {to}: max difference {diff}");
            for threads in [2, 5] {
                let split = resampler
                    .process(&audio, Input::Channel(c), threads)
                    .unwrap();
                assert_eq!(split, single, "{from} -> {to} on {threads} threads");
            }
        }
    }

    #[test]
    fn even_blocks_leave_no_half_sample_lag() {
        // rubato's own sizing gives odd output blocks for these (1029 and 1911 frames).
        for (from, to) in [(48_000, 22_050), (48_000, 44_100), (22_050, 48_000)] {
            let block = block_frames(from, to);
            let out_block = block * to as usize / from as usize;
            assert!(
                block.is_multiple_of(2) && out_block.is_multiple_of(2),
                "{from} -> {to}"
            );
            let input = sine(1000.0, from, 2.0);
            let audio = AudioBuffer::new(&input[..], from, 1).unwrap();
            let out = super::resample(&audio, to, Input::Mean).unwrap();
            let ideal = sine(1000.0, to, 2.0);
            let n = ideal.len();
            // Half a sample of lag would be an error of about 0.07 here.
            let err = max_diff(&out[n / 4..3 * n / 4], &ideal[n / 4..3 * n / 4]);
            assert!(err < 1e-4, "{from} -> {to}: max error {err}");
        }
    }

    #[test]
    fn equal_rates_pass_the_chosen_signal_through() {
        let stereo = [1.0f32, 0.0, 0.5, 0.5, -1.0, 1.0];
        let audio = AudioBuffer::new(&stereo[..], 44_100, 2).unwrap();
        assert_eq!(
            super::resample(&audio, 44_100, Input::Channel(1)).unwrap(),
            [0.0, 0.5, 1.0]
        );
        assert!(super::resample(&audio, 44_100, Input::Channel(2)).is_err());
        assert!(super::resample(&audio, 10, Input::Mean).is_err());
        let other = Resampler::new(48_000, 44_100).unwrap();
        assert!(other.process(&audio, Input::Mean, 1).is_err());
        // A NaN in the other channel does not matter; one in the chosen channel is named.
        let bad = [f32::NAN, 0.0, 0.0, f32::INFINITY];
        let audio = AudioBuffer::new(&bad[..], 48_000, 2).unwrap();
        let err = other.process(&audio, Input::Channel(1), 1).unwrap_err();
        assert!(err.to_string().contains("sample 3 is NaN"), "{err}");
    }
}
