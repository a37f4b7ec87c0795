//! Viscous Burgers equation in PDEBench's form, solved pseudo-spectrally with ETDRK4.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rustfft::num_complex::Complex64;
use serde::{Deserialize, Serialize};

use crate::spectral_grid::{Etdrk4Coefficients, FftPair, PeriodicGrid1d};
use crate::{PdeError, Result, SumOfSines};

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

/// Solver of the periodic viscous Burgers equation
/// `u_t + (u^2 / 2)_x = (nu / pi) u_xx` on `[0, L)`.
///
/// Fourier pseudo-spectral in space with 2/3-rule dealiasing of the quadratic term;
/// exponential time differencing RK4 (Cox-Matthews, coefficients by Kassam-Trefethen's
/// contour integrals) in time, so the diffusion is integrated exactly and the step is set by
/// the advective CFL number alone: `dt <= cfl * dx / max|u0|` (viscous Burgers keeps
/// `max|u|` non-increasing), shortened so that every save time is hit exactly.
///
/// ```
/// use physfm_pde::{Burgers1d, PeriodicGrid1d};
/// let solver = Burgers1d::new(PeriodicGrid1d { n: 64, length: 1.0 })?;
/// let x = solver.grid.coordinates();
/// let u0: Vec<f64> = x.iter().map(|x| (2.0 * std::f64::consts::PI * x).sin()).collect();
/// let traj = solver.solve(&u0, 0.1, &[0.0, 0.1, 0.2])?;
/// assert_eq!(traj.times.len(), 3);
/// // Viscosity only dissipates energy.
/// let energy = |t: usize| traj.frame(t).iter().map(|u| u * u).sum::<f64>();
/// assert!(energy(2) < energy(0));
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Burgers1d {
    /// The periodic grid.
    pub grid: PeriodicGrid1d,
    /// Advective CFL number used to choose the time step.
    pub cfl: f64,
}

impl Burgers1d {
    /// A solver on `grid` with CFL number 0.5.
    pub fn new(grid: PeriodicGrid1d) -> Result<Self> {
        if grid.n < 4 {
            return Err(PdeError::InvalidValue {
                key: "resolution".into(),
                value: grid.n.to_string(),
                reason: "at least 4 grid points are needed".into(),
            });
        }
        if !(grid.length.is_finite() && grid.length > 0.0) {
            return Err(PdeError::InvalidValue {
                key: "length".into(),
                value: grid.length.to_string(),
                reason: "the domain length must be positive".into(),
            });
        }
        Ok(Self { grid, cfl: 0.5 })
    }

    /// Solves from `u0` with viscosity `nu` and returns the state at each of `save_times`
    /// (non-decreasing, starting at or after 0; a save time of 0 returns `u0`).
    pub fn solve(&self, u0: &[f64], nu: f64, save_times: &[f64]) -> Result<Trajectory1d> {
        let umax = u0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let dt = self.cfl * self.grid.dx() / umax.max(1e-12);
        self.solve_with_max_dt(u0, nu, save_times, dt)
    }

