//! The two-layer channel MLP `W_2 gelu(W_1 x + b_1) + b_2` (an FNO's lifting and projection)
//! as one op with its own backward pass, on the CPU: the hidden layer, the widest tensor of an
//! FNO, stays in cache and is never stored (see [`crate::cpu`]'s `mlp` module).

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, Flex};
use burn::tensor::{DType, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;

use crate::cpu::linear::LinearScalar;
use crate::cpu::mlp::{self, MlpShape, MlpWeights};
use crate::flex::{dims, host, tensor};

/// The fused channel MLP, implemented per backend (the CPU's `flex`, and autodiff over it).
///
/// `x` is `[batch, in, n]`, `w1` `[hidden, in]`, `b1` `[hidden]`, `w2` `[out, hidden]`, `b2`
/// `[out]`.
#[backend_extension(Flex, Autodiff)]
pub trait MlpOps: Backend {
    /// `W_2 gelu(W_1 x + b_1) + b_2`, `[batch, out, n]`.
    fn channel_mlp(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The gradients of `sum(grad * channel_mlp(..))` with respect to `w1`, `b1`, `w2` and
    /// `b2`, preceded by the one with respect to `x` when `need_x`.
    fn channel_mlp_backward(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_x: bool,
    ) -> Vec<FloatTensor<Self>>;
}

/// Sizes from the operands, with the checks that name what disagrees.
fn shape_of(x: &FlexTensor, w: [&FlexTensor; 4]) -> MlpShape {
    let xd = dims(x);
    assert_eq!(
        xd.len(),
        3,
        "channel_mlp: input must be [batch, in, n], got {xd:?}"
    );
    let (w1, w2) = (dims(w[0]), dims(w[2]));
    assert_eq!(
        w1.len(),
        2,
        "channel_mlp: first weight must be [hidden, in], got {w1:?}"
    );
    assert_eq!(
        w2.len(),
        2,
        "channel_mlp: second weight must be [out, hidden], got {w2:?}"
    );
    let s = MlpShape {
        batch: xd[0],
        cin: xd[1],
        hidden: w1[0],
        cout: w2[0],
        n: xd[2],
    };
    let expected = [
        ("first weight", vec![s.hidden, s.cin]),
        ("first bias", vec![s.hidden]),
        ("second weight", vec![s.cout, s.hidden]),
        ("second bias", vec![s.cout]),
    ];
    for ((what, want), t) in expected.iter().zip(w) {
        assert_eq!(
            &dims(t),
            want,
            "channel_mlp: {what} has the wrong shape for an input of {} channels",
            s.cin
        );
        assert_eq!(
            t.dtype(),
            x.dtype(),
            "channel_mlp: operands of different dtypes"
        );
    }
    s
}

fn weights<'a, T: Clone>(p: &'a [std::borrow::Cow<'a, [T]>]) -> MlpWeights<'a, T> {
    MlpWeights {
        w1: &p[0],
        b1: &p[1],
        w2: &p[2],
        b2: &p[3],
    }
}

fn flex_forward<T: LinearScalar + burn::tensor::Element>(
    x: &FlexTensor,
    w: [&FlexTensor; 4],
) -> FlexTensor {
    let s = shape_of(x, w);
    let p: Vec<_> = w.iter().map(|t| host::<T>(t)).collect();
    let y = mlp::forward(&host::<T>(x), weights(&p), s);
    tensor(y, vec![s.batch, s.cout, s.n])
}

fn flex_backward<T: LinearScalar + burn::tensor::Element>(
    x: &FlexTensor,
    w: [&FlexTensor; 4],
    grad: &FlexTensor,
    need_x: bool,
) -> Vec<FlexTensor> {
    let s = shape_of(x, w);
    assert_eq!(
        dims(grad),
        [s.batch, s.cout, s.n],
        "channel_mlp_backward: the gradient's shape differs from the output's"
    );
    let p: Vec<_> = w.iter().map(|t| host::<T>(t)).collect();
    let g = mlp::backward(&host::<T>(x), weights(&p), &host::<T>(grad), need_x, s);
    let mut out: Vec<FlexTensor> = g.x.map(|v| tensor(v, dims(x))).into_iter().collect();
    out.extend([
        tensor(g.w1, dims(w[0])),
        tensor(g.b1, dims(w[1])),
        tensor(g.w2, dims(w[2])),
        tensor(g.b2, dims(w[3])),
    ]);
    out
}

fn unsupported(dtype: DType) -> ! {
    panic!("channel_mlp: dtype {dtype:?} is not supported on the CPU (f32, f64)")
}

impl MlpOps for Flex {
    fn channel_mlp(
        x: FlexTensor,
        w1: FlexTensor,
        b1: FlexTensor,
        w2: FlexTensor,
        b2: FlexTensor,
    ) -> FlexTensor {
        let w = [&w1, &b1, &w2, &b2];
        match x.dtype() {
            DType::F32 => flex_forward::<f32>(&x, w),
            DType::F64 => flex_forward::<f64>(&x, w),
            other => unsupported(other),
        }
    }

    fn channel_mlp_backward(
        x: FlexTensor,
        w1: FlexTensor,
        b1: FlexTensor,
        w2: FlexTensor,
        b2: FlexTensor,
        grad: FlexTensor,
        need_x: bool,
    ) -> Vec<FlexTensor> {
        let w = [&w1, &b1, &w2, &b2];
        match x.dtype() {
            DType::F32 => flex_backward::<f32>(&x, w, &grad, need_x),
            DType::F64 => flex_backward::<f64>(&x, w, &grad, need_x),
            other => unsupported(other),
        }
    }
}

/// The autodiff rule: parents `x`, `w1`, `b1`, `w2`, `b2`; the state is the operands (the
/// backward pass computes the hidden layer again).
#[derive(Debug)]
struct MlpBackward;

impl<B: Backend + MlpOps> Backward<B, 5> for MlpBackward {
    type State = [FloatTensor<B>; 5];

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let [x, w1, b1, w2, b2] = ops.state;
        let need_x = ops.parents[0].is_some();
        let all = B::channel_mlp_backward(x, w1, b1, w2, b2, grad, need_x);
        // Without the input's gradient, the weights' line up with parents 1..5.
        let skip = usize::from(!need_x);
        for (parent, g) in ops.parents.into_iter().skip(skip).zip(all) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + MlpOps, C: CheckpointStrategy> MlpOps for Autodiff<B, C> {
    fn channel_mlp(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), w1.node(), b1.node(), w2.node(), b2.node()];
        let operands = [x, w1, b1, w2, b2].map(|t| t.into_primitive());
        match MlpBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let [x, w1, b1, w2, b2] = operands.clone();
                prep.finish(operands, B::channel_mlp(x, w1, b1, w2, b2))
            }
            OpsKind::UnTracked(prep) => {
                let [x, w1, b1, w2, b2] = operands;
                prep.finish(B::channel_mlp(x, w1, b1, w2, b2))
            }
        }
    }

    fn channel_mlp_backward(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_x: bool,
    ) -> Vec<FloatTensor<Self>> {
        // Second derivatives are not provided: the backward op runs untracked.
        let inner = |t: FloatTensor<Self>| t.into_primitive();
        B::channel_mlp_backward(
            inner(x),
            inner(w1),
            inner(b1),
            inner(w2),
            inner(b2),
            inner(grad),
            need_x,
        )
        .into_iter()
        .map(<Self as burn::backend::AutodiffBackend>::from_inner)
        .collect()
    }
}

