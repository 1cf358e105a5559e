//! Tempo, beats and meter from an onset envelope: an autocorrelation tempogram weighed by a
//! log-normal tempo prior, beats by dynamic programming (Ellis 2007, as librosa's beat_track),
//! and downbeats and the time signature from the accent pattern over the beats.

/// How tempo and beats are found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RhythmOptions {
    /// The centre of the tempo prior in beats per minute.
    pub prior_bpm: f64,
    /// The prior's width in octaves (one standard deviation of log2 tempo).
    pub prior_octaves: f64,
    /// Slowest tempo considered.
    pub min_bpm: f64,
    /// Fastest tempo considered.
    pub max_bpm: f64,
    /// How strongly beats keep to the tempo (librosa's `tightness`).
    pub tightness: f64,
}

impl Default for RhythmOptions {
    fn default() -> Self {
        RhythmOptions {
            prior_bpm: 120.0,
            prior_octaves: 1.0,
            min_bpm: 40.0,
            max_bpm: 240.0,
            // librosa's default is 100; 400 follows steady produced tempi better (beat F 0.92
            // against 0.90 on the rendered set) and still bends with a drifting one.
            tightness: 400.0,
        }
    }
}

/// Seconds of envelope per tempogram window.
const WINDOW_S: f64 = 8.0;

/// The mean normalised autocorrelation of `env` over windows of [`WINDOW_S`], for lags
/// `0..=max_lag` frames.
pub fn tempogram(env: &[f32], fps: f64, max_lag: usize) -> Vec<f64> {
    tempogram_with(env, fps, max_lag, WINDOW_S)
}

/// [`tempogram`] over windows of `window_s`.
fn tempogram_with(env: &[f32], fps: f64, max_lag: usize, window_s: f64) -> Vec<f64> {
    let w = ((window_s * fps) as usize).clamp(16, env.len().max(16));
    let hop = (w / 4).max(1);
    let mut acc = vec![0.0f64; max_lag + 1];
    let hann = crate::frames::hann(w);
    let mut start = 0usize;
    let mut windows = 0usize;
    loop {
        let end = (start + w).min(env.len());
        if end <= start + max_lag.min(w / 2) {
            break;
        }
        let seg = &env[start..end];
        let mean = seg.iter().map(|&x| f64::from(x)).sum::<f64>() / seg.len() as f64;
        let x: Vec<f64> = seg
            .iter()
            .zip(&hann)
            .map(|(&v, h)| (f64::from(v) - mean) * h)
            .collect();
        let r0: f64 = x.iter().map(|v| v * v).sum();
        if r0 > 1e-12 {
            for (lag, slot) in acc.iter_mut().enumerate() {
                if lag >= x.len() {
                    break;
                }
                let r: f64 = x[..x.len() - lag]
                    .iter()
                    .zip(&x[lag..])
                    .map(|(a, b)| a * b)
                    .sum();
                *slot += r / r0;
            }
            windows += 1;
        }
        if end == env.len() {
            break;
        }
        start += hop;
    }
    // Divide out the window's own autocorrelation, which falls with the lag and would
    // otherwise favour fast tempi.
    let h0: f64 = hann.iter().map(|v| v * v).sum();
    for (lag, v) in acc.iter_mut().enumerate() {
        let hl: f64 = if lag < w {
            hann[..w - lag]
                .iter()
                .zip(&hann[lag..])
                .map(|(a, b)| a * b)
                .sum()
        } else {
            0.0
        };
        *v = if windows > 0 && hl > 0.05 * h0 {
            *v / windows as f64 * h0 / hl
        } else {
            0.0
        };
    }
    acc
}

/// The mean magnitude of the Fourier transform of `env` over windows of [`WINDOW_S`], at the
/// pulse rate of each lag in `lags` (one cycle per lag frames), each window normalised.
fn pulse_spectrum(env: &[f32], fps: f64, lags: &[usize]) -> Vec<f64> {
    let w = ((WINDOW_S * fps) as usize).clamp(16, env.len().max(16));
    let hop = (w / 4).max(1);
    let hann = crate::frames::hann(w);
    let mut acc = vec![0.0f64; lags.len()];
    let mut start = 0usize;
    while start < env.len() {
        let end = (start + w).min(env.len());
        let seg = &env[start..end];
        let mean = seg.iter().map(|&x| f64::from(x)).sum::<f64>() / seg.len() as f64;
        let x: Vec<f64> = seg
            .iter()
            .zip(&hann)
            .map(|(&v, h)| (f64::from(v) - mean) * h)
            .collect();
        let mags: Vec<f64> = lags
            .iter()
            .map(|&lag| {
                let step = 2.0 * std::f64::consts::PI / lag as f64;
                let (mut re, mut im) = (0.0, 0.0);
                for (t, v) in x.iter().enumerate() {
                    let a = step * t as f64;
                    re += v * a.cos();
                    im -= v * a.sin();
                }
                (re * re + im * im).sqrt()
            })
            .collect();
        let peak = mags.iter().cloned().fold(0.0, f64::max);
        if peak > 0.0 {
            for (a, m) in acc.iter_mut().zip(&mags) {
                *a += m / peak;
            }
        }
        if end == env.len() {
            break;
        }
        start += hop;
    }
    acc
}

