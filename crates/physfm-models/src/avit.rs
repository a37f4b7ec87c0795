//! The axial-attention vision transformer (AViT) of Multiple Physics Pretraining (McCabe et
//! al. 2023): a history of frames is cut into patches by a hierarchical-MLP stem, a stack of
//! space-time blocks attends along time, then along each spatial axis, and the last frame's
//! tokens are mapped back to a field by the transposed stem.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use physfm_spectral::gelu;
use serde::{Deserialize, Serialize};

use crate::{Conditioning, Dynamics, Parts, Result, Surrogate, last_frame};

fn default_embed() -> usize {
    192
}
fn default_heads() -> usize {
    3
}
fn default_blocks() -> usize {
    12
}
fn default_patch() -> Vec<usize> {
    vec![4, 2, 2]
}

/// Configuration of an [`AViT`] in 1 or 2 dimensions. The defaults are MPP's AViT-Ti
/// (embedding 192, 3 heads, 12 blocks, 16x16 patches from a 4-2-2 hierarchical stem;
/// 7.2 M parameters with 3 channels in and out; MPP reports 7.6 M for its Ti, 29 M for S
/// and 116 M for B, against physfm's 7.2 M, 28.8 M and 114.9 M: MPP adds per-field
/// embeddings).
///
/// ```
/// use physfm_models::AViTConfig;
/// let cfg: AViTConfig = toml::from_str("in_channels = 2\nout_channels = 2\ndims = 2")?;
/// assert_eq!((cfg.embed_dim, cfg.heads, cfg.blocks, cfg.patch_size()), (192, 3, 12, 16));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AViTConfig {
    /// Channels of each input frame.
    pub in_channels: usize,
    /// Channels of the predicted frame.
    pub out_channels: usize,
    /// Spatial dimensions (1 or 2).
    pub dims: usize,
    /// Token channels.
    #[serde(default = "default_embed")]
    pub embed_dim: usize,
    /// Attention heads (must divide `embed_dim`).
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// Space-time blocks.
    #[serde(default = "default_blocks")]
    pub blocks: usize,
    /// Strides of the stem's convolutions; the patch size is their product.
    #[serde(default = "default_patch")]
    pub patch: Vec<usize>,
    /// Frames of history it sees as a [`Surrogate`] (default 1; not written when 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub history: usize,
}

fn one() -> usize {
    1
}

fn is_one(h: &usize) -> bool {
    *h == 1
}

setters!(AViTConfig {
    with_embed_dim => embed_dim: usize = "192",
    with_heads => heads: usize = "3",
    with_blocks => blocks: usize = "12",
    with_patch => patch: Vec<usize> = "`[4, 2, 2]`",
    with_history => history: usize = "1",
});

