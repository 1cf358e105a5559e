//! The built-in voice: a Klatt-style cascade/parallel formant synthesizer
//! (Klatt 1980) driven by an LF-model glottal source, at 44.1 kHz. It needs
//! no weights.
//!
//! - **Source.** The LF flow derivative ([`source`]), its shape set by Rd
//!   (tenser with intensity and clarity, laxer with airiness and softer
//!   dynamics), at the f0 curve's pitch through a phase accumulator, with
//!   per-period jitter (period) and shimmer (amplitude), plus aspiration
//!   noise that is stronger in the open phase.
//! - **Cascade.** Source and aspiration pass through the nasal anti-formant
//!   and pole, then F5 … F1 ([`filters`]); outside nasals the anti-formant
//!   sits on the pole and the two cancel.
//! - **Parallel.** Frication and bursts are noise shaped by one or two
//!   resonances per place of articulation plus a flat bypass ([`tables`]).
//! - **Coarticulation.** Formant targets change with raised-cosine
//!   interpolation across each phoneme boundary (up to 30 ms each side);
//!   /h/, silence and breaths take their neighbour's formants. Source
//!   amplitudes ramp sample by sample between 64-sample control blocks.
//! - **Stops** close (a voice bar when voiced), burst for up to 8 ms and,
//!   when voiceless, aspirate into the next sound; affricates close and then
//!   rub.
//!
//! A render is cut into regions at silences and inside voiceless stops'
//! closures ([`BuiltinVoice::render_regions`]); regions are rendered in
//! parallel, each from rest, and report progress as they finish.

pub mod filters;
pub mod source;
pub mod tables;

use std::sync::atomic::{AtomicUsize, Ordering};

use coda_vocal::align::{Alignment, HOP, SAMPLE_RATE};
use coda_vocal::curves::{Dynamics, Expression};

use filters::{AntiResonator, Resonator};
use source::LfTables;
use tables::{target, Manner, Target, NASAL_POLE};

/// The lowest and highest MIDI keys the built-in voice is made for (G2 to C6).
pub const RANGE: (i32, i32) = (43, 84);

/// Samples between control updates.
const BLOCK: usize = 64;

/// What the voice sings: the alignment and the curves at its frame rate.
pub struct Performance<'a> {
    /// Phonemes and notes in frames.
    pub alignment: &'a Alignment,
    /// f0 in Hz per frame.
    pub f0: &'a [f32],
    /// Energy and breathiness per frame.
    pub dynamics: &'a Dynamics,
    /// The expression values.
    pub expression: Expression,
    /// Seed of the noise (the same seed renders the same samples).
    pub seed: u64,
}

/// Why a render stopped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// The cancel flag was raised between regions.
    #[error("canceled")]
    Canceled,
    /// The curves do not cover the alignment.
    #[error("the {0} curve has {1} frames; the alignment has {2}")]
    CurveLength(&'static str, usize, usize),
    /// A phoneme the voice has no target for.
    #[error("the built-in voice cannot sing the phoneme {0:?}")]
    UnknownPhoneme(String),
    /// A worker thread failed.
    #[error("render failed: {0}")]
    Internal(String),
}

/// One stretch rendered on its own: sample range, phoneme range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First sample.
    pub start: usize,
    /// One past the last sample.
    pub end: usize,
}

/// The built-in voice (its source tables are computed once).
pub struct BuiltinVoice {
    lf: LfTables,
}

impl Default for BuiltinVoice {
    fn default() -> Self {
        BuiltinVoice::new()
    }
}

/// One phoneme as the renderer sees it.
#[derive(Clone, Copy)]
struct Phone {
    start: usize,
    end: usize,
    target: Target,
    /// Formants to use when the phoneme has none of its own (/h/, silence, breath).
    borrowed: Option<[f32; 5]>,
}