/// A periodicity's value at a fractional lag, linearly interpolated.
fn at(r: &[f64], lag: f64) -> f64 {
    let i = lag.floor() as usize;
    if i + 1 >= r.len() {
        return r.last().copied().unwrap_or(0.0);
    }
    let f = lag - i as f64;
    r[i] * (1.0 - f) + r[i + 1] * f
}

/// The tempo of `env` in bpm: the lag whose autocorrelation, pulse spectrum, prior and (given
/// `harmonic`, a chord-change curve and its frame rate) bar-level harmony agree best, refined
/// to a fractional lag. `None` when the envelope is too short or has no periodicity.
pub fn estimate_tempo(
    env: &[f32],
    fps: f64,
    harmonic: Option<(&[f32], f64)>,
    o: &RhythmOptions,
) -> Option<f64> {
    let max_lag = (60.0 * fps / o.min_bpm).ceil() as usize + 2;
    let min_lag = ((60.0 * fps / o.max_bpm).floor() as usize).max(1);
    if env.len() < max_lag * 3 {
        return None;
    }
    // Twice the longest period: each candidate's salience also reads its double.
    let r = tempogram(env, fps, 2 * max_lag + 2);
    let prior = |bpm: f64| {
        let z = (bpm / o.prior_bpm).log2() / o.prior_octaves;
        (-0.5 * z * z).exp()
    };
    // Each lag's salience: the autocorrelation, which also peaks at every multiple of the
    // period (half and quarter tempi), times the pulse spectrum, which also peaks at every
    // multiple of the rate (double tempi); only the true period is strong in both (Peeters 2007).
    let lags: Vec<usize> = (min_lag..=max_lag.min(r.len() - 2)).collect();
    // The chord changes' own periodicity, over longer windows: bars are seconds long.
    let bar_periodicity = harmonic.map(|(h, hfps)| {
        let max = (4.0 * 60.0 / o.min_bpm * hfps).ceil() as usize + 2;
        (tempogram_with(h, hfps, max, 2.0 * WINDOW_S), hfps)
    });
    let spectrum = pulse_spectrum(env, fps, &lags);
    let top = spectrum.iter().cloned().fold(0.0, f64::max);
    let mut best: Option<(usize, f64)> = None;
    for (i, &lag) in lags.iter().enumerate() {
        // Local maxima of the periodicity only: a slope is not a tempo.
        if !(r[lag] >= r[lag - 1] && r[lag] >= r[lag + 1]) {
            continue;
        }
        let spec = if top > 0.0 { spectrum[i] / top } else { 0.0 };
        // Harmony changes by the bar: a true beat's bar (three or four beats) repeats the
        // chord changes better than its half bar does; a double tempo's "bar" is a half bar.
        let bar = bar_periodicity.as_ref().map_or(0.0, |(rh, hfps)| {
            let beat_s = lag as f64 / fps;
            [3.0, 4.0]
                .iter()
                .map(|m| at(rh, m * beat_s * hfps) - at(rh, m * beat_s * hfps / 2.0))
                .fold(0.0f64, f64::max)
                .max(0.0)
        });
        // The spectrum's square root: eighth notes must not outvote the beat.
        let s = r[lag].max(0.0) * spec.sqrt() * prior(60.0 * fps / lag as f64) * (0.2 + bar);
        if best.is_none_or(|b| s > b.1) {
            best = Some((lag, s));
        }
    }
    let (lag, score) = best?;
    if score <= 0.0 {
        return None;
    }
    // Parabolic refinement of the peak.
    let (a, b, c) = (r[lag - 1], r[lag], r[lag + 1]);
    let denom = a - 2.0 * b + c;
    let shift = if denom.abs() > 1e-12 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    Some(60.0 * fps / (lag as f64 + shift))
}

