//! Periodic 1D families solved pseudo-spectrally with ETDRK4: advection, viscous Burgers,
//! diffusion-reaction, Kuramoto-Sivashinsky and Korteweg-de Vries.
//!
//! Every one of them has the form `v_t = L v + c . FFT(u^2)` in Fourier space (`v = FFT(u)`):
//! a diagonal linear part `L` (advection, diffusion, dispersion, linear growth), integrated
//! exactly by the exponential integrator, and a quadratic part with multiplier `c` (the flux
//! `-a (u^2)_x` and the logistic `-rho u^2`), dealiased by the 2/3 rule. One solver serves all.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rustfft::num_complex::Complex64;
use serde::{Deserialize, Serialize};

use crate::etdrk4::{Etdrk4, StepRule};
use crate::family::{
    Axis, ParamSpec, PdeFamily, SteppedSolve, Trajectory, check_initial, check_params,
    check_positive, check_resolution, check_times, describe, invalid, positive, solve_from_stepped,
};
use crate::range::uniform01;
use crate::spectral_grid::{PeriodicGrid1d, RealFft};
use crate::{ParamRange, PdeError, Result, Scale, SumOfSines};

/// A 1D periodic semilinear problem ready to integrate.
pub(crate) struct Semilinear1d<'a> {
    pub(crate) family: &'static str,
    pub(crate) spec: &'a [ParamSpec],
    pub(crate) params: &'a [f64],
    pub(crate) grid: PeriodicGrid1d,
    /// Linear symbol per mode of the half spectrum (`k = 0..=n/2`).
    pub(crate) lin: Vec<Complex64>,
    /// Multiplier of `FFT(u^2)` per mode of the half spectrum (dealiasing included); `None` for linear PDEs.
    pub(crate) quad: Option<Vec<Complex64>>,
    /// Largest characteristic speed per unit of `max |u|` (for the CFL bound).
    pub(crate) speed_per_u: f64,
    /// Largest step regardless of the CFL bound (stiff reaction terms, accuracy).
    pub(crate) dt_cap: f64,
}

/// Steps taken between two re-evaluations of the CFL bound.
const CHUNK: usize = 64;
/// Advective CFL number.
const CFL: f64 = 0.5;

impl Semilinear1d<'_> {
    /// Solves from `u0` and saves at `save_times`; `fixed_dt` replaces the adaptive CFL step
    /// (for convergence studies).
    pub(crate) fn solve(
        &self,
        u0: &[f64],
        save_times: &[f64],
        fixed_dt: Option<f64>,
    ) -> Result<Trajectory> {
        let n = self.grid.n;
        check_initial(u0, n)?;
        check_times(save_times)?;
        let mut fft = RealFft::new(n);
        let m = fft.spectrum_len();
        let zero = Complex64::new(0.0, 0.0);
        let mut v = vec![zero; m];
        fft.forward(&mut u0.to_vec(), &mut v);
        let mut stepper = Etdrk4::new(self.lin.clone());
        let mut work = vec![zero; m];
        let mut phys = vec![0.0; n];
        let mut nl_fft = RealFft::new(n);
        let quad = self.quad.clone();
        let mut nonlinear = |src: &[Complex64], dst: &mut [Complex64]| {
            let q = quad.as_ref().expect("only called for nonlinear problems");
            work.copy_from_slice(src);
            nl_fft.inverse(&mut work, &mut phys);
            for w in phys.iter_mut() {
                *w *= *w;
            }
            nl_fft.forward(&mut phys, &mut work);
            for ((d, w), c) in dst.iter_mut().zip(work.iter()).zip(q) {
                *d = w * c;
            }
        };
        let mut spec_buf = vec![zero; m];
        let mut real = vec![0.0; n];
        let mut out = Vec::with_capacity(save_times.len() * n);
        let mut t = 0.0;
        let mut steps = 0;
        let dx = self.grid.dx();
        let blow_up = |time: f64| PdeError::BlowUp {
            family: self.family,
            params: describe(self.spec, self.params),
            time,
        };
        let mut bound_fft = RealFft::new(n);
        let mut bound_spec = vec![zero; m];
        let mut bound_real = vec![0.0; n];
        let mut bound = |v: &[Complex64]| {
            bound_spec.copy_from_slice(v);
            bound_fft.inverse(&mut bound_spec, &mut bound_real);
            let umax = bound_real.iter().fold(0.0f64, |m, u| m.max(u.abs()));
            if !umax.is_finite() {
                return f64::NAN;
            }
            CFL * dx / (self.speed_per_u * umax).max(1e-12)
        };
        let mut rule = match fixed_dt {
            Some(dt) => StepRule::Fixed(dt),
            None => StepRule::Adaptive {
                cap: self.dt_cap,
                chunk: CHUNK,
                bound: &mut bound,
            },
        };
        for &target in save_times {
            if self.quad.is_none() {
                stepper.propagate_linear(&mut v, target - t);
                steps += usize::from(target > t);
                t = target;
            } else {
                steps += stepper
                    .advance_to(&mut v, &mut t, target, &mut rule, &mut nonlinear)
                    .map_err(&blow_up)?;
            }
            spec_buf.copy_from_slice(&v);
            fft.inverse(&mut spec_buf, &mut real);
            if real.iter().any(|u| !u.is_finite()) {
                return Err(blow_up(target));
            }
            out.extend_from_slice(&real);
        }
        Ok(Trajectory {
            times: save_times.to_vec(),
            shape: vec![n],
            channels: 1,
            values: out,
            steps,
        })
    }
}

