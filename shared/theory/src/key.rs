//! Key finding by correlation (Krumhansl–Schmuckler): a duration-weighted pitch-class
//! histogram is correlated (Pearson) with each of the 24 major and minor keys' profiles, and
//! the best-correlated key wins.
//!
//! Six profiles ([`KeyProfile`]), as published:
//! - Krumhansl–Kessler (1982), probe-tone ratings;
//! - Temperley–Kostka–Payne (Temperley 2007), from the Kostka–Payne textbook's excerpts;
//! - Aarden–Essen (Aarden 2003), from the Essen folksong collection (music21's default);
//! - Bellman–Budge (Bellman 2005), from Budge's chord statistics;
//! - Albrecht–Shanahan (Albrecht and Shanahan 2013), trained on a large corpus with attention
//!   to the minor mode;
//! - the Albrecht–Shanahan and Aarden–Essen combination: the mean of the two correlations.
//!
//! The first five tables are those music21 10.5.1 (`analysis.discrete`) and Humdrum's `keycor`
//! carry; Albrecht–Shanahan's is the published pair of distributions. Index 0 is the tonic.

use serde::{Deserialize, Serialize};

use crate::notes::{pitch_class_histogram, TimedNote};

/// Major or minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Major.
    Major,
    /// Minor.
    Minor,
}

impl Mode {
    /// "major" or "minor".
    pub fn name(self) -> &'static str {
        match self {
            Mode::Major => "major",
            Mode::Minor => "minor",
        }
    }
}

/// A key profile: how strongly each scale degree belongs to a major and to a minor key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyProfile {
    /// Krumhansl and Kessler (1982).
    KrumhanslKessler,
    /// Temperley (2007), from Kostka and Payne's excerpts.
    TemperleyKostkaPayne,
    /// Aarden (2003), from the Essen folksong collection; music21's default.
    AardenEssen,
    /// Bellman (2005), from Budge's chord statistics.
    BellmanBudge,
    /// Albrecht and Shanahan (2013): the most accurate on the music21 corpus (see the
    /// README's analysis section), so the default.
    #[default]
    AlbrechtShanahan,
    /// The mean of the Albrecht–Shanahan and Aarden–Essen correlations.
    AlbrechtShanahanAarden,
}

const KK: ([f64; 12], [f64; 12]) = (
    [
        6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
    ],
    [
        6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
    ],
);
const TKP: ([f64; 12], [f64; 12]) = (
    [
        0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400,
    ],
    [
        0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330,
    ],
);
const AE: ([f64; 12], [f64; 12]) = (
    [
        17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624,
        8.15494, 0.232998, 4.95122,
    ],
    [
        18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621,
        1.93186, 7.37619, 1.75623,
    ],
);
const BB: ([f64; 12], [f64; 12]) = (
    [
        16.80, 0.86, 12.95, 1.41, 13.49, 11.93, 1.25, 20.28, 1.80, 8.04, 0.62, 10.57,
    ],
    [
        18.16, 0.69, 12.99, 13.34, 1.07, 11.15, 1.38, 21.07, 7.49, 1.53, 0.92, 10.21,
    ],
);
const AS: ([f64; 12], [f64; 12]) = (
    [
        0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081,
    ],
    [
        0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052,
    ],
);

impl KeyProfile {
    /// Every profile, in the order the README's table lists them.
    pub const ALL: [KeyProfile; 6] = [
        KeyProfile::KrumhanslKessler,
        KeyProfile::TemperleyKostkaPayne,
        KeyProfile::AardenEssen,
        KeyProfile::BellmanBudge,
        KeyProfile::AlbrechtShanahan,
        KeyProfile::AlbrechtShanahanAarden,
    ];

