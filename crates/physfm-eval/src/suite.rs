//! The metric suite of the field on arrays laid out `[batch, time, *space, channel]`:
//! PDEBench's (`pdebench/models/metrics.py`, `metric_func`), The Well's VRMSE
//! (`the_well/benchmark/metrics/spatial.py`) and neuraloperator's relative L2 and H1 errors
//! (`neuralop/losses/data_losses.py`, `LpLoss` and `H1Loss`).
//!
//! Every metric is computed per `(channel, time)` (a [`MetricGrid`]); its single number is
//! the mean over channels and time, as PDEBench reports it. Metrics defined per sample
//! (RMSE, nRMSE, bRMSE, VRMSE, relative L2 and H1) are averaged over samples; cRMSE and the
//! Fourier errors take the root of the mean square over samples; the max error is the largest
//! over samples. PDEBench lays its arrays out `[batch, *space, time, channel]`; the
//! definitions do not depend on the order. Its quirks are kept on purpose so that numbers
//! compare: the Fourier error of 2D and 3D fields bins only the non-negative-frequency
//! quadrant (octant) by integer radius, a band with no modes is NaN (the mean of an empty
//! tensor), and the 3D boundary error sums over channels (its grid has one channel row).
//!
//! A non-finite target is refused (it is corrupt data, not an error to measure); a
//! non-finite prediction (a rollout that blew up) gives non-finite metrics.

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use serde::Serialize;

use crate::metrics::MetricShape;
use crate::{EvalError, Result};

/// The Well's `eps` in VRMSE: `sqrt(MSE / (Var(target) + eps))`.
pub const VRMSE_EPS: f64 = 1e-7;
/// neuraloperator's `eps` in the relative errors: `||e|| / (||y|| + eps)`.
pub const RELATIVE_EPS: f64 = 1e-8;

/// Edges of the three Fourier bands: low `[0, low)`, mid `[low, high)`, high `[high, ..)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FourierBands {
    /// First mode of the middle band (PDEBench: 4).
    pub low: usize,
    /// First mode of the high band (PDEBench: 12).
    pub high: usize,
}

impl Default for FourierBands {
    fn default() -> Self {
        Self { low: 4, high: 12 }
    }
}

/// What the metrics need to know about the domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricOptions {
    /// Length of each spatial axis (PDEBench's `Lx`, `Ly`, `Lz`, which scale the Fourier
    /// error; neuraloperator's `measure`, which sets the finite-difference spacing of H1).
    pub lengths: Vec<f64>,
    /// Whether each spatial axis is periodic: central differences wrap around (H1's default
    /// in neuraloperator); otherwise third-order one-sided differences at the two ends.
    pub periodic: Vec<bool>,
    /// Fourier band edges of fRMSE.
    pub bands: FourierBands,
}

impl MetricOptions {
    /// Unit lengths, periodic axes and PDEBench's bands for `ndim` spatial axes (the
    /// defaults of PDEBench and neuraloperator).
    pub fn unit(ndim: usize) -> Self {
        Self {
            lengths: vec![1.0; ndim],
            periodic: vec![true; ndim],
            bands: FourierBands::default(),
        }
    }

    /// The same with the given domain lengths.
    pub fn with_lengths(mut self, lengths: &[f64]) -> Self {
        self.lengths = lengths.to_vec();
        self
    }

    /// The same with the given periodicity per axis.
    pub fn with_periodic(mut self, periodic: &[bool]) -> Self {
        self.periodic = periodic.to_vec();
        self
    }
}

/// One metric per `(channel, time)`, row-major by channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricGrid {
    /// Rows (channels; 1 for PDEBench's 3D boundary error, which merges channels).
    pub channels: usize,
    /// Columns (time steps).
    pub times: usize,
    /// `values[channel * times + time]`.
    pub values: Vec<f64>,
}

impl MetricGrid {
    /// The value at one channel and time step.
    pub fn at(&self, channel: usize, time: usize) -> f64 {
        self.values[channel * self.times + time]
    }

    /// The mean over channels and time (PDEBench's `if_mean=True`).
    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len() as f64
    }

    /// The mean over channels at each time step: the rollout curve.
    pub fn per_time(&self) -> Vec<f64> {
        (0..self.times)
            .map(|t| (0..self.channels).map(|c| self.at(c, t)).sum::<f64>() / self.channels as f64)
            .collect()
    }

    /// The mean over time of each channel.
    pub fn per_channel(&self) -> Vec<f64> {
        self.values
            .chunks(self.times)
            .map(|r| r.iter().sum::<f64>() / self.times as f64)
            .collect()
    }
}

