//! The pointwise (1x1) linear layer of FNO-type models as one fused op with its own backward:
//! `y = act(W x + b + r)` over the channel axis of `[batch, in, n]`, where `b` is an optional
//! bias, `r` an optional residual added before the activation and `act` GELU or nothing.
//!
//! Composed from burn's ops, the same layer is a broadcast batched matrix product, a bias add,
//! a residual add and a GELU, each a pass over memory with its own allocation, and the
//! product's backward materialises a per-sample weight gradient before summing it. Here the
//! CPU path runs one matrix product per sample with the bias and residual as its starting
//! value and the activation applied while the sample's plane is in cache, and the backward pass
//! does the activation's derivative, both products and the bias sum in one sweep
//! (docs/performance.md has the measurements).

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, Flex};
use burn::tensor::{DType, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn_flex::FlexTensor;

use crate::cpu::linear::{self, LinearScalar, LinearShape, Start, Upstream};
use crate::flex::{dims, host, tensor};

/// The fused channel-linear layer, implemented per backend.
///
/// `x` is `[batch, in, n]`, `weight` `[out, in]`, `bias` `[out]`, `residual` `[batch, out, n]`.
/// burn's backend extensions take no optional tensors, so an operand that is absent comes as a
/// placeholder (any tensor; [`channel_linear`] passes `x`) with its flag unset, and is not read.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait ChannelOps: Backend {
    /// `act(W x + b + r)`, and with `gelu` the pre-activation `W x + b + r` (which the
    /// backward pass needs).
    fn channel_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        has_bias: bool,
        has_residual: bool,
        gelu: bool,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>);

    /// The gradients of `sum(grad * channel_linear(..))`: with respect to the pre-activation
    /// (with GELU, whose pre-activation `pre` is; without, it is `grad` and `pre` is a
    /// placeholder), `x`, `weight` and `bias`, each of the last three only when asked for.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn channel_linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pre: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        gelu: bool,
        need_x: bool,
        need_weight: bool,
        need_bias: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
        Option<FloatTensor<Self>>,
    );
}

/// Sizes from the operands, with the checks that name what disagrees.
fn shape_of(x: &FlexTensor, w: &FlexTensor) -> LinearShape {
    let (xd, wd) = (dims(x), dims(w));
    assert_eq!(
        xd.len(),
        3,
        "channel_linear: input must be [batch, in, n], got {xd:?}"
    );
    assert_eq!(
        wd.len(),
        2,
        "channel_linear: weight must be [out, in], got {wd:?}"
    );
    assert_eq!(
        xd[1], wd[1],
        "channel_linear: input has {} channels, weight takes {}",
        xd[1], wd[1]
    );
    LinearShape {
        batch: xd[0],
        cin: xd[1],
        cout: wd[0],
        n: xd[2],
    }
}

/// Whether `t` is the only handle on its storage and spans all of it (`len` values), so that
/// an op may write over it instead of allocating.
fn whole_and_unique<T: burn::tensor::Element + bytemuck::Pod>(t: &FlexTensor, len: usize) -> bool {
    t.is_unique()
        && t.as_slice::<T>().is_some_and(|v| v.len() == len)
        && t.storage::<T>().len() == len
}

fn flex_forward<T: LinearScalar + burn::tensor::Element>(
    x: &FlexTensor,
    w: &FlexTensor,
    bias: Option<&FlexTensor>,
    residual: Option<FlexTensor>,
    gelu: bool,
    s: LinearShape,
) -> (FlexTensor, Option<FlexTensor>) {
    let bias = bias.map(host::<T>);
    let shape = vec![s.batch, s.cout, s.n];
    let len = s.batch * s.cout * s.n;
    let (x, w) = (host::<T>(x), host::<T>(w));
    match residual {
        // A residual nobody else holds (typically the spectral convolution's output) becomes
        // the pre-activation in place.
        Some(mut r) if whole_and_unique::<T>(&r, len) => {
            let buf = r
                .try_storage_mut::<T>()
                .expect("a unique tensor gives its storage");
            let y = linear::forward::<T>(&x, &w, bias.as_deref(), Start::Residual(buf), gelu, s);
            match y.out {
                Some(out) => (tensor(out, shape), Some(r)),
                None => (r, None),
            }
        }
        r => {
            let r = r.as_ref().map(host::<T>);
            let y =
                linear::forward::<T>(&x, &w, bias.as_deref(), Start::New(r.as_deref()), gelu, s);
            let pre = tensor(y.pre.expect("formed in a new buffer"), shape.clone());
            match y.out {
                Some(out) => (tensor(out, shape), Some(pre)),
                None => (pre, None),
            }
        }
    }
}

