//! The one interface of every model: a [`Surrogate`] advances PDE state by one step, from a
//! window of past frames and a [`Conditioning`].
//!
//! Generic code (training, rollout, evaluation, adaptation) is written once against this
//! trait; every model of this crate implements it:
//!
//! | model | what it is | history | coefficients |
//! |---|---|---|---|
//! | [`Stepper1d`](crate::Stepper1d) | an FNO or TFNO with normalisation and residual prediction | its config | constant input channels |
//! | [`EncodeProcessDecode`](crate::EncodeProcessDecode) | per-dataset heads around a shared latent processor | 1 | FiLM, per dataset |
//! | [`UNet`](crate::UNet) | PDEArena's U-Net, predicting the increment | `in / out` channels | its conditioning embedding |
//! | [`AViT`](crate::AViT) | MPP's axial ViT, predicting the increment | its config | not used |
//!
//! Shapes are the same for every model: frames `[batch, history, channels, points]` with the
//! spatial axes flattened (row-major) into `points`, and the grid's shape given beside them;
//! the next frame comes back as `[batch, channels, points]`. Flattening is what lets one
//! function serve 1D, 2D and 3D data without const-generic arithmetic.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use physfm_models::{Conditioning, Dynamics, Surrogate, UNetConfig, rollout};
//! let device = Device::flex();
//! // A 2D U-Net that sees two frames of one channel and is conditioned on dt and one coefficient.
//! // Every configuration has documented defaults and `with_*` setters, as burn's do.
//! let model = UNetConfig::new(2, 1, 2)
//!     .with_hidden(8)
//!     .with_channel_mults(vec![1, 2])
//!     .with_norm_groups(4)
//!     .with_cond_dims(2)
//!     .init(&device);
//! assert_eq!(model.history(), 2);
//! let frames = Tensor::<4>::zeros([3, 2, 1, 16 * 16], &device);
//! let cond = Conditioning::new(vec![0.1; 3]).with_coefficients(vec![0.5, 1.0, 2.0]);
//! let next = model.step(frames.clone(), &[16, 16], &cond);
//! assert_eq!(next.dims(), [3, 1, 256]);
//! let path = rollout(&model, frames, &[16, 16], &cond, 4);
//! assert_eq!(path.dims(), [3, 4, 1, 256]);
//! ```

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use crate::{AViT, EncodeProcessDecode, ModelError, Result, Stepper1d, UNet};

/// Everything a surrogate is told besides the frames, for one batch.
#[derive(Debug, Clone)]
pub struct Conditioning {
    /// Physical time from each sample's last input frame to the predicted frame (so time
    /// sampling may be irregular), `batch` values.
    pub dt: Vec<f64>,
    /// Known PDE coefficients, `batch * coefficients` values, row-major; empty where none
    /// are known. How a model uses them is its own (input channels, FiLM, an embedding).
    pub coefficients: Vec<f64>,
    /// Which dataset (physics) the batch comes from: the head a multi-physics model uses.
    /// Single-dataset models take 0.
    pub dataset: usize,
    /// Environment index of each sample, for models with learned per-environment contexts
    /// (LEADS- and CoDA-style adaptation).
    pub environments: Option<Vec<usize>>,
    /// An adaptation context vector per sample, `[batch, context]`, added to the model's
    /// conditioning (see [`Surrogate::context_dim`]).
    pub context: Option<Tensor<2>>,
}

impl Conditioning {
    /// The conditioning of a batch of `dt.len()` samples of dataset 0, without coefficients
    /// or context.
    pub fn new(dt: Vec<f64>) -> Self {
        Self {
            dt,
            coefficients: Vec::new(),
            dataset: 0,
            environments: None,
            context: None,
        }
    }

    /// With known coefficients (`batch * coefficients` values, row-major).
    pub fn with_coefficients(mut self, coefficients: Vec<f64>) -> Self {
        self.coefficients = coefficients;
        self
    }

