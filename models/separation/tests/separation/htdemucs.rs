//! HT-Demucs through the real ONNX Runtime, with a stand-in model of the same
//! signature whose stems are known gains of the input (`onnx_graph::gain_model`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use coda_model_runtime::install::{locate, locate_runtime};
use coda_separation::htdemucs::{separate_htdemucs, HtDemucsModel, CHUNK, OVERLAP, SAMPLE_RATE};
use coda_separation::onnx_graph::gain_model;
use coda_separation::{Device, ModelError, RuntimeOptions, Stem, Stems};

/// Model order: drums, bass, other, vocals; (left, right) gain each.
const GAINS: [[f32; 2]; 4] = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]];

fn gain_of(stem: Stem) -> [f32; 2] {
    match stem {
        Stem::Drums => GAINS[0],
        Stem::Bass => GAINS[1],
        Stem::Other => GAINS[2],
        Stem::Vocals => GAINS[3],
    }
}

fn models_dir() -> PathBuf {
    coda_model_runtime::default_models_dir()
}

fn runtime() -> PathBuf {
    let dir = models_dir();
    locate_runtime(&dir).unwrap_or_else(|e| {
        panic!(
            "ONNX Runtime is not installed in {}: {e}\n\
             run `cargo run -- models install` / scripts/test.sh",
            dir.display()
        )
    })
}

fn options() -> RuntimeOptions {
    RuntimeOptions {
        intra_threads: 2,
        cuda: false,
    }
}

fn load_bytes(bytes: &[u8]) -> Result<HtDemucsModel, ModelError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htdemucs.onnx");
    std::fs::write(&path, bytes).unwrap();
    // ONNX Runtime reads the whole file at load time, so the folder may go.
    HtDemucsModel::load(&runtime(), &path, &options())
}

fn model() -> &'static HtDemucsModel {
    static MODEL: OnceLock<HtDemucsModel> = OnceLock::new();
    MODEL.get_or_init(|| load_bytes(&gain_model(&GAINS, CHUNK)).expect("load the gain model"))
}

fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.8
        })
        .collect()
}

/// Interleaved sines well below every Nyquist involved, faded in and out so
/// the edges stay band-limited too; each channel has its own frequencies.
fn band_limited(frames: usize, rate: u32, channels: usize) -> Vec<f32> {
    let fade = (rate / 20) as usize;
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        let edge = i.min(frames - 1 - i);
        let env = if edge < fade {
            0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / fade as f64).cos()
        } else {
            1.0
        };
        for c in 0..channels {
            let base = 110.0 * (c + 1) as f64;
            let s: f64 = [1.0, 3.7, 11.3, 29.9]
                .iter()
                .map(|m| (2.0 * std::f64::consts::PI * base * m * t).sin())
                .sum();
            out.push((0.2 * env * s) as f32);
        }
    }
    out
}

fn sdr_db(reference: &[f32], estimate: &[f32]) -> f64 {
    assert_eq!(reference.len(), estimate.len());
    let (signal, error) =
        reference
            .iter()
            .zip(estimate)
            .fold((0.0f64, 0.0f64), |(s, e), (&r, &x)| {
                let r = f64::from(r);
                (s + r * r, e + (r - f64::from(x)).powi(2))
            });
    10.0 * (signal / error.max(1e-30)).log10()
}

fn run(samples: &[f32], rate: u32, channels: u16) -> (Stems, Vec<(usize, usize)>) {
    let mut progress = Vec::new();
    let stems = separate_htdemucs(
        model(),
        samples,
        rate,
        channels,
        &mut |done, total| progress.push((done, total)),
        &|| false,
    )
    .expect("separate");
    assert_eq!(stems.sample_rate, rate);
    assert_eq!(stems.channels, channels);
    for stem in Stem::ALL {
        assert_eq!(stems.get(stem).len(), samples.len(), "{stem:?}");
    }
    (stems, progress)
}

fn expected_progress(total: usize) -> Vec<(usize, usize)> {
    (0..=total).map(|d| (d, total)).collect()
}

