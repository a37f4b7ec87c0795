//! The spectral convolution as a burn backend extension: a forward and a fused backward op per
//! backend, and the autodiff rule that ties them together.

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::backend::{Dispatch, Flex};
use burn::tensor::{DType, Tensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;

use crate::cpu;
use crate::flex::{dims, host, tensor};
use crate::geometry::Geometry;

/// The spectral convolution, implemented per backend.
///
/// `x` is `[batch, in, N_1..N_d]` (`d` in 1..=3) and `weight` is `[in, out, M_1..M_{d-1}, K, 2]`
/// (complex weights as real pairs). The forward pass is `irfftn(mix(rfftn(x)))` restricted to
/// the kept modes, with neuraloperator's conventions; see [`crate::spectral_conv`].
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait SpectralOps: Backend {
    /// Forward pass, without bias: `[batch, out, N_1..N_d]`.
    fn spectral_conv(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Backward pass of [`SpectralOps::spectral_conv`]: the gradients with respect to `x` and
    /// `weight` of `sum(grad * spectral_conv(x, weight))`. A gradient not asked for is not
    /// computed; what comes back in its place is a placeholder (empty on the CPU, zeros on
    /// cubecl devices) that the autodiff rule never registers.
    fn spectral_conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_x: bool,
        need_weight: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

fn empty(dtype: DType) -> FlexTensor {
    FlexTensor::zeros(vec![0].into(), dtype)
}

fn flex_forward<T: cpu::Real>(x: &FlexTensor, w: &FlexTensor, g: &Geometry) -> FlexTensor {
    let y = cpu::forward::<T>(&host(x), &host(w), g);
    tensor(y, g.output_shape())
}

fn flex_backward<T: cpu::Real>(
    x: &FlexTensor,
    w: &FlexTensor,
    grad: &FlexTensor,
    g: &Geometry,
    need_x: bool,
    need_w: bool,
) -> (FlexTensor, FlexTensor) {
    let gx = if need_x {
        cpu::InputGrad::New
    } else {
        cpu::InputGrad::Skip
    };
    let (gx, gw) = cpu::backward::<T>((&host(x), None), &host(w), &host(grad), g, gx, need_w);
    let dtype = x.dtype();
    (
        gx.map_or_else(|| empty(dtype), |v| tensor(v, x.layout().shape().to_vec())),
        gw.map_or_else(|| empty(dtype), |v| tensor(v, w.layout().shape().to_vec())),
    )
}

fn check_dtypes(op: &str, tensors: &[&FlexTensor]) -> DType {
    let dtype = tensors[0].dtype();
    for t in tensors {
        assert_eq!(
            t.dtype(),
            dtype,
            "{op}: all operands must share one dtype, got {:?} and {:?}",
            dtype,
            t.dtype()
        );
    }
    dtype
}

impl SpectralOps for Flex {
    fn spectral_conv(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        let g = Geometry::new(&dims(&x), &dims(&weight));
        match check_dtypes("spectral_conv", &[&x, &weight]) {
            DType::F32 => flex_forward::<f32>(&x, &weight, &g),
            DType::F64 => flex_forward::<f64>(&x, &weight, &g),
            other => {
                panic!("spectral_conv: dtype {other:?} is not supported on the CPU (f32, f64)")
            }
        }
    }

    fn spectral_conv_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        need_x: bool,
        need_weight: bool,
    ) -> (FlexTensor, FlexTensor) {
        let g = Geometry::new(&dims(&x), &dims(&weight));
        assert_eq!(
            dims(&grad),
            g.output_shape(),
            "spectral_conv_backward: the gradient's shape differs from the output's"
        );
        match check_dtypes("spectral_conv_backward", &[&x, &weight, &grad]) {
            DType::F32 => flex_backward::<f32>(&x, &weight, &grad, &g, need_x, need_weight),
            DType::F64 => flex_backward::<f64>(&x, &weight, &grad, &g, need_x, need_weight),
            other => {
                panic!("spectral_conv: dtype {other:?} is not supported on the CPU (f32, f64)")
            }
        }
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl SpectralOps for burn_cubecl::CubeBackend {
    fn spectral_conv(
        x: burn_cubecl::tensor::CubeTensor,
        weight: burn_cubecl::tensor::CubeTensor,
    ) -> burn_cubecl::tensor::CubeTensor {
        crate::gpu::forward(x, weight)
    }

    fn spectral_conv_backward(
        x: burn_cubecl::tensor::CubeTensor,
        weight: burn_cubecl::tensor::CubeTensor,
        grad: burn_cubecl::tensor::CubeTensor,
        need_x: bool,
        need_weight: bool,
    ) -> (
        burn_cubecl::tensor::CubeTensor,
        burn_cubecl::tensor::CubeTensor,
    ) {
        crate::gpu::backward(x, weight, grad, need_x, need_weight)
    }
}

impl<B: Backend + SpectralOps, C: CheckpointStrategy> SpectralOps for Autodiff<B, C> {
    fn spectral_conv(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SpectralConvBackward;

        impl<B: Backend + SpectralOps> Backward<B, 2> for SpectralConvBackward {
            type State = (burn_autodiff::NodeId, burn_autodiff::NodeId);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_w] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, w_state) = ops.state;
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
                let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
                let (gx, gw) =
                    B::spectral_conv_backward(x, w, grad, node_x.is_some(), node_w.is_some());
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, gx);
                }
                if let Some(node) = node_w {
                    grads.register::<B>(node.id, gw);
                }
            }
        }

        match SpectralConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                prep.finish(
                    (x_state, w_state),
                    B::spectral_conv(x.into_primitive(), weight.into_primitive()),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::spectral_conv(
                x.into_primitive(),
                weight.into_primitive(),
            )),
        }
    }

    fn spectral_conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_x: bool,
        need_weight: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Second derivatives are not provided: the backward op runs untracked.
        let (gx, gw) = B::spectral_conv_backward(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            need_x,
            need_weight,
        );
        (
            <Self as burn::backend::AutodiffBackend>::from_inner(gx),
            <Self as burn::backend::AutodiffBackend>::from_inner(gw),
        )
    }
}

