//! A one-step surrogate `u(t + dt) = F(u(t - (h - 1) dt), ..., u(t), parameters)` around an
//! [`Fno`] in 1D: a history window of `h` frames, normalisation, parameter conditioning and
//! residual prediction, and saving to a model directory.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::{Conditioning, Dynamics, Fno, FnoConfig, ModelError, Parts, Result, Surrogate};

/// Normalisation statistics, computed from training data.
///
/// Fields are normalised per channel; with residual prediction, the network's target is the
/// per-channel normalised increment `u(t + dt) - u(t)`. Parameters enter as constant input
/// channels, optionally log-transformed, then standardised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Mean of each field channel.
    pub field_mean: Vec<f32>,
    /// Standard deviation of each field channel.
    pub field_std: Vec<f32>,
    /// Mean of each channel's one-step increment.
    pub delta_mean: Vec<f32>,
    /// Standard deviation of each channel's one-step increment.
    pub delta_std: Vec<f32>,
    /// Parameter names, in input order.
    pub param_names: Vec<String>,
    /// Whether each parameter enters through its logarithm.
    pub param_log: Vec<bool>,
    /// Mean of each (transformed) parameter.
    pub param_mean: Vec<f32>,
    /// Standard deviation of each (transformed) parameter.
    pub param_std: Vec<f32>,
}

/// Configuration of a [`Stepper1d`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepperConfig {
    /// The network; its `in_channels` must be `history` times the field channels plus the
    /// parameters, and its `out_channels` the field channels.
    pub fno: FnoConfig,
    /// Predict the increment from the last input frame (`true`) or the next state (`false`).
    pub residual: bool,
    /// Input frames the model sees, oldest first, stacked on the channel axis. Default 1 (and
    /// not written to `config.json` when 1, so older model directories read unchanged).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub history: usize,
}

fn one() -> usize {
    1
}

fn is_one(h: &usize) -> bool {
    *h == 1
}

setters!(StepperConfig {
    with_history => history: usize = "1",
});

impl StepperConfig {
    /// A stepper of one input frame around `fno`.
    pub fn new(fno: FnoConfig, residual: bool) -> Self {
        Self {
            fno,
            residual,
            history: 1,
        }
    }
}

/// The saved description of a model directory (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    kind: String,
    config: StepperConfig,
    normalization: Normalization,
}

/// The `kind` of a [`Stepper1d`] model directory.
pub const STEPPER_KIND: &str = "physfm.stepper1d.fno";

/// One-step FNO (or TFNO) surrogate of a PDE with scalar parameters: normalised fields,
/// parameters as constant channels, residual prediction. Its own [`step`](Stepper1d::step)
/// takes 1D windows; through [`Dynamics`] it steps grids of one to three axes (one mode count
/// per axis in its FNO), as the CoDA protocol's 2D systems do.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_models::{FnoConfig, Normalization, Stepper1d, StepperConfig};
/// let device = Device::flex();
/// let norm = Normalization {
///     field_mean: vec![0.0], field_std: vec![1.0], delta_mean: vec![0.0], delta_std: vec![0.1],
///     param_names: vec!["nu".into()], param_log: vec![true], param_mean: vec![-3.0], param_std: vec![1.0],
/// };
/// let cfg = StepperConfig::new(FnoConfig::new(2, 1, &[8], 8), true);
/// let model = Stepper1d::new(cfg, norm.clone(), &device)?;
/// let u = Tensor::<3>::zeros([4, 1, 32], &device);
/// let next = model.step(u, &[0.01, 0.02, 0.05, 0.1]);
/// assert_eq!(next.dims(), [4, 1, 32]);
///
/// // Two input frames: the window [u(t - dt), u(t)] is stacked on the channel axis.
/// let cfg = StepperConfig { history: 2, ..StepperConfig::new(FnoConfig::new(3, 1, &[8], 8), true) };
/// let model = Stepper1d::new(cfg, norm, &device)?;
/// let window = Tensor::<3>::zeros([4, 2, 32], &device);
/// let next = model.step(window.clone(), &[0.01, 0.02, 0.05, 0.1]);
/// assert_eq!(next.dims(), [4, 1, 32]);
/// assert_eq!(model.frame().advance(window, next).dims(), [4, 2, 32]);
/// # Ok::<(), physfm_models::ModelError>(())
/// ```
#[derive(Module, Debug)]
pub struct Stepper1d {
    /// Configuration.
    #[module(skip)]
    pub config: StepperConfig,
    /// Normalisation statistics.
    #[module(skip)]
    pub norm: Normalization,
    /// The trainable network.
    pub net: Fno,
}

