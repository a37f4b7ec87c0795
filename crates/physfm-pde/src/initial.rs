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