/// Spectral multipliers of a periodic grid on the half spectrum: angular wavenumbers and
/// the 2/3-rule mask.
fn wavenumbers(grid: &PeriodicGrid1d) -> (Vec<f64>, Vec<f64>) {
    (grid.half_wavenumbers(), grid.half_dealias_mask())
}

/// `c_k = (-i a k - rho) * mask_k`: the multiplier of `FFT(u^2)` for the flux `-a (u^2)_x`
/// and the logistic loss `-rho u^2`.
fn quadratic(grid: &PeriodicGrid1d, a: f64, rho: f64) -> Vec<Complex64> {
    let (k, mask) = wavenumbers(grid);
    k.iter()
        .zip(&mask)
        .map(|(k, m)| Complex64::new(-rho, -a * k) * m)
        .collect()
}

fn validate_grid(name: &str, resolution: usize, stored: usize) -> Result<()> {
    check_resolution(&format!("{name}.resolution"), resolution, 8)?;
    if stored == 0 || !resolution.is_multiple_of(stored) {
        return Err(invalid(
            &format!("{name}.stored_resolution"),
            stored,
            "must be positive and divide `resolution`",
        ));
    }
    Ok(())
}

fn default_resolution() -> usize {
    1024
}
fn default_stored() -> usize {
    256
}
fn unit_length() -> f64 {
    1.0
}

macro_rules! grid_family_common {
    () => {
        fn channels(&self) -> Vec<String> {
            vec!["u".into()]
        }
        fn stored_stride(&self) -> usize {
            self.resolution / self.stored_resolution
        }
    };
}

/// [`SteppedSolve`] of a family with a `problem(&spec, params)` that builds its
/// [`Semilinear1d`].
macro_rules! stepped_via_problem {
    ($family:ty) => {
        impl SteppedSolve for $family {
            fn solve_stepped(
                &self,
                params: &[f64],
                initial: &[f64],
                save_times: &[f64],
                dt: Option<f64>,
            ) -> Result<Trajectory> {
                let spec = self.parameters();
                self.problem(&spec, params)?.solve(initial, save_times, dt)
            }
        }
    };
}

/// The axis and initial state of a family on `[0, length)` with a sum-of-sines `initial`.
macro_rules! sum_of_sines_on_length {
    () => {
        fn initial_condition(&self) -> String {
            format!("random sum of sines: {:?}", self.initial)
        }
        fn solver_axes(&self) -> Vec<Axis> {
            vec![Axis::periodic("x", 0.0, self.length, self.resolution)]
        }
        fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
            let x = &self.solver_axes()[0].coords;
            Ok(self
                .initial
                .sample(x, self.length, &mut ChaCha8Rng::seed_from_u64(seed)))
        }
    };
}

// ---------------------------------------------------------------------------------------------

/// Linear advection `u_t + beta u_x = 0` on the periodic unit interval (PDEBench's 1D
/// advection). Solved exactly in time by the spectral propagator `exp(-i beta k t)`.
///
/// ```
/// use physfm_pde::{Advection1d, PdeFamily};
/// let f = Advection1d::default();
/// let traj = f.generate(&[0.4], 7, &[0.0, 0.5])?;
/// assert_eq!(traj.shape, vec![256]);
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advection1d {
    /// Solver grid points.
    #[serde(default = "default_resolution")]
    pub resolution: usize,
    /// Stored grid points (divides `resolution`).
    #[serde(default = "default_stored")]
    pub stored_resolution: usize,
    /// Initial-condition distribution.
    #[serde(default)]
    pub initial: SumOfSines,
}

