//! The Fourier Neural Operator in 1, 2 and 3 dimensions, in neuraloperator's form, with its
//! options (skips, normalisation, channel MLP, domain padding).

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use physfm_spectral::{FnoBlockWeights, channel_linear, fno_block, gelu, spectral_conv};
use physfm_spectral::{
    SpectralConv1d, SpectralConv1dConfig, SpectralConv2d, SpectralConv2dConfig, SpectralConv3d,
    SpectralConv3dConfig,
};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::channel::{ChannelLinear, ChannelMlp, SoftGating};
use crate::factorized::{Factorization, FactorizedSpectral};

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

/// Kind of a skip connection (neuraloperator's `fno_skip` and `channel_mlp_skip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipKind {
    /// A pointwise linear map without bias.
    Linear,
    /// A learned per-channel scale.
    SoftGating,
    /// The input itself.
    Identity,
}

/// Normalisation inside the Fourier blocks (neuraloperator's `norm`), applied after the
/// spectral convolution and after the channel MLP of every block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormKind {
    /// None (neuraloperator's default).
    None,
    /// Instance normalisation: each sample and channel over space, no affine parameters
    /// (`F.instance_norm`, eps 1e-5).
    Instance,
    /// Group normalisation with one group: each sample over channels and space, with a
    /// per-channel affine map (`nn.GroupNorm(1, channels)`, eps 1e-5).
    Group,
}

/// Configuration of an [`Fno`] in 1, 2 or 3 dimensions (the length of `n_modes`); the
/// defaults are neuraloperator 2.0's `FNO` defaults, and the same configuration has the
/// same number of parameters.
///
/// ```
/// use physfm_models::{FnoConfig, NormKind, SkipKind};
/// let cfg: FnoConfig = toml::from_str(r#"
///     in_channels = 1
///     out_channels = 1
///     n_modes = [12, 12]
///     width = 32
///     norm = "group"
///     fno_skip = "soft-gating"
///     domain_padding = 0.25
/// "#)?;
/// assert_eq!((cfg.n_layers, cfg.norm, cfg.fno_skip), (4, NormKind::Group, SkipKind::SoftGating));
/// // Unknown keys are errors.
/// assert!(toml::from_str::<FnoConfig>("in_channels = 1\nout_channels = 1\nn_modes = [16]\nwidht = 64").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FnoConfig {
    /// Input channels (before the positional embedding is appended).
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Fourier modes per spatial axis, counted as neuraloperator counts them (the last axis
    /// keeps `n_modes / 2 + 1`, the others `n_modes` centred on zero).
    pub n_modes: Vec<usize>,
    /// Hidden channels of the Fourier blocks (neuraloperator's `hidden_channels`).
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
    /// Append one grid-coordinate channel per axis (`j / n`, neuraloperator's "grid").
    #[serde(default = "default_true")]
    pub positional_embedding: bool,
    /// Skip connection around each spectral convolution.
    #[serde(default = "default_fno_skip")]
    pub fno_skip: SkipKind,
    /// Skip connection around each channel MLP.
    #[serde(default = "default_mlp_skip")]
    pub channel_mlp_skip: SkipKind,
    /// Normalisation in the blocks.
    #[serde(default = "default_norm")]
    pub norm: NormKind,
    /// Zero padding on both sides of every axis after the lifting, as a fraction of the
    /// grid (`round(fraction * n)` points each side, ties to even as Python rounds, removed before the projection), for
    /// non-periodic problems. A fraction, not a point count, so that other resolutions
    /// keep working.
    #[serde(default)]
    pub domain_padding: f64,
    /// How the spectral weights are stored: `dense`, or factorised as `tucker` or `cp`
    /// (TFNO).
    #[serde(default)]
    pub factorization: Factorization,
    /// Fraction of the dense weight's parameters a factorised weight keeps (tensorly's
    /// rank rule); ignored for dense weights.
    #[serde(default = "default_rank")]
    pub rank: f64,
    /// Keep the full rank on the input-channel mode of a Tucker weight (neuraloperator's
    /// `fixed_rank_modes`).
    #[serde(default)]
    pub fixed_rank_modes: bool,
}

fn default_rank() -> f64 {
    1.0
}

fn default_fno_skip() -> SkipKind {
    SkipKind::Linear
}
fn default_mlp_skip() -> SkipKind {
    SkipKind::SoftGating
}
fn default_norm() -> NormKind {
    NormKind::None
}

setters!(FnoConfig {
    with_width => width: usize = "64",
    with_n_layers => n_layers: usize = "4",
    with_lifting_ratio => lifting_ratio: f64 = "2",
    with_projection_ratio => projection_ratio: f64 = "2",
    with_channel_mlp_expansion => channel_mlp_expansion: f64 = "0.5",
    with_positional_embedding => positional_embedding: bool = "true",
    with_fno_skip => fno_skip: SkipKind = "`SkipKind::Linear`",
    with_channel_mlp_skip => channel_mlp_skip: SkipKind = "`SkipKind::SoftGating`",
    with_norm => norm: NormKind = "`NormKind::None`",
    with_domain_padding => domain_padding: f64 = "0",
    with_factorization => factorization: Factorization = "`Factorization::Dense`",
    with_rank => rank: f64 = "1",
    with_fixed_rank_modes => fixed_rank_modes: bool = "false",
});