impl AViTConfig {
    /// A configuration with the defaults for everything but channels and dimensions.
    pub fn new(in_channels: usize, out_channels: usize, dims: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            dims,
            embed_dim: default_embed(),
            heads: default_heads(),
            blocks: default_blocks(),
            patch: default_patch(),
            history: 1,
        }
    }

    /// Points per patch along each axis.
    pub fn patch_size(&self) -> usize {
        self.patch.iter().product()
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
                ("embed_dim", self.embed_dim),
                ("heads", self.heads),
                ("blocks", self.blocks),
            ],
        )?;
        if !self.embed_dim.is_multiple_of(self.heads) {
            return bad(
                "heads",
                self.heads.to_string(),
                &format!("must divide embed_dim ({})", self.embed_dim),
            );
        }
        if self.patch.is_empty() || self.patch.contains(&0) {
            return bad(
                "patch",
                format!("{:?}", self.patch),
                "one or more positive strides",
            );
        }
        Ok(())
    }

    /// Builds the model (panics on an invalid configuration: call
    /// [`AViTConfig::validate`] on untrusted input).
    pub fn init(&self, device: &Device) -> AViT {
        if let Err(e) = self.validate("avit") {
            panic!("AViTConfig::init: {e}");
        }
        let e = self.embed_dim;
        // The stem widens to the embedding in its last stage: e/4, e/4, ..., e (MPP's hMLP).
        let widths: Vec<usize> = (0..self.patch.len())
            .map(|i| {
                if i + 1 == self.patch.len() {
                    e
                } else {
                    (e / 4).max(1)
                }
            })
            .collect();
        let kernel = |s: usize| if self.dims == 1 { [1, s] } else { [s, s] };
        let stride = |s: usize| if self.dims == 1 { [1, s] } else { [s, s] };
        let mut stem = Vec::new();
        let mut c = self.in_channels;
        for (&s, &w) in self.patch.iter().zip(&widths) {
            stem.push(
                Conv2dConfig::new([c, w], kernel(s))
                    .with_stride(stride(s))
                    .init(device),
            );
            c = w;
        }
        let mut head = Vec::new();
        for (i, &s) in self.patch.iter().enumerate().rev() {
            let out = if i == 0 {
                self.out_channels
            } else {
                widths[i - 1]
            };
            head.push(
                ConvTranspose2dConfig::new([c, out], kernel(s))
                    .with_stride(stride(s))
                    .init(device),
            );
            c = out;
        }
        let attention = |device: &Device| AxialAttention::new(e, self.heads, device);
        AViT {
            config: self.clone(),
            stem,
            blocks: (0..self.blocks)
                .map(|_| SpaceTimeBlock {
                    time_norm: RmsInstanceNorm::new(e, device),
                    time: attention(device),
                    space_norm: RmsInstanceNorm::new(e, device),
                    space: attention(device),
                    dims: self.dims,
                    mlp_norm: RmsInstanceNorm::new(e, device),
                    mlp_in: LinearConfig::new(e, 4 * e).init(device),
                    mlp_out: LinearConfig::new(4 * e, e).init(device),
                })
                .collect(),
            head,
            dims: self.dims,
            patch: self.patch_size(),
        }
    }
}

/// The RMS instance norm of MPP (`RMSInstanceNorm2d`): each sample and channel divided by
/// its (biased) standard deviation over the tokens of a frame, without subtracting the
/// mean, then a per-channel affine map.
#[derive(Module, Debug)]
pub struct RmsInstanceNorm {
    /// Scale per channel.
    pub weight: Param<Tensor<1>>,
    /// Shift per channel.
    pub bias: Param<Tensor<1>>,
}

const EPS: f64 = 1e-5;

impl RmsInstanceNorm {
    fn new(c: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([c], device)),
            bias: Param::from_tensor(Tensor::zeros([c], device)),
        }
    }

    /// `x`: `[batch, time, h, w, channels]`.
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [b, t, h, w, c] = x.dims();
        let flat = x.reshape([b, t, h * w, c]);
        let (var, _) = flat.clone().var_mean_bias(2);
        let y = flat / (var.sqrt() + EPS);
        let y = y * self.weight.val().reshape([1, 1, 1, c]) + self.bias.val().reshape([1, 1, 1, c]);
        y.reshape([b, t, h, w, c])
    }
}

/// Multi-head self-attention along one axis of the token grid, with T5's bucketed relative
/// position bias (32 buckets, distances up to 128), as MPP's attention blocks.
#[derive(Module, Debug)]
pub struct AxialAttention {
    /// Query, key and value projections.
    pub qkv: Linear,
    /// Output projection.
    pub out: Linear,
    /// Bias per head and relative-position bucket `[heads, 32]`.
    pub rel_bias: Param<Tensor<2>>,
    /// Heads.
    pub heads: usize,
}

const BUCKETS: usize = 32;
const MAX_DISTANCE: f64 = 128.0;

/// T5's bidirectional bucket of the relative position `j - i`.
fn bucket(rel: i64) -> usize {
    let half = BUCKETS / 2;
    let base = if rel > 0 { half } else { 0 };
    let n = rel.unsigned_abs() as usize;
    let exact = half / 2;
    let b = if n < exact {
        n
    } else {
        let log = ((n as f64 / exact as f64).ln() / (MAX_DISTANCE / exact as f64).ln()
            * (half - exact) as f64) as usize;
        (exact + log).min(half - 1)
    };
    base + b
}