/// Every metric of the suite, per `(channel, time)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSuite {
    /// PDEBench's RMSE: RMSE over space, averaged over samples.
    pub rmse: MetricGrid,
    /// PDEBench's nRMSE: RMSE over space divided by the target's RMS over space, averaged
    /// over samples.
    pub nrmse: MetricGrid,
    /// PDEBench's cRMSE: error of the spatial sum (the conserved quantity), RMS over samples,
    /// divided by the number of points.
    pub crmse: MetricGrid,
    /// PDEBench's max error: the largest absolute error over samples and space.
    pub max_error: MetricGrid,
    /// PDEBench's bRMSE: RMSE over the boundary points, averaged over samples (one row in 3D).
    pub brmse: MetricGrid,
    /// PDEBench's fRMSE in the low, mid and high Fourier bands.
    pub frmse: [MetricGrid; 3],
    /// The Well's VRMSE: `sqrt(MSE / (Var(target) + 1e-7))` over space with the unbiased
    /// variance (as `torch.std`), averaged over samples.
    pub vrmse: MetricGrid,
    /// neuraloperator's relative L2 error `||e|| / (||y|| + 1e-8)` over space, averaged
    /// over samples (`LpLoss(d, p=2, reduction="mean")`).
    pub rel_l2: MetricGrid,
    /// neuraloperator's relative H1 error: the same with the squared first derivatives
    /// along every axis added to both norms, derivatives by finite differences with spacing
    /// `length / points` (`H1Loss(d, reduction="mean")`).
    pub rel_h1: MetricGrid,
}

/// The names of the suite's metrics, in the order of [`MetricSuite::grids`].
pub const METRIC_NAMES: [&str; 11] = [
    "rmse",
    "nrmse",
    "crmse",
    "max_error",
    "brmse",
    "frmse_low",
    "frmse_mid",
    "frmse_high",
    "vrmse",
    "rel_l2",
    "rel_h1",
];

impl MetricSuite {
    /// Every grid with its name (see [`METRIC_NAMES`]).
    pub fn grids(&self) -> [(&'static str, &MetricGrid); 11] {
        let g = [
            &self.rmse,
            &self.nrmse,
            &self.crmse,
            &self.max_error,
            &self.brmse,
            &self.frmse[0],
            &self.frmse[1],
            &self.frmse[2],
            &self.vrmse,
            &self.rel_l2,
            &self.rel_h1,
        ];
        std::array::from_fn(|i| (METRIC_NAMES[i], g[i]))
    }

    /// The grid of a metric by name.
    pub fn grid(&self, name: &str) -> Option<&MetricGrid> {
        self.grids()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, g)| g)
    }

    /// PDEBench's six numbers (`metric_func(..., if_mean=True)`).
    pub fn pdebench(&self) -> PdebenchMetrics {
        PdebenchMetrics {
            rmse: self.rmse.mean(),
            nrmse: self.nrmse.mean(),
            crmse: self.crmse.mean(),
            max_error: self.max_error.mean(),
            brmse: self.brmse.mean(),
            frmse: [
                self.frmse[0].mean(),
                self.frmse[1].mean(),
                self.frmse[2].mean(),
            ],
        }
    }
}

/// PDEBench's suite as single numbers, each averaged over channels and time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PdebenchMetrics {
    /// RMSE over space, averaged over samples.
    pub rmse: f64,
    /// RMSE over space divided by the target's RMS over space, averaged over samples.
    pub nrmse: f64,
    /// Error of the spatial sum (the conserved quantity), RMS over samples, divided by the
    /// number of points.
    pub crmse: f64,
    /// Largest absolute error over samples and space.
    pub max_error: f64,
    /// RMSE over the boundary points, averaged over samples.
    pub brmse: f64,
    /// RMSE in Fourier space in the low, mid and high bands.
    pub frmse: [f64; 3],
}

