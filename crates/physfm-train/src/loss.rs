//! Training losses on batched fields `[batch, channels, *space]`: mean squared error, and
//! neuraloperator's relative L2 and relative H1 errors (`LpLoss` / `H1Loss` with
//! `reduction="mean"`: one relative error per sample over all its channels and points, then
//! the mean over the batch).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Added to the denominator of the relative losses, as in physfm-eval's suite.
pub const RELATIVE_EPS: f64 = 1e-8;

/// Which loss a run minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Mean squared error over every value.
    #[default]
    Mse,
    /// Per-sample `||pred - target||_2 / ||target||_2`, averaged over the batch.
    RelL2,
    /// Per-sample relative H1 norm: values and first derivatives along every spatial axis
    /// (finite differences as [`derivative`] computes them), averaged over the batch.
    H1,
}

impl LossKind {
    /// The name used in configs and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mse => "mse",
            Self::RelL2 => "rel-l2",
            Self::H1 => "h1",
        }
    }
}

/// The spatial domain the H1 loss differentiates on: one length and one periodicity flag per
/// spatial axis.
#[derive(Debug, Clone, PartialEq)]
pub struct LossGeometry {
    /// Domain length per spatial axis (grid spacing is `length / points`).
    pub lengths: Vec<f64>,
    /// Whether each spatial axis is periodic.
    pub periodic: Vec<bool>,
}

impl LossGeometry {
    /// The domain of a collection: its lengths, and which axes have the boundary `periodic`.
    pub fn from_meta(meta: &physfm_data::CollectionMeta) -> Self {
        Self {
            lengths: meta.domain_lengths.clone(),
            periodic: meta
                .boundary
                .iter()
                .map(physfm_data::AxisBoundary::is_periodic)
                .collect(),
        }
    }

    /// A periodic unit domain in `ndim` dimensions.
    pub fn unit_periodic(ndim: usize) -> Self {
        Self {
            lengths: vec![1.0; ndim],
            periodic: vec![true; ndim],
        }
    }
}

/// The loss of `pred` against `target`, both `[batch, channels, *space]` with `D - 2` spatial
/// axes, as a one-element tensor that carries gradients.
///
/// # Panics
/// If the shapes differ, or for [`LossKind::H1`] if `geometry` does not have one entry per
/// spatial axis or a non-periodic axis has fewer than 4 points.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_train::{LossGeometry, LossKind, loss};
/// let device = Device::flex();
/// let y = Tensor::<3>::from_floats([[[3.0, 4.0]]], &device);
/// let p = Tensor::<3>::from_floats([[[3.0, 3.0]]], &device);
/// let geometry = LossGeometry::unit_periodic(1);
/// let l2: f32 = loss(LossKind::RelL2, p.clone(), y.clone(), &geometry).into_scalar();
/// assert!((l2 - 0.2).abs() < 1e-6); // |(0, 1)| / |(3, 4)|
/// let mse: f32 = loss(LossKind::Mse, p, y, &geometry).into_scalar();
/// assert!((mse - 0.5).abs() < 1e-6);
/// ```
pub fn loss<const D: usize>(
    kind: LossKind,
    pred: Tensor<D>,
    target: Tensor<D>,
    geometry: &LossGeometry,
) -> Tensor<1> {
    assert_eq!(
        pred.dims(),
        target.dims(),
        "loss: prediction and target shapes differ"
    );
    match kind {
        LossKind::Mse => (pred - target).square().mean(),
        LossKind::RelL2 => {
            let err = per_sample_sq(pred - target.clone());
            let norm = per_sample_sq(target);
            relative(err, norm)
        }
        LossKind::H1 => {
            let space = D - 2;
            assert!(
                geometry.lengths.len() == space && geometry.periodic.len() == space,
                "loss: H1 needs one length and one periodicity flag per spatial axis ({space})"
            );
            let diff = pred - target.clone();
            let mut err = per_sample_sq(diff.clone());
            let mut norm = per_sample_sq(target.clone());
            for a in 0..space {
                let (l, p) = (geometry.lengths[a], geometry.periodic[a]);
                err = err + per_sample_sq(derivative(diff.clone(), a + 2, l, p));
                norm = norm + per_sample_sq(derivative(target.clone(), a + 2, l, p));
            }
            relative(err, norm)
        }
    }
}

/// `sum` of squares per sample, `[batch]`.
fn per_sample_sq<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let b = x.dims()[0];
    x.reshape([b as i64, -1]).square().sum_dim(1).reshape([b])
}