/// Chunks for `frames` samples at 44.1 kHz, counted as demucs's `range(0, length, stride)`.
fn chunks(frames: usize) -> usize {
    let stride = ((1.0 - f64::from(OVERLAP)) * CHUNK as f64) as usize;
    frames.div_ceil(stride)
}

#[test]
fn locate_runtime_needs_only_the_runtime_library() {
    let real = runtime();
    assert!(real.is_file());

    let empty = tempfile::tempdir().unwrap();
    let err = locate_runtime(empty.path()).unwrap_err();
    assert!(matches!(err, ModelError::NotInstalled { .. }), "{err:?}");

    // The runtime alone (no nmp.onnx): enough for HT-Demucs, not for `locate`.
    let only_runtime = tempfile::tempdir().unwrap();
    let name = real.file_name().unwrap();
    std::os::unix::fs::symlink(&real, only_runtime.path().join(name)).unwrap();
    assert_eq!(
        locate_runtime(only_runtime.path()).unwrap(),
        only_runtime.path().join(name)
    );
    assert!(locate(only_runtime.path()).is_err());

    let corrupt = tempfile::tempdir().unwrap();
    std::fs::write(corrupt.path().join(name), b"not a library").unwrap();
    let err = locate_runtime(corrupt.path()).unwrap_err();
    assert!(matches!(err, ModelError::HashMismatch { .. }), "{err:?}");
}