/// Computes PDEBench's metric suite as single numbers (see [`metric_suite`]). `dims` is
/// `[batch, time, *space, channel]` with one to three spatial axes, `lengths` the domain
/// length of each spatial axis (PDEBench's `Lx`, `Ly`, `Lz`, which scale the Fourier error).
///
/// ```
/// use physfm_eval::{FourierBands, pdebench_metrics};
/// // One sample, one step, four points, one channel; the error is 1 at x = 0 only.
/// let target = [1.0, 2.0, 3.0, 4.0];
/// let pred = [2.0, 2.0, 3.0, 4.0];
/// let m = pdebench_metrics(&pred, &target, &[1, 1, 4, 1], &[1.0], FourierBands::default())?;
/// assert!((m.rmse - 0.5).abs() < 1e-12);          // sqrt(1 / 4)
/// assert!((m.max_error - 1.0).abs() < 1e-12);
/// assert!((m.crmse - 0.25).abs() < 1e-12);        // |sum error| / 4
/// assert!((m.brmse - (0.5f64).sqrt()).abs() < 1e-12); // sqrt((1 + 0) / 2)
/// # Ok::<(), physfm_eval::EvalError>(())
/// ```
pub fn pdebench_metrics(
    pred: &[f32],
    target: &[f32],
    dims: &[usize],
    lengths: &[f64],
    bands: FourierBands,
) -> Result<PdebenchMetrics> {
    let ndim = dims.len().saturating_sub(3);
    let mut options = MetricOptions::unit(ndim).with_lengths(lengths);
    options.bands = bands;
    Ok(metric_suite(pred, target, dims, &options)?.pdebench())
}

/// The number of leading steps of a rollout curve whose error stays at or below `level`:
/// the index of the first step above it, `None` when the curve never passes it (NaN counts
/// as passing).
///
/// ```
/// let curve = [0.01, 0.05, 0.2, 0.1];
/// assert_eq!(physfm_eval::time_to_threshold(&curve, 0.1), Some(2));
/// assert_eq!(physfm_eval::time_to_threshold(&curve, 0.5), None);
/// ```
pub fn time_to_threshold(curve: &[f64], level: f64) -> Option<usize> {
    curve.iter().position(|v| v.is_nan() || *v > level)
}