impl BuiltinVoice {
    /// Builds the voice.
    pub fn new() -> BuiltinVoice {
        BuiltinVoice {
            lf: LfTables::new(),
        }
    }

    /// The regions the built-in voice renders on their own: the phrases of [`Self::regions`],
    /// cut further inside the closure of a voiceless stop (/p t k/, silent: nothing rings into
    /// it) at least every two seconds, so long phrases without rests render in parallel too.
    pub fn render_regions(alignment: &Alignment) -> Vec<Region> {
        let hop = HOP as usize;
        let min_gap = 2 * SAMPLE_RATE as usize;
        let mut out = Vec::new();
        for phrase in BuiltinVoice::regions(alignment) {
            let mut start = phrase.start;
            for p in &alignment.phonemes {
                let len = (p.end - p.start) as usize * hop;
                // The closure is the stop's first 60 %; cut at a third of it.
                let cut = p.start as usize * hop + len / 5;
                let stop = matches!(p.phone.as_str(), "p" | "t" | "k") && len >= 3 * hop;
                if stop && cut > start + min_gap && cut + min_gap / 4 < phrase.end {
                    out.push(Region { start, end: cut });
                    start = cut;
                }
            }
            out.push(Region {
                start,
                end: phrase.end,
            });
        }
        out
    }

    /// The regions a render of `alignment` is cut into: one per phrase, split inside silences.
    pub fn regions(alignment: &Alignment) -> Vec<Region> {
        let hop = HOP as usize;
        let total = alignment.frames as usize * hop;
        let mut cuts = vec![0usize];
        for p in &alignment.phonemes {
            let len = (p.end - p.start) as usize;
            if p.phone == "SP" && len >= 16 && p.start > 0 && (p.end as usize) * hop < total {
                // Ring-out of ~90 ms, then a fresh start.
                cuts.push((p.start as usize + 8) * hop);
            }
        }
        cuts.push(total);
        cuts.dedup();
        cuts.windows(2)
            .filter(|w| w[1] > w[0])
            .map(|w| Region {
                start: w[0],
                end: w[1],
            })
            .collect()
    }

    /// Renders `performance` as mono 44.1 kHz samples; `progress(done, total)` counts regions.
    pub fn render(
        &self,
        performance: &Performance,
        threads: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
        cancel: &(dyn Fn() -> bool + Sync),
    ) -> Result<Vec<f32>, RenderError> {
        let a = performance.alignment;
        let frames = a.frames as usize;
        if performance.f0.len() != frames {
            return Err(RenderError::CurveLength("f0", performance.f0.len(), frames));
        }
        for (name, c) in [
            ("energy", &performance.dynamics.energy),
            ("breathiness", &performance.dynamics.breathiness),
        ] {
            if c.len() != frames {
                return Err(RenderError::CurveLength(name, c.len(), frames));
            }
        }
        let phones = plan(a)?;
        let regions = BuiltinVoice::render_regions(a);
        let total = regions.len();
        let done = AtomicUsize::new(0);
        let results = coda_dsp::parallel::run_tasks(
            "formant",
            regions.iter().copied().enumerate().collect(),
            threads,
            |(k, region)| {
                if cancel() {
                    return None;
                }
                let out = self.render_region(performance, &phones, region, k as u64);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                Some(out)
            },
        )
        .map_err(|e| RenderError::Internal(e.to_string()))?;
        let mut out = vec![0.0f32; frames * HOP as usize];
        for (region, samples) in regions.iter().zip(results) {
            let samples = samples.ok_or(RenderError::Canceled)?;
            out[region.start..region.end].copy_from_slice(&samples);
        }
        // A gentle limiter instead of normalising: expression changes stay audible.
        for v in &mut out {
            if v.abs() > 0.9 {
                *v = v.signum() * (0.9 + 0.1 * ((v.abs() - 0.9) / 0.1).tanh());
            }
        }
        Ok(out)
    }

