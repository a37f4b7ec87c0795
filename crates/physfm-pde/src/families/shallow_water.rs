//! 2D shallow water: the radial dam break of PDEBench.

// Index loops read as the formulas they implement in these numerical kernels.
#![allow(clippy::needless_range_loop)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::family::{
    Axis, Boundary, ParamSpec, PdeFamily, SteppedSolve, Trajectory, check_initial, check_params,
    check_positive, check_resolution, check_times, describe, positive, solve_from_stepped,
};
use crate::range::uniform01;
use crate::{ParamRange, PdeError, Result, Scale};

/// Shallow water `h_t + div(h u) = 0`, `(h u)_t + div(h u u + g h^2/2 I) = 0` on
/// `[-2.5, 2.5]^2` with reflective walls; PDEBench's radial dam break: still water of height
/// `h_in` inside a circle of radius `radius` (parameters) and 1 outside, `g = 1`. Stored
/// channels: `h`, `u`, `v` (velocities).
///
/// Finite volumes: MUSCL reconstruction of the conserved variables with the monotonised
/// central limiter, Rusanov fluxes, SSP-RK2 in time at CFL 0.4 (second order where smooth).
/// Mass is conserved to rounding and the depth stays positive.
///
/// ```
/// use physfm_pde::{PdeFamily, ShallowWater2d};
/// let f = ShallowWater2d { resolution: 32, ..ShallowWater2d::default() };
/// let traj = f.generate(&[0.5, 2.0], 0, &[0.0, 0.2])?;
/// assert_eq!(traj.channels, 3);
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShallowWater2d {
    /// Cells per axis.
    #[serde(default = "swe_resolution")]
    pub resolution: usize,
    /// Gravitational acceleration.
    #[serde(default = "swe_g")]
    pub g: f64,
    /// Range of the random dam centre offset from the origin, per axis (0 keeps it centred).
    #[serde(default)]
    pub centre_jitter: f64,
}

fn swe_resolution() -> usize {
    128
}
fn swe_g() -> f64 {
    1.0
}

impl Default for ShallowWater2d {
    fn default() -> Self {
        Self {
            resolution: swe_resolution(),
            g: swe_g(),
            centre_jitter: 0.0,
        }
    }
}

const LOWER: f64 = -2.5;
const LENGTH: f64 = 5.0;
const CFL: f64 = 0.4;

/// Monotonised central limited slope from the three values around a cell.
#[inline]
fn mc_slope(a: f64, b: f64, c: f64) -> f64 {
    let (l, r) = (b - a, c - b);
    if l * r <= 0.0 {
        return 0.0;
    }
    let s = l.signum();
    s * (0.5 * (l + r).abs()).min(2.0 * l.abs()).min(2.0 * r.abs())
}

/// The finite-volume right-hand side with its padded work arrays.
struct Fv {
    n: usize,
    m: usize,
    dx: f64,
    g: f64,
    pad: [Vec<f64>; 3],
}

impl Fv {
    fn new(n: usize, g: f64) -> Self {
        let m = n + 4;
        Self {
            n,
            m,
            dx: LENGTH / n as f64,
            g,
            pad: [vec![0.0; m * m], vec![0.0; m * m], vec![0.0; m * m]],
        }
    }

    /// Copies the planes into the padded arrays and fills two ghost layers by reflection
    /// (the normal momentum changes sign).
    fn fill(&mut self, q: &[f64]) {
        let (n, m) = (self.n, self.m);
        let np = n * n;
        for c in 0..3 {
            let p = &mut self.pad[c];
            for i in 0..n {
                p[(i + 2) * m + 2..(i + 2) * m + 2 + n]
                    .copy_from_slice(&q[c * np + i * n..c * np + (i + 1) * n]);
            }
            // Along x (axis 0): ghost rows; hu (c = 1) flips.
            let sx = if c == 1 { -1.0 } else { 1.0 };
            for g in 0..2 {
                for j in 2..n + 2 {
                    p[(1 - g) * m + j] = sx * p[(2 + g) * m + j];
                    p[(n + 2 + g) * m + j] = sx * p[(n + 1 - g) * m + j];
                }
            }
            // Along y (axis 1): ghost columns; hv (c = 2) flips. Corners are never read.
            let sy = if c == 2 { -1.0 } else { 1.0 };
            for i in 2..n + 2 {
                for g in 0..2 {
                    p[i * m + 1 - g] = sy * p[i * m + 2 + g];
                    p[i * m + n + 2 + g] = sy * p[i * m + n + 1 - g];
                }
            }
        }
    }

