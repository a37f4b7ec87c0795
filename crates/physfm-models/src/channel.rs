//! Pointwise (1x1) layers acting on the channel axis of `[batch, channel, *space]` tensors.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};
use physfm_spectral::{channel_linear, channel_mlp, fno_block_runs_on};

/// A pointwise linear map over channels, as a 1x1 convolution: `y[b, o, x] = sum_i W[o, i]
/// x[b, i, x] + bias[o]`.
#[derive(Module, Debug)]
pub struct ChannelLinear {
    /// Weight `[out_channels, in_channels]`.
    pub weight: Param<Tensor<2>>,
    /// Bias `[out_channels]`.
    pub bias: Option<Param<Tensor<1>>>,
}

impl ChannelLinear {
    /// A layer initialised as PyTorch initialises `Conv1d(kernel_size=1)`: weight and bias
    /// uniform in `[-1/sqrt(in), 1/sqrt(in)]`.
    pub fn new(in_channels: usize, out_channels: usize, bias: bool, device: &Device) -> Self {
        let k = 1.0 / (in_channels as f64).sqrt();
        let weight = Tensor::<2>::random(
            [out_channels, in_channels],
            Distribution::Uniform(-k, k),
            device,
        );
        let bias = bias.then(|| {
            Param::from_tensor(Tensor::<1>::random(
                [out_channels],
                Distribution::Uniform(-k, k),
                device,
            ))
        });
        Self {
            weight: Param::from_tensor(weight),
            bias,
        }
    }

    /// Applies the map.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, n]`
    /// - output: `[batch, out_channels, n]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_fused(x, None, false)
    }

    /// `act(W x + b + residual)` as one fused op ([`physfm_spectral::channel_linear`]):
    /// `residual` `[batch, out_channels, n]` is added before the activation, `act` is the
    /// exact GELU when `gelu` is set.
    pub fn forward_fused(
        &self,
        x: Tensor<3>,
        residual: Option<Tensor<3>>,
        gelu: bool,
    ) -> Tensor<3> {
        channel_linear(
            x,
            self.weight.val(),
            self.bias.as_ref().map(Param::val),
            residual,
            gelu,
        )
    }
}

/// Two pointwise linear layers with a GELU between them (neuraloperator's `ChannelMLP` with
/// two layers).
#[derive(Module, Debug)]
pub struct ChannelMlp {
    /// First layer.
    pub first: ChannelLinear,
    /// Second layer.
    pub second: ChannelLinear,
}

impl ChannelMlp {
    /// `in -> hidden -> out`, both layers with bias.
    pub fn new(in_channels: usize, hidden: usize, out_channels: usize, device: &Device) -> Self {
        Self {
            first: ChannelLinear::new(in_channels, hidden, true, device),
            second: ChannelLinear::new(hidden, out_channels, true, device),
        }
    }

    /// Applies the MLP. On the flex CPU backend, with both biases (as [`ChannelMlp::new`]
    /// makes it), as one op that never stores the hidden layer
    /// ([`physfm_spectral::channel_mlp`]); elsewhere as [`ChannelMlp::forward_composed`].
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, n]`
    /// - output: `[batch, out_channels, n]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match (&self.first.bias, &self.second.bias) {
            (Some(b1), Some(b2)) if fno_block_runs_on(&x.device()) => channel_mlp(
                x,
                self.first.weight.val(),
                b1.val(),
                self.second.weight.val(),
                b2.val(),
            ),
            _ => self.forward_composed(x),
        }
    }

    /// The MLP as two fused linear layers ([`physfm_spectral::channel_linear`]), on any
    /// backend: the same values as [`ChannelMlp::forward`].
    pub fn forward_composed(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_fused(x, None, false)
    }

    /// `act(mlp(x) + residual)`, the residual added before the optional GELU, each layer one
    /// fused op.
    pub fn forward_fused(
        &self,
        x: Tensor<3>,
        residual: Option<Tensor<3>>,
        gelu: bool,
    ) -> Tensor<3> {
        let h = self.first.forward_fused(x, None, true);
        self.second.forward_fused(h, residual, gelu)
    }
}

/// Soft gating: a learned per-channel scale (neuraloperator's `SoftGating`, no bias).
#[derive(Module, Debug)]
pub struct SoftGating {
    /// Scale `[channels]`, initialised to one.
    pub weight: Param<Tensor<1>>,
}

impl SoftGating {
    /// Identity at initialisation.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::<1>::ones([channels], device)),
        }
    }

    /// `x * weight`, per channel.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [c] = self.weight.dims();
        x * self.weight.val().reshape([1, c, 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn channel_linear_matches_an_explicit_sum() {
        let device = Device::flex();
        let mut layer = ChannelLinear::new(2, 3, true, &device);
        layer.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]),
            &device,
        ));
        layer.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.5f32, -1.0, 0.0], [3]),
            &device,
        )));
        // x[b=0] = [[1, 2], [3, 4]] (channels x points), x[b=1] = 10 * x[b=0].
        let x = Tensor::<3>::from_data(
            TensorData::new(
                vec![1.0f32, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0],
                [2, 2, 2],
            ),
            &device,
        );
        let y = layer.forward(x).into_data().try_to_vec::<f32>().unwrap();
        // o=0: 1*x0 + 2*x1 + 0.5 -> [7.5, 10.5]; o=1: 3*x0 + 4*x1 - 1 -> [14, 21]; o=2: 5*x0 + 6*x1 -> [23, 34].
        assert_eq!(&y[..6], &[7.5, 10.5, 14.0, 21.0, 23.0, 34.0]);
        assert_eq!(&y[6..], &[70.5, 100.5, 149.0, 219.0, 230.0, 340.0]);
    }
}