impl FnoConfig {
    /// A configuration with neuraloperator's defaults for everything but the sizes.
    pub fn new(in_channels: usize, out_channels: usize, n_modes: &[usize], width: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            n_modes: n_modes.to_vec(),
            width,
            n_layers: default_layers(),
            lifting_ratio: default_ratio(),
            projection_ratio: default_ratio(),
            channel_mlp_expansion: default_expansion(),
            positional_embedding: true,
            fno_skip: default_fno_skip(),
            channel_mlp_skip: default_mlp_skip(),
            norm: default_norm(),
            domain_padding: 0.0,
            factorization: Factorization::Dense,
            rank: default_rank(),
            fixed_rank_modes: false,
        }
    }

    /// Checks the configuration; errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(crate::error::config_error(prefix, key, value, reason))
        };
        if self.n_modes.is_empty() || self.n_modes.len() > 3 || self.n_modes.contains(&0) {
            return bad(
                "n_modes",
                format!("{:?}", self.n_modes),
                "one to three positive mode counts, one per spatial axis",
            );
        }
        crate::error::at_least_one(
            prefix,
            &[
                ("in_channels", self.in_channels),
                ("out_channels", self.out_channels),
                ("width", self.width),
                ("n_layers", self.n_layers),
            ],
        )?;
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
        if !(self.rank.is_finite() && self.rank > 0.0) {
            return bad(
                "rank",
                self.rank.to_string(),
                "a positive fraction of the parameters",
            );
        }
        if !(self.domain_padding.is_finite() && (0.0..=1.0).contains(&self.domain_padding)) {
            return bad(
                "domain_padding",
                self.domain_padding.to_string(),
                "a fraction of the grid in [0, 1]",
            );
        }
        Ok(())
    }

    /// Builds the model (panics on an invalid configuration: call [`FnoConfig::validate`]
    /// on untrusted input).
    pub fn init(&self, device: &Device) -> Fno {
        if let Err(e) = self.validate("fno") {
            panic!("FnoConfig::init: {e}");
        }
        let w = self.width;
        let dims = self.n_modes.len();
        let lift_in = self.in_channels + if self.positional_embedding { dims } else { 0 };
        // As neuraloperator: `int(ratio * width)` for the lifting and projection,
        // `round(width * expansion)` (ties to even, as Python) for the channel MLP.
        let hidden = |r: f64| ((r * w as f64) as usize).max(1);
        let skip = |kind: SkipKind| match kind {
            SkipKind::Linear => Some(Skip::Linear(ChannelLinear::new(w, w, false, device))),
            SkipKind::SoftGating => Some(Skip::SoftGating(SoftGating::new(w, device))),
            SkipKind::Identity => None,
        };
        let norm = || match self.norm {
            NormKind::None => None,
            NormKind::Instance => Some(Norm::instance()),
            NormKind::Group => Some(Norm::group(w, device)),
        };
        // Blocks first, then lifting and projection: the order the 1D model always drew its
        // initial weights in.
        let blocks = (0..self.n_layers)
            .map(|_| {
                let m = &self.n_modes;
                let spectral = match dims {
                    _ if self.factorization != Factorization::Dense => {
                        let mut shape = vec![w, w];
                        shape.extend(&m[..dims - 1]);
                        shape.push(m[dims - 1] / 2 + 1);
                        SpectralLayer::Factorized(FactorizedSpectral::new(
                            &shape,
                            self.factorization,
                            self.rank,
                            self.fixed_rank_modes,
                            device,
                        ))
                    }
                    1 => SpectralLayer::D1(SpectralConv1dConfig::new(w, w, m[0]).init(device)),
                    2 => SpectralLayer::D2(
                        SpectralConv2dConfig::new(w, w, [m[0], m[1]]).init(device),
                    ),
                    _ => SpectralLayer::D3(
                        SpectralConv3dConfig::new(w, w, [m[0], m[1], m[2]]).init(device),
                    ),
                };
                let mlp_hidden = (w as f64 * self.channel_mlp_expansion).round_ties_even() as usize;
                FnoBlock {
                    spectral,
                    skip: skip(self.fno_skip),
                    mlp: (mlp_hidden > 0).then(|| ChannelMlp::new(w, mlp_hidden, w, device)),
                    mlp_skip: if mlp_hidden > 0 {
                        skip(self.channel_mlp_skip)
                    } else {
                        None
                    },
                    norm_spectral: norm(),
                    norm_mlp: norm(),
                }
            })
            .collect();
        Fno {
            lifting: ChannelMlp::new(lift_in, hidden(self.lifting_ratio), w, device),
            blocks,
            projection: ChannelMlp::new(
                w,
                hidden(self.projection_ratio),
                self.out_channels,
                device,
            ),
            positional_embedding: self.positional_embedding,
            domain_padding: self.domain_padding,
            dims,
        }
    }
}

