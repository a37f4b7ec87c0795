//! The multi-physics Encode-Process-Decode model: one encoder and one decoder per dataset,
//! mapping that dataset's channels and grid to and from a shared latent grid; one shared FNO
//! processor that steps the latent state, conditioned on the time step, the dataset's PDE
//! parameters and optionally a learned per-environment context through FiLM.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use physfm_spectral::gelu;
use serde::{Deserialize, Serialize};

use crate::surrogate::{GridFn, on_grid};
use crate::{
    AViT, AViTConfig, ChannelLinear, ChannelMlp, Conditioning, Dynamics, Fno, FnoConfig,
    ModelError, Parts, Result, Surrogate,
};

/// One dataset as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Name (for errors and saved models).
    pub name: String,
    /// Field channels.
    pub channels: usize,
    /// PDE parameters the model is conditioned on (0: none).
    #[serde(default)]
    pub params: usize,
    /// Whether each spatial axis is periodic (Fourier resampling) or not (linear).
    pub periodic: Vec<bool>,
}

/// How fields are normalised on the way in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputNorm {
    /// Fields enter as they are (normalise the data beforehand).
    #[default]
    None,
    /// Per sample and channel, over space (RevIN, as MPP): subtract the mean, divide by the
    /// standard deviation, and undo both on the output.
    PerSample,
}

/// The processor of an Encode-Process-Decode model. In a configuration file it is the
/// processor's own table: an AViT if it has `embed_dim`, an FNO otherwise; an unknown or
/// missing key is reported by name, as for any other configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProcessorConfig {
    /// A Fourier Neural Operator (FiLM after each Fourier block, on `width` channels).
    Fno(FnoConfig),
    /// An axial-attention ViT on single frames (FiLM after each space-time block, on
    /// `embed_dim` channels); 1D or 2D latent grids.
    AViT(AViTConfig),
}

impl<'de> Deserialize<'de> for ProcessorConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        // Buffered as a self-describing value (from TOML or JSON alike), then read as the one
        // processor its keys name, so that serde's error names the offending key instead of
        // the untagged enum's "did not match any variant".
        let v = serde_json::Value::deserialize(d)?;
        if v.get("embed_dim").is_some() {
            AViTConfig::deserialize(v)
                .map(Self::AViT)
                .map_err(|e| D::Error::custom(format!("AViT processor: {e}")))
        } else {
            FnoConfig::deserialize(v)
                .map(Self::Fno)
                .map_err(|e| D::Error::custom(format!("FNO processor: {e}")))
        }
    }
}

impl ProcessorConfig {
    /// Channels of the hidden state FiLM modulates.
    pub fn width(&self) -> usize {
        match self {
            Self::Fno(f) => f.width,
            Self::AViT(a) => a.embed_dim,
        }
    }

    /// Blocks (one FiLM layer each).
    pub fn blocks(&self) -> usize {
        match self {
            Self::Fno(f) => f.n_layers,
            Self::AViT(a) => a.blocks,
        }
    }

    /// The FNO configuration, if this is one.
    pub fn fno_mut(&mut self) -> Option<&mut FnoConfig> {
        match self {
            Self::Fno(f) => Some(f),
            Self::AViT(_) => None,
        }
    }
}

/// The processor module.
// One per model, so the variants' size difference costs nothing; burn's `Module` is not
// implemented for `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Processor {
    /// FNO.
    Fno(Fno),
    /// AViT.
    AViT(AViT),
}

