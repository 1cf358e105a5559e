//! Coda's audio analysis in pure Rust: what the `analyze` job reads from a recording.
//!
//! - [`onset`]: the log-mel spectral-flux onset envelope, whole band and bass.
//! - [`rhythm`]: tempo from an autocorrelation tempogram under a log-normal prior, beats by
//!   dynamic programming (Ellis 2007), and meter and downbeats from the accents.
//! - [`frames`]: the Hann window and windowed frames the others share.
//! - [`chroma`]: NNLS chroma (Mauch and Dixon 2010): tuned log-frequency spectrum, whitening,
//!   note activations, treble and bass chroma.
//!
//! Chords and key are decoded by coda-theory from the chroma, so that a score and a recording
//! share one vocabulary and one set of key profiles. [`analyze_audio`] runs it all.

#![warn(missing_docs)]

pub mod chroma;
pub mod frames;
pub mod onset;
pub mod rhythm;

use coda_theory::{
    decode_chords, estimate_key, key_segments_by, Analysis, AnalysisOptions, ChromaFrame, Spelling,
};

pub use rhythm::RhythmOptions;

/// The rate every analysis runs at; input is resampled to it.
pub const SAMPLE_RATE: u32 = 22_050;

/// Why a recording could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The samples or their layout cannot be worked on.
    #[error(transparent)]
    Audio(#[from] coda_dsp::DspError),
}

/// The stages of an audio analysis, in order, as progress reports name them.
pub const STAGES: [&str; 5] = ["resample", "onsets", "chroma", "beats", "chords"];

/// An analysis of a recording and what its picture is drawn from.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioAnalysis {
    /// `analysis.json`.
    pub analysis: Analysis,
    /// Treble chroma per frame (0 = C), [`chroma::frame_rate`] frames per second.
    pub chroma: Vec<[f32; 12]>,
    /// Seconds each stage took, in [`STAGES`] order.
    pub stage_seconds: Vec<(&'static str, f64)>,
}

/// How an audio analysis runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioOptions {
    /// Key, key segments and chord options, as for a score.
    pub analysis: AnalysisOptions,
    /// Tempo and beat options.
    pub rhythm: RhythmOptions,
    /// Worker threads.
    pub threads: usize,
}

impl Default for AudioOptions {
    fn default() -> Self {
        AudioOptions {
            analysis: AnalysisOptions::default(),
            rhythm: RhythmOptions::default(),
            threads: coda_dsp::threads(),
        }
    }
}

/// The chord change into each beat: one minus the cosine between the treble chroma of the
/// half beat before it and the half beat after it.
fn harmonic_change(chroma: &[[f64; 12]], beats_s: &[f64], period_s: f64) -> Vec<f64> {
    let fps = chroma::frame_rate();
    let mean = |a: f64, b: f64| {
        let (i, j) = (
            ((a * fps).round().max(0.0) as usize).min(chroma.len()),
            ((b * fps).round().max(0.0) as usize).min(chroma.len()),
        );
        let mut m = [0.0; 12];
        for c in &chroma[i..j.max(i)] {
            for k in 0..12 {
                m[k] += c[k];
            }
        }
        m
    };
    beats_s
        .iter()
        .map(|&b| {
            let (x, y) = (mean(b - period_s / 2.0, b), mean(b, b + period_s / 2.0));
            let dot: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            let nx = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            let ny = y.iter().map(|v| v * v).sum::<f64>().sqrt();
            if nx > 0.0 && ny > 0.0 {
                1.0 - dot / (nx * ny)
            } else {
                0.0
            }
        })
        .collect()
}

