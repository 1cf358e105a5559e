//! Klatt's digital resonators (two-pole, two-zero anti-resonators) at 44.1 kHz.

use std::f32::consts::PI;

/// A two-pole resonator `y[n] = a x[n] + b y[n-1] + c y[n-2]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resonator {
    a: f32,
    b: f32,
    c: f32,
    y1: f32,
    y2: f32,
}

impl Resonator {
    /// Klatt's coefficients for centre `f` and bandwidth `bw` (Hz): unity gain at DC.
    pub fn set(&mut self, f: f32, bw: f32, rate: f32) {
        let t = 1.0 / rate;
        let r = (-PI * bw * t).exp();
        self.c = -r * r;
        self.b = 2.0 * r * (2.0 * PI * f * t).cos();
        self.a = 1.0 - self.b - self.c;
    }

    /// The same poles with unity gain at the centre frequency (for shaping noise).
    pub fn set_peak(&mut self, f: f32, bw: f32, rate: f32) {
        let t = 1.0 / rate;
        let r = (-PI * bw * t).exp();
        let theta = 2.0 * PI * f * t;
        self.c = -r * r;
        self.b = 2.0 * r * theta.cos();
        self.a = (1.0 - r)
            * (1.0 - 2.0 * r * (2.0 * theta).cos() + r * r)
                .max(0.0)
                .sqrt();
    }

    /// One sample.
    #[inline(always)]
    pub fn process(&mut self, x: f32) -> f32 {
        let y = self.a * x + self.b * self.y1 + self.c * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Klatt's anti-resonator: the inverse of a resonator, `y[n] = a' x[n] + b' x[n-1] + c' x[n-2]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct AntiResonator {
    a: f32,
    b: f32,
    c: f32,
    x1: f32,
    x2: f32,
}

impl AntiResonator {
    /// Zeros at `f` with bandwidth `bw` (Hz), unity gain at DC.
    pub fn set(&mut self, f: f32, bw: f32, rate: f32) {
        let mut r = Resonator::default();
        r.set(f, bw, rate);
        let a = if r.a.abs() < 1e-12 { 1e-12 } else { r.a };
        self.a = 1.0 / a;
        self.b = -r.b / a;
        self.c = -r.c / a;
    }

    /// One sample.
    #[inline(always)]
    pub fn process(&mut self, x: f32) -> f32 {
        let y = self.a * x + self.b * self.x1 + self.c * self.x2;
        self.x2 = self.x1;
        self.x1 = x;
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain_at(f: f32, mut process: impl FnMut(f32) -> f32) -> f32 {
        let rate = 44_100.0;
        let n = 44_100;
        let mut peak = 0.0f32;
        for i in 0..n {
            let y = process((2.0 * PI * f * i as f32 / rate).sin());
            if i > n / 2 {
                peak = peak.max(y.abs());
            }
        }
        peak
    }

    #[test]
    fn a_resonator_peaks_at_its_centre_and_the_anti_resonator_cancels_it() {
        let mut r = Resonator::default();
        r.set_peak(1000.0, 100.0, 44_100.0);
        let at = gain_at(1000.0, |x| r.process(x));
        let mut r = Resonator::default();
        r.set_peak(1000.0, 100.0, 44_100.0);
        let off = gain_at(3000.0, |x| r.process(x));
        assert!((at - 1.0).abs() < 0.05, "{at}");
        assert!(off < 0.1, "{off}");
        let (mut r, mut z) = (Resonator::default(), AntiResonator::default());
        r.set(700.0, 80.0, 44_100.0);
        z.set(700.0, 80.0, 44_100.0);
        let both = gain_at(700.0, |x| z.process(r.process(x)));
        assert!((both - 1.0).abs() < 0.02, "{both}");
    }
}