/// Configuration of an [`EncodeProcessDecode`] model.
///
/// ```
/// use physfm_models::{EpdConfig, DatasetSpec};
/// let cfg = EpdConfig::new(
///     vec![
///         DatasetSpec { name: "burgers".into(), channels: 1, params: 1, periodic: vec![true] },
///         DatasetSpec { name: "gray_scott".into(), channels: 2, params: 2, periodic: vec![true] },
///     ],
///     &[64],
///     16,
///     &[12],
///     32,
/// );
/// cfg.validate()?;
/// # Ok::<(), physfm_models::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpdConfig {
    /// The datasets, in index order.
    pub datasets: Vec<DatasetSpec>,
    /// Latent grid, one size per spatial axis (the processor's dimension).
    pub latent_grid: Vec<usize>,
    /// Latent channels.
    pub latent_channels: usize,
    /// The processor (an FNO or an AViT, told apart by their keys); its `in_channels` and
    /// `out_channels` are the latent channels.
    pub processor: ProcessorConfig,
    /// Size of the conditioning vector (time step, parameters, context) that drives FiLM.
    #[serde(default = "default_cond")]
    pub cond_dim: usize,
    /// Number of environments with a learned context vector (0: none).
    #[serde(default)]
    pub environments: usize,
    /// Size of each environment's context vector.
    #[serde(default = "default_context")]
    pub context_dim: usize,
    /// Normalisation in and out.
    #[serde(default)]
    pub input_norm: InputNorm,
}

fn default_cond() -> usize {
    32
}
fn default_context() -> usize {
    8
}

setters!(EpdConfig {
    with_cond_dim => cond_dim: usize = "32",
    with_environments => environments: usize = "0",
    with_context_dim => context_dim: usize = "8",
    with_input_norm => input_norm: InputNorm = "`InputNorm::None`",
});

impl EpdConfig {
    /// A configuration with a default processor of `width` channels and `n_modes` modes.
    pub fn new(
        datasets: Vec<DatasetSpec>,
        latent_grid: &[usize],
        latent_channels: usize,
        n_modes: &[usize],
        width: usize,
    ) -> Self {
        Self {
            datasets,
            latent_grid: latent_grid.to_vec(),
            latent_channels,
            processor: ProcessorConfig::Fno(FnoConfig::new(
                latent_channels,
                latent_channels,
                n_modes,
                width,
            )),
            cond_dim: default_cond(),
            environments: 0,
            context_dim: default_context(),
            input_norm: InputNorm::None,
        }
    }

    /// Checks the configuration; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(crate::error::config_error("model", key, value, reason))
        };
        let d = self.latent_grid.len();
        if d == 0 || d > 3 || self.latent_grid.contains(&0) {
            return bad(
                "latent_grid",
                format!("{:?}", self.latent_grid),
                "one to three positive sizes",
            );
        }
        let (cin, cout, pdims) = match &self.processor {
            ProcessorConfig::Fno(f) => {
                f.validate("model.processor")?;
                (f.in_channels, f.out_channels, f.n_modes.len())
            }
            ProcessorConfig::AViT(a) => {
                a.validate("model.processor")?;
                (a.in_channels, a.out_channels, a.dims)
            }
        };
        if pdims != d {
            return bad(
                "processor",
                format!("{pdims}D"),
                &format!("the processor must be {d}D like the latent grid"),
            );
        }
        if cin != self.latent_channels || cout != self.latent_channels {
            return bad(
                "processor",
                format!("in {cin} / out {cout}"),
                "the processor maps the latent channels to themselves",
            );
        }
        if self.datasets.is_empty() {
            return bad("datasets", "[]".into(), "at least one dataset");
        }
        for (i, ds) in self.datasets.iter().enumerate() {
            if ds.channels == 0 {
                return bad(&format!("datasets[{i}].channels"), "0".into(), "at least 1");
            }
            if ds.periodic.len() != d {
                return bad(
                    &format!("datasets[{i}].periodic"),
                    format!("{:?}", ds.periodic),
                    &format!("one flag per axis of the {d}D latent grid"),
                );
            }
        }
        if self.cond_dim == 0 {
            return bad("cond_dim", "0".into(), "at least 1");
        }
        if self.environments > 0 && self.context_dim == 0 {
            return bad("context_dim", "0".into(), "at least 1 with environments");
        }
        Ok(())
    }

    /// Builds the model (panics on an invalid configuration: call [`EpdConfig::validate`] on
    /// untrusted input).
    pub fn init(&self, device: &Device) -> EncodeProcessDecode {
        if let Err(e) = self.validate() {
            panic!("EpdConfig::init: {e}");
        }
        let l = self.latent_channels;
        let w = self.processor.width();
        let heads = self
            .datasets
            .iter()
            .map(|ds| DatasetHead {
                encoder: ChannelMlp::new(ds.channels, l, l, device),
                decoder: ChannelMlp::new(l, l, ds.channels, device),
                params: (ds.params > 0)
                    .then(|| ChannelLinear::new(ds.params, self.cond_dim, true, device)),
            })
            .collect();
        // FiLM starts as the identity: zero weights and bias, so modulation is learned from
        // an unconditioned processor.
        let film = (0..self.processor.blocks())
            .map(|_| {
                let mut f = ChannelLinear::new(self.cond_dim, 2 * w, true, device);
                f.weight = Param::from_tensor(Tensor::zeros([2 * w, self.cond_dim], device));
                f.bias = Some(Param::from_tensor(Tensor::zeros([2 * w], device)));
                f
            })
            .collect();
        EncodeProcessDecode {
            config: self.clone(),
            heads,
            processor: match &self.processor {
                ProcessorConfig::Fno(f) => Processor::Fno(f.init(device)),
                ProcessorConfig::AViT(a) => Processor::AViT(a.init(device)),
            },
            time: ChannelMlp::new(2, self.cond_dim, self.cond_dim, device),
            film,
            contexts: (self.environments > 0).then(|| {
                Param::from_tensor(Tensor::random(
                    [self.environments, self.context_dim],
                    Distribution::Normal(0.0, 0.01),
                    device,
                ))
            }),
            context: (self.environments > 0)
                .then(|| ChannelLinear::new(self.context_dim, self.cond_dim, false, device)),
        }
    }
}

