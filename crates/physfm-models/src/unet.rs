//! The modern U-Net used as a baseline by PDEArena (Gupta & Brandstetter 2022, their
//! `Unetmod`) and PDEBench: residual blocks with group norm, a scale-and-shift conditioning
//! on scalars (time step, PDE parameters), strided-convolution down-sampling and
//! transposed-convolution up-sampling, with DDPM-style skips (every block's output on the way
//! down feeds one block on the way up).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use physfm_spectral::gelu;
use serde::{Deserialize, Serialize};

use crate::surrogate::{GridFn, on_grid};
use crate::{Conditioning, Dynamics, Parts, Result, Surrogate, last_frame};

fn default_hidden() -> usize {
    64
}
fn default_mults() -> Vec<usize> {
    vec![1, 2, 2, 4]
}
fn default_blocks() -> usize {
    2
}
fn default_groups() -> usize {
    8
}

/// Configuration of a [`UNet`] in 1 or 2 dimensions. The defaults follow the layout of
/// PDEArena's `Unetmod-64` (hidden 64, channel multipliers 1, 2, 2, 4, two residual blocks
/// per level, no attention): 18.2 M parameters with 2 input and output channels and one
/// conditioning scalar. The count has not been checked against PDEArena's own code.
/// Padding is with zeros (burn's convolutions have no circular mode).
///
/// ```
/// use physfm_models::UNetConfig;
/// let cfg: UNetConfig = toml::from_str("in_channels = 2\nout_channels = 2\ndims = 2\ncond_dims = 1")?;
/// assert_eq!((cfg.hidden, cfg.channel_mults.clone(), cfg.blocks_per_level), (64, vec![1, 2, 2, 4], 2));
/// assert_eq!(cfg.multiple(), 8); // each axis is padded to a multiple of 2^(levels - 1)
/// assert!(toml::from_str::<UNetConfig>("in_channels = 1\nout_channels = 1\ndims = 2\nhiden = 3").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Spatial dimensions (1 or 2).
    pub dims: usize,
    /// Channels at the first level.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Channel multiplier per level (one level per entry; each level after the first halves
    /// the grid).
    #[serde(default = "default_mults")]
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level on the way down (the way up has one more).
    #[serde(default = "default_blocks")]
    pub blocks_per_level: usize,
    /// Groups of the group norms (must divide every level's channel count).
    #[serde(default = "default_groups")]
    pub norm_groups: usize,
    /// Conditioning scalars per sample (0: none).
    #[serde(default)]
    pub cond_dims: usize,
}

setters!(UNetConfig {
    with_hidden => hidden: usize = "64",
    with_channel_mults => channel_mults: Vec<usize> = "`[1, 2, 2, 4]`",
    with_blocks_per_level => blocks_per_level: usize = "2",
    with_norm_groups => norm_groups: usize = "8",
    with_cond_dims => cond_dims: usize = "0",
});