    /// For dataset `dataset` of a multi-physics model.
    pub fn with_dataset(mut self, dataset: usize) -> Self {
        self.dataset = dataset;
        self
    }

    /// With an environment index per sample.
    pub fn with_environments(mut self, environments: Vec<usize>) -> Self {
        self.environments = Some(environments);
        self
    }

    /// With an adaptation context `[batch, context]`.
    pub fn with_context(mut self, context: Tensor<2>) -> Self {
        self.context = Some(context);
        self
    }

    /// Samples in the batch.
    pub fn batch(&self) -> usize {
        self.dt.len()
    }

    /// Coefficients per sample.
    pub fn coefficients_per_sample(&self) -> usize {
        self.coefficients.len() / self.dt.len().max(1)
    }

    /// The conditioning of the samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let p = self.coefficients_per_sample();
        let context = self.context.as_ref().map(|c| {
            let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
            let n = idx.len();
            c.clone().select(
                0,
                Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [n]), &c.device()),
            )
        });
        Self {
            dt: indices.iter().map(|&i| self.dt[i]).collect(),
            coefficients: indices
                .iter()
                .flat_map(|&i| self.coefficients[i * p..(i + 1) * p].iter().copied())
                .collect(),
            dataset: self.dataset,
            environments: self
                .environments
                .as_ref()
                .map(|e| indices.iter().map(|&i| e[i]).collect()),
            context,
        }
    }
}

/// Where a model's weights sit, by role, as path prefixes of burn's module traversal
/// (`net.projection`, `heads`, `processor`): what partial fine-tuning trains, what LoRA
/// adapts, and what a new physics replaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parts {
    /// From the data's channels into the model's hidden state.
    pub encoder: Vec<String>,
    /// The shared dynamics on the hidden state.
    pub processor: Vec<String>,
    /// From the hidden state back to the data's channels.
    pub decoder: Vec<String>,
    /// Embeddings of time step, coefficients and context.
    pub conditioning: Vec<String>,
}

/// The maps one step of a model is made of, which a training unroll needs: the output in
/// the model's own *training space* ([`forward_raw`]: normalised increments for a
/// [`Stepper1d`], physical fields or increments for the others), a true next frame mapped
/// into that space ([`target`]), and the output mapped back to the physical next frame
/// ([`decode`]). Generic training computes each model's loss where the model was designed to
/// have it.
///
/// Every [`Surrogate`] is `Dynamics`; so is a network borrowed together with a stepper's
/// transforms ([`StepperFrame::with_net`](crate::StepperFrame::with_net)), which lets
/// adaptation methods that rebuild weights every step (CoDA, Reptile) unroll through the same
/// code.
///
/// [`forward_raw`]: Dynamics::forward_raw
/// [`target`]: Dynamics::target
/// [`decode`]: Dynamics::decode
pub trait Dynamics {
    /// Input frames per step: the window length of `frames`.
    fn history(&self) -> usize;

    /// The output in the model's training space.
    ///
    /// # Shapes
    /// - `frames`: `[batch, history, channels, points]`, oldest frame first; `space`: the
    ///   grid's shape, whose product is `points`
    /// - output: `[batch, channels, points]`
    ///
    /// # Panics
    /// If the shapes or the conditioning do not fit the model (each model's `# Panics`).
    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3>;

    /// The true next frame `next` (`[batch, channels, points]`) after `frames`, in the
    /// training space. The default is the frame itself.
    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        let _ = frames;
        next
    }

    /// The physical next frame from an output of [`Dynamics::forward_raw`]. The default is
    /// the output itself.
    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        let _ = frames;
        raw
    }

    /// The physical next frame `[batch, channels, points]` after `frames`.
    fn step(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        let raw = self.forward_raw(frames.clone(), space, cond);
        self.decode(&frames, raw)
    }
}