/// A dataset's encoder, decoder and parameter embedding.
#[derive(Module, Debug)]
pub struct DatasetHead {
    /// Dataset channels to latent channels (pointwise MLP).
    pub encoder: ChannelMlp,
    /// Latent channels to the dataset's channels (pointwise MLP): the increment.
    pub decoder: ChannelMlp,
    /// PDE parameters to the conditioning vector.
    pub params: Option<ChannelLinear>,
}

/// The multi-physics model (see the module documentation and [`EncodeProcessDecode::step`]).
///
/// Hooks for adaptation: every weight has a path (`heads.<i>.encoder...`,
/// `processor.blocks.<j>...`, `film.<j>...`, `contexts`), so partial fine-tuning freezes by
/// path, LoRA and CoDA-style hypernetwork updates attach to named weights through burn's
/// parameter reparameterisation (`Module::apply_reparameterization`), and a LEADS-style
/// per-environment term is the environment's context (`contexts`, row `e`) entering every
/// block through FiLM.
#[derive(Module, Debug)]
pub struct EncodeProcessDecode {
    /// The configuration it was built from.
    #[module(skip)]
    pub config: EpdConfig,
    /// One head per dataset.
    pub heads: Vec<DatasetHead>,
    /// The shared processor on the latent grid.
    pub processor: Processor,
    /// Time-step embedding (input: `dt` and `ln dt`).
    pub time: ChannelMlp,
    /// FiLM per processor block: conditioning vector to `(scale, shift)` of the hidden state.
    pub film: Vec<ChannelLinear>,
    /// Learned context vector per environment, `[environments, context_dim]`.
    pub contexts: Option<Param<Tensor<2>>>,
    /// Context to conditioning vector.
    pub context: Option<ChannelLinear>,
}

/// A linear map between grids of `from` and `to` points on one axis: band-limited (Fourier)
/// interpolation on a periodic axis, linear interpolation between end-aligned points
/// otherwise. `[to, from]`, row-major.
pub fn resampling_matrix(from: usize, to: usize, periodic: bool) -> Vec<f32> {
    let mut m = vec![0.0f64; to * from];
    if from == to {
        for i in 0..to {
            m[i * from + i] = 1.0;
        }
    } else if periodic {
        // Keep the frequencies both grids resolve, without the Nyquist one of an even grid.
        let kmax = (from.min(to) - 1) / 2;
        for j in 0..to {
            let y = j as f64 / to as f64;
            for i in 0..from {
                let d = y - i as f64 / from as f64;
                let s: f64 = (1..=kmax)
                    .map(|k| (2.0 * std::f64::consts::PI * k as f64 * d).cos())
                    .sum();
                m[j * from + i] = (1.0 + 2.0 * s) / from as f64;
            }
        }
    } else {
        for j in 0..to {
            let x = if to == 1 {
                0.0
            } else {
                j as f64 * (from - 1) as f64 / (to - 1) as f64
            };
            let i0 = (x.floor() as usize).min(from - 1);
            let i1 = (i0 + 1).min(from - 1);
            let w = x - i0 as f64;
            m[j * from + i0] += 1.0 - w;
            m[j * from + i1] += w;
        }
    }
    m.into_iter().map(|v| v as f32).collect()
}

