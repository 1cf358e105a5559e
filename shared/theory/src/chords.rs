//! Chord recognition over a vocabulary of nine qualities and no-chord: templates scored on
//! treble and bass chroma, smoothed by a Viterbi path, labelled in Harte syntax (`A:min7/b3`)
//! with display names (`Am7/C`). The frames come from audio (coda-analysis' NNLS chroma) or
//! from a score's notes on its beat grid ([`score_chord_frames`]).

use serde::{Deserialize, Serialize};

use crate::key::{Key, Mode};
use crate::notes::TimedNote;

/// A chord quality of the vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Major triad.
    Maj,
    /// Minor triad.
    Min,
    /// Dominant seventh.
    #[serde(rename = "7")]
    Dom7,
    /// Major seventh.
    Maj7,
    /// Minor seventh.
    Min7,
    /// Diminished triad.
    Dim,
    /// Augmented triad.
    Aug,
    /// Suspended second.
    Sus2,
    /// Suspended fourth.
    Sus4,
}

impl Quality {
    /// Every quality, in vocabulary order.
    pub const ALL: [Quality; 9] = [
        Quality::Maj,
        Quality::Min,
        Quality::Dom7,
        Quality::Maj7,
        Quality::Min7,
        Quality::Dim,
        Quality::Aug,
        Quality::Sus2,
        Quality::Sus4,
    ];

    /// Semitones above the root, root first.
    pub fn intervals(self) -> &'static [u8] {
        match self {
            Quality::Maj => &[0, 4, 7],
            Quality::Min => &[0, 3, 7],
            Quality::Dom7 => &[0, 4, 7, 10],
            Quality::Maj7 => &[0, 4, 7, 11],
            Quality::Min7 => &[0, 3, 7, 10],
            Quality::Dim => &[0, 3, 6],
            Quality::Aug => &[0, 4, 8],
            Quality::Sus2 => &[0, 2, 7],
            Quality::Sus4 => &[0, 5, 7],
        }
    }

    /// The Harte shorthand (`maj`, `min7`, ...).
    pub fn harte(self) -> &'static str {
        match self {
            Quality::Maj => "maj",
            Quality::Min => "min",
            Quality::Dom7 => "7",
            Quality::Maj7 => "maj7",
            Quality::Min7 => "min7",
            Quality::Dim => "dim",
            Quality::Aug => "aug",
            Quality::Sus2 => "sus2",
            Quality::Sus4 => "sus4",
        }
    }

    /// The lead-sheet suffix (`""`, `m7`, `maj7`, ...).
    pub fn suffix(self) -> &'static str {
        match self {
            Quality::Maj => "",
            Quality::Min => "m",
            Quality::Dom7 => "7",
            Quality::Maj7 => "maj7",
            Quality::Min7 => "m7",
            Quality::Dim => "dim",
            Quality::Aug => "aug",
            Quality::Sus2 => "sus2",
            Quality::Sus4 => "sus4",
        }
    }

    /// The quality a Harte shorthand names.
    pub fn parse(harte: &str) -> Option<Quality> {
        Quality::ALL.into_iter().find(|q| q.harte() == harte)
    }

    /// What choosing this quality costs in the decoding (rarer ones cost more, so that a
    /// triad's harmonics do not read as a seventh or a suspension).
    fn cost(self) -> f64 {
        match self {
            Quality::Maj | Quality::Min => 0.0,
            Quality::Dom7 | Quality::Min7 => 0.03,
            Quality::Maj7 => 0.04,
            Quality::Dim | Quality::Sus4 | Quality::Sus2 => 0.05,
            Quality::Aug => 0.06,
        }
    }
}

/// How pitch classes are spelled in chord names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Spelling {
    /// C C# D Eb E F F# G Ab A Bb B: the common spellings, when no key is known.
    #[default]
    Common,
    /// Sharps, for sharp keys.
    Sharps,
    /// Flats, for flat keys.
    Flats,
}

