//! Initial-condition distributions.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::range::uniform01;
use crate::{PdeError, Result};

/// Random sums of sines, as PDEBench draws its 1D initial conditions:
/// `u0(x) = sum_i A_i sin(2 pi n_i x / L + phi_i)` with integer wavenumbers
/// `n_i` uniform in `1..=max_wavenumber`, amplitudes `A_i` uniform in
/// `[0, amplitude]` and phases uniform in `[0, 2 pi)`.
///
/// PDEBench additionally takes the absolute value or applies a window to some samples;
/// those variants are not drawn here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumOfSines {
    /// Number of sine waves summed.
    #[serde(default = "default_waves")]
    pub waves: usize,
    /// Largest integer wavenumber drawn.
    #[serde(default = "default_max_wavenumber")]
    pub max_wavenumber: usize,
    /// Largest amplitude of one wave.
    #[serde(default = "default_amplitude")]
    pub amplitude: f64,
}

fn default_waves() -> usize {
    2
}
fn default_max_wavenumber() -> usize {
    4
}
fn default_amplitude() -> f64 {
    1.0
}

impl Default for SumOfSines {
    fn default() -> Self {
        Self {
            waves: default_waves(),
            max_wavenumber: default_max_wavenumber(),
            amplitude: default_amplitude(),
        }
    }
}

impl SumOfSines {
    /// Checks the configuration; `key` names it in errors.
    pub fn validate(&self, key: &str) -> Result<()> {
        if self.waves == 0 {
            return Err(PdeError::InvalidValue {
                key: format!("{key}.waves"),
                value: "0".into(),
                reason: "at least one wave is needed".into(),
            });
        }
        if self.max_wavenumber == 0 {
            return Err(PdeError::InvalidValue {
                key: format!("{key}.max_wavenumber"),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if !(self.amplitude.is_finite() && self.amplitude > 0.0) {
            return Err(PdeError::InvalidValue {
                key: format!("{key}.amplitude"),
                value: self.amplitude.to_string(),
                reason: "must be positive and finite".into(),
            });
        }
        Ok(())
    }

    /// Draws one initial condition on the points `x` of a domain of length `length`.
    pub fn sample<R: Rng + ?Sized>(&self, x: &[f64], length: f64, rng: &mut R) -> Vec<f64> {
        let mut u = vec![0.0; x.len()];
        for _ in 0..self.waves {
            let n = 1 + (rng.next_u64() % self.max_wavenumber as u64) as usize;
            let a = self.amplitude * uniform01(rng);
            let phi = 2.0 * std::f64::consts::PI * uniform01(rng);
            let k = 2.0 * std::f64::consts::PI * n as f64 / length;
            for (ui, &xi) in u.iter_mut().zip(x) {
                *ui += a * (k * xi + phi).sin();
            }
        }
        u
    }
}

/// A Gaussian random field on the unit torus `[0, 1)^2` with covariance
/// `sigma^2 (-Laplacian + tau^2)^(-alpha)`, the field FNO and CoDA draw their Navier-Stokes
/// vorticity and Darcy coefficients from:
/// `u(x) = Re sum_k sqrt(2) sigma (4 pi^2 |k|^2 + tau^2)^(-alpha/2) xi_k exp(2 pi i k.x)`,
/// `xi_k` complex standard normal, the mean mode set to zero.
/// `sigma` defaults to `tau^(alpha - 1)` (FNO's `tau^(0.5 (2 alpha - d))` with `d = 2`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianRandomField {
    /// Smoothness exponent.
    pub alpha: f64,
    /// Inverse length scale.
    pub tau: f64,
    /// Amplitude; `None` uses FNO's default.
    #[serde(default)]
    pub sigma: Option<f64>,
}

impl GaussianRandomField {
    /// Checks the configuration; `key` names it in errors.
    pub fn validate(&self, key: &str) -> Result<()> {
        for (k, v) in [
            ("alpha", self.alpha),
            ("tau", self.tau),
            ("sigma", self.sigma.unwrap_or(1.0)),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(PdeError::InvalidValue {
                    key: format!("{key}.{k}"),
                    value: v.to_string(),
                    reason: "must be positive and finite".into(),
                });
            }
        }
        Ok(())
    }

    /// The amplitude in use.
    pub fn sigma(&self) -> f64 {
        self.sigma.unwrap_or(self.tau.powf(self.alpha - 1.0))
    }

    /// Draws one field on the periodic `n0 x n1` grid of the unit square, row-major.
    pub fn sample2d<R: Rng + ?Sized>(&self, n0: usize, n1: usize, rng: &mut R) -> Vec<f64> {
        use crate::spectral_grid::{Fft2, fft_index_to_k};
        use rand_distr::{Distribution, StandardNormal};
        use rustfft::num_complex::Complex64;
        let pi2 = 4.0 * std::f64::consts::PI * std::f64::consts::PI;
        let s = std::f64::consts::SQRT_2 * self.sigma();
        let mut buf = vec![Complex64::new(0.0, 0.0); n0 * n1];
        for i in 0..n0 {
            for j in 0..n1 {
                let (k0, k1) = (fft_index_to_k(i, n0) as f64, fft_index_to_k(j, n1) as f64);
                let re: f64 = StandardNormal.sample(rng);
                let im: f64 = StandardNormal.sample(rng);
                if i == 0 && j == 0 {
                    continue;
                }
                let c =
                    s * (pi2 * (k0 * k0 + k1 * k1) + self.tau * self.tau).powf(-self.alpha / 2.0);
                buf[i * n1 + j] = Complex64::new(re, im) * c;
            }
        }
        Fft2::new(n0, n1).inverse(&mut buf);
        // The inverse is normalised by 1/(n0 n1); the field is the plain sum over modes.
        let scale = (n0 * n1) as f64;
        buf.iter().map(|z| z.re * scale).collect()
    }
}

/// Random squares as in the Gray-Scott data of LEADS and CoDA: a uniform background
/// `(u, v) = background` with `count` squares of side `side_fraction * n` points set to
/// `inside`, at uniformly random positions on the periodic grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomSquares {
    /// Number of squares.
    pub count: usize,
    /// Side of a square as a fraction of the grid size.
    pub side_fraction: f64,
    /// Background value of each of the two channels.
    pub background: [f64; 2],
    /// Value inside the squares of each channel.
    pub inside: [f64; 2],
}