/// How much the harmony changes at each chroma frame: one minus the cosine between the
/// square-rooted treble chroma two frames before and two after.
fn chord_novelty(treble: &[[f64; 12]]) -> Vec<f32> {
    let root = |c: &[f64; 12]| c.map(|v| v.max(0.0).sqrt());
    (0..treble.len())
        .map(|i| {
            if i < 2 || i + 2 >= treble.len() {
                return 0.0;
            }
            let (a, b) = (root(&treble[i - 2]), root(&treble[i + 2]));
            let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let na = a.iter().map(|v| v * v).sum::<f64>().sqrt();
            let nb = b.iter().map(|v| v * v).sum::<f64>().sqrt();
            if na > 0.0 && nb > 0.0 {
                (1.0 - dot / (na * nb)) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// The largest value of `env` within `radius` frames of `at`.
fn peak_near(env: &[f32], at: usize, radius: usize) -> f64 {
    let (a, b) = (at.saturating_sub(radius), (at + radius + 1).min(env.len()));
    env[a..b.max(a)]
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(*v)))
}

/// Analyses mono `samples` at `rate`: tempo, beats, downbeats and meter from the onsets; NNLS
/// chroma; chords decoded from it; key and keys from its sum. `progress` hears each stage's
/// name as it starts.
pub fn analyze_audio(
    samples: &[f32],
    rate: u32,
    options: &AudioOptions,
    progress: &mut dyn FnMut(&'static str),
) -> Result<AudioAnalysis, AnalysisError> {
    let mut clock = std::time::Instant::now();
    let mut stage_seconds = Vec::with_capacity(STAGES.len());
    let mut lap = |name: &'static str, clock: &mut std::time::Instant| {
        stage_seconds.push((name, clock.elapsed().as_secs_f64()));
        *clock = std::time::Instant::now();
    };
    progress("resample");
    let buffer = coda_dsp::AudioBuffer::new(samples, rate, 1)?;
    let mono = coda_dsp::resample(&buffer, SAMPLE_RATE, coda_dsp::Input::Mean)?;
    let duration_s = mono.len() as f64 / f64::from(SAMPLE_RATE);
    lap("resample", &mut clock);

    progress("onsets");
    let env = onset::onsets(&mono, options.threads)?;
    lap("onsets", &mut clock);

    progress("chroma");
    let nnls = chroma::chroma(&mono, options.threads)?;
    let folded: Vec<([f64; 12], [f64; 12])> = nnls.notes.iter().map(chroma::fold).collect();
    let treble: Vec<[f64; 12]> = folded.iter().map(|f| f.0).collect();
    lap("chroma", &mut clock);

    progress("beats");
    let novelty = chord_novelty(&treble);
    let fps = onset::frame_rate();
    let tempo = rhythm::estimate_tempo(
        &env.all,
        fps,
        Some((&novelty, chroma::frame_rate())),
        &options.rhythm,
    );
    let beat_frames = tempo.map_or(vec![], |t| {
        rhythm::track_beats(&env.all, fps, t, options.rhythm.tightness)
    });
    let beats: Vec<f64> = beat_frames.iter().map(|&f| f as f64 / fps).collect();
    // The tempo reported is the beats' own: the median of four-beat spans (single beats when
    // fewer), so that the envelope's 11.6 ms frame grid does not round it by up to 2 %.
    let tempo_bpm = if beats.len() >= 3 {
        let span = 4.min(beats.len() - 1);
        let mut spans: Vec<f64> = beats
            .windows(span + 1)
            .map(|w| (w[span] - w[0]) / span as f64)
            .collect();
        spans.sort_by(f64::total_cmp);
        Some(60.0 / spans[spans.len() / 2])
    } else {
        tempo
    };
    lap("beats", &mut clock);

    progress("chords");
    let (time_signature, downbeats) = if beats.len() >= 6 {
        let period = tempo_bpm.map_or(0.5, |t| 60.0 / t);
        let harmonic = harmonic_change(&treble, &beats, period);
        let all: Vec<f64> = beat_frames
            .iter()
            .map(|&f| peak_near(&env.all, f, 2))
            .collect();
        let bass: Vec<f64> = beat_frames
            .iter()
            .map(|&f| peak_near(&env.bass, f, 2))
            .collect();
        let m = rhythm::meter(&all, &bass, &harmonic);
        let downbeats = beats
            .iter()
            .enumerate()
            .filter(|(i, _)| i % m.beats_per_bar == m.phase)
            .map(|(_, b)| *b)
            .collect();
        (Some(format!("{}/4", m.beats_per_bar)), downbeats)
    } else {
        (None, vec![])
    };
    let cfps = chroma::frame_rate();
    let half = 0.5 / cfps;
    let frames: Vec<ChromaFrame> = folded
        .iter()
        .enumerate()
        .map(|(i, (t, b))| ChromaFrame {
            start_s: (i as f64 / cfps - half).max(0.0),
            end_s: (i as f64 / cfps + half).min(duration_s),
            treble: *t,
            bass: *b,
        })
        .collect();
    let histogram = |lo: f64, hi: f64| {
        let mut h = [0.0; 12];
        let (i, j) = (
            ((lo * cfps).max(0.0) as usize).min(folded.len()),
            ((hi * cfps).max(0.0) as usize).min(folded.len()),
        );
        for (t, b) in &folded[i..j.max(i)] {
            for k in 0..12 {
                h[k] += t[k] + b[k];
            }
        }
        h
    };
    // The whole piece, with its last 5 % counted four times more, as for notes.
    let mut whole = histogram(0.0, duration_s);
    let ending = histogram(duration_s * 0.95, duration_s);
    for k in 0..12 {
        whole[k] += 3.0 * ending[k];
    }
    let o = &options.analysis;
    let key = estimate_key(&whole, o.profile, None);
    let keys = key_segments_by((0.0, duration_s), histogram, o.profile, o.segments, None);
    let spelling = key
        .as_ref()
        .map_or(Spelling::Common, |k| Spelling::for_key(&k.key));
    let chords = decode_chords(&frames, &o.chords, spelling);
    lap("chords", &mut clock);
    Ok(AudioAnalysis {
        analysis: Analysis {
            source: "audio".into(),
            duration_s,
            key,
            keys,
            chords,
            tempo_bpm,
            beats,
            downbeats,
            time_signature,
            tuning_cents: Some(nnls.tuning_cents),
        },
        chroma: treble
            .iter()
            .map(|c| {
                let mut o = [0.0f32; 12];
                for k in 0..12 {
                    o[k] = c[k] as f32;
                }
                o
            })
            .collect(),
        stage_seconds,
    })
}