/// Beat frames of `env` at `bpm` by dynamic programming: each beat is an onset peak whose
/// distance to the previous beat stays near the period (log-squared deviation times
/// `tightness`); weak beats at either end are trimmed. Frame indices, ascending.
pub fn track_beats(env: &[f32], fps: f64, bpm: f64, tightness: f64) -> Vec<usize> {
    let n = env.len();
    if n < 4 || !(bpm.is_finite() && bpm > 0.0) {
        return vec![];
    }
    let period = 60.0 * fps / bpm;
    let mean = env.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let sd = (env
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64)
        .sqrt();
    if sd <= 1e-12 {
        return vec![];
    }
    // Local score: the normalised envelope smoothed by a Gaussian of width period / 32.
    let half = period.round() as isize;
    let kernel: Vec<f64> = (-half..=half)
        .map(|x| (-0.5 * (x as f64 * 32.0 / period).powi(2)).exp())
        .collect();
    let local: Vec<f64> = (0..n as isize)
        .map(|i| {
            kernel
                .iter()
                .enumerate()
                .filter_map(|(k, w)| {
                    let j = i + k as isize - half;
                    (j >= 0 && (j as usize) < n).then(|| w * f64::from(env[j as usize]) / sd)
                })
                .sum()
        })
        .collect();
    let max_local = local.iter().cloned().fold(0.0, f64::max);
    // Candidate predecessors from two periods to half a period back.
    let lo = (2.0 * period).round() as usize;
    let hi = ((period / 2.0).round() as usize).max(1);
    let offsets: Vec<(usize, f64)> = (hi..=lo)
        .map(|d| (d, -tightness * (d as f64 / period).ln().powi(2)))
        .collect();
    let mut cum = vec![0.0f64; n];
    let mut back: Vec<Option<usize>> = vec![None; n];
    let mut first = true;
    for i in 0..n {
        let mut best = (None, 0.0f64);
        let mut seen = false;
        for &(d, w) in &offsets {
            if d > i {
                continue;
            }
            let s = cum[i - d] + w;
            if !seen || s > best.1 {
                best = (Some(i - d), s);
                seen = true;
            }
        }
        // Before the first onset worth a beat, a frame starts a new chain.
        if !seen || (first && local[i] < 0.01 * max_local) {
            cum[i] = local[i] + if seen { best.1.max(0.0) } else { 0.0 };
            back[i] = None;
        } else {
            cum[i] = local[i] + best.1;
            back[i] = best.0;
            first = false;
        }
    }
    // The last beat: the latest local maximum of the cumulative score above half the median.
    let maxima: Vec<usize> = (1..n - 1)
        .filter(|&i| cum[i] > cum[i - 1] && cum[i] >= cum[i + 1])
        .collect();
    if maxima.is_empty() {
        return vec![];
    }
    let mut scores: Vec<f64> = maxima.iter().map(|&i| cum[i]).collect();
    scores.sort_by(f64::total_cmp);
    let median = scores[scores.len() / 2];
    let Some(&last) = maxima.iter().rev().find(|&&i| 2.0 * cum[i] > median) else {
        return vec![];
    };
    let mut beats = vec![last];
    while let Some(p) = back[*beats.last().unwrap_or(&0)] {
        beats.push(p);
    }
    beats.reverse();
    // Trim weak beats at both ends: below half the RMS of the smoothed local score on beats.
    let on_beats: Vec<f64> = beats.iter().map(|&b| local[b]).collect();
    let hann = [0.25, 0.75, 1.0, 0.75, 0.25];
    let smooth: Vec<f64> = (0..on_beats.len() as isize)
        .map(|i| {
            hann.iter()
                .enumerate()
                .filter_map(|(k, w)| {
                    let j = i + k as isize - 2;
                    (j >= 0 && (j as usize) < on_beats.len()).then(|| w * on_beats[j as usize])
                })
                .sum::<f64>()
        })
        .collect();
    let rms = (smooth.iter().map(|v| v * v).sum::<f64>() / smooth.len() as f64).sqrt();
    let threshold = 0.5 * rms;
    let first_ok = smooth.iter().position(|&v| v >= threshold).unwrap_or(0);
    let last_ok = smooth
        .iter()
        .rposition(|&v| v >= threshold)
        .unwrap_or(smooth.len() - 1);
    let mut kept = beats[first_ok..=last_ok.max(first_ok)].to_vec();
    // And beats in silence at either end, which the smoothing above lends its neighbours' score.
    let mut strengths: Vec<f64> = kept.iter().map(|&b| local[b]).collect();
    strengths.sort_by(f64::total_cmp);
    let floor = 0.1 * strengths.get(strengths.len() / 2).copied().unwrap_or(0.0);
    while kept.len() > 1 && local[kept[0]] < floor {
        kept.remove(0);
    }
    while kept.len() > 1 && local[kept[kept.len() - 1]] < floor {
        kept.pop();
    }
    kept
}

