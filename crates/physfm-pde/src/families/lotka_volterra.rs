//! The Lotka-Volterra predator-prey system (LEADS, CoDA).

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::family::{
    Axis, ParamSpec, PdeFamily, SteppedSolve, Trajectory, check_initial, check_params,
    check_positive, check_times, ensure_finite, positive, solve_from_stepped,
};
use crate::stencil::Rk4;
use crate::{ParamRange, Result, Scale};

/// `x' = alpha x - beta x y`, `y' = delta x y - gamma y` (prey `x`, predators `y`), initial
/// state uniform in `[1, 2]^2`, as in LEADS and CoDA. Classical RK4 with step `max_dt`.
///
/// ```
/// use physfm_pde::{LotkaVolterra, PdeFamily};
/// let f = LotkaVolterra::default();
/// let traj = f.generate(&[0.5, 0.75, 0.5, 1.0], 1, &[0.0, 0.5, 1.0])?;
/// assert!(traj.shape.is_empty() && traj.values.len() == 6);
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotkaVolterra {
    /// Largest RK4 step.
    #[serde(default = "lv_dt")]
    pub max_dt: f64,
    /// Range of both initial populations.
    #[serde(default = "lv_initial")]
    pub initial: ParamRange,
}

fn lv_dt() -> f64 {
    1e-3
}
fn lv_initial() -> ParamRange {
    ParamRange {
        min: 1.0,
        max: 2.0,
        scale: Scale::Linear,
    }
}

impl Default for LotkaVolterra {
    fn default() -> Self {
        Self {
            max_dt: lv_dt(),
            initial: lv_initial(),
        }
    }
}

impl SteppedSolve for LotkaVolterra {
    /// RK4 at the fixed step `dt`, or at `max_dt`.
    fn solve_stepped(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        dt: Option<f64>,
    ) -> Result<Trajectory> {
        let dt = dt.unwrap_or(self.max_dt);
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        for (p, v) in spec.iter().zip(params) {
            positive(self.name(), &p.name, *v)?;
        }
        check_initial(initial, 2)?;
        check_times(save_times)?;
        let (a, b, g, d) = (params[0], params[1], params[2], params[3]);
        let mut s = initial.to_vec();
        let mut rk = Rk4::new(2);
        let mut rhs = |s: &[f64], out: &mut [f64]| {
            out[0] = a * s[0] - b * s[0] * s[1];
            out[1] = d * s[0] * s[1] - g * s[1];
        };
        let mut values = Vec::with_capacity(2 * save_times.len());
        let mut t = 0.0;
        let mut steps = 0;
        for &target in save_times {
            steps += rk.advance(&mut s, target - t, dt, &mut rhs);
            t = target.max(t);
            ensure_finite(self.name(), &spec, params, t, &s)?;
            values.extend_from_slice(&s);
        }
        Ok(Trajectory {
            times: save_times.to_vec(),
            shape: vec![],
            channels: 2,
            values,
            steps,
        })
    }
}

impl PdeFamily for LotkaVolterra {
    fn name(&self) -> &'static str {
        "lotka_volterra"
    }
    fn equation(&self) -> &'static str {
        "x' = alpha x - beta x y, y' = delta x y - gamma y"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        let r = |min, max| ParamRange {
            min,
            max,
            scale: Scale::Linear,
        };
        vec![
            ParamSpec::range("alpha", "prey growth rate", r(0.25, 1.0), 0.5),
            ParamSpec::range("beta", "predation rate", r(0.5, 1.0), 0.75),
            ParamSpec::range("gamma", "predator death rate", r(0.25, 1.0), 0.5),
            ParamSpec::range("delta", "predator growth per prey", r(0.5, 1.0), 0.75),
        ]
    }
    fn initial_condition(&self) -> String {
        format!(
            "x, y uniform in [{}, {}]",
            self.initial.min, self.initial.max
        )
    }
    fn channels(&self) -> Vec<String> {
        vec!["x".into(), "y".into()]
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![]
    }
    fn validate(&self) -> Result<()> {
        check_positive("lotka_volterra.max_dt", self.max_dt)?;
        self.initial.validate("lotka_volterra.initial")
    }
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(vec![
            self.initial.sample(&mut rng),
            self.initial.sample(&mut rng),
        ])
    }
    solve_from_stepped!();
}
