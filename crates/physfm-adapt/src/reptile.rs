//! First-order meta-learning over environments: Reptile (Nichol et al., 2018).
//!
//! Each meta-step draws an environment, trains a copy of the network on it for a few steps
//! with a fresh AdamW, and moves the shared initialisation a fraction `meta_lr` of the way to
//! the result: `theta <- theta + eps (phi - theta)`, with `eps` decaying linearly from
//! `meta_lr` to zero. The meta-trained network is an initialisation that adapts fast; adapt
//! it with any [`Adaptation`](crate::Adaptation) (usually `full`).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use physfm_models::{Fno, Stepper1d};
use physfm_train::{ChaCha8Rng, LossKind, Objective, WindowDataset, stepper_loss};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{AdaptError, Result};

/// Reptile's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReptileConfig {
    /// Meta-steps (one environment each).
    pub meta_steps: usize,
    /// Initial interpolation factor `eps`, in [0, 1]; it decays linearly to zero.
    pub meta_lr: f64,
    /// AdamW steps on the drawn environment per meta-step.
    pub inner_steps: usize,
    /// Learning rate of the inner steps.
    pub inner_lr: f64,
    /// Windows per inner batch.
    pub batch_size: usize,
    /// The inner loss.
    #[serde(default)]
    pub loss: LossKind,
    /// Seed of environment and batch draws.
    #[serde(default)]
    pub seed: u64,
}

/// What meta-training measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReptileReport {
    /// Mean inner loss of each meta-step's last inner step, averaged over every 10 meta-steps
    /// (or fewer at the end): `(meta-step, loss)`.
    pub losses: Vec<(usize, f64)>,
}

/// Every float parameter's value, flattened, in traversal order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().detach().reshape([-1]));
    }
}

/// `theta + eps (phi - theta)`, parameter by parameter in traversal order.
struct Interpolate {
    phi: std::vec::IntoIter<Tensor<1>>,
    eps: f64,
}

impl ModuleMapper for Interpolate {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let phi = self.phi.next().expect("same structure");
        let eps = self.eps;
        param.map(|t| {
            let grad = t.is_require_grad();
            let phi = phi.reshape(t.shape());
            let t = t.detach();
            (t.clone() + (phi - t) * eps)
                .detach()
                .set_require_grad(grad)
        })
    }
}

/// Meta-trains `model.net` with Reptile over `environments` (one window set each), and
/// returns the meta-trained model. `device` must be an autodiff device.
pub fn reptile(
    model: Stepper1d,
    environments: &[WindowDataset],
    config: &ReptileConfig,
    device: &Device,
) -> Result<(Stepper1d, ReptileReport)> {
    let bad = |key: &str, value: String, reason: &str| {
        Err(AdaptError::Train(physfm_train::TrainError::Config {
            key: format!("reptile.{key}"),
            value,
            reason: reason.into(),
        }))
    };
    crate::leads::check_environments("reptile.environments", environments)?;
    if !(0.0..=1.0).contains(&config.meta_lr) {
        return bad("meta_lr", config.meta_lr.to_string(), "must lie in [0, 1]");
    }
    if config.inner_steps == 0 || config.batch_size == 0 || config.meta_steps == 0 {
        return bad(
            "steps",
            format!(
                "meta {} / inner {} / batch {}",
                config.meta_steps, config.inner_steps, config.batch_size
            ),
            "must be at least 1",
        );
    }
    if !(config.inner_lr.is_finite() && config.inner_lr > 0.0) {
        return bad("inner_lr", config.inner_lr.to_string(), "must be positive");
    }
    let Stepper1d {
        config: mc,
        norm,
        mut net,
    } = model;
    let frame = physfm_models::StepperFrame {
        residual: mc.residual,
        norm: &norm,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut report = ReptileReport { losses: Vec::new() };
    let (mut acc, mut acc_n) = (0.0, 0usize);
    for m in 0..config.meta_steps {
        let e = (rng.next_u64() % environments.len() as u64) as usize;
        let w = &environments[e];
        let mut phi: Fno = net.clone();
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
        let mut last = f64::NAN;
        for _ in 0..config.inner_steps {
            let batch = w.sample(config.batch_size, &mut rng, device);
            let l = stepper_loss(
                &phi,
                frame,
                batch,
                Objective::OneStep,
                config.loss,
                &w.geometry,
            );
            last = l.clone().into_scalar::<f32>() as f64;
            if !last.is_finite() {
                return Err(AdaptError::Train(physfm_train::TrainError::NonFinite {
                    step: m + 1,
                    loss: last,
                    checkpoint: None,
                }));
            }
            let grads = GradientsParams::from_grads(l.backward(), &phi);
            phi = optim.step(config.inner_lr, phi, grads);
        }
        let mut c = Collect(Vec::new());
        phi.visit(&mut c);
        let eps = config.meta_lr * (1.0 - m as f64 / config.meta_steps as f64);
        net = net.map(&mut Interpolate {
            phi: c.0.into_iter(),
            eps,
        });
        acc += last;
        acc_n += 1;
        if (m + 1) % 10 == 0 || m + 1 == config.meta_steps {
            report.losses.push((m + 1, acc / acc_n as f64));
            (acc, acc_n) = (0.0, 0);
        }
    }
    Ok((
        Stepper1d {
            config: mc,
            norm,
            net,
        },
        report,
    ))
}