impl Parts {
    /// Every path under `prefix` (the parts of a model held as field or variant `prefix`).
    pub fn prefixed(self, prefix: &str) -> Self {
        let p = |v: Vec<String>| v.into_iter().map(|s| format!("{prefix}.{s}")).collect();
        Self {
            encoder: p(self.encoder),
            processor: p(self.processor),
            decoder: p(self.decoder),
            conditioning: p(self.conditioning),
        }
    }

    /// Every prefix, of every role.
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.encoder
            .iter()
            .chain(&self.processor)
            .chain(&self.decoder)
            .chain(&self.conditioning)
    }
}

/// Anything that advances PDE state by one step (see the [module docs](self)): a burn module
/// with [`Dynamics`], that knows its history and channels, where its weights sit by role,
/// and how to save itself.
pub trait Surrogate: Module + burn::module::ModuleDisplay + Dynamics {
    /// The `kind` written in the model's directory (`config.json`).
    fn kind(&self) -> &'static str;

    /// Field channels of dataset `dataset`.
    fn channels(&self, dataset: usize) -> usize;

    /// Spatial axes of the grids it steps on.
    fn dims(&self) -> usize;

    /// Coefficients per sample that it takes for dataset `dataset` ([`Conditioning`]), or
    /// `None` where it does not use them.
    fn coefficients(&self, dataset: usize) -> Option<usize>;

    /// Size of the context vector the model takes in [`Conditioning::context`] (0: none).
    fn context_dim(&self) -> usize {
        0
    }

    /// The per-channel scale of dataset `dataset`'s fields where the model keeps
    /// normalisation statistics of its own (the unit of training's input noise); `None`
    /// otherwise, and training takes the data's.
    fn field_scale(&self, dataset: usize) -> Option<Vec<f32>> {
        let _ = dataset;
        None
    }

    /// The names of its datasets, in index order, where it has named ones (a multi-physics
    /// model); empty otherwise. Training logs and errors use them.
    fn dataset_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// The same architecture (and normalisation, where the model has its own) with newly
    /// initialised weights on `device`, drawn from the device's generator: the no-pretraining
    /// baseline.
    fn fresh(&self, device: &Device) -> Self;

    /// Its weights by role.
    fn parts(&self) -> Parts;

    /// Saves the model as a model directory (`config.json` and `model.safetensors`; see
    /// [`write_spec`](crate::write_spec) for the spec that made it), atomically.
    fn save(&self, dir: &Path) -> Result<()>;
}

/// Any model of this crate, as loaded from a model directory by [`load_surrogate`] without
/// knowing its kind beforehand.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnySurrogate {
    /// An FNO or TFNO stepper.
    Stepper(Stepper1d),
    /// A multi-physics Encode-Process-Decode model.
    Epd(EncodeProcessDecode),
    /// A U-Net.
    UNet(UNet),
    /// An axial ViT.
    AViT(AViT),
}

/// Calls `$body` with `$m` bound to the model inside an [`AnySurrogate`].
macro_rules! each {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            AnySurrogate::Stepper($m) => $body,
            AnySurrogate::Epd($m) => $body,
            AnySurrogate::UNet($m) => $body,
            AnySurrogate::AViT($m) => $body,
        }
    };
}

impl Dynamics for AnySurrogate {
    fn history(&self) -> usize {
        each!(self, m => Dynamics::history(m))
    }
    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        each!(self, m => m.forward_raw(frames, space, cond))
    }
    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        each!(self, m => Dynamics::target(m, frames, next))
    }
    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        each!(self, m => Dynamics::decode(m, frames, raw))
    }
}

