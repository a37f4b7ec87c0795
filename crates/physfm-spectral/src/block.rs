//! A whole FNO block as one op with its own backward pass, on the CPU: the spectral
//! convolution, the linear skip, the two-layer channel MLP with its soft-gating skip and the
//! three GELUs (neuraloperator's default block, no normalisation). The spectral convolution
//! runs as in [`crate::spectral_conv`]; everything pointwise runs one sample at a time while
//! the sample's planes are in cache ([`crate::cpu`]'s `block` module has the equations), and
//! the backward pass keeps the input's three gradients in one buffer instead of summing three.

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, Flex};
use burn::tensor::{DType, Device, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn_flex::FlexTensor;

use crate::cpu;
use crate::cpu::block::{BlockShape, BlockWeights};
use crate::cpu::linear::LinearScalar;
use crate::flex::{dims, host, into_contiguous, tensor};
use crate::geometry::Geometry;

/// The fused FNO block, implemented per backend (the CPU's `flex`, and autodiff over it).
///
/// `x` is `[batch, c, N_1..N_d]`, `spectral` the spectral weight `[c, c, M_1..M_{d-1}, K, 2]`,
/// `skip` the skip weight `[c, c]`, `w1` `[h, c]` and `b1` `[h]` the channel MLP's first
/// layer, `w2` `[c, h]` and `b2` `[c]` its second, `gate` `[c]` the soft gating and
/// `spectral_bias` `[c]` the spectral convolution's bias. burn's backend extensions take no
/// optional tensors, so an absent spectral bias (or `pre3`) comes as a placeholder (any
/// tensor) with its flag unset, and is not read.
#[backend_extension(Flex, Autodiff)]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub trait BlockOps: Backend {
    /// The block's output (with the final GELU when `activate`) and what its backward pass
    /// needs: `pre1`, `pre2`, with `activate` `pre3`, and the input's kept Fourier modes
    /// (which the spectral weight's gradient needs). The autodiff backend keeps those itself
    /// and returns the output in their place.
    fn fno_block(
        x: FloatTensor<Self>,
        spectral: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        gate: FloatTensor<Self>,
        spectral_bias: FloatTensor<Self>,
        has_spectral_bias: bool,
        activate: bool,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
    );

    /// The gradients of `sum(grad * fno_block(..))` with respect to `x` and then each weight
    /// in the argument order (the spectral bias last, when there is one), from what
    /// [`BlockOps::fno_block`] saved (which it writes over).
    fn fno_block_backward(
        x: FloatTensor<Self>,
        spectral: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        gate: FloatTensor<Self>,
        spectral_bias: FloatTensor<Self>,
        has_spectral_bias: bool,
        pre1: FloatTensor<Self>,
        pre2: FloatTensor<Self>,
        pre3: FloatTensor<Self>,
        has_pre3: bool,
        x_modes: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> Vec<FloatTensor<Self>>;
}

/// The geometry and sizes of a block from its operands, with the checks that name what
/// disagrees.
fn block_shape(x: &FlexTensor, params: &[FlexTensor]) -> (Geometry, BlockShape) {
    assert!(
        params.len() == 7 || params.len() == 8,
        "fno_block: expected 7 or 8 parameter tensors, got {}",
        params.len()
    );
    let g = Geometry::new(&dims(x), &dims(&params[0]));
    let c = g.in_channels;
    assert_eq!(
        g.out_channels, c,
        "fno_block: the spectral weight maps {c} channels to {}, a block keeps its width",
        g.out_channels
    );
    let h = dims(&params[2]).first().copied().unwrap_or(0);
    let expected: [(&str, Vec<usize>); 7] = [
        ("skip weight", vec![c, c]),
        ("first MLP weight", vec![h, c]),
        ("first MLP bias", vec![h]),
        ("second MLP weight", vec![c, h]),
        ("second MLP bias", vec![c]),
        ("gate", vec![c]),
        ("spectral bias", vec![c]),
    ];
    for ((what, want), p) in expected.iter().zip(&params[1..]) {
        assert_eq!(&dims(p), want, "fno_block: {what} has the wrong shape");
    }
    for p in params {
        assert_eq!(
            p.dtype(),
            x.dtype(),
            "fno_block: operands of different dtypes"
        );
    }
    let shape = BlockShape {
        batch: g.batch,
        c,
        h,
        n: g.dims.iter().product(),
    };
    (g, shape)
}

/// The pointwise weights among `[spectral, skip, w1, b1, w2, b2, gate, (spectral_bias)]`.
fn weights<'a, T: Clone>(p: &'a [std::borrow::Cow<'a, [T]>]) -> BlockWeights<'a, T> {
    BlockWeights {
        skip: &p[1],
        w1: &p[2],
        b1: &p[3],
        w2: &p[4],
        b2: &p[5],
        gate: &p[6],
        spectral_bias: p.get(7).map(|b| &b[..]),
    }
}

/// [`BlockOps::fno_block`]'s output on `flex`: the block's output, `pre1`, `pre2`, `pre3` (with
/// `activate`) and the input's kept Fourier modes.
type FlexBlockOutput = (
    FlexTensor,
    FlexTensor,
    FlexTensor,
    Option<FlexTensor>,
    FlexTensor,
);

fn flex_forward<T: LinearScalar + cpu::Real + burn::tensor::Element>(
    x: &FlexTensor,
    params: &[FlexTensor],
    activate: bool,
) -> FlexBlockOutput {
    let (g, s) = block_shape(x, params);
    let xs = host::<T>(x);
    let p: Vec<_> = params.iter().map(host::<T>).collect();
    let (spectral, x_modes) = cpu::forward_keeping_modes::<T>(&xs, &p[0], &g);
    // As re/im pairs, the layout `cpu::backward` reads them in.
    let x_modes: Vec<T> = bytemuck::cast_slice(&x_modes).to_vec();
    let modes_len = x_modes.len();
    let w = weights(&p);
    let (out, saved) = cpu::block::forward(&xs, spectral, w, activate, s);
    let (wide, narrow) = (vec![s.batch, s.c, s.n], vec![s.batch, s.h, s.n]);
    (
        tensor(out, dims(x)),
        tensor(saved.pre1, wide.clone()),
        tensor(saved.pre2, narrow),
        saved.pre3.map(|p| tensor(p, wide)),
        tensor(x_modes, vec![modes_len]),
    )
}

fn flex_backward<T: LinearScalar + cpu::Real + burn::tensor::Element>(
    x: &FlexTensor,
    params: &[FlexTensor],
    (pre1, pre2, pre3, x_modes): (FlexTensor, FlexTensor, Option<FlexTensor>, FlexTensor),
    grad: &FlexTensor,
) -> Vec<FlexTensor> {
    let (g, s) = block_shape(x, params);
    assert_eq!(
        dims(grad),
        dims(x),
        "fno_block_backward: the gradient's shape differs from the output's"
    );
    let xs = host::<T>(x);
    let p: Vec<_> = params.iter().map(host::<T>).collect();
    let gs = host::<T>(grad);
    let mut pre1 = into_contiguous(pre1);
    let mut pre2 = into_contiguous(pre2);
    let mut pre3 = pre3.map(into_contiguous);
    let w = weights(&p);
    let grads = {
        let p3 = pre3.as_mut().map(|t| t.storage_mut::<T>());
        cpu::block::backward(
            &xs,
            w,
            pre1.storage_mut::<T>(),
            pre2.storage_mut::<T>(),
            p3,
            &gs,
            s,
        )
    };
    let mut dx = match (grads.x, pre3) {
        (Some(v), _) => tensor(v, dims(x)),
        (None, Some(t)) => t.reshape(dims(x).into()),
        (None, None) => unreachable!("without pre3 the input's gradient is a new buffer"),
    };
    // `pre1` now holds the gradient with respect to the spectral output; the spectral path's
    // share of the input's gradient is added to the pointwise paths' in `dx`.
    let (_, spectral_w) = cpu::backward::<T>(
        (&xs, Some(&host::<T>(&x_modes))),
        &p[0],
        pre1.storage::<T>(),
        &g,
        cpu::InputGrad::AddTo(dx.storage_mut::<T>()),
        true,
    );
    let mut out = vec![
        dx,
        tensor(spectral_w.expect("asked for"), dims(&params[0])),
        tensor(grads.skip, dims(&params[1])),
        tensor(grads.w1, dims(&params[2])),
        tensor(grads.b1, dims(&params[3])),
        tensor(grads.w2, dims(&params[4])),
        tensor(grads.b2, dims(&params[5])),
        tensor(grads.gate, dims(&params[6])),
    ];
    if params.len() == 8 {
        out.push(tensor(grads.spectral_bias, dims(&params[7])));
    }
    out
}

fn unsupported(dtype: DType) -> ! {
    panic!("fno_block: dtype {dtype:?} is not supported on the CPU (f32, f64)")
}

impl BlockOps for Flex {
    fn fno_block(
        x: FlexTensor,
        spectral: FlexTensor,
        skip: FlexTensor,
        w1: FlexTensor,
        b1: FlexTensor,
        w2: FlexTensor,
        b2: FlexTensor,
        gate: FlexTensor,
        spectral_bias: FlexTensor,
        has_spectral_bias: bool,
        activate: bool,
    ) -> FlexBlockOutput {
        let mut params = vec![spectral, skip, w1, b1, w2, b2, gate];
        params.extend(has_spectral_bias.then_some(spectral_bias));
        match x.dtype() {
            DType::F32 => flex_forward::<f32>(&x, &params, activate),
            DType::F64 => flex_forward::<f64>(&x, &params, activate),
            other => unsupported(other),
        }
    }

    fn fno_block_backward(
        x: FlexTensor,
        spectral: FlexTensor,
        skip: FlexTensor,
        w1: FlexTensor,
        b1: FlexTensor,
        w2: FlexTensor,
        b2: FlexTensor,
        gate: FlexTensor,
        spectral_bias: FlexTensor,
        has_spectral_bias: bool,
        pre1: FlexTensor,
        pre2: FlexTensor,
        pre3: FlexTensor,
        has_pre3: bool,
        x_modes: FlexTensor,
        grad: FlexTensor,
    ) -> Vec<FlexTensor> {
        let mut params = vec![spectral, skip, w1, b1, w2, b2, gate];
        params.extend(has_spectral_bias.then_some(spectral_bias));
        let saved = (pre1, pre2, has_pre3.then_some(pre3), x_modes);
        match x.dtype() {
            DType::F32 => flex_backward::<f32>(&x, &params, saved, &grad),
            DType::F64 => flex_backward::<f64>(&x, &params, saved, &grad),
            other => unsupported(other),
        }
    }
}

/// The autodiff rule: parents `x` then each weight (`N` in all); the state is the operands
/// and what the forward pass saved.
#[derive(Debug)]
struct BlockBackward<const N: usize>;

impl<B: Backend + BlockOps, const N: usize> Backward<B, N> for BlockBackward<N> {
    type State = (Vec<FloatTensor<B>>, Vec<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (operands, saved) = ops.state;
        let all = backward_on::<B>(operands, saved, grad);
        for (parent, g) in ops.parents.into_iter().zip(all) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

/// `[x, spectral, skip, w1, b1, w2, b2, gate, (spectral_bias)]` as the eight tensors the ops
/// take first, the spectral bias or a placeholder (`x`), and whether it is there.
fn unpack<B: BlockOps>(operands: Vec<FloatTensor<B>>) -> ([FloatTensor<B>; 9], bool) {
    let has_bias = operands.len() == 9;
    let placeholder = operands[0].clone();
    let mut all: Vec<_> = operands;
    if !has_bias {
        all.push(placeholder);
    }
    let all: [FloatTensor<B>; 9] = all
        .try_into()
        .unwrap_or_else(|_| panic!("fno_block: expected eight or nine operands"));
    (all, has_bias)
}

/// Calls `B::fno_block` on `[x, spectral, skip, w1, b1, w2, b2, gate, (spectral_bias)]`.
fn forward_on<B: BlockOps>(
    operands: Vec<FloatTensor<B>>,
    activate: bool,
) -> (FloatTensor<B>, Vec<FloatTensor<B>>) {
    let ([x, sw, skip, w1, b1, w2, b2, gate, bias], has_bias) = unpack::<B>(operands);
    let (y, pre1, pre2, pre3, x_modes) =
        B::fno_block(x, sw, skip, w1, b1, w2, b2, gate, bias, has_bias, activate);
    let mut saved = vec![pre1, pre2, x_modes];
    saved.extend(pre3);
    (y, saved)
}

/// Calls `B::fno_block_backward` on the operands of [`forward_on`] and what it saved.
fn backward_on<B: BlockOps>(
    operands: Vec<FloatTensor<B>>,
    saved: Vec<FloatTensor<B>>,
    grad: FloatTensor<B>,
) -> Vec<FloatTensor<B>> {
    let ([x, sw, skip, w1, b1, w2, b2, gate, bias], has_bias) = unpack::<B>(operands);
    let has_pre3 = saved.len() == 4;
    let mut saved = saved.into_iter();
    let (pre1, pre2, x_modes) = (
        saved.next().expect("pre1 is saved"),
        saved.next().expect("pre2 is saved"),
        saved.next().expect("the input's modes are saved"),
    );
    let pre3 = saved.next().unwrap_or_else(|| x.clone());
    B::fno_block_backward(
        x, sw, skip, w1, b1, w2, b2, gate, bias, has_bias, pre1, pre2, pre3, has_pre3, x_modes,
        grad,
    )
}

type AdTensor<B, C> = FloatTensor<Autodiff<B, C>>;

fn autodiff_block<B: Backend + BlockOps, C: CheckpointStrategy, const N: usize>(
    nodes: Vec<NodeGuard>,
    operands: Vec<FloatTensor<B>>,
    activate: bool,
) -> AdTensor<B, C> {
    let nodes: [NodeGuard; N] = nodes
        .try_into()
        .unwrap_or_else(|_| unreachable!("one node per operand"));
    match BlockBackward::<N>
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (y, saved) = forward_on::<B>(operands.clone(), activate);
            prep.finish((operands, saved), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward_on::<B>(operands, activate).0),
    }
}

impl<B: Backend + BlockOps, C: CheckpointStrategy> BlockOps for Autodiff<B, C> {
    fn fno_block(
        x: FloatTensor<Self>,
        spectral: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        gate: FloatTensor<Self>,
        spectral_bias: FloatTensor<Self>,
        has_spectral_bias: bool,
        activate: bool,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
    ) {
        let mut operands = vec![x, spectral, skip, w1, b1, w2, b2, gate];
        operands.extend(has_spectral_bias.then_some(spectral_bias));
        let nodes: Vec<NodeGuard> = operands.iter().map(|t| t.node()).collect();
        let operands: Vec<_> = operands.into_iter().map(|t| t.into_primitive()).collect();
        let y = match nodes.len() {
            8 => autodiff_block::<B, C, 8>(nodes, operands, activate),
            _ => autodiff_block::<B, C, 9>(nodes, operands, activate),
        };
        // The pre-activations stay in the autodiff state; the output stands in for them.
        (y.clone(), y.clone(), y.clone(), None, y)
    }

    fn fno_block_backward(
        x: FloatTensor<Self>,
        spectral: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        gate: FloatTensor<Self>,
        spectral_bias: FloatTensor<Self>,
        has_spectral_bias: bool,
        pre1: FloatTensor<Self>,
        pre2: FloatTensor<Self>,
        pre3: FloatTensor<Self>,
        has_pre3: bool,
        x_modes: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> Vec<FloatTensor<Self>> {
        // Second derivatives are not provided: the backward op runs untracked.
        let inner = |t: FloatTensor<Self>| t.into_primitive();
        B::fno_block_backward(
            inner(x),
            inner(spectral),
            inner(skip),
            inner(w1),
            inner(b1),
            inner(w2),
            inner(b2),
            inner(gate),
            inner(spectral_bias),
            has_spectral_bias,
            inner(pre1),
            inner(pre2),
            inner(pre3),
            has_pre3,
            inner(x_modes),
            inner(grad),
        )
        .into_iter()
        .map(<Self as burn::backend::AutodiffBackend>::from_inner)
        .collect()
    }
}

/// The weights of one FNO block for [`fno_block`].
#[derive(Debug, Clone)]
pub struct FnoBlockWeights<const W: usize> {
    /// Spectral weight `[c, c, M_1..M_{d-1}, K, 2]` (see [`crate::spectral_conv`]).
    pub spectral: Tensor<W>,
    /// Spectral bias `[c]`, if any.
    pub spectral_bias: Option<Tensor<1>>,
    /// Linear skip `[c, c]`, no bias.
    pub skip: Tensor<2>,
    /// Channel MLP, first layer `[h, c]`.
    pub mlp_first: Tensor<2>,
    /// Its bias `[h]`.
    pub mlp_first_bias: Tensor<1>,
    /// Channel MLP, second layer `[c, h]`.
    pub mlp_second: Tensor<2>,
    /// Its bias `[c]`.
    pub mlp_second_bias: Tensor<1>,
    /// Soft gating of the MLP's skip `[c]`.
    pub gate: Tensor<1>,
}

/// Whether [`fno_block`] runs on `device`: burn's `flex` CPU backend, with or without
/// autodiff. Elsewhere, compose the block from [`crate::spectral_conv`] and
/// [`crate::channel_linear`].
pub fn fno_block_runs_on(device: &Device) -> bool {
    *device == Device::flex()
}

/// neuraloperator's default FNO block as one op, differentiable in `x` and every weight:
///
/// ```text
/// z   = gelu(spectral(x) + b_s + W_skip x)
/// out = gelu(W_2 gelu(W_1 z + b_1) + b_2 + g * x)
/// ```
///
/// where without `activate` (the last block of a model, as neuraloperator has it) the GELUs
/// on `z` and `out` are left out; the MLP's inner GELU stays.
/// with `spectral` the convolution of [`crate::spectral_conv`] and `g * x` a per-channel scale
/// (soft gating). The same as composing those ops, in one pass per sample.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use physfm_spectral::{FnoBlockWeights, fno_block, fno_block_runs_on};
/// let device = Device::flex().autodiff();
/// assert!(fno_block_runs_on(&device));
/// let (c, h) = (4, 2);
/// let r = |shape: Vec<usize>| Tensor::<2>::random([shape[0], shape[1]], Distribution::Default, &device);
/// let v = |n: usize| Tensor::<1>::random([n], Distribution::Default, &device);
/// let weights = FnoBlockWeights {
///     spectral: Tensor::<4>::random([c, c, 3, 2], Distribution::Default, &device).require_grad(),
///     spectral_bias: Some(v(c)),
///     skip: r(vec![c, c]),
///     mlp_first: r(vec![h, c]),
///     mlp_first_bias: v(h),
///     mlp_second: r(vec![c, h]),
///     mlp_second_bias: v(c),
///     gate: v(c),
/// };
/// let x = Tensor::<3>::random([2, c, 16], Distribution::Default, &device).require_grad();
/// let y = fno_block(x.clone(), weights.clone(), true);
/// assert_eq!(y.dims(), [2, c, 16]);
/// let grads = y.sum().backward();
/// assert_eq!(x.grad(&grads).unwrap().dims(), [2, c, 16]);
/// assert_eq!(weights.spectral.grad(&grads).unwrap().dims(), [c, c, 3, 2]);
/// ```
///
/// # Panics
/// On a device where [`fno_block_runs_on`] is false, and on mismatched shapes or dtypes (the
/// message names the operand).
pub fn fno_block<const D: usize, const W: usize>(
    x: Tensor<D>,
    weights: FnoBlockWeights<W>,
    activate: bool,
) -> Tensor<D> {
    assert_eq!(
        W,
        D + 1,
        "fno_block: a rank-{D} input needs a rank-{} spectral weight, got rank {W}",
        D + 1
    );
    assert!(
        fno_block_runs_on(&x.device()),
        "fno_block: runs on the flex CPU backend only; compose spectral_conv and \
         channel_linear elsewhere"
    );
    let has_bias = weights.spectral_bias.is_some();
    let x = x.into_dispatch();
    let bias = weights
        .spectral_bias
        .map_or_else(|| x.clone(), Tensor::into_dispatch);
    let (y, ..) = <Dispatch as BlockOps>::fno_block(
        x,
        weights.spectral.into_dispatch(),
        weights.skip.into_dispatch(),
        weights.mlp_first.into_dispatch(),
        weights.mlp_first_bias.into_dispatch(),
        weights.mlp_second.into_dispatch(),
        weights.mlp_second_bias.into_dispatch(),
        weights.gate.into_dispatch(),
        bias,
        has_bias,
        activate,
    );
    Tensor::from_dispatch(y)
}
