//! NNLS chroma, after Mauch and Dixon (2010) and their Chordino: a log-frequency spectrum with
//! three bins per semitone, tuned to the recording, whitened, then explained as a non-negative
//! sum of harmonic note templates; the note activations fold into treble and bass chroma.

use realfft::RealFftPlanner;

use crate::SAMPLE_RATE;

/// FFT size of the chroma spectrogram (372 ms at 22,050 Hz: 2.7 Hz per bin).
const N_FFT: usize = 8192;
/// Hop between chroma frames (46 ms).
pub const HOP: usize = 1024;
/// The lowest note (A0).
const LOW_MIDI: f64 = 21.0;
/// Notes in the dictionary: A0 up to G#7.
pub const NOTES: usize = 84;
/// Log-frequency bins: three per semitone.
const BINS: usize = NOTES * 3;
/// Harmonics per note template, and each one's amplitude relative to the last.
const HARMONICS: usize = 20;
const SHAPE: f64 = 0.7;
/// Coordinate-descent sweeps of the NNLS per frame.
const SWEEPS: usize = 24;

/// Chroma frames per second.
pub fn frame_rate() -> f64 {
    SAMPLE_RATE as f64 / HOP as f64
}

/// The chroma of one signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Chroma {
    /// The tuning found, in cents from A = 440 Hz.
    pub tuning_cents: f64,
    /// Per frame: the 84 note activations (A0 first); frame `i` is centred at `i * HOP`.
    pub notes: Vec<[f32; NOTES]>,
}

/// Sparse triangular kernels from FFT bins to log-frequency bins centred on `reference_hz`'s grid.
fn log_kernel(reference_hz: f64) -> Vec<(usize, Vec<f32>)> {
    let df = SAMPLE_RATE as f64 / N_FFT as f64;
    let fft_bins = N_FFT / 2 + 1;
    (0..BINS)
        .map(|k| {
            // Bin 3n + 1 is note n's centre.
            let midi = LOW_MIDI + (k as f64 - 1.0) / 3.0;
            let f = reference_hz * 2f64.powf((midi - 69.0) / 12.0);
            let width = (f * (2f64.powf(1.0 / 36.0) - 1.0)).max(df);
            let first = (((f - width) / df).floor().max(0.0) as usize).min(fft_bins - 1);
            let last = (((f + width) / df).ceil() as usize).min(fft_bins - 1);
            let w: Vec<f32> = (first..=last)
                .map(|j| (1.0 - (j as f64 * df - f).abs() / width).max(0.0) as f32)
                .collect();
            let total: f32 = w.iter().sum();
            (first, w.iter().map(|v| v / total.max(1e-9)).collect())
        })
        .collect()
}

/// The log-frequency spectrum of one magnitude spectrum.
fn apply(kernel: &[(usize, Vec<f32>)], mag: &[f32], out: &mut [f32]) {
    for (o, (first, w)) in out.iter_mut().zip(kernel) {
        *o = w.iter().zip(&mag[*first..]).map(|(a, b)| a * b).sum();
    }
}

/// The harmonic template of each note over the log-frequency bins, and its Gram matrix.
struct Dictionary {
    /// `BINS` rows × `NOTES` columns, row-major.
    atoms: Vec<f64>,
    /// AᵀA, `NOTES` × `NOTES`.
    gram: Vec<f64>,
}

fn dictionary() -> Dictionary {
    let mut atoms = vec![0.0f64; BINS * NOTES];
    for n in 0..NOTES {
        for h in 1..=HARMONICS {
            let pos = (3 * n + 1) as f64 + 36.0 * (h as f64).log2();
            if pos >= (BINS - 1) as f64 {
                break;
            }
            let amp = SHAPE.powi(h as i32 - 1);
            let i = pos.floor() as usize;
            let f = pos - i as f64;
            atoms[i * NOTES + n] += amp * (1.0 - f);
            atoms[(i + 1) * NOTES + n] += amp * f;
        }
    }
    let mut gram = vec![0.0f64; NOTES * NOTES];
    for a in 0..NOTES {
        for b in 0..NOTES {
            gram[a * NOTES + b] = (0..BINS)
                .map(|k| atoms[k * NOTES + a] * atoms[k * NOTES + b])
                .sum();
        }
    }
    Dictionary { atoms, gram }
}