impl Default for RandomSquares {
    fn default() -> Self {
        Self {
            count: 3,
            side_fraction: 0.1,
            background: [0.95, 0.05],
            inside: [0.0, 1.0],
        }
    }
}

impl RandomSquares {
    /// Checks the configuration; `key` names it in errors.
    pub fn validate(&self, key: &str) -> Result<()> {
        if self.count == 0 || !(self.side_fraction > 0.0 && self.side_fraction <= 1.0) {
            return Err(PdeError::InvalidValue {
                key: key.into(),
                value: format!("count {} side_fraction {}", self.count, self.side_fraction),
                reason: "need at least one square of side in (0, 1]".into(),
            });
        }
        Ok(())
    }

    /// Draws the two-channel state on an `n x n` grid, laid out `[n, n, 2]`.
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<f64> {
        let mut out = Vec::with_capacity(n * n * 2);
        for _ in 0..n * n {
            out.extend_from_slice(&self.background);
        }
        let side = ((self.side_fraction * n as f64).round() as usize).max(1);
        for _ in 0..self.count {
            let (i0, j0) = (
                (rng.next_u64() % n as u64) as usize,
                (rng.next_u64() % n as u64) as usize,
            );
            for di in 0..side {
                for dj in 0..side {
                    let p = ((i0 + di) % n) * n + (j0 + dj) % n;
                    out[2 * p] = self.inside[0];
                    out[2 * p + 1] = self.inside[1];
                }
            }
        }
        out
    }
}