#[test]
fn load_accepts_the_layout_and_rejects_other_files_clearly() {
    assert_eq!(model().device(), Device::Cpu);
    // The pinned runtime is the CPU build: asking for CUDA must fall back, not fail.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htdemucs.onnx");
    std::fs::write(&path, gain_model(&GAINS, CHUNK)).unwrap();
    let cuda = RuntimeOptions {
        intra_threads: 1,
        cuda: true,
    };
    let on_cuda =
        HtDemucsModel::load(&runtime(), &path, &cuda).expect("CUDA falls back to the CPU");
    let out = on_cuda.run_chunk(&vec![1.0; 2 * CHUNK]).unwrap();
    assert_eq!(out[7 * CHUNK], GAINS[3][1]);

    let missing = Path::new("/nonexistent/coda/htdemucs.onnx");
    let err = HtDemucsModel::load(&runtime(), missing, &options()).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/coda/htdemucs.onnx"),
        "{err}"
    );

    let err = load_bytes(b"this is not an onnx file").unwrap_err();
    assert!(matches!(err, ModelError::Runtime(_)), "{err:?}");
    assert!(err.to_string().contains("htdemucs.onnx"), "{err}");

    // Same graph, input renamed: a valid model, but not in the expected layout.
    let mut renamed = gain_model(&GAINS, CHUNK);
    let positions: Vec<usize> = renamed
        .windows(3)
        .enumerate()
        .filter(|(_, w)| w == b"mix")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        positions.len(),
        2,
        "the input name appears in the node and the graph input"
    );
    for i in positions {
        renamed[i + 1] = b'u';
    }
    let err = load_bytes(&renamed).unwrap_err();
    assert!(matches!(err, ModelError::BadOutput(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("not an HT-Demucs export in the demucs-onnx layout")
            && message.contains("no input named mix"),
        "{message}"
    );

    // The right names with a fixed length other than 343980.
    let err = load_bytes(&gain_model(&GAINS, 1000)).unwrap_err();
    assert!(matches!(err, ModelError::BadOutput(_)), "{err:?}");
    assert!(err.to_string().contains("1000"), "{err}");
}

#[test]
fn run_chunk_checks_its_input_and_applies_the_gains() {
    let err = model().run_chunk(&[0.0; 10]).unwrap_err();
    assert!(matches!(err, ModelError::InvalidAudio(_)), "{err:?}");
    let input = noise(2 * CHUNK, 7);
    let out = model().run_chunk(&input).unwrap();
    assert_eq!(out.len(), 8 * CHUNK);
    for (s, gains) in GAINS.iter().enumerate() {
        for (c, g) in gains.iter().enumerate() {
            let i = 12_345;
            let got = out[(s * 2 + c) * CHUNK + i];
            assert!((got - g * input[c * CHUNK + i]).abs() < 1e-7);
        }
    }
}

#[test]
fn stereo_at_44k_puts_each_gain_in_its_stem() {
    let frames = 20 * SAMPLE_RATE as usize;
    let input = noise(frames * 2, 1);
    let (stems, progress) = run(&input, SAMPLE_RATE, 2);
    assert_eq!(chunks(frames), 4);
    assert_eq!(progress, expected_progress(4));
    for stem in Stem::ALL {
        let gains = gain_of(stem);
        let max_err = stems
            .get(stem)
            .iter()
            .zip(&input)
            .enumerate()
            .map(|(i, (y, x))| (y - gains[i % 2] * x).abs())
            .fold(0.0f32, f32::max);
        assert!(max_err < 1e-5, "{stem:?}: max error {max_err}");
    }
}

#[test]
fn mono_at_22k_comes_back_mono_at_its_rate_and_length() {
    let rate = 22_050;
    let frames = 10 * rate as usize + 17;
    let input = band_limited(frames, rate, 1);
    let (stems, progress) = run(&input, rate, 1);
    assert_eq!(progress, expected_progress(chunks(2 * frames)));
    for stem in Stem::ALL {
        let [l, r] = gain_of(stem);
        let want: Vec<f32> = input.iter().map(|x| 0.5 * (l + r) * x).collect();
        let sdr = sdr_db(&want, stems.get(stem));
        assert!(sdr > 40.0, "{stem:?}: SDR {sdr:.1} dB");
    }
}

#[test]
fn stereo_at_48k_keeps_rate_length_and_channels() {
    let rate = 48_000;
    let frames = 9 * rate as usize + 5;
    let input = band_limited(frames, rate, 2);
    let (stems, progress) = run(&input, rate, 2);
    let model_frames = (frames as u64 * 44_100).div_ceil(48_000) as usize;
    assert_eq!(progress, expected_progress(chunks(model_frames)));
    for stem in Stem::ALL {
        let gains = gain_of(stem);
        for (c, gain) in gains.into_iter().enumerate() {
            let want: Vec<f32> = input.iter().skip(c).step_by(2).map(|x| gain * x).collect();
            let got: Vec<f32> = stems.get(stem).iter().skip(c).step_by(2).copied().collect();
            let sdr = sdr_db(&want, &got);
            assert!(sdr > 40.0, "{stem:?} channel {c}: SDR {sdr:.1} dB");
        }
    }
}

#[test]
fn three_channels_are_a_pair_and_a_mono_channel() {
    let frames = 9 * SAMPLE_RATE as usize;
    let input = noise(frames * 3, 3);
    let (stems, progress) = run(&input, SAMPLE_RATE, 3);
    // Two groups, (0,1) and (2), each in its own chunks; progress counts them all.
    assert_eq!(progress, expected_progress(2 * chunks(frames)));
    for stem in Stem::ALL {
        let [l, r] = gain_of(stem);
        let per_channel = [l, r, 0.5 * (l + r)];
        let max_err = stems
            .get(stem)
            .iter()
            .zip(&input)
            .enumerate()
            .map(|(i, (y, x))| (y - per_channel[i % 3] * x).abs())
            .fold(0.0f32, f32::max);
        assert!(max_err < 1e-5, "{stem:?}: max error {max_err}");
    }
}

#[test]
fn cancel_and_empty_input() {
    let input = noise(20 * SAMPLE_RATE as usize * 2, 4);
    let mut progress = Vec::new();
    let err = separate_htdemucs(
        model(),
        &input,
        SAMPLE_RATE,
        2,
        &mut |d, t| progress.push((d, t)),
        &|| true,
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::Canceled), "{err:?}");
    assert_eq!(progress, [(0, 4)]);

    let (stems, progress) = run(&[], 48_000, 2);
    assert!(stems.samples.iter().all(Vec::is_empty));
    assert_eq!(progress, [(0, 0)]);
}
