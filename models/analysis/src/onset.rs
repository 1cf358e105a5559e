//! The onset-strength envelope: log-mel spectral flux, for the whole band and for the bass.

use realfft::RealFftPlanner;

use crate::SAMPLE_RATE;

/// FFT size of the onset spectrogram (93 ms at 22,050 Hz).
const N_FFT: usize = 2048;
/// Hop between onset frames (11.6 ms): the beat times' resolution.
pub const HOP: usize = 256;
/// Mel bands.
const BANDS: usize = 64;
/// Bands whose centre is below this are the bass band (kick drum and bass line), which marks
/// downbeats.
const BASS_HZ: f64 = 200.0;

/// Onset frames per second.
pub fn frame_rate() -> f64 {
    SAMPLE_RATE as f64 / HOP as f64
}

/// The onset envelopes of one signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Onsets {
    /// Spectral flux over every band, one value per [`HOP`] samples; frame `i` is at `i * HOP`.
    pub all: Vec<f32>,
    /// The same over the bass bands only.
    pub bass: Vec<f32>,
}

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// Triangular mel filters over the FFT bins: (first bin, weights) per band, and band centres.
fn mel_filters() -> (Vec<(usize, Vec<f32>)>, Vec<f64>) {
    let bins = N_FFT / 2 + 1;
    let df = SAMPLE_RATE as f64 / N_FFT as f64;
    let (lo, hi) = (hz_to_mel(30.0), hz_to_mel(8000.0));
    let edges: Vec<f64> = (0..BANDS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (BANDS + 1) as f64))
        .collect();
    let mut filters = Vec::with_capacity(BANDS);
    let mut centres = Vec::with_capacity(BANDS);
    for b in 0..BANDS {
        let (l, c, r) = (edges[b], edges[b + 1], edges[b + 2]);
        let first = ((l / df).floor() as usize).min(bins - 1);
        let last = ((r / df).ceil() as usize).min(bins - 1);
        let mut w = Vec::with_capacity(last - first + 1);
        for j in first..=last {
            let f = j as f64 * df;
            let v = if f <= c {
                (f - l) / (c - l).max(1e-9)
            } else {
                (r - f) / (r - c).max(1e-9)
            };
            w.push(v.max(0.0) as f32);
        }
        // A band narrower than a bin still gets its nearest bin.
        if w.iter().all(|v| *v == 0.0) {
            let j = ((c / df).round() as usize).clamp(first, last);
            w[j - first] = 1.0;
        }
        filters.push((first, w));
        centres.push(c);
    }
    (filters, centres)
}

/// The onset envelopes of `samples` (mono, [`SAMPLE_RATE`]), spread over `threads`.
pub fn onsets(samples: &[f32], threads: usize) -> Result<Onsets, coda_dsp::DspError> {
    let frames = samples.len().div_ceil(HOP) + 1;
    if samples.is_empty() {
        return Ok(Onsets {
            all: vec![],
            bass: vec![],
        });
    }
    let (filters, centres) = mel_filters();
    let window: Vec<f32> = crate::frames::hann(N_FFT)
        .iter()
        .map(|&w| w as f32)
        .collect();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
    let indices: Vec<usize> = (0..frames).collect();
    // Log-mel power per frame, BANDS values each.
    let mel: Vec<Vec<f32>> = coda_dsp::parallel::map_chunks("onset", &indices, threads, |chunk| {
        let mut input = fft.make_input_vec();
        let mut output = fft.make_output_vec();
        let mut scratch = fft.make_scratch_vec();
        chunk
            .iter()
            .map(|&t| {
                crate::frames::windowed_frame(samples, t * HOP, &window, &mut input);
                let _ = fft.process_with_scratch(&mut input, &mut output, &mut scratch);
                filters
                    .iter()
                    .map(|(first, w)| {
                        let p: f32 = w
                            .iter()
                            .zip(&output[*first..])
                            .map(|(w, c)| w * c.norm_sqr())
                            .sum();
                        10.0 * p.max(1e-10).log10()
                    })
                    .collect::<Vec<f32>>()
            })
            .collect::<Vec<Vec<f32>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    // 80 dB below the loudest band value is the floor, as librosa's power_to_db(top_db=80).
    let top = mel
        .iter()
        .flat_map(|f| f.iter().copied())
        .fold(f32::NEG_INFINITY, f32::max);
    let floor = top - 80.0;
    let bass_bands = centres.iter().filter(|c| **c < BASS_HZ).count().max(1);
    let mut all = vec![0.0f32; mel.len()];
    let mut bass = vec![0.0f32; mel.len()];
    for t in 1..mel.len() {
        let (prev, cur) = (&mel[t - 1], &mel[t]);
        let mut sum = 0.0;
        let mut low = 0.0;
        for b in 0..BANDS {
            let d = (cur[b].max(floor) - prev[b].max(floor)).max(0.0);
            sum += d;
            if b < bass_bands {
                low += d;
            }
        }
        all[t] = sum / BANDS as f32;
        bass[t] = low / bass_bands as f32;
    }
    Ok(Onsets { all, bass })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_make_peaks_where_they_are() {
        let mut s = vec![0.0f32; SAMPLE_RATE as usize * 2];
        for k in 0..4 {
            let at = (k as f64 * 0.5 * SAMPLE_RATE as f64) as usize + 1000;
            for (i, x) in s[at..at + 400].iter_mut().enumerate() {
                *x = (i as f32 * 0.3).sin() * 0.5;
            }
        }
        let o = onsets(&s, 2).unwrap();
        assert_eq!(o.all.len(), s.len().div_ceil(HOP) + 1);
        for k in 0..4 {
            let at = ((k as f64 * 0.5 * SAMPLE_RATE as f64) as usize + 1000) / HOP;
            let peak = (at.saturating_sub(6)..at + 6)
                .max_by(|a, b| o.all[*a].total_cmp(&o.all[*b]))
                .unwrap();
            assert!(
                peak.abs_diff(at) <= 5,
                "click {k} at frame {at}, peak at {peak}"
            );
            assert!(o.all[peak] > 1.0);
        }
        // Between clicks the envelope is quiet.
        let mid = ((0.25 * SAMPLE_RATE as f64) as usize + 1000) / HOP + 6;
        assert!(o.all[mid] < 0.1, "{}", o.all[mid]);
    }
}
