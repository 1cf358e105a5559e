//! Rule-based curves at the DiffSinger frame rate, used when a voice has no
//! predictor of its own:
//! - f0: each note's pitch, with portamento into it (a raised-cosine glide
//!   centred on the note change), a small preparation against the direction
//!   of the move before it and an overshoot after it, and vibrato that fades
//!   in after a delay on notes long enough to carry it;
//! - energy and breathiness from the velocity the score's dynamics give each
//!   note, scaled by the expression parameters, with a short attack at each
//!   phrase start and a release at its end.
//!
//! Rests hold the pitch of the nearest note, so a voice that needs f0 on every
//! frame (DiffSinger's vocoders do) always has one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::align::Alignment;

/// How the pitch moves (all parameters of `synthesize`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PitchStyle {
    /// Vibrato rate in Hz (default 5.5).
    pub vibrato_rate: f64,
    /// Vibrato depth in cents, the peak deviation (default 25).
    pub vibrato_depth: f64,
    /// Seconds into a note before vibrato begins (default 0.3); it fades in over 0.2 s.
    pub vibrato_delay: f64,
    /// Length of the glide between two notes in seconds (default 0.06).
    pub portamento: f64,
    /// Overshoot after a glide, as a fraction of the interval (default 0.08, at most 40 cents).
    pub overshoot: f64,
    /// Preparation before a glide, as a fraction of the interval (default 0.05, at most 25 cents).
    pub preparation: f64,
}

impl Default for PitchStyle {
    fn default() -> Self {
        PitchStyle {
            vibrato_rate: 5.5,
            vibrato_depth: 25.0,
            vibrato_delay: 0.3,
            portamento: 0.06,
            overshoot: 0.08,
            preparation: 0.05,
        }
    }
}

impl PitchStyle {
    /// The first parameter out of its range, with the range.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let ok = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        if !ok(self.vibrato_rate, 0.0, 12.0) {
            return Err(("vibrato_rate", "0 to 12 Hz"));
        }
        if !ok(self.vibrato_depth, 0.0, 200.0) {
            return Err(("vibrato_depth", "0 to 200 cents"));
        }
        if !ok(self.vibrato_delay, 0.0, 10.0) {
            return Err(("vibrato_delay", "0 to 10 s"));
        }
        if !ok(self.portamento, 0.0, 0.5) {
            return Err(("portamento", "0 to 0.5 s"));
        }
        if !ok(self.overshoot, 0.0, 0.5) {
            return Err(("overshoot", "0 to 0.5"));
        }
        if !ok(self.preparation, 0.0, 0.5) {
            return Err(("preparation", "0 to 0.5"));
        }
        Ok(())
    }
}

/// The expression values of `synthesize` (S0's names and ranges).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Expression {
    /// −1 (legato: notes run into each other) to 1 (detached: each note is released early); default 0.
    pub articulation: f64,
    /// 0 (clean) to 1 (breathy); default 0.2.
    pub airiness: f64,
    /// 0 (soft) to 1 (loud and pressed); default 0.5.
    pub intensity: f64,
    /// 0 (dark, wide formants) to 1 (bright, narrow formants, crisp consonants); default 0.5.
    pub clarity: f64,
}

impl Default for Expression {
    fn default() -> Self {
        Expression {
            articulation: 0.0,
            airiness: 0.2,
            intensity: 0.5,
            clarity: 0.5,
        }
    }
}

impl Expression {
    /// The first value out of its range, with the range.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let ok = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        if !ok(self.articulation, -1.0, 1.0) {
            return Err(("articulation", "-1 to 1"));
        }
        for (name, v) in [
            ("airiness", self.airiness),
            ("intensity", self.intensity),
            ("clarity", self.clarity),
        ] {
            if !ok(v, 0.0, 1.0) {
                return Err((name, "0 to 1"));
            }
        }
        Ok(())
    }
}

/// Hz of a MIDI key (A4 = 440 Hz).
pub fn midi_to_hz(midi: f64) -> f64 {
    440.0 * ((midi - 69.0) / 12.0).exp2()
}