impl Stepper1d {
    /// Builds a fresh model.
    pub fn new(config: StepperConfig, norm: Normalization, device: &Device) -> Result<Self> {
        check(&config, &norm)?;
        let net = config.fno.init(device);
        Ok(Self { config, norm, net })
    }

    /// Field channels.
    pub fn channels(&self) -> usize {
        self.norm.field_mean.len()
    }

    /// Input frames per step.
    pub fn history(&self) -> usize {
        self.config.history
    }

    /// The input/output transforms of this model, without its network.
    pub fn frame(&self) -> StepperFrame<'_> {
        StepperFrame {
            residual: self.config.residual,
            history: self.config.history,
            norm: &self.norm,
        }
    }

    /// The network input: normalised fields followed by normalised parameter channels
    /// (see [`StepperFrame::net_input`]).
    pub fn net_input(&self, u: Tensor<3>, params: &[f64]) -> Tensor<3> {
        self.frame().net_input(u, params)
    }

    /// The normalised training target for the window `u` and its next frame.
    pub fn net_target(&self, u: Tensor<3>, next: Tensor<3>) -> Tensor<3> {
        self.frame().net_target(u, next)
    }

    /// Maps the network output back to the next physical state.
    pub fn decode(&self, u: Tensor<3>, out: Tensor<3>) -> Tensor<3> {
        self.frame().decode(u, out)
    }

    /// One step: the predicted state one save interval after the window's last frame.
    ///
    /// # Shapes
    /// - `u`: the window `[batch, history * channels, n]` (frames oldest first, each frame's
    ///   channels together; with one frame of history, the state `[batch, channels, n]`),
    ///   `params`: `batch * parameters` values
    /// - output: `[batch, channels, n]`
    pub fn step(&self, u: Tensor<3>, params: &[f64]) -> Tensor<3> {
        let out = self.net.forward(self.net_input(u.clone(), params));
        self.decode(u, out)
    }

    /// Saves `config.json` and `model.safetensors` into `dir` (created if needed), each written to a
    /// temporary name and renamed, so a crash never leaves a half-written model.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let file = ModelFile {
            kind: STEPPER_KIND.into(),
            config: self.config.clone(),
            normalization: self.norm.clone(),
        };
        crate::modeldir::save(dir, &file, &self.net)
    }

    /// Loads a model saved by [`Stepper1d::save`].
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let file: ModelFile = crate::modeldir::description(dir, STEPPER_KIND)?;
        let mut model = Self::new(file.config, file.normalization, device)?;
        model.net = crate::modeldir::weights(dir, model.net)?;
        Ok(model)
    }
}

impl Dynamics for Stepper1d {
    fn history(&self) -> usize {
        self.config.history
    }

    /// The normalised increment (or state): the window's frames normalised per channel and
    /// the coefficients as constant channels, through the FNO on the grid `space`.
    ///
    /// # Panics
    /// If the window does not have the stepper's history and channels, a context is given,
    /// or the coefficients are not one value per parameter and sample.
    fn forward_raw(&self, frames: Tensor<4>, space: &[usize], cond: &Conditioning) -> Tensor<3> {
        self.frame()
            .with_net(|x| self.net.forward_points(x, space))
            .forward_raw(frames, space, cond)
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        let f = self.frame();
        f.net_target(f.window(frames.clone()), next)
    }

    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        let f = self.frame();
        f.decode(f.window(frames.clone()), raw)
    }
}

impl Surrogate for Stepper1d {
    fn field_scale(&self, _dataset: usize) -> Option<Vec<f32>> {
        Some(self.norm.field_std.clone())
    }

    fn fresh(&self, device: &Device) -> Self {
        Self {
            config: self.config.clone(),
            norm: self.norm.clone(),
            net: self.config.fno.init(device),
        }
    }

    fn dims(&self) -> usize {
        self.net.dims
    }

    fn coefficients(&self, _dataset: usize) -> Option<usize> {
        Some(self.norm.param_names.len())
    }

    fn kind(&self) -> &'static str {
        STEPPER_KIND
    }

    fn channels(&self, _dataset: usize) -> usize {
        self.norm.field_mean.len()
    }

    fn parts(&self) -> Parts {
        Parts {
            encoder: vec!["net.lifting".into()],
            processor: vec!["net.blocks".into()],
            decoder: vec!["net.projection".into()],
            conditioning: Vec::new(),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        Stepper1d::save(self, dir)
    }
}

