//! Periodic 1D grids, wavenumbers and cached FFT plans for pseudo-spectral solvers.

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

/// A uniform periodic grid on `[0, length)` with `n` points `x_j = j * length / n`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodicGrid1d {
    /// Number of points.
    pub n: usize,
    /// Domain length.
    pub length: f64,
}

impl PeriodicGrid1d {
    /// Grid spacing.
    pub fn dx(&self) -> f64 {
        self.length / self.n as f64
    }

    /// The point coordinates.
    pub fn coordinates(&self) -> Vec<f64> {
        (0..self.n).map(|j| j as f64 * self.dx()).collect()
    }

    /// Angular wavenumbers `2 pi k / length` in FFT order (`k = 0, 1, ..., -1`).
    pub fn wavenumbers(&self) -> Vec<f64> {
        let n = self.n as i64;
        (0..n)
            .map(|j| {
                let k = if j <= n / 2 { j } else { j - n };
                2.0 * std::f64::consts::PI * k as f64 / self.length
            })
            .collect()
    }

    /// The 2/3-rule dealiasing mask in FFT order: keeps `|k| < n / 3`.
    pub fn dealias_mask(&self) -> Vec<f64> {
        let n = self.n as i64;
        (0..n)
            .map(|j| {
                let k = if j <= n / 2 { j } else { j - n };
                if 3 * k.abs() < n { 1.0 } else { 0.0 }
            })
            .collect()
    }
}

/// Forward and inverse FFT plans of one length, with their scratch space.
///
/// Plans come from one planner and are reused for every step: no allocation in the hot loop.
pub(crate) struct FftPair {
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    scratch: Vec<Complex64>,
    n: usize,
}

impl FftPair {
    pub(crate) fn new(n: usize) -> Self {
        let mut planner = FftPlanner::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let len = forward
            .get_inplace_scratch_len()
            .max(inverse.get_inplace_scratch_len());
        Self {
            forward,
            inverse,
            scratch: vec![Complex64::new(0.0, 0.0); len],
            n,
        }
    }

    /// Unnormalised forward transform in place.
    pub(crate) fn forward(&mut self, buf: &mut [Complex64]) {
        self.forward.process_with_scratch(buf, &mut self.scratch);
    }

    /// Inverse transform in place, normalised by `1/n` so that it inverts [`Self::forward`].
    pub(crate) fn inverse(&mut self, buf: &mut [Complex64]) {
        self.inverse.process_with_scratch(buf, &mut self.scratch);
        let s = 1.0 / self.n as f64;
        for v in buf.iter_mut() {
            *v *= s;
        }
    }
}

/// ETDRK4 coefficients (Cox and Matthews 2002) for a diagonal linear operator `L`,
/// computed with the contour-integral method of Kassam and Trefethen (2005) so that they
/// stay accurate where `h L` is near zero.
pub(crate) struct Etdrk4Coefficients {
    pub(crate) e: Vec<f64>,
    pub(crate) e2: Vec<f64>,
    pub(crate) q: Vec<f64>,
    pub(crate) f1: Vec<f64>,
    pub(crate) f2: Vec<f64>,
    pub(crate) f3: Vec<f64>,
}

impl Etdrk4Coefficients {
    /// Coefficients for the real diagonal operator `lin` and step `h`.
    pub(crate) fn new(lin: &[f64], h: f64) -> Self {
        const M: usize = 32;
        let roots: Vec<Complex64> = (1..=M)
            .map(|j| {
                let theta = std::f64::consts::PI * (j as f64 - 0.5) / M as f64;
                Complex64::from_polar(1.0, theta)
            })
            .collect();
        let n = lin.len();
        let mut c = Self {
            e: vec![0.0; n],
            e2: vec![0.0; n],
            q: vec![0.0; n],
            f1: vec![0.0; n],
            f2: vec![0.0; n],
            f3: vec![0.0; n],
        };
        for (i, &l) in lin.iter().enumerate() {
            let z = h * l;
            c.e[i] = z.exp();
            c.e2[i] = (z / 2.0).exp();
            // Mean over the upper half circle of radius 1 around z; real part by symmetry.
            let (mut q, mut f1, mut f2, mut f3) = (0.0, 0.0, 0.0, 0.0);
            for r in &roots {
                let w = Complex64::new(z, 0.0) + r;
                let ew = w.exp();
                let ew2 = (w / 2.0).exp();
                q += ((ew2 - 1.0) / w).re;
                let w3 = w * w * w;
                f1 += ((-4.0 - w + ew * (4.0 - 3.0 * w + w * w)) / w3).re;
                f2 += ((2.0 + w + ew * (w - 2.0)) / w3).re;
                f3 += ((-4.0 - 3.0 * w - w * w + ew * (4.0 - w)) / w3).re;
            }
            let m = M as f64;
            c.q[i] = h * q / m;
            c.f1[i] = h * f1 / m;
            c.f2[i] = h * f2 / m;
            c.f3[i] = h * f3 / m;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etdrk4_coefficients_match_their_limits_and_closed_forms() {
        let h = 0.1;
        let c = Etdrk4Coefficients::new(&[0.0, -50.0], h);
        // z -> 0 limits: q = h/2, f1 = f2 = f3 = h/6.
        assert!((c.q[0] - h / 2.0).abs() < 1e-13);
        for f in [c.f1[0], c.f2[0], c.f3[0]] {
            assert!((f - h / 6.0).abs() < 1e-13, "{f}");
        }
        // z = -5: closed forms are well conditioned there.
        let z: f64 = -5.0;
        let ez = z.exp();
        let f1 = h * (-4.0 - z + ez * (4.0 - 3.0 * z + z * z)) / z.powi(3);
        let q = h * ((z / 2.0).exp() - 1.0) / z;
        assert!((c.f1[1] - f1).abs() < 1e-13 && (c.q[1] - q).abs() < 1e-13);
    }

    #[test]
    fn fft_pair_round_trips() {
        let mut p = FftPair::new(15);
        let x: Vec<Complex64> = (0..15)
            .map(|i| Complex64::new(i as f64, -(i as f64) * 0.5))
            .collect();
        let mut y = x.clone();
        p.forward(&mut y);
        p.inverse(&mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).norm() < 1e-12);
        }
    }
}