impl AxialAttention {
    fn new(e: usize, heads: usize, device: &Device) -> Self {
        Self {
            qkv: LinearConfig::new(e, 3 * e).init(device),
            out: LinearConfig::new(e, e).init(device),
            rel_bias: Param::from_tensor(Tensor::zeros([heads, BUCKETS], device)),
            heads,
        }
    }

    /// Attention along the axis of length `n` of `x: [groups, n, channels]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [g, n, e] = x.dims();
        let (hd, dh) = (self.heads, e / self.heads);
        let qkv = self
            .qkv
            .forward(x)
            .reshape([g, n, 3, hd, dh])
            .permute([2, 0, 3, 1, 4]); // [3, g, heads, n, dh]
        let q = qkv.clone().narrow(0, 0, 1).reshape([g, hd, n, dh]);
        let k = qkv.clone().narrow(0, 1, 1).reshape([g, hd, n, dh]);
        let v = qkv.narrow(0, 2, 1).reshape([g, hd, n, dh]);
        let buckets: Vec<i64> = (0..n * n)
            .map(|ij| bucket((ij % n) as i64 - (ij / n) as i64) as i64)
            .collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(buckets, [n * n]), &q.device());
        let bias = self.rel_bias.val().select(1, idx).reshape([1, hd, n, n]);
        let scores = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt() + bias;
        let attn = softmax(scores, 3);
        let y = attn.matmul(v).swap_dims(1, 2).reshape([g, n, e]);
        self.out.forward(y)
    }
}

/// One space-time block: attention along time (every spatial token), then along each
/// spatial axis with one shared set of projections (in 2D the two axes' outputs averaged,
/// as MPP's axial block), then an MLP; each with a pre-norm and a residual connection.
#[derive(Module, Debug)]
pub struct SpaceTimeBlock {
    /// Norm before the temporal attention.
    pub time_norm: RmsInstanceNorm,
    /// Temporal attention.
    pub time: AxialAttention,
    /// Norm before the spatial attention.
    pub space_norm: RmsInstanceNorm,
    /// Attention along the spatial axes (shared by x and y).
    pub space: AxialAttention,
    /// Spatial dimensions.
    pub dims: usize,
    /// Norm before the MLP.
    pub mlp_norm: RmsInstanceNorm,
    /// MLP, first layer (4x wider).
    pub mlp_in: Linear,
    /// MLP, second layer.
    pub mlp_out: Linear,
}

/// Applies `attn` along axis `axis` (1: time, 2: h, 3: w) of `[b, t, h, w, e]`.
fn along(attn: &AxialAttention, x: Tensor<5>, axis: usize) -> Tensor<5> {
    let dims = x.dims();
    // Bring the axis next to the channels: [.., axis, e].
    let mut perm = [0usize, 1, 2, 3, 4];
    perm.swap(axis, 3);
    let y = x.permute(perm);
    let pd = y.dims();
    let g = pd[0] * pd[1] * pd[2];
    let z = attn
        .forward(y.reshape([g, pd[3], pd[4]]))
        .reshape(pd)
        .permute(perm);
    debug_assert_eq!(z.dims(), dims);
    z
}

impl SpaceTimeBlock {
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let x = x.clone() + along(&self.time, self.time_norm.forward(x), 1);
        let n = self.space_norm.forward(x.clone());
        // Axis 3 (w) is always spatial; in 2D axis 2 (h) too.
        let mut s = along(&self.space, n.clone(), 3);
        if self.dims == 2 {
            s = (s + along(&self.space, n, 2)) / 2.0;
        }
        let x = x + s;
        let m = self
            .mlp_out
            .forward(gelu(self.mlp_in.forward(self.mlp_norm.forward(x.clone()))));
        x + m
    }
}