type Grads4<T> = (Option<T>, Option<T>, Option<T>, Option<T>);

#[allow(clippy::too_many_arguments)]
fn flex_backward<T: LinearScalar + burn::tensor::Element>(
    x: &FlexTensor,
    w: &FlexTensor,
    pre: Option<&FlexTensor>,
    mut grad: FlexTensor,
    s: LinearShape,
    need_x: bool,
    need_w: bool,
    need_b: bool,
) -> Grads4<FlexTensor> {
    let pre = pre.map(host::<T>);
    let len = s.batch * s.cout * s.n;
    // With GELU, an upstream gradient nobody else holds becomes the pre-activation's gradient
    // in place.
    let in_place = pre.is_some() && whole_and_unique::<T>(&grad, len);
    let (x, w) = (host::<T>(x), host::<T>(w));
    let g = {
        let read;
        let upstream = if in_place {
            Upstream::InPlace(
                grad.try_storage_mut::<T>()
                    .expect("a unique tensor gives its storage"),
            )
        } else {
            read = host::<T>(&grad);
            Upstream::Read(&read)
        };
        linear::backward::<T>(&x, &w, pre.as_deref(), upstream, s, need_x, need_w, need_b)
    };
    // Written in place, the pre-activation's gradient is `grad` itself.
    let dpre = in_place.then_some(grad);
    (
        dpre.or_else(|| g.pre.map(|v| tensor(v, vec![s.batch, s.cout, s.n]))),
        g.x.map(|v| tensor(v, vec![s.batch, s.cin, s.n])),
        g.w.map(|v| tensor(v, vec![s.cout, s.cin])),
        g.bias.map(|v| tensor(v, vec![s.cout])),
    )
}

impl ChannelOps for Flex {
    fn channel_linear(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        residual: FlexTensor,
        has_bias: bool,
        has_residual: bool,
        gelu: bool,
    ) -> (FlexTensor, Option<FlexTensor>) {
        let bias = has_bias.then_some(bias);
        let residual = has_residual.then_some(residual);
        let s = shape_of(&x, &weight);
        if let Some(b) = &bias {
            assert_eq!(
                dims(b),
                [s.cout],
                "channel_linear: bias must be [{}]",
                s.cout
            );
        }
        if let Some(r) = &residual {
            assert_eq!(
                dims(r),
                [s.batch, s.cout, s.n],
                "channel_linear: residual must match the output"
            );
        }
        let dtype = x.dtype();
        for t in [Some(&weight), bias.as_ref(), residual.as_ref()]
            .into_iter()
            .flatten()
        {
            assert_eq!(
                t.dtype(),
                dtype,
                "channel_linear: operands of different dtypes"
            );
        }
        match dtype {
            DType::F32 => flex_forward::<f32>(&x, &weight, bias.as_ref(), residual, gelu, s),
            DType::F64 => flex_forward::<f64>(&x, &weight, bias.as_ref(), residual, gelu, s),
            other => {
                panic!("channel_linear: dtype {other:?} is not supported on the CPU (f32, f64)")
            }
        }
    }

