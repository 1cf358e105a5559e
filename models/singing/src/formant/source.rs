//! The LF-model glottal source (Fant, Liljencrants & Lin 1985), shaped by the
//! single parameter Rd (Fant 1995, "The LF-model revisited"): pressed voices
//! have a low Rd (0.3), modal about 1, breathy up to 2.7.
//!
//! One period of the flow derivative is tabulated for each of [`RD_STEPS`]
//! values of Rd, normalised to a negative peak (Ee) of 1; the voice reads
//! the table at its phase and blends the two nearest Rd tables.

/// Samples per tabulated period.
pub const TABLE_LEN: usize = 2048;
/// The smallest tabulated Rd.
pub const RD_MIN: f32 = 0.3;
/// The largest tabulated Rd.
pub const RD_MAX: f32 = 2.7;
/// Number of tables between them.
pub const RD_STEPS: usize = 13;

/// The tabulated LF source.
pub struct LfTables {
    tables: Vec<Vec<f32>>,
    /// The open phase (Te, fraction of the period) of each table.
    te: Vec<f32>,
}

/// (tp, te, ta) as fractions of the period for `rd` (Fant 1995, eqs. 2–4).
pub fn timing(rd: f64) -> (f64, f64, f64) {
    let rap = (-1.0 + 4.8 * rd) / 100.0;
    let rkp = (22.4 + 11.8 * rd) / 100.0;
    let rgp = rkp / (4.0 * (0.11 * rd / (0.5 + 1.2 * rkp) - rap));
    let tp = 1.0 / (2.0 * rgp);
    let te = (tp * (1.0 + rkp)).min(0.98);
    (tp, te, rap.max(1e-4))
}

/// One period of the LF flow derivative for `rd`, `n` samples, Ee = 1.
pub fn lf_period(rd: f64, n: usize) -> (Vec<f32>, f64) {
    let (tp, te, ta) = timing(rd);
    let wg = std::f64::consts::PI / tp;
    // Return phase: eps * ta = 1 - exp(-eps (1 - te)).
    let mut eps = 1.0 / ta;
    for _ in 0..50 {
        eps = (1.0 - (-eps * (1.0 - te)).exp()) / ta;
    }
    let ee = 1.0;
    let tail = (-eps * (1.0 - te)).exp();
    let area_return = -(ee / (eps * ta)) * ((1.0 - tail) / eps - (1.0 - te) * tail);
    // Open phase: E(t) = E0 e^{at} sin(wg t), E(te) = -Ee; choose a so the flow returns to zero.
    let area_open = |a: f64| {
        let s = (wg * te).sin();
        let e0 = -ee / ((a * te).exp() * s);
        e0 * ((a * te).exp() * (a * s - wg * (wg * te).cos()) + wg) / (a * a + wg * wg)
    };
    let f = |a: f64| area_open(a) + area_return;
    let (mut lo, mut hi) = (-200.0, 200.0);
    let flo = f(lo);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if (f(mid) > 0.0) == (flo > 0.0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let a = 0.5 * (lo + hi);
    let s = (wg * te).sin();
    let e0 = -ee / ((a * te).exp() * s);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64 / n as f64;
        let v = if t <= te {
            e0 * (a * t).exp() * (wg * t).sin()
        } else {
            -(ee / (eps * ta)) * ((-eps * (t - te)).exp() - tail)
        };
        out.push(if v.is_finite() { v as f32 } else { 0.0 });
    }
    // Remove what the discretisation leaves of the mean, so the flow does not drift.
    let mean = out.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    for v in &mut out {
        *v -= mean as f32;
    }
    (out, te)
}

impl LfTables {
    /// Tabulates the source for every Rd step.
    pub fn new() -> LfTables {
        let mut tables = Vec::with_capacity(RD_STEPS);
        let mut te = Vec::with_capacity(RD_STEPS);
        for k in 0..RD_STEPS {
            let rd = RD_MIN + (RD_MAX - RD_MIN) * k as f32 / (RD_STEPS - 1) as f32;
            let (mut t, e) = lf_period(f64::from(rd), TABLE_LEN);
            t.push(t[0]); // guard for interpolation
            tables.push(t);
            te.push(e as f32);
        }
        LfTables { tables, te }
    }

    /// The two tables around `rd` and the weight of the second.
    #[inline]
    pub fn pick(&self, rd: f32) -> (usize, usize, f32) {
        let x = ((rd.clamp(RD_MIN, RD_MAX) - RD_MIN) / (RD_MAX - RD_MIN)) * (RD_STEPS - 1) as f32;
        let i = (x.floor() as usize).min(RD_STEPS - 2);
        (i, i + 1, x - i as f32)
    }

    /// The open phase of table `i`.
    pub fn te(&self, i: usize) -> f32 {
        self.te[i]
    }

    /// The source at `phase` (0..1) blended between tables `i` and `j`.
    #[inline(always)]
    pub fn sample(&self, i: usize, j: usize, w: f32, phase: f32) -> f32 {
        let x = phase * TABLE_LEN as f32;
        let k = (x as usize).min(TABLE_LEN - 1);
        let fr = x - k as f32;
        let (a, b) = (&self.tables[i], &self.tables[j]);
        let va = a[k] + (a[k + 1] - a[k]) * fr;
        let vb = b[k] + (b[k + 1] - b[k]) * fr;
        va + (vb - va) * w
    }
}

impl Default for LfTables {
    fn default() -> Self {
        LfTables::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_period_has_zero_net_flow_and_a_unit_negative_peak() {
        for rd in [0.3, 0.8, 1.0, 1.7, 2.7] {
            let (p, te) = lf_period(rd, 4096);
            let min = p.iter().cloned().fold(f32::INFINITY, f32::min);
            assert!((min + 1.0).abs() < 0.05, "rd {rd}: min {min}");
            let flow: f64 = p.iter().map(|&v| f64::from(v)).sum::<f64>() / 4096.0;
            assert!(flow.abs() < 1e-6, "rd {rd}: {flow}");
            assert!(te > 0.3 && te < 0.99, "rd {rd}: te {te}");
            // The flow itself (the running sum) stays non-negative: air goes one way.
            let mut u = 0.0f64;
            let mut lowest = 0.0f64;
            for &v in &p {
                u += f64::from(v) / 4096.0;
                lowest = lowest.min(u);
            }
            assert!(lowest > -0.02, "rd {rd}: flow dips to {lowest}");
        }
    }
}