    /// Face states of the interface between padded cells `a` and `b` (`b = a + stride`).
    #[inline]
    fn faces(&self, a: usize, stride: usize) -> ([f64; 3], [f64; 3]) {
        let b = a + stride;
        let mut l = [0.0; 3];
        let mut r = [0.0; 3];
        for c in 0..3 {
            let p = &self.pad[c];
            let sa = mc_slope(p[a - stride], p[a], p[b]);
            let sb = mc_slope(p[a], p[b], p[b + stride]);
            l[c] = p[a] + 0.5 * sa;
            r[c] = p[b] - 0.5 * sb;
        }
        // Fall back to first order where the reconstruction would make the depth non-positive.
        if l[0] <= 0.0 || r[0] <= 0.0 {
            for c in 0..3 {
                l[c] = self.pad[c][a];
                r[c] = self.pad[c][b];
            }
        }
        (l, r)
    }

    /// Rusanov flux across a face normal to axis `axis` (0: x, momentum component 1).
    #[inline]
    fn flux(&self, l: [f64; 3], r: [f64; 3], axis: usize) -> [f64; 3] {
        let g = self.g;
        let normal = 1 + axis;
        let phys = |q: [f64; 3]| {
            let un = q[normal] / q[0];
            let mut f = [q[normal], q[1] * un, q[2] * un];
            f[normal] += 0.5 * g * q[0] * q[0];
            (f, un.abs() + (g * q[0]).sqrt())
        };
        let (fl, sl) = phys(l);
        let (fr, sr) = phys(r);
        let a = sl.max(sr);
        [
            0.5 * (fl[0] + fr[0]) - 0.5 * a * (r[0] - l[0]),
            0.5 * (fl[1] + fr[1]) - 0.5 * a * (r[1] - l[1]),
            0.5 * (fl[2] + fr[2]) - 0.5 * a * (r[2] - l[2]),
        ]
    }

    /// `dq/dt` of the planes `q` into `out`.
    fn rhs(&mut self, q: &[f64], out: &mut [f64]) {
        self.fill(q);
        let (n, m) = (self.n, self.m);
        let np = n * n;
        let inv = 1.0 / self.dx;
        out.iter_mut().for_each(|o| *o = 0.0);
        // x faces: between padded rows I and I + 1, I = 1..=n+1.
        for i_pad in 1..n + 2 {
            for j in 0..n {
                let a = i_pad * m + j + 2;
                let (l, r) = self.faces(a, m);
                let f = self.flux(l, r, 0);
                for c in 0..3 {
                    if i_pad >= 2 {
                        out[c * np + (i_pad - 2) * n + j] -= f[c] * inv;
                    }
                    if i_pad < n + 1 {
                        out[c * np + (i_pad - 1) * n + j] += f[c] * inv;
                    }
                }
            }
        }
        // y faces: between padded columns J and J + 1.
        for i in 0..n {
            for j_pad in 1..n + 2 {
                let a = (i + 2) * m + j_pad;
                let (l, r) = self.faces(a, 1);
                let f = self.flux(l, r, 1);
                for c in 0..3 {
                    if j_pad >= 2 {
                        out[c * np + i * n + j_pad - 2] -= f[c] * inv;
                    }
                    if j_pad < n + 1 {
                        out[c * np + i * n + j_pad - 1] += f[c] * inv;
                    }
                }
            }
        }
    }

    /// Largest signal speed over the cells.
    fn max_speed(&self, q: &[f64]) -> f64 {
        let np = self.n * self.n;
        (0..np)
            .map(|p| {
                let h = q[p];
                let c = (self.g * h).sqrt();
                (q[np + p] / h).abs().max((q[2 * np + p] / h).abs()) + c
            })
            .fold(0.0, f64::max)
    }
}

impl ShallowWater2d {
    /// Solves from the conserved planes `[h; hu; hv]` with a fixed step (convergence studies)
    /// or the CFL step; returns frames of the conserved planes at `save_times`.
    fn integrate(
        &self,
        spec: &[ParamSpec],
        params: &[f64],
        mut q: Vec<f64>,
        save_times: &[f64],
        fixed: Option<f64>,
    ) -> Result<(Vec<Vec<f64>>, usize)> {
        let n = self.resolution;
        let mut fv = Fv::new(n, self.g);
        let len = q.len();
        let (mut k, mut q1) = (vec![0.0; len], vec![0.0; len]);
        let np = n * n;
        let blow = |t: f64| PdeError::BlowUp {
            family: "shallow_water2d",
            params: describe(spec, params),
            time: t,
        };
        let mut frames = Vec::with_capacity(save_times.len());
        let mut t = 0.0;
        let mut steps = 0;
        for &target in save_times {
            while target - t > 1e-12 * target.max(1.0) {
                let s = fv.max_speed(&q);
                if !s.is_finite() || q[..np].iter().any(|&h| h.is_nan() || h <= 0.0) {
                    return Err(blow(t));
                }
                let dt = fixed.unwrap_or(CFL * fv.dx / s).min(target - t);
                fv.rhs(&q, &mut k);
                for i in 0..len {
                    q1[i] = q[i] + dt * k[i];
                }
                fv.rhs(&q1, &mut k);
                for i in 0..len {
                    q[i] = 0.5 * q[i] + 0.5 * (q1[i] + dt * k[i]);
                }
                t += dt;
                steps += 1;
            }
            t = target.max(t);
            if q.iter().any(|v| !v.is_finite()) || q[..np].iter().any(|&h| h.is_nan() || h <= 0.0) {
                return Err(blow(t));
            }
            frames.push(q.clone());
        }
        Ok((frames, steps))
    }
}