    fn channel_linear_backward(
        x: FlexTensor,
        weight: FlexTensor,
        pre: FlexTensor,
        grad: FlexTensor,
        gelu: bool,
        need_x: bool,
        need_weight: bool,
        need_bias: bool,
    ) -> Grads4<FlexTensor> {
        let pre = gelu.then_some(pre);
        let s = shape_of(&x, &weight);
        assert_eq!(
            dims(&grad),
            [s.batch, s.cout, s.n],
            "channel_linear_backward: the gradient's shape differs from the output's"
        );
        match x.dtype() {
            DType::F32 => flex_backward::<f32>(
                &x,
                &weight,
                pre.as_ref(),
                grad,
                s,
                need_x,
                need_weight,
                need_bias,
            ),
            DType::F64 => flex_backward::<f64>(
                &x,
                &weight,
                pre.as_ref(),
                grad,
                s,
                need_x,
                need_weight,
                need_bias,
            ),
            other => {
                panic!("channel_linear: dtype {other:?} is not supported on the CPU (f32, f64)")
            }
        }
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl ChannelOps for burn_cubecl::CubeBackend {
    fn channel_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        has_bias: bool,
        has_residual: bool,
        gelu: bool,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
        use burn::backend::TensorMetadata;
        use burn::backend::ops::FloatTensorOps;
        type B = burn_cubecl::CubeBackend;
        let [co, ci] = weight.shape().dims::<2>();
        let w = B::float_reshape(weight, [1, co, ci].into());
        let mut y = B::float_matmul(w, x);
        if has_bias {
            y = B::float_add(y, B::float_reshape(bias, [1, co, 1].into()));
        }
        if has_residual {
            y = B::float_add(y, residual);
        }
        if gelu {
            let out = <Self as crate::PointwiseOps>::gelu_exact(y.clone());
            (out, Some(y))
        } else {
            (y, None)
        }
    }

    fn channel_linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pre: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        gelu: bool,
        need_x: bool,
        need_weight: bool,
        need_bias: bool,
    ) -> Grads4<FloatTensor<Self>> {
        use burn::backend::TensorMetadata;
        use burn::backend::ops::FloatTensorOps;
        type B = burn_cubecl::CubeBackend;
        let [co, ci] = weight.shape().dims::<2>();
        let dpre =
            gelu.then(|| <Self as crate::PointwiseOps>::gelu_exact_backward(pre, grad.clone()));
        let g = dpre.clone().unwrap_or(grad);
        let gx = need_x.then(|| {
            let wt = B::float_reshape(B::float_transpose(weight), [1, ci, co].into());
            B::float_matmul(wt, g.clone())
        });
        let gw = need_weight.then(|| {
            let per_sample = B::float_matmul(g.clone(), B::float_transpose(x));
            B::float_reshape(B::float_sum_dim(per_sample, 0), [co, ci].into())
        });
        let gb = need_bias.then(|| {
            let s = B::float_sum_dim(B::float_sum_dim(g.clone(), 2), 0);
            B::float_reshape(s, [co].into())
        });
        (dpre, gx, gw, gb)
    }
}

/// The autodiff rule: parents `x`, `weight`, then `bias` and `residual` where present (`N` of
/// them); the state is what the backward op reads.
#[derive(Debug)]
struct LinearBackward<const N: usize> {
    has_bias: bool,
    has_residual: bool,
}

impl<B: Backend + ChannelOps, const N: usize> Backward<B, N> for LinearBackward<N> {
    type State = (FloatTensor<B>, FloatTensor<B>, Option<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let parents = ops.parents;
        let node_x = parents[0].clone();
        let node_w = parents[1].clone();
        let node_b = if self.has_bias {
            parents[2].clone()
        } else {
            None
        };
        let node_r = if self.has_residual {
            parents[N - 1].clone()
        } else {
            None
        };
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, pre) = ops.state;
        let gelu = pre.is_some();
        // Without GELU the residual's gradient is `grad` itself; with it, `grad` goes to the
        // backward op alone, which may then rewrite it in place.
        let keep = (!gelu && node_r.is_some()).then(|| grad.clone());
        let pre = pre.unwrap_or_else(|| x.clone());
        let (dpre, gx, gw, gb) = B::channel_linear_backward(
            x,
            w,
            pre,
            grad,
            gelu,
            node_x.is_some(),
            node_w.is_some(),
            node_b.is_some(),
        );
        let pairs = [(node_x, gx), (node_w, gw), (node_b, gb)];
        for (node, g) in pairs {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<B>(node.id, g);
            }
        }
        if let Some(node) = node_r {
            let dr = dpre
                .or(keep)
                .expect("the residual's gradient is dpre or grad");
            grads.register::<B>(node.id, dr);
        }
    }
}

type AdTensor<B, C> = FloatTensor<Autodiff<B, C>>;

fn autodiff_linear<B: Backend + ChannelOps, C: CheckpointStrategy, const N: usize>(
    nodes: [NodeGuard; N],
    rule: LinearBackward<N>,
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    bias: FloatTensor<B>,
    residual: FloatTensor<B>,
    gelu: bool,
) -> (AdTensor<B, C>, Option<AdTensor<B, C>>) {
    let (has_bias, has_residual) = (rule.has_bias, rule.has_residual);
    let lift =
        |t: FloatTensor<B>| <Autodiff<B, C> as burn::backend::AutodiffBackend>::from_inner(t);
    match rule.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (y, pre) = B::channel_linear(
                x.clone(),
                w.clone(),
                bias,
                residual,
                has_bias,
                has_residual,
                gelu,
            );
            let out = prep.finish((x, w, pre.clone()), y);
            (out, pre.map(lift))
        }
        OpsKind::UnTracked(prep) => {
            let (y, pre) = B::channel_linear(x, w, bias, residual, has_bias, has_residual, gelu);
            (prep.finish(y), pre.map(lift))
        }
    }
}