impl Default for Advection1d {
    fn default() -> Self {
        Self {
            resolution: default_resolution(),
            stored_resolution: default_stored(),
            initial: SumOfSines::default(),
        }
    }
}

impl PdeFamily for Advection1d {
    grid_family_common!();
    fn name(&self) -> &'static str {
        "advection1d"
    }
    fn equation(&self) -> &'static str {
        "u_t + beta u_x = 0, x in [0, 1) periodic"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::range(
            "beta",
            "advection speed",
            ParamRange {
                min: 0.1,
                max: 7.0,
                scale: Scale::Log,
            },
            0.4,
        )]
    }
    fn initial_condition(&self) -> String {
        format!("random sum of sines: {:?}", self.initial)
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![Axis::periodic("x", 0.0, 1.0, self.resolution)]
    }
    fn validate(&self) -> Result<()> {
        validate_grid(self.name(), self.resolution, self.stored_resolution)?;
        self.initial.validate("advection1d.initial")
    }
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        let x = &self.solver_axes()[0].coords;
        Ok(self
            .initial
            .sample(x, 1.0, &mut ChaCha8Rng::seed_from_u64(seed)))
    }
    fn solve_from(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
    ) -> Result<Trajectory> {
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        let grid = PeriodicGrid1d {
            n: self.resolution,
            length: 1.0,
        };
        let beta = params[0];
        let lin = grid
            .half_wavenumbers()
            .iter()
            .map(|k| Complex64::new(0.0, -beta * k))
            .collect();
        Semilinear1d {
            family: "advection1d",
            spec: &spec,
            params,
            grid,
            lin,
            quad: None,
            speed_per_u: 0.0,
            dt_cap: f64::INFINITY,
        }
        .solve(initial, save_times, None)
    }
}

// ---------------------------------------------------------------------------------------------

/// Viscous Burgers `u_t + (u^2 / 2)_x = (nu / pi) u_xx` (PDEBench's form) on `[0, L)`,
/// periodic. Diffusion is integrated exactly; the step follows the advective CFL bound.
///
/// ```
/// use physfm_pde::{Burgers1d, PdeFamily};
/// let f = Burgers1d { resolution: 128, stored_resolution: 64, ..Burgers1d::default() };
/// let traj = f.generate(&[0.05], 3, &[0.0, 0.1, 0.2])?;
/// let energy = |t: usize| traj.frame(t).iter().map(|u| u * u).sum::<f64>();
/// assert!(energy(2) < energy(0));
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burgers1d {
    /// Solver grid points.
    #[serde(default = "default_resolution")]
    pub resolution: usize,
    /// Stored grid points (divides `resolution`).
    #[serde(default = "default_stored")]
    pub stored_resolution: usize,
    /// Domain length.
    #[serde(default = "unit_length")]
    pub length: f64,
    /// Initial-condition distribution.
    #[serde(default)]
    pub initial: SumOfSines,
}

impl Default for Burgers1d {
    fn default() -> Self {
        Self {
            resolution: default_resolution(),
            stored_resolution: default_stored(),
            length: 1.0,
            initial: SumOfSines::default(),
        }
    }
}

impl Burgers1d {
    fn problem<'a>(&self, spec: &'a [ParamSpec], params: &'a [f64]) -> Result<Semilinear1d<'a>> {
        check_params(self.name(), spec, params)?;
        positive(self.name(), "nu", params[0])?;
        let grid = PeriodicGrid1d {
            n: self.resolution,
            length: self.length,
        };
        let eps = params[0] / std::f64::consts::PI;
        Ok(Semilinear1d {
            family: "burgers1d",
            spec,
            params,
            grid,
            lin: grid
                .half_wavenumbers()
                .iter()
                .map(|k| Complex64::new(-eps * k * k, 0.0))
                .collect(),
            quad: Some(quadratic(&grid, 0.5, 0.0)),
            speed_per_u: 1.0,
            dt_cap: f64::INFINITY,
        })
    }
}