/// Computes every metric of the suite per `(channel, time)`. `dims` is
/// `[batch, time, *space, channel]` with one to three spatial axes.
///
/// ```
/// use physfm_eval::{MetricOptions, metric_suite};
/// // One sample, two steps, four points, one channel.
/// let target = [1.0, 2.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0];
/// let pred = [1.0, 2.0, 3.0, 6.0, 1.0, 1.0, 1.0, 1.0];
/// let m = metric_suite(&pred, &target, &[1, 2, 4, 1], &MetricOptions::unit(1))?;
/// assert!((m.rmse.at(0, 0) - 1.0).abs() < 1e-12);       // sqrt(4 / 4)
/// assert_eq!(m.rmse.at(0, 1), 0.0);
/// // VRMSE: MSE 1 over the unbiased variance of [1, 2, 3, 4], 5/3.
/// assert!((m.vrmse.at(0, 0) - (1.0f64 / (5.0 / 3.0 + 1e-7)).sqrt()).abs() < 1e-12);
/// // Relative L2: 2 / sqrt(30).
/// assert!((m.rel_l2.at(0, 0) - 2.0 / (30.0f64.sqrt() + 1e-8)).abs() < 1e-12);
/// assert_eq!(m.nrmse.per_time().len(), 2);
/// # Ok::<(), physfm_eval::EvalError>(())
/// ```
pub fn metric_suite(
    pred: &[f32],
    target: &[f32],
    dims: &[usize],
    options: &MetricOptions,
) -> Result<MetricSuite> {
    let s = MetricShape::from_dims(dims)?;
    let space = &dims[2..dims.len() - 1];
    if space.is_empty() || space.len() > 3 {
        return Err(EvalError::Shape {
            what: "metric input".into(),
            expected: "[batch, time, *space, channel] with 1 to 3 spatial axes".into(),
            got: format!("{dims:?}"),
        });
    }
    if s.batch == 0 || s.time == 0 || s.space == 0 || s.channels == 0 {
        return Err(EvalError::Shape {
            what: "metric input".into(),
            expected: "no empty axis".into(),
            got: format!("{dims:?}"),
        });
    }
    for (what, v) in [
        ("domain lengths", options.lengths.len()),
        ("periodicity flags", options.periodic.len()),
    ] {
        if v != space.len() {
            return Err(EvalError::Shape {
                what: what.into(),
                expected: format!("{} values, one per spatial axis", space.len()),
                got: v.to_string(),
            });
        }
    }
    if let Some(l) = options
        .lengths
        .iter()
        .find(|l| !(l.is_finite() && **l > 0.0))
    {
        return Err(EvalError::Invalid(format!(
            "domain lengths must be positive and finite, got {l}"
        )));
    }
    for (axis, (&n, &periodic)) in space.iter().zip(&options.periodic).enumerate() {
        if !periodic && n < 4 {
            return Err(EvalError::Invalid(format!(
                "spatial axis {axis} is not periodic and has {n} points; its one-sided \
                 differences (H1) need at least 4"
            )));
        }
    }
    let len = s.batch * s.time * s.space * s.channels;
    for (what, a) in [("prediction", pred), ("target", target)] {
        if a.len() != len {
            return Err(EvalError::Shape {
                what: what.into(),
                expected: format!("{len} values ({dims:?})"),
                got: a.len().to_string(),
            });
        }
    }
    if let Some(i) = target.iter().position(|v| !v.is_finite()) {
        return Err(EvalError::Invalid(format!(
            "target value {} at flat index {i} (position {:?} of {dims:?}) is not finite",
            target[i],
            unravel(i, dims)
        )));
    }
    let (nb, nt, np, nc) = (s.batch, s.time, s.space, s.channels);
    let at = |b: usize, t: usize, p: usize, c: usize| ((b * nt + t) * np + p) * nc + c;
    let n_bins = match space.len() {
        1 => space[0] / 2 + 1,
        _ => space.iter().map(|n| n / 2).min().unwrap_or(0),
    };
    let boundary = boundary_points(space);
    let mut fft = FftN::new(space);
    let fd = Derivatives::new(space, &options.lengths, &options.periodic);

    let k = nc * nt;
    let grid = |rows: usize| MetricGrid {
        channels: rows,
        times: nt,
        values: vec![0.0; rows * nt],
    };
    let (mut rmse, mut nrmse, mut crmse, mut maxe) = (grid(nc), grid(nc), grid(nc), grid(nc));
    let (mut vrmse, mut rel_l2, mut rel_h1) = (grid(nc), grid(nc), grid(nc));
    let mut brmse = grid(if space.len() == 3 { 1 } else { nc });
    let mut spec = vec![0.0; k * n_bins];
    let mut bd3 = vec![0.0; nb * nt]; // 3D: summed over channels
    let mut field = vec![Complex64::new(0.0, 0.0); np];
    let (mut yv, mut ev) = (vec![0.0; np], vec![0.0; np]);
    let (mut dy, mut de) = (vec![0.0; np], vec![0.0; np]);
    let per_sample = 1.0 / nb as f64;
    for b in 0..nb {
        for t in 0..nt {
            for c in 0..nc {
                let (mut se, mut st, mut sum_d, mut sum_y) = (0.0, 0.0, 0.0, 0.0);
                let mut m = 0.0f64;
                for p in 0..np {
                    let (x, y) = (pred[at(b, t, p, c)] as f64, target[at(b, t, p, c)] as f64);
                    let d = x - y;
                    se += d * d;
                    st += y * y;
                    sum_d += d;
                    sum_y += y;
                    // NaN-propagating max, so that a blown-up prediction is not hidden.
                    m = if d.is_nan() || m.is_nan() {
                        f64::NAN
                    } else {
                        m.max(d.abs())
                    };
                    field[p] = Complex64::new(d, 0.0);
                    yv[p] = y;
                    ev[p] = d;
                }
                let i = c * nt + t;
                let e = (se / np as f64).sqrt();
                rmse.values[i] += e * per_sample;
                nrmse.values[i] += e / (st / np as f64).sqrt() * per_sample;
                crmse.values[i] += sum_d * sum_d * per_sample;
                maxe.values[i] = if b == 0 {
                    m
                } else {
                    nan_max(maxe.values[i], m)
                };
                let mean_y = sum_y / np as f64;
                let var_y =
                    yv.iter().map(|y| (y - mean_y) * (y - mean_y)).sum::<f64>() / (np as f64 - 1.0);
                vrmse.values[i] += (se / np as f64 / (var_y + VRMSE_EPS)).sqrt() * per_sample;
                rel_l2.values[i] += se.sqrt() / (st.sqrt() + RELATIVE_EPS) * per_sample;
                let (mut h_e, mut h_y) = (se, st);
                for axis in 0..space.len() {
                    fd.apply(axis, &ev, &mut de);
                    fd.apply(axis, &yv, &mut dy);
                    h_e += de.iter().map(|v| v * v).sum::<f64>();
                    h_y += dy.iter().map(|v| v * v).sum::<f64>();
                }
                rel_h1.values[i] += h_e.sqrt() / (h_y.sqrt() + RELATIVE_EPS) * per_sample;
                let bsum: f64 = boundary.iter().map(|&p| field[p].re * field[p].re).sum();
                if space.len() == 3 {
                    bd3[b * nt + t] += bsum;
                } else {
                    brmse.values[i] += (bsum / boundary.len() as f64).sqrt() * per_sample;
                }
                fft.forward(&mut field);
                accumulate_bins(
                    &field,
                    space,
                    n_bins,
                    &mut spec[i * n_bins..(i + 1) * n_bins],
                );
            }
        }
    }
    for v in &mut crmse.values {
        *v = v.sqrt() / np as f64;
    }
    if space.len() == 3 {
        // PDEBench's 3D boundary error merges channels: one value per time step.
        for t in 0..nt {
            brmse.values[t] = (0..nb)
                .map(|b| (bd3[b * nt + t] / boundary.len() as f64).sqrt())
                .sum::<f64>()
                * per_sample;
        }
    }
    let scale = options.lengths.iter().product::<f64>() / np as f64;
    let bands = options.bands;
    let edges = [
        (0, bands.low.min(n_bins)),
        (bands.low.min(n_bins), bands.high.min(n_bins)),
        (bands.high.min(n_bins), n_bins),
    ];
    let frmse = edges.map(|(lo, hi)| {
        let mut g = grid(nc);
        for (i, v) in g.values.iter_mut().enumerate() {
            *v = if lo >= hi {
                f64::NAN
            } else {
                spec[i * n_bins + lo..i * n_bins + hi]
                    .iter()
                    .map(|s| (s * per_sample).sqrt() * scale)
                    .sum::<f64>()
                    / (hi - lo) as f64
            };
        }
        g
    });
    Ok(MetricSuite {
        rmse,
        nrmse,
        crmse,
        max_error: maxe,
        brmse,
        frmse,
        vrmse,
        rel_l2,
        rel_h1,
    })
}

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// The multi-index of a flat row-major index.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut out = vec![0; dims.len()];
    for (o, &d) in out.iter_mut().zip(dims).rev() {
        *o = i % d;
        i /= d;
    }
    out
}

