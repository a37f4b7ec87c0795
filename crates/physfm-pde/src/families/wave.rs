//! The 2D wave equation on the unit square with reflecting (Dirichlet or Neumann) walls.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::family::{
    Axis, Boundary, ParamDomain, ParamSpec, PdeFamily, SteppedSolve, Trajectory, check_initial,
    check_params, check_resolution, check_times, ensure_finite, positive, solve_from_stepped,
};
use crate::range::uniform01;
use crate::stencil::{deinterleave, interleave, laplacian5};
use crate::{ParamRange, PdeError, Result, Scale};

/// `u_tt = c^2 lap u` on `(0, 1)^2` with `u = 0` (Dirichlet) or `du/dn = 0` (Neumann) on the
/// walls, the choice being a parameter (`bc`: 0 Dirichlet, 1 Neumann). State channels: `u`
/// and `u_t`.
///
/// Cell-centred five-point Laplacian with ghost cells and velocity Verlet (leapfrog) in time,
/// both second order; the step is `cfl * dx / (c sqrt 2)` with `cfl = 0.5`. Initial state:
/// one to three Gaussian bumps at rest.
///
/// ```
/// use physfm_pde::{PdeFamily, Wave2d};
/// let f = Wave2d { resolution: 32, ..Wave2d::default() };
/// let traj = f.generate(&[1.0, 1.0], 5, &[0.0, 0.25])?; // c = 1, Neumann walls
/// assert_eq!(traj.channels, 2);
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave2d {
    /// Cells per axis.
    #[serde(default = "wave_resolution")]
    pub resolution: usize,
}

fn wave_resolution() -> usize {
    64
}

impl Default for Wave2d {
    fn default() -> Self {
        Self {
            resolution: wave_resolution(),
        }
    }
}

/// The boundary-condition choice of parameter `bc`.
fn bc_of(v: f64) -> Boundary {
    if v == 0.0 {
        Boundary::Dirichlet
    } else {
        Boundary::Neumann
    }
}

impl SteppedSolve for Wave2d {
    fn solve_stepped(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        fixed: Option<f64>,
    ) -> Result<Trajectory> {
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        positive(self.name(), "c", params[0])?;
        let (c, bc) = (params[0], bc_of(params[1]));
        let n = self.resolution;
        let np = n * n;
        check_initial(initial, 2 * np)?;
        check_times(save_times)?;
        let dx = 1.0 / n as f64;
        let max_dt = fixed.unwrap_or(0.5 * dx / (c * std::f64::consts::SQRT_2));
        if !(max_dt.is_finite() && max_dt > 0.0) {
            return Err(PdeError::InvalidValue {
                key: "dt".into(),
                value: max_dt.to_string(),
                reason: "must be positive".into(),
            });
        }
        let planes = deinterleave(initial, 2);
        let (mut u, mut ut) = (planes[..np].to_vec(), planes[np..].to_vec());
        let mut acc = vec![0.0; np];
        let c2 = c * c;
        let accel = |u: &[f64], acc: &mut [f64]| {
            laplacian5(u, n, dx, bc, acc);
            for a in acc.iter_mut() {
                *a *= c2;
            }
        };
        accel(&u, &mut acc);
        let mut out = Vec::with_capacity(save_times.len() * 2 * np);
        let mut frame = vec![0.0; 2 * np];
        let mut t = 0.0;
        let mut taken = 0;
        for &target in save_times {
            let span = target - t;
            if span > 0.0 {
                let steps = ((span / max_dt) - 1e-9).ceil().max(1.0) as usize;
                let h = span / steps as f64;
                taken += steps;
                for _ in 0..steps {
                    for p in 0..np {
                        ut[p] += 0.5 * h * acc[p];
                        u[p] += h * ut[p];
                    }
                    accel(&u, &mut acc);
                    for p in 0..np {
                        ut[p] += 0.5 * h * acc[p];
                    }
                }
                t = target;
            }
            frame[..np].copy_from_slice(&u);
            frame[np..].copy_from_slice(&ut);
            ensure_finite(self.name(), &spec, params, t, &frame)?;
            interleave(&frame, 2, &mut out);
        }
        Ok(Trajectory {
            times: save_times.to_vec(),
            shape: vec![n, n],
            channels: 2,
            values: out,
            steps: taken,
        })
    }
}

impl PdeFamily for Wave2d {
    fn name(&self) -> &'static str {
        "wave2d"
    }
    fn equation(&self) -> &'static str {
        "u_tt = c^2 lap u on (0,1)^2, u = 0 (Dirichlet) or du/dn = 0 (Neumann) on the walls"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::range(
                "c",
                "wave speed",
                ParamRange {
                    min: 0.5,
                    max: 2.0,
                    scale: Scale::Log,
                },
                1.0,
            ),
            ParamSpec {
                name: "bc".into(),
                description: "boundary condition on all walls".into(),
                domain: ParamDomain::Choice(vec!["dirichlet".into(), "neumann".into()]),
                default: 0.0,
            },
        ]
    }
    fn initial_condition(&self) -> String {
        "1 to 3 Gaussian bumps at rest: centres uniform in [0.25, 0.75]^2, widths uniform in [0.04, 0.1], amplitudes uniform in [-1, 1]".into()
    }
    fn channels(&self) -> Vec<String> {
        vec!["u".into(), "u_t".into()]
    }
    fn solver_axes(&self) -> Vec<Axis> {
        // The stored boundary is the parameter `bc`; the axes record Dirichlet as the default.
        vec![
            Axis::cell_centred("x", 0.0, 1.0, self.resolution, Boundary::Dirichlet),
            Axis::cell_centred("y", 0.0, 1.0, self.resolution, Boundary::Dirichlet),
        ]
    }
    fn validate(&self) -> Result<()> {
        check_resolution("wave2d.resolution", self.resolution, 4)
    }
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = self.resolution;
        let mut u = vec![0.0; 2 * n * n];
        let bumps = 1 + (rng.next_u64() % 3) as usize;
        for _ in 0..bumps {
            let (cx, cy) = (
                0.25 + 0.5 * uniform01(&mut rng),
                0.25 + 0.5 * uniform01(&mut rng),
            );
            let w = 0.04 + 0.06 * uniform01(&mut rng);
            let a = 2.0 * uniform01(&mut rng) - 1.0;
            for i in 0..n {
                for j in 0..n {
                    let (x, y) = ((i as f64 + 0.5) / n as f64, (j as f64 + 0.5) / n as f64);
                    let r2 = (x - cx).powi(2) + (y - cy).powi(2);
                    u[2 * (i * n + j)] += a * (-r2 / (2.0 * w * w)).exp();
                }
            }
        }
        Ok(u)
    }
    solve_from_stepped!();
}