impl UNetConfig {
    /// A configuration with the defaults for everything but the channels and dimensions.
    pub fn new(in_channels: usize, out_channels: usize, dims: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            dims,
            hidden: default_hidden(),
            channel_mults: default_mults(),
            blocks_per_level: default_blocks(),
            norm_groups: default_groups(),
            cond_dims: 0,
        }
    }

    /// Every spatial axis is zero-padded up to a multiple of this (2^(levels - 1)), and the
    /// output cropped back.
    pub fn multiple(&self) -> usize {
        1 << self.channel_mults.len().saturating_sub(1)
    }

    /// Checks the configuration; errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(crate::error::config_error(prefix, key, value, reason))
        };
        if !(1..=2).contains(&self.dims) {
            return bad("dims", self.dims.to_string(), "1 or 2");
        }
        crate::error::at_least_one(
            prefix,
            &[
                ("in_channels", self.in_channels),
                ("out_channels", self.out_channels),
                ("hidden", self.hidden),
                ("blocks_per_level", self.blocks_per_level),
                ("norm_groups", self.norm_groups),
            ],
        )?;
        if self.channel_mults.is_empty() || self.channel_mults.contains(&0) {
            return bad(
                "channel_mults",
                format!("{:?}", self.channel_mults),
                "one positive multiplier per level",
            );
        }
        for m in &self.channel_mults {
            if !(self.hidden * m).is_multiple_of(self.norm_groups) {
                return bad(
                    "norm_groups",
                    self.norm_groups.to_string(),
                    &format!("must divide every level's channels ({})", self.hidden * m),
                );
            }
        }
        Ok(())
    }

    /// Builds the model (panics on an invalid configuration: call
    /// [`UNetConfig::validate`] on untrusted input).
    pub fn init(&self, device: &Device) -> UNet {
        if let Err(e) = self.validate("unet") {
            panic!("UNetConfig::init: {e}");
        }
        let d = self.dims;
        let h = self.hidden;
        let emb = 4 * h;
        let conv = |ci: usize, co: usize| conv3(ci, co, d, device);
        let block = |ci: usize, co: usize| ResBlock::new(ci, co, self, emb, device);
        let chans: Vec<usize> = self.channel_mults.iter().map(|m| h * m).collect();
        let levels = chans.len();
        let mut down = Vec::new();
        let mut skips = vec![h];
        let mut c = h;
        for (i, &co) in chans.iter().enumerate() {
            let mut blocks = Vec::new();
            for _ in 0..self.blocks_per_level {
                blocks.push(block(c, co));
                c = co;
                skips.push(c);
            }
            let resample = (i + 1 < levels).then(|| strided(c, d, device));
            if resample.is_some() {
                skips.push(c);
            }
            down.push(DownLevel { blocks, resample });
        }
        let middle = vec![block(c, c), block(c, c)];
        let mut up = Vec::new();
        for (i, &co) in chans.iter().enumerate().rev() {
            let mut blocks = Vec::new();
            for _ in 0..=self.blocks_per_level {
                let s = skips.pop().expect("one skip per down stage");
                blocks.push(block(c + s, co));
                c = co;
            }
            up.push(UpLevel {
                blocks,
                resample: (i > 0).then(|| transposed(c, d, device)),
            });
        }
        UNet {
            config: self.clone(),
            input: conv(self.in_channels, h),
            cond: (self.cond_dims > 0).then(|| CondEmbedding {
                first: LinearConfig::new(self.cond_dims, emb).init(device),
                second: LinearConfig::new(emb, emb).init(device),
            }),
            down,
            middle,
            up,
            out_norm: GroupNormConfig::new(self.norm_groups, h).init(device),
            output: conv(h, self.out_channels),
            dims: d,
            multiple: self.multiple(),
        }
    }
}

/// A 3-point (1D) or 3x3 (2D) convolution with zero padding of one, as a `Conv2d` on
/// `[batch, channel, 1, n]` in 1D.
fn conv3(ci: usize, co: usize, dims: usize, device: &Device) -> Conv2d {
    let (k, p) = if dims == 1 {
        ([1, 3], PaddingConfig2d::Explicit(0, 1, 0, 1))
    } else {
        ([3, 3], PaddingConfig2d::Explicit(1, 1, 1, 1))
    };
    Conv2dConfig::new([ci, co], k).with_padding(p).init(device)
}

/// Halves the grid: a stride-2 3-point (3x3) convolution.
fn strided(c: usize, dims: usize, device: &Device) -> Conv2d {
    let (k, s, p) = if dims == 1 {
        ([1, 3], [1, 2], PaddingConfig2d::Explicit(0, 1, 0, 1))
    } else {
        ([3, 3], [2, 2], PaddingConfig2d::Explicit(1, 1, 1, 1))
    };
    Conv2dConfig::new([c, c], k)
        .with_stride(s)
        .with_padding(p)
        .init(device)
}

/// Doubles the grid: a stride-2 transposed convolution of kernel 4, padding 1 (PDEArena's
/// `Upsample`).
fn transposed(c: usize, dims: usize, device: &Device) -> ConvTranspose2d {
    let (k, s, p) = if dims == 1 {
        ([1, 4], [1, 2], [0, 1])
    } else {
        ([4, 4], [2, 2], [1, 1])
    };
    ConvTranspose2dConfig::new([c, c], k)
        .with_stride(s)
        .with_padding(p)
        .init(device)
}

/// The conditioning MLP: scalars to the embedding every block reads.
#[derive(Module, Debug)]
pub struct CondEmbedding {
    /// First layer.
    pub first: Linear,
    /// Second layer.
    pub second: Linear,
}

/// A residual block: `h = conv(gelu(norm(x)))`, then, with conditioning,
/// `h = norm(h) * (1 + scale) + shift` from the embedding, `h = conv(gelu(h))`, plus the
/// input (through a 1x1 convolution when the channels change).
#[derive(Module, Debug)]
pub struct ResBlock {
    /// First norm.
    pub norm1: GroupNorm,
    /// First convolution.
    pub conv1: Conv2d,
    /// Scale and shift from the conditioning embedding.
    pub cond: Option<Linear>,
    /// Second norm.
    pub norm2: GroupNorm,
    /// Second convolution.
    pub conv2: Conv2d,
    /// 1x1 convolution on the skip when the channel count changes.
    pub shortcut: Option<Conv2d>,
}