/// Subtracts a running mean and divides by a running deviation, both two octaves wide, and keeps
/// what rises above the mean: the spectrum's peaks, level across the registers.
fn whiten(y: &mut [f32]) {
    // Two octaves wide (chosen on the rendered chord set: one octave scored 0.85 majmin, two 0.88).
    const HALF: usize = 36;
    let n = y.len();
    let mut prefix = vec![0.0f64; n + 1];
    let mut prefix2 = vec![0.0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + f64::from(y[i]);
        prefix2[i + 1] = prefix2[i] + f64::from(y[i]).powi(2);
    }
    let orig: Vec<f32> = y.to_vec();
    for i in 0..n {
        let (a, b) = (i.saturating_sub(HALF), (i + HALF + 1).min(n));
        let c = (b - a) as f64;
        let mean = (prefix[b] - prefix[a]) / c;
        let var = ((prefix2[b] - prefix2[a]) / c - mean * mean).max(0.0);
        let sd = var.sqrt();
        let v = f64::from(orig[i]) - mean;
        y[i] = if v > 0.0 && sd > 1e-9 {
            (v / sd) as f32
        } else {
            0.0
        };
    }
}

/// Non-negative least squares by coordinate descent on the normal equations, from `x` (a warm
/// start, the previous frame's activations).
fn nnls(dict: &Dictionary, y: &[f32], x: &mut [f64]) {
    let mut aty = [0.0f64; NOTES];
    for (k, &v) in y.iter().enumerate() {
        if v == 0.0 {
            continue;
        }
        let row = &dict.atoms[k * NOTES..(k + 1) * NOTES];
        for (a, r) in aty.iter_mut().zip(row) {
            *a += r * f64::from(v);
        }
    }
    // grad = AᵀA x - Aᵀy, kept up to date as coordinates move.
    let mut grad = [0.0f64; NOTES];
    for i in 0..NOTES {
        let g = &dict.gram[i * NOTES..(i + 1) * NOTES];
        grad[i] = g.iter().zip(x.iter()).map(|(a, b)| a * b).sum::<f64>() - aty[i];
    }
    for _ in 0..SWEEPS {
        for i in 0..NOTES {
            let gii = dict.gram[i * NOTES + i];
            if gii <= 0.0 {
                continue;
            }
            let new = (x[i] - grad[i] / gii).max(0.0);
            let d = new - x[i];
            if d != 0.0 {
                x[i] = new;
                let g = &dict.gram[i * NOTES..(i + 1) * NOTES];
                for (gr, gi) in grad.iter_mut().zip(g) {
                    *gr += gi * d;
                }
            }
        }
    }
}

/// Magnitude spectra of the frames `frames` of `samples`, handed to `each` one at a time.
fn spectra(samples: &[f32], frames: &[usize], mut each: impl FnMut(usize, &[f32])) {
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
    let window: Vec<f32> = crate::frames::hann(N_FFT)
        .iter()
        .map(|&w| w as f32)
        .collect();
    let mut input = fft.make_input_vec();
    let mut output = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut mag = vec![0.0f32; N_FFT / 2 + 1];
    for &t in frames {
        crate::frames::windowed_frame(samples, t * HOP, &window, &mut input);
        let _ = fft.process_with_scratch(&mut input, &mut output, &mut scratch);
        for (m, c) in mag.iter_mut().zip(&output) {
            *m = c.norm();
        }
        each(t, &mag);
    }
}

/// The tuning of `samples` in cents from 440 Hz: the phase of the three-bins-per-semitone
/// pattern in the mean log-frequency spectrum of a frame in four.
fn tuning(samples: &[f32], frames: usize, threads: usize) -> Result<f64, coda_dsp::DspError> {
    let kernel = log_kernel(440.0);
    let picked: Vec<usize> = (0..frames).step_by(4).collect();
    let sums = coda_dsp::parallel::map_chunks("tuning", &picked, threads, |chunk| {
        let mut sum = vec![0.0f64; BINS];
        let mut y = vec![0.0f32; BINS];
        spectra(samples, chunk, |_, mag| {
            apply(&kernel, mag, &mut y);
            for (s, v) in sum.iter_mut().zip(&y) {
                *s += f64::from(*v);
            }
        });
        sum
    })?;
    let mut total = vec![0.0f64; BINS];
    for s in sums {
        for (t, v) in total.iter_mut().zip(s) {
            *t += v;
        }
    }
    let (mut re, mut im) = (0.0, 0.0);
    for (k, v) in total.iter().enumerate() {
        // Bin 3n + 1 is in tune: phase 0 there.
        let phase = 2.0 * std::f64::consts::PI * (k as f64 - 1.0) / 3.0;
        re += v * phase.cos();
        im += v * phase.sin();
    }
    if re == 0.0 && im == 0.0 {
        return Ok(0.0);
    }
    // The pattern repeats every semitone (three bins): a phase of 2π is 100 cents.
    Ok(100.0 * im.atan2(re) / (2.0 * std::f64::consts::PI))
}

