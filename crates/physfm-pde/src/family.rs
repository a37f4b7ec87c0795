//! The common description of a PDE family: its parameters, grid, channels, initial-condition
//! distribution and solver, behind one object-safe trait.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::range::uniform01;
use crate::{ParamRange, PdeError, Result};

/// The set of values a parameter takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamDomain {
    /// A continuous range with its sampling scale.
    Range(ParamRange),
    /// A discrete choice (e.g. a boundary condition); the numeric value is the index.
    Choice(Vec<String>),
}

/// A named parameter of a family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Name, as used in presets and stored collections.
    pub name: String,
    /// What the parameter is.
    pub description: String,
    /// The family's default sampling domain (the reference setup's range).
    pub domain: ParamDomain,
    /// Value used when a preset does not vary the parameter.
    pub default: f64,
}

impl ParamSpec {
    pub(crate) fn range(name: &str, description: &str, range: ParamRange, default: f64) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            domain: ParamDomain::Range(range),
            default,
        }
    }
}

/// A boundary condition of one spatial axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// Periodic.
    Periodic,
    /// Fixed value (zero) on the boundary.
    Dirichlet,
    /// Zero normal derivative (no flux) on the boundary.
    Neumann,
    /// Reflective solid wall (hyperbolic systems).
    Wall,
}

impl Boundary {
    /// Lower-case name, as stored in collections.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Periodic => "periodic",
            Self::Dirichlet => "dirichlet",
            Self::Neumann => "neumann",
            Self::Wall => "wall",
        }
    }
}

/// One spatial axis of the stored grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Axis name (`x`, `y`).
    pub name: String,
    /// Lower end of the domain.
    pub lower: f64,
    /// Domain length.
    pub length: f64,
    /// Boundary condition at both ends.
    pub boundary: Boundary,
    /// Point coordinates.
    pub coords: Vec<f64>,
}

impl Axis {
    /// Periodic points `lower + j * length / n`.
    pub(crate) fn periodic(name: &str, lower: f64, length: f64, n: usize) -> Self {
        Self {
            name: name.into(),
            lower,
            length,
            boundary: Boundary::Periodic,
            coords: (0..n)
                .map(|j| lower + j as f64 * length / n as f64)
                .collect(),
        }
    }

    /// Cell centres `lower + (j + 1/2) * length / n`.
    pub(crate) fn cell_centred(name: &str, lower: f64, length: f64, n: usize, b: Boundary) -> Self {
        Self {
            name: name.into(),
            lower,
            length,
            boundary: b,
            coords: (0..n)
                .map(|j| lower + (j as f64 + 0.5) * length / n as f64)
                .collect(),
        }
    }

    /// Nodes `lower + j * length / (n - 1)`, both ends included.
    pub(crate) fn nodal(name: &str, lower: f64, length: f64, n: usize, b: Boundary) -> Self {
        Self {
            name: name.into(),
            lower,
            length,
            boundary: b,
            coords: (0..n)
                .map(|j| lower + j as f64 * length / (n - 1) as f64)
                .collect(),
        }
    }
}

/// A solution saved at a list of times: values laid out `[T, *S, C]`, row-major, channel last.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Physical save times.
    pub times: Vec<f64>,
    /// Points per spatial axis (empty for an ODE).
    pub shape: Vec<usize>,
    /// Channels per point.
    pub channels: usize,
    /// The values.
    pub values: Vec<f64>,
    /// Solver work: time steps taken (RK stages and ETD stages count as one step; for the
    /// steady Darcy problem, conjugate-gradient iterations).
    pub steps: usize,
}