impl ResBlock {
    fn new(ci: usize, co: usize, cfg: &UNetConfig, emb: usize, device: &Device) -> Self {
        Self {
            norm1: GroupNormConfig::new(cfg.norm_groups, ci).init(device),
            conv1: conv3(ci, co, cfg.dims, device),
            cond: (cfg.cond_dims > 0).then(|| LinearConfig::new(emb, 2 * co).init(device)),
            norm2: GroupNormConfig::new(cfg.norm_groups, co).init(device),
            conv2: conv3(co, co, cfg.dims, device),
            shortcut: (ci != co).then(|| Conv2dConfig::new([ci, co], [1, 1]).init(device)),
        }
    }

    fn forward(&self, x: Tensor<4>, emb: Option<&Tensor<2>>) -> Tensor<4> {
        let h = self.conv1.forward(gelu(self.norm1.forward(x.clone())));
        let h = self.norm2.forward(h);
        let h = match (&self.cond, emb) {
            (Some(lin), Some(e)) => {
                let ss = lin.forward(gelu(e.clone()));
                let [b, two_c] = ss.dims();
                let c = two_c / 2;
                let scale = ss.clone().narrow(1, 0, c).reshape([b, c, 1, 1]);
                let shift = ss.narrow(1, c, c).reshape([b, c, 1, 1]);
                h.clone() * (scale + 1.0) + shift
            }
            _ => h,
        };
        let h = self.conv2.forward(gelu(h));
        let skip = match &self.shortcut {
            Some(s) => s.forward(x),
            None => x,
        };
        h + skip
    }
}

/// One level of the down path: residual blocks, then down-sampling (all but the last).
#[derive(Module, Debug)]
pub struct DownLevel {
    /// Residual blocks.
    pub blocks: Vec<ResBlock>,
    /// Stride-2 convolution.
    pub resample: Option<Conv2d>,
}

/// One level of the up path: residual blocks (each on the concatenation with a skip), then
/// up-sampling (all but the finest).
#[derive(Module, Debug)]
pub struct UpLevel {
    /// Residual blocks.
    pub blocks: Vec<ResBlock>,
    /// Stride-2 transposed convolution.
    pub resample: Option<ConvTranspose2d>,
}

/// The U-Net (see the module documentation).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_models::UNetConfig;
/// let device = Device::flex();
/// let mut cfg = UNetConfig::new(2, 1, 2);
/// cfg.hidden = 8;
/// cfg.channel_mults = vec![1, 2];
/// cfg.cond_dims = 1;
/// let unet = cfg.init(&device);
/// // Any grid: 13x10 is padded to 14x10 inside and cropped back.
/// let x = Tensor::<4>::zeros([3, 2, 13, 10], &device);
/// let dt = Tensor::<2>::ones([3, 1], &device);
/// assert_eq!(unet.forward(x, Some(dt)).dims(), [3, 1, 13, 10]);
/// ```
#[derive(Module, Debug)]
pub struct UNet {
    /// The configuration it was built from.
    #[module(skip)]
    pub config: UNetConfig,
    /// Input convolution.
    pub input: Conv2d,
    /// Conditioning embedding.
    pub cond: Option<CondEmbedding>,
    /// Down path, finest level first.
    pub down: Vec<DownLevel>,
    /// Two residual blocks at the coarsest level.
    pub middle: Vec<ResBlock>,
    /// Up path, coarsest level first.
    pub up: Vec<UpLevel>,
    /// Output norm.
    pub out_norm: GroupNorm,
    /// Output convolution.
    pub output: Conv2d,
    /// Spatial dimensions.
    pub dims: usize,
    /// Axis sizes are padded to a multiple of this.
    pub multiple: usize,
}

impl UNet {
    /// Applies the network.
    ///
    /// # Shapes
    /// - `x`: `[batch, in_channels, *space]` with `D = 2 + dims` axes, any sizes
    /// - `cond`: `[batch, cond_dims]` (required when the model was built with `cond_dims > 0`)
    /// - output: `[batch, out_channels, *space]`
    ///
    /// # Panics
    /// If `D` is not `2 + dims`, or conditioning is missing or given when not configured.
    pub fn forward<const D: usize>(&self, x: Tensor<D>, cond: Option<Tensor<2>>) -> Tensor<D> {
        assert_eq!(
            D,
            self.dims + 2,
            "UNet::forward: a {}D model takes [batch, channels, *space]",
            self.dims
        );
        assert_eq!(
            self.cond.is_some(),
            cond.is_some(),
            "UNet::forward: conditioning given {} but configured {}",
            cond.is_some(),
            self.cond.is_some()
        );
        let shape = x.dims();
        let (b, c) = (shape[0], shape[1]);
        let (hh, ww) = if self.dims == 1 {
            (1, shape[2])
        } else {
            (shape[2], shape[3])
        };
        let x = crate::grid::pad_to_multiple(x.reshape([b, c, hh, ww]), self.dims, self.multiple);
        let emb = match (&self.cond, cond) {
            (Some(m), Some(s)) => Some(m.second.forward(gelu(m.first.forward(s)))),
            _ => None,
        };
        let mut h = self.input.forward(x);
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for r in &level.blocks {
                h = r.forward(h, emb.as_ref());
                skips.push(h.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(h);
                skips.push(h.clone());
            }
        }
        for r in &self.middle {
            h = r.forward(h, emb.as_ref());
        }
        for level in &self.up {
            for r in &level.blocks {
                let s = skips.pop().expect("one skip per block");
                h = r.forward(Tensor::cat(vec![h, s], 1), emb.as_ref());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(h);
            }
        }
        let y = self.output.forward(gelu(self.out_norm.forward(h)));
        let co = y.dims()[1];
        let y = y.narrow(2, 0, hh).narrow(3, 0, ww);
        let mut out = shape;
        out[1] = co;
        y.reshape(out)
    }
}