/// First derivatives along one axis of a row-major field by neuraloperator's
/// `FiniteDiff`: central differences, wrapped around on a periodic axis; otherwise
/// third-order one-sided differences at the two ends.
struct Derivatives {
    shape: Vec<usize>,
    strides: Vec<usize>,
    spacing: Vec<f64>,
    periodic: Vec<bool>,
}

impl Derivatives {
    fn new(shape: &[usize], lengths: &[f64], periodic: &[bool]) -> Self {
        let mut strides = vec![1; shape.len()];
        for a in (0..shape.len().saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * shape[a + 1];
        }
        Self {
            shape: shape.to_vec(),
            strides,
            spacing: lengths
                .iter()
                .zip(shape)
                .map(|(l, &n)| l / n as f64)
                .collect(),
            periodic: periodic.to_vec(),
        }
    }

    fn apply(&self, axis: usize, u: &[f64], out: &mut [f64]) {
        let (n, s, h) = (self.shape[axis], self.strides[axis], self.spacing[axis]);
        for (p, o) in out.iter_mut().enumerate() {
            let i = (p / s) % n;
            let base = p - i * s;
            let v = |j: usize| u[base + j * s];
            *o = if self.periodic[axis] {
                (v((i + 1) % n) - v((i + n - 1) % n)) / (2.0 * h)
            } else if i == 0 {
                (-11.0 * v(0) + 18.0 * v(1) - 9.0 * v(2) + 2.0 * v(3)) / (6.0 * h)
            } else if i == n - 1 {
                (-2.0 * v(n - 4) + 9.0 * v(n - 3) - 18.0 * v(n - 2) + 11.0 * v(n - 1)) / (6.0 * h)
            } else {
                (v(i + 1) - v(i - 1)) / (2.0 * h)
            };
        }
    }
}

/// Flat indices of the boundary points, each face counted as PDEBench counts it (points on
/// edges and corners belong to several faces).
fn boundary_points(space: &[usize]) -> Vec<usize> {
    match *space {
        [nx] => vec![0, nx - 1],
        [nx, ny] => {
            let mut v = Vec::with_capacity(2 * (nx + ny));
            for x in [0, nx - 1] {
                v.extend((0..ny).map(|y| x * ny + y));
            }
            for y in [0, ny - 1] {
                v.extend((0..nx).map(|x| x * ny + y));
            }
            v
        }
        [nx, ny, nz] => {
            let idx = |x: usize, y: usize, z: usize| (x * ny + y) * nz + z;
            let mut v = Vec::new();
            for x in [0, nx - 1] {
                v.extend((0..ny).flat_map(|y| (0..nz).map(move |z| idx(x, y, z))));
            }
            for y in [0, ny - 1] {
                v.extend((0..nx).flat_map(|x| (0..nz).map(move |z| idx(x, y, z))));
            }
            for z in [0, nz - 1] {
                v.extend((0..nx).flat_map(|x| (0..ny).map(move |y| idx(x, y, z))));
            }
            v
        }
        _ => Vec::new(),
    }
}

