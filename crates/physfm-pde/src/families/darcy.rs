//! Steady Darcy flow with a piecewise-constant random permeability.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::family::{
    Axis, Boundary, ParamSpec, PdeFamily, Trajectory, check_initial, check_params, check_positive,
    check_resolution, describe, invalid,
};
use crate::{GaussianRandomField, ParamRange, PdeError, Result, Scale};

/// `-div(a grad u) = beta` on `(0, 1)^2`, `u = 0` on the boundary (PDEBench's and FNO's
/// Darcy flow). The coefficient `a` is a Gaussian random field thresholded at zero:
/// `a_high` where it is non-negative, `a_low` elsewhere. Stored channels: `a` and `u`, one
/// frame, on the nodal grid `x_j = j / (n - 1)` boundary included.
///
/// Five-point finite volumes with harmonic-mean face coefficients (second order where `a` is
/// smooth), solved by Jacobi-preconditioned conjugate gradients to a relative residual of
/// `1e-10`.
///
/// ```
/// use physfm_pde::{Darcy2d, PdeFamily};
/// let f = Darcy2d { resolution: 33, ..Darcy2d::default() };
/// let traj = f.generate(&[1.0], 2, &[0.0])?;
/// assert_eq!((traj.times.len(), traj.channels), (1, 2));
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Darcy2d {
    /// Nodes per axis, boundary included.
    #[serde(default = "darcy_resolution")]
    pub resolution: usize,
    /// The field that is thresholded.
    #[serde(default = "darcy_grf")]
    pub field: GaussianRandomField,
    /// Coefficient where the field is non-negative.
    #[serde(default = "a_high")]
    pub a_high: f64,
    /// Coefficient where the field is negative.
    #[serde(default = "a_low")]
    pub a_low: f64,
}

fn darcy_resolution() -> usize {
    128
}
fn darcy_grf() -> GaussianRandomField {
    GaussianRandomField {
        alpha: 2.0,
        tau: 3.0,
        sigma: None,
    }
}
fn a_high() -> f64 {
    12.0
}
fn a_low() -> f64 {
    3.0
}

impl Default for Darcy2d {
    fn default() -> Self {
        Self {
            resolution: darcy_resolution(),
            field: darcy_grf(),
            a_high: a_high(),
            a_low: a_low(),
        }
    }
}

/// Solves `-div(a grad u) = f` with `u = 0` on the boundary of the nodal `n x n` grid of the
/// unit square; `a` and `f` are nodal values (`f` on the boundary is ignored). Returns `u`
/// and the number of CG iterations.
pub(crate) fn solve_darcy(
    a: &[f64],
    f: &[f64],
    n: usize,
) -> std::result::Result<(Vec<f64>, usize), String> {
    let h = 1.0 / (n - 1) as f64;
    let m = n - 2; // interior nodes per axis
    let harm = |x: f64, y: f64| 2.0 * x * y / (x + y);
    // Face coefficients (divided by h^2) of interior node (i, j): east, west, north, south.
    let idx = |i: usize, j: usize| i * n + j;
    let mut ce = vec![0.0; m * m];
    let mut cw = vec![0.0; m * m];
    let mut cn = vec![0.0; m * m];
    let mut cs = vec![0.0; m * m];
    let mut diag = vec![0.0; m * m];
    let mut b = vec![0.0; m * m];
    let s = 1.0 / (h * h);
    for i in 1..n - 1 {
        for j in 1..n - 1 {
            let k = (i - 1) * m + (j - 1);
            let c = a[idx(i, j)];
            cs[k] = harm(c, a[idx(i - 1, j)]) * s;
            cn[k] = harm(c, a[idx(i + 1, j)]) * s;
            cw[k] = harm(c, a[idx(i, j - 1)]) * s;
            ce[k] = harm(c, a[idx(i, j + 1)]) * s;
            diag[k] = cs[k] + cn[k] + cw[k] + ce[k];
            b[k] = f[idx(i, j)];
        }
    }
    let apply = |x: &[f64], y: &mut [f64]| {
        for i in 0..m {
            for j in 0..m {
                let k = i * m + j;
                let mut v = diag[k] * x[k];
                if i > 0 {
                    v -= cs[k] * x[k - m];
                }
                if i + 1 < m {
                    v -= cn[k] * x[k + m];
                }
                if j > 0 {
                    v -= cw[k] * x[k - 1];
                }
                if j + 1 < m {
                    v -= ce[k] * x[k + 1];
                }
                y[k] = v;
            }
        }
    };
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let len = m * m;
    let mut x = vec![0.0; len];
    let mut r = b.clone();
    let mut z: Vec<f64> = r.iter().zip(&diag).map(|(r, d)| r / d).collect();
    let mut p = z.clone();
    let mut ap = vec![0.0; len];
    let mut rz = dot(&r, &z);
    let bnorm = dot(&b, &b).sqrt();
    let mut iterations = 0;
    if bnorm > 0.0 {
        let max_iter = 20 * n + 1000;
        while dot(&r, &r).sqrt() > 1e-10 * bnorm {
            if iterations >= max_iter {
                return Err(format!(
                    "conjugate gradients did not converge in {max_iter} iterations"
                ));
            }
            apply(&p, &mut ap);
            let alpha = rz / dot(&p, &ap);
            for k in 0..len {
                x[k] += alpha * p[k];
                r[k] -= alpha * ap[k];
            }
            for k in 0..len {
                z[k] = r[k] / diag[k];
            }
            let rz_new = dot(&r, &z);
            let beta = rz_new / rz;
            rz = rz_new;
            for k in 0..len {
                p[k] = z[k] + beta * p[k];
            }
            iterations += 1;
        }
    }
    let mut u = vec![0.0; n * n];
    for i in 1..n - 1 {
        for j in 1..n - 1 {
            u[idx(i, j)] = x[(i - 1) * m + (j - 1)];
        }
    }
    Ok((u, iterations))
}

