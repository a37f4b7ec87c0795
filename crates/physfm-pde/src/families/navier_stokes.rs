//! Incompressible 2D Navier-Stokes in vorticity form on the periodic unit square.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rustfft::num_complex::Complex64;
use serde::{Deserialize, Serialize};

use crate::etdrk4::{Etdrk4, StepRule};
use crate::family::{
    Axis, ParamSpec, PdeFamily, SteppedSolve, Trajectory, check_initial, check_params,
    check_resolution, check_times, describe, invalid, positive, solve_from_stepped,
};
use crate::spectral_grid::{Fft2, fft_index_to_k};
use crate::{GaussianRandomField, ParamRange, PdeError, Result, Scale};

/// `w_t + u . grad w = nu lap w + A f`, `f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`,
/// velocity `u = (psi_y, -psi_x)` from `lap psi = -w`, on the periodic `(0, 1)^2`: the
/// Navier-Stokes data of FNO and CoDA (parameters: viscosity `nu` and forcing amplitude `A`).
///
/// Pseudo-spectral with 2/3-rule dealiasing; ETDRK4 in time (the viscous term exactly), the
/// step set by the advective CFL bound. The solver grid may be finer than the stored one
/// (`resolution` a multiple of `stored_resolution`). Initial vorticity: a Gaussian random
/// field (FNO's `alpha = 2.5`, `tau = 7`).
///
/// ```
/// use physfm_pde::{NavierStokes2d, PdeFamily};
/// let f = NavierStokes2d { resolution: 32, stored_resolution: 32, ..NavierStokes2d::default() };
/// let traj = f.generate(&[1e-3, 1.0], 1, &[0.0, 0.5])?;
/// assert_eq!(traj.shape, vec![32, 32]);
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NavierStokes2d {
    /// Solver points per axis.
    #[serde(default = "ns_resolution")]
    pub resolution: usize,
    /// Stored points per axis (divides `resolution`).
    #[serde(default = "ns_resolution")]
    pub stored_resolution: usize,
    /// Initial vorticity distribution.
    #[serde(default = "ns_grf")]
    pub initial: GaussianRandomField,
}

fn ns_resolution() -> usize {
    64
}
fn ns_grf() -> GaussianRandomField {
    GaussianRandomField {
        alpha: 2.5,
        tau: 7.0,
        sigma: None,
    }
}

impl Default for NavierStokes2d {
    fn default() -> Self {
        Self {
            resolution: ns_resolution(),
            stored_resolution: ns_resolution(),
            initial: ns_grf(),
        }
    }
}

/// The CFL number and the largest step of the Navier-Stokes solver.
const CFL: f64 = 0.5;
const DT_CAP: f64 = 0.05;

impl SteppedSolve for NavierStokes2d {
    fn solve_stepped(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        fixed_dt: Option<f64>,
    ) -> Result<Trajectory> {
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        positive(self.name(), "nu", params[0])?;
        let (nu, amp) = (params[0], params[1]);
        let n = self.resolution;
        let np = n * n;
        check_initial(initial, np)?;
        check_times(save_times)?;
        let two_pi = 2.0 * std::f64::consts::PI;
        let zero = Complex64::new(0.0, 0.0);
        // Wavenumbers per flattened index, axis 0 = x, axis 1 = y.
        let mut kx = vec![0.0; np];
        let mut ky = vec![0.0; np];
        let mut mask = vec![0.0; np];
        for i in 0..n {
            for j in 0..n {
                let (a, b) = (fft_index_to_k(i, n), fft_index_to_k(j, n));
                kx[i * n + j] = two_pi * a as f64;
                ky[i * n + j] = two_pi * b as f64;
                let keep = 3 * a.unsigned_abs() < n as u64 && 3 * b.unsigned_abs() < n as u64;
                mask[i * n + j] = if keep { 1.0 } else { 0.0 };
            }
        }
        mask[0] = 0.0; // the mean of u . grad w is zero: keep the mean vorticity exactly
        let lin: Vec<Complex64> = (0..np)
            .map(|p| Complex64::new(-nu * (kx[p] * kx[p] + ky[p] * ky[p]), 0.0))
            .collect();
        let mut fft = Fft2::new(n, n);
        let mut forcing: Vec<Complex64> = (0..np)
            .map(|p| {
                let (x, y) = ((p / n) as f64 / n as f64, (p % n) as f64 / n as f64);
                let s = two_pi * (x + y);
                Complex64::new(amp * 0.1 * (s.sin() + s.cos()), 0.0)
            })
            .collect();
        fft.forward(&mut forcing);
        let mut v: Vec<Complex64> = initial.iter().map(|&w| Complex64::new(w, 0.0)).collect();
        fft.forward(&mut v);
        let mut vel = vec![zero; np];
        let mut grad = vec![zero; np];
        let mut nl_fft = Fft2::new(n, n);
        let mut nonlinear = |src: &[Complex64], dst: &mut [Complex64]| {
            // Two real fields per complex transform: (u + i v) and (w_x + i w_y).
            let i1 = Complex64::new(0.0, 1.0);
            velocity_spectrum(src, &kx, &ky, &mut vel);
            for p in 0..np {
                grad[p] = i1 * kx[p] * src[p] + i1 * (i1 * ky[p] * src[p]);
            }
            nl_fft.inverse(&mut vel);
            nl_fft.inverse(&mut grad);
            for p in 0..np {
                let (u, vv) = (vel[p].re, vel[p].im);
                vel[p] = Complex64::new(-(u * grad[p].re + vv * grad[p].im), 0.0);
            }
            nl_fft.forward(&mut vel);
            for p in 0..np {
                dst[p] = vel[p] * mask[p] + forcing[p];
            }
        };
        // The CFL bound from the current velocity: |u| + |v| at most `CFL dx / dt`.
        let dx = 1.0 / n as f64;
        let mut bound_fft = Fft2::new(n, n);
        let mut bound_vel = vec![zero; np];
        let mut bound = |src: &[Complex64]| {
            velocity_spectrum(src, &kx, &ky, &mut bound_vel);
            bound_fft.inverse(&mut bound_vel);
            let speed = bound_vel
                .iter()
                .fold(0.0f64, |m, z| m.max(z.re.abs() + z.im.abs()));
            if speed.is_finite() {
                CFL * dx / speed.max(1e-12)
            } else {
                f64::NAN
            }
        };
        let mut rule = match fixed_dt {
            Some(dt) => StepRule::Fixed(dt),
            None => StepRule::Adaptive {
                cap: DT_CAP,
                chunk: 32,
                bound: &mut bound,
            },
        };
        let mut stepper = Etdrk4::new(lin);
        let blow_up = |time: f64| PdeError::BlowUp {
            family: "navier_stokes2d",
            params: describe(&spec, params),
            time,
        };
        let mut out = Vec::with_capacity(save_times.len() * np);
        let mut real = vec![zero; np];
        let mut t = 0.0;
        let mut steps = 0;
        for &target in save_times {
            steps += stepper
                .advance_to(&mut v, &mut t, target, &mut rule, &mut nonlinear)
                .map_err(&blow_up)?;
            real.copy_from_slice(&v);
            fft.inverse(&mut real);
            out.extend(real.iter().map(|z| z.re));
        }
        if out.iter().any(|x| !x.is_finite()) {
            return Err(blow_up(t));
        }
        Ok(Trajectory {
            times: save_times.to_vec(),
            shape: vec![n, n],
            channels: 1,
            values: out,
            steps,
        })
    }
}