/// Unnormalised forward FFT along every axis of a row-major array of one shape, with the
/// plans and buffers made once and reused for every field.
struct FftN {
    shape: Vec<usize>,
    plans: Vec<Arc<dyn Fft<f64>>>,
    line: Vec<Complex64>,
    scratch: Vec<Complex64>,
}

impl FftN {
    fn new(shape: &[usize]) -> Self {
        let mut planner = FftPlanner::<f64>::new();
        let plans: Vec<Arc<dyn Fft<f64>>> =
            shape.iter().map(|&n| planner.plan_fft_forward(n)).collect();
        let scratch_len = plans
            .iter()
            .map(|p| p.get_inplace_scratch_len())
            .max()
            .unwrap_or(0);
        let longest = shape.iter().copied().max().unwrap_or(0);
        Self {
            shape: shape.to_vec(),
            plans,
            line: vec![Complex64::new(0.0, 0.0); longest],
            scratch: vec![Complex64::new(0.0, 0.0); scratch_len],
        }
    }

    fn forward(&mut self, data: &mut [Complex64]) {
        let total = data.len();
        let mut stride = total;
        for (&n, fft) in self.shape.iter().zip(&self.plans) {
            stride /= n;
            let line = &mut self.line[..n];
            for o in 0..total / (n * stride) {
                for inner in 0..stride {
                    let base = o * n * stride + inner;
                    for (j, l) in line.iter_mut().enumerate() {
                        *l = data[base + j * stride];
                    }
                    fft.process_with_scratch(line, &mut self.scratch);
                    for (j, l) in line.iter().enumerate() {
                        data[base + j * stride] = *l;
                    }
                }
            }
        }
    }
}