    fn render_region(
        &self,
        perf: &Performance,
        phones: &[Phone],
        region: Region,
        index: u64,
    ) -> Vec<f32> {
        let rate = SAMPLE_RATE as f32;
        let hop = HOP as usize;
        let ex = perf.expression;
        let mut out = vec![0.0f32; region.end - region.start];
        let mut noise =
            Noise::new(perf.seed ^ (index.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut cascade = [Resonator::default(); 5];
        // The higher-pole correction: two broad resonances above F5, so the spectrum
        // falls as a vocal tract's does instead of 60 dB per octave past F5.
        let mut upper = [Resonator::default(); 2];
        upper[0].set(5600.0, 1000.0, rate);
        upper[1].set(6900.0, 1200.0, rate);
        let mut nasal_pole = Resonator::default();
        let mut nasal_zero = AntiResonator::default();
        let mut bands = [Resonator::default(); 2];
        let mut phase = 0.0f32;
        let mut period_gain = 1.0f32;
        let mut period_step = 1.0f32;
        let (mut av0, mut ah0, mut af0) = (0.0f32, 0.0f32, 0.0f32);
        let mut dc_x = 0.0f32;
        let mut dc_y = 0.0f32;
        let jitter = 0.004 + 0.012 * ex.airiness as f32 * (1.0 - 0.5 * ex.clarity as f32);
        let shimmer = 0.03 + 0.08 * ex.airiness as f32;
        let bw_scale = 1.4 - 0.7 * ex.clarity as f32; // clear voices: narrow formants
        let mut k = phones.partition_point(|p| p.end <= region.start);
        let mut s = region.start;
        while s < region.end {
            let n = BLOCK.min(region.end - s);
            while k + 1 < phones.len() && phones[k].end <= s {
                k += 1;
            }
            let c = control(phones, k, s);
            // Curves at this block.
            let fpos = (s as f32 + 0.5 * n as f32) / hop as f32;
            let f0 = interp(perf.f0, fpos).max(20.0);
            let energy = interp(&perf.dynamics.energy, fpos).max(0.0);
            let breath = interp(&perf.dynamics.breathiness, fpos).clamp(0.0, 1.0);
            // Filters for this block.
            // F1 and the nasal pole ride above f0 on high notes, as sopranos tune F1
            // (Sundberg 1975); below that they keep their targets.
            let floor = 1.05 * f0;
            for (i, r) in cascade.iter_mut().enumerate() {
                let f = if i == 0 {
                    c.formants[0].max(floor)
                } else {
                    c.formants[i]
                };
                r.set(f.min(0.45 * rate), c.bandwidths[i] * bw_scale, rate);
            }
            let pole = NASAL_POLE.0.max(floor);
            nasal_pole.set(pole, NASAL_POLE.1, rate);
            let zero = if c.nasal_zero == NASAL_POLE.0 {
                pole
            } else {
                c.nasal_zero
            };
            nasal_zero.set(zero, NASAL_POLE.1, rate);
            for (b, &(f, bw, _)) in bands.iter_mut().zip(c.noise.iter()) {
                b.set_peak(f.min(0.45 * rate), bw, rate);
            }
            let rd = (0.7 + 1.1 * breath
                - 0.6 * (ex.intensity as f32 - 0.5)
                - 0.3 * (ex.clarity as f32 - 0.5)
                + 0.4 * (0.7 - energy).max(0.0))
            .clamp(source::RD_MIN, source::RD_MAX);
            let (ti, tj, tw) = self.lf.pick(rd);
            let te = self.lf.te(ti) + (self.lf.te(tj) - self.lf.te(ti)) * tw;
            // Source levels, ramped across the block.
            let av1 = c.voicing * energy;
            let ah1 = (c.aspiration + breath * 0.35 * c.voicing) * energy;
            let af1 = c.frication * energy;
            let inc = f0 / rate;
            let noisy = af0 > 1e-5 || af1 > 1e-5;
            let g = [c.noise[0].2, c.noise[1].2, c.bypass];
            for i in 0..n {
                let x = i as f32 / n as f32;
                let av = av0 + (av1 - av0) * x;
                let ah = ah0 + (ah1 - ah0) * x;
                let af = af0 + (af1 - af0) * x;
                phase += inc * period_step;
                if phase >= 1.0 {
                    phase -= 1.0;
                    period_step = 1.0 + jitter * noise.uniform();
                    period_gain = 1.0 + shimmer * noise.uniform();
                }
                let voice = self.lf.sample(ti, tj, tw, phase) * period_gain;
                let open = if phase < te { 1.0 } else { 0.35 };
                let asp = noise.uniform() * open;
                let mut y = av * voice * VOICE_GAIN + ah * asp * ASPIRATION_GAIN;
                y = nasal_zero.process(y);
                y = nasal_pole.process(y);
                for r in upper.iter_mut().rev() {
                    y = r.process(y);
                }
                for r in cascade.iter_mut().rev() {
                    y = r.process(y);
                }
                if noisy {
                    let w = noise.uniform() * af * FRICATION_GAIN;
                    y += g[0] * bands[0].process(w) - g[1] * bands[1].process(w) + g[2] * w;
                }
                // DC blocker (one pole at ~20 Hz).
                let o = y - dc_x + 0.997 * dc_y;
                dc_x = y;
                dc_y = o;
                out[s - region.start + i] = o;
            }
            av0 = av1;
            ah0 = ah1;
            af0 = af1;
            s += n;
        }
        out
    }
}

/// Level of the voiced source into the cascade (a modal /a/ at full energy peaks near −6 dBFS).
const VOICE_GAIN: f32 = 0.045;
/// Level of aspiration noise.
const ASPIRATION_GAIN: f32 = 0.05;
/// Level of frication noise.
const FRICATION_GAIN: f32 = 0.12;

/// A block's targets after coarticulation and the phoneme's own phases.
struct Control {
    formants: [f32; 5],
    bandwidths: [f32; 5],
    nasal_zero: f32,
    voicing: f32,
    aspiration: f32,
    frication: f32,
    noise: [tables::Noise; 2],
    bypass: f32,
}

fn smooth(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    0.5 - 0.5 * (std::f32::consts::PI * x).cos()
}

/// The formants phoneme `k` aims at, `at` samples into the render.
fn formants_of(p: &Phone, at: usize) -> [f32; 5] {
    if let Some(b) = p.borrowed {
        return b;
    }
    let mut f = p.target.formants;
    if let Some(to) = p.target.glide_to {
        let len = p.end - p.start;
        let glide_from =
            (p.start + len * 65 / 100).max(p.end.saturating_sub(SAMPLE_RATE as usize / 5));
        if at > glide_from {
            let x = smooth((at - glide_from) as f32 / (p.end - glide_from).max(1) as f32);
            for i in 0..3 {
                f[i] += (to[i] - f[i]) * x;
            }
        }
    }
    f
}

/// Targets at sample `at` inside phoneme `k`.
fn control(phones: &[Phone], k: usize, at: usize) -> Control {
    let p = &phones[k];
    let len = (p.end - p.start).max(1);
    let half = |q: &Phone| ((q.end - q.start) * 2 / 5).min(SAMPLE_RATE as usize * 3 / 100);
    let mut formants = formants_of(p, at);
    // Coarticulation: blend with the previous phoneme across the start, the next across the end.
    if k > 0 {
        let prev = &phones[k - 1];
        let h = half(prev).min(half(p)).max(1);
        if at < p.start + h {
            let x = smooth((at + h - p.start) as f32 / (2 * h) as f32);
            let pf = formants_of(prev, p.start.saturating_sub(1));
            for i in 0..5 {
                formants[i] = pf[i] + (formants[i] - pf[i]) * x;
            }
        }
    }
    if k + 1 < phones.len() {
        let next = &phones[k + 1];
        let h = half(next).min(half(p)).max(1);
        if at + h > p.end {
            let x = smooth((at + h - p.end) as f32 / (2 * h) as f32);
            let nf = formants_of(next, next.start);
            for i in 0..5 {
                formants[i] += (nf[i] - formants[i]) * x;
            }
        }
    }
    let t = &p.target;
    let rel = (at.saturating_sub(p.start)) as f32 / len as f32;
    let ms = |v: f32| v * SAMPLE_RATE as f32 / 1000.0 / len as f32; // milliseconds as a fraction of the phoneme
    let mut c = Control {
        formants,
        bandwidths: t.bandwidths,
        nasal_zero: t.nasal_zero,
        voicing: t.voicing,
        aspiration: t.aspiration,
        frication: t.frication,
        noise: t.noise,
        bypass: t.bypass,
    };
    match t.manner {
        Manner::Stop { voiced } => {
            let burst_at = 0.6;
            let burst_len = ms(8.0).min(0.15);
            if rel < burst_at {
                c.frication = 0.0;
                c.aspiration = 0.0;
                c.voicing = if voiced { 0.15 } else { 0.0 };
                c.formants[0] = 200.0;
            } else if rel < burst_at + burst_len {
                c.voicing = if voiced { 0.15 } else { 0.0 };
                c.aspiration = 0.0;
            } else {
                c.frication = 0.0;
                c.voicing = if voiced { 0.5 } else { 0.0 };
                // Aspiration (voiceless) through the next sound's formants.
                if let Some(next) = phones.get(k + 1) {
                    c.formants = formants_of(next, next.start);
                }
            }
        }
        Manner::Affricate { voiced } if rel < 0.35 => {
            c.frication = 0.0;
            c.voicing = if voiced { 0.15 } else { 0.0 };
        }
        Manner::Breath => {
            c.aspiration = t.aspiration * (std::f32::consts::PI * rel).sin();
        }
        _ => {}
    }
    c
}

/// The phonemes with their targets in samples; /h/, silences and breaths borrow formants.
fn plan(a: &Alignment) -> Result<Vec<Phone>, RenderError> {
    let hop = HOP as usize;
    let mut phones = Vec::with_capacity(a.phonemes.len());
    for p in &a.phonemes {
        let target =
            target(&p.phone).ok_or_else(|| RenderError::UnknownPhoneme(p.phone.clone()))?;
        phones.push(Phone {
            start: p.start as usize * hop,
            end: p.end as usize * hop,
            target,
            borrowed: None,
        });
    }
    let own = |m: Manner| !matches!(m, Manner::Aspirate | Manner::Silence | Manner::Breath);
    for i in 0..phones.len() {
        if own(phones[i].target.manner) {
            continue;
        }
        let next = phones[i + 1..].iter().find(|q| own(q.target.manner));
        let prev = phones[..i].iter().rev().find(|q| own(q.target.manner));
        let from = match phones[i].target.manner {
            Manner::Aspirate => next.or(prev),
            _ => prev.or(next),
        };
        phones[i].borrowed = Some(from.map_or(phones[i].target.formants, |q| q.target.formants));
    }
    Ok(phones)
}

fn interp(curve: &[f32], pos: f32) -> f32 {
    if curve.is_empty() {
        return 0.0;
    }
    let x = (pos - 0.5).max(0.0);
    let i = (x.floor() as usize).min(curve.len() - 1);
    let j = (i + 1).min(curve.len() - 1);
    let w = x - i as f32;
    curve[i] + (curve[j] - curve[i]) * w.clamp(0.0, 1.0)
}

/// xorshift64* noise, uniform in −1..1.
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Noise {
        Noise(seed | 1)
    }

    #[inline(always)]
    fn uniform(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let v = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
        2.0 * v - 1.0
    }
}