impl Darcy2d {
    /// Solves `-div(a grad u) = f` with the nodal coefficient `a` and forcing `f` (both
    /// `[n, n]`; `f` on the boundary is ignored) and returns `u` (for manufactured solutions
    /// and non-constant forcings).
    pub fn solve_with_forcing(&self, a: &[f64], f: &[f64]) -> Result<Vec<f64>> {
        let n = self.resolution;
        for (what, v) in [("coefficient", a), ("forcing", f)] {
            if v.len() != n * n {
                return Err(PdeError::Shape {
                    what,
                    expected: n * n,
                    got: v.len(),
                });
            }
        }
        if let Some(p) = a.iter().position(|&v| !(v > 0.0 && v.is_finite())) {
            return Err(invalid(
                &format!("darcy2d coefficient a at node {p}"),
                a[p],
                "must be positive and finite",
            ));
        }
        if let Some(p) = f.iter().position(|v| !v.is_finite()) {
            return Err(invalid(
                &format!("darcy2d forcing at node {p}"),
                f[p],
                "must be finite",
            ));
        }
        solve_darcy(a, f, n)
            .map(|(u, _)| u)
            .map_err(|reason| invalid("darcy2d", "solve", &reason))
    }
}

impl PdeFamily for Darcy2d {
    fn name(&self) -> &'static str {
        "darcy2d"
    }
    fn equation(&self) -> &'static str {
        "-div(a grad u) = beta on (0,1)^2, u = 0 on the boundary"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::range(
            "beta",
            "constant forcing",
            ParamRange {
                min: 0.01,
                max: 100.0,
                scale: Scale::Log,
            },
            1.0,
        )]
    }
    fn initial_condition(&self) -> String {
        format!(
            "coefficient a = {} where a Gaussian random field (alpha {}, tau {}) is >= 0, {} elsewhere",
            self.a_high, self.field.alpha, self.field.tau, self.a_low
        )
    }
    fn channels(&self) -> Vec<String> {
        vec!["a".into(), "u".into()]
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![
            Axis::nodal("x", 0.0, 1.0, self.resolution, Boundary::Dirichlet),
            Axis::nodal("y", 0.0, 1.0, self.resolution, Boundary::Dirichlet),
        ]
    }
    fn steady(&self) -> bool {
        true
    }
    fn validate(&self) -> Result<()> {
        check_resolution("darcy2d.resolution", self.resolution, 3)?;
        check_positive("darcy2d.a_high", self.a_high)?;
        check_positive("darcy2d.a_low", self.a_low)?;
        self.field.validate("darcy2d.field")
    }
    /// The `a` channel holds the coefficient; the `u` channel is zero until solved.
    fn initial_state(&self, _params: &[f64], seed: u64) -> Result<Vec<f64>> {
        let n = self.resolution;
        let g = self
            .field
            .sample2d(n, n, &mut ChaCha8Rng::seed_from_u64(seed));
        Ok(g.iter()
            .flat_map(|&v| [if v >= 0.0 { self.a_high } else { self.a_low }, 0.0])
            .collect())
    }
    /// Solves the steady problem; every requested time gets the same steady frame.
    fn solve_from(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
    ) -> Result<Trajectory> {
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        let n = self.resolution;
        check_initial(initial, 2 * n * n)?;
        let a: Vec<f64> = initial.iter().step_by(2).copied().collect();
        if let Some(p) = a.iter().position(|&v| v <= 0.0) {
            return Err(invalid(
                &format!("darcy2d coefficient a at node {p}"),
                a[p],
                "must be positive",
            ));
        }
        let f = vec![params[0]; n * n];
        let (u, iterations) = solve_darcy(&a, &f, n).map_err(|reason| PdeError::InvalidValue {
            key: "darcy2d".into(),
            value: describe(&spec, params),
            reason,
        })?;
        let frame: Vec<f64> = a.iter().zip(&u).flat_map(|(&a, &u)| [a, u]).collect();
        let mut values = Vec::with_capacity(save_times.len() * frame.len());
        for _ in save_times {
            values.extend_from_slice(&frame);
        }
        Ok(Trajectory {
            times: save_times.to_vec(),
            shape: vec![n, n],
            channels: 2,
            steps: iterations,
            values,
        })
    }
}