/// The meter the accents imply: beats per bar and the index of the first downbeat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Meter {
    /// Beats per bar (3 or 4).
    pub beats_per_bar: usize,
    /// Index into the beats of the first downbeat (`0..beats_per_bar`).
    pub phase: usize,
}

/// z-scores of `v` (zeros when it is constant).
fn zscores(v: &[f64]) -> Vec<f64> {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    if sd <= 1e-12 {
        return vec![0.0; v.len()];
    }
    v.iter().map(|x| (x - mean) / sd).collect()
}

/// The bar length and downbeat phase whose downbeats stand out most: per beat, the chord
/// change into it (`harmonic`, 0 when unknown), the bass onset and the full-band onset, as
/// z-scores weighted 1, 0.7 and 0.3; for 3 and 4 beats per bar and every phase, the mean on
/// the candidate downbeats less the mean elsewhere. Four wins near-ties, being the commonest.
pub fn meter(accent_all: &[f64], accent_bass: &[f64], harmonic: &[f64]) -> Meter {
    let n = accent_all.len();
    if n < 6 {
        return Meter {
            beats_per_bar: 4,
            phase: 0,
        };
    }
    let (za, zb, zh) = (zscores(accent_all), zscores(accent_bass), zscores(harmonic));
    let f: Vec<f64> = (0..n)
        .map(|i| {
            zh.get(i).copied().unwrap_or(0.0)
                + 0.7 * zb.get(i).copied().unwrap_or(0.0)
                + 0.3 * za[i]
        })
        .collect();
    let mut best = (
        Meter {
            beats_per_bar: 4,
            phase: 0,
        },
        f64::NEG_INFINITY,
    );
    for m in [4usize, 3] {
        for p in 0..m {
            let (mut on, mut non, mut off, mut noff) = (0.0, 0usize, 0.0, 0usize);
            for (i, v) in f.iter().enumerate() {
                if i % m == p {
                    on += v;
                    non += 1;
                } else {
                    off += v;
                    noff += 1;
                }
            }
            let contrast = on / non.max(1) as f64 - off / noff.max(1) as f64;
            // Three must beat four clearly: a 4/4 bar's halves also look like accents.
            let score = if m == 3 { contrast - 0.15 } else { contrast };
            if score > best.1 {
                best = (
                    Meter {
                        beats_per_bar: m,
                        phase: p,
                    },
                    score,
                );
            }
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An envelope with a pulse every `period` frames, accented every `bar` pulses.
    fn pulses(len: usize, period: f64, bar: usize, offbeats: f32) -> Vec<f32> {
        let mut e = vec![0.02f32; len];
        let mut k = 0usize;
        loop {
            let t = (k as f64 * period).round() as usize + 5;
            if t >= len {
                break;
            }
            e[t] = if k.is_multiple_of(bar) { 1.0 } else { 0.6 };
            let mid = (t as f64 + period / 2.0).round() as usize;
            if mid < len {
                e[mid] = offbeats;
            }
            k += 1;
        }
        e
    }

    #[test]
    fn tempo_and_beats_of_a_pulse_train() {
        let fps = crate::onset::frame_rate();
        for bpm in [72.0, 100.0, 128.0, 150.0] {
            let period = 60.0 * fps / bpm;
            let env = pulses((30.0 * fps) as usize, period, 4, 0.2);
            let t = estimate_tempo(&env, fps, None, &RhythmOptions::default()).unwrap();
            assert!((t / bpm - 1.0).abs() < 0.02, "{bpm}: {t}");
            let beats = track_beats(&env, fps, t, 100.0);
            assert!(
                beats.len() as f64 > 0.9 * 30.0 * bpm / 60.0,
                "{bpm}: {}",
                beats.len()
            );
            for b in &beats {
                let k = ((*b as f64 - 5.0) / period).round();
                let on = k * period + 5.0;
                assert!(
                    (*b as f64 - on).abs() <= 2.0,
                    "{bpm}: beat at {b}, pulse at {on}"
                );
            }
        }
    }

    #[test]
    fn meter_follows_the_accents() {
        for (bar, phase) in [(3usize, 1usize), (4, 2), (4, 0), (3, 0)] {
            let n = 48;
            let a: Vec<f64> = (0..n)
                .map(|i| if i % bar == phase { 1.0 } else { 0.3 })
                .collect();
            let h: Vec<f64> = (0..n)
                .map(|i| if i % bar == phase { 0.8 } else { 0.1 })
                .collect();
            let m = meter(&a, &a, &h);
            assert_eq!((m.beats_per_bar, m.phase), (bar, phase));
        }
    }
}