    /// The parameter name (`albrecht-shanahan-aarden`).
    pub fn name(self) -> &'static str {
        match self {
            KeyProfile::KrumhanslKessler => "krumhansl-kessler",
            KeyProfile::TemperleyKostkaPayne => "temperley-kostka-payne",
            KeyProfile::AardenEssen => "aarden-essen",
            KeyProfile::BellmanBudge => "bellman-budge",
            KeyProfile::AlbrechtShanahan => "albrecht-shanahan",
            KeyProfile::AlbrechtShanahanAarden => "albrecht-shanahan-aarden",
        }
    }

    /// The profile a parameter names; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<KeyProfile> {
        let name = name.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        KeyProfile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The profile tables whose correlations are averaged (one, or two for the combination).
    fn tables(self) -> &'static [([f64; 12], [f64; 12])] {
        match self {
            KeyProfile::KrumhanslKessler => &[KK],
            KeyProfile::TemperleyKostkaPayne => &[TKP],
            KeyProfile::AardenEssen => &[AE],
            KeyProfile::BellmanBudge => &[BB],
            KeyProfile::AlbrechtShanahan => &[AS],
            KeyProfile::AlbrechtShanahanAarden => &[AS, AE],
        }
    }

    /// The correlation of `histogram` with the key of `tonic` (pitch class) in `mode`.
    pub fn correlation(self, histogram: &[f64; 12], tonic: u8, mode: Mode) -> f64 {
        let tables = self.tables();
        let sum: f64 = tables
            .iter()
            .map(|(major, minor)| {
                let profile = if mode == Mode::Major { major } else { minor };
                let rotated: [f64; 12] =
                    std::array::from_fn(|pc| profile[(pc + 12 - usize::from(tonic % 12)) % 12]);
                pearson(histogram, &rotated)
            })
            .sum();
        sum / tables.len() as f64
    }
}

/// Pearson's r of two 12-vectors; 0 when either is flat.
fn pearson(x: &[f64; 12], y: &[f64; 12]) -> f64 {
    let mx = x.iter().sum::<f64>() / 12.0;
    let my = y.iter().sum::<f64>() / 12.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..12 {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= f64::EPSILON || syy <= f64::EPSILON {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// A key: its tonic as a pitch class and as a spelled name, and its mode.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Key {
    /// The tonic's pitch class (0 = C, ..., 11 = B).
    pub tonic_pc: u8,
    /// The tonic spelled ("F#", "Bb").
    pub tonic: String,
    /// Major or minor.
    pub mode: Mode,
}

/// Major tonics by key signature, from 7 flats to 7 sharps.
const MAJOR_BY_FIFTHS: [&str; 15] = [
    "Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#",
];
/// Minor tonics by key signature, from 7 flats to 7 sharps.
const MINOR_BY_FIFTHS: [&str; 15] = [
    "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#",
];
/// The spelling with the fewer accidentals in its signature, by pitch class.
const MAJOR_DEFAULT: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];
const MINOR_DEFAULT: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B",
];

impl Key {
    /// The key of `tonic_pc` in `mode`, spelled as key signature `fifths` spells it when that
    /// signature is this key's, else with the fewer accidentals.
    pub fn new(tonic_pc: u8, mode: Mode, fifths: Option<i8>) -> Key {
        let tonic_pc = tonic_pc % 12;
        let from_signature = fifths.and_then(|f| {
            let i = usize::try_from(i32::from(f) + 7).ok().filter(|i| *i < 15)?;
            let name = match mode {
                Mode::Major => MAJOR_BY_FIFTHS[i],
                Mode::Minor => MINOR_BY_FIFTHS[i],
            };
            (pitch_class_of(name) == Some(tonic_pc)).then_some(name)
        });
        let tonic = from_signature.unwrap_or(match mode {
            Mode::Major => MAJOR_DEFAULT[usize::from(tonic_pc)],
            Mode::Minor => MINOR_DEFAULT[usize::from(tonic_pc)],
        });
        Key {
            tonic_pc,
            tonic: tonic.to_string(),
            mode,
        }
    }

    /// The key of signature `fifths` in `mode` (2 sharps, major: D major).
    pub fn of_signature(fifths: i8, mode: Mode) -> Key {
        let i = (i32::from(fifths.clamp(-7, 7)) + 7) as usize;
        let name = match mode {
            Mode::Major => MAJOR_BY_FIFTHS[i],
            Mode::Minor => MINOR_BY_FIFTHS[i],
        };
        Key {
            tonic_pc: pitch_class_of(name).unwrap_or(0),
            tonic: name.to_string(),
            mode,
        }
    }

    /// "G minor".
    pub fn name(&self) -> String {
        format!("{} {}", self.tonic, self.mode.name())
    }

    /// Whether two keys are the same up to spelling.
    pub fn same_as(&self, other: &Key) -> bool {
        self.tonic_pc == other.tonic_pc && self.mode == other.mode
    }
}

/// The pitch class of a spelled name ("C#", "Bb", "Cb").
fn pitch_class_of(name: &str) -> Option<u8> {
    let mut chars = name.chars();
    let base: i32 = match chars.next()? {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let alter: i32 = chars
        .map(|c| match c {
            '#' => Some(1),
            'b' => Some(-1),
            _ => None,
        })
        .sum::<Option<i32>>()?;
    Some((base + alter).rem_euclid(12) as u8)
}

/// One candidate key and how well it correlates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyCandidate {
    /// The key.
    #[serde(flatten)]
    pub key: Key,
    /// Its correlation with the histogram (-1..=1).
    pub correlation: f64,
}

