//! Two-species reaction-diffusion systems on 2D grids: Gray-Scott (LEADS/CoDA) and the
//! FitzHugh-Nagumo activator-inhibitor system (PDEBench's 2D diffusion-reaction).
//!
//! Both are finite differences in space and classical RK4 in time with a step inside the
//! explicit stability bound of the diffusion and the reaction.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::family::{
    Axis, Boundary, ParamSpec, PdeFamily, SteppedSolve, Trajectory, check_initial, check_params,
    check_positive, check_resolution, check_times, ensure_finite, positive, solve_from_stepped,
};
use crate::stencil::{Rk4, deinterleave, interleave, laplacian5, laplacian9_periodic};
use crate::{ParamRange, RandomSquares, Result, Scale};

/// RK4's stability limit on the negative real axis, with a safety factor.
const RK4_REAL_LIMIT: f64 = 2.78 * 0.5;

/// Integrates a two-plane system `rhs` from the interleaved state `initial`, saving interleaved
/// frames at `save_times`; `dt` is the step bound.
#[allow(clippy::too_many_arguments)]
fn integrate_planes<F: FnMut(&[f64], &mut [f64])>(
    family: &'static str,
    spec: &[ParamSpec],
    params: &[f64],
    shape: Vec<usize>,
    initial: &[f64],
    save_times: &[f64],
    dt: f64,
    mut rhs: F,
) -> Result<Trajectory> {
    let mut state = deinterleave(initial, 2);
    let mut rk = Rk4::new(state.len());
    let mut out = Vec::with_capacity(save_times.len() * state.len());
    let mut t = 0.0;
    let mut steps = 0;
    for &target in save_times {
        steps += rk.advance(&mut state, target - t, dt, &mut rhs);
        t = target.max(t);
        ensure_finite(family, spec, params, t, &state)?;
        interleave(&state, 2, &mut out);
    }
    Ok(Trajectory {
        times: save_times.to_vec(),
        shape,
        channels: 2,
        values: out,
        steps,
    })
}

/// Gray-Scott `u_t = r_u lap u - u v^2 + F (1 - u)`, `v_t = r_v lap v + u v^2 - (F + k) v` on
/// a periodic square with spacing `dx = length / resolution` and the nine-point Laplacian, as
/// in LEADS and CoDA (32 x 32, `dx = 1`). Initial state: random squares.
///
/// ```
/// use physfm_pde::{GrayScott2d, PdeFamily};
/// let f = GrayScott2d::default();
/// let traj = f.generate(&[0.03, 0.058, 0.2097, 0.105], 4, &[0.0, 40.0])?;
/// assert_eq!((traj.shape.clone(), traj.channels), (vec![32, 32], 2));
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrayScott2d {
    /// Points per axis.
    #[serde(default = "gs_resolution")]
    pub resolution: usize,
    /// Domain length per axis.
    #[serde(default = "gs_length")]
    pub length: f64,
    /// Initial-condition distribution.
    #[serde(default)]
    pub initial: RandomSquares,
    /// Largest time step.
    #[serde(default = "gs_dt")]
    pub max_dt: f64,
}

fn gs_resolution() -> usize {
    32
}
fn gs_length() -> f64 {
    32.0
}
fn gs_dt() -> f64 {
    1.0
}

impl Default for GrayScott2d {
    fn default() -> Self {
        Self {
            resolution: gs_resolution(),
            length: gs_length(),
            initial: RandomSquares::default(),
            max_dt: gs_dt(),
        }
    }
}

impl SteppedSolve for GrayScott2d {
    fn solve_stepped(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        fixed: Option<f64>,
    ) -> Result<Trajectory> {
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        let (f, k, ru, rv) = (params[0], params[1], params[2], params[3]);
        for (name, v) in [("F", f), ("k", k), ("r_u", ru), ("r_v", rv)] {
            positive(self.name(), name, v)?;
        }
        let n = self.resolution;
        let np = n * n;
        check_initial(initial, 2 * np)?;
        check_times(save_times)?;
        let dx = self.length / n as f64;
        // Nine-point Laplacian eigenvalues reach -16/3 / dx^2.
        let bound = RK4_REAL_LIMIT / (ru.max(rv) * 16.0 / 3.0 / (dx * dx) + f + k + 1.0);
        let dt = fixed.unwrap_or(self.max_dt.min(bound));
        let mut lap_u = vec![0.0; np];
        let mut lap_v = vec![0.0; np];
        integrate_planes(
            self.name(),
            &spec,
            params,
            vec![n, n],
            initial,
            save_times,
            dt,
            |s, out| {
                let (u, v) = s.split_at(np);
                laplacian9_periodic(u, n, dx, &mut lap_u);
                laplacian9_periodic(v, n, dx, &mut lap_v);
                let (du, dv) = out.split_at_mut(np);
                for p in 0..np {
                    let uvv = u[p] * v[p] * v[p];
                    du[p] = ru * lap_u[p] - uvv + f * (1.0 - u[p]);
                    dv[p] = rv * lap_v[p] + uvv - (f + k) * v[p];
                }
            },
        )
    }
}