impl Spelling {
    /// The spelling a key's signature implies (F major and D minor spell flats, G major sharps).
    pub fn for_key(key: &Key) -> Spelling {
        let major_pc = match key.mode {
            Mode::Major => key.tonic_pc,
            Mode::Minor => (key.tonic_pc + 3) % 12,
        };
        // Fifths from C of the relative major: 0..=11 → -5..=6.
        let fifths = (i32::from(major_pc) * 7).rem_euclid(12);
        let fifths = if fifths > 6 { fifths - 12 } else { fifths };
        let flat_tonic = key.tonic.contains('b');
        match fifths {
            0 => Spelling::Common,
            f if f < 0 || flat_tonic => Spelling::Flats,
            _ => Spelling::Sharps,
        }
    }

    /// The name of pitch class `pc` (0 = C).
    pub fn name(self, pc: u8) -> &'static str {
        const COMMON: [&str; 12] = [
            "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
        ];
        const SHARPS: [&str; 12] = [
            "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
        ];
        const FLATS: [&str; 12] = [
            "C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B",
        ];
        let i = usize::from(pc % 12);
        match self {
            Spelling::Common => COMMON[i],
            Spelling::Sharps => SHARPS[i],
            Spelling::Flats => FLATS[i],
        }
    }
}

/// A chord: root, quality and the pitch class in the bass (the root unless inverted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chord {
    /// The root's pitch class (0 = C).
    pub root_pc: u8,
    /// The quality.
    pub quality: Quality,
    /// The bass's pitch class: the root, or another chord tone for an inversion.
    pub bass_pc: u8,
}

/// The Harte name of a bass interval in semitones above the root.
fn bass_degree(semitones: u8) -> &'static str {
    match semitones % 12 {
        1 => "b2",
        2 => "2",
        3 => "b3",
        4 => "3",
        5 => "4",
        6 => "b5",
        7 => "5",
        8 => "#5",
        9 => "6",
        10 => "b7",
        11 => "7",
        _ => "1",
    }
}

impl Chord {
    /// Root position.
    pub fn new(root_pc: u8, quality: Quality) -> Chord {
        Chord {
            root_pc: root_pc % 12,
            quality,
            bass_pc: root_pc % 12,
        }
    }

    /// The chord's pitch classes, root first.
    pub fn pitch_classes(&self) -> Vec<u8> {
        self.quality
            .intervals()
            .iter()
            .map(|i| (self.root_pc + i) % 12)
            .collect()
    }

    /// The Harte label: `C:maj`, `A:min7/b3`.
    pub fn harte(&self, spelling: Spelling) -> String {
        let mut s = format!("{}:{}", spelling.name(self.root_pc), self.quality.harte());
        if self.bass_pc != self.root_pc {
            let up = (self.bass_pc + 12 - self.root_pc) % 12;
            s.push('/');
            s.push_str(bass_degree(up));
        }
        s
    }

    /// The display name: `C`, `Am7/C`.
    pub fn display(&self, spelling: Spelling) -> String {
        let mut s = format!("{}{}", spelling.name(self.root_pc), self.quality.suffix());
        if self.bass_pc != self.root_pc {
            s.push('/');
            s.push_str(spelling.name(self.bass_pc));
        }
        s
    }
}

/// One stretch of one chord (or of no chord), as analysis.json lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChordSpan {
    /// Where it starts, in seconds.
    pub start_s: f64,
    /// Where it ends.
    pub end_s: f64,
    /// The Harte label (`A:min7/b3`, or `N` for no chord).
    pub label: String,
    /// The display name (`Am7/C`, or `N.C.`).
    pub display: String,
}

/// The pitch-class content of one stretch of time: treble and bass chroma (any scale; each is
/// normalised before scoring; the treble is square-rooted first).
#[derive(Clone, Debug, PartialEq)]
pub struct ChromaFrame {
    /// Where it starts, in seconds.
    pub start_s: f64,
    /// Where it ends.
    pub end_s: f64,
    /// Pitch-class energy above the bass (0 = C).
    pub treble: [f64; 12],
    /// Pitch-class energy in the bass register.
    pub bass: [f64; 12],
}

/// The decoder's weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChordOptions {
    /// What one chord change costs, in template-similarity units.
    pub switch_penalty: f64,
    /// How much the bass chroma counts next to the treble's similarity.
    pub bass_weight: f64,
    /// What an inversion costs over root position.
    pub inversion_cost: f64,
    /// The score of "no chord"; chords whose similarity falls below it lose to N.
    pub no_chord_score: f64,
    /// Frames whose treble energy is below this fraction of the loud frames' are silence.
    pub silence_fraction: f64,
}

