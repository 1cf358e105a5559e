//! A short-time Fourier transform with perfect reconstruction, for mask-based separation.
//!
//! Frames are centred (the signal is padded by half a window on each side, as
//! librosa's `center=True`), the analysis and synthesis windows are both a
//! periodic Hann, and the inverse divides by the summed squared window, so
//! `istft(stft(x)) == x` up to float error for any hop up to half the window.
//! That is what lets masks that sum to one give stems that sum to the mixture.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Window length, hop and the FFT plans for them.
pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

/// A one-channel spectrogram, frame-major: `frames` rows of `bins` values.
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrogram {
    /// Number of frames.
    pub frames: usize,
    /// Bins per frame (`n_fft / 2 + 1`).
    pub bins: usize,
    /// `frames * bins` complex values.
    pub data: Vec<Complex32>,
}

impl Stft {
    /// Plans a transform with window `n_fft` (even, ≥ 4) and hop `hop` (1..=n_fft/2).
    pub fn new(n_fft: usize, hop: usize) -> Self {
        let n_fft = n_fft.max(4) & !1;
        let hop = hop.clamp(1, n_fft / 2);
        let mut planner = RealFftPlanner::<f32>::new();
        let window = (0..n_fft)
            .map(|i| {
                let x = std::f32::consts::PI * i as f32 / n_fft as f32;
                x.sin() * x.sin()
            })
            .collect();
        Stft {
            n_fft,
            hop,
            window,
            forward: planner.plan_fft_forward(n_fft),
            inverse: planner.plan_fft_inverse(n_fft),
        }
    }

    /// Window length in samples.
    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    /// Hop in samples.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Bins per frame.
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frames a signal of `len` samples gets: enough that every sample is covered by full windows.
    pub fn frames_for(&self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        // The padded signal is len + n_fft long (half a window each side).
        len.div_ceil(self.hop) + 1
    }

    /// The spectrogram of `signal` (one channel).
    pub fn forward(&self, signal: &[f32]) -> Spectrogram {
        let frames = self.frames_for(signal.len());
        let bins = self.bins();
        let mut data = vec![Complex32::new(0.0, 0.0); frames * bins];
        let mut input = self.forward.make_input_vec();
        let mut scratch = self.forward.make_scratch_vec();
        let half = self.n_fft / 2;
        for (t, out) in data.chunks_exact_mut(bins).enumerate() {
            // Sample index of the frame's first window position, in unpadded coordinates.
            let start = (t * self.hop) as isize - half as isize;
            if start >= 0 && start as usize + self.n_fft <= signal.len() {
                // Interior frames (nearly all): a plain zip the compiler vectorises.
                let frame = &signal[start as usize..start as usize + self.n_fft];
                for ((slot, x), w) in input.iter_mut().zip(frame).zip(&self.window) {
                    *slot = x * w;
                }
            } else {
                for (i, slot) in input.iter_mut().enumerate() {
                    let idx = start + i as isize;
                    *slot = if idx >= 0 && (idx as usize) < signal.len() {
                        signal[idx as usize] * self.window[i]
                    } else {
                        0.0
                    };
                }
            }
            // Lengths come from the plan itself, so this cannot fail.
            let _ = self
                .forward
                .process_with_scratch(&mut input, out, &mut scratch);
        }
        Spectrogram { frames, bins, data }
    }

    /// Resynthesises `len` samples from frames given by `frame(t, out)`, which fills frame `t`'s bins.
    ///
    /// Taking frames through a closure lets callers apply a mask on the fly
    /// instead of building a masked copy of the whole spectrogram.
    pub fn inverse_with(
        &self,
        frames: usize,
        len: usize,
        frame: &mut dyn FnMut(usize, &mut [Complex32]),
    ) -> Vec<f32> {
        let half = self.n_fft / 2;
        let padded = frames.saturating_sub(1) * self.hop + self.n_fft;
        let mut acc = vec![0.0f32; padded.max(len + self.n_fft)];
        let mut spectrum = self.inverse.make_input_vec();
        let mut output = self.inverse.make_output_vec();
        let mut scratch = self.inverse.make_scratch_vec();
        // The FFT's 1/n and the synthesis window in one multiplier per sample.
        let scale = 1.0 / self.n_fft as f32;
        let synthesis: Vec<f32> = self.window.iter().map(|w| w * scale).collect();
        for t in 0..frames {
            frame(t, &mut spectrum);
            // A real signal's DC and Nyquist bins are real; masks keep them so, rounding may not.
            spectrum[0].im = 0.0;
            if let Some(last) = spectrum.last_mut() {
                last.im = 0.0;
            }
            let _ = self
                .inverse
                .process_with_scratch(&mut spectrum, &mut output, &mut scratch);
            let start = t * self.hop;
            for ((a, y), w) in acc[start..start + self.n_fft]
                .iter_mut()
                .zip(&output)
                .zip(&synthesis)
            {
                *a += y * w;
            }
        }
        let norm = self.window_norm(frames, acc.len());
        (0..len)
            .map(|i| {
                let n = norm[i + half];
                if n > 1e-8 {
                    acc[i + half] / n
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The summed squared window of `frames` frames, which the overlap-add divides by.
    fn window_norm(&self, frames: usize, len: usize) -> Vec<f32> {
        let mut norm = vec![0.0f32; len];
        for t in 0..frames {
            let start = t * self.hop;
            for (n, w) in norm[start..start + self.n_fft].iter_mut().zip(&self.window) {
                *n += w * w;
            }
        }
        norm
    }

    /// The inverse of [`Stft::forward`] for an unmodified spectrogram.
    pub fn inverse(&self, spec: &Spectrogram, len: usize) -> Vec<f32> {
        let bins = spec.bins;
        self.inverse_with(spec.frames, len, &mut |t, out| {
            out.copy_from_slice(&spec.data[t * bins..(t + 1) * bins])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::noise;

    #[test]
    fn round_trip_is_exact_for_any_length() {
        for (n_fft, hop) in [(2048, 512), (1024, 256), (16, 8), (64, 16)] {
            let stft = Stft::new(n_fft, hop);
            for len in [0, 1, 7, hop, n_fft - 1, n_fft, n_fft + 1, 10 * n_fft + 3] {
                let x = noise(len, len as u32 + 1);
                let spec = stft.forward(&x);
                assert_eq!(spec.frames, stft.frames_for(len));
                let y = stft.inverse(&spec, len);
                assert_eq!(y.len(), len);
                let err = x
                    .iter()
                    .zip(&y)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(
                    err < 1e-5,
                    "n_fft {n_fft} hop {hop} len {len}: max error {err}"
                );
            }
        }
    }

    #[test]
    fn a_sine_lands_in_its_bin() {
        let stft = Stft::new(2048, 512);
        let rate = 44_100.0;
        let f = 1000.0;
        let x: Vec<f32> = (0..44_100)
            .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / rate).sin())
            .collect();
        let spec = stft.forward(&x);
        let t = spec.frames / 2;
        let row = &spec.data[t * spec.bins..(t + 1) * spec.bins];
        let peak = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.norm().total_cmp(&b.1.norm()))
            .map(|(i, _)| i)
            .unwrap();
        let expected = (f * 2048.0 / rate).round() as usize;
        assert!(
            peak.abs_diff(expected) <= 1,
            "peak bin {peak}, expected {expected}"
        );
    }
}