/// The `kind` of a [`UNet`] model directory.
pub const UNET_KIND: &str = "physfm.unet";

/// `config.json` of a U-Net model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UNetFile {
    kind: String,
    config: UNetConfig,
}

impl UNet {
    /// Loads a model directory written by [`Surrogate::save`].
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let file: UNetFile = crate::modeldir::description(dir, UNET_KIND)?;
        file.config.validate("model.config")?;
        crate::modeldir::weights(dir, file.config.init(device))
    }
}

/// [`UNet::forward`] with a fixed conditioning, as a [`GridFn`].
struct UNetStep<'a> {
    net: &'a UNet,
    cond: Option<Tensor<2>>,
}

impl GridFn for UNetStep<'_> {
    fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.net.forward(x, self.cond.clone())
    }
}

impl Dynamics for UNet {
    /// `in_channels / out_channels`: the window's frames enter stacked on the channel axis.
    fn history(&self) -> usize {
        (self.config.in_channels / self.config.out_channels).max(1)
    }

    /// The increment from the window's last frame: the frames stacked on the channel axis,
    /// conditioned on `[dt, coefficients..]` when the model has `cond_dims` (which must then
    /// be one plus the coefficients per sample).
    ///
    /// # Panics
    /// If the window's frames times channels are not `in_channels`, or the conditioning
    /// does not have `cond_dims` values per sample.
    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        let [b, h, c, n] = frames.dims();
        assert_eq!(
            h * c,
            self.config.in_channels,
            "UNet: a window of {h} frames of {c} channels for a model of {} input channels",
            self.config.in_channels
        );
        assert!(cond.context.is_none(), "UNet takes no context vector");
        let scalars = (self.config.cond_dims > 0).then(|| {
            let p = cond.coefficients_per_sample();
            assert_eq!(
                1 + p,
                self.config.cond_dims,
                "UNet: conditioned on dt and {p} coefficients, the model takes {} scalars",
                self.config.cond_dims
            );
            let v: Vec<f32> = (0..b)
                .flat_map(|i| {
                    std::iter::once(cond.dt[i] as f32).chain(
                        cond.coefficients[i * p..(i + 1) * p]
                            .iter()
                            .map(|&x| x as f32),
                    )
                })
                .collect();
            Tensor::<2>::from_data(
                burn::tensor::TensorData::new(v, [b, 1 + p]),
                &frames.device(),
            )
        });
        let x = frames.reshape([b, h * c, n]);
        on_grid(
            x,
            space,
            &UNetStep {
                net: self,
                cond: scalars,
            },
        )
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        next - last_frame(frames.clone())
    }

    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        last_frame(frames.clone()) + raw
    }
}

impl Surrogate for UNet {
    fn fresh(&self, device: &Device) -> Self {
        self.config.init(device)
    }

    fn dims(&self) -> usize {
        self.config.dims
    }

    /// `cond_dims - 1` (the first scalar is the time step), or `None` without conditioning.
    fn coefficients(&self, _dataset: usize) -> Option<usize> {
        self.config.cond_dims.checked_sub(1)
    }

    fn kind(&self) -> &'static str {
        UNET_KIND
    }

    fn channels(&self, _dataset: usize) -> usize {
        self.config.out_channels
    }

    fn parts(&self) -> Parts {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Parts {
            encoder: names(&["input"]),
            processor: names(&["down", "middle", "up"]),
            decoder: names(&["out_norm", "output"]),
            conditioning: names(&["cond"]),
        }
    }

    fn save(&self, dir: &std::path::Path) -> Result<()> {
        let file = UNetFile {
            kind: UNET_KIND.into(),
            config: self.config.clone(),
        };
        crate::modeldir::save(dir, &file, self)
    }
}
