//! # physfm-spectral
//!
//! The spectral convolution at the heart of FNO-type models, with neuraloperator's
//! semantics (`n_modes` counting negative frequencies, real FFT on the last axis, fft norm
//! "forward", bias), for any grid length, differentiable through burn's autodiff.
//!
//! [`reference`] holds the plain f64 DFT oracle that every fast path is tested against.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use physfm_spectral::SpectralConv1dConfig;
//! let device = Device::flex().autodiff();
//! let layer = SpectralConv1dConfig::new(1, 1, 4).init(&device);
//! let x = Tensor::<3>::ones([1, 1, 17], &device).require_grad();
//! let grads = layer.forward(x.clone()).sum().backward();
//! assert!(x.grad(&grads).is_some());
//! ```

mod conv1d;
pub mod reference;

pub use conv1d::{SpectralConv1d, SpectralConv1dConfig};