/// Resamples every spatial axis of `x` (`[batch, channels, *space]`) to `grid`.
fn resample<const D: usize>(x: Tensor<D>, grid: &[usize], periodic: &[bool]) -> Tensor<D> {
    let mut x = x;
    for a in 0..D - 2 {
        let dims = x.dims();
        let (from, to) = (dims[a + 2], grid[a]);
        if from == to {
            continue;
        }
        let m = Tensor::<2>::from_data(
            TensorData::new(resampling_matrix(from, to, periodic[a]), [to, from]),
            &x.device(),
        );
        // Move axis a last, apply, move it back.
        let t = x.swap_dims(a + 2, D - 1);
        let mut td = t.dims();
        let rows: usize = td[..D - 1].iter().product();
        let y = t.reshape([rows, from]).matmul(m.transpose());
        td[D - 1] = to;
        x = y.reshape(td).swap_dims(a + 2, D - 1);
    }
    x
}

/// Per-sample, per-channel mean and standard deviation over space, `[b, c, 1]` each.
fn sample_stats(x: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
    let (var, mean) = x.var_mean_bias(2);
    (mean, (var + 1e-6).sqrt())
}

impl EncodeProcessDecode {
    /// The conditioning vector `[batch, cond_dim]` of a batch of dataset `dataset`.
    fn condition(&self, given: &Conditioning, device: &Device) -> Tensor<2> {
        let (dataset, dt, params) = (given.dataset, &given.dt, &given.coefficients);
        let environments = given.environments.as_deref();
        let context = &given.context;
        let b = dt.len();
        let feats: Vec<f32> = dt
            .iter()
            .flat_map(|&t| [t as f32, t.max(f64::MIN_POSITIVE).ln() as f32])
            .collect();
        let t = Tensor::<3>::from_data(TensorData::new(feats, [b, 2, 1]), device);
        let mut cond = self.time.forward(t);
        if let Some(p) = &self.heads[dataset].params {
            let np = p.weight.dims()[1];
            assert_eq!(
                params.len(),
                b * np,
                "EncodeProcessDecode: dataset {dataset} takes {np} parameters per sample, got {} for {b} samples",
                params.len()
            );
            let pv: Vec<f32> = params.iter().map(|&v| v as f32).collect();
            cond = cond + p.forward(Tensor::from_data(TensorData::new(pv, [b, np, 1]), device));
        }
        if let (Some(ctx), Some(map), Some(envs)) = (&self.contexts, &self.context, environments) {
            assert_eq!(envs.len(), b, "one environment per sample");
            let idx: Vec<i64> = envs.iter().map(|&e| e as i64).collect();
            let rows = ctx.val().select(
                0,
                Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [b]), device),
            );
            let k = rows.dims()[1];
            cond = cond + map.forward(rows.reshape([b, k, 1]));
        }
        if let Some(ctx) = &context {
            let map = self.context.as_ref().expect(
                "EncodeProcessDecode: a context vector needs a model built with environments > 0",
            );
            let [cb, k] = ctx.dims();
            assert_eq!(cb, b, "one context vector per sample");
            cond = cond + map.forward(ctx.clone().reshape([b, k, 1]));
        }
        let k = cond.dims()[1];
        gelu(cond).reshape([b, k])
    }

    /// Steps a batch of dataset `dataset` forward by `dt[i]` (per sample, so time sampling
    /// may be irregular).
    ///
    /// # Shapes
    /// - `u`: `[batch, channels of the dataset, *its grid]`, any grid of the processor's
    ///   dimension (resampled to and from the latent grid)
    /// - `dt`: `batch` values; `params`: `batch * params of the dataset` values;
    ///   `environments`: `batch` environment indices (with learned contexts), or `None`
    /// - output: like `u`
    ///
    /// # Panics
    /// If `D` is not the latent grid's dimension plus 2, the dataset index or the channel
    /// count is wrong, or the parameter or environment counts do not match the batch.
    pub fn step<const D: usize>(
        &self,
        dataset: usize,
        u: Tensor<D>,
        dt: &[f64],
        params: &[f64],
        environments: Option<&[usize]>,
    ) -> Tensor<D> {
        let mut cond = Conditioning::new(dt.to_vec())
            .with_coefficients(params.to_vec())
            .with_dataset(dataset);
        cond.environments = environments.map(<[usize]>::to_vec);
        self.step_conditioned(u, &cond)
    }

    /// [`step`](Self::step) with the whole [`Conditioning`] (which may carry a context
    /// vector), on a tensor of `D` axes.
    pub fn step_conditioned<const D: usize>(
        &self,
        u: Tensor<D>,
        given: &Conditioning,
    ) -> Tensor<D> {
        let config = &self.config;
        let (dataset, dt) = (given.dataset, &given.dt);
        let shape = u.dims();
        let device = u.device();
        let spec = &config.datasets[dataset];
        assert_eq!(
            D,
            config.latent_grid.len() + 2,
            "EncodeProcessDecode: {}D latent grid, input has {} axes",
            config.latent_grid.len(),
            D
        );
        assert_eq!(
            shape[1], spec.channels,
            "EncodeProcessDecode: dataset `{}` has {} channels, input has {}",
            spec.name, spec.channels, shape[1]
        );
        let b = shape[0];
        assert_eq!(dt.len(), b, "one time step per sample");
        let n: usize = shape[2..].iter().product();
        let flat = u.reshape([b, spec.channels, n]);
        let (x, stats) = match config.input_norm {
            InputNorm::None => (flat, None),
            InputNorm::PerSample => {
                let (mean, std) = sample_stats(flat.clone());
                ((flat - mean.clone()) / std.clone(), Some((mean, std)))
            }
        };
        let x = x.reshape(shape);
        let latent = resample(x.clone(), &config.latent_grid, &spec.periodic);
        let mut ldims = shape;
        ldims[1] = config.latent_channels;
        ldims[2..].copy_from_slice(&config.latent_grid);
        let nl: usize = config.latent_grid.iter().product();
        let head = &self.heads[dataset];
        let z = head
            .encoder
            .forward(latent.reshape([b, spec.channels, nl]))
            .reshape(ldims);
        let cond = self.condition(given, &device);
        let w = config.processor.width();
        let film: Vec<Tensor<2>> = self
            .film
            .iter()
            .map(|f| {
                let k = cond.dims()[1];
                f.forward(cond.clone().reshape([b, k, 1]))
                    .reshape([b, 2 * w])
            })
            .collect();
        let mut modulate = |i: usize, h: Tensor<3>| {
            let gb = film[i].clone();
            let scale = gb.clone().narrow(1, 0, w).reshape([b, w, 1]);
            let shift = gb.narrow(1, w, w).reshape([b, w, 1]);
            h.clone() * (scale + 1.0) + shift
        };
        let z = match &self.processor {
            Processor::Fno(f) => f.forward_with(z, &mut modulate),
            Processor::AViT(a) => a.forward_frame_with(z, &mut modulate),
        };
        let delta = head
            .decoder
            .forward(z.reshape([b, config.latent_channels, nl]));
        let mut cdims = ldims;
        cdims[1] = spec.channels;
        let delta = resample(delta.reshape(cdims), &shape[2..], &spec.periodic);
        let next = (x + delta).reshape([b, spec.channels, n]);
        let next = match stats {
            Some((mean, std)) => next * std + mean,
            None => next,
        };
        next.reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourier_resampling_is_exact_on_band_limited_signals() {
        let f = |x: f64| {
            1.0 + (2.0 * std::f64::consts::PI * x).sin()
                - 0.5 * (6.0 * std::f64::consts::PI * x).cos()
        };
        for (from, to) in [(64, 16), (16, 64), (17, 40), (40, 17)] {
            let m = resampling_matrix(from, to, true);
            for j in 0..to {
                let v: f64 = (0..from)
                    .map(|i| m[j * from + i] as f64 * f(i as f64 / from as f64))
                    .sum();
                assert!(
                    (v - f(j as f64 / to as f64)).abs() < 1e-5,
                    "{from}->{to} at {j}: {v}"
                );
            }
        }
    }

    #[test]
    fn linear_resampling_keeps_lines_and_ends() {
        let m = resampling_matrix(5, 9, false);
        for j in 0..9 {
            let v: f32 = (0..5).map(|i| m[j * 5 + i] * (2.0 * i as f32 + 1.0)).sum();
            assert!((v - (1.0 + j as f32)).abs() < 1e-5, "{j}: {v}");
        }
        assert_eq!(resampling_matrix(7, 7, false)[8], 1.0);
    }
}