impl<B: Backend + ChannelOps, C: CheckpointStrategy> ChannelOps for Autodiff<B, C> {
    fn channel_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        has_bias: bool,
        has_residual: bool,
        gelu: bool,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
        let (xn, wn) = (x.node(), weight.node());
        let bn = has_bias.then(|| bias.node());
        let rn = has_residual.then(|| residual.node());
        let (x, w) = (x.into_primitive(), weight.into_primitive());
        let (b, r) = (bias.into_primitive(), residual.into_primitive());
        // The rule's parents are x, w, then bias and residual where present.
        macro_rules! with_parents {
            ($n:literal, [$($node:expr),*]) => {
                autodiff_linear::<B, C, $n>(
                    [$($node),*],
                    LinearBackward { has_bias, has_residual },
                    x,
                    w,
                    b,
                    r,
                    gelu,
                )
            };
        }
        match (bn, rn) {
            (None, None) => with_parents!(2, [xn, wn]),
            (Some(bn), None) => with_parents!(3, [xn, wn, bn]),
            (None, Some(rn)) => with_parents!(3, [xn, wn, rn]),
            (Some(bn), Some(rn)) => with_parents!(4, [xn, wn, bn, rn]),
        }
    }

    fn channel_linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pre: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        gelu: bool,
        need_x: bool,
        need_weight: bool,
        need_bias: bool,
    ) -> Grads4<FloatTensor<Self>> {
        // Second derivatives are not provided: the backward op runs untracked.
        let lift = |t: FloatTensor<B>| <Self as burn::backend::AutodiffBackend>::from_inner(t);
        let (a, b, c, d) = B::channel_linear_backward(
            x.into_primitive(),
            weight.into_primitive(),
            pre.into_primitive(),
            grad.into_primitive(),
            gelu,
            need_x,
            need_weight,
            need_bias,
        );
        (a.map(lift), b.map(lift), c.map(lift), d.map(lift))
    }
}

/// `act(W x + b + r)` over the channel axis of `x` `[batch, in, n]` (a 1x1 convolution with
/// weight `[out, in]`, optional bias `[out]`, optional residual `[batch, out, n]` added before
/// the activation, `act` the exact GELU when `gelu` is set), on whatever backend `x` lives,
/// differentiable in every operand.
///
/// ```
/// use burn::tensor::{Device, Tensor, TensorData};
/// let device = Device::flex();
/// // Two samples, two input channels, three points; weight [[1, 2]], bias [0.5].
/// let x = Tensor::<3>::from_data(
///     TensorData::new(vec![1.0f32, 2.0, 3.0, 0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 1.0, 1.0, 1.0], [2, 2, 3]),
///     &device,
/// );
/// let w = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2]), &device);
/// let b = Tensor::<1>::from_data(TensorData::new(vec![0.5f32], [1]), &device);
/// let y = physfm_spectral::channel_linear(x, w, Some(b), None, false);
/// assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), vec![1.5, 4.5, 3.5, 1.5, 2.5, 3.5]);
/// ```
///
/// # Panics
/// On mismatched shapes or dtypes (the message names the operand).
pub fn channel_linear(
    x: Tensor<3>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    residual: Option<Tensor<3>>,
    gelu: bool,
) -> Tensor<3> {
    let (has_bias, has_residual) = (bias.is_some(), residual.is_some());
    // Absent operands travel as placeholders (see `ChannelOps`): `x` itself, not read.
    let bias = bias.map_or_else(|| x.clone().into_dispatch(), Tensor::into_dispatch);
    let residual = residual.map_or_else(|| x.clone().into_dispatch(), Tensor::into_dispatch);
    let (y, _pre) = <Dispatch as ChannelOps>::channel_linear(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias,
        residual,
        has_bias,
        has_residual,
        gelu,
    );
    Tensor::from_dispatch(y)
}