fn relative(err_sq: Tensor<1>, norm_sq: Tensor<1>) -> Tensor<1> {
    (err_sq.sqrt() / (norm_sq.sqrt() + RELATIVE_EPS)).mean()
}

/// First derivative along tensor axis `axis` on a grid of spacing `length / n`, as
/// neuraloperator's `FiniteDiff`: central differences, wrapped around on a periodic axis;
/// otherwise third-order one-sided differences at the two ends (needs `n >= 4`).
pub fn derivative<const D: usize>(
    u: Tensor<D>,
    axis: usize,
    length: f64,
    periodic: bool,
) -> Tensor<D> {
    let n = u.dims()[axis];
    let h = length / n as f64;
    if periodic {
        let next = Tensor::cat(
            vec![
                u.clone().narrow(axis, 1, n - 1),
                u.clone().narrow(axis, 0, 1),
            ],
            axis,
        );
        let prev = Tensor::cat(
            vec![u.clone().narrow(axis, n - 1, 1), u.narrow(axis, 0, n - 1)],
            axis,
        );
        return (next - prev) / (2.0 * h);
    }
    assert!(
        n >= 4,
        "loss: a non-periodic axis needs at least 4 points for H1, got {n}"
    );
    let at = |i: usize| u.clone().narrow(axis, i, 1);
    let left = (at(0) * -11.0 + at(1) * 18.0 - at(2) * 9.0 + at(3) * 2.0) / (6.0 * h);
    let right =
        (at(n - 4) * -2.0 + at(n - 3) * 9.0 - at(n - 2) * 18.0 + at(n - 1) * 11.0) / (6.0 * h);
    let inner = (u.clone().narrow(axis, 2, n - 2) - u.narrow(axis, 0, n - 2)) / (2.0 * h);
    Tensor::cat(vec![left, inner, right], axis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn field(values: Vec<f32>, shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn derivatives_of_polynomials_are_exact_where_the_stencils_are() {
        // u = x^2 on x = i h, h = 0.5: central differences give 2x exactly in the interior,
        // the third-order one-sided ones exactly at the ends.
        let n = 7;
        let u: Vec<f32> = (0..n).map(|i| (0.5 * i as f32).powi(2)).collect();
        let d = values(derivative(field(u, [1, 1, n]), 2, 3.5, false));
        for (i, v) in d.iter().enumerate() {
            assert!((v - i as f32).abs() < 1e-5, "x = {}: {v}", 0.5 * i as f32);
        }
    }

    #[test]
    fn periodic_derivative_wraps_around() {
        let u = field(vec![0.0, 1.0, 0.0, -1.0], [1, 1, 4]);
        // h = 1: (u[i+1] - u[i-1]) / 2.
        assert_eq!(
            values(derivative(u, 2, 4.0, true)),
            vec![1.0, 0.0, -1.0, 0.0]
        );
    }

    #[test]
    fn relative_losses_are_per_sample_then_averaged() {
        // Sample 0 is off by 10%, sample 1 exact.
        let y = field(vec![1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, 1.0], [2, 1, 4]);
        let p = field(vec![1.1, 2.2, 3.3, 4.4, -1.0, 0.5, 2.0, 1.0], [2, 1, 4]);
        let g = LossGeometry::unit_periodic(1);
        let l2: f32 = loss(LossKind::RelL2, p.clone(), y.clone(), &g).into_scalar();
        assert!((l2 - 0.05).abs() < 1e-6, "{l2}");
        // A uniform 10% error is 10% in H1 too.
        let h1: f32 = loss(LossKind::H1, p, y, &g).into_scalar();
        assert!((h1 - 0.05).abs() < 1e-6, "{h1}");
    }

    #[test]
    fn h1_weighs_rough_errors_more_than_l2() {
        let n = 32;
        let x = |i: usize| i as f32 / n as f32;
        let y: Vec<f32> = (0..n)
            .map(|i| (std::f32::consts::TAU * x(i)).sin())
            .collect();
        let p: Vec<f32> = (0..n)
            .map(|i| y[i] + 0.01 * (8.0 * std::f32::consts::TAU * x(i)).sin())
            .collect();
        let g = LossGeometry::unit_periodic(1);
        let (yt, pt) = (field(y, [1, 1, n]), field(p, [1, 1, n]));
        let l2: f32 = loss(LossKind::RelL2, pt.clone(), yt.clone(), &g).into_scalar();
        let h1: f32 = loss(LossKind::H1, pt, yt, &g).into_scalar();
        assert!(h1 > 4.0 * l2, "h1 {h1} vs l2 {l2}");
    }
}