/// The transforms around a stepper's network (normalisation, parameter channels, residual
/// decoding, the history window), borrowed from a [`Stepper1d`] so that a training loop can own
/// the network while still mapping data to and from its input and target.
///
/// A window holds `history` frames, oldest first, stacked on the channel axis: `[batch,
/// history * channels, n]`. With a history of one frame the window is the state itself.
#[derive(Debug, Clone, Copy)]
pub struct StepperFrame<'a> {
    /// Whether the network predicts the increment.
    pub residual: bool,
    /// Input frames per window.
    pub history: usize,
    /// Normalisation statistics.
    pub norm: &'a Normalization,
}

/// `v` repeated `times` times as a `[1, times * len, 1]` tensor.
fn per_channel_repeated(v: &[f32], times: usize, device: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..times).flat_map(|_| v.iter().copied()).collect();
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [1, len, 1]), device)
}

fn per_channel(v: &[f32], device: &Device) -> Tensor<3> {
    per_channel_repeated(v, 1, device)
}

impl StepperFrame<'_> {
    /// The last (newest) frame of a window.
    ///
    /// # Shapes
    /// - `window`: `[batch, history * channels, n]`; output: `[batch, channels, n]`
    pub fn last(&self, window: Tensor<3>) -> Tensor<3> {
        if self.history == 1 {
            return window;
        }
        let c = self.norm.field_mean.len();
        window.narrow(1, (self.history - 1) * c, c)
    }

    /// The window one step later: the oldest frame dropped, `next` appended.
    ///
    /// # Shapes
    /// - `window`: `[batch, history * channels, n]`, `next`: `[batch, channels, n]`
    /// - output: `[batch, history * channels, n]`
    pub fn advance(&self, window: Tensor<3>, next: Tensor<3>) -> Tensor<3> {
        if self.history == 1 {
            return next;
        }
        let c = self.norm.field_mean.len();
        let kept = window.narrow(1, c, (self.history - 1) * c);
        Tensor::cat(vec![kept, next], 1)
    }

    /// The network input: every frame of the window normalised per channel, followed by the
    /// normalised parameter channels.
    ///
    /// # Shapes
    /// - `u`: `[batch, history * channels, n]`; `params`: `batch * parameters` values,
    ///   row-major
    /// - output: `[batch, history * channels + parameters, n]`
    pub fn net_input(&self, u: Tensor<3>, params: &[f64]) -> Tensor<3> {
        let [b, _, n] = u.dims();
        let device = u.device();
        let h = self.history;
        let un = (u - per_channel_repeated(&self.norm.field_mean, h, &device))
            / per_channel_repeated(&self.norm.field_std, h, &device);
        let p = self.norm.param_names.len();
        if p == 0 {
            return un;
        }
        assert_eq!(
            params.len(),
            b * p,
            "Stepper1d: expected {b} x {p} parameter values, got {}",
            params.len()
        );
        let pn: Vec<f32> = params
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let j = i % p;
                let v = if self.norm.param_log[j] { v.ln() } else { v };
                ((v - self.norm.param_mean[j] as f64) / self.norm.param_std[j] as f64) as f32
            })
            .collect();
        let pt = Tensor::<3>::from_data(TensorData::new(pn, [b, p, 1]), &device).expand([b, p, n]);
        Tensor::cat(vec![un, pt], 1)
    }

    /// The normalised training target for the window `u` and its next frame: the increment
    /// from the window's last frame, or the next state.
    pub fn net_target(&self, u: Tensor<3>, next: Tensor<3>) -> Tensor<3> {
        let device = u.device();
        if self.residual {
            (next - self.last(u) - per_channel(&self.norm.delta_mean, &device))
                / per_channel(&self.norm.delta_std, &device)
        } else {
            (next - per_channel(&self.norm.field_mean, &device))
                / per_channel(&self.norm.field_std, &device)
        }
    }

    /// Maps the network output back to the next physical state (`[batch, channels, n]`) after
    /// the window `u`.
    pub fn decode(&self, u: Tensor<3>, out: Tensor<3>) -> Tensor<3> {
        let device = u.device();
        if self.residual {
            self.last(u)
                + out * per_channel(&self.norm.delta_std, &device)
                + per_channel(&self.norm.delta_mean, &device)
        } else {
            out * per_channel(&self.norm.field_std, &device)
                + per_channel(&self.norm.field_mean, &device)
        }
    }
}