/// The spectral convolution of `x` `[batch, in, N_1..N_d]` with complex weights
/// `[in, out, M_1..M_{d-1}, K, 2]`, on whatever backend `x` lives, differentiable in both.
///
/// Conventions (those of neuraloperator's `SpectralConv`, which this reproduces):
/// - the forward transform is `rfftn` over the `d` grid axes normalised by `1 / (N_1 ... N_d)`
///   (fft norm "forward"), the inverse `irfftn` unnormalised back to the input's grid;
/// - on the last axis the `K` lowest non-negative frequencies are kept; on every other axis
///   `M_a` frequencies centred on zero, weight index `w` holding frequency `w - M_a / 2`
///   (`-M_a/2 ..= (M_a - 1)/2`), which is where neuraloperator's `fftshift` puts them;
/// - the imaginary parts that `irfft` drops (zero and, for even `N_d`, Nyquist frequency of the
///   last axis) are dropped.
///
/// Every grid size works as long as it holds the modes: `N_a >= M_a` and `N_d / 2 + 1 >= K`.
///
/// # Panics
/// On mismatched ranks or channel counts, a grid too coarse for the modes, or weights whose
/// rank is not the input's plus one.
pub fn spectral_conv<const D: usize, const W: usize>(x: Tensor<D>, weight: Tensor<W>) -> Tensor<D> {
    assert_eq!(
        W,
        D + 1,
        "spectral_conv: a rank-{D} input needs rank-{} weights, got rank {W}",
        D + 1
    );
    Tensor::from_dispatch(<Dispatch as SpectralOps>::spectral_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}
