//! The built-in separator on real multitrack renders: every stem must beat the
//! trivial estimate (the mixture scaled by 1/4) in SDR.
//!
//! The set is rendered from the music21 corpus with fluidsynth by
//! `scripts/separation_set.sh`, which `scripts/test.sh` runs first; set
//! `CODA_SEPARATION_SET` to use another folder.

use std::path::{Path, PathBuf};

use coda_separation::dsp::{separate_dsp, DspOptions, VocalMethod};
use coda_separation::Stem;

fn set_dir() -> PathBuf {
    coda_dsp::testing::separation_set_dir()
}

fn read_wav(path: &Path) -> (Vec<f32>, u32, u16) {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (scripts/separation_set.sh renders the test set)",
            path.display()
        )
    });
    let spec = reader.spec();
    let samples = reader.samples::<f32>().map(|s| s.unwrap()).collect();
    (samples, spec.sample_rate, spec.channels)
}

/// Plain SDR over all channels: 10 log10(|s|^2 / |s - est|^2).
fn sdr(truth: &[f32], estimate: &[f32]) -> f64 {
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (s, e) in truth.iter().zip(estimate) {
        signal += f64::from(*s) * f64::from(*s);
        noise += (f64::from(*s) - f64::from(*e)).powi(2);
    }
    10.0 * (signal.max(1e-12) / noise.max(1e-12)).log10()
}

struct Piece {
    name: String,
    mixture: Vec<f32>,
    rate: u32,
    channels: u16,
    truth: Vec<Vec<f32>>,
}

fn pieces() -> Vec<Piece> {
    let dir = set_dir();
    // The manifest lists the pieces of the current generator; stray folders from an older one are ignored.
    let manifest: serde_json::Value = std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            panic!(
                "{}/manifest.json is missing or unreadable (scripts/separation_set.sh renders the test set)",
                dir.display()
            )
        });
    let names: Vec<String> = manifest["pieces"]
        .as_array()
        .map(|pieces| {
            pieces
                .iter()
                .filter_map(|p| p["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        names.len() >= 3,
        "expected at least 3 pieces in {}",
        dir.display()
    );
    names
        .into_iter()
        .map(|name| {
            let (mixture, rate, channels) = read_wav(&dir.join(&name).join("mixture.wav"));
            let truth = Stem::ALL
                .iter()
                .map(|s| {
                    let (t, r, c) = read_wav(&dir.join(&name).join(format!("{}.wav", s.name())));
                    assert_eq!((r, c, t.len()), (rate, channels, mixture.len()));
                    t
                })
                .collect();
            Piece {
                name,
                mixture,
                rate,
                channels,
                truth,
            }
        })
        .collect()
}

/// Per stem: (mean SDR of the separator, mean SDR of mixture / 4), printing each piece.
fn measure(pieces: &[Piece], options: &DspOptions, mono: bool) -> Vec<(f64, f64)> {
    let mut sums = vec![(0.0, 0.0); 4];
    for piece in pieces {
        let (mixture, channels, truth): (Vec<f32>, u16, Vec<Vec<f32>>) = if mono {
            let down = |x: &[f32]| x.chunks_exact(2).map(|f| 0.5 * (f[0] + f[1])).collect();
            (
                down(&piece.mixture),
                1,
                piece.truth.iter().map(|t| down(t)).collect(),
            )
        } else {
            (piece.mixture.clone(), piece.channels, piece.truth.clone())
        };
        let stems = separate_dsp(
            &mixture,
            piece.rate,
            channels,
            options,
            &mut |_, _| {},
            &|| false,
        )
        .unwrap();
        let quarter: Vec<f32> = mixture.iter().map(|x| x / 4.0).collect();
        let mut line = format!("{:<12}", piece.name);
        for stem in Stem::ALL {
            let ours = sdr(&truth[stem.index()], stems.get(stem));
            let base = sdr(&truth[stem.index()], &quarter);
            line += &format!(" {}: {ours:6.2} dB (1/4 mix {base:6.2})", stem.name());
            sums[stem.index()].0 += ours / pieces.len() as f64;
            sums[stem.index()].1 += base / pieces.len() as f64;
        }
        println!("{line}");
    }
    sums
}

#[test]
fn the_built_in_separator_beats_the_quarter_mixture_on_every_stem() {
    let pieces = pieces();
    // The default must clear the baseline by a margin; the fallbacks must at least beat it.
    for (label, options, mono, margin_db) in [
        ("stereo, auto (centre)", DspOptions::default(), false, 2.5),
        (
            "stereo, repet",
            DspOptions {
                vocal_method: VocalMethod::Repet,
                ..DspOptions::default()
            },
            false,
            0.2,
        ),
        (
            "mono downmix, auto (repet)",
            DspOptions::default(),
            true,
            0.2,
        ),
    ] {
        println!("== {label}");
        let means = measure(&pieces, &options, mono);
        for (stem, (ours, base)) in Stem::ALL.iter().zip(&means) {
            println!(
                "mean {:<7} {ours:6.2} dB vs 1/4 mix {base:6.2} dB",
                stem.name()
            );
            assert!(
                *ours > base + margin_db,
                "{label}: {} SDR {ours:.2} dB does not beat the 1/4-mixture baseline {base:.2} dB by {margin_db} dB",
                stem.name()
            );
        }
    }
}