impl PdeFamily for Burgers1d {
    grid_family_common!();
    fn name(&self) -> &'static str {
        "burgers1d"
    }
    fn equation(&self) -> &'static str {
        "u_t + (u^2/2)_x = (nu/pi) u_xx, x in [0, L) periodic"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::range(
            "nu",
            "viscosity (the diffusion coefficient is nu/pi)",
            ParamRange {
                min: 0.001,
                max: 4.0,
                scale: Scale::Log,
            },
            0.01,
        )]
    }
    sum_of_sines_on_length!();
    fn validate(&self) -> Result<()> {
        validate_grid(self.name(), self.resolution, self.stored_resolution)?;
        check_positive("burgers1d.length", self.length)?;
        self.initial.validate("burgers1d.initial")
    }
    solve_from_stepped!();
}

stepped_via_problem!(Burgers1d);

// ---------------------------------------------------------------------------------------------

/// Diffusion-reaction `u_t = nu u_xx + rho u (1 - u)` (PDEBench's 1D reaction-diffusion, a
/// Fisher-KPP equation) on the periodic unit interval. With `rho = 0` it is the heat equation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionReaction1d {
    /// Solver grid points.
    #[serde(default = "default_resolution")]
    pub resolution: usize,
    /// Stored grid points (divides `resolution`).
    #[serde(default = "default_stored")]
    pub stored_resolution: usize,
    /// Initial-condition distribution, rescaled into `[0, 1]`.
    #[serde(default)]
    pub initial: SumOfSines,
}

impl Default for DiffusionReaction1d {
    fn default() -> Self {
        Self {
            resolution: default_resolution(),
            stored_resolution: default_stored(),
            initial: SumOfSines::default(),
        }
    }
}

impl DiffusionReaction1d {
    fn problem<'a>(&self, spec: &'a [ParamSpec], params: &'a [f64]) -> Result<Semilinear1d<'a>> {
        check_params(self.name(), spec, params)?;
        positive(self.name(), "nu", params[0])?;
        if params[1] < 0.0 {
            return Err(invalid(
                "diffusion_reaction1d.rho",
                params[1],
                "must be non-negative",
            ));
        }
        let (nu, rho) = (params[0], params[1]);
        let grid = PeriodicGrid1d {
            n: self.resolution,
            length: 1.0,
        };
        Ok(Semilinear1d {
            family: "diffusion_reaction1d",
            spec,
            params,
            grid,
            lin: grid
                .half_wavenumbers()
                .iter()
                .map(|k| Complex64::new(rho - nu * k * k, 0.0))
                .collect(),
            quad: (rho > 0.0).then(|| quadratic(&grid, 0.0, rho)),
            speed_per_u: 0.0,
            dt_cap: if rho > 0.0 { 0.25 / rho } else { f64::INFINITY },
        })
    }
}

impl PdeFamily for DiffusionReaction1d {
    grid_family_common!();
    fn name(&self) -> &'static str {
        "diffusion_reaction1d"
    }
    fn equation(&self) -> &'static str {
        "u_t = nu u_xx + rho u (1 - u), x in [0, 1) periodic"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::range(
                "nu",
                "diffusion coefficient",
                ParamRange {
                    min: 0.5,
                    max: 5.0,
                    scale: Scale::Log,
                },
                1.0,
            ),
            ParamSpec::range(
                "rho",
                "reaction rate",
                ParamRange {
                    min: 1.0,
                    max: 10.0,
                    scale: Scale::Log,
                },
                1.0,
            ),
        ]
    }
    fn initial_condition(&self) -> String {
        format!(
            "random sum of sines rescaled into [0, 1]: {:?}",
            self.initial
        )
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![Axis::periodic("x", 0.0, 1.0, self.resolution)]
    }
    fn validate(&self) -> Result<()> {
        validate_grid(self.name(), self.resolution, self.stored_resolution)?;
        self.initial.validate("diffusion_reaction1d.initial")
    }
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        let x = &self.solver_axes()[0].coords;
        let u = self
            .initial
            .sample(x, 1.0, &mut ChaCha8Rng::seed_from_u64(seed));
        let (lo, hi) = u
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let span = (hi - lo).max(1e-12);
        Ok(u.iter().map(|v| (v - lo) / span).collect())
    }
    solve_from_stepped!();
}

stepped_via_problem!(DiffusionReaction1d);

// ---------------------------------------------------------------------------------------------