/// The spectral convolution of a block, in the model's dimension.
#[derive(Module, Debug)]
pub enum SpectralLayer {
    /// 1D.
    D1(SpectralConv1d),
    /// 2D.
    D2(SpectralConv2d),
    /// 3D.
    D3(SpectralConv3d),
    /// Factorised weights (TFNO), any dimension.
    Factorized(FactorizedSpectral),
}

impl SpectralLayer {
    /// Applies the layer to `[batch, channels, points]` laid out over `space`.
    fn forward(&self, x: Tensor<3>, space: &[usize]) -> Tensor<3> {
        let [b, c, n] = x.dims();
        match self {
            Self::D1(l) => l.forward(x),
            Self::D2(l) => {
                let y = l.forward(x.reshape([b, c, space[0], space[1]]));
                let co = y.dims()[1];
                y.reshape([b, co, n])
            }
            Self::D3(l) => {
                let y = l.forward(x.reshape([b, c, space[0], space[1], space[2]]));
                let co = y.dims()[1];
                y.reshape([b, co, n])
            }
            Self::Factorized(l) => l.forward(x, space),
        }
    }

    /// The layer without its bias, and the bias (`None` where the layer has none or, for
    /// factorised weights, where it is already added), for callers that fold the bias into a
    /// later fused op.
    fn forward_unbiased(&self, x: Tensor<3>, space: &[usize]) -> (Tensor<3>, Option<Tensor<1>>) {
        let [b, c, n] = x.dims();
        let bias = |p: &Option<Param<Tensor<1>>>| p.as_ref().map(Param::val);
        match self {
            Self::D1(l) => (spectral_conv(x, l.weight.val()), bias(&l.bias)),
            Self::D2(l) => {
                let y: Tensor<4> =
                    spectral_conv(x.reshape([b, c, space[0], space[1]]), l.weight.val());
                let co = y.dims()[1];
                (y.reshape([b, co, n]), bias(&l.bias))
            }
            Self::D3(l) => {
                let y: Tensor<5> = spectral_conv(
                    x.reshape([b, c, space[0], space[1], space[2]]),
                    l.weight.val(),
                );
                let co = y.dims()[1];
                (y.reshape([b, co, n]), bias(&l.bias))
            }
            Self::Factorized(l) => (l.forward(x, space), None),
        }
    }
}

/// A skip connection with weights (the identity skip is `None`).
#[derive(Module, Debug)]
pub enum Skip {
    /// Pointwise linear map, no bias.
    Linear(ChannelLinear),
    /// Per-channel scale.
    SoftGating(SoftGating),
}

impl Skip {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Self::Linear(l) => l.forward(x),
            Self::SoftGating(g) => g.forward(x),
        }
    }
}

/// Instance or one-group normalisation of `[batch, channels, points]` (see [`NormKind`]).
#[derive(Module, Debug)]
pub struct Norm {
    /// Normalise each sample over channels and space (group norm) rather than each sample
    /// and channel over space (instance norm).
    pub over_channels: bool,
    /// Per-channel scale (group norm).
    pub weight: Option<Param<Tensor<1>>>,
    /// Per-channel shift (group norm).
    pub bias: Option<Param<Tensor<1>>>,
}

const NORM_EPS: f64 = 1e-5;

impl Norm {
    fn instance() -> Self {
        Self {
            over_channels: false,
            weight: None,
            bias: None,
        }
    }

    fn group(channels: usize, device: &Device) -> Self {
        Self {
            over_channels: true,
            weight: Some(Param::from_tensor(Tensor::ones([channels], device))),
            bias: Some(Param::from_tensor(Tensor::zeros([channels], device))),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, c, n] = x.dims();
        let y = if self.over_channels {
            let flat = x.reshape([b, c * n]);
            let (var, mean) = flat.clone().var_mean_bias(1);
            ((flat - mean) / (var + NORM_EPS).sqrt()).reshape([b, c, n])
        } else {
            let (var, mean) = x.clone().var_mean_bias(2);
            (x - mean) / (var + NORM_EPS).sqrt()
        };
        match (&self.weight, &self.bias) {
            (Some(w), Some(s)) => y * w.val().reshape([1, c, 1]) + s.val().reshape([1, c, 1]),
            _ => y,
        }
    }
}

