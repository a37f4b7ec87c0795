//! Factorised spectral weights (TFNO, Kossaifi et al.): the complex weight
//! `[in, out, m_1, .., m_d]` of a spectral convolution held as a Tucker or CP decomposition,
//! with ranks chosen as tensorly chooses them, and reconstructed (differentiably) for each
//! forward pass.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_spectral::spectral_conv;
use serde::{Deserialize, Serialize};

/// How the spectral weights are stored (neuraloperator's `factorization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Factorization {
    /// The full complex tensor.
    #[default]
    Dense,
    /// A Tucker decomposition: a core and one factor matrix per mode.
    Tucker,
    /// A CP (canonical polyadic) decomposition: weights and one factor matrix per mode.
    Cp,
}

/// Tucker ranks for a tensor of `shape` keeping the fraction `rank` of its parameters, as
/// tensorly's `validate_tucker_rank(shape, rank, rounding="round", fixed_modes)`: the
/// fraction `c` solving `c^N prod(I) + c sum(I_k^2) = rank prod(I)` over the compressed
/// modes (fixed modes keep their size and count `I_k^2 c`), then `max(round(c I_k), 1)`
/// with ties to even.
pub fn tucker_ranks(shape: &[usize], rank: f64, fixed: &[usize]) -> Vec<usize> {
    let p: f64 = shape.iter().map(|&s| s as f64).product();
    let compressed: Vec<usize> = (0..shape.len()).filter(|k| !fixed.contains(k)).collect();
    let n = compressed.len() as i32;
    let squared: f64 = compressed
        .iter()
        .map(|&k| (shape[k] * shape[k]) as f64)
        .sum();
    let fixed_sq: f64 = fixed.iter().map(|&k| (shape[k] * shape[k]) as f64).sum();
    let f = |x: f64| p * x.powi(n) + squared * x + fixed_sq * x - rank * p;
    let (mut lo, mut hi) = (0.0f64, rank.max(1.0));
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let c = 0.5 * (lo + hi);
    (0..shape.len())
        .map(|k| {
            if fixed.contains(&k) {
                shape[k]
            } else {
                ((shape[k] as f64 * c).round_ties_even() as usize).max(1)
            }
        })
        .collect()
}

/// CP rank for a tensor of `shape` keeping the fraction `rank` of its parameters, as
/// tensorly's `validate_cp_rank`: `round(prod(I) * rank / sum(I))`, ties to even.
pub fn cp_rank(shape: &[usize], rank: f64) -> usize {
    let p: f64 = shape.iter().map(|&s| s as f64).product();
    let s: f64 = shape.iter().map(|&s| s as f64).sum();
    ((p * rank / s).round_ties_even() as usize).max(1)
}

/// A factorised complex spectral weight and the layer's bias. Complex numbers are real
/// pairs on a trailing axis of 2.
#[derive(Module, Debug)]
pub struct FactorizedSpectral {
    /// Tucker core, flattened: `[prod(ranks), 2]` (C order over the ranks).
    pub core: Option<Param<Tensor<2>>>,
    /// CP weights `[rank, 2]`.
    pub cp_weights: Option<Param<Tensor<2>>>,
    /// One factor per mode, `[size_k, rank_k, 2]`.
    pub factors: Vec<Param<Tensor<3>>>,
    /// Bias `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Sizes of the weight's modes `[in, out, m_1, .., m_d]` (kept modes).
    #[module(skip)]
    pub shape: Vec<usize>,
}

/// Complex matrix product of real-pair parts: `(a + ib)(c + id)`.
fn cmatmul(a: (Tensor<2>, Tensor<2>), c: (Tensor<2>, Tensor<2>)) -> (Tensor<2>, Tensor<2>) {
    let re = a.0.clone().matmul(c.0.clone()) - a.1.clone().matmul(c.1.clone());
    let im = a.0.matmul(c.1) + a.1.matmul(c.0);
    (re, im)
}

fn parts<const D: usize>(t: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let re = t.clone().narrow(D - 1, 0, 1);
    let im = t.narrow(D - 1, 1, 1);
    (re, im)
}