/// Kuramoto-Sivashinsky `u_t + u u_x + u_xx + u_xxxx = 0` on the periodic `[0, L)`, with the
/// domain length `L` as the parameter (chaotic for `L` above about 22).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KuramotoSivashinsky1d {
    /// Solver grid points.
    #[serde(default = "ks_resolution")]
    pub resolution: usize,
    /// Stored grid points (divides `resolution`).
    #[serde(default = "ks_resolution")]
    pub stored_resolution: usize,
    /// Initial-condition distribution (wavenumbers count periods over the domain).
    #[serde(default = "ks_initial")]
    pub initial: SumOfSines,
}

fn ks_resolution() -> usize {
    256
}
fn ks_initial() -> SumOfSines {
    SumOfSines {
        waves: 4,
        max_wavenumber: 6,
        amplitude: 1.0,
    }
}

impl Default for KuramotoSivashinsky1d {
    fn default() -> Self {
        Self {
            resolution: ks_resolution(),
            stored_resolution: ks_resolution(),
            initial: ks_initial(),
        }
    }
}

impl KuramotoSivashinsky1d {
    fn problem<'a>(&self, spec: &'a [ParamSpec], params: &'a [f64]) -> Result<Semilinear1d<'a>> {
        check_params(self.name(), spec, params)?;
        positive(self.name(), "length", params[0])?;
        let grid = PeriodicGrid1d {
            n: self.resolution,
            length: params[0],
        };
        Ok(Semilinear1d {
            family: "kuramoto_sivashinsky1d",
            spec,
            params,
            grid,
            lin: grid
                .half_wavenumbers()
                .iter()
                .map(|k| Complex64::new(k * k - k.powi(4), 0.0))
                .collect(),
            quad: Some(quadratic(&grid, 0.5, 0.0)),
            speed_per_u: 1.0,
            dt_cap: 0.25,
        })
    }
}

impl PdeFamily for KuramotoSivashinsky1d {
    grid_family_common!();
    fn name(&self) -> &'static str {
        "kuramoto_sivashinsky1d"
    }
    fn equation(&self) -> &'static str {
        "u_t + u u_x + u_xx + u_xxxx = 0, x in [0, L) periodic"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::range(
            "length",
            "domain length L",
            ParamRange {
                min: 32.0,
                max: 100.0,
                scale: Scale::Linear,
            },
            64.0,
        )]
    }
    fn initial_condition(&self) -> String {
        format!("random sum of sines: {:?}", self.initial)
    }
    /// The length is a parameter, so the stored axis is the fraction `x / L` of the domain.
    fn solver_axes(&self) -> Vec<Axis> {
        vec![Axis::periodic("x_over_length", 0.0, 1.0, self.resolution)]
    }
    fn validate(&self) -> Result<()> {
        validate_grid(self.name(), self.resolution, self.stored_resolution)?;
        self.initial.validate("kuramoto_sivashinsky1d.initial")
    }
    fn initial_state(&self, params: &[f64], seed: u64) -> Result<Vec<f64>> {
        check_params(self.name(), &self.parameters(), params)?;
        let l = params[0];
        let x: Vec<f64> = (0..self.resolution)
            .map(|j| j as f64 * l / self.resolution as f64)
            .collect();
        Ok(self
            .initial
            .sample(&x, l, &mut ChaCha8Rng::seed_from_u64(seed)))
    }
    solve_from_stepped!();
}

stepped_via_problem!(KuramotoSivashinsky1d);

// ---------------------------------------------------------------------------------------------

/// Korteweg-de Vries `u_t + 6 u u_x + delta u_xxx = 0` on the periodic `[0, L)`, with the
/// dispersion coefficient `delta` as the parameter. Initial states are two solitons
/// `(c/2) sech^2(sqrt(c/delta)/2 (x - x0))` of random speeds and positions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdv1d {
    /// Solver grid points.
    #[serde(default = "kdv_resolution")]
    pub resolution: usize,
    /// Stored grid points (divides `resolution`).
    #[serde(default = "kdv_resolution")]
    pub stored_resolution: usize,
    /// Domain length.
    #[serde(default = "kdv_length")]
    pub length: f64,
    /// Range of the soliton speeds `c`.
    #[serde(default = "kdv_speeds")]
    pub speeds: ParamRange,
}

