//! `SpectralConv1d`, `SpectralConv2d`, `SpectralConv3d`: the Fourier layers as burn modules.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::ops::spectral_conv;

fn yes() -> bool {
    true
}

macro_rules! spectral_layer {
    (
        $(#[$doc:meta])*
        $layer:ident, $config:ident, d = $d:literal, x = $xr:literal, w = $wr:literal,
        modes: $modes_ty:ty, |$c:ident| $modes:expr, example_modes: $ex:expr, example_len: $len:literal
    ) => {
        #[doc = concat!("Configuration of a [`", stringify!($layer), "`].")]
        ///
        /// `n_modes` counts modes as neuraloperator does, negative frequencies included: the
        /// last axis (real FFT) keeps `n_modes / 2 + 1` non-negative frequencies, every other
        /// axis keeps `n_modes` frequencies centred on zero. It is never changed behind the
        /// user's back: [`kept_modes`](Self::kept_modes) says what is kept, and the layer
        /// refuses a grid too coarse to hold those modes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $config {
            /// Input channels.
            pub in_channels: usize,
            /// Output channels.
            pub out_channels: usize,
            /// Modes per axis, counted as neuraloperator counts them.
            pub n_modes: $modes_ty,
            /// Whether a per-output-channel bias is added (neuraloperator's default: yes).
            #[serde(default = "yes")]
            pub bias: bool,
        }

        impl $config {
            /// A configuration with bias.
            pub fn new(in_channels: usize, out_channels: usize, n_modes: $modes_ty) -> Self {
                Self {
                    in_channels,
                    out_channels,
                    n_modes,
                    bias: true,
                }
            }

            /// Modes kept per axis: `n_modes` on each axis but the last, `n_modes / 2 + 1` on
            /// the last. These are the weight tensor's mode dimensions.
            pub fn kept_modes(&self) -> [usize; $d] {
                let $c = self;
                let mut m: [usize; $d] = $modes;
                m[$d - 1] = m[$d - 1] / 2 + 1;
                m
            }

            /// Builds the layer with neuraloperator's initialisation: complex weights from a
            /// complex normal of standard deviation `sqrt(2 / (in + out))` (each of the real
            /// and imaginary parts with variance `1 / (in + out)`), bias from the real normal of
            /// the same standard deviation.
            pub fn init(&self, device: &Device) -> $layer {
                let std = (2.0 / (self.in_channels + self.out_channels) as f64).sqrt();
                let m = self.kept_modes();
                let mut shape = [0usize; $wr];
                shape[0] = self.in_channels;
                shape[1] = self.out_channels;
                shape[2..2 + $d].copy_from_slice(&m);
                shape[$wr - 1] = 2;
                let weight = Tensor::<$wr>::random(
                    shape,
                    Distribution::Normal(0.0, std / std::f64::consts::SQRT_2),
                    device,
                );
                let bias = self.bias.then(|| {
                    Param::from_tensor(Tensor::<1>::random(
                        [self.out_channels],
                        Distribution::Normal(0.0, std),
                        device,
                    ))
                });
                $layer {
                    weight: Param::from_tensor(weight),
                    bias,
                }
            }
        }

        $(#[$doc])*
        ///
        /// ```
        /// use burn::tensor::{Device, Tensor};
        #[doc = concat!("use physfm_spectral::", stringify!($config), ";")]
        /// let device = Device::flex().autodiff();
        #[doc = concat!("let layer = ", stringify!($config), "::new(3, 5, ", stringify!($ex), ").init(&device);")]
        #[doc = concat!("let x = Tensor::<", stringify!($xr), ">::ones([2, 3", $len, "], &device).require_grad();")]
        /// let y = layer.forward(x.clone());
        #[doc = concat!("assert_eq!(y.dims(), [2, 5", $len, "]);")]
        /// let grads = y.sum().backward();
        /// assert!(x.grad(&grads).is_some() && layer.weight.grad(&grads).is_some());
        /// ```
        #[derive(Module, Debug)]
        pub struct $layer {
            #[doc = concat!("Complex weights as real pairs: `[in, out, ",
                "kept modes per axis (", stringify!($d), "), 2]`.")]
            pub weight: Param<Tensor<$wr>>,
            /// Bias `[out_channels]`.
            pub bias: Option<Param<Tensor<1>>>,
        }

        impl $layer {
            /// Applies the layer (see [`spectral_conv`](crate::spectral_conv) for the exact
            /// definition), then adds the bias.
            ///
            /// # Shapes
            #[doc = concat!("- input: `[batch, in_channels, N_1..N_", stringify!($d), "]`, any sizes that hold the kept modes")]
            /// - output: `[batch, out_channels, ...]` on the same grid
            ///
            /// # Panics
            /// If the grid cannot hold the kept modes or the channel count differs from the
            /// weights'.
            pub fn forward(&self, x: Tensor<$xr>) -> Tensor<$xr> {
                let y = spectral_conv(x, self.weight.val());
                match &self.bias {
                    Some(bias) => {
                        let mut shape = [1usize; $xr];
                        shape[1] = bias.dims()[0];
                        y + bias.val().reshape(shape)
                    }
                    None => y,
                }
            }

            /// Kept modes per axis, read from the weights.
            pub fn kept_modes(&self) -> [usize; $d] {
                let dims = self.weight.dims();
                let mut m = [0usize; $d];
                m.copy_from_slice(&dims[2..2 + $d]);
                m
            }
        }
    };
}

spectral_layer!(
    /// Spectral convolution in 1D: `[batch, in, n]` to `[batch, out, n]`, any `n` with
    /// `n / 2 + 1 >= kept modes` (odd, prime, 85, 94, 1000 ...).
    SpectralConv1d, SpectralConv1dConfig, d = 1, x = 3, w = 4,
    modes: usize, |c| [c.n_modes], example_modes: 8, example_len: ", 85"
);

spectral_layer!(
    /// Spectral convolution in 2D: `[batch, in, n1, n2]` to `[batch, out, n1, n2]`.
    SpectralConv2d, SpectralConv2dConfig, d = 2, x = 4, w = 5,
    modes: [usize; 2], |c| c.n_modes, example_modes: [6, 6], example_len: ", 17, 94"
);

spectral_layer!(
    /// Spectral convolution in 3D: `[batch, in, n1, n2, n3]` to `[batch, out, n1, n2, n3]`.
    SpectralConv3d, SpectralConv3dConfig, d = 3, x = 5, w = 6,
    modes: [usize; 3], |c| c.n_modes, example_modes: [4, 4, 4], example_len: ", 9, 8, 7"
);
