//! PDEBench's metric suite (`pdebench/models/metrics.py`, `metric_func` with
//! `if_mean=True`), on arrays laid out `[batch, time, *space, channel]`.
//!
//! PDEBench lays its arrays out `[batch, *space, time, channel]`; the definitions do not
//! depend on the order, and every metric is computed per `(channel, time)` and then
//! averaged over channels and time, as PDEBench does. Its quirks are kept on purpose so
//! that numbers compare: the Fourier error of 2D and 3D fields bins only the
//! non-negative-frequency quadrant (octant) by integer radius, a band with no modes is NaN
//! (the mean of an empty tensor), and the 3D boundary error sums over channels.

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use serde::Serialize;

use crate::metrics::MetricShape;
use crate::{EvalError, Result};

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

/// The suite's values, each averaged over channels and time.
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

/// Computes PDEBench's metric suite. `dims` is `[batch, time, *space, channel]` with one to
/// three spatial axes, `lengths` the domain length of each spatial axis (PDEBench's `Lx`,
/// `Ly`, `Lz`, which scale the Fourier error).
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
    let s = MetricShape::from_dims(dims)?;
    let space = &dims[2..dims.len() - 1];
    if space.is_empty() || space.len() > 3 {
        return Err(EvalError::Shape {
            what: "PDEBench metrics input".into(),
            expected: "1 to 3 spatial axes".into(),
            got: format!("{dims:?}"),
        });
    }
    if lengths.len() != space.len() {
        return Err(EvalError::Shape {
            what: "domain lengths".into(),
            expected: format!("{} values", space.len()),
            got: lengths.len().to_string(),
        });
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
    let (nb, nt, np, nc) = (s.batch, s.time, s.space, s.channels);
    let at = |b: usize, t: usize, p: usize, c: usize| ((b * nt + t) * np + p) * nc + c;
    let n_bins = match space.len() {
        1 => space[0] / 2 + 1,
        _ => space.iter().map(|n| n / 2).min().unwrap_or(0),
    };
    let boundary = boundary_points(space);
    let mut fft = FftN::new(space);

    // Per (channel, time) accumulators.
    let k = nc * nt;
    let (mut rmse, mut nrmse, mut csv, mut maxe, mut bd) = (
        vec![0.0; k],
        vec![0.0; k],
        vec![0.0; k],
        vec![0.0f64; k],
        vec![0.0; k],
    );
    let mut spec = vec![0.0; k * n_bins];
    let mut bd3 = vec![0.0; nb * nt]; // 3D: summed over channels
    let mut field = vec![Complex64::new(0.0, 0.0); np];
    for b in 0..nb {
        for t in 0..nt {
            for c in 0..nc {
                let (mut se, mut st, mut sum_d) = (0.0, 0.0, 0.0);
                let mut m = 0.0f64;
                for (p, f) in field.iter_mut().enumerate() {
                    let (x, y) = (pred[at(b, t, p, c)] as f64, target[at(b, t, p, c)] as f64);
                    let d = x - y;
                    se += d * d;
                    st += y * y;
                    sum_d += d;
                    m = m.max(d.abs());
                    *f = Complex64::new(d, 0.0);
                }
                let i = c * nt + t;
                let e = (se / np as f64).sqrt();
                rmse[i] += e / nb as f64;
                nrmse[i] += e / (st / np as f64).sqrt() / nb as f64;
                csv[i] += sum_d * sum_d / nb as f64;
                maxe[i] = maxe[i].max(m);
                let bsum: f64 = boundary.iter().map(|&p| field[p].re * field[p].re).sum();
                if space.len() == 3 {
                    bd3[b * nt + t] += bsum;
                } else {
                    bd[i] += (bsum / boundary.len() as f64).sqrt() / nb as f64;
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
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let crmse: Vec<f64> = csv.iter().map(|v| v.sqrt() / np as f64).collect();
    let brmse = if space.len() == 3 {
        // PDEBench's 3D boundary error merges channels: one value per time step.
        let per_t: Vec<f64> = (0..nt)
            .map(|t| {
                (0..nb)
                    .map(|b| (bd3[b * nt + t] / boundary.len() as f64).sqrt())
                    .sum::<f64>()
                    / nb as f64
            })
            .collect();
        mean(&per_t)
    } else {
        mean(&bd)
    };
    let scale = lengths.iter().product::<f64>() / np as f64;
    let mut frmse = [0.0; 3];
    let edges = [
        (0, bands.low.min(n_bins)),
        (bands.low.min(n_bins), bands.high.min(n_bins)),
        (bands.high.min(n_bins), n_bins),
    ];
    for (band, &(lo, hi)) in edges.iter().enumerate() {
        if lo >= hi {
            frmse[band] = f64::NAN;
            continue;
        }
        let mut acc = 0.0;
        for i in 0..k {
            let v: f64 = spec[i * n_bins + lo..i * n_bins + hi]
                .iter()
                .map(|s| (s / nb as f64).sqrt() * scale)
                .sum::<f64>()
                / (hi - lo) as f64;
            acc += v;
        }
        frmse[band] = acc / k as f64;
    }
    Ok(PdebenchMetrics {
        rmse: mean(&rmse),
        nrmse: mean(&nrmse),
        crmse: mean(&crmse),
        max_error: mean(&maxe),
        brmse,
        frmse,
    })
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

    #[test]
    fn single_fourier_mode_lands_in_its_band_with_the_expected_size() {
        // Error = cos(2 pi k x) with k = 5 on 32 points: |F_5| = 16, only the mid band sees it.
        let n = 32;
        let target = vec![1.0f32; n];
        let pred: Vec<f32> = (0..n)
            .map(|j| 1.0 + (2.0 * std::f32::consts::PI * 5.0 * j as f32 / n as f32).cos())
            .collect();
        let m = pdebench_metrics(
            &pred,
            &target,
            &[1, 1, n, 1],
            &[1.0],
            FourierBands::default(),
        )
        .unwrap();
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
            let m = pdebench_metrics(
                &pred,
                &target,
                &[1, 1, n, 1],
                &[1.0],
                FourierBands::default(),
            )
            .unwrap();
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
}
