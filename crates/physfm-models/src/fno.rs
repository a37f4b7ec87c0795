//! The Fourier Neural Operator in 1D, in neuraloperator's default form.

use burn::module::Module;
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor, TensorData};
use physfm_spectral::{SpectralConv1d, SpectralConv1dConfig};
use serde::{Deserialize, Serialize};

use crate::channel::{ChannelLinear, ChannelMlp, SoftGating};
use crate::{ModelError, Result};

/// Configuration of an [`Fno1d`]; the defaults are neuraloperator 2.0's `FNO` defaults.
///
/// ```
/// use physfm_models::Fno1dConfig;
/// let cfg: Fno1dConfig = toml::from_str("in_channels = 1\nout_channels = 1\nn_modes = 16\nwidth = 64")?;
/// assert_eq!(cfg.n_layers, 4);
/// assert!(toml::from_str::<Fno1dConfig>("in_channels = 1\nout_channels = 1\nn_modes = 16\nwidht = 64").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fno1dConfig {
    /// Input channels (before the positional embedding is appended).
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Fourier modes, counted as neuraloperator counts them (`n_modes / 2 + 1` are kept).
    pub n_modes: usize,
    /// Hidden channels of the Fourier blocks.
    #[serde(default = "default_width")]
    pub width: usize,
    /// Number of Fourier blocks.
    #[serde(default = "default_layers")]
    pub n_layers: usize,
    /// Hidden channels of the lifting MLP, as a multiple of `width`.
    #[serde(default = "default_ratio")]
    pub lifting_ratio: f64,
    /// Hidden channels of the projection MLP, as a multiple of `width`.
    #[serde(default = "default_ratio")]
    pub projection_ratio: f64,
    /// Hidden channels of each block's channel MLP, as a multiple of `width`; 0 disables it.
    #[serde(default = "default_expansion")]
    pub channel_mlp_expansion: f64,
    /// Append the grid coordinate `j / n` as an input channel.
    #[serde(default = "default_true")]
    pub positional_embedding: bool,
}

fn default_width() -> usize {
    64
}
fn default_layers() -> usize {
    4
}
fn default_ratio() -> f64 {
    2.0
}
fn default_expansion() -> f64 {
    0.5
}
fn default_true() -> bool {
    true
}

impl Fno1dConfig {
    /// A configuration with the library defaults for everything but the sizes.
    pub fn new(in_channels: usize, out_channels: usize, n_modes: usize, width: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            n_modes,
            width,
            n_layers: default_layers(),
            lifting_ratio: default_ratio(),
            projection_ratio: default_ratio(),
            channel_mlp_expansion: default_expansion(),
            positional_embedding: true,
        }
    }

    /// Checks the configuration; errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(ModelError::Config {
                key: format!("{prefix}.{key}"),
                value,
                reason: reason.into(),
            })
        };
        for (k, v) in [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("n_modes", self.n_modes),
            ("width", self.width),
            ("n_layers", self.n_layers),
        ] {
            if v == 0 {
                return bad(k, "0".into(), "must be at least 1");
            }
        }
        for (k, v) in [
            ("lifting_ratio", self.lifting_ratio),
            ("projection_ratio", self.projection_ratio),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, v.to_string(), "must be positive");
            }
        }
        if !(self.channel_mlp_expansion.is_finite() && self.channel_mlp_expansion >= 0.0) {
            return bad(
                "channel_mlp_expansion",
                self.channel_mlp_expansion.to_string(),
                "must be non-negative",
            );
        }
        Ok(())
    }

    /// Builds the model.
    pub fn init(&self, device: &Device) -> Fno1d {
        let w = self.width;
        let lift_in = self.in_channels + usize::from(self.positional_embedding);
        let hidden = |r: f64| ((w as f64 * r).round() as usize).max(1);
        let blocks = (0..self.n_layers)
            .map(|_| {
                let mlp_hidden = (w as f64 * self.channel_mlp_expansion).round() as usize;
                FnoBlock1d {
                    spectral: SpectralConv1dConfig::new(w, w, self.n_modes).init(device),
                    skip: ChannelLinear::new(w, w, false, device),
                    mlp: (mlp_hidden > 0).then(|| ChannelMlp::new(w, mlp_hidden, w, device)),
                    mlp_skip: (mlp_hidden > 0).then(|| SoftGating::new(w, device)),
                }
            })
            .collect();
        Fno1d {
            lifting: ChannelMlp::new(lift_in, hidden(self.lifting_ratio), w, device),
            blocks,
            projection: ChannelMlp::new(
                w,
                hidden(self.projection_ratio),
                self.out_channels,
                device,
            ),
            positional_embedding: self.positional_embedding,
        }
    }
}