impl FactorizedSpectral {
    /// A layer of `shape` (`[in, out, kept modes..]`) initialised as tltorch initialises a
    /// factorised tensor with `normal_(0, std)` (`std = sqrt(2 / (in + out))`): Tucker core
    /// and factors with standard deviation `(std / sqrt(prod ranks))^(1/(N+1))`, CP weights
    /// one and factors `(std / sqrt(rank))^(1/N)`, complex normals.
    pub fn new(
        shape: &[usize],
        kind: Factorization,
        rank: f64,
        fixed_first: bool,
        device: &Device,
    ) -> Self {
        let std = (2.0 / (shape[0] + shape[1]) as f64).sqrt();
        let cnormal = |dims: [usize; 2], s: f64| {
            Tensor::<2>::random(dims, Distribution::Normal(0.0, s / 2f64.sqrt()), device)
        };
        let bias = Some(Param::from_tensor(Tensor::<1>::random(
            [shape[1]],
            Distribution::Normal(0.0, std),
            device,
        )));
        let order = shape.len();
        match kind {
            Factorization::Tucker => {
                let fixed: &[usize] = if fixed_first { &[0] } else { &[] };
                let ranks = tucker_ranks(shape, rank, fixed);
                let r: usize = ranks.iter().product();
                let s = (std / (r as f64).sqrt()).powf(1.0 / (order + 1) as f64);
                Self {
                    core: Some(Param::from_tensor(cnormal([r, 2], s))),
                    cp_weights: None,
                    factors: shape
                        .iter()
                        .zip(&ranks)
                        .map(|(&n, &k)| {
                            Param::from_tensor(cnormal([n * k, 2], s).reshape([n, k, 2]))
                        })
                        .collect(),
                    bias,
                    shape: shape.to_vec(),
                }
            }
            Factorization::Cp => {
                let r = cp_rank(shape, rank);
                let s = (std / (r as f64).sqrt()).powf(1.0 / order as f64);
                let ones = Tensor::cat(
                    vec![
                        Tensor::<2>::ones([r, 1], device),
                        Tensor::zeros([r, 1], device),
                    ],
                    1,
                );
                Self {
                    core: None,
                    cp_weights: Some(Param::from_tensor(ones)),
                    factors: shape
                        .iter()
                        .map(|&n| Param::from_tensor(cnormal([n * r, 2], s).reshape([n, r, 2])))
                        .collect(),
                    bias,
                    shape: shape.to_vec(),
                }
            }
            Factorization::Dense => {
                panic!("FactorizedSpectral::new: a dense weight is not factorised")
            }
        }
    }

    /// The ranks of the factors.
    pub fn ranks(&self) -> Vec<usize> {
        self.factors.iter().map(|f| f.dims()[1]).collect()
    }

    /// The full weight `[prod(shape), 2]` in C order over `shape`.
    pub fn reconstruct(&self) -> Tensor<2> {
        let total: usize = self.shape.iter().product();
        let (re, im) = if let Some(core) = &self.core {
            // Mode products taken cyclically: W is [r_k, rest]; U_k W gives [n_k, rest];
            // its transpose is the C-order layout with mode k moved last.
            let ranks = self.ranks();
            let (cr, ci) = parts(core.val());
            let mut w = (cr, ci);
            let mut rest: usize = ranks.iter().product();
            for (k, f) in self.factors.iter().enumerate() {
                let (n, r) = (self.shape[k], ranks[k]);
                rest /= r;
                let (ur, ui) = parts(f.val());
                let u = (ur.reshape([n, r]), ui.reshape([n, r]));
                let x = (w.0.reshape([r, rest]), w.1.reshape([r, rest]));
                let (yr, yi) = cmatmul(u, x);
                w = (yr.transpose(), yi.transpose());
                rest *= n;
            }
            (w.0.reshape([total, 1]), w.1.reshape([total, 1]))
        } else {
            // Khatri-Rao products: T[(i_1..i_k), r] = w_r prod_j U_j[i_j, r].
            let (wr, wi) = parts(self.cp_weights.as_ref().expect("CP weights").val());
            let r = wr.dims()[0];
            let (mut tr, mut ti) = (wr.reshape([1, r]), wi.reshape([1, r]));
            let mut p = 1;
            for (k, f) in self.factors.iter().enumerate() {
                let n = self.shape[k];
                let (ur, ui) = parts(f.val());
                let (ur, ui) = (ur.reshape([1, n, r]), ui.reshape([1, n, r]));
                let (ar, ai) = (tr.reshape([p, 1, r]), ti.reshape([p, 1, r]));
                let nr = ar.clone() * ur.clone() - ai.clone() * ui.clone();
                let ni = ar * ui + ai * ur;
                p *= n;
                tr = nr.reshape([p, r]);
                ti = ni.reshape([p, r]);
            }
            (tr.sum_dim(1), ti.sum_dim(1))
        };
        Tensor::cat(vec![re, im], 1)
    }