impl Surrogate for AnySurrogate {
    fn kind(&self) -> &'static str {
        each!(self, m => m.kind())
    }
    fn channels(&self, dataset: usize) -> usize {
        each!(self, m => Surrogate::channels(m, dataset))
    }
    fn dims(&self) -> usize {
        each!(self, m => m.dims())
    }
    fn coefficients(&self, dataset: usize) -> Option<usize> {
        each!(self, m => m.coefficients(dataset))
    }
    fn context_dim(&self) -> usize {
        each!(self, m => m.context_dim())
    }
    fn dataset_names(&self) -> Vec<String> {
        each!(self, m => m.dataset_names())
    }
    fn field_scale(&self, dataset: usize) -> Option<Vec<f32>> {
        each!(self, m => m.field_scale(dataset))
    }
    /// The inner model's parts under the variant's name, as burn's traversal names them.
    fn parts(&self) -> Parts {
        let (variant, parts) = match self {
            AnySurrogate::Stepper(m) => ("Stepper", m.parts()),
            AnySurrogate::Epd(m) => ("Epd", m.parts()),
            AnySurrogate::UNet(m) => ("UNet", m.parts()),
            AnySurrogate::AViT(m) => ("AViT", m.parts()),
        };
        parts.prefixed(variant)
    }
    fn save(&self, dir: &Path) -> Result<()> {
        each!(self, m => Surrogate::save(m, dir))
    }
    fn fresh(&self, device: &Device) -> Self {
        match self {
            AnySurrogate::Stepper(m) => AnySurrogate::Stepper(m.fresh(device)),
            AnySurrogate::Epd(m) => AnySurrogate::Epd(m.fresh(device)),
            AnySurrogate::UNet(m) => AnySurrogate::UNet(m.fresh(device)),
            AnySurrogate::AViT(m) => AnySurrogate::AViT(m.fresh(device)),
        }
    }
}

/// Loads any model directory written by [`Surrogate::save`] (or by an earlier physfm, whose
/// directories, `model.json` beside `weights.bpk`, load too), whatever its kind.
///
/// # Errors
/// [`ModelError::Io`] naming `config.json` when it is missing or unreadable, or names a kind
/// this version does not know (the message lists the known kinds); the model's own errors for
/// a bad configuration or weights file.
pub fn load_surrogate(dir: &Path, device: &Device) -> Result<AnySurrogate> {
    let kind = crate::modeldir::model_kind(dir)?;
    Ok(match kind.as_str() {
        crate::STEPPER_KIND => AnySurrogate::Stepper(Stepper1d::load(dir, device)?),
        crate::EPD_KIND => AnySurrogate::Epd(EncodeProcessDecode::load(dir, device)?),
        crate::UNET_KIND => AnySurrogate::UNet(UNet::load(dir, device)?),
        crate::AVIT_KIND => AnySurrogate::AViT(AViT::load(dir, device)?),
        other => {
            return Err(ModelError::Io {
                path: dir.join(crate::CONFIG_FILE),
                message: format!(
                    "unknown model kind `{other}`; this version loads {}, {}, {} and {}",
                    crate::STEPPER_KIND,
                    crate::EPD_KIND,
                    crate::UNET_KIND,
                    crate::AVIT_KIND
                ),
            });
        }
    })
}

/// The path of every float parameter of `module`, as burn's traversal names it
/// (`net.blocks.0.spectral.weight`), in traversal order: what [`Parts`] prefixes select from.
pub fn parameter_paths<M: Module>(module: &M) -> Vec<String> {
    struct Paths {
        stack: Vec<String>,
        out: Vec<String>,
    }
    impl burn::module::ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.stack.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, _param: &burn::module::Param<Tensor<D>>) {
            self.out.push(self.stack.join("."));
        }
    }
    let mut p = Paths {
        stack: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut p);
    p.out
}

/// Whether `path` lies under `prefix` (a prefix matches whole path components).
pub fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The window one step later: the oldest frame dropped and `next` appended.
///
/// # Shapes
/// - `frames`: `[batch, history, channels, points]`, `next`: `[batch, channels, points]`
/// - output: like `frames`
pub fn advance(frames: Tensor<4>, next: Tensor<3>) -> Tensor<4> {
    let [b, h, c, n] = frames.dims();
    let next = next.reshape([b, 1, c, n]);
    if h == 1 {
        return next;
    }
    Tensor::cat(vec![frames.narrow(1, 1, h - 1), next], 1)
}

