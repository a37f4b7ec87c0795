//! The Burgers dataset configuration used by the quickstart: the [`Burgers1d`] family with
//! its save times.

use serde::{Deserialize, Serialize};

use crate::spectral_grid::PeriodicGrid1d;
use crate::{Burgers1d, PdeError, PdeFamily, Result, SumOfSines};

/// A trajectory of a scalar 1D field saved at a list of times.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory1d {
    /// Physical save times.
    pub times: Vec<f64>,
    /// Values laid out `[time, x]`, row-major.
    pub values: Vec<f64>,
    /// Number of grid points.
    pub n: usize,
}

impl Trajectory1d {
    /// The field at save index `t`.
    pub fn frame(&self, t: usize) -> &[f64] {
        &self.values[t * self.n..(t + 1) * self.n]
    }
}

/// Configuration of the parametric Burgers family as a dataset generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burgers1dConfig {
    /// Grid points of the solver (at least 1024 for the PDEBench setting).
    pub resolution: usize,
    /// Stored points: the solution is subsampled by `resolution / stored_resolution`.
    pub stored_resolution: usize,
    /// Domain length.
    #[serde(default = "default_length")]
    pub length: f64,
    /// Final time.
    pub t_end: f64,
    /// Number of saved frames, evenly spaced in `[0, t_end]` (the first is the initial state).
    pub frames: usize,
    /// Initial-condition distribution.
    #[serde(default)]
    pub initial: SumOfSines,
}

fn default_length() -> f64 {
    1.0
}