/// `config.json` of an Encode-Process-Decode model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpdFile {
    kind: String,
    config: EpdConfig,
}

/// The `kind` of an Encode-Process-Decode model directory.
pub const EPD_KIND: &str = "physfm.epd";

impl EncodeProcessDecode {
    /// Saves the model as a model directory (`config.json` with its configuration,
    /// `model.safetensors`), atomically.
    pub fn save(&self, dir: &std::path::Path) -> Result<()> {
        let file = EpdFile {
            kind: EPD_KIND.into(),
            config: self.config.clone(),
        };
        crate::modeldir::save(dir, &file, self)
    }

    /// Loads a model directory written by [`EncodeProcessDecode::save`].
    pub fn load(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let file: EpdFile = crate::modeldir::description(dir, EPD_KIND)?;
        file.config.validate()?;
        crate::modeldir::weights(dir, file.config.init(device))
    }

    /// A model for the datasets of `target` that shares this model's processor, time
    /// embedding and FiLM layers (the pretrained dynamics) with new, freshly initialised
    /// encoders, decoders and parameter embeddings: the starting point of transfer to new
    /// physics. A target dataset with the name of a pretrained one (another regime of a
    /// pretraining family) keeps that dataset's head instead; it must have the same
    /// channels, parameters and periodicity. `config` must have the same latent grid,
    /// channels, processor and conditioning size as this model's, and no environments. The
    /// shared parts are trainable on `device` whatever device and mode this model is in.
    ///
    /// ```
    /// use burn::module::Module;
    /// use burn::tensor::Device;
    /// use physfm_models::{DatasetSpec, EpdConfig};
    /// let device = Device::flex();
    /// let spec = |name: &str, channels| DatasetSpec { name: name.into(), channels, params: 1, periodic: vec![true] };
    /// let pre = EpdConfig::new(vec![spec("a", 1), spec("b", 2)], &[32], 8, &[8], 16);
    /// let model = pre.init(&device);
    /// let mut target = pre.clone();
    /// target.datasets = vec![spec("new", 3)];
    /// let moved = model.transfer(&target, &device)?;
    /// assert_eq!(moved.heads.len(), 1);
    /// assert_eq!(moved.processor.num_params(), model.processor.num_params());
    /// // A dataset named as a pretrained one keeps its head.
    /// target.datasets = vec![spec("b", 2)];
    /// let same = model.transfer(&target, &device)?;
    /// let weights = |m: &physfm_models::EncodeProcessDecode, i: usize| {
    ///     m.heads[i].decoder.second.weight.val().into_data().to_vec::<f32>().unwrap()
    /// };
    /// assert_eq!(weights(&same, 0), weights(&model, 1));
    /// target.datasets = vec![spec("b", 1)];
    /// assert!(model.transfer(&target, &device).is_err());
    /// # Ok::<(), physfm_models::ModelError>(())
    /// ```
    pub fn transfer(&self, target: &EpdConfig, device: &Device) -> Result<Self> {
        let own = &self.config;
        target.validate()?;
        let differs = [
            ("latent_grid", own.latent_grid != target.latent_grid),
            (
                "latent_channels",
                own.latent_channels != target.latent_channels,
            ),
            ("processor", own.processor != target.processor),
            ("cond_dim", own.cond_dim != target.cond_dim),
            ("environments", target.environments > 0),
        ];
        if let Some((key, _)) = differs.iter().find(|(_, d)| *d) {
            return Err(ModelError::Config {
                key: format!("model.{key}"),
                value: "target configuration".into(),
                reason: "a transfer keeps the latent grid, latent channels, processor and \
                         conditioning size of the pretrained model, and has no environments"
                    .into(),
            });
        }
        let mut model = target.init(device);
        // A target dataset named as a pretrained one (the same physics, e.g. another regime
        // of a pretraining family) starts from that dataset's head.
        for (i, d) in target.datasets.iter().enumerate() {
            if let Some(j) = own.datasets.iter().position(|p| p.name == d.name) {
                if own.datasets[j] != *d {
                    return Err(ModelError::Config {
                        key: format!("datasets[{i}]"),
                        value: d.name.clone(),
                        reason: format!(
                            "the pretrained head of this name has {:?}; a target that reuses \
                             it needs the same channels, parameters and periodicity",
                            own.datasets[j]
                        ),
                    });
                }
                model.heads[i] = self.heads[j].clone().train().fork(device);
            }
        }
        // `train` restores gradient tracking on a module from `valid()` or loaded on a plain
        // device, and `fork` gives the copies their own autodiff graph on `device`: without
        // both, the shared weights would enter training as constants.
        model.processor = self.processor.clone().train().fork(device);
        model.time = self.time.clone().train().fork(device);
        model.film = self
            .film
            .iter()
            .map(|f| f.clone().train().fork(device))
            .collect();
        Ok(model)
    }
}

