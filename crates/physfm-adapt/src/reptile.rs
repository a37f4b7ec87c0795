//! First-order meta-learning over environments: Reptile (Nichol et al., 2018).
//!
//! Each meta-step draws an environment, trains a copy of the network on it for a few steps
//! with a fresh AdamW, and moves the shared initialisation a fraction `meta_lr` of the way to
//! the result: `theta <- theta + eps (phi - theta)`, with `eps` decaying linearly from
//! `meta_lr` to zero. The meta-trained model is an initialisation that adapts fast: adapt it
//! with [`Strategy::Reptile`](crate::Strategy::Reptile) (full fine-tuning) or any other
//! strategy. Any [`Surrogate`] meta-trains; an environment's batches are drawn from its
//! windows and enter the model as its dataset.
//!
//! [`reptile_with`] checkpoints atomically (the network, the generator, the loss accumulator
//! and the report; each meta-step's inner optimiser is fresh, so there is nothing else) and
//! resumes: a resumed run ends with the weights and report of an uninterrupted one.

use std::path::{Path, PathBuf};

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use physfm_models::Surrogate;
use physfm_train::{
    ChaCha8Rng, Checkpoints, LossKind, Objective, RngState, TrainError, unroll_loss,
};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{AdaptError, Environment, Result};

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
    /// The meta-step this run resumed from, if it did.
    #[serde(default)]
    pub resumed_from: Option<usize>,
}

/// Persistence of a Reptile run.
#[derive(Debug, Clone, Default)]
pub struct ReptileRun {
    /// Keep the `last` checkpoint here, every `checkpoint_every` meta-steps and at the end.
    pub checkpoint_dir: Option<PathBuf>,
    /// Meta-steps between checkpoints (0: only at the end).
    pub checkpoint_every: usize,
    /// Continue from the `last` checkpoint in `checkpoint_dir` if there is one. The
    /// configuration must equal the checkpoint's.
    pub resume: bool,
    /// Stop once this many meta-steps are done (in total), with a checkpoint there, and return
    /// the network as it is; a later call with `resume` continues. For time-boxed jobs.
    pub stop_at: Option<usize>,
}

/// Everything besides the weights that a resumed run needs (`state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReptileState {
    /// Meta-steps done.
    meta_step: usize,
    config: ReptileConfig,
    rng: RngState,
    /// Loss sum and count since the last report entry.
    acc: f64,
    acc_n: usize,
    report: ReptileReport,
}

const WEIGHTS: &str = "weights.bpk";
const STATE: &str = "state.json";

fn io_err(path: &Path, message: impl ToString) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
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

/// Meta-trains `model` with Reptile over `environments`, and returns the meta-trained model.
/// `device` must be an autodiff device.
pub fn reptile<M: Surrogate>(
    model: M,
    environments: &[Environment<'_>],
    config: &ReptileConfig,
    device: &Device,
) -> Result<(M, ReptileReport)> {
    reptile_with(model, environments, config, device, &ReptileRun::default())
}

/// [`reptile`] with checkpoints and resumption (see [`ReptileRun`]). A directory that already
/// holds a checkpoint is refused unless `run.resume`; a checkpoint made with another
/// configuration is refused by name.
pub fn reptile_with<M: Surrogate>(
    model: M,
    environments: &[Environment<'_>],
    config: &ReptileConfig,
    device: &Device,
    run: &ReptileRun,
) -> Result<(M, ReptileReport)> {
    let bad = |key: &str, value: String, reason: &str| {
        Err(crate::error::config_error(
            format!("reptile.{key}"),
            value,
            reason,
        ))
    };
    crate::environment::check_environments("reptile.environments", environments, model.history())?;
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
    let mut net = model;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut report = ReptileReport {
        losses: Vec::new(),
        resumed_from: None,
    };
    let (mut acc, mut acc_n) = (0.0, 0usize);
    let mut start = 0;
    let mut last_good: Option<PathBuf> = None;
    let checkpoints = run.checkpoint_dir.as_ref().map(Checkpoints::new);
    if let Some(ck) = &checkpoints {
        match (ck.current("last")?, run.resume) {
            (Some((dir, _)), true) => {
                let path = dir.join(STATE);
                let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
                let saved: ReptileState = serde_json::from_str(&text)
                    .map_err(|e| io_err(&path, format!("not a Reptile state: {e}")))?;
                if saved.config != *config {
                    return bad(
                        "config",
                        path.display().to_string(),
                        "the checkpoint was made with a different Reptile configuration; \
                         resume with the same one or start a new run",
                    );
                }
                rng = saved.rng.restore(&path)?;
                let w = dir.join(WEIGHTS);
                net = net.try_load_file(&w).map_err(|e| io_err(&w, e))?;
                (start, acc, acc_n, report) =
                    (saved.meta_step, saved.acc, saved.acc_n, saved.report);
                report.resumed_from = Some(start);
                last_good = Some(dir);
            }
            (Some(_), false) => {
                return bad(
                    "resume",
                    ck.root().display().to_string(),
                    "this directory already holds a checkpoint; resume it or choose a new one",
                );
            }
            (None, _) => {}
        }
    }
    let end = run
        .stop_at
        .map_or(config.meta_steps, |k| k.clamp(start, config.meta_steps));
    for m in start..end {
        let e = (rng.next_u64() % environments.len() as u64) as usize;
        let env = &environments[e];
        let w = env.windows;
        let mut phi: M = net.clone();
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
        let mut last = f64::NAN;
        for _ in 0..config.inner_steps {
            let batch = w.sample(config.batch_size, &mut rng, device);
            let l = unroll_loss(
                &phi,
                batch,
                &w.spatial_shape,
                env.dataset,
                Objective::OneStep,
                config.loss,
                &w.geometry,
            );
            last = l.clone().into_scalar::<f32>() as f64;
            if !last.is_finite() {
                return Err(AdaptError::Train(physfm_train::TrainError::NonFinite {
                    step: m + 1,
                    loss: last,
                    checkpoint: last_good,
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
        let done = m + 1;
        let due = done == end || (run.checkpoint_every > 0 && done % run.checkpoint_every == 0);
        if let (Some(ck), true) = (&checkpoints, due) {
            let state = ReptileState {
                meta_step: done,
                config: config.clone(),
                rng: RngState::of(&rng),
                acc,
                acc_n,
                report: report.clone(),
            };
            let dir = ck.publish("last", done, |d| {
                let w = d.join(WEIGHTS);
                net.clone().save_file(&w).map_err(|e| io_err(&w, e))?;
                let s = d.join(STATE);
                std::fs::write(
                    &s,
                    serde_json::to_string_pretty(&state).expect("plain data serialises"),
                )
                .map_err(|e| io_err(&s, e))
            })?;
            last_good = Some(dir);
        }
    }
    Ok((net, report))
}