fn kdv_resolution() -> usize {
    256
}
fn kdv_length() -> f64 {
    40.0
}
fn kdv_speeds() -> ParamRange {
    ParamRange {
        min: 0.5,
        max: 2.0,
        scale: Scale::Linear,
    }
}

impl Default for Kdv1d {
    fn default() -> Self {
        Self {
            resolution: kdv_resolution(),
            stored_resolution: kdv_resolution(),
            length: kdv_length(),
            speeds: kdv_speeds(),
        }
    }
}

/// The KdV soliton of speed `c` centred at `x0` on a periodic domain of length `l` (summing
/// the nearest periodic images).
pub fn kdv_soliton(x: &[f64], c: f64, x0: f64, delta: f64, l: f64) -> Vec<f64> {
    let w = (c / delta).sqrt() / 2.0;
    x.iter()
        .map(|&x| {
            (-2..=2)
                .map(|m| {
                    let s = 1.0 / (w * (x - x0 + m as f64 * l)).cosh();
                    0.5 * c * s * s
                })
                .sum()
        })
        .collect()
}

impl Kdv1d {
    fn problem<'a>(&self, spec: &'a [ParamSpec], params: &'a [f64]) -> Result<Semilinear1d<'a>> {
        check_params(self.name(), spec, params)?;
        positive(self.name(), "delta", params[0])?;
        let grid = PeriodicGrid1d {
            n: self.resolution,
            length: self.length,
        };
        let delta = params[0];
        Ok(Semilinear1d {
            family: "kdv1d",
            spec,
            params,
            grid,
            // delta u_xxx -> delta (ik)^3 = -i delta k^3, moved to the right-hand side.
            lin: grid
                .half_wavenumbers()
                .iter()
                .map(|k| Complex64::new(0.0, delta * k.powi(3)))
                .collect(),
            quad: Some(quadratic(&grid, 3.0, 0.0)),
            speed_per_u: 6.0,
            dt_cap: f64::INFINITY,
        })
    }
}

impl PdeFamily for Kdv1d {
    grid_family_common!();
    fn name(&self) -> &'static str {
        "kdv1d"
    }
    fn equation(&self) -> &'static str {
        "u_t + 6 u u_x + delta u_xxx = 0, x in [0, L) periodic"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::range(
            "delta",
            "dispersion coefficient",
            ParamRange {
                min: 0.5,
                max: 2.0,
                scale: Scale::Log,
            },
            1.0,
        )]
    }
    fn initial_condition(&self) -> String {
        format!(
            "two solitons, speeds uniform in [{}, {}], positions uniform",
            self.speeds.min, self.speeds.max
        )
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![Axis::periodic("x", 0.0, self.length, self.resolution)]
    }
    fn validate(&self) -> Result<()> {
        validate_grid(self.name(), self.resolution, self.stored_resolution)?;
        check_positive("kdv1d.length", self.length)?;
        self.speeds.validate("kdv1d.speeds")?;
        if self.speeds.min <= 0.0 {
            return Err(invalid(
                "kdv1d.speeds.min",
                self.speeds.min,
                "soliton speeds must be positive",
            ));
        }
        Ok(())
    }
    fn initial_state(&self, params: &[f64], seed: u64) -> Result<Vec<f64>> {
        check_params(self.name(), &self.parameters(), params)?;
        positive(self.name(), "delta", params[0])?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = &self.solver_axes()[0].coords;
        let mut u = vec![0.0; x.len()];
        for _ in 0..2 {
            let c = self.speeds.sample(&mut rng);
            let x0 = self.length * uniform01(&mut rng);
            for (a, b) in u
                .iter_mut()
                .zip(kdv_soliton(x, c, x0, params[0], self.length))
            {
                *a += b;
            }
        }
        Ok(u)
    }
    solve_from_stepped!();
}

stepped_via_problem!(Kdv1d);

// ---------------------------------------------------------------------------------------------