/// One Fourier block, as neuraloperator's `FNOBlocks` (post-activation):
/// `y = act(norm(spectral(x)) + skip(x))`, then, with a channel MLP,
/// `y = act(norm(mlp(y) + mlp_skip(x)))`, without one `y = act(norm(y))` (neuraloperator
/// keeps that second norm and activation); the last block skips the activations.
#[derive(Module, Debug)]
pub struct FnoBlock {
    /// The spectral convolution.
    pub spectral: SpectralLayer,
    /// Skip connection around it (`None`: identity).
    pub skip: Option<Skip>,
    /// Channel MLP.
    pub mlp: Option<ChannelMlp>,
    /// Skip connection around the channel MLP (`None`: identity).
    pub mlp_skip: Option<Skip>,
    /// Normalisation after the spectral convolution.
    pub norm_spectral: Option<Norm>,
    /// Normalisation after the channel MLP.
    pub norm_mlp: Option<Norm>,
}

/// The layers of a block that [`fno_block`] takes (see [`FnoBlock::fused_parts`]).
#[derive(Clone, Copy)]
struct FusedParts<'a> {
    skip: &'a ChannelLinear,
    mlp: &'a ChannelMlp,
    gate: &'a SoftGating,
    b1: &'a Param<Tensor<1>>,
    b2: &'a Param<Tensor<1>>,
}

impl FnoBlock {
    fn forward(&self, x: Tensor<3>, space: &[usize], last: bool) -> Tensor<3> {
        match self.fused_parts() {
            Some(parts) if physfm_spectral::fno_block_runs_on(&x.device()) => {
                self.forward_fused(parts, x, space, !last)
            }
            _ => self.forward_composed(x, space, last),
        }
    }

    /// The layers [`fno_block`] takes, when this block is neuraloperator's default one (linear
    /// skip without bias, channel MLP with biases and a soft-gating skip, no norms, dense
    /// spectral weights); `None` for any other block.
    fn fused_parts(&self) -> Option<FusedParts<'_>> {
        let (Some(Skip::Linear(skip)), Some(mlp), Some(Skip::SoftGating(gate)), None, None) = (
            &self.skip,
            &self.mlp,
            &self.mlp_skip,
            &self.norm_spectral,
            &self.norm_mlp,
        ) else {
            return None;
        };
        let (None, Some(b1), Some(b2)) = (&skip.bias, &mlp.first.bias, &mlp.second.bias) else {
            return None;
        };
        (!matches!(self.spectral, SpectralLayer::Factorized(_))).then_some(FusedParts {
            skip,
            mlp,
            gate,
            b1,
            b2,
        })
    }

    /// The block as one [`fno_block`] op, on the layers [`FnoBlock::fused_parts`] found.
    fn forward_fused(
        &self,
        parts: FusedParts<'_>,
        x: Tensor<3>,
        space: &[usize],
        activate: bool,
    ) -> Tensor<3> {
        let FusedParts {
            skip,
            mlp,
            gate,
            b1,
            b2,
        } = parts;
        // A macro, not a closure: the spectral weight's rank differs between the arms below.
        macro_rules! weights {
            ($l:expr) => {
                FnoBlockWeights {
                    spectral: $l.weight.val(),
                    spectral_bias: $l.bias.as_ref().map(Param::val),
                    skip: skip.weight.val(),
                    mlp_first: mlp.first.weight.val(),
                    mlp_first_bias: b1.val(),
                    mlp_second: mlp.second.weight.val(),
                    mlp_second_bias: b2.val(),
                    gate: gate.weight.val(),
                }
            };
        }
        let [b, c, n] = x.dims();
        match &self.spectral {
            SpectralLayer::D1(l) => fno_block(x, weights!(l), activate),
            SpectralLayer::D2(l) => {
                fno_block(x.reshape([b, c, space[0], space[1]]), weights!(l), activate)
                    .reshape([b, c, n])
            }
            SpectralLayer::D3(l) => fno_block(
                x.reshape([b, c, space[0], space[1], space[2]]),
                weights!(l),
                activate,
            )
            .reshape([b, c, n]),
            SpectralLayer::Factorized(_) => unreachable!("refused by fused_parts"),
        }
    }

    /// The block composed of its layers' ops (any options, any backend).
    fn forward_composed(&self, x: Tensor<3>, space: &[usize], last: bool) -> Tensor<3> {
        let act = |t: Tensor<3>| if last { t } else { gelu(t) };
        let norm = |n: &Option<Norm>, t: Tensor<3>| match n {
            Some(n) => n.forward(t),
            None => t,
        };
        let skip = |s: &Option<Skip>, t: Tensor<3>| match s {
            Some(s) => s.forward(t),
            None => t,
        };
        let y = self.mlp.as_ref().map(|_| skip(&self.mlp_skip, x.clone()));
        // With a linear skip and no norm in between, the skip's product, the spectral output
        // (as its residual), the spectral bias and the activation are one fused op.
        let z = match (&self.skip, &self.norm_spectral) {
            (Some(Skip::Linear(l)), None) if l.bias.is_none() => {
                let (spectral, bias) = self.spectral.forward_unbiased(x.clone(), space);
                channel_linear(x, l.weight.val(), bias, Some(spectral), !last)
            }
            _ => {
                let fno_skip = skip(&self.skip, x.clone());
                act(norm(&self.norm_spectral, self.spectral.forward(x, space)) + fno_skip)
            }
        };
        match (&self.mlp, y) {
            (Some(mlp), Some(mlp_skip)) if self.norm_mlp.is_none() => {
                mlp.forward_fused(z, Some(mlp_skip), !last)
            }
            (Some(mlp), Some(mlp_skip)) => act(norm(&self.norm_mlp, mlp.forward(z) + mlp_skip)),
            // Without a channel MLP, neuraloperator still applies the block's second norm and
            // activation.
            _ => act(norm(&self.norm_mlp, z)),
        }
    }
}