impl Burgers1dConfig {
    /// Checks every field; errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |k: &str, v: String, r: &str| {
            Err(PdeError::InvalidValue {
                key: format!("{prefix}.{k}"),
                value: v,
                reason: r.into(),
            })
        };
        if self.resolution < 4 {
            return bad(
                "resolution",
                self.resolution.to_string(),
                "at least 4 points are needed",
            );
        }
        if self.stored_resolution == 0 || !self.resolution.is_multiple_of(self.stored_resolution) {
            return bad(
                "stored_resolution",
                self.stored_resolution.to_string(),
                "must be positive and divide `resolution`",
            );
        }
        if !(self.length.is_finite() && self.length > 0.0) {
            return bad("length", self.length.to_string(), "must be positive");
        }
        if !(self.t_end.is_finite() && self.t_end > 0.0) {
            return bad("t_end", self.t_end.to_string(), "must be positive");
        }
        if self.frames < 2 {
            return bad(
                "frames",
                self.frames.to_string(),
                "at least 2 frames are needed",
            );
        }
        self.initial.validate(&format!("{prefix}.initial"))
    }

    /// The save times.
    pub fn save_times(&self) -> Vec<f64> {
        (0..self.frames)
            .map(|i| self.t_end * i as f64 / (self.frames - 1) as f64)
            .collect()
    }

    /// Coordinates of the stored points.
    pub fn stored_coordinates(&self) -> Vec<f64> {
        PeriodicGrid1d {
            n: self.stored_resolution,
            length: self.length,
        }
        .coordinates()
    }

    /// The family this configuration samples from.
    pub fn family(&self) -> Burgers1d {
        Burgers1d {
            resolution: self.resolution,
            stored_resolution: self.stored_resolution,
            length: self.length,
            initial: self.initial,
        }
    }

    /// Draws the initial condition of seed `seed`, solves with viscosity `nu`, and returns the
    /// trajectory subsampled to `stored_resolution` points.
    pub fn generate(&self, nu: f64, seed: u64) -> Result<Trajectory1d> {
        let family = self.family();
        family.validate()?;
        let traj = family.generate(&[nu], seed, &self.save_times())?;
        Ok(Trajectory1d {
            times: traj.times,
            values: traj.values,
            n: self.stored_resolution,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SteppedSolve;
    use std::f64::consts::PI;

    /// Cole-Hopf solution of `u_t + u u_x = eps u_xx` from `phi = a + b cos(k x) exp(-eps k^2 t)`.
    fn cole_hopf(x: &[f64], t: f64, eps: f64) -> Vec<f64> {
        let (a, b, k) = (1.0, 0.9, 2.0 * PI);
        x.iter()
            .map(|&x| {
                let d = (-eps * k * k * t).exp();
                2.0 * eps * b * k * (k * x).sin() * d / (a + b * (k * x).cos() * d)
            })
            .collect()
    }

    fn max_err(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    const NU: f64 = 0.03 * PI; // eps = 0.03

    fn family(n: usize) -> (Burgers1d, Vec<f64>) {
        let f = Burgers1d {
            resolution: n,
            stored_resolution: n,
            ..Burgers1d::default()
        };
        let x = f.solver_axes()[0].coords.clone();
        (f, x)
    }

    #[test]
    fn matches_cole_hopf_exact_solution() {
        let (f, x) = family(256);
        let eps = NU / PI;
        let traj = f
            .solve_from(&[NU], &cole_hopf(&x, 0.0, eps), &[0.25, 0.5])
            .unwrap();
        for (i, &t) in traj.times.iter().enumerate() {
            let e = max_err(traj.frame(i), &cole_hopf(&x, t, eps));
            assert!(e < 1e-8, "t={t}: max error {e}");
        }
    }

    #[test]
    fn converges_at_fourth_order_in_time() {
        let (f, x) = family(256);
        let eps = NU / PI;
        let u0 = cole_hopf(&x, 0.0, eps);
        let exact = cole_hopf(&x, 0.5, eps);
        let errs: Vec<f64> = [0.05, 0.025, 0.0125]
            .iter()
            .map(|&dt| {
                max_err(
                    f.solve_with_dt(&[NU], &u0, &[0.5], dt).unwrap().frame(0),
                    &exact,
                )
            })
            .collect();
        for w in errs.windows(2) {
            let order = (w[0] / w[1]).log2();
            assert!(
                order > 3.7,
                "observed order {order:.2} from errors {errs:?}"
            );
        }
    }

    #[test]
    fn converges_spectrally_in_space() {
        let eps = NU / PI;
        let errs: Vec<f64> = [16, 32, 64]
            .iter()
            .map(|&n| {
                let (f, x) = family(n);
                let traj = f
                    .solve_with_dt(&[NU], &cole_hopf(&x, 0.0, eps), &[0.25], 1e-3)
                    .unwrap();
                max_err(traj.frame(0), &cole_hopf(&x, 0.25, eps))
            })
            .collect();
        // Each doubling gains far more than any algebraic order would.
        assert!(
            errs[1] < errs[0] / 20.0 && errs[2] < errs[1] / 20.0,
            "{errs:?}"
        );
    }

    #[test]
    fn conserves_mass_and_dissipates_energy() {
        let cfg = Burgers1dConfig {
            resolution: 512,
            stored_resolution: 512,
            length: 1.0,
            t_end: 1.0,
            frames: 5,
            initial: SumOfSines::default(),
        };
        let traj = cfg.generate(0.05, 7).unwrap();
        let mass = |t: usize| traj.frame(t).iter().sum::<f64>() / 512.0;
        let energy = |t: usize| traj.frame(t).iter().map(|u| u * u).sum::<f64>();
        for t in 1..5 {
            assert!(
                (mass(t) - mass(0)).abs() < 1e-12,
                "mass drift {}",
                mass(t) - mass(0)
            );
            assert!(energy(t) < energy(t - 1));
        }
    }

    #[test]
    fn generation_is_reproducible_from_the_seed() {
        let cfg = Burgers1dConfig {
            resolution: 128,
            stored_resolution: 32,
            length: 1.0,
            t_end: 0.2,
            frames: 3,
            initial: SumOfSines::default(),
        };
        assert_eq!(cfg.generate(0.1, 3).unwrap(), cfg.generate(0.1, 3).unwrap());
        assert_ne!(cfg.generate(0.1, 3).unwrap(), cfg.generate(0.1, 4).unwrap());
        assert_eq!(cfg.generate(0.1, 3).unwrap().values.len(), 3 * 32);
    }

    #[test]
    fn bad_inputs_are_errors_that_name_the_problem() {
        let (f, _) = family(16);
        let u0 = vec![0.1; 16];
        let e = f.solve_from(&[-1.0], &u0, &[0.1]).unwrap_err().to_string();
        assert!(e.contains("nu") && e.contains("positive"), "{e}");
        let e = f
            .solve_from(&[0.1], &u0[..8], &[0.1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected length 16"), "{e}");
        let mut bad = u0.clone();
        bad[3] = f64::NAN;
        let e = f.solve_from(&[0.1], &bad, &[0.1]).unwrap_err().to_string();
        assert!(e.contains("initial[3]"), "{e}");
        let e = f
            .solve_from(&[0.1, 0.2], &u0, &[0.1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 1 values (nu)"), "{e}");
    }

    #[test]
    fn blow_up_is_reported_not_returned() {
        // A huge step far beyond the CFL bound on a steep state makes the explicit part unstable.
        let (f, x) = family(128);
        let u0: Vec<f64> = x.iter().map(|x| 50.0 * (2.0 * PI * x).sin()).collect();
        let e = f.solve_with_dt(&[1e-4], &u0, &[0.0, 5.0], 0.5).unwrap_err();
        assert!(
            matches!(&e, PdeError::BlowUp { family: "burgers1d", params, .. } if params == "nu=0.0001"),
            "{e}"
        );
    }
}