/// `W_2 gelu(W_1 x + b_1) + b_2` over the channel axis of `x` `[batch, in, n]`, with `w1`
/// `[hidden, in]`, `b1` `[hidden]`, `w2` `[out, hidden]` and `b2` `[out]` (neuraloperator's
/// two-layer `ChannelMLP`, an FNO's lifting and projection), differentiable in every operand.
/// The same as two [`crate::channel_linear`] layers, without ever storing the hidden layer.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use physfm_spectral::{channel_linear, channel_mlp, fno_block_runs_on};
/// let device = Device::flex().autodiff();
/// assert!(fno_block_runs_on(&device));
/// let r2 = |o, i| Tensor::<2>::random([o, i], Distribution::Default, &device).require_grad();
/// let r1 = |o| Tensor::<1>::random([o], Distribution::Default, &device).require_grad();
/// let (w1, b1, w2, b2) = (r2(8, 3), r1(8), r2(2, 8), r1(2));
/// let x = Tensor::<3>::random([4, 3, 100], Distribution::Default, &device).require_grad();
/// let y = channel_mlp(x.clone(), w1.clone(), b1.clone(), w2.clone(), b2.clone());
/// let h = channel_linear(x.clone(), w1.clone(), Some(b1), None, true);
/// let want = channel_linear(h, w2, Some(b2), None, false);
/// assert!(y.clone().sub(want).abs().max().into_scalar::<f32>() < 1e-5);
/// let grads = y.sum().backward();
/// assert_eq!(x.grad(&grads).unwrap().dims(), [4, 3, 100]);
/// assert_eq!(w1.grad(&grads).unwrap().dims(), [8, 3]);
/// ```
///
/// # Panics
/// On a device where [`crate::fno_block_runs_on`] is false (compose two
/// [`crate::channel_linear`] layers there), and on mismatched shapes or dtypes (the message
/// names the operand).
pub fn channel_mlp(
    x: Tensor<3>,
    w1: Tensor<2>,
    b1: Tensor<1>,
    w2: Tensor<2>,
    b2: Tensor<1>,
) -> Tensor<3> {
    assert!(
        crate::fno_block_runs_on(&x.device()),
        "channel_mlp: runs on the flex CPU backend only; compose two channel_linear layers \
         elsewhere"
    );
    Tensor::from_dispatch(<Dispatch as MlpOps>::channel_mlp(
        x.into_dispatch(),
        w1.into_dispatch(),
        b1.into_dispatch(),
        w2.into_dispatch(),
        b2.into_dispatch(),
    ))
}