impl PdeFamily for GrayScott2d {
    fn name(&self) -> &'static str {
        "gray_scott2d"
    }
    fn equation(&self) -> &'static str {
        "u_t = r_u lap u - u v^2 + F (1 - u), v_t = r_v lap v + u v^2 - (F + k) v, periodic square"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::range(
                "F",
                "feed rate",
                ParamRange {
                    min: 0.03,
                    max: 0.039,
                    scale: Scale::Linear,
                },
                0.03,
            ),
            ParamSpec::range(
                "k",
                "kill rate",
                ParamRange {
                    min: 0.058,
                    max: 0.062,
                    scale: Scale::Linear,
                },
                0.058,
            ),
            ParamSpec::range(
                "r_u",
                "diffusion of u",
                ParamRange {
                    min: 0.15,
                    max: 0.25,
                    scale: Scale::Linear,
                },
                0.2097,
            ),
            ParamSpec::range(
                "r_v",
                "diffusion of v",
                ParamRange {
                    min: 0.08,
                    max: 0.13,
                    scale: Scale::Linear,
                },
                0.105,
            ),
        ]
    }
    fn initial_condition(&self) -> String {
        format!("random squares: {:?}", self.initial)
    }
    fn channels(&self) -> Vec<String> {
        vec!["u".into(), "v".into()]
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![
            Axis::periodic("x", 0.0, self.length, self.resolution),
            Axis::periodic("y", 0.0, self.length, self.resolution),
        ]
    }
    fn validate(&self) -> Result<()> {
        check_resolution("gray_scott2d.resolution", self.resolution, 4)?;
        check_positive("gray_scott2d.length", self.length)?;
        check_positive("gray_scott2d.max_dt", self.max_dt)?;
        self.initial.validate("gray_scott2d.initial")
    }
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        Ok(self
            .initial
            .sample(self.resolution, &mut ChaCha8Rng::seed_from_u64(seed)))
    }
    solve_from_stepped!();
}

/// FitzHugh-Nagumo `u_t = Du lap u + u - u^3 - k - v`, `v_t = Dv lap v + u - v` on
/// `[-1, 1]^2` with zero-flux boundaries, cell-centred (PDEBench's 2D diffusion-reaction:
/// 128 x 128, `Du = 1e-3`, `Dv = 5e-3`, `k = 5e-3`, white-noise initial state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffusionReaction2d {
    /// Cells per axis.
    #[serde(default = "fhn_resolution")]
    pub resolution: usize,
    /// Standard deviation of the white-noise initial state (both channels).
    #[serde(default = "fhn_noise")]
    pub noise: f64,
}

fn fhn_resolution() -> usize {
    128
}
fn fhn_noise() -> f64 {
    1.0
}

impl Default for DiffusionReaction2d {
    fn default() -> Self {
        Self {
            resolution: fhn_resolution(),
            noise: fhn_noise(),
        }
    }
}

impl SteppedSolve for DiffusionReaction2d {
    fn solve_stepped(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        fixed: Option<f64>,
    ) -> Result<Trajectory> {
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        let (du_c, dv_c, k) = (params[0], params[1], params[2]);
        positive(self.name(), "Du", du_c)?;
        positive(self.name(), "Dv", dv_c)?;
        let n = self.resolution;
        let np = n * n;
        check_initial(initial, 2 * np)?;
        check_times(save_times)?;
        let dx = 2.0 / n as f64;
        let umax = initial
            .iter()
            .step_by(2)
            .fold(1.0f64, |m, u| m.max(u.abs()));
        // Diffusion eigenvalues reach -8 / dx^2; the cubic reaction's Jacobian 1 - 3 u^2.
        let bound = RK4_REAL_LIMIT / (du_c.max(dv_c) * 8.0 / (dx * dx) + 3.0 * umax * umax + 1.0);
        let dt = fixed.unwrap_or(bound);
        let mut lap_u = vec![0.0; np];
        let mut lap_v = vec![0.0; np];
        integrate_planes(
            self.name(),
            &spec,
            params,
            vec![n, n],
            initial,
            save_times,
            dt,
            |s, out| {
                let (u, v) = s.split_at(np);
                laplacian5(u, n, dx, Boundary::Neumann, &mut lap_u);
                laplacian5(v, n, dx, Boundary::Neumann, &mut lap_v);
                let (du, dv) = out.split_at_mut(np);
                for p in 0..np {
                    du[p] = du_c * lap_u[p] + u[p] - u[p] * u[p] * u[p] - k - v[p];
                    dv[p] = dv_c * lap_v[p] + u[p] - v[p];
                }
            },
        )
    }
}

impl PdeFamily for DiffusionReaction2d {
    fn name(&self) -> &'static str {
        "diffusion_reaction2d"
    }
    fn equation(&self) -> &'static str {
        "u_t = Du lap u + u - u^3 - k - v, v_t = Dv lap v + u - v, [-1,1]^2, zero flux"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::range(
                "Du",
                "diffusion of the activator",
                ParamRange {
                    min: 5e-4,
                    max: 2e-3,
                    scale: Scale::Log,
                },
                1e-3,
            ),
            ParamSpec::range(
                "Dv",
                "diffusion of the inhibitor",
                ParamRange {
                    min: 2.5e-3,
                    max: 1e-2,
                    scale: Scale::Log,
                },
                5e-3,
            ),
            ParamSpec::range(
                "k",
                "reaction constant",
                ParamRange {
                    min: 0.0,
                    max: 1e-2,
                    scale: Scale::Linear,
                },
                5e-3,
            ),
        ]
    }
    fn initial_condition(&self) -> String {
        format!(
            "white noise, normal with standard deviation {} per cell and channel",
            self.noise
        )
    }
    fn channels(&self) -> Vec<String> {
        vec!["u".into(), "v".into()]
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![
            Axis::cell_centred("x", -1.0, 2.0, self.resolution, Boundary::Neumann),
            Axis::cell_centred("y", -1.0, 2.0, self.resolution, Boundary::Neumann),
        ]
    }
    fn validate(&self) -> Result<()> {
        check_resolution("diffusion_reaction2d.resolution", self.resolution, 4)?;
        check_positive("diffusion_reaction2d.noise", self.noise)
    }
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok((0..2 * self.resolution * self.resolution)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                self.noise * z
            })
            .collect())
    }
    solve_from_stepped!();
}