/// One 1D equation in which every term has its own coefficient,
/// `u_t + alpha (u^2/2)_x - beta u_xx + gamma u_xxx + c u_x = 0` on the periodic `[0, L)`:
/// Burgers (`alpha`, `beta`), KdV (`alpha`, `gamma`), KdV-Burgers (all three), heat
/// (`beta`), advection-diffusion (`c`, `beta`) are its corners, so that PDEs which share a
/// term share its coefficient, the setting in which pretraining on several of them should
/// help on another (Subramanian et al. 2023). A preset names a corner by fixing the absent
/// coefficients at 0. Dissipation, dispersion and advection are integrated exactly by
/// ETDRK4; the step follows the CFL bound of the flux `alpha u`. Initial states are sums of
/// random sines.
///
/// ```
/// use physfm_pde::{PdeFamily, Terms1d};
/// let f = Terms1d { resolution: 128, stored_resolution: 64, ..Terms1d::default() };
/// // Heat: only beta; the mean is kept and every mode decays.
/// let traj = f.generate(&[0.0, 0.1, 0.0, 0.0], 5, &[0.0, 0.5])?;
/// let mean = |t: usize| traj.frame(t).iter().sum::<f64>() / 64.0;
/// let energy = |t: usize| traj.frame(t).iter().map(|u| u * u).sum::<f64>();
/// assert!((mean(1) - mean(0)).abs() < 1e-9);
/// assert!(energy(1) < energy(0));
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms1d {
    /// Solver grid points.
    #[serde(default = "terms_resolution")]
    pub resolution: usize,
    /// Stored grid points (divides `resolution`).
    #[serde(default = "terms_stored")]
    pub stored_resolution: usize,
    /// Domain length (default 2 pi: integer wavenumbers).
    #[serde(default = "terms_length")]
    pub length: f64,
    /// Initial-condition distribution.
    #[serde(default)]
    pub initial: SumOfSines,
}

fn terms_resolution() -> usize {
    512
}
fn terms_stored() -> usize {
    128
}
fn terms_length() -> f64 {
    std::f64::consts::TAU
}

impl Default for Terms1d {
    fn default() -> Self {
        Self {
            resolution: terms_resolution(),
            stored_resolution: terms_stored(),
            length: terms_length(),
            initial: SumOfSines::default(),
        }
    }
}

impl Terms1d {
    fn problem<'a>(&self, spec: &'a [ParamSpec], params: &'a [f64]) -> Result<Semilinear1d<'a>> {
        check_params(self.name(), spec, params)?;
        let [alpha, beta, gamma, c] = [params[0], params[1], params[2], params[3]];
        if beta < 0.0 {
            return Err(invalid(
                "terms1d.beta",
                beta,
                "negative diffusion is ill-posed; beta must be >= 0",
            ));
        }
        let grid = PeriodicGrid1d {
            n: self.resolution,
            length: self.length,
        };
        // u_t = -alpha (u^2/2)_x + beta u_xx - gamma u_xxx - c u_x; with d/dx -> ik the
        // linear symbol is -beta k^2 + i (gamma k^3 - c k).
        let lin = grid
            .half_wavenumbers()
            .iter()
            .map(|k| Complex64::new(-beta * k * k, gamma * k.powi(3) - c * k))
            .collect();
        Ok(Semilinear1d {
            family: "terms1d",
            spec,
            params,
            grid,
            lin,
            quad: (alpha != 0.0).then(|| quadratic(&grid, alpha / 2.0, 0.0)),
            speed_per_u: alpha.abs(),
            dt_cap: f64::INFINITY,
        })
    }
}

impl PdeFamily for Terms1d {
    grid_family_common!();
    fn name(&self) -> &'static str {
        "terms1d"
    }
    fn equation(&self) -> &'static str {
        "u_t + alpha (u^2/2)_x - beta u_xx + gamma u_xxx + c u_x = 0, x in [0, L) periodic"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let linear = |min, max| ParamRange {
            min,
            max,
            scale: Scale::Linear,
        };
        let log = |min, max| ParamRange {
            min,
            max,
            scale: Scale::Log,
        };
        vec![
            ParamSpec::range(
                "alpha",
                "coefficient of the flux (u^2/2)_x",
                linear(0.5, 3.0),
                1.0,
            ),
            ParamSpec::range("beta", "diffusion coefficient (>= 0)", log(0.02, 0.3), 0.1),
            ParamSpec::range(
                "gamma",
                "dispersion coefficient of u_xxx",
                log(0.001, 0.1),
                0.0,
            ),
            ParamSpec::range("c", "advection speed", linear(0.5, 3.0), 0.0),
        ]
    }
    sum_of_sines_on_length!();
    fn validate(&self) -> Result<()> {
        validate_grid(self.name(), self.resolution, self.stored_resolution)?;
        check_positive("terms1d.length", self.length)?;
        self.initial.validate("terms1d.initial")
    }
    solve_from_stepped!();
}

stepped_via_problem!(Terms1d);