    /// Applies the layer to `[batch, in, points]` laid out over `space`.
    pub(crate) fn forward(&self, x: Tensor<3>, space: &[usize]) -> Tensor<3> {
        let [b, c, n] = x.dims();
        let w = self.reconstruct();
        let s = &self.shape;
        let y = match space.len() {
            1 => spectral_conv(x, w.reshape([s[0], s[1], s[2], 2])),
            2 => {
                let y = spectral_conv(
                    x.reshape([b, c, space[0], space[1]]),
                    w.reshape([s[0], s[1], s[2], s[3], 2]),
                );
                y.reshape([b, s[1], n])
            }
            _ => {
                let y = spectral_conv(
                    x.reshape([b, c, space[0], space[1], space[2]]),
                    w.reshape([s[0], s[1], s[2], s[3], s[4], 2]),
                );
                y.reshape([b, s[1], n])
            }
        };
        match &self.bias {
            Some(bias) => y + bias.val().reshape([1, s[1], 1]),
            None => y,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_tensorlys_rules() {
        // tensorly 0.10 through neuraloperator 2.0 (xtask/.venv): FNO(n_modes=(8, 6),
        // hidden_channels=8, factorization=..., rank=0.3) has a (8, 8, 8, 4) weight.
        assert_eq!(tucker_ranks(&[8, 8, 8, 4], 0.3, &[]), vec![6, 6, 6, 3]);
        assert_eq!(cp_rank(&[8, 8, 8, 4], 0.3), 22);
        // A fixed mode keeps its size.
        assert_eq!(tucker_ranks(&[8, 8, 8, 4], 0.3, &[0])[0], 8);
        // Rank 1 keeps (about) every parameter: the ranks cannot exceed the sizes much.
        let full = tucker_ranks(&[4, 4, 3], 1.0, &[]);
        assert!(full.iter().zip([4, 4, 3]).all(|(r, s)| *r <= s), "{full:?}");
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn reconstruction_equals_the_explicit_sums() {
        let device = Device::flex();
        device.seed(1);
        let shape = [3usize, 2, 4];
        for kind in [Factorization::Tucker, Factorization::Cp] {
            let layer = FactorizedSpectral::new(&shape, kind, 0.7, false, &device);
            let w = values(layer.reconstruct());
            let ranks = layer.ranks();
            let f: Vec<Vec<f32>> = layer
                .factors
                .iter()
                .map(|p| p.val().into_data().try_to_vec::<f32>().unwrap())
                .collect();
            let mul = |a: (f64, f64), b: (f64, f64)| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
            let fac = |k: usize, i: usize, r: usize| {
                let at = (i * ranks[k] + r) * 2;
                (f[k][at] as f64, f[k][at + 1] as f64)
            };
            for i in 0..3 {
                for j in 0..2 {
                    for l in 0..4 {
                        let mut acc = (0.0, 0.0);
                        if kind == Factorization::Tucker {
                            let core = values(layer.core.as_ref().unwrap().val());
                            for a in 0..ranks[0] {
                                for b in 0..ranks[1] {
                                    for c in 0..ranks[2] {
                                        let at = ((a * ranks[1] + b) * ranks[2] + c) * 2;
                                        let mut t = (core[at] as f64, core[at + 1] as f64);
                                        t = mul(t, fac(0, i, a));
                                        t = mul(t, fac(1, j, b));
                                        t = mul(t, fac(2, l, c));
                                        acc = (acc.0 + t.0, acc.1 + t.1);
                                    }
                                }
                            }
                        } else {
                            let wts = values(layer.cp_weights.as_ref().unwrap().val());
                            for r in 0..ranks[0] {
                                let mut t = (wts[2 * r] as f64, wts[2 * r + 1] as f64);
                                t = mul(t, fac(0, i, r));
                                t = mul(t, fac(1, j, r));
                                t = mul(t, fac(2, l, r));
                                acc = (acc.0 + t.0, acc.1 + t.1);
                            }
                        }
                        let at = ((i * 2 + j) * 4 + l) * 2;
                        assert!(
                            (w[at] as f64 - acc.0).abs() < 1e-5,
                            "{kind:?} re at {i},{j},{l}"
                        );
                        assert!(
                            (w[at + 1] as f64 - acc.1).abs() < 1e-5,
                            "{kind:?} im at {i},{j},{l}"
                        );
                    }
                }
            }
        }
    }
}