/// The packed spectrum `u_hat + i v_hat` of the velocity `(psi_y, -psi_x)` with
/// `lap psi = -w`, from the vorticity spectrum `w_hat`: its inverse transform holds `u` in the
/// real and `v` in the imaginary part.
fn velocity_spectrum(w_hat: &[Complex64], kx: &[f64], ky: &[f64], out: &mut [Complex64]) {
    let i1 = Complex64::new(0.0, 1.0);
    for p in 0..w_hat.len() {
        let k2 = kx[p] * kx[p] + ky[p] * ky[p];
        let psi = if k2 > 0.0 {
            w_hat[p] / k2
        } else {
            Complex64::new(0.0, 0.0)
        };
        let u_hat = i1 * ky[p] * psi;
        let v_hat = -i1 * kx[p] * psi;
        out[p] = u_hat + i1 * v_hat;
    }
}

impl PdeFamily for NavierStokes2d {
    fn name(&self) -> &'static str {
        "navier_stokes2d"
    }
    fn equation(&self) -> &'static str {
        "w_t + u.grad(w) = nu lap(w) + A 0.1 (sin 2pi(x+y) + cos 2pi(x+y)), lap(psi) = -w, u = (psi_y, -psi_x), (0,1)^2 periodic"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::range(
                "nu",
                "kinematic viscosity",
                ParamRange {
                    min: 8e-4,
                    max: 1.2e-3,
                    scale: Scale::Linear,
                },
                1e-3,
            ),
            ParamSpec::range(
                "forcing",
                "forcing amplitude A",
                ParamRange {
                    min: 0.5,
                    max: 1.5,
                    scale: Scale::Linear,
                },
                1.0,
            ),
        ]
    }
    fn initial_condition(&self) -> String {
        format!(
            "Gaussian random field, covariance sigma^2 (-lap + tau^2)^-alpha: alpha {}, tau {}, sigma {}",
            self.initial.alpha,
            self.initial.tau,
            self.initial.sigma()
        )
    }
    fn channels(&self) -> Vec<String> {
        vec!["w".into()]
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![
            Axis::periodic("x", 0.0, 1.0, self.resolution),
            Axis::periodic("y", 0.0, 1.0, self.resolution),
        ]
    }
    fn stored_stride(&self) -> usize {
        self.resolution / self.stored_resolution
    }
    fn validate(&self) -> Result<()> {
        check_resolution("navier_stokes2d.resolution", self.resolution, 8)?;
        if self.stored_resolution == 0 || !self.resolution.is_multiple_of(self.stored_resolution) {
            return Err(invalid(
                "navier_stokes2d.stored_resolution",
                self.stored_resolution,
                "must be positive and divide `resolution`",
            ));
        }
        self.initial.validate("navier_stokes2d.initial")
    }
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        let n = self.resolution;
        Ok(self
            .initial
            .sample2d(n, n, &mut ChaCha8Rng::seed_from_u64(seed)))
    }
    solve_from_stepped!();
}