impl Default for ChordOptions {
    fn default() -> Self {
        ChordOptions {
            switch_penalty: 0.05,
            bass_weight: 0.25,
            inversion_cost: 0.03,
            no_chord_score: 0.45,
            silence_fraction: 0.02,
        }
    }
}

/// A decoding state: a chord, or no chord.
#[derive(Clone, Copy, Debug)]
struct State {
    chord: Option<Chord>,
    /// The unit-norm treble template.
    template: [f64; 12],
}

fn states() -> Vec<State> {
    let mut out = vec![State {
        chord: None,
        template: [0.0; 12],
    }];
    for root in 0..12u8 {
        for q in Quality::ALL {
            let mut t = [0.0; 12];
            for (i, iv) in q.intervals().iter().enumerate() {
                // The seventh sounds softer than the triad in most voicings.
                t[usize::from((root + iv) % 12)] = if i == 3 { 0.8 } else { 1.0 };
            }
            let norm = t.iter().map(|x| x * x).sum::<f64>().sqrt();
            t.iter_mut().for_each(|x| *x /= norm);
            for iv in q.intervals() {
                out.push(State {
                    chord: Some(Chord {
                        root_pc: root,
                        quality: q,
                        bass_pc: (root + iv) % 12,
                    }),
                    template: t,
                });
            }
        }
    }
    out
}

/// Each state's score for one frame (treble unit-norm, bass scaled to a peak of 1).
fn frame_scores(
    states: &[State],
    treble: &[f64; 12],
    bass: &[f64; 12],
    o: &ChordOptions,
) -> Vec<f64> {
    states
        .iter()
        .map(|s| match s.chord {
            None => o.no_chord_score,
            Some(c) => {
                let sim: f64 = s.template.iter().zip(treble).map(|(a, b)| a * b).sum();
                let inv = if c.bass_pc == c.root_pc {
                    0.0
                } else {
                    o.inversion_cost
                };
                sim + o.bass_weight * bass[usize::from(c.bass_pc)] - inv - c.quality.cost()
            }
        })
        .collect()
}

/// The chords of `frames` (in time order): template scores per frame, a Viterbi path that pays
/// `switch_penalty` per change, then runs of one chord joined into spans. Empty without frames.
pub fn decode_chords(
    frames: &[ChromaFrame],
    options: &ChordOptions,
    spelling: Spelling,
) -> Vec<ChordSpan> {
    if frames.is_empty() {
        return vec![];
    }
    let states = states();
    // Loudness reference: the 90th percentile of the frames' treble energy.
    let mut energies: Vec<f64> = frames
        .iter()
        .map(|f| f.treble.iter().sum::<f64>())
        .collect();
    energies.sort_by(f64::total_cmp);
    let loud = energies[(energies.len() * 9 / 10).min(energies.len() - 1)];
    let n = states.len();
    let mut best = vec![0.0f64; n];
    let mut back: Vec<Vec<u16>> = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        let energy: f64 = f.treble.iter().sum();
        let silent =
            energy.is_nan() || energy <= loud * options.silence_fraction || !energy.is_finite();
        let mut treble = [0.0; 12];
        let mut bass = [0.0; 12];
        if !silent {
            // Square roots: a loud doubled root must not drown the third that tells major
            // from minor.
            let tr: Vec<f64> = f.treble.iter().map(|x| x.max(0.0).sqrt()).collect();
            let norm = tr.iter().map(|x| x * x).sum::<f64>().sqrt();
            let peak = f.bass.iter().cloned().fold(0.0, f64::max);
            for k in 0..12 {
                treble[k] = tr[k] / norm;
                bass[k] = if peak > 0.0 { f.bass[k] / peak } else { 0.0 };
            }
        }
        let scores = frame_scores(&states, &treble, &bass, options);
        // Frames weigh by their length, so a long beat counts more than a short one.
        let w = (f.end_s - f.start_s).max(0.0);
        if i == 0 {
            back.push(vec![0; n]);
            for k in 0..n {
                best[k] = scores[k] * w;
            }
            continue;
        }
        let (lead, lead_score) =
            best.iter()
                .enumerate()
                .fold((0usize, f64::NEG_INFINITY), |acc, (k, &s)| {
                    if s > acc.1 {
                        (k, s)
                    } else {
                        acc
                    }
                });
        let switch = lead_score - options.switch_penalty;
        let mut links = vec![0u16; n];
        for k in 0..n {
            let (from, s) = if best[k] >= switch {
                (k, best[k])
            } else {
                (lead, switch)
            };
            links[k] = from as u16;
            best[k] = s + scores[k] * w;
        }
        back.push(links);
    }
    let mut k = best
        .iter()
        .enumerate()
        .fold((0usize, f64::NEG_INFINITY), |acc, (k, &s)| {
            if s > acc.1 {
                (k, s)
            } else {
                acc
            }
        })
        .0;
    let mut path = vec![0usize; frames.len()];
    for i in (0..frames.len()).rev() {
        path[i] = k;
        k = usize::from(back[i][k]);
    }
    let mut spans: Vec<ChordSpan> = Vec::new();
    let mut last: Option<usize> = None;
    for (f, &s) in frames.iter().zip(&path) {
        if last == Some(s) {
            if let Some(span) = spans.last_mut() {
                span.end_s = f.end_s;
            }
            continue;
        }
        last = Some(s);
        let (label, display) = match states[s].chord {
            None => ("N".to_string(), "N.C.".to_string()),
            Some(c) => (c.harte(spelling), c.display(spelling)),
        };
        spans.push(ChordSpan {
            start_s: f.start_s,
            end_s: f.end_s,
            label,
            display,
        });
    }
    spans
}

