//! Reference implementations and signals for tests of this crate and the model crates (feature `testing`).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use crate::resample::block_frames;

/// The version of `scripts/separation_set.py` (its `GENERATOR_VERSION`) the tests expect.
pub const SEPARATION_SET_VERSION: u32 = 1;

/// Where `scripts/separation_set.sh` renders the multitrack test set: `$CODA_SEPARATION_SET`,
/// else `${XDG_CACHE_HOME:-~/.cache}/coda-tests/separation-set-v1`, outside any clone.
pub fn separation_set_dir() -> std::path::PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("CODA_SEPARATION_SET") {
        return dir.into();
    }
    let cache = var("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| std::path::PathBuf::from(".cache"));
    cache
        .join("coda-tests")
        .join(format!("separation-set-v{SEPARATION_SET_VERSION}"))
}

/// `n` samples of uniform noise in -0.5..0.5 from a fixed LCG, the same for the same `seed`.
pub fn noise(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// rubato's own `process_all` over one channel, in f64, with the shared block sizing: what [`crate::Resampler`] must match.
pub fn rubato_resample(signal: &[f32], from: u32, to: u32) -> Vec<f32> {
    let input: Vec<f64> = signal.iter().map(|&s| f64::from(s)).collect();
    let mut resampler = Fft::<f64>::new_custom(
        from as usize,
        to as usize,
        block_frames(from, to),
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .expect("rubato resampler");
    let adapter = InterleavedSlice::new(&input, 1, input.len()).expect("rubato input");
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .expect("rubato resampling");
    output.take_data().into_iter().map(|s| s as f32).collect()
}