/// The best key for a histogram, how sure that is, and the runners-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyEstimate {
    /// The best-correlated key.
    #[serde(flatten)]
    pub key: Key,
    /// Its correlation.
    pub correlation: f64,
    /// How far it leads the runner-up: (r1 − r2) / (1 − r2), 0 (a tie) to 1.
    pub confidence: f64,
    /// The next four keys, best first.
    pub alternatives: Vec<KeyCandidate>,
    /// The profile used.
    pub profile: KeyProfile,
}

/// Every key's correlation with `histogram`, best first.
fn ranked(histogram: &[f64; 12], profile: KeyProfile) -> Vec<(u8, Mode, f64)> {
    let mut all: Vec<(u8, Mode, f64)> = (0..12u8)
        .flat_map(|t| [Mode::Major, Mode::Minor].map(|m| (t, m)))
        .map(|(t, m)| (t, m, profile.correlation(histogram, t, m)))
        .collect();
    // Ties go to the earlier key (C before C#, major before minor): deterministic.
    all.sort_by(|a, b| b.2.total_cmp(&a.2));
    all
}

/// The key of `histogram` (pitch-class weights, 0 = C) by `profile`; `fifths` (the score's
/// key signature, when known) only spells the tonic. `None` when the histogram is empty or
/// flat (no pitch class stands out, so no key can be told).
pub fn estimate_key(
    histogram: &[f64; 12],
    profile: KeyProfile,
    fifths: Option<i8>,
) -> Option<KeyEstimate> {
    let total: f64 = histogram.iter().sum();
    if !total.is_finite() || total <= 0.0 || histogram.iter().any(|w| *w < 0.0) {
        return None;
    }
    let all = ranked(histogram, profile);
    let (t, m, r1) = all[0];
    if r1 == 0.0 && all[1].2 == 0.0 {
        return None;
    }
    let r2 = all[1].2;
    let confidence = if r2 >= 1.0 {
        0.0
    } else {
        ((r1 - r2) / (1.0 - r2)).clamp(0.0, 1.0)
    };
    Some(KeyEstimate {
        key: Key::new(t, m, fifths),
        correlation: r1,
        confidence,
        alternatives: all[1..5]
            .iter()
            .map(|&(t, m, r)| KeyCandidate {
                key: Key::new(t, m, fifths),
                correlation: r,
            })
            .collect(),
        profile,
    })
}

/// How keys over time are found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentOptions {
    /// The analysis window in seconds (each step's histogram covers this much around it).
    pub window_s: f64,
    /// The step between windows in seconds.
    pub hop_s: f64,
    /// A key must hold this long to be a segment; shorter ones join a neighbour.
    pub min_segment_s: f64,
    /// What a change of key costs in the smoothing, in correlation units per change.
    pub switch_penalty: f64,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            window_s: 12.0,
            hop_s: 2.0,
            min_segment_s: 16.0,
            switch_penalty: 0.5,
        }
    }
}

/// A stretch of music in one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeySegment {
    /// Where it starts, in seconds.
    pub start_s: f64,
    /// Where it ends.
    pub end_s: f64,
    /// The key.
    #[serde(flatten)]
    pub key: Key,
    /// The correlation of the segment's own histogram with that key.
    pub correlation: f64,
}

/// The keys of `notes` over time: a key per step of `options.hop_s` from the window around
/// it, smoothed by a Viterbi path that pays `switch_penalty` per change, then segments shorter
/// than `min_segment_s` merged into the neighbour that fits them better. Empty without notes.
pub fn key_segments(
    notes: &[TimedNote],
    profile: KeyProfile,
    options: SegmentOptions,
    fifths: Option<i8>,
) -> Vec<KeySegment> {
    let end = notes.iter().map(|n| n.end_s).fold(0.0_f64, f64::max);
    let start = notes
        .iter()
        .map(|n| n.start_s)
        .fold(f64::INFINITY, f64::min);
    if notes.is_empty() {
        return vec![];
    }
    key_segments_by(
        (start, end),
        |lo, hi| pitch_class_histogram(notes, Some((lo, hi))),
        profile,
        options,
        fifths,
    )
}

