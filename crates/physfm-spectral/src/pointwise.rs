//! GELU (the exact, erf-based one that PyTorch's `F.gelu` computes) as a burn backend
//! extension with a fused, multi-threaded CPU kernel and the exact derivative.
//!
//! burn's own `gelu` composes five element-wise ops (a divide, `erf`, an add, two multiplies)
//! and its backward is the derivative of the tanh approximation, not of the exact function.
//! On the CPU the composed version costs about 40 times an element-wise multiply; GELU is
//! applied to every hidden state of an FNO, so it dominated the FNO's forward pass
//! (docs/performance.md). Here one pass computes `x Phi(x)` with a rational approximation of
//! `erf` (maximum error 3.8e-7, a few f32 units in the last place of values near 1; see the
//! tests), and the backward pass computes `grad (Phi(x) + x phi(x))`.

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, Flex};
use burn::tensor::{DType, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;

use crate::flex::{dims, host, tensor};
use rayon::prelude::*;

/// Element-wise activations, implemented per backend.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait PointwiseOps: Backend {
    /// `x Phi(x)` with `Phi` the standard normal distribution function.
    fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `grad (Phi(x) + x phi(x))`: the gradient of `sum(grad * gelu_exact(x))`.
    fn gelu_exact_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `a * b + c`: one fused multiply-add with `FMA` (for code compiled with the FMA
/// instructions, where it is one instruction), a multiply and an add without (elsewhere
/// `mul_add` is a library call).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `erf(x)` for `f32` work: an odd rational function of degree 13/8 in `x` on `[-4, 4]`
/// (saturated outside, where `1 - erf(4) < 2e-8`), branch-free so that loops over slices
/// vectorise. Coefficients of the minimax fit used by XLA and Eigen for `erf` in single
/// precision. Plain multiply-adds (the element loops of the GELU kernels use fused ones where
/// the CPU has them, which differ in the last bit at most).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    erf::<false>(x)
}

#[inline(always)]
fn erf<const FMA: bool>(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = madd::<FMA>(p, x2, 2.770_681_4e-8);
    p = madd::<FMA>(p, x2, -2.101_024e-6);
    p = madd::<FMA>(p, x2, -5.692_506_4e-5);
    p = madd::<FMA>(p, x2, -7.349_906_3e-4);
    p = madd::<FMA>(p, x2, -2.954_600_2e-3);
    p = madd::<FMA>(p, x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = madd::<FMA>(q, x2, -2.133_740_5e-4);
    q = madd::<FMA>(q, x2, -1.682_827e-3);
    q = madd::<FMA>(q, x2, -7.373_329e-3);
    q = madd::<FMA>(q, x2, -1.426_474e-2);
    x * p / q
}

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `exp(x)` for `f32` work, branch-free so that loops over slices vectorise (the library
/// `expf` is a call per value): `2^n exp(r)` with `n = round(x / ln 2)`, `|r| <= ln 2 / 2`
/// and Cephes' degree-6 polynomial for `exp(r)` (relative error under 3e-7, see the tests).
/// Arguments are clamped to `[-87, 88]`, the range of normal results. Plain multiply-adds, as
/// [`erf_f32`].
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp::<false>(x)
}

#[inline(always)]
fn exp<const FMA: bool>(x: f32) -> f32 {
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    // ln 2 split in two so that `n * LN2_HI` is exact.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 0.166_666_65);
    p = madd::<FMA>(p, r, 0.5);
    let e = madd::<FMA>(p * r, r, r) + 1.0;
    // 2^n built from its exponent bits; n is in [-126, 127] after the clamp, so the biased
    // exponent n + 127 is in [1, 254]. It is read off the mantissa of 2^23 + n + 127 (exact in
    // f32) rather than converted with `as i32`, whose saturating semantics keep LLVM from
    // vectorising the conversion: it compiled to one scalar `cvttss2si` with range checks per
    // lane and made this the slowest part of the GELU backward.
    let biased = (n + (127.0 + 8_388_608.0)).to_bits() & 0x007f_ffff;
    e * f32::from_bits(biased << 23)
}

/// `Phi(v) = (1 + erf(v / sqrt 2)) / 2` and `v phi(v)`, whose sum is `gelu'(v)`.
#[inline(always)]
fn cdf_and_density<const FMA: bool>(v: f32) -> (f32, f32) {
    let cdf = 0.5 * (1.0 + erf::<FMA>(v * FRAC_1_SQRT_2 as f32));
    let pdf = FRAC_1_SQRT_2PI as f32 * exp::<FMA>(-0.5 * v * v);
    (cdf, v * pdf)
}

#[inline(always)]
fn gelu_body<const FMA: bool>(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = 0.5 * v * (1.0 + erf::<FMA>(v * FRAC_1_SQRT_2 as f32));
    }
}

#[inline(always)]
fn gelu_grad_body<const FMA: bool>(x: &[f32], g: &[f32], out: &mut [f32]) {
    for ((o, &v), &gv) in out.iter_mut().zip(x).zip(g) {
        let (cdf, vpdf) = cdf_and_density::<FMA>(v);
        *o = gv * (cdf + vpdf);
    }
}

#[inline(always)]
fn gelu_grad_in_place_body<const FMA: bool>(x: &[f32], g: &mut [f32]) {
    for (gv, &v) in g.iter_mut().zip(x) {
        let (cdf, vpdf) = cdf_and_density::<FMA>(v);
        *gv *= cdf + vpdf;
    }
}

#[inline(always)]
fn gelu_and_slope_body<const FMA: bool>(x: &mut [f32], value: &mut [f32]) {
    for (v, o) in x.iter_mut().zip(value.iter_mut()) {
        let u = *v;
        let (cdf, vpdf) = cdf_and_density::<FMA>(u);
        *o = u * cdf;
        *v = cdf + vpdf;
    }
}

/// The element loops compiled for the widest vector unit the CPU has (AVX-512, AVX2 with
/// FMA, or the baseline), chosen at run time: the crate is built for baseline x86-64, whose
/// 4-wide SSE2 leaves most of a modern core idle on these loops. The wide versions evaluate
/// the polynomials with fused multiply-adds (both have FMA): half the instructions.
#[allow(unsafe_code)]
mod wide {
    /// `pub(crate) fn $name($args)`: `super::$body($args)` compiled for AVX-512F and for AVX2
    /// with FMA (both with fused multiply-adds), and for the baseline (without), the widest
    /// the CPU has chosen at each call.
    macro_rules! widest {
        ($(#[$doc:meta])* $name:ident => $body:ident ($($arg:ident: $ty:ty),*)) => {
            $(#[$doc])*
            pub(crate) fn $name($($arg: $ty),*) {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f")]
                    fn avx512($($arg: $ty),*) {
                        super::$body::<true>($($arg),*)
                    }
                    #[target_feature(enable = "avx2,fma")]
                    fn avx2($($arg: $ty),*) {
                        super::$body::<true>($($arg),*)
                    }
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU has AVX-512F (checked just above).
                        return unsafe { avx512($($arg),*) };
                    }
                    if std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                    {
                        // SAFETY: the CPU has AVX2 and FMA (checked just above).
                        return unsafe { avx2($($arg),*) };
                    }
                }
                super::$body::<false>($($arg),*)
            }
        };
    }

    widest!(
        /// `out = gelu(x)`, element by element.
        gelu => gelu_body(x: &[f32], out: &mut [f32])
    );
    widest!(
        /// `out = g * gelu'(x)`, element by element.
        gelu_grad => gelu_grad_body(x: &[f32], g: &[f32], out: &mut [f32])
    );
    widest!(
        /// `g *= gelu'(x)`, element by element.
        gelu_grad_in_place => gelu_grad_in_place_body(x: &[f32], g: &mut [f32])
    );
    widest!(
        /// `value = gelu(x)` and `x = gelu'(x)`, element by element: one `erf` and one `exp`
        /// for both.
        gelu_and_slope => gelu_and_slope_body(x: &mut [f32], value: &mut [f32])
    );
}

pub(crate) use wide::{
    gelu as gelu_into_f32, gelu_and_slope as gelu_and_slope_f32, gelu_grad as gelu_grad_into_f32,
    gelu_grad_in_place as gelu_grad_in_place_f32,
};

/// Values per rayon task.
const CHUNK: usize = 1 << 14;

fn gelu_f32(x: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| gelu_into_f32(x, o));
    out
}