impl Trajectory {
    /// Values per frame.
    pub fn frame_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.channels
    }

    /// Frame `t`, laid out `[*S, C]`.
    pub fn frame(&self, t: usize) -> &[f64] {
        let n = self.frame_len();
        &self.values[t * n..(t + 1) * n]
    }

    /// Channel `c` of frame `t`, laid out `[*S]`.
    pub fn channel(&self, t: usize, c: usize) -> Vec<f64> {
        self.frame(t)
            .iter()
            .skip(c)
            .step_by(self.channels)
            .copied()
            .collect()
    }

    /// Keeps every `stride`-th point along each spatial axis.
    pub fn subsample(&self, stride: usize) -> Trajectory {
        if stride <= 1 {
            return self.clone();
        }
        let shape: Vec<usize> = self.shape.iter().map(|s| s.div_ceil(stride)).collect();
        let mut values =
            Vec::with_capacity(self.times.len() * shape.iter().product::<usize>() * self.channels);
        let d = self.shape.len();
        let points: usize = shape.iter().product();
        for t in 0..self.times.len() {
            let frame = self.frame(t);
            for p in 0..points {
                // Index of the kept point in the fine grid.
                let (mut rem, mut fine, mut mult) = (p, 0usize, 1usize);
                for a in (0..d).rev() {
                    let i = rem % shape[a];
                    rem /= shape[a];
                    fine += i * stride * mult;
                    mult *= self.shape[a];
                }
                values.extend_from_slice(&frame[fine * self.channels..(fine + 1) * self.channels]);
            }
        }
        Trajectory {
            times: self.times.clone(),
            shape,
            channels: self.channels,
            values,
            steps: self.steps,
        }
    }
}

/// A parametric PDE family: what it is, what it varies, and how to solve it.
///
/// Parameters are passed as a slice in the order of [`PdeFamily::parameters`]; a
/// [`ParamDomain::Choice`] parameter is passed as its index. Solvers accept values outside the
/// default ranges (extrapolation studies need them) but refuse physically invalid ones, and
/// report a blow-up as [`PdeError::BlowUp`] naming the family, parameters and time.
pub trait PdeFamily: Send + Sync {
    /// Short name, e.g. `burgers1d`; also the collection name.
    fn name(&self) -> &'static str;
    /// The PDE, written out.
    fn equation(&self) -> &'static str;
    /// The named parameters with their default ranges.
    fn parameters(&self) -> Vec<ParamSpec>;
    /// The initial-condition distribution, described.
    fn initial_condition(&self) -> String;
    /// Output channel names.
    fn channels(&self) -> Vec<String>;
    /// The solver grid, one entry per spatial axis (empty for an ODE).
    fn solver_axes(&self) -> Vec<Axis>;
    /// Stride between stored points along each axis (1 keeps the solver grid).
    fn stored_stride(&self) -> usize {
        1
    }
    /// Whether the problem is steady (one frame, no time dependence).
    fn steady(&self) -> bool {
        false
    }
    /// Checks the configuration; errors name the key.
    fn validate(&self) -> Result<()>;
    /// Draws the initial state of seed `seed` on the solver grid, laid out `[*S, C]`.
    fn initial_state(&self, params: &[f64], seed: u64) -> Result<Vec<f64>>;
    /// Solves from `initial` (solver grid, `[*S, C]`) and returns the state at each save time
    /// on the solver grid.
    fn solve_from(&self, params: &[f64], initial: &[f64], save_times: &[f64])
    -> Result<Trajectory>;

    /// Spatial dimension.
    fn spatial_dims(&self) -> usize {
        self.solver_axes().len()
    }

    /// The stored grid.
    fn axes(&self) -> Vec<Axis> {
        let s = self.stored_stride();
        self.solver_axes()
            .into_iter()
            .map(|mut a| {
                a.coords = a.coords.into_iter().step_by(s).collect();
                a
            })
            .collect()
    }

    /// Default parameter values.
    fn default_params(&self) -> Vec<f64> {
        self.parameters().iter().map(|p| p.default).collect()
    }

    /// Draws an initial state with `seed`, solves, and keeps the stored grid.
    fn generate(&self, params: &[f64], seed: u64, save_times: &[f64]) -> Result<Trajectory> {
        let u0 = self.initial_state(params, seed)?;
        Ok(self
            .solve_from(params, &u0, save_times)?
            .subsample(self.stored_stride()))
    }
}