/// The NNLS chroma of `samples` (mono, [`SAMPLE_RATE`]), spread over `threads`.
pub fn chroma(samples: &[f32], threads: usize) -> Result<Chroma, coda_dsp::DspError> {
    if samples.is_empty() {
        return Ok(Chroma {
            tuning_cents: 0.0,
            notes: vec![],
        });
    }
    let frames = samples.len().div_ceil(HOP) + 1;
    let tuning_cents = tuning(samples, frames, threads)?;
    let kernel = log_kernel(440.0 * 2f64.powf(tuning_cents / 1200.0));
    let dict = dictionary();
    let indices: Vec<usize> = (0..frames).collect();
    let parts = coda_dsp::parallel::map_chunks("chroma", &indices, threads, |chunk| {
        let mut y = vec![0.0f32; BINS];
        let mut x = vec![0.0f64; NOTES];
        let mut out: Vec<[f32; NOTES]> = Vec::with_capacity(chunk.len());
        spectra(samples, chunk, |_, mag| {
            apply(&kernel, mag, &mut y);
            whiten(&mut y);
            nnls(&dict, &y, &mut x);
            let mut a = [0.0f32; NOTES];
            for (o, v) in a.iter_mut().zip(&x) {
                *o = *v as f32;
            }
            out.push(a);
        });
        out
    })?;
    Ok(Chroma {
        tuning_cents,
        notes: parts.into_iter().flatten().collect(),
    })
}

/// How much note `n` (0 = A0) counts in the bass chroma: a raised cosine over E1..B3.
fn bass_weight(n: usize) -> f64 {
    let midi = LOW_MIDI + n as f64;
    let d = (midi - 40.0) / 19.0;
    if d.abs() >= 1.0 {
        0.0
    } else {
        (std::f64::consts::FRAC_PI_2 * d).cos().powi(2)
    }
}

/// How much note `n` counts in the treble chroma: rising over G2..G3, flat, falling above C7.
fn treble_weight(n: usize) -> f64 {
    let midi = LOW_MIDI + n as f64;
    if midi < 43.0 {
        0.0
    } else if midi < 55.0 {
        (midi - 43.0) / 12.0
    } else if midi <= 96.0 {
        1.0
    } else {
        (1.0 - (midi - 96.0) / 12.0).max(0.0)
    }
}

/// One frame's treble and bass chroma (0 = C).
pub fn fold(notes: &[f32; NOTES]) -> ([f64; 12], [f64; 12]) {
    let mut treble = [0.0; 12];
    let mut bass = [0.0; 12];
    for (n, &a) in notes.iter().enumerate() {
        // A0 is pitch class 9.
        let pc = (n + 9) % 12;
        treble[pc] += treble_weight(n) * f64::from(a);
        bass[pc] += bass_weight(n) * f64::from(a);
    }
    (treble, bass)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A harmonic tone at `midi`, `seconds` long, detuned by `cents`.
    fn tone(midis: &[f64], cents: f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * SAMPLE_RATE as f64) as usize;
        let mut s = vec![0.0f32; n];
        for &m in midis {
            let f0 = 440.0 * 2f64.powf((m - 69.0) / 12.0 + cents / 1200.0);
            for h in 1..8 {
                let f = f0 * h as f64;
                if f > 10_000.0 {
                    break;
                }
                let amp = 0.2 * 0.6f64.powi(h - 1);
                for (i, x) in s.iter_mut().enumerate() {
                    *x += (amp
                        * (2.0 * std::f64::consts::PI * f * i as f64 / SAMPLE_RATE as f64).sin())
                        as f32;
                }
            }
        }
        s
    }

    #[test]
    fn a_chord_lights_its_notes_and_the_tuning_is_found() {
        for cents in [0.0, 30.0, -25.0] {
            // C major: C3 E4 G4 C5.
            let s = tone(&[48.0, 64.0, 67.0, 72.0], cents, 2.0);
            let c = chroma(&s, 2).unwrap();
            assert!(
                (c.tuning_cents - cents).abs() < 8.0,
                "{cents}: {}",
                c.tuning_cents
            );
            let mid = &c.notes[c.notes.len() / 2];
            let (treble, bass) = fold(mid);
            let mut order: Vec<usize> = (0..12).collect();
            order.sort_by(|a, b| treble[*b].total_cmp(&treble[*a]));
            let top: std::collections::BTreeSet<usize> = order[..3].iter().copied().collect();
            assert_eq!(top, [0, 4, 7].into_iter().collect(), "{cents}: {treble:?}");
            let b = (0..12)
                .max_by(|a, c| bass[*a].total_cmp(&bass[*c]))
                .unwrap();
            assert_eq!(b, 0, "{cents}: {bass:?}");
        }
    }
}