/// Fourier Neural Operator on a periodic grid in 1, 2 or 3 dimensions (neuraloperator's
/// `FNO`), evaluable at any resolution that holds its modes.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_models::FnoConfig;
/// let device = Device::flex();
/// let fno = FnoConfig::new(2, 1, &[8], 16).init(&device);
/// // Any resolution with at least n_modes/2+1 real-FFT modes.
/// assert_eq!(fno.forward(Tensor::<3>::zeros([3, 2, 64], &device)).dims(), [3, 1, 64]);
/// assert_eq!(fno.forward(Tensor::<3>::zeros([3, 2, 85], &device)).dims(), [3, 1, 85]);
/// let fno2 = FnoConfig::new(1, 2, &[6, 6], 8).init(&device);
/// assert_eq!(fno2.forward(Tensor::<4>::zeros([2, 1, 17, 12], &device)).dims(), [2, 2, 17, 12]);
/// ```
#[derive(Module, Debug)]
pub struct Fno {
    /// Lifting MLP to `width` channels.
    pub lifting: ChannelMlp,
    /// Fourier blocks.
    pub blocks: Vec<FnoBlock>,
    /// Projection MLP to the output channels.
    pub projection: ChannelMlp,
    /// Whether grid coordinates are appended to the input.
    pub positional_embedding: bool,
    /// Domain padding, as a fraction of the grid on each side.
    pub domain_padding: f64,
    /// Spatial dimensions.
    pub dims: usize,
}

impl Fno {
    /// Applies the operator.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, *space]` with `D = 2 + dims` axes
    /// - output: `[batch, out_channels, *space]`
    ///
    /// # Panics
    /// If `D` is not `2 + dims`, or the grid (after padding) is too coarse for the modes.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.forward_with(x, &mut |_, h| h)
    }

    /// [`forward`](Self::forward) on fields whose spatial axes are flattened into one, as
    /// training windows hold them: the points are row-major over `space`. A state without
    /// spatial axes (`space` empty, an ODE such as Lotka-Volterra) runs as one point of a 1D
    /// model, where every spectral convolution is a dense map of the channels.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, points]`, `points = space.iter().product()`
    /// - output: `[batch, out_channels, points]`
    ///
    /// # Panics
    /// If `space` has neither `dims` axes nor (for a 1D model) none, or does not hold
    /// `points` points.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use physfm_models::FnoConfig;
    /// let device = Device::default();
    /// let fno = FnoConfig::new(2, 1, &[4, 3], 8).init(&device);
    /// let x = Tensor::<3>::zeros([2, 2, 8 * 6], &device);
    /// assert_eq!(fno.forward_points(x, &[8, 6]).dims(), [2, 1, 48]);
    /// ```
    pub fn forward_points(&self, x: Tensor<3>, space: &[usize]) -> Tensor<3> {
        let [b, c, n] = x.dims();
        let space: Vec<usize> = if space.is_empty() {
            vec![1]
        } else {
            space.to_vec()
        };
        assert_eq!(
            space.len(),
            self.dims,
            "Fno::forward_points: a {}D model got a {}D grid {space:?}",
            self.dims,
            space.len()
        );
        assert_eq!(
            space.iter().product::<usize>(),
            n,
            "Fno::forward_points: grid {space:?} does not hold {n} points"
        );
        match self.dims {
            1 => self.forward(x),
            2 => {
                let y = self.forward(x.reshape([b, c, space[0], space[1]]));
                let o = y.dims()[1];
                y.reshape([b, o, n])
            }
            3 => {
                let y = self.forward(x.reshape([b, c, space[0], space[1], space[2]]));
                let o = y.dims()[1];
                y.reshape([b, o, n])
            }
            d => panic!("Fno::forward_points: {d}D models are not supported"),
        }
    }

    /// [`forward`](Self::forward) with `after_block(i, h)` applied to the hidden state
    /// `[batch, width, points]` (points flattened, on the padded grid) after block `i`: the
    /// hook for feature-wise modulation (FiLM) by a time step, PDE parameters or an
    /// environment's context.
    pub fn forward_with<const D: usize>(
        &self,
        x: Tensor<D>,
        after_block: &mut dyn FnMut(usize, Tensor<3>) -> Tensor<3>,
    ) -> Tensor<D> {
        self.run(x, after_block, true)
    }

    /// [`forward_with`](Self::forward_with), with the fused block and MLP ops where they apply
    /// (`fused`) or every block and the lifting and projection composed of their layers' ops
    /// (the reference the fused ops are tested against).
    fn run<const D: usize>(
        &self,
        x: Tensor<D>,
        after_block: &mut dyn FnMut(usize, Tensor<3>) -> Tensor<3>,
        fused: bool,
    ) -> Tensor<D> {
        assert_eq!(
            D,
            self.dims + 2,
            "Fno::forward: a {}D model takes [batch, channels, *space] with {} axes, got {D}",
            self.dims,
            self.dims + 2
        );
        let shape = x.dims();
        let (b, space) = (shape[0], shape[2..].to_vec());
        let n: usize = space.iter().product();
        let mut x = x.reshape([b, shape[1], n]);
        if self.positional_embedding {
            let mut grid = Vec::with_capacity(self.dims * n);
            for axis in 0..self.dims {
                let inner: usize = space[axis + 1..].iter().product();
                grid.extend(
                    (0..n).map(|p| ((p / inner) % space[axis]) as f32 / space[axis] as f32),
                );
            }
            let grid =
                Tensor::<3>::from_data(TensorData::new(grid, [1, self.dims, n]), &x.device())
                    .expand([b, self.dims, n]);
            x = Tensor::cat(vec![x, grid], 1);
        }
        let mlp = |m: &ChannelMlp, x| {
            if fused {
                m.forward(x)
            } else {
                m.forward_composed(x)
            }
        };
        let mut x = mlp(&self.lifting, x);
        let pads: Vec<usize> = space
            .iter()
            .map(|&s| (self.domain_padding * s as f64).round_ties_even() as usize)
            .collect();
        let padded: Vec<usize> = space.iter().zip(&pads).map(|(s, p)| s + 2 * p).collect();
        if pads.iter().any(|&p| p > 0) {
            x = pad_zeros::<D>(x, &space, &pads);
        }
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            let y = if fused {
                block.forward(x, &padded, i == last)
            } else {
                block.forward_composed(x, &padded, i == last)
            };
            x = after_block(i, y);
        }
        if pads.iter().any(|&p| p > 0) {
            x = unpad::<D>(x, &padded, &pads);
        }
        let y = mlp(&self.projection, x);
        let co = y.dims()[1];
        let mut out = shape;
        out[1] = co;
        y.reshape(out)
    }
}