/// A family whose time stepping can also be fixed: the one solver behind its
/// [`PdeFamily::solve_from`] (which passes `None`, the family's own step rule) and behind
/// convergence studies at a fixed step ([`SteppedSolve::solve_with_dt`]).
///
/// ```
/// use physfm_pde::{Burgers1d, PdeFamily, SteppedSolve};
/// let f = Burgers1d::default();
/// let u0 = f.initial_state(&[0.1], 3)?;
/// let coarse = f.solve_with_dt(&[0.1], &u0, &[0.1], 1e-3)?;
/// let fine = f.solve_with_dt(&[0.1], &u0, &[0.1], 5e-4)?;
/// let gap = coarse.values.iter().zip(&fine.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
/// assert!(gap < 1e-6);
/// assert!(f.solve_with_dt(&[0.1], &u0, &[0.1], 0.0).is_err());
/// # Ok::<(), physfm_pde::PdeError>(())
/// ```
pub trait SteppedSolve: PdeFamily {
    /// Solves from `initial` as [`PdeFamily::solve_from`] does, with the fixed step `dt`, or
    /// the family's own step rule where `dt` is `None`.
    fn solve_stepped(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        dt: Option<f64>,
    ) -> Result<Trajectory>;

    /// As [`PdeFamily::solve_from`] with the fixed step `dt` (for convergence studies); a
    /// step that is not positive is refused by name.
    fn solve_with_dt(
        &self,
        params: &[f64],
        initial: &[f64],
        save_times: &[f64],
        dt: f64,
    ) -> Result<Trajectory> {
        check_positive("dt", dt)?;
        self.solve_stepped(params, initial, save_times, Some(dt))
    }
}

/// `solve_from` of a family that implements [`SteppedSolve`]: its own step rule.
macro_rules! solve_from_stepped {
    () => {
        fn solve_from(
            &self,
            params: &[f64],
            initial: &[f64],
            save_times: &[f64],
        ) -> Result<Trajectory> {
            $crate::SteppedSolve::solve_stepped(self, params, initial, save_times, None)
        }
    };
}
pub(crate) use solve_from_stepped;

/// Which times a trajectory is saved at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSampling {
    /// Start of the saved window (a burn-in before it is solved but not saved).
    #[serde(default)]
    pub t_start: f64,
    /// Last save time.
    pub t_end: f64,
    /// Saved frames per trajectory, the initial state included.
    pub frames: usize,
    /// Irregular sampling: each trajectory keeps `t_start` and draws the other `frames - 1`
    /// times uniformly in `(t_start, t_end]`, sorted, from its own seed.
    #[serde(default)]
    pub irregular: bool,
}

impl TimeSampling {
    /// Checks the sampling; errors name keys under `prefix`.
    pub fn validate(&self, prefix: &str, steady: bool) -> Result<()> {
        if steady {
            if self.frames != 1 {
                return Err(invalid(
                    &format!("{prefix}.frames"),
                    self.frames,
                    "a steady family has exactly one frame",
                ));
            }
            return Ok(());
        }
        if !(self.t_start.is_finite() && self.t_start >= 0.0) {
            return Err(invalid(
                &format!("{prefix}.t_start"),
                self.t_start,
                "must be finite and non-negative",
            ));
        }
        if !(self.t_end.is_finite() && self.t_end > self.t_start) {
            return Err(invalid(
                &format!("{prefix}.t_end"),
                self.t_end,
                "must be finite and after t_start",
            ));
        }
        if self.frames < 2 {
            return Err(invalid(
                &format!("{prefix}.frames"),
                self.frames,
                "at least 2 frames are needed",
            ));
        }
        Ok(())
    }

    /// The save times of the trajectory with seed `seed`, in solver time (burn-in included).
    pub fn times(&self, seed: u64) -> Vec<f64> {
        if self.frames == 1 {
            return vec![self.t_start];
        }
        let span = self.t_end - self.t_start;
        if !self.irregular {
            return (0..self.frames)
                .map(|i| self.t_start + span * i as f64 / (self.frames - 1) as f64)
                .collect();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7469_6d65_7361_6d70);
        let mut t: Vec<f64> = (1..self.frames)
            .map(|_| self.t_start + span * (1.0 - uniform01(&mut rng)))
            .collect();
        t.sort_by(f64::total_cmp);
        t.insert(0, self.t_start);
        t
    }
}