impl SteppedSolve for ShallowWater2d {
    fn solve_stepped(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        fixed: Option<f64>,
    ) -> Result<Trajectory> {
        let spec = self.parameters();
        check_params(self.name(), &spec, params)?;
        let n = self.resolution;
        let np = n * n;
        check_initial(initial, 3 * np)?;
        check_times(save_times)?;
        let mut q = vec![0.0; 3 * np];
        for p in 0..np {
            let h = initial[3 * p];
            if h.is_nan() || h <= 0.0 {
                return Err(crate::family::invalid(
                    &format!("initial h at cell {p}"),
                    h,
                    "the depth must be positive",
                ));
            }
            q[p] = h;
            q[np + p] = h * initial[3 * p + 1];
            q[2 * np + p] = h * initial[3 * p + 2];
        }
        let (frames, steps) = self.integrate(&spec, params, q, save_times, fixed)?;
        let mut values = Vec::with_capacity(save_times.len() * 3 * np);
        for f in &frames {
            for p in 0..np {
                let h = f[p];
                values.extend_from_slice(&[h, f[np + p] / h, f[2 * np + p] / h]);
            }
        }
        Ok(Trajectory {
            times: save_times.to_vec(),
            shape: vec![n, n],
            channels: 3,
            steps,
            values,
        })
    }
}

impl PdeFamily for ShallowWater2d {
    fn name(&self) -> &'static str {
        "shallow_water2d"
    }
    fn equation(&self) -> &'static str {
        "h_t + (hu)_x + (hv)_y = 0, (hu)_t + (hu^2 + g h^2/2)_x + (huv)_y = 0, (hv)_t + (huv)_x + (hv^2 + g h^2/2)_y = 0, [-2.5,2.5]^2 walls"
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::range(
                "radius",
                "dam radius",
                ParamRange {
                    min: 0.3,
                    max: 0.7,
                    scale: Scale::Linear,
                },
                0.5,
            ),
            ParamSpec::range(
                "h_in",
                "water height inside the dam",
                ParamRange {
                    min: 1.5,
                    max: 2.5,
                    scale: Scale::Linear,
                },
                2.0,
            ),
        ]
    }
    fn initial_condition(&self) -> String {
        format!(
            "still water: h = h_in inside the dam circle, 1 outside; centre offset uniform in [-{0}, {0}]^2",
            self.centre_jitter
        )
    }
    fn channels(&self) -> Vec<String> {
        vec!["h".into(), "u".into(), "v".into()]
    }
    fn solver_axes(&self) -> Vec<Axis> {
        vec![
            Axis::cell_centred("x", LOWER, LENGTH, self.resolution, Boundary::Wall),
            Axis::cell_centred("y", LOWER, LENGTH, self.resolution, Boundary::Wall),
        ]
    }
    fn validate(&self) -> Result<()> {
        check_resolution("shallow_water2d.resolution", self.resolution, 4)?;
        check_positive("shallow_water2d.g", self.g)?;
        if !(self.centre_jitter >= 0.0 && self.centre_jitter < 2.0) {
            return Err(crate::family::invalid(
                "shallow_water2d.centre_jitter",
                self.centre_jitter,
                "must be in [0, 2)",
            ));
        }
        Ok(())
    }
    fn initial_state(&self, params: &[f64], seed: u64) -> Result<Vec<f64>> {
        check_params(self.name(), &self.parameters(), params)?;
        positive(self.name(), "radius", params[0])?;
        positive(self.name(), "h_in", params[1])?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cx = self.centre_jitter * (2.0 * uniform01(&mut rng) - 1.0);
        let cy = self.centre_jitter * (2.0 * uniform01(&mut rng) - 1.0);
        let axes = self.solver_axes();
        let mut out = Vec::with_capacity(3 * self.resolution * self.resolution);
        for &x in &axes[0].coords {
            for &y in &axes[1].coords {
                let inside = (x - cx).powi(2) + (y - cy).powi(2) < params[0] * params[0];
                out.extend_from_slice(&[if inside { params[1] } else { 1.0 }, 0.0, 0.0]);
            }
        }
        Ok(out)
    }
    solve_from_stepped!();
}