fn gelu_backward_f32(x: &[f32], g: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(o, (x, g))| gelu_grad_into_f32(x, g, o));
    out
}

/// `erf` in double precision for f64 tensors: its Taylor series for `|x| < 2` (cancellation
/// costs under 1e-15 there) and the continued fraction of `erfc` beyond (60 terms: converged
/// to the last bit from 2 on).
fn erf_f64(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 2.0 {
        // erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)).
        let mut term = a;
        let mut sum = a;
        let x2 = a * a;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc(x) = exp(-x^2) / sqrt(pi) * 1 / (x + 1/2 / (x + 1 / (x + 3/2 / (x + ...)))).
        let mut f = a;
        for k in (1..60).rev() {
            f = a + k as f64 / 2.0 / f;
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
    };
    r.copysign(x)
}

/// `gelu(v)` in double precision.
pub(crate) fn gelu_f64_scalar(v: f64) -> f64 {
    0.5 * v * (1.0 + erf_f64(v * FRAC_1_SQRT_2))
}

/// `g * gelu'(v)` in double precision.
pub(crate) fn gelu_grad_f64_scalar(v: f64, g: f64) -> f64 {
    let cdf = 0.5 * (1.0 + erf_f64(v * FRAC_1_SQRT_2));
    g * (cdf + v * FRAC_1_SQRT_2PI * (-0.5 * v * v).exp())
}

fn gelu_f64(x: &[f64]) -> Vec<f64> {
    x.par_iter().map(|&v| gelu_f64_scalar(v)).collect()
}

fn gelu_backward_f64(x: &[f64], g: &[f64]) -> Vec<f64> {
    x.par_iter()
        .zip(g)
        .map(|(&v, &gv)| gelu_grad_f64_scalar(v, gv))
        .collect()
}

impl PointwiseOps for Flex {
    fn gelu_exact(x: FlexTensor) -> FlexTensor {
        let s = dims(&x);
        match x.dtype() {
            DType::F32 => tensor(gelu_f32(&host::<f32>(&x)), s),
            DType::F64 => tensor(gelu_f64(&host::<f64>(&x)), s),
            other => panic!("gelu: dtype {other:?} is not supported on the CPU (f32, f64)"),
        }
    }

    fn gelu_exact_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let s = dims(&x);
        assert_eq!(
            s,
            dims(&grad),
            "gelu_backward: gradient and input shapes differ"
        );
        match (x.dtype(), grad.dtype()) {
            (DType::F32, DType::F32) => {
                tensor(gelu_backward_f32(&host::<f32>(&x), &host::<f32>(&grad)), s)
            }
            (DType::F64, DType::F64) => {
                tensor(gelu_backward_f64(&host::<f64>(&x), &host::<f64>(&grad)), s)
            }
            (a, b) => panic!("gelu_backward: dtypes {a:?} and {b:?} (f32 or f64, alike)"),
        }
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl PointwiseOps for burn_cubecl::CubeBackend {
    fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as burn::backend::ops::ActivationOps<Self>>::gelu(x)
    }

    fn gelu_exact_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::ops::FloatTensorOps;
        type B = burn_cubecl::CubeBackend;
        let erf = B::float_erf(B::float_mul_scalar(x.clone(), FRAC_1_SQRT_2.into()));
        let cdf = B::float_mul_scalar(B::float_add_scalar(erf, 1.0.into()), 0.5.into());
        let sq = B::float_mul(x.clone(), x.clone());
        let pdf = B::float_mul_scalar(
            B::float_exp(B::float_mul_scalar(sq, (-0.5).into())),
            FRAC_1_SQRT_2PI.into(),
        );
        let d = B::float_add(cdf, B::float_mul(x, pdf));
        B::float_mul(grad, d)
    }
}