impl<'a> StepperFrame<'a> {
    /// These transforms around the network `net` (the network input `[batch, history *
    /// channels + parameters, points]` to its output `[batch, channels, points]`), as
    /// [`Dynamics`]: how adaptation methods that build their network's weights anew for each
    /// batch (CoDA, Reptile) unroll through the same code as every model.
    pub fn with_net<F: Fn(Tensor<3>) -> Tensor<3>>(self, net: F) -> FramedNet<'a, F> {
        FramedNet { frame: self, net }
    }

    /// A window `[batch, history, channels, n]` in the stepper's layout `[batch, history *
    /// channels, n]`.
    fn window(&self, frames: Tensor<4>) -> Tensor<3> {
        let [b, h, c, n] = frames.dims();
        let channels = self.norm.field_mean.len();
        assert!(
            h == self.history && c == channels,
            "stepper: a window of {h} frames of {c} channels, the model takes {} of {channels}",
            self.history,
        );
        frames.reshape([b, h * c, n])
    }
}

/// A network with a stepper's transforms around it (see [`StepperFrame::with_net`]).
#[derive(Debug, Clone, Copy)]
pub struct FramedNet<'a, F> {
    /// The transforms.
    pub frame: StepperFrame<'a>,
    /// The network.
    pub net: F,
}

impl<F: Fn(Tensor<3>) -> Tensor<3>> Dynamics for FramedNet<'_, F> {
    fn history(&self) -> usize {
        self.frame.history
    }

    /// # Panics
    /// If the window does not have the frame's history and channels, a context is given, or
    /// the coefficients are not one value per parameter and sample.
    fn forward_raw(&self, frames: Tensor<4>, _space: &[usize], cond: &Conditioning) -> Tensor<3> {
        assert!(
            cond.context.is_none(),
            "a stepper takes no context vector (its parameters enter as input channels)"
        );
        let u = self.frame.window(frames);
        (self.net)(self.frame.net_input(u, &cond.coefficients))
    }

    fn target(&self, frames: &Tensor<4>, next: Tensor<3>) -> Tensor<3> {
        self.frame
            .net_target(self.frame.window(frames.clone()), next)
    }

    fn decode(&self, frames: &Tensor<4>, raw: Tensor<3>) -> Tensor<3> {
        self.frame.decode(self.frame.window(frames.clone()), raw)
    }
}