/// `config.json` of a bare FNO's model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FnoFile {
    kind: String,
    config: FnoConfig,
}

/// The `kind` of a bare FNO's model directory.
pub const FNO_KIND: &str = "physfm.fno";

impl Fno {
    /// Saves the model as a model directory (`config.json` with `config`, `model.safetensors`),
    /// atomically; `config` must be the one the model was built from.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use physfm_models::{Fno, FnoConfig};
    /// let device = Device::flex();
    /// let config = FnoConfig::new(1, 1, &[6, 6], 8);
    /// let fno = config.init(&device);
    /// let dir = std::env::temp_dir().join(format!("physfm-fno-doc-{}", std::process::id()));
    /// fno.save(&config, &dir)?;
    /// let (back, loaded) = Fno::load(&dir, &device)?;
    /// assert_eq!(back, config);
    /// let x = Tensor::<4>::ones([1, 1, 12, 12], &device);
    /// assert_eq!(fno.forward(x.clone()).into_data(), loaded.forward(x).into_data());
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), physfm_models::ModelError>(())
    /// ```
    pub fn save(&self, config: &FnoConfig, dir: &std::path::Path) -> Result<()> {
        let file = FnoFile {
            kind: FNO_KIND.into(),
            config: config.clone(),
        };
        crate::modeldir::save(dir, &file, self)
    }

    /// Loads a model directory written by [`Fno::save`].
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<(FnoConfig, Fno)> {
        let file: FnoFile = crate::modeldir::description(dir, FNO_KIND)?;
        file.config.validate("config")?;
        let fno = crate::modeldir::weights(dir, file.config.init(device))?;
        Ok((file.config, fno))
    }
}

