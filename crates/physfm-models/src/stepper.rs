//! A one-step surrogate `u(t + dt) = F(u(t), parameters)` around an [`Fno`] in 1D: normalisation,
//! parameter conditioning and residual prediction, and saving to a model directory.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::{Fno, FnoConfig, ModelError, Result};

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
    /// The network; its `in_channels` must be field channels plus parameters and its
    /// `out_channels` the field channels.
    pub fno: FnoConfig,
    /// Predict the increment (`true`) or the next state (`false`).
    pub residual: bool,
}

/// The saved description of a model directory (`model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    kind: String,
    config: StepperConfig,
    normalization: Normalization,
}

const MODEL_KIND: &str = "physfm.stepper1d.fno";

/// One-step surrogate of a 1D PDE with scalar parameters.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use physfm_models::{FnoConfig, Normalization, Stepper1d, StepperConfig};
/// let device = Device::flex();
/// let norm = Normalization {
///     field_mean: vec![0.0], field_std: vec![1.0], delta_mean: vec![0.0], delta_std: vec![0.1],
///     param_names: vec!["nu".into()], param_log: vec![true], param_mean: vec![-3.0], param_std: vec![1.0],
/// };
/// let cfg = StepperConfig { fno: FnoConfig::new(2, 1, &[8], 8), residual: true };
/// let model = Stepper1d::new(cfg, norm, &device)?;
/// let u = Tensor::<3>::zeros([4, 1, 32], &device);
/// let next = model.step(u, &[0.01, 0.02, 0.05, 0.1]);
/// assert_eq!(next.dims(), [4, 1, 32]);
/// # Ok::<(), physfm_models::ModelError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Stepper1d {
    /// Configuration.
    pub config: StepperConfig,
    /// Normalisation statistics.
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

    /// The input/output transforms of this model, without its network.
    pub fn frame(&self) -> StepperFrame<'_> {
        StepperFrame {
            residual: self.config.residual,
            norm: &self.norm,
        }
    }

    /// The network input: normalised fields followed by normalised parameter channels
    /// (see [`StepperFrame::net_input`]).
    pub fn net_input(&self, u: Tensor<3>, params: &[f64]) -> Tensor<3> {
        self.frame().net_input(u, params)
    }

    /// The normalised training target for the pair `(u, next)`.
    pub fn net_target(&self, u: Tensor<3>, next: Tensor<3>) -> Tensor<3> {
        self.frame().net_target(u, next)
    }

    /// Maps the network output back to the next physical state.
    pub fn decode(&self, u: Tensor<3>, out: Tensor<3>) -> Tensor<3> {
        self.frame().decode(u, out)
    }

    /// One step: the predicted state one save interval later.
    ///
    /// # Shapes
    /// - `u`: `[batch, channels, n]`, `params`: `batch * parameters` values
    /// - output: `[batch, channels, n]`
    pub fn step(&self, u: Tensor<3>, params: &[f64]) -> Tensor<3> {
        let out = self.net.forward(self.net_input(u.clone(), params));
        self.decode(u, out)
    }

    /// Saves `model.json` and `weights.bpk` into `dir` (created if needed), each written to a
    /// temporary name and renamed, so a crash never leaves a half-written model.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let file = ModelFile {
            kind: MODEL_KIND.into(),
            config: self.config.clone(),
            normalization: self.norm.clone(),
        };
        crate::modeldir::save(dir, &file, &self.net)
    }

    /// Loads a model saved by [`Stepper1d::save`].
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let file: ModelFile = crate::modeldir::description(dir, MODEL_KIND)?;
        let mut model = Self::new(file.config, file.normalization, device)?;
        model.net = crate::modeldir::weights(dir, model.net)?;
        Ok(model)
    }
}

/// The transforms around a stepper's network (normalisation, parameter channels, residual
/// decoding), borrowed from a [`Stepper1d`] so that a training loop can own the network while
/// still mapping data to and from its input and target.
#[derive(Debug, Clone, Copy)]
pub struct StepperFrame<'a> {
    /// Whether the network predicts the increment.
    pub residual: bool,
    /// Normalisation statistics.
    pub norm: &'a Normalization,
}

fn per_channel(v: &[f32], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len(), 1]), device)
}

impl StepperFrame<'_> {
    /// The network input: normalised fields followed by normalised parameter channels.
    ///
    /// # Shapes
    /// - `u`: `[batch, channels, n]`; `params`: `batch * parameters` values, row-major
    /// - output: `[batch, channels + parameters, n]`
    pub fn net_input(&self, u: Tensor<3>, params: &[f64]) -> Tensor<3> {
        let [b, _, n] = u.dims();
        let device = u.device();
        let un = (u - per_channel(&self.norm.field_mean, &device))
            / per_channel(&self.norm.field_std, &device);
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

    /// The normalised training target for the pair `(u, next)`.
    pub fn net_target(&self, u: Tensor<3>, next: Tensor<3>) -> Tensor<3> {
        let device = u.device();
        if self.residual {
            (next - u - per_channel(&self.norm.delta_mean, &device))
                / per_channel(&self.norm.delta_std, &device)
        } else {
            (next - per_channel(&self.norm.field_mean, &device))
                / per_channel(&self.norm.field_std, &device)
        }
    }

    /// Maps the network output back to the next physical state.
    pub fn decode(&self, u: Tensor<3>, out: Tensor<3>) -> Tensor<3> {
        let device = u.device();
        if self.residual {
            u + out * per_channel(&self.norm.delta_std, &device)
                + per_channel(&self.norm.delta_mean, &device)
        } else {
            out * per_channel(&self.norm.field_std, &device)
                + per_channel(&self.norm.field_mean, &device)
        }
    }
}

fn check(config: &StepperConfig, norm: &Normalization) -> Result<()> {
    config.fno.validate("model.fno")?;
    if config.fno.n_modes.len() != 1 {
        return Err(ModelError::Config {
            key: "model.fno.n_modes".into(),
            value: format!("{:?}", config.fno.n_modes),
            reason: "the 1D stepper needs one mode count".into(),
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
    if config.fno.in_channels != c + p || config.fno.out_channels != c {
        return Err(ModelError::Config {
            key: "model.fno".into(),
            value: format!(
                "in_channels {} / out_channels {}",
                config.fno.in_channels, config.fno.out_channels
            ),
            reason: format!(
                "a stepper of {c} channels and {p} parameters needs {} in and {c} out",
                c + p
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
            StepperConfig {
                fno: FnoConfig::new(2, 1, &[6], 8),
                residual: true,
            },
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
        assert!(!dir.path().join("model.json.tmp").exists());
    }

    #[test]
    fn target_and_decode_are_inverse() {
        let device = Device::flex();
        let m = Stepper1d::new(
            StepperConfig {
                fno: FnoConfig::new(2, 1, &[6], 8),
                residual: true,
            },
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
            StepperConfig {
                fno: FnoConfig::new(1, 1, &[6], 8),
                residual: true,
            },
            norm(),
            &Device::flex(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs 2 in"), "{e}");
    }
}