    /// As [`Self::solve`], with an explicit largest time step (for convergence studies).
    pub fn solve_with_max_dt(
        &self,
        u0: &[f64],
        nu: f64,
        save_times: &[f64],
        max_dt: f64,
    ) -> Result<Trajectory1d> {
        let n = self.grid.n;
        if u0.len() != n {
            return Err(PdeError::Shape {
                what: "initial condition",
                expected: n,
                got: u0.len(),
            });
        }
        if !(nu.is_finite() && nu > 0.0) {
            return Err(PdeError::InvalidValue {
                key: "nu".into(),
                value: nu.to_string(),
                reason: "the viscosity must be positive".into(),
            });
        }
        if !(max_dt.is_finite() && max_dt > 0.0) {
            return Err(PdeError::InvalidValue {
                key: "max_dt".into(),
                value: max_dt.to_string(),
                reason: "the time step must be positive".into(),
            });
        }
        let mut prev = 0.0;
        for &t in save_times {
            if !(t.is_finite() && t >= prev) {
                return Err(PdeError::InvalidValue {
                    key: "save_times".into(),
                    value: t.to_string(),
                    reason: "save times must be finite, non-negative and non-decreasing".into(),
                });
            }
            prev = t;
        }
        if let Some(i) = u0.iter().position(|v| !v.is_finite()) {
            return Err(PdeError::InvalidValue {
                key: format!("u0[{i}]"),
                value: u0[i].to_string(),
                reason: "the initial condition must be finite".into(),
            });
        }

        let eps = nu / std::f64::consts::PI;
        let kappa = self.grid.wavenumbers();
        let mask = self.grid.dealias_mask();
        let lin: Vec<f64> = kappa.iter().map(|k| -eps * k * k).collect();
        // N(v) = -i k / 2 * FFT(u^2), dealiased.
        let nl_factor: Vec<Complex64> = kappa
            .iter()
            .zip(&mask)
            .map(|(k, m)| Complex64::new(0.0, -0.5 * k * m))
            .collect();

        let mut fft = FftPair::new(n);
        let zero = Complex64::new(0.0, 0.0);
        let mut v: Vec<Complex64> = u0.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        fft.forward(&mut v);
        let (mut nv, mut na, mut nb, mut nc) =
            (vec![zero; n], vec![zero; n], vec![zero; n], vec![zero; n]);
        let (mut a, mut b, mut c) = (vec![zero; n], vec![zero; n], vec![zero; n]);
        let mut work = vec![zero; n];
        let nonlinear = |fft: &mut FftPair,
                         src: &[Complex64],
                         dst: &mut [Complex64],
                         work: &mut [Complex64]| {
            work.copy_from_slice(src);
            fft.inverse(work);
            for w in work.iter_mut() {
                *w = Complex64::new(w.re * w.re, 0.0);
            }
            fft.forward(work);
            for ((d, w), f) in dst.iter_mut().zip(work.iter()).zip(&nl_factor) {
                *d = w * f;
            }
        };

        let mut coeffs: Option<(f64, Etdrk4Coefficients)> = None;
        let mut out = Vec::with_capacity(save_times.len() * n);
        let mut t = 0.0;
        let mut real = vec![zero; n];
        for &target in save_times {
            let span = target - t;
            if span > 0.0 {
                let steps = ((span / max_dt) - 1e-9).ceil().max(1.0) as usize;
                let h = span / steps as f64;
                let fresh = match &coeffs {
                    Some((h0, _)) => (h0 - h).abs() > 1e-12 * h,
                    None => true,
                };
                if fresh {
                    coeffs = Some((h, Etdrk4Coefficients::new(&lin, h)));
                }
                let co = &coeffs.as_ref().expect("set above").1;
                for _ in 0..steps {
                    nonlinear(&mut fft, &v, &mut nv, &mut work);
                    for i in 0..n {
                        a[i] = co.e2[i] * v[i] + co.q[i] * nv[i];
                    }
                    nonlinear(&mut fft, &a, &mut na, &mut work);
                    for i in 0..n {
                        b[i] = co.e2[i] * v[i] + co.q[i] * na[i];
                    }
                    nonlinear(&mut fft, &b, &mut nb, &mut work);
                    for i in 0..n {
                        c[i] = co.e2[i] * a[i] + co.q[i] * (2.0 * nb[i] - nv[i]);
                    }
                    nonlinear(&mut fft, &c, &mut nc, &mut work);
                    for i in 0..n {
                        v[i] = co.e[i] * v[i]
                            + co.f1[i] * nv[i]
                            + 2.0 * co.f2[i] * (na[i] + nb[i])
                            + co.f3[i] * nc[i];
                    }
                }
                t = target;
            }
            real.copy_from_slice(&v);
            fft.inverse(&mut real);
            if real.iter().any(|z| !z.re.is_finite()) {
                return Err(PdeError::BlowUp {
                    family: "burgers1d",
                    params: format!("nu={nu}"),
                    time: target,
                });
            }
            out.extend(real.iter().map(|z| z.re));
        }
        Ok(Trajectory1d {
            times: save_times.to_vec(),
            values: out,
            n,
        })
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

    /// Draws the initial condition of seed `seed`, solves with viscosity `nu`, and returns the
    /// trajectory subsampled to `stored_resolution` points.
    pub fn generate(&self, nu: f64, seed: u64) -> Result<Trajectory1d> {
        let grid = PeriodicGrid1d {
            n: self.resolution,
            length: self.length,
        };
        let solver = Burgers1d::new(grid)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let u0 = self
            .initial
            .sample(&grid.coordinates(), self.length, &mut rng);
        let full = solver.solve(&u0, nu, &self.save_times())?;
        let stride = self.resolution / self.stored_resolution;
        let values = full.values.iter().step_by(stride).copied().collect();
        Ok(Trajectory1d {
            times: full.times,
            values,
            n: self.stored_resolution,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn matches_cole_hopf_exact_solution() {
        let grid = PeriodicGrid1d {
            n: 256,
            length: 1.0,
        };
        let s = Burgers1d::new(grid).unwrap();
        let x = grid.coordinates();
        let eps = NU / PI;
        let u0 = cole_hopf(&x, 0.0, eps);
        let traj = s.solve(&u0, NU, &[0.25, 0.5]).unwrap();
        for (i, &t) in traj.times.iter().enumerate() {
            let e = max_err(traj.frame(i), &cole_hopf(&x, t, eps));
            assert!(e < 1e-8, "t={t}: max error {e}");
        }
    }

    #[test]
    fn converges_at_fourth_order_in_time() {
        let grid = PeriodicGrid1d {
            n: 256,
            length: 1.0,
        };
        let s = Burgers1d::new(grid).unwrap();
        let x = grid.coordinates();
        let eps = NU / PI;
        let u0 = cole_hopf(&x, 0.0, eps);
        let exact = cole_hopf(&x, 0.5, eps);
        let errs: Vec<f64> = [0.05, 0.025, 0.0125]
            .iter()
            .map(|&dt| {
                max_err(
                    s.solve_with_max_dt(&u0, NU, &[0.5], dt).unwrap().frame(0),
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
                let grid = PeriodicGrid1d { n, length: 1.0 };
                let s = Burgers1d::new(grid).unwrap();
                let x = grid.coordinates();
                let traj = s
                    .solve_with_max_dt(&cole_hopf(&x, 0.0, eps), NU, &[0.25], 1e-3)
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
        let s = Burgers1d::new(PeriodicGrid1d { n: 16, length: 1.0 }).unwrap();
        let u0 = vec![0.1; 16];
        let e = s.solve(&u0, -1.0, &[0.1]).unwrap_err().to_string();
        assert!(e.contains("nu") && e.contains("positive"), "{e}");
        let e = s.solve(&u0[..8], 0.1, &[0.1]).unwrap_err().to_string();
        assert!(e.contains("expected length 16"), "{e}");
        let mut bad = u0.clone();
        bad[3] = f64::NAN;
        let e = s.solve(&bad, 0.1, &[0.1]).unwrap_err().to_string();
        assert!(e.contains("u0[3]"), "{e}");
    }

    #[test]
    fn blow_up_is_reported_not_returned() {
        // A huge step far beyond the CFL bound on a steep state makes the explicit part unstable.
        let grid = PeriodicGrid1d {
            n: 128,
            length: 1.0,
        };
        let s = Burgers1d::new(grid).unwrap();
        let u0: Vec<f64> = grid
            .coordinates()
            .iter()
            .map(|x| 50.0 * (2.0 * PI * x).sin())
            .collect();
        let e = s
            .solve_with_max_dt(&u0, 1e-4, &[0.0, 5.0], 0.5)
            .unwrap_err();
        assert!(
            matches!(e, PdeError::BlowUp { family: "burgers1d", time, .. } if time == 5.0),
            "{e}"
        );
    }
}