/// [`EncodeProcessDecode::step_conditioned`] as a [`GridFn`].
struct EpdStep<'a> {
    model: &'a EncodeProcessDecode,
    cond: &'a Conditioning,
}

impl GridFn for EpdStep<'_> {
    fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.model.step_conditioned(x, self.cond)
    }
}

impl Dynamics for EncodeProcessDecode {
    fn history(&self) -> usize {
        1
    }

    /// The next physical frame of dataset `cond.dataset` (the model works on physical fields).
    ///
    /// # Panics
    /// As [`EncodeProcessDecode::step`], and if the window has more than one frame.
    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        let [b, h, c, n] = frames.dims();
        assert_eq!(
            h, 1,
            "EncodeProcessDecode steps from one frame, got a window of {h}"
        );
        on_grid(
            frames.reshape([b, c, n]),
            space,
            &EpdStep { model: self, cond },
        )
    }
}

impl Surrogate for EncodeProcessDecode {
    fn fresh(&self, device: &Device) -> Self {
        self.config.init(device)
    }

    fn dims(&self) -> usize {
        self.config.latent_grid.len()
    }

    fn coefficients(&self, dataset: usize) -> Option<usize> {
        Some(self.config.datasets[dataset].params)
    }

    fn kind(&self) -> &'static str {
        EPD_KIND
    }

    fn channels(&self, dataset: usize) -> usize {
        self.config.datasets[dataset].channels
    }

    fn dataset_names(&self) -> Vec<String> {
        self.config
            .datasets
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    fn context_dim(&self) -> usize {
        if self.context.is_some() {
            self.config.context_dim
        } else {
            0
        }
    }

    /// The encoder part holds each head's encoder and parameter embedding (what a new
    /// physics brings), the processor part the shared processor, the conditioning part the
    /// time embedding, the FiLM layers and the environments' contexts.
    fn parts(&self) -> Parts {
        let heads = (0..self.heads.len()).map(|i| format!("heads.{i}"));
        Parts {
            encoder: heads
                .clone()
                .flat_map(|h| [format!("{h}.encoder"), format!("{h}.params")])
                .collect(),
            processor: vec!["processor".into()],
            decoder: heads.map(|h| format!("{h}.decoder")).collect(),
            conditioning: ["time", "film", "contexts", "context"]
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }

    fn save(&self, dir: &std::path::Path) -> Result<()> {
        EncodeProcessDecode::save(self, dir)
    }
}