/// Adds `|F|^2` into PDEBench's bins: the modes themselves in 1D (`0..=nx/2`), the integer
/// radius over the non-negative quadrant (octant) in 2D (3D), radii beyond the last bin
/// dropped.
fn accumulate_bins(f: &[Complex64], shape: &[usize], n_bins: usize, bins: &mut [f64]) {
    match *shape {
        [_] => {
            for (k, b) in bins.iter_mut().enumerate() {
                *b += f[k].norm_sqr();
            }
        }
        [nx, ny] => {
            for i in 0..nx / 2 {
                for j in 0..ny / 2 {
                    let r = ((i * i + j * j) as f64).sqrt().floor() as usize;
                    if r < n_bins {
                        bins[r] += f[i * ny + j].norm_sqr();
                    }
                }
            }
        }
        [nx, ny, nz] => {
            for i in 0..nx / 2 {
                for j in 0..ny / 2 {
                    for l in 0..nz / 2 {
                        let r = ((i * i + j * j + l * l) as f64).sqrt().floor() as usize;
                        if r < n_bins {
                            bins[r] += f[(i * ny + j) * nz + l].norm_sqr();
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PDEBench's numbers for one sample, step and channel on a unit 1D domain.
    fn one_field(pred: &[f32], target: &[f32]) -> PdebenchMetrics {
        let dims = [1, 1, pred.len(), 1];
        pdebench_metrics(pred, target, &dims, &[1.0], FourierBands::default()).unwrap()
    }

    #[test]
    fn single_fourier_mode_lands_in_its_band_with_the_expected_size() {
        // Error = cos(2 pi k x) with k = 5 on 32 points: |F_5| = 16, only the mid band sees it.
        let n = 32;
        let target = vec![1.0f32; n];
        let pred: Vec<f32> = (0..n)
            .map(|j| 1.0 + (2.0 * std::f32::consts::PI * 5.0 * j as f32 / n as f32).cos())
            .collect();
        let m = one_field(&pred, &target);
        // mid band [4, 12): eight modes, one of them 16 / 32 = 0.5 after the 1/nx * Lx scaling.
        assert!((m.frmse[1] - 0.5 / 8.0).abs() < 1e-6, "{:?}", m.frmse);
        assert!(m.frmse[0] < 1e-6 && m.frmse[2] < 1e-6, "{:?}", m.frmse);
        assert!((m.rmse - (0.5f64).sqrt()).abs() < 1e-6);
        assert!(m.crmse < 1e-6, "a zero-mean error conserves the sum");
    }

    #[test]
    fn band_edges_follow_pdebench_slicing() {
        // Modes 3 and 4 sit on either side of the low/mid edge; 11 and 12 of the mid/high edge.
        let n = 64;
        for (k, band) in [(3usize, 0usize), (4, 1), (11, 1), (12, 2)] {
            let target = vec![0.5f32; n];
            let pred: Vec<f32> = (0..n)
                .map(|j| 0.5 + (2.0 * std::f32::consts::PI * k as f32 * j as f32 / n as f32).sin())
                .collect();
            let m = one_field(&pred, &target);
            for (b, v) in m.frmse.iter().enumerate() {
                assert_eq!(*v > 1e-6, b == band, "mode {k}: bands {:?}", m.frmse);
            }
        }
    }

    #[test]
    fn two_dimensional_boundary_and_conservation_errors() {
        // One sample, one step, a 3 x 3 field, one channel; error 1 at the centre only (not
        // on the boundary) and 2 at the corner (0, 0), which belongs to two faces.
        let target = vec![0.0f32; 9];
        let mut pred = vec![0.0f32; 9];
        pred[4] = 1.0;
        pred[0] = 2.0;
        let m = pdebench_metrics(
            &pred,
            &target,
            &[1, 1, 3, 3, 1],
            &[1.0, 1.0],
            FourierBands::default(),
        )
        .unwrap();
        // Boundary: 12 face points (2*3 + 2*3), the corner counted twice: sqrt(2 * 4 / 12).
        assert!(
            (m.brmse - (8.0f64 / 12.0).sqrt()).abs() < 1e-12,
            "{}",
            m.brmse
        );
        assert!((m.crmse - 3.0 / 9.0).abs() < 1e-12);
        assert!((m.max_error - 2.0).abs() < 1e-12);
        // nRMSE is undefined for a zero target (as in PDEBench): infinite, not a silent number.
        assert!(m.nrmse.is_infinite());
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(
            pdebench_metrics(
                &[0.0; 4],
                &[0.0; 4],
                &[1, 1, 4, 1],
                &[1.0, 1.0],
                FourierBands::default()
            )
            .is_err()
        );
        assert!(
            pdebench_metrics(
                &[0.0; 3],
                &[0.0; 4],
                &[1, 1, 4, 1],
                &[1.0],
                FourierBands::default()
            )
            .is_err()
        );
    }
    #[test]
    fn one_sided_differences_are_exact_for_cubics_and_wrap_on_periodic_axes() {
        // A cubic on 6 points of a non-periodic axis of length 1.5: h = 0.25.
        let n = 6;
        let h = 0.25;
        let u: Vec<f64> = (0..n)
            .map(|i| (i as f64 * h).powi(3) - 2.0 * i as f64 * h)
            .collect();
        let fd = Derivatives::new(&[n], &[1.5], &[false]);
        let mut out = vec![0.0; n];
        fd.apply(0, &u, &mut out);
        for (i, o) in out.iter().enumerate() {
            let x = i as f64 * h;
            let exact = 3.0 * x * x - 2.0;
            // Third-order ends are exact for cubics; central differences err by h^2 (u''' = 6).
            let tol = if i == 0 || i == n - 1 {
                1e-12
            } else {
                h * h + 1e-12
            };
            assert!((o - exact).abs() <= tol, "point {i}: {o} vs {exact}");
        }
        // Periodic 2D field varying along the second axis only: wrapped central differences.
        let (nx, ny) = (3, 4);
        let u: Vec<f64> = (0..nx * ny)
            .map(|p| [0.0, 1.0, 0.0, -1.0][p % ny])
            .collect();
        let fd = Derivatives::new(&[nx, ny], &[1.0, 1.0], &[true, true]);
        let mut d0 = vec![0.0; nx * ny];
        let mut d1 = vec![0.0; nx * ny];
        fd.apply(0, &u, &mut d0);
        fd.apply(1, &u, &mut d1);
        assert!(d0.iter().all(|v| *v == 0.0));
        // (u[j+1] - u[j-1]) / (2 * 0.25): j = 0 -> (1 - (-1)) * 2 = 4.
        assert_eq!(&d1[..4], &[4.0, 0.0, -4.0, 0.0]);
    }

    #[test]
    fn relative_h1_adds_derivative_norms() {
        // Error e = cos(2 pi x) on a periodic grid of 16 points, target y = 1 + e.
        let n = 16;
        let e: Vec<f32> = (0..n)
            .map(|j| (2.0 * std::f64::consts::PI * j as f64 / n as f64).cos() as f32)
            .collect();
        let target: Vec<f32> = e.iter().map(|v| 1.0 + v).collect();
        let pred: Vec<f32> = target.iter().zip(&e).map(|(y, v)| y + v).collect();
        let m = metric_suite(&pred, &target, &[1, 1, n, 1], &MetricOptions::unit(1)).unwrap();
        // Central differences of cos(2 pi x) on h = 1/16: amplitude sin(2 pi h) / h.
        let k = (2.0 * std::f64::consts::PI / n as f64).sin() * n as f64;
        let e2 = n as f64 / 2.0; // sum of cos^2
        let h_e = e2 + k * k * e2;
        let h_y = n as f64 + e2 + k * k * e2;
        let expect = h_e.sqrt() / (h_y.sqrt() + RELATIVE_EPS);
        assert!(
            (m.rel_h1.at(0, 0) - expect).abs() < 1e-6,
            "{} vs {expect}",
            m.rel_h1.at(0, 0)
        );
        let l2 = e2.sqrt() / ((n as f64 + e2).sqrt() + RELATIVE_EPS);
        assert!((m.rel_l2.at(0, 0) - l2).abs() < 1e-6);
        assert!(m.rel_h1.at(0, 0) > m.rel_l2.at(0, 0));
    }

    #[test]
    fn grids_average_per_sample_and_report_per_time_and_channel() {
        // Two samples, two steps, two points, two channels: the error is 1 on channel 1 at
        // step 1 of sample 0 (both points), 0 elsewhere.
        let dims = [2, 2, 2, 2];
        let target = vec![1.0f32; 16];
        let mut pred = target.clone();
        let at = |b: usize, t: usize, p: usize, c: usize| ((b * 2 + t) * 2 + p) * 2 + c;
        pred[at(0, 1, 0, 1)] = 2.0;
        pred[at(0, 1, 1, 1)] = 2.0;
        let m = metric_suite(&pred, &target, &dims, &MetricOptions::unit(1)).unwrap();
        assert_eq!(m.rmse.values, vec![0.0, 0.0, 0.0, 0.5]);
        assert_eq!(m.rmse.per_time(), vec![0.0, 0.25]);
        assert_eq!(m.rmse.per_channel(), vec![0.0, 0.25]);
        assert_eq!(m.max_error.at(1, 1), 1.0);
        // cRMSE: sum error 2 in one of two samples: sqrt(4 / 2) / 2 points.
        assert!((m.crmse.at(1, 1) - 2f64.sqrt() / 2.0).abs() < 1e-12);
        // A constant target has zero variance: VRMSE is RMSE / sqrt(eps), as in The Well.
        assert!((m.vrmse.at(1, 1) - 0.5 / VRMSE_EPS.sqrt()).abs() < 1e-6);
        assert_eq!(m.grid("rmse"), Some(&m.rmse));
        assert_eq!(m.grid("nope"), None);
    }

    #[test]
    fn a_non_finite_target_is_refused_and_a_non_finite_prediction_shows() {
        let mut target = vec![1.0f32; 8];
        target[5] = f32::NAN;
        let err = metric_suite(&[0.0; 8], &target, &[1, 2, 4, 1], &MetricOptions::unit(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("flat index 5") && err.contains("[0, 1, 1, 0]"),
            "{err}"
        );
        let mut pred = vec![1.0f32; 8];
        pred[1] = f32::INFINITY;
        pred[6] = f32::NAN;
        let m = metric_suite(&pred, &[1.0; 8], &[1, 2, 4, 1], &MetricOptions::unit(1)).unwrap();
        assert!(m.rmse.at(0, 0).is_infinite() && m.rmse.at(0, 1).is_nan());
        assert!(m.max_error.at(0, 1).is_nan());
        let err = metric_suite(
            &[0.0; 6],
            &[0.0; 6],
            &[1, 1, 3, 2, 1],
            &MetricOptions::unit(2).with_periodic(&[false, true]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("axis 0") && err.contains("3 points"), "{err}");
    }

    #[test]
    fn time_to_threshold_counts_steps_below_the_level() {
        assert_eq!(time_to_threshold(&[0.1, 0.2, 0.3], 0.25), Some(2));
        assert_eq!(time_to_threshold(&[0.3], 0.25), Some(0));
        assert_eq!(time_to_threshold(&[0.1, f64::NAN], 0.25), Some(1));
        assert_eq!(time_to_threshold(&[0.1, 0.25], 0.25), None);
    }
}