impl<B: Backend + PointwiseOps, C: CheckpointStrategy> PointwiseOps for Autodiff<B, C> {
    fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct GeluBackward;

        impl<B: Backend + PointwiseOps> Backward<B, 1> for GeluBackward {
            type State = burn_autodiff::NodeId;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(ops.state);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::gelu_exact_backward(x, grad));
                }
            }
        }

        match GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, B::gelu_exact(x.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gelu_exact(x.into_primitive())),
        }
    }

    fn gelu_exact_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        // Second derivatives are not provided: the backward op runs untracked.
        <Self as burn::backend::AutodiffBackend>::from_inner(B::gelu_exact_backward(
            x.into_primitive(),
            grad.into_primitive(),
        ))
    }
}

/// The exact GELU, `x Phi(x)` (PyTorch's `F.gelu` default, neuraloperator's non-linearity),
/// on whatever backend `x` lives, with its exact derivative.
///
/// ```
/// use burn::tensor::{Device, Tensor, TensorData};
/// let device = Device::flex();
/// let x = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, 0.0, 2.0], [3]), &device);
/// let y = physfm_spectral::gelu(x).into_data().try_to_vec::<f32>().unwrap();
/// assert!((y[0] + 0.158_655_25).abs() < 1e-6 && y[1] == 0.0 && (y[2] - 1.954_499_7).abs() < 1e-6);
/// ```
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as PointwiseOps>::gelu_exact(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_and_slope_give_the_value_and_the_derivative_of_the_separate_loops() {
        // Odd length: the vector loops' tails too.
        let x: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) * 0.013).collect();
        let (mut value, mut slope) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        gelu_into_f32(&x, &mut value);
        gelu_grad_into_f32(&x, &vec![1.0; x.len()], &mut slope);
        let mut both = x.clone();
        let mut value2 = vec![0.0; x.len()];
        gelu_and_slope_f32(&mut both, &mut value2);
        assert_eq!(value2, value);
        assert_eq!(both, slope);
    }
}