/// An [`PdeError::InvalidValue`] for `key`.
pub(crate) fn invalid(key: &str, value: impl std::fmt::Display, reason: &str) -> PdeError {
    PdeError::InvalidValue {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Checks that `params` has one entry per parameter of `spec` and that each is finite.
pub(crate) fn check_params(family: &str, spec: &[ParamSpec], params: &[f64]) -> Result<()> {
    if params.len() != spec.len() {
        return Err(invalid(
            &format!("{family}.params"),
            format!("{params:?}"),
            &format!(
                "expected {} values ({})",
                spec.len(),
                spec.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for (p, v) in spec.iter().zip(params) {
        if !v.is_finite() {
            return Err(invalid(
                &format!("{family}.{}", p.name),
                v,
                "must be finite",
            ));
        }
        if let ParamDomain::Choice(options) = &p.domain
            && (v.fract() != 0.0 || *v < 0.0 || *v as usize >= options.len())
        {
            return Err(invalid(
                &format!("{family}.{}", p.name),
                v,
                &format!("must be the index of one of {options:?}"),
            ));
        }
    }
    Ok(())
}

/// Requires `v > 0` for the parameter `name`.
pub(crate) fn positive(family: &str, name: &str, v: f64) -> Result<()> {
    if v > 0.0 {
        Ok(())
    } else {
        Err(invalid(&format!("{family}.{name}"), v, "must be positive"))
    }
}

/// Checks the length and finiteness of an initial state.
pub(crate) fn check_initial(initial: &[f64], expected: usize) -> Result<()> {
    if initial.len() != expected {
        return Err(PdeError::Shape {
            what: "initial state",
            expected,
            got: initial.len(),
        });
    }
    if let Some(i) = initial.iter().position(|v| !v.is_finite()) {
        return Err(invalid(
            &format!("initial[{i}]"),
            initial[i],
            "the initial state must be finite",
        ));
    }
    Ok(())
}

/// Checks save times: finite, non-negative, non-decreasing.
pub(crate) fn check_times(save_times: &[f64]) -> Result<()> {
    let mut prev = 0.0;
    for &t in save_times {
        if !(t.is_finite() && t >= prev) {
            return Err(invalid(
                "save_times",
                t,
                "save times must be finite, non-negative and non-decreasing",
            ));
        }
        prev = t;
    }
    Ok(())
}

/// Formats parameters as `name=value` pairs for error messages.
pub(crate) fn describe(spec: &[ParamSpec], params: &[f64]) -> String {
    spec.iter()
        .zip(params)
        .map(|(p, v)| format!("{}={v}", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A blow-up error unless every value is finite.
pub(crate) fn ensure_finite(
    family: &'static str,
    spec: &[ParamSpec],
    params: &[f64],
    time: f64,
    state: &[f64],
) -> Result<()> {
    if state.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(PdeError::BlowUp {
            family,
            params: describe(spec, params),
            time,
        })
    }
}

/// Validates a grid size.
pub(crate) fn check_resolution(key: &str, n: usize, min: usize) -> Result<()> {
    if n < min {
        return Err(invalid(
            key,
            n,
            &format!("at least {min} points are needed"),
        ));
    }
    Ok(())
}

/// Validates a positive finite configuration value.
pub(crate) fn check_positive(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(key, v, "must be positive and finite"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irregular_times_differ_per_seed_and_stay_sorted_in_range() {
        let s = TimeSampling {
            t_start: 1.0,
            t_end: 3.0,
            frames: 11,
            irregular: true,
        };
        let a = s.times(1);
        let b = s.times(2);
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
        assert_eq!(a[0], 1.0);
        assert!(a.windows(2).all(|w| w[0] <= w[1]) && a[10] <= 3.0 && a[1] > 1.0);
        let r = TimeSampling {
            irregular: false,
            ..s
        };
        assert_eq!(r.times(1), r.times(2));
        assert!((r.times(0)[5] - 2.0).abs() < 1e-15);
    }

    #[test]
    fn subsample_keeps_every_stride_th_point_in_each_axis() {
        let t = Trajectory {
            times: vec![0.0],
            shape: vec![4, 4],
            channels: 2,
            values: (0..32).map(f64::from).collect(),
            steps: 0,
        };
        let s = t.subsample(2);
        assert_eq!(s.shape, vec![2, 2]);
        // Points (0,0), (0,2), (2,0), (2,2) -> flat 0, 2, 8, 10, two channels each.
        assert_eq!(s.values, vec![0.0, 1.0, 4.0, 5.0, 16.0, 17.0, 20.0, 21.0]);
    }
}