/// One Fourier block: `x = act(spectral(x) + W x)`, then, with a channel MLP,
/// `x = act(mlp(x) + gate * x_in)`; the last block skips the activations, as in
/// neuraloperator's `FNOBlocks`.
#[derive(Module, Debug)]
pub struct FnoBlock1d {
    /// The spectral convolution.
    pub spectral: SpectralConv1d,
    /// Linear skip connection (no bias).
    pub skip: ChannelLinear,
    /// Channel MLP.
    pub mlp: Option<ChannelMlp>,
    /// Soft-gating skip around the channel MLP.
    pub mlp_skip: Option<SoftGating>,
}

impl FnoBlock1d {
    fn forward(&self, x: Tensor<3>, last: bool) -> Tensor<3> {
        let act = |t: Tensor<3>| if last { t } else { gelu(t) };
        let gated = self.mlp_skip.as_ref().map(|g| g.forward(x.clone()));
        let y = act(self.spectral.forward(x.clone()) + self.skip.forward(x));
        match (&self.mlp, gated) {
            (Some(mlp), Some(g)) => act(mlp.forward(y) + g),
            _ => y,
        }
    }
}

/// Fourier Neural Operator on a periodic 1D grid.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_models::Fno1dConfig;
/// let device = Device::flex();
/// let fno = Fno1dConfig::new(2, 1, 8, 16).init(&device);
/// // Any resolution with at least n_modes/2+1 real-FFT modes.
/// assert_eq!(fno.forward(Tensor::<3>::zeros([3, 2, 64], &device)).dims(), [3, 1, 64]);
/// assert_eq!(fno.forward(Tensor::<3>::zeros([3, 2, 85], &device)).dims(), [3, 1, 85]);
/// ```
#[derive(Module, Debug)]
pub struct Fno1d {
    /// Lifting MLP to `width` channels.
    pub lifting: ChannelMlp,
    /// Fourier blocks.
    pub blocks: Vec<FnoBlock1d>,
    /// Projection MLP to the output channels.
    pub projection: ChannelMlp,
    /// Whether the grid coordinate is appended to the input.
    pub positional_embedding: bool,
}

impl Fno1d {
    /// Applies the operator.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, n]`
    /// - output: `[batch, out_channels, n]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = if self.positional_embedding {
            let [b, _, n] = x.dims();
            let grid: Vec<f32> = (0..n).map(|j| j as f32 / n as f32).collect();
            let grid = Tensor::<3>::from_data(TensorData::new(grid, [1, 1, n]), &x.device())
                .expand([b, 1, n]);
            Tensor::cat(vec![x, grid], 1)
        } else {
            x
        };
        let mut x = self.lifting.forward(x);
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x, i == last);
        }
        self.projection.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn parameter_count_follows_the_architecture() {
        let device = Device::flex();
        let (cin, cout, w, modes) = (1, 1, 64, 16);
        let fno = Fno1dConfig::new(cin, cout, modes, w).init(&device);
        let m = modes / 2 + 1;
        let lift = (cin + 1) * 2 * w + 2 * w + 2 * w * w + w;
        let block = w * w * m * 2 + w + w * w + (w * w / 2 + w / 2 + w / 2 * w + w) + w;
        let proj = w * 2 * w + 2 * w + 2 * w * cout + cout;
        assert_eq!(fno.num_params(), lift + 4 * block + proj);
    }

    #[test]
    fn is_translation_equivariant_without_positional_embedding() {
        let device = Device::flex();
        device.seed(1);
        let mut cfg = Fno1dConfig::new(1, 1, 8, 8);
        cfg.positional_embedding = false;
        let fno = cfg.init(&device);
        let x = Tensor::<3>::random([1, 1, 40], Distribution::Normal(0.0, 1.0), &device);
        let roll = |t: Tensor<3>| {
            Tensor::cat(
                vec![
                    t.clone().slice([0..1, 0..1, 35..40]),
                    t.slice([0..1, 0..1, 0..35]),
                ],
                2,
            )
        };
        let a = fno
            .forward(roll(x.clone()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b = roll(fno.forward(x))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-4, "{u} vs {v}");
        }
    }
}