/// Chroma frames of `notes` between consecutive `grid` times (the score's beats): each frame's
/// treble is the duration-weighted pitch classes sounding in it, its bass the pitch class of the
/// lowest sounding note, weighted by how long it is lowest.
pub fn score_chord_frames(notes: &[TimedNote], grid: &[f64]) -> Vec<ChromaFrame> {
    let mut sorted: Vec<&TimedNote> = notes
        .iter()
        .filter(|n| n.end_s > n.start_s && n.start_s.is_finite() && n.end_s.is_finite())
        .collect();
    sorted.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    // No note starts more than this before a window it sounds in: where each search begins.
    let longest = sorted
        .iter()
        .map(|n| n.end_s - n.start_s)
        .fold(0.0, f64::max);
    let mut frames = Vec::with_capacity(grid.len().saturating_sub(1));
    for w in grid.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        if hi.is_nan() || lo.is_nan() || hi <= lo {
            continue;
        }
        let from = sorted.partition_point(|n| n.start_s < lo - longest);
        let inside: Vec<&TimedNote> = sorted[from..]
            .iter()
            .copied()
            .take_while(|n| n.start_s < hi)
            .filter(|n| n.end_s > lo)
            .collect();
        let mut treble = [0.0; 12];
        let mut bass = [0.0; 12];
        for n in &inside {
            let d = n.end_s.min(hi) - n.start_s.max(lo);
            treble[usize::from(n.pitch_midi % 12)] += d;
        }
        // The lowest note over each slice between note boundaries.
        let mut cuts: Vec<f64> = vec![lo, hi];
        for n in &inside {
            cuts.push(n.start_s.max(lo));
            cuts.push(n.end_s.min(hi));
        }
        cuts.sort_by(f64::total_cmp);
        cuts.dedup();
        for c in cuts.windows(2) {
            let mid = (c[0] + c[1]) / 2.0;
            if let Some(low) = inside
                .iter()
                .filter(|n| n.start_s <= mid && n.end_s > mid)
                .map(|n| n.pitch_midi)
                .min()
            {
                bass[usize::from(low % 12)] += c[1] - c[0];
            }
        }
        frames.push(ChromaFrame {
            start_s: lo,
            end_s: hi,
            treble,
            bass,
        });
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(start: f64, pcs: &[u8], bass: u8) -> ChromaFrame {
        let mut treble = [0.0; 12];
        for p in pcs {
            treble[usize::from(*p)] = 1.0;
        }
        let mut b = [0.0; 12];
        b[usize::from(bass)] = 1.0;
        ChromaFrame {
            start_s: start,
            end_s: start + 0.5,
            treble,
            bass: b,
        }
    }

    #[test]
    fn labels_are_harte_and_display_names() {
        let am7_c = Chord {
            root_pc: 9,
            quality: Quality::Min7,
            bass_pc: 0,
        };
        assert_eq!(am7_c.harte(Spelling::Common), "A:min7/b3");
        assert_eq!(am7_c.display(Spelling::Common), "Am7/C");
        let bb = Chord::new(10, Quality::Maj);
        assert_eq!(bb.harte(Spelling::Flats), "Bb:maj");
        assert_eq!(bb.harte(Spelling::Sharps), "A#:maj");
        let g7_f = Chord {
            root_pc: 7,
            quality: Quality::Dom7,
            bass_pc: 5,
        };
        assert_eq!(g7_f.harte(Spelling::Common), "G:7/b7");
        assert_eq!(g7_f.display(Spelling::Common), "G7/F");
        assert_eq!(Quality::parse("sus4"), Some(Quality::Sus4));
        for q in Quality::ALL {
            assert_eq!(Quality::parse(q.harte()), Some(q));
        }
    }

    #[test]
    fn every_quality_and_inversion_is_recognised_from_clean_chroma() {
        for q in Quality::ALL {
            for root in [0u8, 2, 7, 10] {
                // Augmented triads are symmetric: the bass decides the root, so use root position.
                let c = Chord::new(root, q);
                let pcs = c.pitch_classes();
                let frames: Vec<ChromaFrame> =
                    (0..4).map(|i| frame(i as f64 * 0.5, &pcs, root)).collect();
                let spans = decode_chords(&frames, &ChordOptions::default(), Spelling::Common);
                assert_eq!(spans.len(), 1, "{q:?} on {root}: {spans:?}");
                assert_eq!(spans[0].label, c.harte(Spelling::Common), "{q:?} on {root}");
            }
        }
        let first_inversion = [frame(0.0, &[0, 4, 7], 4), frame(0.5, &[0, 4, 7], 4)];
        let spans = decode_chords(&first_inversion, &ChordOptions::default(), Spelling::Common);
        assert_eq!(spans[0].label, "C:maj/3");
        assert_eq!(spans[0].display, "C/E");
    }

    #[test]
    fn silence_is_no_chord_and_changes_are_found() {
        let mut frames: Vec<ChromaFrame> = (0..4)
            .map(|i| frame(i as f64 * 0.5, &[0, 4, 7], 0))
            .collect();
        frames.extend((4..8).map(|i| frame(i as f64 * 0.5, &[7, 11, 2, 5], 7)));
        frames.extend((8..12).map(|i| ChromaFrame {
            start_s: i as f64 * 0.5,
            end_s: i as f64 * 0.5 + 0.5,
            treble: [0.0; 12],
            bass: [0.0; 12],
        }));
        let spans = decode_chords(&frames, &ChordOptions::default(), Spelling::Common);
        let labels: Vec<&str> = spans.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["C:maj", "G:7", "N"]);
        assert_eq!(spans[1].start_s, 2.0);
        assert_eq!(spans[2].end_s, 6.0);
    }

    #[test]
    fn score_frames_weigh_durations_and_the_lowest_note() {
        let notes = [
            TimedNote {
                start_s: 0.0,
                end_s: 1.0,
                pitch_midi: 48,
            },
            TimedNote {
                start_s: 0.0,
                end_s: 1.0,
                pitch_midi: 64,
            },
            TimedNote {
                start_s: 0.0,
                end_s: 0.5,
                pitch_midi: 67,
            },
            TimedNote {
                start_s: 0.5,
                end_s: 1.0,
                pitch_midi: 43,
            },
        ];
        let frames = score_chord_frames(&notes, &[0.0, 1.0]);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].treble[0], 1.0);
        assert_eq!(frames[0].treble[7], 1.0);
        assert_eq!(frames[0].bass[0], 0.5);
        assert_eq!(frames[0].bass[7], 0.5);
    }

    #[test]
    fn spelling_follows_the_key() {
        assert_eq!(
            Spelling::for_key(&Key::new(5, Mode::Major, None)),
            Spelling::Flats
        );
        assert_eq!(
            Spelling::for_key(&Key::new(2, Mode::Minor, None)),
            Spelling::Flats
        );
        assert_eq!(
            Spelling::for_key(&Key::new(7, Mode::Major, None)),
            Spelling::Sharps
        );
        assert_eq!(
            Spelling::for_key(&Key::new(0, Mode::Major, None)),
            Spelling::Common
        );
    }
}
