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

    /// Angular wavenumbers `2 pi k / length` of the half spectrum, `k = 0..=n/2`.
    pub fn half_wavenumbers(&self) -> Vec<f64> {
        (0..=self.n / 2)
            .map(|k| 2.0 * std::f64::consts::PI * k as f64 / self.length)
            .collect()
    }

    /// The 2/3-rule dealiasing mask of the half spectrum: keeps `k < n / 3`.
    pub fn half_dealias_mask(&self) -> Vec<f64> {
        (0..=self.n / 2)
            .map(|k| if 3 * k < self.n { 1.0 } else { 0.0 })
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

/// Real-to-complex and complex-to-real transforms of one length (realfft on rustfft), with
/// their scratch space: the half spectrum `k = 0..=n/2` of a real field, half the work of a
/// complex transform.
pub(crate) struct RealFft {
    forward: Arc<dyn realfft::RealToComplex<f64>>,
    inverse: Arc<dyn realfft::ComplexToReal<f64>>,
    scratch: Vec<Complex64>,
    n: usize,
}

impl RealFft {
    pub(crate) fn new(n: usize) -> Self {
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let len = forward.get_scratch_len().max(inverse.get_scratch_len());
        Self {
            forward,
            inverse,
            scratch: vec![Complex64::new(0.0, 0.0); len],
            n,
        }
    }

    /// Length of the half spectrum, `n / 2 + 1`.
    pub(crate) fn spectrum_len(&self) -> usize {
        self.n / 2 + 1
    }

    /// Unnormalised forward transform; `input` is used as scratch.
    pub(crate) fn forward(&mut self, input: &mut [f64], output: &mut [Complex64]) {
        self.forward
            .process_with_scratch(input, output, &mut self.scratch)
            .expect("buffer lengths are fixed at construction");
    }

    /// Inverse transform normalised by `1/n`; `input` is used as scratch. The imaginary parts
    /// of the zero and (even `n`) Nyquist modes, which a real field cannot carry, are dropped.
    pub(crate) fn inverse(&mut self, input: &mut [Complex64], output: &mut [f64]) {
        input[0].im = 0.0;
        if self.n.is_multiple_of(2) {
            let last = input.len() - 1;
            input[last].im = 0.0;
        }
        self.inverse
            .process_with_scratch(input, output, &mut self.scratch)
            .expect("buffer lengths are fixed at construction");
        let s = 1.0 / self.n as f64;
        for v in output.iter_mut() {
            *v *= s;
        }
    }
}

/// A 2D complex FFT of an `n0 x n1` row-major array: row transforms, then column transforms
/// through a reused column buffer.
pub(crate) struct Fft2 {
    rows: FftPair,
    cols: FftPair,
    column: Vec<Complex64>,
    n0: usize,
    n1: usize,
}

impl Fft2 {
    pub(crate) fn new(n0: usize, n1: usize) -> Self {
        Self {
            rows: FftPair::new(n1),
            cols: FftPair::new(n0),
            column: vec![Complex64::new(0.0, 0.0); n0],
            n0,
            n1,
        }
    }

    fn apply(&mut self, buf: &mut [Complex64], forward: bool) {
        let (n0, n1) = (self.n0, self.n1);
        for row in buf.chunks_exact_mut(n1) {
            if forward {
                self.rows.forward(row);
            } else {
                self.rows.inverse(row);
            }
        }
        for j in 0..n1 {
            for i in 0..n0 {
                self.column[i] = buf[i * n1 + j];
            }
            if forward {
                self.cols.forward(&mut self.column);
            } else {
                self.cols.inverse(&mut self.column);
            }
            for i in 0..n0 {
                buf[i * n1 + j] = self.column[i];
            }
        }
    }

    /// Unnormalised forward transform in place.
    pub(crate) fn forward(&mut self, buf: &mut [Complex64]) {
        self.apply(buf, true);
    }

    /// Normalised inverse transform in place.
    pub(crate) fn inverse(&mut self, buf: &mut [Complex64]) {
        self.apply(buf, false);
    }
}

/// Integer wavenumber of FFT index `j` of an `n`-point transform (`0, 1, ..., -1`).
pub(crate) fn fft_index_to_k(j: usize, n: usize) -> i64 {
    let (j, n) = (j as i64, n as i64);
    if j <= n / 2 { j } else { j - n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_fft_matches_the_complex_one_on_the_half_spectrum() {
        let n = 12;
        let x: Vec<f64> = (0..n)
            .map(|i| (i as f64 * 0.7).sin() + 0.1 * i as f64)
            .collect();
        let mut full: Vec<Complex64> = x.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        FftPair::new(n).forward(&mut full);
        let mut r = RealFft::new(n);
        let mut half = vec![Complex64::new(0.0, 0.0); r.spectrum_len()];
        r.forward(&mut x.clone(), &mut half);
        for (a, b) in half.iter().zip(&full) {
            assert!((a - b).norm() < 1e-12);
        }
        let mut back = vec![0.0; n];
        r.inverse(&mut half, &mut back);
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).abs() < 1e-12);
        }
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

    #[test]
    fn fft2_round_trips_and_puts_a_plane_wave_in_one_bin() {
        let (n0, n1) = (6, 8);
        let mut p = Fft2::new(n0, n1);
        let x: Vec<Complex64> = (0..n0 * n1)
            .map(|q| {
                let (i, j) = ((q / n1) as f64, (q % n1) as f64);
                let ph = 2.0 * std::f64::consts::PI * (i / n0 as f64 + 3.0 * j / n1 as f64);
                Complex64::new(ph.cos(), ph.sin())
            })
            .collect();
        let mut y = x.clone();
        p.forward(&mut y);
        for (q, v) in y.iter().enumerate() {
            let want = if q == n1 + 3 { (n0 * n1) as f64 } else { 0.0 };
            assert!(
                (v.re - want).abs() < 1e-9 && v.im.abs() < 1e-9,
                "bin {q}: {v}"
            );
        }
        p.inverse(&mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).norm() < 1e-12);
        }
    }
}