fn check(config: &StepperConfig, norm: &Normalization) -> Result<()> {
    config.fno.validate("model.fno")?;
    if !(1..=3).contains(&config.fno.n_modes.len()) {
        return Err(ModelError::Config {
            key: "model.fno.n_modes".into(),
            value: format!("{:?}", config.fno.n_modes),
            reason: "the stepper needs one mode count per spatial axis, 1 to 3".into(),
        });
    }
    let c = norm.field_mean.len();
    let p = norm.param_names.len();
    let lens = [
        norm.field_std.len(),
        norm.delta_mean.len(),
        norm.delta_std.len(),
    ];
    let plens = [
        norm.param_log.len(),
        norm.param_mean.len(),
        norm.param_std.len(),
    ];
    if c == 0 || lens.iter().any(|&l| l != c) || plens.iter().any(|&l| l != p) {
        return Err(ModelError::Config {
            key: "normalization".into(),
            value: format!("{c} channels, {p} parameters"),
            reason: "every per-channel and per-parameter vector must have one entry each".into(),
        });
    }
    if norm
        .field_std
        .iter()
        .chain(&norm.delta_std)
        .chain(&norm.param_std)
        .any(|&s| !(s.is_finite() && s > 0.0))
    {
        return Err(ModelError::Config {
            key: "normalization".into(),
            value: "std".into(),
            reason: "standard deviations must be positive and finite".into(),
        });
    }
    let h = config.history;
    if h == 0 {
        return Err(ModelError::Config {
            key: "model.history".into(),
            value: "0".into(),
            reason: "a stepper needs at least one input frame".into(),
        });
    }
    if config.fno.in_channels != h * c + p || config.fno.out_channels != c {
        return Err(ModelError::Config {
            key: "model.fno".into(),
            value: format!(
                "in_channels {} / out_channels {}",
                config.fno.in_channels, config.fno.out_channels
            ),
            reason: format!(
                "a stepper of {c} channels, {h} history frame(s) and {p} parameters needs {} in \
                 and {c} out",
                h * c + p
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm() -> Normalization {
        Normalization {
            field_mean: vec![0.1],
            field_std: vec![2.0],
            delta_mean: vec![0.0],
            delta_std: vec![0.5],
            param_names: vec!["nu".into()],
            param_log: vec![true],
            param_mean: vec![-2.0],
            param_std: vec![0.5],
        }
    }

    #[test]
    fn save_and_load_round_trip_bit_for_bit() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let m = Stepper1d::new(
            StepperConfig::new(FnoConfig::new(2, 1, &[6], 8), true),
            norm(),
            &device,
        )
        .unwrap();
        m.save(dir.path()).unwrap();
        let l = Stepper1d::load(dir.path(), &device).unwrap();
        let u = Tensor::<3>::ones([2, 1, 20], &device);
        let a = m
            .step(u.clone(), &[0.1, 0.2])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b = l
            .step(u, &[0.1, 0.2])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert!(!dir.path().join("config.json.tmp").exists());
    }

    #[test]
    fn target_and_decode_are_inverse() {
        let device = Device::flex();
        let m = Stepper1d::new(
            StepperConfig::new(FnoConfig::new(2, 1, &[6], 8), true),
            norm(),
            &device,
        )
        .unwrap();
        let u =
            Tensor::<3>::from_data(TensorData::new(vec![0.5f32, -1.0, 2.0], [1, 1, 3]), &device);
        let next =
            Tensor::<3>::from_data(TensorData::new(vec![0.4f32, -0.9, 1.5], [1, 1, 3]), &device);
        let back = m
            .decode(u.clone(), m.net_target(u, next.clone()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (a, b) in back
            .iter()
            .zip(next.into_data().try_to_vec::<f32>().unwrap())
        {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn mismatched_channels_are_refused() {
        let e = Stepper1d::new(
            StepperConfig::new(FnoConfig::new(1, 1, &[6], 8), true),
            norm(),
            &Device::flex(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs 2 in"), "{e}");
    }

    fn values(t: Tensor<3>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_history_window_slides_and_decodes_from_its_last_frame() {
        let device = Device::flex();
        let cfg = StepperConfig {
            history: 3,
            ..StepperConfig::new(FnoConfig::new(4, 1, &[6], 8), true)
        };
        let m = Stepper1d::new(cfg, norm(), &device).unwrap();
        let frame = m.frame();
        // Three frames of two points: [1, 2], [3, 4], [5, 6].
        let w = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 3, 2]),
            &device,
        );
        assert_eq!(values(frame.last(w.clone())), vec![5.0, 6.0]);
        let next = Tensor::<3>::from_data(TensorData::new(vec![7.0f32, 8.0], [1, 1, 2]), &device);
        assert_eq!(
            values(frame.advance(w.clone(), next.clone())),
            vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
        );
        // Every frame is normalised with the field statistics; the parameter follows.
        let x = values(frame.net_input(w.clone(), &[(-2.0f64).exp()]));
        let expect: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .map(|v| (v - 0.1) / 2.0)
            .chain([0.0, 0.0])
            .collect();
        for (a, b) in x.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-6, "{x:?} vs {expect:?}");
        }
        // The residual target is taken from the last frame: decode(target) gives `next` back.
        let back = values(frame.decode(w.clone(), frame.net_target(w, next)));
        assert!(
            (back[0] - 7.0).abs() < 1e-5 && (back[1] - 8.0).abs() < 1e-5,
            "{back:?}"
        );
    }

    #[test]
    fn history_is_saved_only_when_above_one() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let one = Stepper1d::new(
            StepperConfig::new(FnoConfig::new(2, 1, &[6], 8), true),
            norm(),
            &device,
        )
        .unwrap();
        one.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(!text.contains("history"), "{text}");
        let two = Stepper1d::new(
            StepperConfig {
                history: 2,
                ..StepperConfig::new(FnoConfig::new(3, 1, &[6], 8), true)
            },
            norm(),
            &device,
        )
        .unwrap();
        two.save(dir.path()).unwrap();
        let loaded = Stepper1d::load(dir.path(), &device).unwrap();
        assert_eq!(loaded.history(), 2);
        let w = Tensor::<3>::ones([2, 2, 20], &device);
        assert_eq!(
            values(two.step(w.clone(), &[0.1, 0.2])),
            values(loaded.step(w, &[0.1, 0.2]))
        );
    }

    #[test]
    fn a_history_needs_its_input_channels() {
        let e = Stepper1d::new(
            StepperConfig {
                history: 2,
                ..StepperConfig::new(FnoConfig::new(2, 1, &[6], 8), true)
            },
            norm(),
            &Device::flex(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("2 history frame(s)"), "{e}");
        assert!(e.to_string().contains("needs 3 in"), "{e}");
        let e = Stepper1d::new(
            StepperConfig {
                history: 0,
                ..StepperConfig::new(FnoConfig::new(1, 1, &[6], 8), true)
            },
            norm(),
            &Device::flex(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("model.history"), "{e}");
    }
}
