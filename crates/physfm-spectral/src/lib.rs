//! # physfm-spectral
//!
//! The spectral convolution at the heart of FNO-type models, in 1, 2 and 3 dimensions, as a
//! burn op with its own backward pass, for any grid size (odd, prime, 85, 94, 1000 ...).
//!
//! - [`spectral_conv`]: the op on burn tensors, with neuraloperator's `SpectralConv` semantics
//!   (`n_modes` counting negative frequencies, real FFT on the last axis, fft norm "forward").
//! - [`SpectralConv1d`], [`SpectralConv2d`], [`SpectralConv3d`]: the layers, with bias and
//!   neuraloperator's initialisation.
//! - [`channel_linear`]: the pointwise (1x1) linear layer `act(W x + b + r)` as one fused op
//!   with its own backward ([`ChannelOps`]), the rest of an FNO block's work.
//! - [`channel_mlp`]: the two-layer channel MLP `W_2 gelu(W_1 x + b_1) + b_2` (an FNO's
//!   lifting and projection) as one op on the CPU ([`MlpOps`]) that never stores its hidden
//!   layer.
//! - [`fno_block`]: neuraloperator's default FNO block (spectral convolution, linear skip,
//!   channel MLP with soft gating, GELUs) as one op with its own backward on the CPU
//!   ([`BlockOps`]), one pass per sample over everything pointwise.
//! - [`SpectralOps`]: the backend extension (`#[backend_extension]`) that carries the op. The
//!   CPU implementation for burn's `flex` backend lives in [`cpu`]; the autodiff rule calls one
//!   fused backward op that returns both gradients.
//! - [`reference`]: the plain f64 oracle every fast path is tested against.
//! - Features `wgpu` and `cuda`: cubecl kernels for burn's GPU backends (the same kernels;
//!   `wgpu` is tested on Mesa's software Vulkan and was timed on an H200 through Vulkan).
//!   `examples/device_check.rs` checks and times any device, and `scripts/gpu_check.sh` runs
//!   it side by side with neuraloperator on PyTorch's cuFFT (docs/performance.md).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use physfm_spectral::SpectralConv2dConfig;
//! let device = Device::flex().autodiff();
//! let layer = SpectralConv2dConfig::new(2, 4, [12, 12]).init(&device);
//! assert_eq!(layer.kept_modes(), [12, 7]);
//! // Any resolution that holds the modes: 85 x 94 here.
//! let x = Tensor::<4>::ones([1, 2, 85, 94], &device).require_grad();
//! let grads = layer.forward(x.clone()).sum().backward();
//! assert_eq!(x.grad(&grads).unwrap().dims(), [1, 2, 85, 94]);
//! ```

mod block;
mod channel;
pub mod cpu;
mod flex;
mod geometry;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod gpu;
mod layers;
mod mlp;
mod ops;
mod pointwise;
pub mod reference;

pub use block::{BlockOps, FnoBlockWeights, fno_block, fno_block_runs_on};
pub use channel::{ChannelOps, channel_linear};
pub use layers::{
    SpectralConv1d, SpectralConv1dConfig, SpectralConv2d, SpectralConv2dConfig, SpectralConv3d,
    SpectralConv3dConfig,
};
pub use mlp::{MlpOps, channel_mlp};
pub use ops::{SpectralOps, spectral_conv};
pub use pointwise::{PointwiseOps, erf_f32, exp_f32, gelu};