/// The keys over time of whatever `histogram(lo, hi)` measures between `span`'s ends (notes,
/// or an audio chroma), as [`key_segments`] finds them. Empty when the span is empty.
pub fn key_segments_by(
    span: (f64, f64),
    histogram: impl Fn(f64, f64) -> [f64; 12],
    profile: KeyProfile,
    options: SegmentOptions,
    fifths: Option<i8>,
) -> Vec<KeySegment> {
    let (start, end) = span;
    if !end.is_finite() || !start.is_finite() || end <= start {
        return vec![];
    }
    let hop = if options.hop_s.is_finite() && options.hop_s > 0.0 {
        options.hop_s
    } else {
        2.0
    };
    let half = (options.window_s.max(hop) / 2.0).max(hop / 2.0);
    // At most 100,000 steps: a day of music at a 1 s hop.
    let steps = (((end - start) / hop).ceil() as usize).clamp(1, 100_000);
    let hop = (end - start) / steps as f64;
    let keys: Vec<(u8, Mode)> = (0..12u8)
        .flat_map(|t| [Mode::Major, Mode::Minor].map(|m| (t, m)))
        .collect();
    let scores: Vec<Vec<f64>> = (0..steps)
        .map(|i| {
            let centre = start + (i as f64 + 0.5) * hop;
            let h = histogram(centre - half, centre + half);
            keys.iter()
                .map(|&(t, m)| profile.correlation(&h, t, m))
                .collect()
        })
        .collect();
    // Viterbi over the 24 keys.
    let n = keys.len();
    let mut best: Vec<f64> = scores[0].clone();
    let mut back: Vec<Vec<usize>> = vec![vec![0; n]; steps];
    for i in 1..steps {
        let (lead, lead_score) =
            best.iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |acc, (k, &s)| {
                        if s > acc.1 {
                            (k, s)
                        } else {
                            acc
                        }
                    },
                );
        let mut next = vec![0.0; n];
        for k in 0..n {
            let stay = best[k];
            let switch = lead_score - options.switch_penalty;
            let (from, score) = if stay >= switch {
                (k, stay)
            } else {
                (lead, switch)
            };
            back[i][k] = from;
            next[k] = score + scores[i][k];
        }
        best = next;
    }
    let mut k = best
        .iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |acc, (k, &s)| {
                if s > acc.1 {
                    (k, s)
                } else {
                    acc
                }
            },
        )
        .0;
    let mut path = vec![0; steps];
    for i in (0..steps).rev() {
        path[i] = k;
        k = back[i][k];
    }
    // Runs of one key: (first step, last step + 1, key index).
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for (i, &k) in path.iter().enumerate() {
        match runs.last_mut() {
            Some(r) if r.2 == k => r.1 = i + 1,
            _ => runs.push((i, i + 1, k)),
        }
    }
    let fit = |run: &(usize, usize, usize), k: usize| -> f64 {
        (run.0..run.1).map(|i| scores[i][k]).sum::<f64>()
    };
    let min_steps = (options.min_segment_s / hop).ceil().max(1.0) as usize;
    while runs.len() > 1 {
        let Some((i, _)) = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.1 - r.0 < min_steps)
            .min_by_key(|(_, r)| r.1 - r.0)
        else {
            break;
        };
        let run = runs[i];
        let left = (i > 0).then(|| (i - 1, fit(&run, runs[i - 1].2)));
        let right = (i + 1 < runs.len()).then(|| (i + 1, fit(&run, runs[i + 1].2)));
        let into = match (left, right) {
            (Some(l), Some(r)) => {
                if r.1 > l.1 {
                    r.0
                } else {
                    l.0
                }
            }
            (Some(l), None) => l.0,
            (None, Some(r)) => r.0,
            (None, None) => break,
        };
        let target = &mut runs[into];
        target.0 = target.0.min(run.0);
        target.1 = target.1.max(run.1);
        runs.remove(i);
        // Neighbours that now share a key become one run.
        let mut merged: Vec<(usize, usize, usize)> = Vec::with_capacity(runs.len());
        for r in runs.drain(..) {
            match merged.last_mut() {
                Some(m) if m.2 == r.2 => m.1 = r.1,
                _ => merged.push(r),
            }
        }
        runs = merged;
    }
    runs.into_iter()
        .map(|(a, b, k)| {
            let (s, e) = (start + a as f64 * hop, start + b as f64 * hop);
            let h = histogram(s, e);
            let (t, m) = keys[k];
            KeySegment {
                start_s: s,
                end_s: e,
                key: Key::new(t, m, fifths),
                correlation: profile.correlation(&h, t, m),
            }
        })
        .collect()
}