/// Views `[b, c, prod(space)]` as `[b, c, *space]`, applies `f`, and flattens the result.
fn on_grid<const D: usize>(
    x: Tensor<3>,
    space: &[usize],
    f: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<3> {
    let [b, c, _] = x.dims();
    let mut dims = [0usize; D];
    dims[0] = b;
    dims[1] = c;
    dims[2..].copy_from_slice(space);
    let t = f(x.reshape(dims));
    let n: usize = t.dims()[2..].iter().product();
    t.reshape([b, c, n])
}

/// Zero-pads `[b, c, prod(space)]` by `pads[k]` points on both sides of axis `k`.
fn pad_zeros<const D: usize>(x: Tensor<3>, space: &[usize], pads: &[usize]) -> Tensor<3> {
    on_grid::<D>(x, space, |mut t| {
        for (k, &p) in pads.iter().enumerate().filter(|(_, p)| **p > 0) {
            let mut zd = t.dims();
            zd[k + 2] = p;
            let z = Tensor::<D>::zeros(zd, &t.device());
            t = Tensor::cat(vec![z.clone(), t, z], k + 2);
        }
        t
    })
}

/// Removes what [`pad_zeros`] added.
fn unpad<const D: usize>(x: Tensor<3>, padded: &[usize], pads: &[usize]) -> Tensor<3> {
    on_grid::<D>(x, padded, |mut t| {
        for (k, &p) in pads.iter().enumerate().filter(|(_, p)| **p > 0) {
            t = t.narrow(k + 2, p, padded[k] - 2 * p);
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn parameter_count_follows_the_architecture() {
        let device = Device::flex();
        let (cin, cout, w, modes) = (1, 1, 64, 16);
        let fno = FnoConfig::new(cin, cout, &[modes], w).init(&device);
        let m = modes / 2 + 1;
        let lift = (cin + 1) * 2 * w + 2 * w + 2 * w * w + w;
        let block = w * w * m * 2 + w + w * w + (w * w / 2 + w / 2 + w / 2 * w + w) + w;
        let proj = w * 2 * w + 2 * w + 2 * w * cout + cout;
        assert_eq!(fno.num_params(), lift + 4 * block + proj);
    }

    #[test]
    fn parameter_counts_equal_neuraloperators() {
        // `sum(p.numel() * (2 if complex else 1))` of neuraloperator 2.0's `FNO` with the
        // same arguments (xtask/.venv, 2026-11-29).
        let device = Device::flex();
        let count = |c: FnoConfig| c.init(&device).num_params();
        assert_eq!(count(FnoConfig::new(1, 1, &[16], 64)), 345_665);
        assert_eq!(count(FnoConfig::new(1, 1, &[12, 12], 32)), 701_281);
        let mut c = FnoConfig::new(2, 3, &[8, 6, 4], 16);
        c.n_layers = 3;
        c.norm = NormKind::Group;
        c.fno_skip = SkipKind::SoftGating;
        c.channel_mlp_skip = SkipKind::Linear;
        c.lifting_ratio = 1.5;
        c.projection_ratio = 4.0;
        c.channel_mlp_expansion = 0.25;
        c.domain_padding = 0.125;
        assert_eq!(count(c), 224_511);
        let mut c = FnoConfig::new(3, 2, &[6, 5], 12);
        c.n_layers = 2;
        c.positional_embedding = false;
        c.fno_skip = SkipKind::Identity;
        c.channel_mlp_expansion = 0.0;
        c.norm = NormKind::Instance;
        assert_eq!(count(c), 11_150);
    }

    fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// The largest difference between two tensors' values, relative to the larger's largest
    /// magnitude.
    fn relative_gap<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let a = a.into_data().try_to_vec::<f32>().unwrap();
        let b = b.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        let scale = a.iter().chain(&b).fold(0.0f32, |m, v| m.max(v.abs()));
        let gap = a
            .iter()
            .zip(&b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        gap / scale.max(f32::MIN_POSITIVE)
    }

    /// The fused block op against the same blocks composed of their layers' ops: the output
    /// and the gradient of every parameter and of the input, in 1D and 2D, with and without
    /// the spectral bias, for one sample (products split over the pool) and several.
    fn fused_blocks_match_composed<const D: usize>(
        config: FnoConfig,
        shape: [usize; D],
        edit: impl FnOnce(&mut Fno),
    ) {
        let device = Device::flex().autodiff();
        device.seed(11);
        let mut fno = config.init(&device);
        edit(&mut fno);
        // Non-trivial gates and biases (they start at one and small values).
        fno = fno.map(&mut Perturb {
            device: device.clone(),
        });
        let x = random(shape, &device).require_grad();
        let target = random(
            {
                let mut s = shape;
                s[1] = config.out_channels;
                s
            },
            &device,
        );
        let mut outputs = Vec::new();
        let mut grads = Vec::new();
        for fused in [true, false] {
            let y = fno.run(x.clone(), &mut |_, h| h, fused);
            let loss = (y.clone() - target.clone()).square().mean();
            let g = loss.backward();
            let mut collect = Collect {
                grads: &g,
                out: Vec::new(),
            };
            fno.visit(&mut collect);
            collect.out.push(x.grad(&g).unwrap().reshape([-1]));
            outputs.push(y.inner());
            grads.push(collect.out);
        }
        let gap = relative_gap(outputs[0].clone(), outputs[1].clone());
        assert!(gap < 1e-5, "outputs differ by {gap:e}");
        assert_eq!(grads[0].len(), grads[1].len());
        for (k, (a, b)) in grads[0].iter().zip(&grads[1]).enumerate() {
            let gap = relative_gap(a.clone(), b.clone());
            assert!(gap < 1e-4, "gradient {k} differs by {gap:e}");
        }
    }

    struct Perturb {
        device: Device,
    }

    impl burn::module::ModuleMapper for Perturb {
        fn map_float<const K: usize>(&mut self, param: Param<Tensor<K>>) -> Param<Tensor<K>> {
            let noise = Tensor::<K>::random(
                param.val().shape(),
                Distribution::Normal(0.0, 0.3),
                &self.device,
            );
            param.map(|t| (t + noise).detach().require_grad())
        }
    }

    struct Collect<'a> {
        grads: &'a burn::tensor::Gradients,
        out: Vec<Tensor<1>>,
    }

    impl burn::module::ModuleVisitor for Collect<'_> {
        fn visit_float<const K: usize>(&mut self, param: &Param<Tensor<K>>) {
            let g = param
                .val()
                .grad(self.grads)
                .expect("every parameter gets a gradient");
            self.out.push(g.reshape([-1]));
        }
    }

    #[test]
    fn the_fused_block_matches_the_composed_block_in_1d() {
        fused_blocks_match_composed(FnoConfig::new(2, 1, &[6], 8), [3, 2, 20], |_| ());
        // Without the spectral bias in one block.
        fused_blocks_match_composed(FnoConfig::new(1, 2, &[5], 6), [1, 1, 17], |fno| {
            if let SpectralLayer::D1(l) = &mut fno.blocks[1].spectral {
                l.bias = None;
            }
        });
    }

    #[test]
    fn the_fused_block_matches_the_composed_block_in_2d_and_3d() {
        fused_blocks_match_composed(FnoConfig::new(1, 1, &[6, 4], 8), [2, 1, 12, 9], |_| ());
        fused_blocks_match_composed(FnoConfig::new(1, 1, &[4, 4, 2], 4), [3, 1, 6, 5, 4], |_| ());
    }

    #[test]
    fn two_and_three_dimensional_models_run_at_any_resolution_with_every_option() {
        let device = Device::flex();
        device.seed(3);
        let mut c = FnoConfig::new(2, 3, &[6, 4], 8);
        c.norm = NormKind::Group;
        c.domain_padding = 0.25;
        c.fno_skip = SkipKind::SoftGating;
        let fno = c.init(&device);
        for (h, w) in [(16, 12), (33, 7), (8, 20)] {
            let y = fno.forward(random([2, 2, h, w], &device));
            assert_eq!(y.dims(), [2, 3, h, w]);
            let v = y.into_data().try_to_vec::<f32>().unwrap();
            assert!(v.iter().all(|x| x.is_finite()));
        }
        let mut c = FnoConfig::new(1, 1, &[4, 4, 4], 4);
        c.norm = NormKind::Instance;
        c.channel_mlp_skip = SkipKind::Identity;
        let fno = c.init(&device);
        assert_eq!(
            fno.forward(random([1, 1, 6, 5, 7], &device)).dims(),
            [1, 1, 6, 5, 7]
        );
        let bad = FnoConfig::new(1, 1, &[4, 4, 4, 4], 4).validate("model");
        assert!(bad.unwrap_err().to_string().contains("model.n_modes"));
        let mut c = FnoConfig::new(1, 1, &[4], 4);
        c.domain_padding = 1.5;
        assert!(
            c.validate("m")
                .unwrap_err()
                .to_string()
                .contains("m.domain_padding")
        );
    }

    #[test]
    fn instance_and_group_norms_standardise() {
        let device = Device::flex();
        device.seed(5);
        let x = random([2, 3, 50], &device) * 3.0 + 1.0;
        let inst = Norm::instance().forward(x.clone());
        let (var, mean) = inst.var_mean_bias(2);
        for v in var.into_data().try_to_vec::<f32>().unwrap() {
            assert!((v - 1.0).abs() < 1e-3, "{v}");
        }
        for m in mean.into_data().try_to_vec::<f32>().unwrap() {
            assert!(m.abs() < 1e-5, "{m}");
        }
        let group = Norm::group(3, &device).forward(x);
        let (var, mean) = group.reshape([2, 150]).var_mean_bias(1);
        for (v, m) in var
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .zip(mean.into_data().try_to_vec::<f32>().unwrap())
        {
            assert!((v - 1.0).abs() < 1e-3 && m.abs() < 1e-5, "{v} {m}");
        }
    }

    #[test]
    fn domain_padding_keeps_the_shape_and_changes_the_output() {
        let device = Device::flex();
        device.seed(9);
        let mut c = FnoConfig::new(1, 1, &[8], 8);
        let plain = c.init(&device);
        c.domain_padding = 0.25;
        let padded = c.init(&device);
        // The same weights with and without padding.
        let padded = padded.load_record(plain.clone().into_record());
        let x = random([1, 1, 32], &device);
        let a = plain
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b = padded.forward(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(b.len(), 32);
        let diff: f32 = a.iter().zip(&b).map(|(u, v)| (u - v).abs()).sum();
        assert!(
            diff > 1e-3,
            "padding must change a non-periodic model's output"
        );
    }

    #[test]
    fn is_translation_equivariant_without_positional_embedding() {
        let device = Device::flex();
        device.seed(1);
        let mut cfg = FnoConfig::new(1, 1, &[8], 8);
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
