//! Conversion of arbitrary PCM to the network's mono 22050 Hz input.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use super::SAMPLE_RATE;
use crate::error::ModelError;

/// Input frames per FFT block: long enough for a steep anti-aliasing filter
/// (rubato's cutoff fit is made for 32..2048 points), short enough to stay cheap.
const FFT_CHUNK: usize = 2048;
/// Rates outside this range are not audio we can sensibly resample (and a
/// rate coprime with 22050 sizes the FFT by the rate itself).
const MIN_RATE: u32 = 1_000;
const MAX_RATE: u32 = 384_000;

/// Checks that `len` interleaved samples at `rate` with `channels` are PCM we can work on.
pub(crate) fn check_layout(len: usize, rate: u32, channels: u16) -> Result<(), ModelError> {
    if channels == 0 {
        return Err(ModelError::InvalidAudio("zero channels".into()));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(ModelError::InvalidAudio(format!(
            "sample rate {rate} Hz is outside {MIN_RATE}..={MAX_RATE} Hz"
        )));
    }
    if !len.is_multiple_of(usize::from(channels)) {
        return Err(ModelError::InvalidAudio(format!(
            "{len} samples do not divide into {channels} channels"
        )));
    }
    Ok(())
}

/// Downmixes interleaved samples to mono (channel mean, as librosa) and resamples to 22050 Hz.
///
/// The resampler is rubato's synchronous FFT resampler with its delay trimmed,
/// so the output is `ceil(frames * 22050 / rate)` samples long and aligned with
/// the input, as librosa's is.
pub fn to_model_input(
    samples_interleaved: &[f32],
    rate: u32,
    channels: u16,
) -> Result<Vec<f32>, ModelError> {
    check_layout(samples_interleaved.len(), rate, channels)?;
    let channels = usize::from(channels);
    if let Some(i) = samples_interleaved.iter().position(|s| !s.is_finite()) {
        return Err(ModelError::InvalidAudio(format!(
            "sample {i} is NaN or infinite"
        )));
    }
    let mono: Vec<f32> = if channels == 1 {
        samples_interleaved.to_vec()
    } else {
        samples_interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect()
    };
    if rate == SAMPLE_RATE || mono.is_empty() {
        return Ok(mono);
    }
    resample(&mono, rate)
}

fn resample(mono: &[f32], rate: u32) -> Result<Vec<f32>, ModelError> {
    let err = |e: &dyn std::fmt::Display| ModelError::InvalidAudio(format!("resampling: {e}"));
    let input: Vec<f64> = mono.iter().map(|&s| f64::from(s)).collect();
    let mut resampler = Fft::<f64>::new_custom(
        rate as usize,
        SAMPLE_RATE as usize,
        FFT_CHUNK,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .map_err(|e| err(&e))?;
    let adapter = InterleavedSlice::new(&input, 1, input.len()).map_err(|e| err(&e))?;
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .map_err(|e| err(&e))?;
    Ok(output.take_data().into_iter().map(|s| s as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