/// The newest frame of a window, `[batch, channels, points]`.
pub fn last_frame(frames: Tensor<4>) -> Tensor<3> {
    let [b, h, c, n] = frames.dims();
    frames.narrow(1, h - 1, 1).reshape([b, c, n])
}

/// An autoregressive rollout of `steps` frames from the window `frames`: each predicted frame
/// enters the window of the next step. Returns `[batch, steps, channels, points]`.
///
/// Every sample keeps its `cond` (the same time step and coefficients at every step).
pub fn rollout<M: Dynamics + ?Sized>(
    model: &M,
    frames: Tensor<4>,
    space: &[usize],
    cond: &Conditioning,
    steps: usize,
) -> Tensor<4> {
    let [b, _, c, n] = frames.dims();
    let mut window = frames;
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        let next = model.step(window.clone(), space, cond);
        out.push(next.clone().reshape([b, 1, c, n]));
        window = advance(window, next);
    }
    Tensor::cat(out, 1)
}

/// A function of a `[batch, channels, *space]` tensor of any spatial rank, for
/// [`on_grid`]: the bridge from the flattened layout of [`Surrogate`] to models written for
/// `Tensor<D>`.
pub(crate) trait GridFn {
    /// Applies the function; the output keeps the batch and spatial axes.
    fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D>;
}

/// Applies `f` to `x` (`[batch, channels, points]`) seen as `[batch, channels, *space]`, and
/// flattens the result back to `[batch, channels', points]`.
///
/// # Panics
/// If `space` has no axes or more than three, or its product is not `points`.
pub(crate) fn on_grid<F: GridFn>(x: Tensor<3>, space: &[usize], f: &F) -> Tensor<3> {
    let [b, c, n] = x.dims();
    assert_eq!(
        space.iter().product::<usize>(),
        n,
        "a grid of shape {space:?} does not hold {n} points"
    );
    let flat = |y: Vec<usize>| [y[0], y[1], n];
    match *space {
        [a] => {
            let y = f.apply(x.reshape([b, c, a]));
            let d = y.dims().to_vec();
            y.reshape(flat(d))
        }
        [a, e] => {
            let y = f.apply(x.reshape([b, c, a, e]));
            let d = y.dims().to_vec();
            y.reshape(flat(d))
        }
        [a, e, g] => {
            let y = f.apply(x.reshape([b, c, a, e, g]));
            let d = y.dims().to_vec();
            y.reshape(flat(d))
        }
        _ => panic!("grids of 1 to 3 axes are supported, got {space:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn advance_drops_the_oldest_frame() {
        let device = Device::flex();
        let v: Vec<f32> = (0..2 * 3 * 2).map(|i| i as f32).collect();
        let frames = Tensor::<4>::from_data(TensorData::new(v, [2, 3, 1, 2]), &device);
        let next = Tensor::<3>::from_data(
            TensorData::new(vec![100.0f32, 101.0, 200.0, 201.0], [2, 1, 2]),
            &device,
        );
        let out = advance(frames, next)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(
            out,
            vec![
                2.0, 3.0, 4.0, 5.0, 100.0, 101.0, 8.0, 9.0, 10.0, 11.0, 200.0, 201.0
            ]
        );
    }

    #[test]
    fn select_keeps_each_samples_coefficients() {
        let c = Conditioning::new(vec![0.1, 0.2, 0.3])
            .with_coefficients(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            .with_environments(vec![7, 8, 9]);
        let s = c.select(&[2, 0]);
        assert_eq!(s.dt, vec![0.3, 0.1]);
        assert_eq!(s.coefficients, vec![5.0, 6.0, 1.0, 2.0]);
        assert_eq!(s.environments, Some(vec![9, 7]));
    }
}