/// The AViT (see the module documentation).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_models::AViTConfig;
/// let device = Device::flex();
/// let mut cfg = AViTConfig::new(2, 2, 2);
/// cfg.embed_dim = 16;
/// cfg.heads = 2;
/// cfg.blocks = 1;
/// cfg.patch = vec![2, 2];
/// let avit = cfg.init(&device);
/// // A history of 3 frames of 2 channels on 13x10 points (padded to 16x12 inside).
/// let frames = Tensor::<5>::zeros([4, 3, 2, 13, 10], &device);
/// assert_eq!(avit.forward(frames).dims(), [4, 2, 13, 10]);
/// ```
#[derive(Module, Debug)]
pub struct AViT {
    /// The configuration it was built from.
    #[module(skip)]
    pub config: AViTConfig,
    /// Patch-embedding stem (hierarchical MLP: convolutions with kernel = stride).
    pub stem: Vec<Conv2d>,
    /// Space-time blocks.
    pub blocks: Vec<SpaceTimeBlock>,
    /// Transposed stem back to a field.
    pub head: Vec<ConvTranspose2d>,
    /// Spatial dimensions.
    pub dims: usize,
    /// Points per patch along each axis.
    pub patch: usize,
}

impl AViT {
    /// Predicts the next frame from a history.
    ///
    /// # Shapes
    /// - input: `[batch, time, in_channels, *space]` with `D = 3 + dims` axes, any sizes
    ///   (zero-padded to multiples of the patch inside)
    /// - output: `[batch, out_channels, *space]` (`D - 1` axes)
    ///
    /// # Panics
    /// If `D` is not `3 + dims` or `O` is not `D - 1`.
    pub fn forward<const D: usize, const O: usize>(&self, x: Tensor<D>) -> Tensor<O> {
        assert!(
            D == self.dims + 3 && O + 1 == D,
            "AViT::forward: a {}D model takes [batch, time, channels, *space]",
            self.dims
        );
        let shape = x.dims();
        let (b, t, c) = (shape[0], shape[1], shape[2]);
        let space = &shape[3..];
        let y = self.frames(
            x.reshape([b * t, c, self.rows(space), space[space.len() - 1]]),
            b,
            t,
            None,
        );
        let mut out = [0usize; O];
        out[0] = b;
        out[1] = y.dims()[1];
        out[2..].copy_from_slice(space);
        y.reshape(out)
    }

    /// One frame per sample, `[batch, channels, *space]` with `D = 2 + dims` axes, to the
    /// next frame of the same shape (the processor of an Encode-Process-Decode model), with
    /// `after_block(i, h)` applied to the tokens `[batch, embed_dim, tokens]` after block
    /// `i`: the hook for feature-wise modulation.
    pub fn forward_frame_with<const D: usize>(
        &self,
        x: Tensor<D>,
        after_block: &mut dyn FnMut(usize, Tensor<3>) -> Tensor<3>,
    ) -> Tensor<D> {
        assert_eq!(
            D,
            self.dims + 2,
            "AViT::forward_frame_with: a {}D model takes [batch, channels, *space]",
            self.dims
        );
        let shape = x.dims();
        let (b, c) = (shape[0], shape[1]);
        let space = &shape[2..];
        let y = self.frames(
            x.reshape([b, c, self.rows(space), space[space.len() - 1]]),
            b,
            1,
            Some(after_block),
        );
        let mut out = shape;
        out[1] = y.dims()[1];
        y.reshape(out)
    }

    fn rows(&self, space: &[usize]) -> usize {
        if self.dims == 1 { 1 } else { space[0] }
    }

