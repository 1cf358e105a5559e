//! What the analysis' spectrograms and tempograms share: the periodic Hann window and one
//! centred, windowed, zero-padded frame of a signal.

/// The periodic Hann window of `n` points (sin² of π i / n).
pub fn hann(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let x = std::f64::consts::PI * i as f64 / n as f64;
            x.sin() * x.sin()
        })
        .collect()
}

/// Fills `out` with the frame of `samples` centred on sample `centre`, times `window`
/// (`out`'s length), zeros outside the signal.
pub fn windowed_frame(samples: &[f32], centre: usize, window: &[f32], out: &mut [f32]) {
    let start = centre as isize - (out.len() / 2) as isize;
    for (i, (slot, w)) in out.iter_mut().zip(window).enumerate() {
        let idx = start + i as isize;
        *slot = if idx >= 0 && (idx as usize) < samples.len() {
            samples[idx as usize] * w
        } else {
            0.0
        };
    }
}