/// The pitch of every frame in MIDI semitones (fractional), `alignment.frames` long.
pub fn pitch_curve(alignment: &Alignment, style: &PitchStyle) -> Vec<f64> {
    let frames = alignment.frames as usize;
    let fr = alignment.frame_rate;
    let notes = &alignment.notes;
    // Each frame's target: its note's key; rests take the nearest sung note's.
    let mut base = vec![f64::NAN; frames];
    for n in notes {
        if let Some(m) = n.midi {
            let (s, e) = (n.start as usize, (n.end as usize).min(frames));
            base[s.min(frames)..e].fill(f64::from(m));
        }
    }
    let mut last = f64::NAN;
    for v in base.iter_mut() {
        if v.is_nan() {
            *v = last;
        } else {
            last = *v;
        }
    }
    let mut next = f64::NAN;
    for v in base.iter_mut().rev() {
        if v.is_nan() {
            *v = next;
        } else {
            next = *v;
        }
    }
    if base.iter().any(|v| v.is_nan()) {
        base.fill(60.0); // no sung note at all
    }
    let mut out = base.clone();
    // Glides, preparation and overshoot at each change between two sung notes.
    let half = (style.portamento * fr / 2.0).max(0.0);
    let prep_len = 0.05 * fr;
    let over_len = 0.08 * fr;
    for w in notes.windows(2) {
        let (Some(a), Some(b)) = (w[0].midi, w[1].midi) else {
            continue;
        };
        if a == b {
            continue;
        }
        let (a, b) = (f64::from(a), f64::from(b));
        let d = b - a;
        let at = f64::from(w[1].start);
        let lo = (at - half).max(f64::from(w[0].start));
        let hi = (at + half).min(f64::from(w[1].end));
        let first = lo.floor().max(0.0) as usize;
        let last = (hi.ceil() as usize).min(frames);
        for (t, v) in out.iter_mut().enumerate().take(last).skip(first) {
            let x = ((t as f64 - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0);
            *v = a + d * (1.0 - (std::f64::consts::PI * x).cos()) / 2.0;
        }
        let prep = (-d * style.preparation).clamp(-0.25, 0.25);
        let p0 = (lo - prep_len).max(f64::from(w[0].start));
        let (from, to) = (
            p0.floor().max(0.0) as usize,
            (lo.floor().max(0.0) as usize).min(frames),
        );
        for (t, v) in out.iter_mut().enumerate().take(to).skip(from) {
            let x = (t as f64 - p0) / (lo - p0).max(1e-9);
            *v += prep * (std::f64::consts::PI * x).sin();
        }
        let over = (d * style.overshoot).clamp(-0.4, 0.4);
        let o1 = (hi + over_len).min(f64::from(w[1].end));
        let (from, to) = (
            (hi.ceil() as usize).min(frames),
            (o1.floor().max(0.0) as usize).min(frames),
        );
        for (t, v) in out.iter_mut().enumerate().take(to).skip(from) {
            let x = (t as f64 - hi) / (o1 - hi).max(1e-9);
            *v += over * (std::f64::consts::PI * x).sin();
        }
    }
    // Vibrato on each sung note (a melisma's notes each carry their own).
    if style.vibrato_depth > 0.0 && style.vibrato_rate > 0.0 {
        let fade = 0.2 * fr;
        for n in notes.iter().filter(|n| n.midi.is_some()) {
            let start = f64::from(n.start) + style.vibrato_delay * fr;
            let end = f64::from(n.end) - half;
            if end - start < fade {
                continue;
            }
            let (from, to) = (start.ceil() as usize, (end.floor() as usize).min(frames));
            for (t, v) in out.iter_mut().enumerate().take(to).skip(from) {
                let since = t as f64 - start;
                let gain = (since / fade).min(1.0) * ((end - t as f64) / (0.5 * fade)).min(1.0);
                let phase = 2.0 * std::f64::consts::PI * style.vibrato_rate * since / fr;
                *v += style.vibrato_depth / 100.0 * gain * phase.sin();
            }
        }
    }
    out
}

/// f0 in Hz per frame ([`pitch_curve`] converted).
pub fn f0_curve(alignment: &Alignment, style: &PitchStyle) -> Vec<f32> {
    pitch_curve(alignment, style)
        .into_iter()
        .map(|m| midi_to_hz(m) as f32)
        .collect()
}

/// Loudness and breath per frame, 0..1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Dynamics {
    /// Relative loudness (1 = fortissimo at full intensity).
    pub energy: Vec<f32>,
    /// How much of the voice is breath noise.
    pub breathiness: Vec<f32>,
}

/// Energy and breathiness from the score's velocities and the expression values.
pub fn dynamics_curves(alignment: &Alignment, expression: &Expression) -> Dynamics {
    let intensity = expression.intensity;
    let airiness = expression.airiness;
    let frames = alignment.frames as usize;
    let fr = alignment.frame_rate;
    // Each phoneme of a word takes its note's level (consonants before a note too); silences none.
    let mut level = vec![0.0f64; frames];
    for p in &alignment.phonemes {
        let Some(n) = alignment.notes.get(p.note_index) else {
            continue;
        };
        if p.word_index.is_none() {
            continue;
        }
        let (s, e) = ((p.start as usize).min(frames), (p.end as usize).min(frames));
        level[s..e].fill(f64::from(n.velocity.clamp(1, 127)) / 127.0);
    }
    // Smooth the steps between dynamics over ~50 ms.
    let k = (0.05 * fr).round().max(1.0) as usize;
    let mut smooth = moving_average(&level, k);
    // Detached articulation: each sung note fades out over the end of its length.
    if expression.articulation > 0.0 {
        for n in alignment.notes.iter().filter(|n| n.midi.is_some()) {
            let (s, e) = ((n.start as usize).min(frames), (n.end as usize).min(frames));
            let cut = ((e - s) as f64 * 0.35 * expression.articulation).round() as usize;
            let from = e.saturating_sub(cut);
            for (t, v) in smooth.iter_mut().enumerate().take(e).skip(from) {
                let x = (e - t) as f64 / cut.max(1) as f64;
                *v *= x * x;
            }
        }
    }
    let gain = (2.0 * intensity.clamp(0.0, 1.0)).max(0.05); // 1 at the neutral 0.5
    let energy: Vec<f32> = smooth
        .iter()
        .map(|&v| ((0.25 + 0.75 * v) * gain).clamp(0.0, 1.5) as f32)
        .collect();
    let air = airiness.clamp(0.0, 1.0);
    let breathiness: Vec<f32> = smooth
        .iter()
        .map(|&v| (air * 0.8 + (1.0 - v) * 0.15).clamp(0.0, 1.0) as f32)
        .collect();
    Dynamics {
        energy,
        breathiness,
    }
}

fn moving_average(x: &[f64], k: usize) -> Vec<f64> {
    let n = x.len();
    let mut prefix = vec![0.0; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + x[i];
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(k / 2);
            let hi = (i + k / 2 + 1).min(n);
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}