    /// `[b * t, c, hh, ww]` frames to `[b, out, hh, ww]`; `after_block`, if any, sees the
    /// tokens after each block.
    fn frames(
        &self,
        f: Tensor<4>,
        b: usize,
        t: usize,
        mut after_block: Option<&mut dyn FnMut(usize, Tensor<3>) -> Tensor<3>>,
    ) -> Tensor<4> {
        let [_, _, hh, ww] = f.dims();
        let mut f = crate::grid::pad_to_multiple(f, self.dims, self.patch);
        let last = self.stem.len() - 1;
        for (i, conv) in self.stem.iter().enumerate() {
            f = conv.forward(f);
            if i < last {
                f = gelu(f);
            }
        }
        let [_, e, th, tw] = f.dims();
        let mut tokens = f.reshape([b, t, e, th, tw]).permute([0, 1, 3, 4, 2]);
        for (i, block) in self.blocks.iter().enumerate() {
            tokens = block.forward(tokens);
            if let Some(hook) = after_block.as_mut() {
                let h = tokens.permute([0, 4, 1, 2, 3]).reshape([b, e, t * th * tw]);
                tokens = hook(i, h)
                    .reshape([b, e, t, th, tw])
                    .permute([0, 2, 3, 4, 1]);
            }
        }
        let mut y = tokens
            .narrow(1, t - 1, 1)
            .reshape([b, th, tw, e])
            .permute([0, 3, 1, 2]);
        let last = self.head.len() - 1;
        for (i, conv) in self.head.iter().enumerate() {
            y = conv.forward(y);
            if i < last {
                y = gelu(y);
            }
        }
        y.narrow(2, 0, hh).narrow(3, 0, ww)
    }
}

/// The `kind` of an [`AViT`] model directory.
pub const AVIT_KIND: &str = "physfm.avit";

/// `config.json` of an AViT model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AViTFile {
    kind: String,
    config: AViTConfig,
}

impl AViT {
    /// Loads a model directory written by [`Surrogate::save`].
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let file: AViTFile = crate::modeldir::description(dir, AVIT_KIND)?;
        file.config.validate("model.config")?;
        crate::modeldir::weights(dir, file.config.init(device))
    }
}

impl Dynamics for AViT {
    fn history(&self) -> usize {
        self.config.history
    }

    /// The increment from the window's last frame, attending over the window's frames in
    /// time and over the grid's axes in space. Coefficients and the time step are not used
    /// (MPP infers the physics from the history).
    ///
    /// # Panics
    /// If the window does not have `in_channels` channels, a context is given, or the grid
    /// has more axes than the model.
    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        let [b, h, c, n] = frames.dims();
        assert_eq!(
            c, self.config.in_channels,
            "AViT: frames of {c} channels for a model of {}",
            self.config.in_channels
        );
        assert!(cond.context.is_none(), "AViT takes no context vector");
        assert_eq!(
            space.iter().product::<usize>(),
            n,
            "AViT: a grid of shape {space:?} does not hold {n} points"
        );
        let y: Tensor<3> = match *space {
            [a] => self.forward::<4, 3>(frames.reshape([b, h, c, a])).reshape([
                b,
                self.config.out_channels,
                n,
            ]),
            [a, e] => self
                .forward::<5, 4>(frames.reshape([b, h, c, a, e]))
                .reshape([b, self.config.out_channels, n]),
            _ => panic!("AViT: 1D or 2D grids, got {space:?}"),
        };
        y
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        next - last_frame(frames.clone())
    }

    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        last_frame(frames.clone()) + raw
    }
}

impl Surrogate for AViT {
    fn fresh(&self, device: &Device) -> Self {
        self.config.init(device)
    }

    fn dims(&self) -> usize {
        self.config.dims
    }

    fn coefficients(&self, _dataset: usize) -> Option<usize> {
        None
    }

    fn kind(&self) -> &'static str {
        AVIT_KIND
    }

    fn channels(&self, _dataset: usize) -> usize {
        self.config.out_channels
    }

    fn parts(&self) -> Parts {
        Parts {
            encoder: vec!["stem".into()],
            processor: vec!["blocks".into()],
            decoder: vec!["head".into()],
            conditioning: Vec::new(),
        }
    }

    fn save(&self, dir: &std::path::Path) -> Result<()> {
        let file = AViTFile {
            kind: AVIT_KIND.into(),
            config: self.config.clone(),
        };
        crate::modeldir::save(dir, &file, self)
    }
}
